"""C-states: the wake-up an interrupt to an idle CPU pays, the governor's choice, idle=poll
and residency accounting (reference nic-moderation.md section 9, behaviour 29)."""

from __future__ import annotations

from helpers import balanced, nic_machine
from irqsim.cpu.cpu import CONTEXTS, POLL
from irqsim.cpu.idle import CSTATE_TABLES, IdleCpu, choose_state, typical_interval

US = 1000


def _first_latency(**kw: object) -> int:
    """Device event to handler entry of one packet sent to an idle CPU 1 ms after boot."""
    m, nics, _ = nic_machine(ncpus=1, **kw)
    t = m.now + 1_000_000
    m.engine.at(t, lambda _: nics[0].rx(0))
    m.run()
    assert m.recorder is not None and balanced(m)
    return int(m.recorder.summary()["nic0"]["max"])


def test_wakeup_latency_by_state_and_none_without_cstates() -> None:
    """Behaviour 29: a CPU idling in C6 (Skylake-SP) starts the handler 133 us later than a
    running one, in C1 2 us later (PM-QoS limit 5 us rules out C1E/C6); idle=poll and no
    C-states pay nothing."""
    base = _first_latency()
    assert _first_latency(cstates="poll") == base
    assert _first_latency(cstates="skx") == base + 133 * US
    assert _first_latency(cstates="skx", pm_qos_ns=5 * US) == base + 2 * US
    assert _first_latency(cstates="spr") == base + 290 * US


def test_governor_picks_deepest_state_within_prediction_and_qos() -> None:
    """Reference 9: deepest state with target residency <= predicted idle and exit latency
    <= the PM-QoS limit; a prediction below C1's residency stays in POLL."""
    skx = CSTATE_TABLES["skx"]
    names = [s.name for s in skx]
    assert names[choose_state(skx, 10**9, 10**9)] == "C6"
    assert names[choose_state(skx, 599 * US, 10**9)] == "C1E"
    assert names[choose_state(skx, 20 * US, 10**9)] == "C1E"
    assert names[choose_state(skx, 19 * US, 10**9)] == "C1"
    assert names[choose_state(skx, 1 * US, 10**9)] == "POLL"
    assert names[choose_state(skx, 10**9, 10 * US)] == "C1E"
    assert typical_interval([50 * US] * 8) == 50 * US
    assert typical_interval([10 * US, 2000 * US] * 4) is None


def test_regular_traffic_moves_the_cpu_to_a_shallower_state_and_residency_adds_up() -> None:
    """60 packets every 50 us: after eight regular idle intervals the governor predicts ~50 us
    and picks C1E (skx: target 20 us <= 50 < 600 us), so later packets pay 10 us, not
    133 us; per-state residency sums to at most the idle time; contexts include poll."""
    m, nics, drv = nic_machine(ncpus=1, cstates="skx")
    cpu = m.cpus[0]
    assert isinstance(cpu, IdleCpu)
    t0 = m.now + 1_000_000
    for i in range(60):
        m.engine.at(t0 + i * 50 * US, lambda _: nics[0].rx(0))
    m.run()
    assert 1 <= cpu.cstate_entries["C6"] <= 10 and cpu.cstate_entries["C1E"] >= 25
    assert m.recorder is not None
    lat = m.recorder.summary()["nic0"]
    assert lat["max"] >= 133 * US and lat["median"] < 12 * US
    times = cpu.cpu_time()
    assert set(times) == set(CONTEXTS) and times[POLL] == 0
    assert sum(cpu.cstate_residency().values()) <= times["idle"]
    assert m.cstate_residency()[0] == cpu.cstate_residency()
    # packets arriving during a 133 us wake-up merge in IRR: handled + merged = sent
    assert balanced(m) and len(drv.calls) + m.ctx.ledger.merged == 60
    assert m.ctx.ledger.merged >= 1


def test_custom_table_and_refusals() -> None:
    """Per-profile override: a machine takes its own table (here one C6-like state of
    50 us exit); unknown table names are refused; C-states model the default Cpu only."""
    import pytest

    from irqsim.cpu.cpu import Cpu
    from irqsim.cpu.idle import POLL_STATE, CState
    from irqsim.machine import Machine

    table = (POLL_STATE, CState("C6x", 50 * US, 100 * US))
    base = _first_latency()
    assert _first_latency(cstates=table) == base + 50 * US
    with pytest.raises(ValueError):
        Machine(cstates="c99")

    class Other(Cpu):
        __slots__ = ()
    with pytest.raises(ValueError):
        Machine(cstates="skx", cpu_class=Other)
