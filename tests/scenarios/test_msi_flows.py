"""MSI end to end: multiple messages (Data + k), per-vector Mask and Pending through config
space, the four layouts, fewer vectors than events (seed 004 "MSI Multiple Vectors", "MSI
Configuration Sequence"; semantics.md C.1). Accounting balances in every test."""

from __future__ import annotations

from typing import Any

import pytest

from intx_helpers import balanced, sw
from irqsim.devices.msi_device import MsiEventDevice
from irqsim.drivers.msi_device import MsiEventDriver
from irqsim.machine import Machine
from irqsim.scenarios.mechanisms import build_msi_multi


def booted(**kw: Any) -> tuple[Machine, MsiEventDevice, MsiEventDriver]:
    m, dev, drv = build_msi_multi(**kw)
    m.boot()
    return m, dev, drv


def at(m: Machine, dt: int, fn: Any) -> None:
    m.engine.at(m.now + dt, lambda _: fn())


def test_multiple_messages_reach_contiguous_vectors() -> None:
    """Seed 004 figure 7: with 4 messages the device sends Data+0..3; the vectors are the
    kernel's contiguous block, so event k runs vector k's handler."""
    m, dev, drv = booted()
    st = drv.devices[0]
    descs = [m.kernel.irqs[i] for i in st.irqs]
    base = dev.msi.data
    assert [d.vector for d in descs] == [base + k for k in range(4)]
    for k in range(4):
        at(m, 1000 + 2000 * k, lambda k=k: dev.event(k))
    m.run()
    assert st.handled == [1, 1, 1, 1]
    assert [d.counts[0] for d in descs] == [1, 1, 1, 1]
    t = m.ctx.timing
    s = m.recorder.summary()["msidev"]["stages"]
    assert s["device"] == t.device_event_detect + t.msi_capability_read + t.tlp_generation
    assert s["I/O APIC"] == 0 and s["handler chaining"] == 0
    assert balanced(m)


def test_masked_message_sets_pending_and_unmask_sends_it_once() -> None:
    """C.1: a masked message sets its Pending bit (further events merge), nothing is sent;
    clearing the Mask bit sends it once and clears Pending."""
    m, dev, drv = booted()
    k = m.kernel
    st = drv.devices[0]
    p = st.pdev
    sw(m, lambda: k.disable_irq(st.irqs[2]))
    for i in range(3):
        at(m, 1000 + 1000 * i, lambda: dev.event(2))
    m.run()
    pend = sw(m, lambda: k.cfg_read(p.bus, p.devfn, dev.msi.pend_off, 4))
    acc = m.accounting()
    assert pend == 1 << 2 and st.handled[2] == 0
    assert acc["pending"]["msi"] == 1 and acc["merged"] == 2 and acc["balanced"]
    sw(m, lambda: k.enable_irq(st.irqs[2]))
    m.run()
    assert st.handled[2] == 1 and dev.msi.pending_bits == 0
    assert balanced(m)


@pytest.mark.parametrize("addr64", [False, True])
@pytest.mark.parametrize("masking", [False, True])
def test_every_layout_delivers(addr64: bool, masking: bool) -> None:
    """C.1: all four layouts work end to end (the OS finds Data and Mask from the Message
    Control bits); without per-vector masking there is no Pending state."""
    m, dev, drv = booted(addr64=addr64, masking=masking)
    for k in range(4):
        at(m, 1000 + 2000 * k, lambda k=k: dev.event(k))
    m.run()
    assert drv.devices[0].handled == [1, 1, 1, 1]
    assert dev.msi.address >> 32 == 0 and dev.msi.pvm == masking
    assert balanced(m)


def test_fewer_vectors_than_events_share_the_last_one() -> None:
    """PCI 6.8.1.3 leaves the event-to-message mapping to the function: with 2 messages,
    events 1-3 use message 1, whose handler reads the cause register to tell them apart."""
    m = Machine(ncpus=1)
    dev = m.add_device(MsiEventDevice(m.ctx, events=4))
    drv = MsiEventDriver(events=4, max_vectors=2)
    m.kernel.register_driver(drv)
    m.boot()
    assert dev.msi.allocated == 2
    for k in range(4):
        at(m, 1000 + 3000 * k, lambda k=k: dev.event(k))
    m.run()
    st = drv.devices[0]
    assert st.handled == [1, 1, 1, 1]
    assert [m.kernel.irqs[i].counts[0] for i in st.irqs] == [1, 3]
    assert balanced(m)


def test_msi_without_bus_master_is_not_sent() -> None:
    """PCI 6.8: an MSI is a memory write; with Bus Master Enable clear it is not sent."""
    m, dev, drv = booted()
    k = m.kernel
    p = drv.devices[0].pdev
    sw(m, lambda: k.cfg_write(p.bus, p.devfn, 0x04, 2,
                              k.cfg_read(p.bus, p.devfn, 0x04, 2) & ~0x4))
    dev.event(0)
    m.run()
    assert m.ctx.ledger.dropped["bus master disabled"] == 1
    assert any(d.rule_id == "MSI-BUS-MASTER" for d in m.ctx.diagnostics)
    assert balanced(m)


def test_msi_device_falls_back_to_intx_when_msi_not_allowed() -> None:
    """pci_alloc_irq_vectors with PCI_IRQ_INTX only: the device uses its INTx pin, and the
    demultiplexing handler reads and clears the causes (deasserting the wire)."""
    from irqsim.os.kernel import PCI_IRQ_INTX
    m = Machine(ncpus=1)
    dev = m.add_device(MsiEventDevice(m.ctx, events=4))
    drv = MsiEventDriver(events=4, flags=PCI_IRQ_INTX)
    m.kernel.register_driver(drv)
    m.boot()
    assert drv.devices[0].pdev.irq_mode == "intx" and not dev.msi.enabled
    at(m, 1000, lambda: dev.event(1))
    at(m, 1100, lambda: dev.event(3))
    m.run()
    assert drv.devices[0].handled == [0, 1, 0, 1] and not dev.intx_asserted
    assert balanced(m)
