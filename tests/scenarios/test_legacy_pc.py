"""The legacy platform end to end: the 8259 pair behind LINT0 and I/O APIC pin 0 (ExtINT),
the OS's hand-over and noapic, XT-PIC rows, spurious IRQ 7, conventional PCI pins, and the
legacy-pc scenario's books (issue 16; docs/legacy-pc.md)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from irqsim.devices.isa import I8042_DATA, IsaIrqDevice
from irqsim.machine import Machine
from irqsim.os.i8253 import pit_count_for
from irqsim.os.irq import IRQ_HANDLED, IrqReturn
from irqsim.scenarios import ScenarioOptions, load_all
from irqsim.scenarios.legacy import LegacyPcKnobs, PitTicks
from irqsim.views.procfs import proc_interrupts

StartPit = Callable[[int, int], None]


def legacy_machine(**kw: Any) -> tuple[Machine, StartPit, IsaIrqDevice, list[tuple[int, int]]]:
    """Two CPUs, the 8259, the PIT and an i8042; booted with ``kw``; the handlers record
    (vector, LAPIC ISR) as they run; ``start_pit(period_ns, n)`` has the OS program the PIT
    periodic and stop it at the n-th timer interrupt."""
    m = Machine(ncpus=2, pic=True, ledger_debug=True, **kw)
    kbd = m.add_isa(IsaIrqDevice(m.ctx, "i8042", 1, I8042_DATA))
    m.boot()
    k = m.kernel
    seen: list[tuple[int, int]] = []
    ticker = PitTicks(k, 0)

    def timer(irq: int, _dev: Any) -> IrqReturn:
        seen.append((irq, m.lapics[0].isr))
        ticker.tick()
        return IRQ_HANDLED

    def start_pit(period_ns: int, n: int) -> None:
        ticker.ticks = n
        ticker.start(pit_count_for(period_ns))

    def kb(irq: int, _dev: Any) -> IrqReturn:
        seen.append((irq, m.lapics[0].isr))
        k.current_cpu.inl(I8042_DATA, 1)
        return IRQ_HANDLED

    def setup() -> None:
        k.request_irq(0, timer, 0, "timer")
        k.request_irq(1, kb, 0, "i8042")
    k.run_on(m.cpus[0], setup)
    return m, start_pit, kbd, seen


def rows_text(m: Machine) -> str:
    k = m.kernel
    return proc_interrupts(k.interrupt_rows(), len(m.cpus),
                           [(n, c, t) for n, (c, t) in k.system_counters.items()])


def test_extint_through_lint0_noapic() -> None:
    """MP spec 3.6.2.2 virtual wire via LINT0 / SDM 10.5.1 ExtINT: with ``noapic`` the
    BSP's LINT0 is ExtINT; the 8259's vector (0x30 + IRQ) comes from its INTA, the LAPIC's
    IRR/ISR are not used and no LAPIC EOI is written; the INTA cycles cost pic_inta."""
    m, start_pit, kbd, seen = legacy_machine(noapic=True)
    assert m.kernel.apic_read(m.cpus[0], 0x350) & 0x1_0700 == 0x700
    eois: list[int] = []
    m.ctx.points.eoi.subscribe(lambda apic, v, t: eois.append(v))
    start_pit(50_000, 5)
    m.engine.at(m.now + 20_000, lambda _: kbd.event(0x1C))
    m.run()
    assert [irq for irq, _ in seen].count(0) == 5 and [irq for irq, _ in seen].count(1) == 1
    assert all(isr == 0 for _, isr in seen) and eois == []
    acc = m.accounting()
    assert acc["balanced"] and acc["delivered"] == 6
    stages = m.recorder.summary()["pit"]["stages"]
    assert stages["CPU entry"] >= m.ctx.timing.pic_inta
    assert m.pic is not None and m.pic.isr() == 0     # the XT-PIC flow EOId every one


def test_extint_through_ioapic_pin0() -> None:
    """Virtual wire through the I/O APIC: RTE 0 in ExtINT mode (Linux check_timer's
    fallback); the 8259's INT on pin 0 becomes an ExtINT message, the core asks the 8259
    for the vector; the message joins the 8259's pending request (merged); IRQ 1 is on
    the IO-APIC as usual."""
    m, start_pit, kbd, seen = legacy_machine(timer_8259="ioapic-pin0")
    assert m.ioapic.rte[0] & 0x1_0700 == 0x700
    start_pit(50_000, 4)
    m.engine.at(m.now + 20_000, lambda _: kbd.event(0x1C))
    m.run()
    assert [irq for irq, _ in seen].count(0) == 4
    timer_isr = [isr for irq, isr in seen if irq == 0]
    kb_isr = [isr for irq, isr in seen if irq == 1]
    assert timer_isr == [0] * 4 and kb_isr and kb_isr[0] != 0   # IO-APIC: LAPIC ISR set
    acc = m.accounting()
    assert acc["balanced"] and acc["merged"] >= 4
    text = rows_text(m)
    assert re.search(r"^\s+0:\s+4\s+0\s+XT-PIC\s+timer$", text, re.M)
    assert re.search(r"^\s+1:\s+1\s+0\s+IO-APIC\s+1-edge\s+i8042$", text, re.M)


def test_apic_mode_hand_over_masks_the_8259() -> None:
    """Linux setup_IO_APIC: legacy IRQs 0-15 move to the IO-APIC (IRQ 0 on GSI 2 per the
    MADT source override), the 8259 stays initialised with every line masked."""
    m, start_pit, _kbd, seen = legacy_machine()
    assert m.pic is not None
    assert m.pic.master.base == 0x30 and m.pic.slave.base == 0x38
    assert m.pic.imr() == 0xFFFF
    start_pit(50_000, 3)
    m.run()
    assert [irq for irq, _ in seen] == [0, 0, 0]
    assert re.search(r"^\s+0:\s+3\s+0\s+IO-APIC\s+2-edge\s+timer$", rows_text(m), re.M)
    acc = m.accounting()
    assert acc["balanced"] and acc["pending"]["pic"] == 1    # IRQ 0 latched, masked


def test_noapic_proc_interrupts_rows() -> None:
    """/proc/interrupts under noapic (Linux show_interrupts): XT-PIC rows (chip name, no
    hwirq, the action) for the legacy IRQs and the cascade, PCI-MSIX rows for MSI-X."""
    _, fn = load_all()["legacy-pc"]
    res = fn(ScenarioOptions(requests=12, mean_gap_ns=20_000, seed=2, trace=False,
                             knobs=LegacyPcKnobs(noapic=True)))
    text = rows_text(res.machine)
    for irq, name in ((0, "timer"), (1, "i8042"), (2, "cascade"), (8, "rtc0"),
                      (11, r"legacy:00:05\.0")):
        assert re.search(rf"^\s+{irq}:(\s+\d+){{2}}\s+XT-PIC\s+{name}$", text, re.M), text
    assert "IO-APIC" not in text and "PCI-MSIX" in text
    assert res.machine.accounting()["balanced"]


def test_spurious_irq7_counted_in_err() -> None:
    """8259A: a level request that goes away after the CPU sampled INTR is answered with
    IR7 without ISR; Linux's mask_and_ack_8259A reads the ISR (i8259A_irq_real), counts it
    in irq_err_count (the ERR row) and leaves IRQ 7 masked."""
    m, _start, _kbd, seen = legacy_machine(noapic=True)
    cpu = m.cpus[0]
    cpu.outl(0x4D0, 1 << 5, 1)                          # IRQ 5 level in the ELCR
    cpu.outl(0x21, m.pic.master.imr & ~(1 << 5), 1)     # and unmasked
    t = m.now + 1000
    m.engine.at(t, lambda _: m.pic.set_irq(5, 1, "glitch"))
    m.engine.at(t + 10, lambda _: m.pic.set_irq(5, 0, "glitch"))
    m.run()
    k = m.kernel
    assert k.pic8259 is not None and k.pic8259.spurious_irqs == 1
    assert k.system_counters["ERR"][0][0] == 1
    assert k.irqs[7].counts == [0, 0] and seen == []
    assert m.pic.isr() == 0 and m.accounting()["balanced"]


@pytest.mark.parametrize("knobs", [LegacyPcKnobs(), LegacyPcKnobs(noapic=True),
                                   LegacyPcKnobs(timer="lint0"), LegacyPcKnobs(timer="")])
def test_legacy_pc_scenario_books_and_pins(knobs: LegacyPcKnobs) -> None:
    """legacy-pc: the books balance in every OS mode; the conventional function signals
    on its INTx# pin (no Assert_INTx message on any link) through the second I/O APIC in
    APIC mode, or the 8259 under noapic."""
    _, fn = load_all()["legacy-pc"]
    res = fn(ScenarioOptions(requests=16, mean_gap_ns=15_000, seed=4, trace=False,
                             knobs=knobs))
    m = res.machine
    assert m.accounting()["balanced"] and m.accounting()["in_flight"] == 0
    assert m.rc.intx_messages == 0
    rows = {r["irq"]: r for r in m.kernel.interrupt_rows()}
    if knobs.noapic:
        assert sum(rows[11]["counts"]) > 0 and rows[11]["chip"] == "XT-PIC"
    else:
        assert sum(rows[28]["counts"]) > 0 and m.ioapics[1].messages > 0
        assert rows[0]["chip"] == ("XT-PIC" if knobs.timer else "IO-APIC")
    assert not m.ctx.diagnostics


@pytest.mark.parametrize("noapic", [False, True])
def test_conventional_pin_latency_is_the_sum_of_its_stages(noapic: bool) -> None:
    """Seed 003's legacy PCI path, stage by stage. APIC mode: device detect + INTx# pin
    (seed 003 "Assert INTx pin/message") + PIRQ router + I/O APIC processing + message to
    the LAPIC + LAPIC delivery + dispatch: no link, no root complex. noapic: the same pin
    to the 8259, LAPIC delivery (LINT0), the INTA cycles, dispatch, then Linux's
    mask_and_ack_8259A for a slave line (one read, three writes of 8259 ports) before the
    driver's handler."""
    from irqsim.scenarios.legacy import build_legacy_pc
    m, dev = build_legacy_pc(LegacyPcKnobs(noapic=noapic, timer=""))
    m.boot()
    m.engine.at(m.now + 1000, lambda _: dev["pci"].event(0))
    m.run()
    t = m.ctx.timing
    pin = t.device_event_detect + t.intx_message + t.pirq_route
    dispatch = t.cpu_acceptance + t.context_save + t.handler_dispatch
    want = (pin + t.lapic_delivery + t.pic_inta + dispatch + 4 * t.legacy_port_io if noapic
            else pin + t.ioapic_processing + t.ioapic_to_lapic + t.lapic_delivery + dispatch)
    s = m.recorder.summary()["pci-legacy"]
    assert s["count"] == 1 and s["min"] == want
    assert m.accounting()["balanced"]


def test_conventional_register_read_waits_for_the_33mhz_bus() -> None:
    """PCI Local Bus 3.0 3.5.1.1: a read of a conventional (33 MHz) function costs the bus
    cycles (``pci33_read``) on top of the PCIe-side read; a PCIe function's does not."""
    from irqsim.devices.legacy import IMS
    from irqsim.scenarios.legacy import build_legacy_pc
    m, _ = build_legacy_pc(LegacyPcKnobs(timer=""))
    m.boot()
    k = m.kernel
    t = m.ctx.timing
    conv = next(p for p in k.devices if p.slot.endswith("00:05.0"))
    net = next(p for p in k.devices if p.bus == 1)
    busy = k.run_on(m.cpus[1], lambda: k.readl(conv.bars[0].address + IMS.offset))
    assert busy == t.device_mmio_read + t.pci33_read
    net_bar = net.bars[min(net.bars)].address        # virtio-net, behind a root port
    busy = k.run_on(m.cpus[1], lambda: k.readl(net_bar))
    assert busy == t.device_mmio_read


def test_conventional_function_has_no_pci_express_capability() -> None:
    """PCIe 7.5.3: the PCI Express capability belongs to PCIe functions; a conventional PCI
    function on the 33 MHz bus has none (its capability list is the header's own), while the
    virtio-net function behind a root port carries one (ID 10h)."""
    from irqsim.scenarios.legacy import build_legacy_pc
    from irqsim.spec.pci import CAP_ID_EXP
    m, _ = build_legacy_pc(LegacyPcKnobs(timer=""))
    conv = next(f for f in m.devices if f.name == "pci-legacy")
    net = next(f for f in m.devices if f.name.startswith("virtio-net"))
    assert conv.config.find_capability(CAP_ID_EXP) is None
    assert net.config.find_capability(CAP_ID_EXP) is not None
