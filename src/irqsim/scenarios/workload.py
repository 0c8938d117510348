"""Request workloads: device events at exponential inter-arrival times."""

from __future__ import annotations

import random
from collections.abc import Callable

from irqsim.sim.engine import Engine


class PoissonSource:
    """Calls ``action()`` ``count`` times with exponential gaps of mean ``mean_gap_ns``."""

    __slots__ = ("_action", "_engine", "_mean", "_rng", "count", "done")

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
        if count:
            t0 = engine.now if start is None else start
            engine.at(t0 + self._gap(), self._fire)

    def _gap(self) -> int:
        return max(1, int(self._rng.expovariate(1.0 / self._mean)))

    def _fire(self, _: object) -> None:
        self._action()
        self.done += 1
        if self.done < self.count:
            self._engine.after(self._gap(), self._fire)
