"""The engine's native heap functions (src/irqsim/sim/_nheap.c) against heapq.

_nheap runs heapq's algorithm with (time, seq) compared as C integers, so after every push and
pop the list must hold the same items in the same places as heapq's, for any items: the
engine's (time, seq, fn, arg) entries with ties and huge times, and anything else (compared
with ``<`` as heapq does). Equal lists after every operation mean the engine pops the same
entries in the same order with either (docs/performance.md "Session 3"). Uses the built
extension, else builds it into a temporary directory; skipped without a C compiler.
"""

from __future__ import annotations

import heapq
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from native_ext import build_and_load

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def nheap(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    try:
        from irqsim.sim import _nheap
        return _nheap
    except ImportError:
        return build_and_load(BENCH, "build_native", "_nheap", tmp_path_factory.mktemp("nheap"))


ints = st.one_of(st.integers(0, 6), st.integers(-(1 << 70), 1 << 70), st.integers(1 << 29, 1 << 61),
                 st.sampled_from([1 << 62, (1 << 63) - 1, 1 << 63, -(1 << 63)]))
entries = st.one_of(
    st.tuples(ints, ints, st.integers(0, 3)),                 # (time, seq, payload)
    st.tuples(ints, ints),
    st.tuples(ints, st.floats(allow_nan=False), st.integers()),  # seq not an int
    st.tuples(st.floats(allow_nan=False), ints),                 # time not an int
)
# One operation: push an entry, or pop (None).
programs = st.lists(st.one_of(entries, st.none()), max_size=60)


@settings(max_examples=300, deadline=None)
@given(programs)
def test_native_heap_keeps_heapqs_exact_layout(nheap: ModuleType,
                                               program: list[Any]) -> None:
    """After every push and pop the list equals heapq's, item for item (heapq contract)."""
    ours: list[Any] = []
    ref: list[Any] = []
    for op in program:
        if op is None:
            if not ref:
                with pytest.raises(IndexError):
                    nheap.heappop(ours)
                continue
            assert nheap.heappop(ours) == heapq.heappop(ref)
        else:
            nheap.heappush(ours, op)
            heapq.heappush(ref, op)
        assert ours == ref


def test_native_heap_keeps_identity_and_frees_items(nheap: ModuleType) -> None:
    """Popped items are the pushed objects; the engine's entries pop in (time, seq) order."""
    heap: list[Any] = []
    items = [(t, s, object(), None) for t, s in [(5, 3), (5, 1), (1 << 62, 2), (0, 4)]]
    for it in items:
        nheap.heappush(heap, it)
    before = [sys.getrefcount(it) for it in items]
    popped = [nheap.heappop(heap) for _ in items]
    assert [p[:2] for p in popped] == [(0, 4), (5, 1), (5, 3), (1 << 62, 2)]
    assert all(any(p is it for it in items) for p in popped)
    del popped
    assert [sys.getrefcount(it) for it in items] == [n - 1 for n in before]   # no leak
    with pytest.raises(TypeError):
        nheap.heappush((), 1)


def test_native_heap_propagates_comparison_errors(nheap: ModuleType) -> None:
    """Entries equal in (time, seq) fall back to ``<``, whose errors propagate as heapq's."""
    heap: list[Any] = [(1, 1, object())]
    with pytest.raises(TypeError):
        nheap.heappush(heap, (1, 1, object()))


# An engine program: entries (time, children as (delay, cancel-index or -1)); as in
# test_native_engine.py, each entry logs (now, id), schedules its children with at/after/push
# and cancels a handle by index.
Program = list[tuple[int, list[tuple[int, int]]]]
engine_programs = st.lists(
    st.tuples(st.integers(0, 20),
              st.lists(st.tuples(st.integers(0, 5), st.integers(-1, 30)), max_size=3)),
    min_size=1, max_size=25)


def _run_engine(program: Program) -> list[tuple[int, int]]:
    from irqsim.sim.engine import Engine

    eng = Engine()
    log: list[tuple[int, int]] = []
    handles: list[int] = []

    def fire(i: int) -> None:
        log.append((eng.now, i))
        if i < len(program):
            for n, (delay, cancel) in enumerate(program[i][1]):
                if 0 <= cancel < len(handles):
                    eng.cancel(handles[cancel])
                child = 100 + len(handles)
                arg = child if child < 160 else 999
                h = (eng.after(delay, fire, arg) if n % 2 else
                     eng.push(eng.now + delay, fire, arg))
                handles.append(h)

    for i, (t, _) in enumerate(program):
        handles.append(eng.at(t, fire, i))
    eng.run()
    return log


@settings(max_examples=100, deadline=None)
@given(engine_programs)
def test_engine_runs_the_same_entries_with_the_native_heap_and_heapq(
        nheap: ModuleType, program: Program) -> None:
    """sim/engine.py contract ((time, seq) order, ties in scheduling order, lazy cancel):
    the Engine with the native heap functions runs the same callbacks at the same instants
    in the same order as with heapq (plain modules: the heap functions are swapped in)."""
    from irqsim.sim import engine
    from irqsim.sim.compiled import compiled

    if compiled():
        pytest.skip("the compiled engine binds its heap functions at build time")
    saved = engine.heap_push, engine.heap_pop

    def use(push: Any, pop: Any) -> None:
        # Final names, swapped for this test only (the plain module reads its globals)
        vars(engine).update(heap_push=push, heap_pop=pop)

    try:
        use(heapq.heappush, heapq.heappop)
        ref = _run_engine(program)
        use(nheap.heappush, nheap.heappop)
        ours = _run_engine(program)
    finally:
        use(*saved)
    assert ours == ref
