"""The compiled build's engine (sim/engine_vec.py, the heap in ``vec[i64]`` arrays) against
:class:`Engine` (heapq / the native heap functions): the same sim/engine.py contract.

Hypothesis programs schedule (at/after/push, ties), cancel, run with and without ``until``
and event limits, step, and query ``peek``/``pending``/``live_handles``/``free_before``/
``free_until``/``ahead`` from inside callbacks; both engines must run the same callbacks at
the same instants in the same order and answer every query alike (docs/performance.md,
"Engine (session 4)"). Runs interpreted in the plain suite (librt comes with mypy) and
compiled in ``make test-compiled``.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irqsim.sim.engine import Engine

engine_vec = pytest.importorskip("irqsim.sim.engine_vec")

# An entry: (delay from its parent's instant, action, operand, children). Actions: 0 log,
# 1 cancel the handle with index ``operand``, 2 step the engine ``operand`` times from inside
# (as an inline section waits), 3 query free_until/ahead/free_before at now + operand, 4
# stop the run.
Node = tuple[int, int, int, list[tuple[int, int, int]]]
# Times span several turns of a 32 ns wheel (entries in the wheel and in the heap, equal
# times in both) and stay within the default one.
programs = st.lists(
    st.tuples(st.integers(0, 100), st.integers(0, 4), st.integers(0, 12),
              st.lists(st.tuples(st.sampled_from((0, 1, 2, 5, 8, 31, 32, 33, 40, 64)),
                                 st.integers(0, 4), st.integers(0, 12)),
                       max_size=3)),
    min_size=1, max_size=20)
runs = st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 160)),
                          st.one_of(st.none(), st.integers(1, 10))), min_size=1, max_size=4)


def _play(eng: Engine, program: list[Node], schedule: list[tuple[int | None, int | None]]
          ) -> list[object]:
    log: list[object] = []
    handles: list[int] = []

    def fire(arg: object) -> None:
        assert isinstance(arg, tuple)
        i, action, operand, children = arg
        log.append(("run", eng.now, i))
        if action == 1 and operand < len(handles):
            eng.cancel(handles[operand])
        elif action == 2:
            for _ in range(operand % 3):
                log.append(("step", eng.step(), eng.now))
        elif action == 3:
            t = eng.now + operand
            log.append(("q", eng.free_until(t), eng.ahead(t), eng.free_before(t, operand),
                        eng.peek(), eng.pending, sorted(eng.live_handles()),
                        eng.live_lower_bound()))
            if operand % 2 and eng.fold_at(t):
                log.append(("folded", eng.now, eng.folded))
        elif action == 4:
            eng.stop()
        for n, (delay, act, op) in enumerate(children):
            child: Node = (100 + len(handles), act, op, [])
            if n % 3 == 0:
                handles.append(eng.after(delay, fire, child))
            elif n % 3 == 1:
                handles.append(eng.push(eng.now + delay, fire, child))
            else:
                handles.append(eng.at(eng.now + delay, fire, child))

    for i, (t, action, operand, children) in enumerate(program):
        handles.append(eng.at(t, fire, (i, action, operand, children)))
    for until, limit in schedule:
        log.append(("ran", eng.run(until=until, max_events=limit), eng.now, eng.peek(),
                    eng.pending, eng.events_run))
    log.append(("end", eng.run(), eng.now, eng.peek(), eng.pending, eng.events_run))
    return log


@pytest.mark.parametrize(("wheel_ns", "wheel_from"), [(32, 0), (32, 3), (0, -1)])
@settings(max_examples=150, deadline=None)
@given(programs, runs)
def test_vec_engine_runs_and_answers_as_the_tuple_engine(
        wheel_ns: int, wheel_from: int, program: list[Node],
        schedule: list[tuple[int | None, int | None]]) -> None:
    """sim/engine.py contract ((time, seq) order, ties in scheduling order, lazy cancel,
    ``until``/``max_events``, ``step``, the fold and posted-write tests): VecEngine behaves
    exactly as Engine on every program, with a wheel shorter than the program's times
    (entries in both the wheel and the heap), used from the first entry or from a heap of
    three, and with the defaults."""
    assert _play(engine_vec.VecEngine(wheel_ns, wheel_from), program, schedule) == _play(
        Engine(), program, schedule)


def test_vec_engine_merges_wheel_and_heap_in_time_then_scheduling_order() -> None:
    """sim/engine.py: entries run in (time, seq) order. Entries due beyond the wheel's span
    go to the heap; when the clock has moved, later entries at the same instants go to the
    wheel: equal times run in scheduling order across both, and a bucket that held an entry
    one turn earlier holds the next turn's."""
    e = engine_vec.VecEngine(32, 0)
    log: list[tuple[int, str]] = []
    for t in (100, 40, 64, 200):                    # all beyond 32 ns: the heap
        e.at(t, lambda a: log.append((e.now, a)), f"h{t}")

    def later(_: object) -> None:                   # at 40: 64 and 100 are now in reach
        for t in (64, 100, 64 + 32, 41, 40 + 31):
            e.at(t, lambda a: log.append((e.now, a)), f"w{t}")

    e.at(40, later)
    e.run()
    assert log == [(40, "h40"), (41, "w41"), (64, "h64"), (64, "w64"), (71, "w71"),
                   (96, "w96"), (100, "h100"), (100, "w100"), (200, "h200")]
    assert e._wn == 0 and e._n == 0


def test_vec_engine_wheel_span_is_a_power_of_two() -> None:
    """The wheel's buckets are indexed by ``time % span``: a span that is not a power of
    two (or too short for its bitmap words) is refused, naming the value."""
    for bad in (48, 16, 1000):
        with pytest.raises(ValueError, match=f"not {bad}"):
            engine_vec.VecEngine(bad)


def test_vec_engine_reuses_slots_and_forgets_callbacks() -> None:
    """A popped entry's callback and argument are released (no reference outlives its run)
    and its slot is reused: the slot lists do not grow with the number of entries run."""
    e = engine_vec.VecEngine()
    for i in range(1000):
        e.at(i, lambda _: None, object())
        e.run()
    assert len(e._fns) == 1 and e._fns[0] is engine_vec._IDLE and e._args == [None]


def test_vec_engine_refuses_the_past_and_negative_delays() -> None:
    """Time only moves forward (as Engine)."""
    e = engine_vec.VecEngine()
    e.run(until=100)
    with pytest.raises(ValueError, match="past"):
        e.at(10, print)
    with pytest.raises(ValueError, match="negative"):
        e.after(-1, print)


def test_vec_engine_names_a_time_beyond_its_range() -> None:
    """Times are 63-bit integers there: a later time is a clear error naming the value and
    the range (the run's ``until``, ``at`` and ``after`` alike), not a conversion failure."""
    e = engine_vec.VecEngine()
    for call in (lambda: e.at(2**64, print), lambda: e.after(2**62, print),
                 lambda: e.run(until=2**63)):
        with pytest.raises(ValueError, match="beyond the compiled engine's range"):
            call()
    e.at(2**62 - 1, print)                  # FOREVER itself is in range


def test_vec_engine_overrides_every_method_that_reads_the_tuple_heap() -> None:
    """VecEngine keeps its entries in its own arrays: an Engine method that reads ``_heap``
    (or ``heap_pop``/``heap_push``) and is not overridden would see an empty heap in the
    compiled build. Every such method of sim/engine.py's Engine has an override."""
    import ast
    from pathlib import Path

    import irqsim.sim.engine as engine_mod

    src = Path(engine_mod.__file__ or "").parent / "engine.py"    # compiled: the .py beside
    tree = ast.parse(src.read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Engine")
    names = ("heap_pop", "heap_push", "heappop")
    reads = {f.name for f in cls.body if isinstance(f, ast.FunctionDef)
             and any((isinstance(n, ast.Attribute) and n.attr == "_heap")
                     or (isinstance(n, ast.Name) and n.id in names) for n in ast.walk(f))}
    assert reads, "no method reads the heap: the test no longer sees the engine"
    missing = {name for name in reads
               if name != "__init__" and name not in engine_vec.VecEngine.__dict__}
    assert not missing, f"VecEngine must override {sorted(missing)}"

