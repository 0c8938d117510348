"""The engine of the compiled build: the same :class:`~irqsim.sim.engine.Engine`, its entries
kept in native integer arrays (issue 12; docs/performance.md "Engine (session 4)" and
section 10).

:class:`VecEngine` orders entries by ``(time, seq)`` exactly as :class:`Engine` does, with
the same lazy cancellation, horizon, waiter and folding rules; only the storage differs.
Instead of a list of ``(time, seq, fn, arg)`` tuples (a tuple and two boxed ints per entry,
compared through the native heap functions or heapq), an entry is a *slot*: its callback
and argument sit in two arrays indexed by slot (a free-list of slots reuses them), its
tie-break number in a ``vec[i64]`` (mypyc's ``librt.vecs``: unboxed 64-bit integers).
Entries due soon are chained in the buckets of a timing wheel (a bucket is a time), the
others are ordered by a binary heap of (time, slot) arrays; mypyc compiles both to
operations on C integers, and no object is made per entry.

Every key ``(time, seq)`` is unique (``seq`` counts up), so any correct structure pops
entries in one order, the one :class:`Engine` pops them in; ``tests/unit/test_engine_vec.py``
checks both engines against each other with hypothesis programs (ties, cancellations,
bounded runs, ``step``/``peek``/``free_before``/``free_until``/``ahead``), with a short
wheel so that entries sit in the wheel and the heap at once.

Used only where it is compiled (:func:`irqsim.sim.engine.new_engine`): interpreted, the
sifts would be Python loops, slower than heapq. Importing it needs ``librt`` (installed
with mypy/mypyc); the plain package never imports it. Times must fit in 63 bits (the plain
engine takes any int; :data:`~irqsim.sim.engine.FOREVER` is 2**62 - 1).
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

from librt.vecs import append, vec
from mypy_extensions import i64

from irqsim.sim.engine import FOREVER, Callback, Engine, Fire


class VecEngine(Engine):
    """:class:`Engine` with its entries in ``vec[i64]`` arrays (compiled build): a timing
    wheel for the near future, a heap beyond it.

    An entry due within ``wheel_ns`` of ``now`` when it is scheduled goes into the *wheel*:
    one bucket per nanosecond (bucket ``time % wheel_ns``), each a chain of slots in
    scheduling order, with a bitmap of the buckets in use. The entries of a bucket all have
    one time (every entry in the wheel is due in ``[now, now + wheel_ns)``), and their chain
    is in ``seq`` order, so the wheel pops in ``(time, seq)`` order at O(1) per entry; the
    earliest wheel entry is kept (``_wmin``) and found after a pop by scanning the bitmap
    forward. Entries due later go into a binary heap. The next entry is the earlier of the
    wheel's and the heap's, ``seq`` breaking a tie: one order, the one :class:`Engine`'s
    single heap pops. (A pipeline's stages are due tens to hundreds of nanoseconds ahead,
    while the heap holds the workload's far arrivals: at 64 CPUs the stages no longer sift
    through ~300 arrivals.)
    """

    fires: ClassVar[bool] = True        # Fire callbacks are called natively
    WHEEL_NS: ClassVar[int] = 4096      # the wheel's span (a power of two)

    def __init__(self, wheel_ns: int = 0, wheel_from: int = -1) -> None:
        super().__init__()
        w = wheel_ns or VecEngine.WHEEL_NS
        if w < 32 or w & (w - 1):
            raise ValueError(f"wheel_ns must be a power of two >= 32, not {w}")
        self._ht = vec[i64]()       # heap position -> time   (capacity: len; size: _n)
        self._hk = vec[i64]()       # heap position -> slot
        self._n: i64 = 0
        self._sq = vec[i64]()       # slot -> seq (the entry's tie-break number and handle)
        self._fns = vec[Fire]()     # slot -> callback (_IDLE when free): read unchecked
        self._args: list[Any] = []  # slot -> argument
        self._free = vec[i64]()     # free slots (a stack; capacity: len; size: _nfree)
        self._nfree: i64 = 0
        self._wmask: i64 = w - 1
        self._wspan: i64 = w
        self._wfrom: i64 = WHEEL_FROM if wheel_from < 0 else wheel_from
        self._wh = vec[i64]([-1] * w)           # bucket -> first slot of its chain (-1)
        self._wbits = vec[i64]([0] * (w >> 5))  # 32 buckets per word: 1 = in use
        self._wnext = vec[i64]()    # slot -> the next slot of its bucket's chain (-1)
        self._wn: i64 = 0           # entries in the wheel
        self._wmin: i64 = FOREVER   # the time of the wheel's earliest entry
        self._hw = False            # where the head found by _head is: True the wheel
        self._htime: i64 = 0        # the head's time

    # -- storage --------------------------------------------------------------------------
    def _insert(self, time: i64, seq: i64, fn: Fire, arg: Any) -> None:
        """Add an entry. ``seq`` is the newest tie-break number (larger than every queued
        entry's), so it goes after the entries of its time: at the end of its bucket's
        chain, and never past an equal time in the heap."""
        nf = self._nfree
        if nf:
            nf -= 1
            self._nfree = nf
            slot = self._free[nf]
            self._fns[slot] = fn
            self._args[slot] = arg
            self._sq[slot] = seq
        else:
            slot = i64(len(self._fns))
            self._fns = append(self._fns, fn)
            self._args.append(arg)
            self._sq = append(self._sq, seq)
            self._wnext = append(self._wnext, -1)
        pos = self._n
        if pos >= self._wfrom:
            now: i64 = self.now
            if time - now < self._wspan:
                # Into the wheel, at the end of its bucket's chain.
                self._wnext[slot] = -1
                b = time & self._wmask
                wh = self._wh
                first = wh[b]
                if first < 0:
                    wh[b] = slot
                    bits = self._wbits
                    bits[b >> 5] = bits[b >> 5] | (i64(1) << (b & 31))
                else:
                    nxt = self._wnext
                    while nxt[first] >= 0:
                        first = nxt[first]
                    nxt[first] = slot
                self._wn += 1
                if time < self._wmin:
                    self._wmin = time
                return
        # the heap: the hole moves up past later times
        if pos == len(self._ht):
            self._ht = append(self._ht, 0)
            self._hk = append(self._hk, 0)
        self._n = pos + 1
        ht = self._ht
        hk = self._hk
        while pos > 0:
            parent = (pos - 1) >> 1
            pt = ht[parent]
            if time < pt:
                ht[pos] = pt
                hk[pos] = hk[parent]
                pos = parent
            else:
                break
        ht[pos] = time
        hk[pos] = slot

    def _head(self) -> i64:
        """The slot of the next entry, or -1 when none; sets ``_htime`` to its time and
        ``_hw`` to where it is (True: the wheel)."""
        if self._wn:
            wt = self._wmin
            ws = self._wh[wt & self._wmask]
            if self._n:
                t = self._ht[0]
                k = self._hk[0]
                if t < wt or (t == wt and self._sq[k] < self._sq[ws]):
                    self._htime = t
                    self._hw = False
                    return k
            self._htime = wt
            self._hw = True
            return ws
        if self._n:
            self._htime = self._ht[0]
            self._hw = False
            return self._hk[0]
        return -1

    def _drop_head(self, slot: i64) -> None:
        """Drop the head :meth:`_head` found (``slot``) and release its slot (it goes on the
        free-list). The slot's callback and argument stay until the slot is reused (the
        free-list is a stack: usually the next insert) or the run ends (:meth:`_forget`):
        two list stores per entry fewer."""
        nf = self._nfree
        if nf == len(self._free):
            self._free = append(self._free, slot)
        else:
            self._free[nf] = slot
        self._nfree = nf + 1
        if self._hw:
            self._wheel_drop(slot)
        else:
            self._heap_drop()

    def _wheel_drop(self, slot: i64) -> None:
        """Unlink ``slot``, the wheel's earliest entry, and find the next earliest."""
        t = self._wmin
        b = t & self._wmask
        nxt = self._wnext[slot]
        self._wh[b] = nxt
        n = self._wn - 1
        self._wn = n
        if nxt >= 0:
            return                      # the bucket's next entry: same time
        bits = self._wbits
        i = b >> 5
        bits[i] = bits[i] & ~(i64(1) << (b & 31))
        if n == 0:
            self._wmin = FOREVER
            return
        # The wheel's entries are due in [t, t + span): its next bucket in use, circularly
        # after b, holds the earliest.
        w = bits[i] >> (b & 31)
        if w:
            found = b + _low_bit(w)
        else:
            last = self._wmask >> 5
            j = (i + 1) & last
            while not bits[j]:
                j = (j + 1) & last
            found = (j << 5) + _low_bit(bits[j])
        # Every wheel entry is due in [t, t + span): bucket ``found`` is ``t`` plus its
        # distance from ``b`` (no time is kept per slot).
        self._wmin = t + ((found - b) & self._wmask)

    def _heap_drop(self) -> None:
        """Drop the heap's root: the hole sinks from the root past earlier keys."""
        n = self._n - 1
        self._n = n
        if n == 0:
            return
        ht = self._ht
        hk = self._hk
        sq = self._sq
        t = ht[n]
        k = hk[n]
        s = sq[k]
        pos: i64 = 0
        child: i64 = 1
        while child < n:
            ct = ht[child]
            right = child + 1
            if right < n:
                rt = ht[right]
                if rt < ct or (rt == ct and sq[hk[right]] < sq[hk[child]]):
                    child = right
                    ct = rt
            if ct < t or (ct == t and sq[hk[child]] < s):
                ht[pos] = ct
                hk[pos] = hk[child]
                pos = child
                child = 2 * pos + 1
            else:
                break
        ht[pos] = t
        hk[pos] = k

    def _forget(self) -> None:
        """Release the callbacks and arguments of the free slots (at the end of a run: no
        reference outlives the run that popped its entry)."""
        fns = self._fns
        args = self._args
        free = self._free
        i: i64 = 0
        while i < self._nfree:
            slot = free[i]
            fns[slot] = _IDLE
            args[slot] = None
            i += 1

    def _drop_cancelled_head(self) -> None:
        """Drop cancelled entries at the head until a live one (or nothing) is there."""
        c = self._cancelled
        while True:
            slot = self._head()
            if slot < 0:
                return
            seq = self._sq[slot]
            if seq not in c:
                return
            c.discard(seq)
            self._drop_head(slot)

    def _seqs(self) -> list[int]:
        """The handles of every queued entry (cancelled ones too)."""
        hk = self._hk
        sq = self._sq
        out = [int(sq[hk[i]]) for i in range(self._n)]
        if self._wn:
            wh = self._wh
            nxt = self._wnext
            for b in range(len(wh)):
                k = wh[b]
                while k >= 0:
                    out.append(int(sq[k]))
                    k = nxt[k]
        return out

    def _queued(self) -> i64:
        return self._n + self._wn

    # -- the Engine API -------------------------------------------------------------------
    def at(self, time: int, fn: Callback, arg: Any = None) -> int:
        """Schedule ``fn(arg)`` at absolute ``time``; returns a handle for :meth:`cancel`."""
        if time < self.now:
            raise ValueError(f"cannot schedule in the past: {time} < now {self.now}")
        if time > FOREVER:
            raise ValueError(_beyond(time))
        seq = self._seq = self._seq + 1
        self._insert(time, seq, fn if isinstance(fn, Fire) else _Call(fn), arg)
        return seq

    def push(self, time: int, fn: Callback, arg: Any) -> int:
        """:meth:`at` for a caller that knows ``time >= now`` (the hot path: no check);
        returns the handle."""
        seq = self._seq = self._seq + 1
        self._insert(time, seq, fn if isinstance(fn, Fire) else _Call(fn), arg)
        return seq

    def push_fire(self, time: int, fn: Fire, arg: Any) -> int:
        """:meth:`push` of a :class:`Fire` (compiled: no type test, here or when it runs)."""
        seq = self._seq = self._seq + 1
        self._insert(time, seq, fn, arg)
        return seq

    def at_fire(self, time: int, fn: Fire, arg: Any) -> int:
        """:meth:`at` of a :class:`Fire` (compiled: no type test, here or when it runs)."""
        if time < self.now:
            raise ValueError(f"cannot schedule in the past: {time} < now {self.now}")
        if time > FOREVER:
            raise ValueError(_beyond(time))
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
        self._insert(self.now + delay, seq, fn if isinstance(fn, Fire) else _Call(fn), arg)
        return seq

    def cancel(self, handle: int | None) -> None:
        """Cancel a scheduled entry (no effect if it already ran)."""
        if handle is not None:
            c = self._cancelled
            c.add(handle)
            if len(c) > 64 and len(c) > self._queued():
                # Forget handles that already ran: only queued entries can be skipped.
                c.intersection_update(self._seqs())

    @property
    def pending(self) -> int:
        """Number of live entries still in the heap."""
        c = self._cancelled
        return sum(1 for s in self._seqs() if s not in c)

    def live_lower_bound(self) -> int:
        """At least this many entries are still due (queued minus cancelled handles), O(1)."""
        return int(self._queued()) - len(self._cancelled)

    def live_handles(self) -> set[int]:
        """Handles of the entries still due (not run, not cancelled)."""
        c = self._cancelled
        return {s for s in self._seqs() if s not in c}

    def peek(self) -> int | None:
        """Time of the next live entry, or None."""
        if len(self._cancelled):
            self._drop_cancelled_head()
        return int(self._htime) if self._head() >= 0 else None

    def free_before(self, time: int, seq: int) -> bool:
        """True when no live entry orders before ``(time, seq)`` (an entry scheduled at
        ``time`` with tie-break ``seq`` would run next)."""
        if len(self._cancelled):
            self._drop_cancelled_head()
        slot = self._head()
        if slot < 0:
            return True
        t = self._htime
        return t > time or (t == time and self._sq[slot] > seq)

    def step(self) -> bool:
        """Run the next live entry (for software that waits on the engine's stack); False
        when there is none."""
        if len(self._cancelled):
            self._drop_cancelled_head()
        slot = self._head()
        if slot < 0:
            return False
        self.now = self._htime
        fn = self._fns[slot]
        arg = self._args[slot]
        self._drop_head(slot)
        self._fns[slot] = _IDLE
        self._args[slot] = None
        fn.fire(arg)
        self.events_run += 1
        return True

    def _due_by(self, time: i64) -> bool:
        """True when a live entry is due at or before ``time``."""
        if not ((self._n and self._ht[0] <= time) or (self._wn and self._wmin <= time)):
            return False                # the usual answer on an idle machine: two tests
        slot = self._head()
        c = self._cancelled
        if not len(c) or self._sq[slot] not in c:   # (len first: no boxed seq to hash)
            return True
        nxt = self.peek()
        return nxt is not None and nxt <= time

    def free_until(self, time: int) -> bool:
        """True when no live entry is due at or before ``time`` within the run's horizon:
        software may then move ``now`` to ``time`` without skipping anything."""
        if time > self.horizon or time >= self.wait_t:
            return False
        return not self._due_by(time)

    def ahead(self, time: int) -> bool:
        """True when an entry at ``time`` scheduled now would be the next to run, in a run
        without ``until`` or event limit, with nothing waiting off the heap before it (see
        :meth:`Engine.ahead`)."""
        if not self.fold or self.bounded or not self.running or self.stopped \
                or time >= self.wait_t:
            return False
        return not self._due_by(time)

    def fold_at(self, time: int) -> bool:
        """:meth:`ahead`; when true, also move ``now`` to ``time`` and count the fold (see
        :meth:`Engine.fold_at`)."""
        if time >= self.wait_t or self._due_by(time):   # the usual reason: a busy machine
            return False
        if not self.fold or self.bounded or not self.running or self.stopped:
            return False
        self.now = time
        self.folded += 1
        return True

    def run(self, until: int | None = None, max_events: int | None = None) -> int:
        """Run entries in time order until none is left, ``until`` or ``max_events``.

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
            while True:
                # _head and _drop_head, inlined: two native calls fewer per entry.
                hw = False
                if self._wn:
                    t = self._wmin
                    slot = self._wh[t & self._wmask]
                    hw = True
                    if self._n:
                        ht0 = self._ht[0]
                        if ht0 < t or (ht0 == t and self._sq[self._hk[0]] < self._sq[slot]):
                            t = ht0
                            slot = self._hk[0]
                            hw = False
                elif self._n:
                    slot = self._hk[0]
                    t = self._ht[0]
                else:
                    break
                if t > horizon:
                    break
                if len(cancelled):      # (len: a native read; a set's truth is a call)
                    seq = self._sq[slot]
                    if seq in cancelled:
                        cancelled.discard(seq)
                        self._hw = hw
                        self._drop_head(slot)
                        continue
                fn = self._fns[slot]
                arg = self._args[slot]
                nf = self._nfree
                if nf == len(self._free):
                    self._free = append(self._free, slot)
                else:
                    self._free[nf] = slot
                self._nfree = nf + 1
                if hw:
                    self._wheel_drop(slot)
                else:
                    self._heap_drop()
                self.now = t
                fn.fire(arg)                # a native call (vtable), no type test
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


class _Call(Fire):
    """A callback that is not a :class:`Fire` (a bound method, a function), as one: every
    slot holds a Fire, so the run calls each entry by vtable without testing its type."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callback) -> None:
        self.fn = fn

    def fire(self, arg: Any) -> None:
        self.fn(arg)


class _Idle(Fire):
    """What a free slot holds (it never runs)."""

    __slots__ = ()

    def fire(self, arg: Any) -> None:
        raise AssertionError("a free slot of the engine ran")


_IDLE: Final = _Idle()

# The heap's size from which near entries go to the wheel: below it a heap's sift is a few
# levels, cheaper than the wheel's bitmap scan over a sparse near future (1 CPU).
WHEEL_FROM: Final = 32


def _low_bit(w: i64) -> i64:
    """The index of the lowest set bit of ``w`` (a nonzero 32-bit word)."""
    i: i64 = 0
    if not w & 0xFFFF:
        w >>= 16
        i += 16
    if not w & 0xFF:
        w >>= 8
        i += 8
    if not w & 0xF:
        w >>= 4
        i += 4
    if not w & 0x3:
        w >>= 2
        i += 2
    if not w & 0x1:
        i += 1
    return i


def _beyond(time: int) -> str:
    return (f"time {time} ns is beyond the compiled engine's range (FOREVER = 2**62 - 1 ns, "
            f"146 years)")
