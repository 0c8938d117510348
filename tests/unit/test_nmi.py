"""NMI delivery, blocking and latching (SDM 6.7.1, 10.5.1; semantics.md A.11 "NMI semantics";
seed 003 "Non-Maskable Interrupts")."""

from __future__ import annotations

from apic_helpers import send_ipi
from irqsim.fabric.tlp import Tlp, TlpType
from irqsim.machine import Machine

NMI_IPI = 4 << 8 | 1 << 14


def booted(n: int = 2, **kw: object) -> Machine:
    m = Machine(ncpus=n, trace=True, latency=False, **kw)  # type: ignore[arg-type]
    m.boot()
    return m


def nmi_rows(m: Machine) -> list[int]:
    return list(m.kernel.system_counters["NMI"][0])


def test_nmi_ignores_if_and_tpr_and_needs_no_eoi() -> None:
    """NMI is taken with IF=0 and TPR=0xFF, through IDT vector 2, without touching ISR."""
    m = booted()
    target = m.cpus[1]
    target.cli()
    target.cr8 = 0xF
    send_ipi(m.cpus[0], NMI_IPI, m.kernel.apic_ids[1])
    m.run()
    assert target.nmi_count == 1 and nmi_rows(m) == [0, 1]
    assert m.lapics[1].isr == 0 and not target.if_flag and m.accounting()["balanced"]


def test_nmi_blocked_until_iret_one_latched_third_lost() -> None:
    """While the NMI handler runs, one more NMI is latched and taken after IRET; a third is
    dropped (SDM 6.7.1; kvm-unit-tests)."""
    m = booted()
    cpu = m.cpus[1]
    cpu.nmi()
    m.run(until=m.now + m.ctx.timing.nmi_delivery + 10)      # first handler running
    assert cpu.nmi_blocked and len(cpu.frames) == 1
    cpu.nmi()
    cpu.nmi()
    assert cpu.nmi_latched and m.accounting()["pending"]["nmi"] == 1
    m.ctx.ledger.raised += 3
    m.run()
    assert cpu.nmi_count == 2 and not cpu.nmi_blocked
    assert m.ctx.ledger.dropped["NMI while one is already latched"] == 1
    entries = [e.time for e in m.ctx.tracer.of_kind("nmi")]
    irets = [e.time for e in m.ctx.tracer.of_kind("iret") if e.fields["vector"] == 2]
    assert entries[1] > irets[0] and m.accounting()["balanced"]


def test_nmi_handler_cost_from_timing_model() -> None:
    """The NMI handler lasts nmi_handler ns (seed 003: handler ~1-10 us), then IRET."""
    m = booted()
    m.cpus[0].nmi()
    m.ctx.ledger.raised += 1
    m.run()
    t = m.ctx.timing
    entry = m.ctx.tracer.of_kind("handler-entry")[-1].time
    iret = m.ctx.tracer.of_kind("iret")[-1].time
    assert iret - entry == t.nmi_handler + t.context_restore


def test_lint1_nmi_on_the_bsp() -> None:
    """The OS programs LINT1 as NMI on the BSP (masked on APs): the board's NMI line reaches
    CPU0 only (SDM 10.5.1, Linux setup_local_APIC)."""
    m = booted()
    m.nmi_button(0)
    m.nmi_button(1)
    m.run()
    assert nmi_rows(m) == [1, 0] and m.accounting()["balanced"]


def test_device_msi_with_nmi_delivery_mode() -> None:
    """An MSI whose data selects delivery mode NMI (100b) reaches the CPU as an NMI
    (SDM 10.11.2)."""
    m = booted()
    led = m.ctx.ledger
    led.raised += 1
    led.in_flight += 1
    m.apic_bus.deliver_msi(Tlp(TlpType.MWR, 0x0100, 0xFEE01000, 0x400))
    m.run()
    assert nmi_rows(m) == [0, 1] and m.accounting()["balanced"]


def test_nmi_preempts_a_running_handler() -> None:
    """An NMI interrupts a maskable handler, which resumes after the NMI's IRET."""
    m = booted()
    k = m.kernel
    cpu = m.cpus[1]
    m.engine.at(m.now, lambda _: k.smp.call_function_single(
        0, 1, func=lambda c: k.cpus[c].spend(20_000)))
    m.run(until=m.now + 6_000)
    assert cpu.frames and cpu.frames[-1].vector == 0xFB
    cpu.nmi()
    m.ctx.ledger.raised += 1
    m.run()
    kinds = [e.kind for e in m.ctx.tracer if e.src == "CPU1" or e.dst == "CPU1"]
    assert "preempted" in kinds
    irets = [e.fields["vector"] for e in m.ctx.tracer.of_kind("iret") if e.src == "CPU1"]
    assert irets == [2, 0xFB] and m.accounting()["balanced"]
