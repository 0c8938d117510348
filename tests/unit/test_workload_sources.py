"""Workload sources (scenarios/workload.py): the replayed arrival stream raises its device
events at the reference models' instants (../shared/bench/anchors: the gaps accumulate as
floats and each instant is truncated to whole ns), one event per gap, in order."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from irqsim.scenarios.workload import ReplaySource
from irqsim.sim.engine import Engine


def _engines() -> list[type[Engine]]:
    """Engine, and the compiled build's VecEngine where librt is installed: a source on it
    is its own entry and reads its instants from a vec[i64] (interpreted here, compiled in
    ``make test-compiled``)."""
    try:
        from irqsim.sim.engine_vec import VecEngine
    except ImportError:
        return [Engine]
    return [Engine, VecEngine]


@pytest.mark.parametrize("engine", _engines())
@given(st.lists(st.floats(min_value=0, max_value=5e4, allow_nan=False), max_size=40),
       st.integers(min_value=0, max_value=10_000))
def test_replay_fires_at_the_accumulated_truncated_instants(engine: type[Engine],
                                                           gaps: list[float],
                                                           start: int) -> None:
    """Event i fires at int(start + gap_0 + ... + gap_i) with the float sum the anchors
    use, and the action gets the source's argument."""
    eng = engine()
    eng.now = start
    seen: list[tuple[int, object]] = []
    src = ReplaySource(eng, gaps, lambda arg: seen.append((eng.now, arg)), arg="q3")
    eng.run()
    expect, t = [], float(start)
    for g in gaps:
        t += g
        expect.append((int(t), "q3"))
    assert seen == expect and src.done == len(gaps)


def test_replay_rejects_negative_gaps() -> None:
    """A negative gap would schedule into the past: a clear error, not a late event."""
    with pytest.raises(ValueError, match="gaps must be >= 0"):
        ReplaySource(Engine(), [10.0, -1.0], lambda _: None)
