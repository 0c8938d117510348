"""The event engine: integer time, deterministic ties, lazy cancellation."""

from hypothesis import given, settings
from hypothesis import strategies as st

from irqsim.sim.engine import Engine


def test_events_run_in_time_order_and_ties_in_scheduling_order() -> None:
    """One clock: entries run by time, equal times in the order they were scheduled."""
    e = Engine()
    seen: list[tuple[int, str]] = []
    e.at(30, lambda a: seen.append((e.now, a)), "c")
    e.at(10, lambda a: seen.append((e.now, a)), "a")
    e.at(10, lambda a: seen.append((e.now, a)), "b")
    e.run()
    assert seen == [(10, "a"), (10, "b"), (30, "c")]


def test_cancelled_entry_does_not_run() -> None:
    """Lazy cancellation: a cancelled handle is skipped when popped."""
    e = Engine()
    seen: list[str] = []
    h = e.at(5, seen.append, "x")
    e.at(6, seen.append, "y")
    e.cancel(h)
    assert e.pending == 1
    e.run()
    assert seen == ["y"]


def test_run_until_stops_the_clock_exactly() -> None:
    """run(until=T) leaves later entries queued and the clock at T."""
    e = Engine()
    seen: list[int] = []
    e.at(5, seen.append, 5)
    e.at(50, seen.append, 50)
    e.run(until=20)
    assert seen == [5] and e.now == 20 and e.peek() == 50


def test_scheduling_in_the_past_is_refused() -> None:
    """Time only moves forward."""
    e = Engine()
    e.run(until=100)
    try:
        e.at(10, print)
    except ValueError as err:
        assert "past" in str(err)
    else:
        raise AssertionError("expected ValueError")


@given(st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=50))
def test_any_schedule_runs_sorted_and_deterministically(times: list[int]) -> None:
    """Determinism: the run order is the sorted (time, scheduling order) order."""
    e = Engine()
    seen: list[tuple[int, int]] = []
    for i, t in enumerate(times):
        e.at(t, lambda a: seen.append(a), (t, i))
    e.run()
    assert seen == sorted((t, i) for i, t in enumerate(times))


def test_negative_delay_is_refused() -> None:
    """Time travel is an error (as SimPy refuses a negative timeout)."""
    e = Engine()
    try:
        e.after(-1, print)
    except ValueError as err:
        assert "negative" in str(err)
    else:
        raise AssertionError("expected ValueError")


def test_cancelled_handles_that_already_ran_are_forgotten() -> None:
    """Cancelling entries that already ran does not grow the engine without bound: the
    cancelled set never keeps more handles than the heap has entries (plus a small slack)."""
    e = Engine()
    handles = [e.at(i, lambda _: None) for i in range(1000)]
    e.run()
    for h in handles:
        e.cancel(h)
    assert len(e._cancelled) <= 64
    live = e.at(e.now + 5, lambda _: None)
    e.cancel(live)
    assert e.pending == 0


def test_ahead_only_when_the_entry_would_run_next() -> None:
    """Engine.ahead (issue 12 folding): an entry at ``t`` would run next only when every live
    entry is later than ``t`` (an entry at ``t`` itself was scheduled first and runs first),
    inside an unbounded run, and never with folding turned off."""
    from irqsim.sim.engine import Engine

    e = Engine()
    seen: list[tuple[int, bool]] = []

    def probe(t: object) -> None:
        assert isinstance(t, int)
        seen.append((t, e.ahead(t)))

    e.at(100, lambda _: None)
    e.at(10, probe, 15)      # next entry at 20: 15 would run next
    e.at(20, probe, 25)      # tie with the entry at 25: that one was scheduled first
    h = e.at(30, lambda _: None)
    e.cancel(h)
    e.at(25, probe, 100)     # the live entry at 100 was scheduled first
    e.at(26, probe, 50)      # the cancelled entry at 30 does not count
    e.run()
    assert seen == [(15, True), (25, False), (100, False), (50, True)]
    assert not e.ahead(0)    # outside a run: nothing to return to
    e.fold = False
    e.at(200, probe, 250)
    e.run()
    assert seen[-1] == (250, False)
    e.fold = True
    e.at(300, probe, 350)
    e.run(until=1000)        # bounded: stages stay entries
    assert seen[-1] == (350, False)


def _chains(fold: bool, starts: list[tuple[int, list[int]]]) -> list[tuple[int, int, int]]:
    """Run message chains (start instant, stage delays); each stage ends its event by
    scheduling the next one, folding it when ``Engine.ahead`` allows."""
    from irqsim.sim.engine import Engine

    e = Engine()
    e.fold = fold
    log: list[tuple[int, int, int]] = []

    def stage(arg: object) -> None:
        assert isinstance(arg, tuple)
        chain, k = arg
        log.append((e.now, chain, k))
        delays = starts[chain][1]
        if k < len(delays):
            t = e.now + delays[k]
            if e.ahead(t):
                e.now = t
                e.folded += 1
                stage((chain, k + 1))
            else:
                e.at(t, stage, (chain, k + 1))

    for i, (t0, _) in enumerate(starts):
        e.at(t0, stage, (i, 0))
    e.run()
    assert fold or e.folded == 0
    return log


@given(st.lists(st.tuples(st.integers(0, 200), st.lists(st.integers(0, 60), max_size=5)),
                min_size=1, max_size=12))
@settings(max_examples=150, deadline=None)
def test_folding_runs_the_same_stages_at_the_same_instants_in_the_same_order(
        starts: list[tuple[int, list[int]]]) -> None:
    """Property (issue 12 How 1): folding a stage whose entry would run next leaves the run
    unchanged: the same (instant, message, stage) sequence, ties included."""
    assert _chains(True, starts) == _chains(False, starts)
