"""Kernel IPI uses end to end (seed 003 "Common Kernel IPI Uses", "IPI Latency"): reschedule,
call-function single/many, TLB shootdown waiting for every acknowledgement; accounting
balanced; the ipi and timer scenarios."""

from __future__ import annotations

import pytest

from irqsim.cpu.topology import Topology
from irqsim.machine import Machine
from irqsim.os.vectors import (
    CALL_FUNCTION_SINGLE_VECTOR,
    CALL_FUNCTION_VECTOR,
    RESCHEDULE_VECTOR,
    SYSTEM_VECTORS,
)
from irqsim.scenarios import ScenarioOptions, load_all

TWO_SOCKETS = Topology(sockets=2, cores=2, threads=2)


def booted(x2apic: bool | None = None, topology: Topology = TWO_SOCKETS,
           **kw: object) -> Machine:
    m = Machine(topology=topology, x2apic=x2apic, latency=False, **kw)  # type: ignore[arg-type]
    m.boot()
    return m


def row(m: Machine, name: str) -> list[int]:
    return list(m.kernel.system_counters[name][0])


def test_linux_system_vector_numbers() -> None:
    """RESCHEDULE 0xFD, CALL_FUNCTION 0xFC, CALL_FUNCTION_SINGLE 0xFB (Linux irq_vectors.h,
    seed 003 vector list)."""
    assert SYSTEM_VECTORS[RESCHEDULE_VECTOR] == "RESCHEDULE_VECTOR"
    assert SYSTEM_VECTORS[CALL_FUNCTION_VECTOR] == "CALL_FUNCTION_VECTOR"
    assert SYSTEM_VECTORS[CALL_FUNCTION_SINGLE_VECTOR] == "CALL_FUNCTION_SINGLE_VECTOR"


@pytest.mark.parametrize("x2apic", [False, True])
def test_reschedule(x2apic: bool) -> None:
    """smp_send_reschedule: one RES on the target, EOI'd, balanced (seed 003)."""
    m = booted(x2apic)
    m.kernel.smp.send_reschedule(0, 5)
    m.run()
    assert row(m, "RES") == [0, 0, 0, 0, 0, 1, 0, 0]
    assert all(a.isr == 0 for a in m.lapics) and m.accounting()["balanced"]


@pytest.mark.parametrize("x2apic", [False, True])
def test_call_function_single_runs_on_target(x2apic: bool) -> None:
    """smp_call_function_single: func runs on the target CPU; the caller's request completes
    at the target's acknowledgement; CAL counted."""
    m = booted(x2apic)
    k = m.kernel
    ran = []
    req = k.smp.call_function_single(1, 6, func=lambda c: ran.append((c, k.current_cpu.index)))
    m.run()
    assert ran == [(6, 6)] and req.done and req.t_done == req.acks[6]
    assert row(m, "CAL")[6] == 1 and m.accounting()["balanced"]


def test_latency_grows_with_distance() -> None:
    """Same core < same socket < cross socket (seed 003 IPI latency by topology)."""
    m = booted(True)
    smp = m.kernel.smp
    lat = {}
    for dst in (1, 2, 4):             # SMT sibling, same socket, other socket
        r = smp.call_function_single(0, dst)
        m.run()
        lat[dst] = r.latency
    assert lat[1] < lat[2] < lat[4]
    assert 500 <= lat[1] <= 1000 and 1000 <= lat[2] <= 2000 and 3000 <= lat[4] <= 6000


def test_call_function_many() -> None:
    """smp_call_function_many: every target but the caller runs func once."""
    m = booted(True)
    seen = []
    req = m.kernel.smp.call_function_many(2, [0, 2, 3, 7], func=seen.append)
    m.run()
    assert sorted(seen) == [0, 3, 7] and sorted(req.acks) == [0, 3, 7]
    assert row(m, "CAL") == [1, 0, 0, 1, 0, 0, 0, 1] and m.accounting()["balanced"]


@pytest.mark.parametrize("x2apic", [False, True])
@pytest.mark.parametrize("shorthand", [False, True])
def test_tlb_shootdown_waits_for_every_ack(x2apic: bool, shorthand: bool) -> None:
    """TLB shootdown: IPI every other CPU, flush locally, complete only after the last
    acknowledgement; TLB and CAL on each target; sender busy while it waits (seed 003
    flow steps 1-5)."""
    m = booted(x2apic)
    k = m.kernel
    k.smp.shorthand = shorthand
    busy0 = m.cpus[0].busy_ns
    t0 = m.now
    req = k.smp.flush_tlb_others(0)     # software called from the top returns when done
    assert req.done and req.t_done > t0
    m.run()
    assert req.done and sorted(req.acks) == list(range(1, 8))
    assert req.t_done == max(req.acks.values())
    assert req.icr_writes == (1 if shorthand else 7)
    assert row(m, "TLB") == [0] + [1] * 7 and row(m, "CAL") == [0] + [1] * 7
    assert m.cpus[0].busy_ns - busy0 >= req.latency
    assert m.accounting()["balanced"]


def test_x2apic_cluster_mode_one_icr_write_per_cluster() -> None:
    """x2apic_cluster: one logical ICR write per cluster of 16 IDs."""
    m = booted(True, topology=Topology(sockets=2, cores=16, threads=1))
    k = m.kernel
    k.smp.shorthand = False
    k.smp.dest_mode = "cluster"
    req = k.smp.flush_tlb_others(0)
    m.run()
    assert req.icr_writes == 2 and len(req.acks) == 31 and m.accounting()["balanced"]


def test_shootdown_cost_grows_with_cpu_count() -> None:
    """Per-CPU physical IPIs: the sender's ICR loop and the completion grow with the CPU
    count (seed 003 "IPI Scalability Concerns")."""
    lat = []
    for n in (2, 16, 64):
        m = booted(True, topology=Topology(sockets=2, cores=n // 2, threads=1))
        m.kernel.smp.shorthand = False
        req = m.kernel.smp.flush_tlb_others(0)
        m.run()
        lat.append((req.sender_ns, req.latency))
    assert lat[0][0] < lat[1][0] < lat[2][0] and lat[0][1] < lat[2][1]


def test_1024_cpus() -> None:
    """A 1024-CPU, 8-socket machine builds, boots in x2APIC mode (IDs above 255) and completes
    a shootdown with 1023 acknowledgements."""
    m = Machine(topology=Topology(sockets=8, cores=64, threads=2), latency=False)
    m.boot()
    assert m.kernel.x2apic_mode and m.kernel.apic_ids[-1] == 1023
    req = m.kernel.smp.flush_tlb_others(0)
    m.run()
    assert len(req.acks) == 1023 and m.accounting()["balanced"]


def test_nmi_ipi_to_all_others() -> None:
    """An NMI broadcast (panic stop, backtrace) reaches every other CPU's NMI row."""
    m = booted(True)
    m.kernel.smp.send_nmi(0, list(range(1, 8)))
    m.run()
    assert row(m, "NMI") == [0] + [1] * 7 and m.accounting()["balanced"]


@pytest.mark.parametrize("name", ["ipi", "timer"])
def test_scenarios(name: str) -> None:
    """The ipi and timer scenarios run, balance, and show the system rows."""
    scenarios = load_all()
    res = scenarios[name][1](ScenarioOptions(requests=60, trace=True))
    m = res.machine
    assert m.accounting()["balanced"] and not m.ctx.diagnostics
    rows = m.kernel.system_counters
    for r in ("NMI", "LOC", "RES", "CAL", "TLB"):
        assert r in rows
    if name == "ipi":
        assert sum(rows["TLB"][0]) > 0 and sum(rows["RES"][0]) > 0
        assert sum(rows["NMI"][0]) == len(m.cpus) - 1
    else:
        assert all(t >= 5 for t in rows["LOC"][0])
