"""The event engine: one heap, integer nanoseconds, deterministic ties.

A scheduled entry is a list ``[time, seq, fn, arg]``; cancelling sets ``fn`` to
``None`` and the loop skips it when popped (lazy cancellation, as SimPy does).
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

Callback = Callable[[Any], None]


class Engine:
    """Discrete-event scheduler with integer time in nanoseconds."""

    __slots__ = ("_heap", "_seq", "events_run", "now", "stopped")

    def __init__(self) -> None:
        self.now: int = 0
        self._heap: list[list[Any]] = []
        self._seq: int = 0
        self.events_run: int = 0
        self.stopped: bool = False

    def at(self, time: int, fn: Callback, arg: Any = None) -> list[Any]:
        """Schedule ``fn(arg)`` at absolute ``time``; returns a cancellable handle."""
        if time < self.now:
            raise ValueError(f"cannot schedule in the past: {time} < now {self.now}")
        self._seq += 1
        entry = [time, self._seq, fn, arg]
        heappush(self._heap, entry)
        return entry

    def after(self, delay: int, fn: Callback, arg: Any = None) -> list[Any]:
        """Schedule ``fn(arg)`` ``delay`` ns from now."""
        self._seq += 1
        entry = [self.now + delay, self._seq, fn, arg]
        heappush(self._heap, entry)
        return entry

    @staticmethod
    def cancel(entry: list[Any] | None) -> None:
        """Cancel a scheduled entry (no effect if it already ran)."""
        if entry is not None:
            entry[2] = None

    @property
    def pending(self) -> int:
        """Number of live entries still in the heap."""
        return sum(1 for e in self._heap if e[2] is not None)

    def peek(self) -> int | None:
        """Time of the next live entry, or None."""
        heap = self._heap
        while heap and heap[0][2] is None:
            heappop(heap)
        return heap[0][0] if heap else None

    def run(self, until: int | None = None, max_events: int | None = None) -> int:
        """Run entries in time order until the heap is empty, ``until`` or ``max_events``.

        With ``until`` the clock ends exactly at ``until``. Returns events run.
        """
        heap = self._heap
        pop = heappop
        n = 0
        limit = -1 if max_events is None else max_events
        self.stopped = False
        while heap:
            entry = heap[0]
            t = entry[0]
            if until is not None and t > until:
                break
            pop(heap)
            fn = entry[2]
            if fn is None:
                continue
            self.now = t
            fn(entry[3])
            n += 1
            if n == limit or self.stopped:
                break
        if until is not None and self.now < until and not self.stopped and n != limit:
            self.now = until
        self.events_run += n
        return n

    def stop(self) -> None:
        """Make ``run`` return after the current entry."""
        self.stopped = True
