"""INTx end to end: device -> switch -> root port -> I/O APIC -> LAPIC -> shared handlers
-> EOI, with swizzling, collapsing, level/edge, Remote IRR and masking (seed 004 INTx
sections; seed 003 "Legacy INTx Path"; semantics.md B.3). Accounting balances in every test
and every latency expectation is derived from the TimingModel."""

from __future__ import annotations

from typing import Any

import pytest

from intx_helpers import ProbeDriver, balanced, rte_read, sw
from irqsim.apic.ioapic import MASKED, REMOTE_IRR
from irqsim.devices.legacy import ICR, LegacyIntxDevice
from irqsim.devices.virtio import VirtioBlk, VirtioNet
from irqsim.drivers.legacy import LegacyIntxDriver
from irqsim.drivers.virtio import VirtioPciDriver
from irqsim.fabric.tlp import FRAMING_BYTES
from irqsim.machine import Machine
from irqsim.os.irq import IRQ_NONE
from irqsim.os.kernel import PCI_IRQ_INTX
from irqsim.platform.acpi import INTI_TRIGGER_EDGE, MadtIntSrcOverride
from irqsim.scenarios.mechanisms import pin_for
from irqsim.sim.timing import TimingModel

LEGACY = (0x1B36, 0x00F0)


def shared(n: int, ncpus: int = 1, boot: bool = True, **kw: Any,
           ) -> tuple[Machine, list[LegacyIntxDevice], LegacyIntxDriver]:
    """``n`` legacy devices behind one switch, pins chosen so all swizzle to INTA."""
    m = Machine(ncpus=ncpus, **kw)
    s = m.add_switch(max(n, 1))
    devs = [m.add_device(LegacyIntxDevice(m.ctx, f"leg{i}", pin=pin_for(i)), s[i])
            for i in range(n)]
    drv = LegacyIntxDriver()
    m.kernel.register_driver(drv)
    if boot:
        m.boot()
    return m, devs, drv  # type: ignore[return-value]


def at(m: Machine, dt: int, fn: Any) -> None:
    m.engine.at(m.now + dt, lambda _: fn())


def intx_path(t: TimingModel, hops: int) -> dict[str, int]:
    """Stage durations of an undisturbed INTx delivery, from the timing model."""
    ser = ((16 + FRAMING_BYTES) * t.pcie_ns_per_64_bytes + 63) >> 6     # 4-DW Message
    return {"device": t.device_event_detect + t.intx_message,
            "fabric": hops * (t.pcie_hop + ser),
            "root complex+IOMMU+msg": t.root_complex + t.rc_to_ioapic + t.ioapic_to_lapic
            + t.iommu_passthrough,
            "I/O APIC": t.ioapic_processing, "LAPIC wait": t.lapic_delivery,
            "CPU entry": t.cpu_acceptance + t.context_save + t.handler_dispatch}


def test_level_intx_end_to_end_stages() -> None:
    """Seed 003 Legacy INTx Path: Assert message, two link hops (device -> switch -> root),
    root complex to I/O APIC, RTE processing, message to the LAPIC, CPU entry; the handler
    reads ICR (read-to-clear: Deassert), EOI clears Remote IRR."""
    m, devs, drv = shared(1)
    gsi = m.kernel.devices[-1].irq
    at(m, 1000, lambda: devs[0].event(0))
    m.run()
    assert drv.devices[0].handled == 1
    s = m.recorder.summary()["leg0"]
    want = intx_path(m.ctx.timing, hops=2)
    assert {k: s["stages"][k] for k in want} == want
    assert s["stages"]["handler chaining"] == 0 and s["median"] == sum(want.values())
    assert not rte_read(m, gsi) & REMOTE_IRR and not devs[0].intx_asserted
    assert balanced(m)


@pytest.mark.parametrize("position", [0, 1, 2])
def test_shared_line_chaining(position: int) -> None:
    """Seed 003 "Handler Polls All Shared Devices": handlers run in registration order until
    one claims the interrupt; each one before it costs handler_base plus its ICR read."""
    m, devs, drv = shared(3)
    at(m, 1000, lambda: devs[position].event(0))
    m.run()
    t = m.ctx.timing
    s = m.recorder.summary()[f"leg{position}"]
    assert s["stages"]["handler chaining"] == position * (t.handler_base + t.device_mmio_read)
    assert [st.none for st in drv.devices] == [1] * position + [0] * (3 - position)
    assert [st.handled for st in drv.devices][position] == 1
    assert balanced(m)


def test_linux_chain_runs_every_handler() -> None:
    """Linux __handle_irq_event_percpu (Kernel.irq_chain = "all") calls every action."""
    m, devs, drv = shared(3, boot=False)
    m.kernel.irq_chain = "all"
    m.boot()
    at(m, 1000, lambda: devs[0].event(0))
    m.run()
    assert [st.handled for st in drv.devices] == [1, 0, 0]
    assert [st.none for st in drv.devices] == [0, 1, 1]
    assert balanced(m)


@pytest.mark.parametrize("sharers", [2, 3])
def test_collapsed_sharers_are_all_served(sharers: int) -> None:
    """Seed 004 collapsing + B.3: simultaneous assertions collapse into one wire; the line
    stays asserted while any sharer is pending, so the EOI re-delivers until all are
    served."""
    m, devs, drv = shared(sharers)
    for d in devs:
        at(m, 1000, lambda d=d: d.event(0))
    m.run()
    up = m.switches[0].upstream
    assert up.intx_collapsed == sharers - 1
    assert [st.handled for st in drv.devices] == [1] * sharers
    assert m.ioapic.messages == sharers          # one delivery, then re-deliveries at EOI
    assert len(m.recorder.summary()) == sharers
    assert balanced(m)


@pytest.mark.parametrize("device", range(4))
@pytest.mark.parametrize("pin", range(1, 5))
def test_swizzle_end_to_end(device: int, pin: int) -> None:
    """Seed 004 swizzle formula at the switch, the _PRT at the root port: the OS computes
    the GSI the hardware routes to, and the interrupt reaches the driver."""
    m = Machine(ncpus=1)
    s = m.add_switch(4)
    dev = m.add_device(LegacyIntxDevice(m.ctx, pin=pin), s[device])
    drv = LegacyIntxDriver()
    m.kernel.register_driver(drv)
    m.boot()
    mapped = (pin - 1 + device) % 4 + 1
    gsi = m.rc.intx_routes[(0, 1, mapped)]
    assert drv.devices[0].pdev.irq == gsi
    at(m, 1000, lambda: dev.event(0))
    m.run()
    assert drv.devices[0].handled == 1 and m.kernel.irqs[gsi].counts == [1]
    assert balanced(m)


def test_edge_triggered_shared_line_loses_the_second_sharer() -> None:
    """Seed 003 "Edge vs Level": an edge pin sees one 0->1 transition while two sharers
    keep the wire asserted; the second interrupt is never delivered (why PCI uses level).
    The board's MADT declares the lines edge-triggered (an interrupt source override)."""
    m, devs, drv = shared(2, boot=False)
    m.acpi.madt.overrides += [MadtIntSrcOverride(gsi, gsi, INTI_TRIGGER_EDGE)
                              for gsi in set(m.acpi.prt.values())]
    m.boot()
    at(m, 1000, lambda: devs[0].event(0))
    at(m, 1100, lambda: devs[1].event(0))
    m.run()
    assert [st.handled for st in drv.devices] == [1, 0]
    assert devs[1].intx_status and m.ioapic.messages == 1
    assert m.kernel.irqs[m.kernel.devices[-1].irq].trigger == "edge"
    assert balanced(m)


def test_ioapic_mask_holds_a_level_line_until_unmasked() -> None:
    """B.3 via the kernel: disable_irq masks the RTE (read-modify-write through IOWIN); the
    asserted line is held pending, enable_irq delivers it."""
    m, devs, drv = shared(1)
    k = m.kernel
    irq = k.devices[-1].irq
    sw(m, lambda: k.disable_irq(irq))
    assert rte_read(m, irq) & MASKED
    devs[0].event(0)
    m.run()
    acc = m.accounting()
    assert drv.devices[0].handled == 0 and acc["pending"]["ioapic"] == 1 and acc["balanced"]
    sw(m, lambda: k.enable_irq(irq))
    m.run()
    assert drv.devices[0].handled == 1 and balanced(m)


def test_interrupt_disable_holds_the_condition_in_the_function() -> None:
    """Seed 004: with Command.Interrupt Disable set the device keeps Interrupt Status but
    sends no Assert; clearing the bit asserts the wire and the interrupt is delivered."""
    m, devs, drv = shared(1)
    k = m.kernel
    p = k.devices[-1]
    sw(m, lambda: k.cfg_write(p.bus, p.devfn, 0x04, 2,
                              k.cfg_read(p.bus, p.devfn, 0x04, 2) | 1 << 10))
    devs[0].event(0)
    m.run()
    status = sw(m, lambda: k.cfg_read(p.bus, p.devfn, 0x06, 2))
    acc = m.accounting()
    assert status & 0x08 and drv.devices[0].handled == 0
    assert acc["pending"]["intx"] == 1 and acc["balanced"]
    sw(m, lambda: k.cfg_write(p.bus, p.devfn, 0x04, 2,
                              k.cfg_read(p.bus, p.devfn, 0x04, 2) & ~(1 << 10)))
    m.run()
    assert drv.devices[0].handled == 1 and balanced(m)


def test_directed_eoi_uses_the_ioapic_eoi_register() -> None:
    """A.7 / B.1: with suppress-EOI-broadcast (LVR bit 24, SVR bit 12) the LAPIC does not
    broadcast; the OS writes the vector to the I/O APIC EOI register instead."""
    m, devs, drv = shared(1, boot=False)
    m.use_directed_eoi()
    m.boot()
    assert m.lapics[0].svr & 1 << 12
    broadcasts = []
    m.apic_bus.eoi_listeners.append(broadcasts.append)
    for i in range(3):
        at(m, 1000 + 5000 * i, lambda: devs[0].event(0))
    m.run()
    irq = m.kernel.devices[-1].irq
    assert drv.devices[0].handled == 3 and broadcasts == []
    assert m.ioapic.eois == 3 and not rte_read(m, irq) & REMOTE_IRR
    assert balanced(m)


def test_nobody_cared_disables_a_stuck_line() -> None:
    """Linux note_interrupt: a line that keeps firing while no handler claims it is
    reported ("nobody cared") and disabled (masked); the held level request stays pending."""
    m = Machine(ncpus=1)
    dev = m.add_device(LegacyIntxDevice(m.ctx))

    def probe(k: Any, p: Any) -> None:
        k.pci_enable_device(p)
        k.pci_alloc_irq_vectors(p, 1, 1, PCI_IRQ_INTX)
        k.pci_request_irq(p, 0, lambda irq, d: IRQ_NONE, "deaf")
        k.writel(p.bars[0].address + 0x10, 0xFF)          # IMS: the device may interrupt
    m.kernel.register_driver(ProbeDriver((LEGACY,), probe))
    m.kernel.spurious_window = 100
    m.kernel.spurious_threshold = 100
    m.boot()
    dev.event(0)
    m.run()
    k = m.kernel
    desc = k.irqs[k.devices[-1].irq]
    assert desc.disabled == "nobody cared" and desc.unhandled == 100
    assert any(d.rule_id == "OS-IRQ-NOBODY-CARED" for d in m.ctx.diagnostics)
    assert rte_read(m, desc.irq) & MASKED
    acc = m.accounting()
    assert acc["pending"]["ioapic"] == 1 and acc["balanced"]


def test_virtio_on_intx_reads_isr_to_deassert() -> None:
    """virtio 1.2 4.1.4.5: without MSI-X the device sets ISR bit 0 and asserts INTx; the
    driver's handler reads ISR (read-to-clear), which deasserts the line; every completion
    is processed in order."""
    m = Machine(ncpus=1)
    blk = m.add_device(VirtioBlk(m.ctx, msix_vectors=0))
    drv = VirtioPciDriver()
    m.kernel.register_driver(drv)
    m.boot()
    st = drv.devices[0]
    assert st.mode == "intx"
    for i in range(20):
        at(m, 1000 + 3000 * i, lambda: blk.complete(0))
    m.run()
    q = st.queues[0]
    assert q.processed == 20 and q.order_errors == 0 and not blk.intx_asserted
    assert balanced(m)


@pytest.mark.parametrize(("kw", "mode"), [({}, "msix"), ({"msix_vectors": 0,
                                                           "msi_vectors": 2}, "msi"),
                                          ({"msix_vectors": 0}, "intx")])
def test_virtio_driver_falls_back(kw: dict[str, int], mode: str) -> None:
    """vp_find_vqs-like fallback: MSI-X per queue, else MSI (irqsim extension), else INTx;
    both queues' completions are processed whatever the mechanism."""
    m = Machine(ncpus=2)
    net = m.add_device(VirtioNet(m.ctx, **kw))
    drv = VirtioPciDriver(vectors="per-queue")
    m.kernel.register_driver(drv)
    m.boot()
    st = drv.devices[0]
    assert st.mode == mode
    for i in range(10):
        at(m, 1000 + 4000 * i, lambda: net.complete(0))
        at(m, 3000 + 4000 * i, lambda: net.complete(1))
    m.run()
    assert [q.processed for q in st.queues] == [10, 10]
    assert balanced(m)


def test_icr_read_through_software_clears_the_condition() -> None:
    """Seed 003 e1000_intr: the ICR read by the handler clears the causes, and the device
    deasserts its wire."""
    m, devs, drv = shared(1)
    at(m, 1000, lambda: devs[0].event(3))
    m.run()
    st = drv.devices[0]
    assert st.causes == 1 and devs[0].icr == 0 and devs[0].reads_to_clear == 1
    assert sw(m, lambda: m.kernel.readl(st.regs + ICR.offset)) == 0
    assert balanced(m)


def test_root_complex_ors_wires_of_two_root_ports() -> None:
    """Seed 004: the root complex drives an interrupt-controller input from the cumulative
    state of the virtual wires routed to it: root port 1's INTB and root port 2's INTA both
    go to GSI 17; a second Assert on an asserted input is absorbed, both are served."""
    m = Machine(ncpus=1)
    a = m.add_device(LegacyIntxDevice(m.ctx, "a", pin=2))
    b = m.add_device(LegacyIntxDevice(m.ctx, "b", pin=1))
    drv = LegacyIntxDriver()
    m.kernel.register_driver(drv)
    m.boot()
    assert [st.pdev.irq for st in drv.devices] == [17, 17]
    at(m, 1000, lambda: a.event(0))
    at(m, 1000, lambda: b.event(0))
    m.run()
    assert [st.handled for st in drv.devices] == [1, 1]
    assert m.ioapic.messages == 2 and m.ctx.ledger.merged >= 1
    assert balanced(m)
