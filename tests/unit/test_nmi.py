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
    m.ctx.ledger.raise_("test", 3)
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
    m.ctx.ledger.raise_("test")
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
    led.raise_("test")
    led.launch()
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
    m.ctx.ledger.raise_("test")
    m.run()
    kinds = [e.kind for e in m.ctx.tracer if e.src == "CPU1" or e.dst == "CPU1"]
    assert "preempted" in kinds
    irets = [e.fields["vector"] for e in m.ctx.tracer.of_kind("iret") if e.src == "CPU1"]
    assert irets == [2, 0xFB] and m.accounting()["balanced"]


def _fixed_and_nmi(gap: int) -> Machine:
    """A fixed MSI and an NMI-mode MSI for CPU1, the NMI ``gap`` ns after the fixed one;
    nmi_delivery equals lapic_delivery so a gap of 0 makes both pending at one boundary."""
    from irqsim.sim.timing import TimingModel

    t = TimingModel(nmi_delivery=TimingModel().lapic_delivery)
    m = booted(timing=t)
    led = m.ctx.ledger

    def send(data: int) -> None:
        led.raised += 1
        led.in_flight += 1
        m.apic_bus.deliver_msi(Tlp(TlpType.MWR, 0x0100, 0xFEE01000, data))
    v = 0x41
    m.kernel.vectors.reserve(1, v)
    t0 = m.now + 1000
    m.engine.at(t0, lambda _: send(v))
    m.engine.at(t0 + gap, lambda _: send(0x400))
    m.run()
    return m


def _cpu1(m: Machine, kind: str) -> list[int]:
    return [e.time for e in m.ctx.tracer.of_kind(kind) if "CPU1" in (e.src, e.dst)]


def test_nmi_and_intr_pending_at_one_boundary_nmi_first() -> None:
    """SDM 6.9 priority among simultaneous events: an NMI and a maskable interrupt pending at
    the same instruction boundary — the NMI is taken first; INTR is sampled again after the
    NMI handler's IRET, and the fixed handler is never preempted by that NMI."""
    m = _fixed_and_nmi(0)
    nmi, inta = _cpu1(m, "nmi"), _cpu1(m, "inta")
    assert len(nmi) == len(inta) == 1 and nmi[0] < inta[0]
    irets = [e.fields["vector"] for e in m.ctx.tracer.of_kind("iret") if e.src == "CPU1"]
    assert irets == [2, 0x41] and not _cpu1(m, "preempted")
    assert m.accounting()["balanced"]


def test_nmi_during_interrupt_dispatch_is_taken_after_its_first_instruction() -> None:
    """An NMI arriving while a maskable interrupt is being dispatched (after its boundary)
    is recognised at the next boundary, the handler's first instruction (SDM 6.9): it
    preempts the handler, which resumes after the NMI's IRET (LIFO)."""
    m = _fixed_and_nmi(20)
    t = m.ctx.timing
    inta, nmi = _cpu1(m, "inta"), _cpu1(m, "nmi")
    assert nmi[0] == inta[0] + t.cpu_acceptance + t.context_save + t.handler_dispatch
    irets = [e.fields["vector"] for e in m.ctx.tracer.of_kind("iret") if e.src == "CPU1"]
    assert irets == [2, 0x41] and _cpu1(m, "preempted")
    assert m.accounting()["balanced"]


def test_nmi_just_before_intr_runs_first_and_holds_it_until_iret() -> None:
    """An NMI arriving before the maskable interrupt: its handler runs with IF=0, so the
    fixed interrupt is accepted only after the NMI's IRET (SDM 6.7.1, 6.8.1)."""
    m = _fixed_and_nmi(-20)
    nmi, inta = _cpu1(m, "nmi"), _cpu1(m, "inta")
    iret_nmi = next(e.time for e in m.ctx.tracer.of_kind("iret")
                    if e.src == "CPU1" and e.fields["vector"] == 2)
    assert nmi[0] < iret_nmi and inta[0] == iret_nmi + m.ctx.timing.lapic_delivery
    assert m.accounting()["balanced"]
