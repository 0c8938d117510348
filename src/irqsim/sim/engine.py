"""The event engine: one heap, integer nanoseconds, deterministic ties.

Entries are tuples ``(time, seq, fn, arg)``; ``seq`` breaks ties in scheduling
order, so a run is deterministic. Cancellation is lazy (as in SimPy): the
sequence number goes into a set and the loop skips the entry when popped.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

Callback = Callable[[Any], None]


class Engine:
    """Discrete-event scheduler with integer time in nanoseconds."""

    __slots__ = ("_cancelled", "_heap", "_seq", "events_run", "now", "stopped")

    def __init__(self) -> None:
        self.now: int = 0
        self._heap: list[tuple[int, int, Callback, Any]] = []
        self._seq: int = 0
        self._cancelled: set[int] = set()
        self.events_run: int = 0
        self.stopped: bool = False

    def at(self, time: int, fn: Callback, arg: Any = None) -> int:
        """Schedule ``fn(arg)`` at absolute ``time``; returns a handle for :meth:`cancel`."""
        if time < self.now:
            raise ValueError(f"cannot schedule in the past: {time} < now {self.now}")
        seq = self._seq = self._seq + 1
        heappush(self._heap, (time, seq, fn, arg))
        return seq

    def after(self, delay: int, fn: Callback, arg: Any = None) -> int:
        """Schedule ``fn(arg)`` ``delay`` ns from now."""
        seq = self._seq = self._seq + 1
        heappush(self._heap, (self.now + delay, seq, fn, arg))
        return seq

    def cancel(self, handle: int | None) -> None:
        """Cancel a scheduled entry (no effect if it already ran)."""
        if handle is not None:
            self._cancelled.add(handle)

    @property
    def pending(self) -> int:
        """Number of live entries still in the heap."""
        c = self._cancelled
        return sum(1 for e in self._heap if e[1] not in c)

    def peek(self) -> int | None:
        """Time of the next live entry, or None."""
        heap, c = self._heap, self._cancelled
        while heap and heap[0][1] in c:
            c.discard(heappop(heap)[1])
        return heap[0][0] if heap else None

    def run(self, until: int | None = None, max_events: int | None = None) -> int:
        """Run entries in time order until the heap is empty, ``until`` or ``max_events``.

        With ``until`` the clock ends exactly at ``until``. Returns events run.
        """
        heap = self._heap
        cancelled = self._cancelled
        pop = heappop
        n = 0
        self.stopped = False
        if until is None and max_events is None:
            # The common case, kept lean: no horizon and no event limit to test.
            while heap:
                t, seq, fn, arg = pop(heap)
                if cancelled and seq in cancelled:
                    cancelled.discard(seq)
                    continue
                self.now = t
                fn(arg)
                n += 1
                if self.stopped:
                    break
            self.events_run += n
            return n
        limit = -1 if max_events is None else max_events
        horizon = until if until is not None else 1 << 62
        while heap:
            if heap[0][0] > horizon:
                break
            t, seq, fn, arg = pop(heap)
            if cancelled and seq in cancelled:
                cancelled.discard(seq)
                continue
            self.now = t
            fn(arg)
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
