"""The event engine: one heap, integer nanoseconds, deterministic ties.

Entries are tuples ``(time, seq, fn, arg)``; ``seq`` breaks ties in scheduling
order, so a run is deterministic. Cancellation is lazy (as in SimPy): the
sequence number goes into a set and the loop skips the entry when popped; the
set forgets handles that already ran (it never outgrows the heap).

Time only moves forward: scheduling in the past or with a negative delay is an
error. Software sections (:mod:`irqsim.sim.section`) may move ``now`` forward
between entries, but never past the next entry or the ``until`` of the run.

Folding (:meth:`Engine.ahead`): a callback that ends its event by scheduling the next stage
of the same message may instead run that stage at once, moving ``now`` to its instant, when
the entry would be the very next one to run anyway. The entries run, their instants and
their order are those of the unfolded run (only the tie-break counter and ``events_run``
differ), so folding changes no result; ``Engine.FOLD = False`` turns it off everywhere.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, ClassVar, Final

from irqsim.sim.compiled import mypyc_attr

if os.environ.get("IRQSIM_NATIVE_HEAP", "1") == "0":
    from heapq import heappop, heappush
else:
    try:    # heapq's functions comparing (time, seq) as C integers: the same heaps (_nheap.c)
        from irqsim.sim._nheap import heappop, heappush
    except ImportError:                     # not built (make native): heapq
        from heapq import heappop, heappush

Callback = Callable[[Any], None]


@mypyc_attr(allow_interpreted_subclasses=True)
class Fire:
    """An engine callback as an object of a compiled class (issue 12): the compiled engine
    (:class:`~irqsim.sim.engine_vec.VecEngine`) calls its :meth:`fire` by vtable, where a
    bound method costs a method-object call and argument parsing per entry. Called like any
    callback, it fires. A block makes them only for an engine whose :attr:`Engine.fires`
    is true (interpreted, a bound method is the cheaper callback)."""

    __slots__ = ()

    def fire(self, arg: Any) -> None:
        raise NotImplementedError

    def __call__(self, arg: Any = None) -> None:
        self.fire(arg)


# "Never" (146 years of ns): the largest int mypyc-compiled code holds unboxed (its tagged
# ints stop at 2**62 - 1; 1 << 62 made every test against the horizon a boxed comparison).
FOREVER: Final = (1 << 62) - 1
# The heap functions as Final names: compiled, a C static instead of a module-dict lookup per
# call. The heap is private to the engine: other blocks schedule through at/after/push and
# test it through free_until/free_before/ahead.
heap_push: Final = heappush
heap_pop: Final = heappop
NATIVE_HEAP: Final = heappush.__module__ == "irqsim.sim._nheap"


class Engine:
    """Discrete-event scheduler with integer time in nanoseconds."""

    __slots__ = ("_cancelled", "_heap", "_seq", "bounded", "events_run", "fold", "folded",
                 "horizon", "now", "running", "stopped", "wait_t")

    FOLD: ClassVar[bool] = True     # the default of ``fold`` (the differential test: off)
    # Whether the engine calls :class:`Fire` callbacks natively (the compiled VecEngine):
    # blocks schedule Fire objects for it and bound methods otherwise.
    fires: ClassVar[bool] = False

    def __init__(self) -> None:
        self.now: int = 0
        self._heap: list[tuple[int, int, Callback, Any]] = []
        self._seq: int = 0
        self._cancelled: set[int] = set()
        self.events_run: int = 0
        self.stopped: bool = False
        self.running: int = 0          # nesting depth of run() (0: called from the top)
        self.horizon: int = FOREVER     # the ``until`` of the run in progress
        self.bounded = False            # the run in progress has an ``until`` or event limit
        self.wait_t = FOREVER           # when software waiting off the heap wakes up
        self.fold = Engine.FOLD         # callers may run their next stage at once (ahead)
        self.folded = 0                 # stages run at once instead of as entries

    def at(self, time: int, fn: Callback, arg: Any = None) -> int:
        """Schedule ``fn(arg)`` at absolute ``time``; returns a handle for :meth:`cancel`."""
        if time < self.now:
            raise ValueError(f"cannot schedule in the past: {time} < now {self.now}")
        seq = self._seq = self._seq + 1
        heap_push(self._heap, (time, seq, fn, arg))
        return seq

    def push(self, time: int, fn: Callback, arg: Any) -> int:
        """:meth:`at` for a caller that knows ``time >= now`` (the hot path: no check);
        returns the handle."""
        seq = self._seq = self._seq + 1
        heap_push(self._heap, (time, seq, fn, arg))
        return seq

    def push_fire(self, time: int, fn: Fire, arg: Any) -> int:
        """:meth:`push` of a :class:`Fire`: the compiled engine then tests no type."""
        return self.push(time, fn, arg)

    def at_fire(self, time: int, fn: Fire, arg: Any) -> int:
        """:meth:`at` of a :class:`Fire`: the compiled engine then tests no type."""
        return self.at(time, fn, arg)

    def after(self, delay: int, fn: Callback, arg: Any = None) -> int:
        """Schedule ``fn(arg)`` ``delay`` ns from now (a negative delay is an error)."""
        if delay < 0:
            raise ValueError(f"cannot schedule with a negative delay: {delay} ns")
        seq = self._seq = self._seq + 1
        heap_push(self._heap, (self.now + delay, seq, fn, arg))
        return seq

    def cancel(self, handle: int | None) -> None:
        """Cancel a scheduled entry (no effect if it already ran)."""
        if handle is not None:
            c = self._cancelled
            c.add(handle)
            if len(c) > 64 and len(c) > len(self._heap):
                # Forget handles that already ran: only queued entries can be skipped.
                c.intersection_update([e[1] for e in self._heap])

    @property
    def pending(self) -> int:
        """Number of live entries still in the heap."""
        c = self._cancelled
        return sum(1 for e in self._heap if e[1] not in c)

    def live_lower_bound(self) -> int:
        """At least this many entries are still due (queued minus cancelled handles), O(1)."""
        return len(self._heap) - len(self._cancelled)

    def live_handles(self) -> set[int]:
        """Handles of the entries still due (not run, not cancelled)."""
        c = self._cancelled
        return {e[1] for e in self._heap if e[1] not in c}

    def peek(self) -> int | None:
        """Time of the next live entry, or None."""
        heap, c = self._heap, self._cancelled
        while heap and heap[0][1] in c:
            c.discard(heappop(heap)[1])
        return heap[0][0] if heap else None

    def reserve_seq(self) -> int:
        """Take the next tie-break number as :meth:`at` would (for a waiter kept off the
        heap that must order exactly like a scheduled entry)."""
        seq = self._seq = self._seq + 1
        return seq

    def free_before(self, time: int, seq: int) -> bool:
        """True when no live entry orders before ``(time, seq)`` (an entry scheduled at
        ``time`` with tie-break ``seq`` would run next)."""
        heap, c = self._heap, self._cancelled
        while heap:
            e = heap[0]
            if e[1] in c:
                c.discard(heappop(heap)[1])
                continue
            return e[0] > time or (e[0] == time and e[1] > seq)
        return True

    def step(self) -> bool:
        """Run the next live entry (for software that waits on the engine's stack); False
        when there is none."""
        heap, c = self._heap, self._cancelled
        while heap:
            t, seq, fn, arg = heap_pop(heap)
            if c and seq in c:
                c.discard(seq)
                continue
            self.now = t
            fn(arg)
            self.events_run += 1
            return True
        return False

    def free_until(self, time: int) -> bool:
        """True when no live entry is due at or before ``time`` within the run's horizon:
        software may then move ``now`` to ``time`` without skipping anything."""
        if time > self.horizon or time >= self.wait_t:
            return False
        heap = self._heap
        if not heap:
            return True
        e = heap[0]
        if e[0] > time:
            return True
        if e[1] not in self._cancelled:
            return False
        nxt = self.peek()
        return nxt is None or nxt > time

    def ahead(self, time: int) -> bool:
        """True when an entry at ``time`` scheduled now would be the next to run, in a run
        without ``until`` or event limit, with nothing waiting off the heap before it.

        The caller, at the very end of an event callback run by :meth:`run` (nothing of the
        event is left to do), may then set ``now = time`` and call the stage itself: the
        engine would have popped it next. It counts in ``folded``, not ``events_run``."""
        if not self.fold or self.bounded or not self.running or self.stopped \
                or time >= self.wait_t:
            return False
        heap = self._heap
        if not heap or heap[0][0] > time:
            return True
        c = self._cancelled     # empty on the hot path: no boxing, hashing or set lookup
        if not c or heap[0][1] not in c:
            return False
        nxt = self.peek()
        return nxt is None or nxt > time

    def fold_at(self, time: int) -> bool:
        """:meth:`ahead` (the same test, inline: this runs several times per interrupt);
        when true, also move ``now`` to ``time`` and count the fold: the caller (at the very
        end of its event) then runs the stage itself."""
        heap = self._heap
        if heap and heap[0][0] <= time:     # the usual reason, first: a busy machine
            c = self._cancelled
            if not c or heap[0][1] not in c:
                return False
            nxt = self.peek()
            if nxt is not None and nxt <= time:
                return False
        if not self.fold or self.bounded or not self.running or self.stopped \
                or time >= self.wait_t:
            return False
        self.now = time
        self.folded += 1
        return True

    def run(self, until: int | None = None, max_events: int | None = None) -> int:
        """Run entries in time order until the heap is empty, ``until`` or ``max_events``.

        With ``until`` the clock ends exactly at ``until``. Returns events run.
        """
        heap = self._heap
        cancelled = self._cancelled
        pop = heap_pop
        n = 0
        self.stopped = False
        saved_horizon = self.horizon
        saved_bounded = self.bounded
        self.running += 1
        try:
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
                return n
            limit = -1 if max_events is None else max_events
            horizon = until if until is not None else FOREVER
            self.horizon = min(horizon, saved_horizon)
            self.bounded = True
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
            return n
        finally:
            self.running -= 1
            self.horizon = saved_horizon
            self.bounded = saved_bounded
            self.events_run += n

    def stop(self) -> None:
        """Make ``run`` return after the current entry."""
        self.stopped = True


def new_engine() -> Engine:
    """A new machine's engine: :class:`~irqsim.sim.engine_vec.VecEngine` (the heap in native
    integer arrays) where it is compiled (the compiled build), else :class:`Engine` (the plain
    package never imports it). ``IRQSIM_VEC_HEAP=0`` selects :class:`Engine` everywhere."""
    if VEC_HEAP is None:
        _choose()
    if VEC_HEAP:
        from irqsim.sim.engine_vec import VecEngine
        return VecEngine()
    return Engine()


VEC_HEAP: bool | None = None        # new_engine makes VecEngines (None: not decided yet)


def _choose() -> None:
    global VEC_HEAP
    from irqsim.sim.compiled import compiled

    VEC_HEAP = False
    if compiled() and os.environ.get("IRQSIM_VEC_HEAP", "1") != "0":
        try:
            from irqsim.sim import engine_vec
        except ImportError:                     # not built with it: Engine
            return
        VEC_HEAP = not (engine_vec.__file__ or "").endswith(".py")
