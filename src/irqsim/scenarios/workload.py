"""Request workloads: device events at exponential inter-arrival times, or replayed from
recorded gaps. Compiled with the hot path (``make compiled``): a source costs one engine
entry per event and no interpreted frame."""

from __future__ import annotations

import random
from array import array
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from irqsim.sim.engine import Callback, Engine, Fire

if TYPE_CHECKING:
    from irqsim.sim.engine_vec import Instants


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


class ReplaySource:
    """Calls ``action(arg)`` once per gap in ``gaps_ns``, each after the one before it.

    Instants accumulate as floats and are truncated to whole ns when scheduled, as the
    reference models in ../shared/bench/anchors do, so a replay of their workload raises the
    same device events at the same instants. ``action(arg)`` is the last step of each event
    (so it may fold its next stage into it: ``MsixCapability.signal_last``).

    The instants are computed when the source is made (the same float additions, in the
    same order) and kept as C integers, 8 bytes each: an object per event made ahead of its
    use (a gap read, a list of ints) was a cache miss per event, at 1 CPU (four sources) as
    at 64 (256), where it lies far from everything else the event touches. The compiled
    build reads them unboxed (``engine_vec.Instants``, a ``vec[i64]``); interpreted, an
    ``array("q")`` is turned into int objects ``CHUNK`` at a time."""

    __slots__ = ("_action", "_arg", "_buf", "_engine", "_fire_cb", "_pos", "_times", "_vec",
                 "done")

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
        # The compiled build reads them unboxed instead (sim/engine_vec.py needs librt).
        self._vec: Instants | None = None
        if engine.fires:
            from irqsim.sim.engine_vec import Instants
            self._vec = Instants(times)
        self._pos = 0
        self._action = action
        self._arg = arg
        self.done = 0
        # Made once: every event schedules it (a Fire where the engine calls it natively).
        self._fire_cb: Fire | None = _ReplayFire(self) if engine.fires else None
        self._next()

    def _next(self) -> None:
        iv = self._vec
        f = self._fire_cb
        if iv is not None and f is not None:
            k = self.done
            if k < iv.n:
                self._engine.at_fire(iv.at(k), f, None)
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
        self._engine.at(buf[i], self._fire)

    def _fire(self, _: object) -> None:
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


class _ReplayFire(Fire):
    """``ReplaySource._fire`` as a :class:`~irqsim.sim.engine.Fire` (compiled engine)."""

    __slots__ = ("src",)

    def __init__(self, src: ReplaySource) -> None:
        self.src = src

    def fire(self, arg: Any) -> None:
        self.src._fire(arg)
