"""A progress line on a terminal for long runs (this module defines no command)."""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from irqsim.machine import RUN_PROGRESS

if TYPE_CHECKING:
    from irqsim.machine import Machine


class RunProgress:
    """While active, the last machine built is watched from a thread that shows its
    simulated time, interrupts raised and engine events per second on a transient rich
    progress line on stderr; given ``span_ns`` (the simulated time the run is expected to
    take) the bar fills with simulated time and shows an ETA.

    Nothing happens if stderr is not a terminal or the run ends within ``show_after_s``;
    the simulation itself is not touched (no event added, no run sliced), so a watched run
    is the same as an unwatched one.
    """

    show_after_s = 1.0
    poll_s = 0.25

    def __init__(self, label: str, stream: Any = None, span_ns: float | None = None) -> None:
        self.label = label
        self.span_ns = span_ns if span_ns and span_ns > 0 else None
        self._rate: tuple[float, int] = (time.monotonic(), 0)
        self.rate = 0.0
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.monotonic()
        self.machine: Machine | None = None
        self.progress: Progress | None = None
        self.task: Any = None
        self._token: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> RunProgress:
        if self.enabled:
            self._token = RUN_PROGRESS.set(self.watch)
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._token is not None:
            RUN_PROGRESS.reset(self._token)
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.progress is not None:
            self.progress.stop()

    def watch(self, m: Machine) -> None:
        """Called by every :class:`Machine` built while active: show this one."""
        self.machine = m

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.update()

    def update(self) -> None:
        """Refresh the line from the watched machine (called from the watching thread)."""
        m = self.machine
        if m is None or time.monotonic() - self.start < self.show_after_s:
            return
        if self.progress is None:
            self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                     BarColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                                     transient=True, console=Console(file=self.stream))
            self.task = self.progress.add_task(self.label, total=self.span_ns)
            self.progress.start()
        t, ev = time.monotonic(), m.ctx.engine.events_run
        t0, ev0 = self._rate
        if t - t0 >= 1.0 and ev > ev0:           # events/s over the last second or more
            self.rate = (ev - ev0) / (t - t0)
            self._rate = (t, ev)
        self.progress.update(self.task, completed=min(m.ctx.engine.now, self.span_ns or 0),
                             description=(
            f"{self.label}: simulated {m.ctx.engine.now / 1e6:,.3f} ms, "
            f"{m.ctx.ledger.raised:,} interrupts raised, {self.rate / 1e3:,.0f}k events/s"))
