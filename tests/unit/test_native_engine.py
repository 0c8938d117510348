"""The prototype native engine (bench/native/cengine.c, issue 12 "How" 2) against Engine.

Both must run the same callbacks at the same instants in the same order for any program of
schedules, ties and cancellations (the engine contract of sim/engine.py: (time, seq) order,
lazy cancellation). Skipped without a C compiler and Python headers.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irqsim.sim.engine import Engine
from native_ext import build_and_load

BENCH_NATIVE = Path(__file__).resolve().parents[2] / "bench" / "native"


@pytest.fixture(scope="module")
def cengine(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return build_and_load(BENCH_NATIVE, "build", "cengine", tmp_path_factory.mktemp("cengine"))


# One entry of a program: (time, children as (delay, cancel-index or -1)).
Program = list[tuple[int, list[tuple[int, int]]]]
programs = st.lists(st.tuples(st.integers(0, 20),
                              st.lists(st.tuples(st.integers(0, 5), st.integers(-1, 30)),
                                       max_size=3)),
                    min_size=1, max_size=25)


def trace(eng: Any, program: Program) -> list[tuple[int, int]]:
    """Run ``program`` on ``eng``: each entry logs (now, id) and schedules its children,
    cancelling a handle by index; returns the log."""
    log: list[tuple[int, int]] = []
    handles: list[int] = []

    def fire(i: int) -> None:
        log.append((eng.now, i))
        if i < len(program):
            for delay, cancel in program[i][1]:
                if 0 <= cancel < len(handles):
                    eng.cancel(handles[cancel])
                child = 100 + len(handles)
                handles.append(eng.after(delay, fire, child if child < 160 else 999))

    for i, (t, _) in enumerate(program):
        handles.append(eng.at(t, fire, i))
    eng.run()
    return log


@settings(max_examples=150, deadline=None)
@given(programs)
def test_native_engine_runs_the_same_entries_in_the_same_order(cengine: ModuleType,
                                                              program: Program) -> None:
    """sim/engine.py contract: (time, seq) order, ties in scheduling order, lazy cancel."""
    assert trace(cengine.CEngine(), program) == trace(Engine(), program)


def test_native_engine_refuses_the_past_and_counts_pending(cengine: ModuleType) -> None:
    """Scheduling before ``now`` is an error; ``pending`` skips cancelled handles."""
    e = cengine.CEngine()
    h = e.at(5, print)
    e.at(6, lambda _: None)
    e.cancel(h)
    assert e.pending == 1
    e.run(10)
    assert e.now == 10 and e.events_run == 1
    with pytest.raises(ValueError):
        e.at(3, print)
