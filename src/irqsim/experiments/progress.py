"""A sweep's progress bar on a terminal: points done, simulated time, events/s, ETA."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class SweepProgress:
    """A rich bar over the sweep's points on ``stream`` (stderr) if it is a terminal; nothing
    at all otherwise. :meth:`advance` is called as each point finishes."""

    def __init__(self, total: int, label: str = "sweep", stream: Any = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.label = label
        self.total = total
        self.sim_ns = 0
        self.events = 0
        self.start = time.monotonic()
        self.progress: Progress | None = None
        self.task: Any = None

    def __enter__(self) -> SweepProgress:
        if self.enabled:
            self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                     MofNCompleteColumn(), TimeElapsedColumn(),
                                     TextColumn("ETA"), TimeRemainingColumn(),
                                     console=Console(file=self.stream), transient=False)
            self.task = self.progress.add_task(self._text(), total=self.total)
            self.progress.start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.progress is not None:
            self.progress.stop()

    def _text(self) -> str:
        dt = max(time.monotonic() - self.start, 1e-9)
        return (f"{self.label}: simulated {self.sim_ns / 1e6:,.1f} ms, "
                f"{self.events / dt:,.0f} events/s")

    def advance(self, result: dict[str, Any]) -> None:
        """One more point finished with this result."""
        self.sim_ns += int(result.get("simulated_ns", 0))
        self.events += int(result.get("events_run", 0))
        if self.progress is not None:
            self.progress.update(self.task, advance=1, description=self._text())
