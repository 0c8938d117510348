"""The engine of the compiled build: the same :class:`~irqsim.sim.engine.Engine`, its heap
kept in native integer arrays (issue 12; docs/performance.md "Engine (session 4)").

:class:`VecEngine` orders entries by ``(time, seq)`` exactly as :class:`Engine` does, with
the same lazy cancellation, horizon, waiter and folding rules; only the storage differs.
Instead of a list of ``(time, seq, fn, arg)`` tuples (a tuple and two boxed ints per entry,
compared through the native heap functions or heapq), the heap is three ``vec[i64]``
arrays (mypyc's ``librt.vecs``: unboxed 64-bit integers) holding each entry's time, tie-break
number and *slot*, and the callbacks and arguments sit in two lists indexed by slot (a
free-list of slots reuses them). Mypyc compiles the sifts to comparisons of C integers; no
object is made per entry.

Every key ``(time, seq)`` is unique (``seq`` counts up), so any correct heap pops entries in
one order, the one :class:`Engine` pops them in; ``tests/unit/test_engine_vec.py`` checks
both engines against each other with hypothesis programs (ties, cancellations, bounded runs,
``step``/``peek``/``free_before``/``free_until``/``ahead``).

Used only where it is compiled (:func:`irqsim.sim.engine.new_engine`): interpreted, the
sifts would be Python loops, slower than heapq. Importing it needs ``librt`` (installed
with mypy/mypyc); the plain package never imports it. Times must fit in 63 bits (the plain
engine takes any int; :data:`~irqsim.sim.engine.FOREVER` is 2**62 - 1).
"""

from __future__ import annotations

from typing import Any, ClassVar

from librt.vecs import append, vec
from mypy_extensions import i64

from irqsim.sim.engine import FOREVER, Callback, Engine, Fire


class VecEngine(Engine):
    """:class:`Engine` with its heap in ``vec[i64]`` arrays (compiled build)."""

    fires: ClassVar[bool] = True        # Fire callbacks are called natively

    def __init__(self) -> None:
        super().__init__()
        self._ht = vec[i64]()       # heap position -> time   (capacity: len; size: _n)
        self._hs = vec[i64]()       # heap position -> seq
        self._hk = vec[i64]()       # heap position -> slot
        self._n: i64 = 0
        self._fns: list[Any] = []   # slot -> callback (None when free)
        self._args: list[Any] = []  # slot -> argument
        self._free = vec[i64]()     # free slots (a stack; capacity: len; size: _nfree)
        self._nfree: i64 = 0

    # -- the heap -------------------------------------------------------------------------
    def _insert(self, time: i64, seq: i64, fn: Callback, arg: Any) -> None:
        """Add an entry (sift towards the root: the hole moves up past later keys)."""
        nf = self._nfree
        if nf:
            nf -= 1
            self._nfree = nf
            slot = self._free[nf]
            self._fns[slot] = fn
            self._args[slot] = arg
        else:
            slot = i64(len(self._fns))
            self._fns.append(fn)
            self._args.append(arg)
        pos = self._n
        if pos == len(self._ht):
            self._ht = append(self._ht, 0)
            self._hs = append(self._hs, 0)
            self._hk = append(self._hk, 0)
        self._n = pos + 1
        ht = self._ht
        hs = self._hs
        hk = self._hk
        while pos > 0:
            parent = (pos - 1) >> 1
            pt = ht[parent]
            if time < pt or (time == pt and seq < hs[parent]):
                ht[pos] = pt
                hs[pos] = hs[parent]
                hk[pos] = hk[parent]
                pos = parent
            else:
                break
        ht[pos] = time
        hs[pos] = seq
        hk[pos] = slot

    def _drop_top(self, slot: i64) -> None:
        """Drop the entry at the root (``_n > 0``; ``slot`` is its slot): release the slot
        (it goes on the free-list), then the last entry's hole sinks from the root past
        earlier keys. The slot's callback and argument stay until the slot is reused (the
        free-list is a stack: usually the next insert) or the run ends (:meth:`_forget`):
        two list stores per entry fewer."""
        nf = self._nfree
        if nf == len(self._free):
            self._free = append(self._free, slot)
        else:
            self._free[nf] = slot
        self._nfree = nf + 1
        n = self._n - 1
        self._n = n
        if n == 0:
            return
        ht = self._ht
        hs = self._hs
        hk = self._hk
        t = ht[n]
        s = hs[n]
        pos: i64 = 0
        child: i64 = 1
        while child < n:
            ct = ht[child]
            right = child + 1
            if right < n:
                rt = ht[right]
                if rt < ct or (rt == ct and hs[right] < hs[child]):
                    child = right
                    ct = rt
            if ct < t or (ct == t and hs[child] < s):
                ht[pos] = ct
                hs[pos] = hs[child]
                hk[pos] = hk[child]
                pos = child
                child = 2 * pos + 1
            else:
                break
        ht[pos] = t
        hs[pos] = s
        hk[pos] = hk[n]

    def _forget(self) -> None:
        """Release the callbacks and arguments of the free slots (at the end of a run: no
        reference outlives the run that popped its entry)."""
        fns = self._fns
        args = self._args
        free = self._free
        i: i64 = 0
        while i < self._nfree:
            slot = free[i]
            fns[slot] = None
            args[slot] = None
            i += 1

    def _drop_cancelled_head(self) -> None:
        """Pop cancelled entries off the root until a live one (or nothing) is there."""
        c = self._cancelled
        while self._n:
            seq = self._hs[0]
            if seq not in c:
                return
            c.discard(seq)
            self._drop_top(self._hk[0])

    def _seqs(self) -> list[int]:
        hs = self._hs
        return [int(hs[i]) for i in range(self._n)]

    # -- the Engine API -------------------------------------------------------------------
    def at(self, time: int, fn: Callback, arg: Any = None) -> int:
        """Schedule ``fn(arg)`` at absolute ``time``; returns a handle for :meth:`cancel`."""
        if time < self.now:
            raise ValueError(f"cannot schedule in the past: {time} < now {self.now}")
        if time > FOREVER:
            raise ValueError(_beyond(time))
        seq = self._seq = self._seq + 1
        self._insert(time, seq, fn, arg)
        return seq

    def push(self, time: int, fn: Callback, arg: Any) -> int:
        """:meth:`at` for a caller that knows ``time >= now`` (the hot path: no check);
        returns the handle."""
        seq = self._seq = self._seq + 1
        self._insert(time, seq, fn, arg)
        return seq

    def after(self, delay: int, fn: Callback, arg: Any = None) -> int:
        """Schedule ``fn(arg)`` ``delay`` ns from now (a negative delay is an error)."""
        if delay < 0:
            raise ValueError(f"cannot schedule with a negative delay: {delay} ns")
        if self.now + delay > FOREVER:
            raise ValueError(_beyond(self.now + delay))
        seq = self._seq = self._seq + 1
        self._insert(self.now + delay, seq, fn, arg)
        return seq

    def cancel(self, handle: int | None) -> None:
        """Cancel a scheduled entry (no effect if it already ran)."""
        if handle is not None:
            c = self._cancelled
            c.add(handle)
            if len(c) > 64 and len(c) > self._n:
                # Forget handles that already ran: only queued entries can be skipped.
                c.intersection_update(self._seqs())

    @property
    def pending(self) -> int:
        """Number of live entries still in the heap."""
        c = self._cancelled
        return sum(1 for s in self._seqs() if s not in c)

    def live_lower_bound(self) -> int:
        """At least this many entries are still due (queued minus cancelled handles), O(1)."""
        return int(self._n) - len(self._cancelled)

    def live_handles(self) -> set[int]:
        """Handles of the entries still due (not run, not cancelled)."""
        c = self._cancelled
        return {s for s in self._seqs() if s not in c}

    def peek(self) -> int | None:
        """Time of the next live entry, or None."""
        if len(self._cancelled):
            self._drop_cancelled_head()
        return int(self._ht[0]) if self._n else None

    def free_before(self, time: int, seq: int) -> bool:
        """True when no live entry orders before ``(time, seq)`` (an entry scheduled at
        ``time`` with tie-break ``seq`` would run next)."""
        if len(self._cancelled):
            self._drop_cancelled_head()
        if not self._n:
            return True
        t = self._ht[0]
        return t > time or (t == time and self._hs[0] > seq)

    def step(self) -> bool:
        """Run the next live entry (for software that waits on the engine's stack); False
        when there is none."""
        if len(self._cancelled):
            self._drop_cancelled_head()
        if not self._n:
            return False
        self.now = self._ht[0]
        slot = self._hk[0]
        fn = self._fns[slot]
        arg = self._args[slot]
        self._drop_top(slot)
        self._fns[slot] = None
        self._args[slot] = None
        fn(arg)
        self.events_run += 1
        return True

    def free_until(self, time: int) -> bool:
        """True when no live entry is due at or before ``time`` within the run's horizon:
        software may then move ``now`` to ``time`` without skipping anything."""
        if time > self.horizon or time >= self.wait_t:
            return False
        if not self._n or self._ht[0] > time:
            return True
        c = self._cancelled
        if not len(c) or self._hs[0] not in c:     # (len first: no boxed seq to hash)
            return False
        nxt = self.peek()
        return nxt is None or nxt > time

    def ahead(self, time: int) -> bool:
        """True when an entry at ``time`` scheduled now would be the next to run, in a run
        without ``until`` or event limit, with nothing waiting off the heap before it (see
        :meth:`Engine.ahead`)."""
        if not self.fold or self.bounded or not self.running or self.stopped \
                or time >= self.wait_t:
            return False
        if not self._n or self._ht[0] > time:
            return True
        c = self._cancelled
        if not len(c) or self._hs[0] not in c:
            return False
        nxt = self.peek()
        return nxt is None or nxt > time

    def fold_at(self, time: int) -> bool:
        """:meth:`ahead`; when true, also move ``now`` to ``time`` and count the fold (see
        :meth:`Engine.fold_at`)."""
        if self._n and self._ht[0] <= time:     # the usual reason, first: a busy machine
            c = self._cancelled
            if not len(c) or self._hs[0] not in c:
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
        if until is not None and until > FOREVER:
            raise ValueError(_beyond(until))
        cancelled = self._cancelled
        n = 0
        self.stopped = False
        saved_horizon = self.horizon
        saved_bounded = self.bounded
        self.running += 1
        try:
            limit = -1
            horizon: i64 = 0x7FFF_FFFF_FFFF_FFFF    # unbounded: no i64 time is later
            if until is not None or max_events is not None:
                if max_events is not None:
                    limit = max_events
                horizon = until if until is not None else FOREVER
                self.horizon = min(int(horizon), saved_horizon)
                self.bounded = True
            while self._n:
                t = self._ht[0]
                if t > horizon:
                    break
                slot = self._hk[0]
                if len(cancelled):      # (len: a native read; a set's truth is a call)
                    seq = self._hs[0]
                    if seq in cancelled:
                        cancelled.discard(seq)
                        self._drop_top(slot)
                        continue
                fn = self._fns[slot]
                arg = self._args[slot]
                self._drop_top(slot)
                self.now = t
                if isinstance(fn, Fire):
                    fn.fire(arg)            # a native call (vtable)
                else:
                    fn(arg)
                n += 1
                if n == limit or self.stopped:
                    break
            if until is not None and self.now < until and not self.stopped and n != limit:
                self.now = until
            return n
        finally:
            self._forget()
            self.running -= 1
            self.horizon = saved_horizon
            self.bounded = saved_bounded
            self.events_run += n


def _beyond(time: int) -> str:
    return (f"time {time} ns is beyond the compiled engine's range (FOREVER = 2**62 - 1 ns, "
            f"146 years)")
