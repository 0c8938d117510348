"""Request workloads: device events at exponential inter-arrival times, or replayed from
recorded gaps. Compiled with the hot path (``make compiled``): a source costs one engine
entry per event and no interpreted frame."""

from __future__ import annotations

import random
from array import array
from collections.abc import Callable, Sequence
from typing import Any, Final

from irqsim.sim.compiled import i64
from irqsim.sim.engine import Callback, Engine, Fire


class PoissonSource:
    """Calls ``action()`` ``count`` times with exponential gaps of mean ``mean_gap_ns``."""

    __slots__ = ("_action", "_engine", "_fire_cb", "_mean", "_rng", "count", "done")

    def __init__(self, engine: Engine, action: Callable[[], None], count: int,
                 mean_gap_ns: float, rng: random.Random, start: int | None = None) -> None:
        if count < 0 or mean_gap_ns <= 0:
            raise ValueError("count must be >= 0 and mean_gap_ns > 0")
        self._engine = engine
        self._action = action
        self._mean = mean_gap_ns
        self._rng = rng
        self.count = count
        self.done = 0
        # Made once: every event schedules it (a Fire where the engine calls it natively).
        self._fire_cb: Callback = _PoissonFire(self) if engine.fires else self._fire
        if count:
            t0 = engine.now if start is None else start
            engine.at(t0 + self._gap(), self._fire_cb)

    def _gap(self) -> int:
        return max(1, int(self._rng.expovariate(1.0 / self._mean)))

    def _fire(self, _: object) -> None:
        self._action()
        self.done += 1
        if self.done < self.count:
            self._engine.after(self._gap(), self._fire_cb)


class ReplaySource(Fire):
    """Calls ``action(arg)`` once per gap in ``gaps_ns``, each after the one before it.

    Instants accumulate as floats and are truncated to whole ns when scheduled, as the
    reference models in ../shared/bench/anchors do, so a replay of their workload raises the
    same device events at the same instants. ``action(arg)`` is the last step of each event
    (so it may fold its next stage into it: ``MsixCapability.signal_last``).

    The instants are computed when the source is made (the same float additions, in the
    same order) and kept as C integers, 8 bytes each: an object per event made ahead of its
    use (a gap read, a list of ints) was a cache miss per event, at 1 CPU (four sources) as
    at 64 (256), where it lies far from everything else the event touches. Where the engine
    calls :class:`Fire` objects natively (the compiled build) the source is its own engine
    entry (one object per source to touch, not two) and reads its instants unboxed from a
    ``vec[i64]``, each loaded one event ahead: the line of a source's next instant is gone
    from the caches by its turn, and a load nothing waits for lets the core go on.
    Interpreted, an ``array("q")`` is turned into int objects ``CHUNK`` at a time."""

    __slots__ = ("_action", "_arg", "_buf", "_engine", "_fast", "_k", "_left", "_pos",
                 "_pre", "_times", "_v", "done")

    CHUNK: Final = 32

    def __init__(self, engine: Engine, gaps_ns: Sequence[float],
                 action: Callable[[Any], None], arg: Any = None,
                 start: int | None = None) -> None:
        if any(g < 0 for g in gaps_ns):
            raise ValueError("replayed gaps must be >= 0 ns")
        self._engine = engine
        t = float(engine.now if start is None else start)
        times = array("q")
        for g in gaps_ns:
            t += g
            times.append(int(t))
        self._times = times
        self._buf: list[int] = []       # the instants of events done .. done + len - pos
        self._pos = 0
        self._action = action
        self._arg = arg
        self.done = 0
        self._fast = engine.fires
        self._left: i64 = 0             # (fast) instants not scheduled yet
        self._k: i64 = 0                # (fast) the index of _pre
        self._pre: i64 = 0              # (fast) the next instant, loaded ahead
        if self._fast:
            from librt.vecs import vec  # the compiled build (librt comes with mypy)
            self._v = vec[i64](times)
            self._left = len(self._v)
            if self._left:
                self._pre = self._v[0]
        self._next()

    def _next(self) -> None:
        if self._fast:
            if self._left:
                t = self._pre
                k = self._k + 1
                self._k = k
                self._left -= 1
                if k < len(self._v):
                    self._pre = self._v[k]      # loaded ahead: nothing waits for it
                self._engine.at_fire(t, self, None)
            return
        i = self._pos
        buf = self._buf
        if i == len(buf):
            start = self.done
            buf = self._buf = self._times[start:start + ReplaySource.CHUNK].tolist()
            if not buf:
                return
            i = 0
        self._pos = i + 1
        self._engine.at(buf[i], self.fire)

    def fire(self, arg: Any) -> None:
        """The next event: schedule the one after it, then ``action(arg)`` (the source's
        ``arg``; the engine's is None)."""
        self.done += 1
        self._next()
        self._action(self._arg)


class _PoissonFire(Fire):
    """``PoissonSource._fire`` as a :class:`~irqsim.sim.engine.Fire` (compiled engine)."""

    __slots__ = ("src",)

    def __init__(self, src: PoissonSource) -> None:
        self.src = src

    def fire(self, arg: Any) -> None:
        self.src._fire(arg)
