"""The kernel's pci_alloc_irq_vectors (Linux drivers/pci/msi/api.c): MSI-X, then MSI, then
INTx, flags and min/max; MSI blocks contiguous, power-of-two sized and aligned (seed 004
"MSI Multiple Vectors", seed 003 "Multiple MSI Vectors"); the _PRT lookup with swizzling."""

from __future__ import annotations

from typing import Any

import pytest

from intx_helpers import ProbeDriver, balanced
from irqsim.devices.legacy import LegacyIntxDevice
from irqsim.devices.msi_device import MsiEventDevice
from irqsim.devices.virtio import VirtioNet
from irqsim.machine import Machine, intx_gsi
from irqsim.os.kernel import PCI_IRQ_ALL_TYPES, PCI_IRQ_INTX, PCI_IRQ_MSI, PCI_IRQ_MSIX

VIRTIO_NET = (0x1AF4, 0x1041)
MSIDEV = (0x1B36, 0x00F1)
LEGACY = (0x1B36, 0x00F0)


def alloc(dev_factory: Any, ids: tuple[int, int], lo: int, hi: int, flags: int,
          before: Any = None) -> tuple[Machine, Any, list[Any]]:
    """Boot a machine with one device; its probe enables it and allocates vectors."""
    m = Machine(ncpus=1)
    dev = m.add_device(dev_factory(m))
    out: list[Any] = []

    def probe(k: Any, pdev: Any) -> None:
        k.pci_enable_device(pdev)
        if before is not None:
            before(k)
        try:
            out.append(k.pci_alloc_irq_vectors(pdev, lo, hi, flags))
        except OSError as e:
            out.append(e)
    m.kernel.register_driver(ProbeDriver((ids,), probe))
    m.boot()
    return m, dev, out


@pytest.mark.parametrize(("factory", "ids", "mode"), [
    (lambda m: VirtioNet(m.ctx, msi_vectors=2), VIRTIO_NET, "msix"),
    (lambda m: MsiEventDevice(m.ctx), MSIDEV, "msi"),
    (lambda m: LegacyIntxDevice(m.ctx), LEGACY, "intx"),
])
def test_fallback_order_msix_msi_intx(factory: Any, ids: tuple[int, int], mode: str) -> None:
    """Linux pci_alloc_irq_vectors: MSI-X when present, else MSI, else INTx."""
    m, _, out = alloc(factory, ids, 1, 2, PCI_IRQ_ALL_TYPES)
    pdev = m.kernel.devices[-1]
    assert pdev.irq_mode == mode and out[0] == (1 if mode == "intx" else 2)


@pytest.mark.parametrize(("flags", "mode"), [
    (PCI_IRQ_MSIX | PCI_IRQ_MSI | PCI_IRQ_INTX, "msix"), (PCI_IRQ_MSI | PCI_IRQ_INTX, "msi"),
    (PCI_IRQ_INTX, "intx")])
def test_flags_restrict_the_mechanisms(flags: int, mode: str) -> None:
    """PCI_IRQ_* flags: only the allowed mechanisms are tried, in order."""
    m, dev, out = alloc(lambda m: VirtioNet(m.ctx, msi_vectors=2), VIRTIO_NET, 1, 1, flags)
    assert m.kernel.devices[-1].irq_mode == mode and out == [1]
    assert dev.intx_allowed == (mode == "intx")


def test_min_max_and_no_mechanism() -> None:
    """min_vecs/max_vecs: MSI gives at most 2^MMC; INTx needs min_vecs == 1; nothing that
    fits raises OSError (like -ENOSPC) naming why."""
    _, _, out = alloc(lambda m: MsiEventDevice(m.ctx), MSIDEV, 1, 8, PCI_IRQ_ALL_TYPES)
    assert out == [4]
    _, _, out = alloc(lambda m: MsiEventDevice(m.ctx), MSIDEV, 8, 8, PCI_IRQ_ALL_TYPES)
    assert isinstance(out[0], OSError) and "MSI capable of 4 < 8" in str(out[0])
    _, _, out = alloc(lambda m: LegacyIntxDevice(m.ctx), LEGACY, 2, 2, PCI_IRQ_ALL_TYPES)
    assert isinstance(out[0], OSError) and "INTx provides 1 vector" in str(out[0])
    _, _, out = alloc(lambda m: LegacyIntxDevice(m.ctx), LEGACY, 1, 1, PCI_IRQ_MSIX)
    assert isinstance(out[0], OSError) and "no MSI-X capability" in str(out[0])
    _, _, out = alloc(lambda m: LegacyIntxDevice(m.ctx), LEGACY, 0, 1, PCI_IRQ_INTX)
    assert isinstance(out[0], OSError) and "invalid range" in str(out[0])


def test_msix_too_small_falls_back_to_msi() -> None:
    """A table smaller than min_vecs is skipped; MSI is tried next."""
    m, _, out = alloc(lambda m: VirtioNet(m.ctx, msix_vectors=1, msi_vectors=2), VIRTIO_NET,
                      2, 2, PCI_IRQ_ALL_TYPES)
    assert out == [2] and m.kernel.devices[-1].irq_mode == "msi"


def test_msi_block_is_contiguous_aligned_and_on_one_cpu() -> None:
    """Seed 003: MSI vectors are a contiguous power-of-two block, aligned, one destination.
    With 0x20 taken, a block of 4 starts at 0x24."""
    m, dev, _out = alloc(lambda m: MsiEventDevice(m.ctx), MSIDEV, 4, 4, PCI_IRQ_MSI,
                        before=lambda k: k.vectors.reserve(0, 0x20))
    k = m.kernel
    descs = [k.irqs[i] for i in k.devices[-1].irqs]
    assert [d.vector for d in descs] == [0x24, 0x25, 0x26, 0x27]
    assert {d.cpu for d in descs} == {0}
    assert dev.msi.allocated == 4 and dev.msi.data & 0xFF == 0x24
    assert dev.config_read(0x04, 2) & 1 << 10                 # INTx disabled (seed 004 step 7)


def test_non_power_of_two_request_rounds_the_block_up() -> None:
    """Linux msi_capability_init: 3 vectors get Multiple Message Enable for 4 and an aligned
    block of 4; only 3 IRQs exist (diagnostic names the rule)."""
    m, dev, out = alloc(lambda m: MsiEventDevice(m.ctx), MSIDEV, 3, 3, PCI_IRQ_MSI)
    k = m.kernel
    assert out == [3] and len(k.devices[-1].irqs) == 3 and dev.msi.allocated == 4
    assert k.vectors.used[0] >> 0x23 & 1                      # the 4th vector is reserved
    assert any(d.rule_id == "OS-MSI-BLOCK-ROUNDED" for d in m.ctx.diagnostics)


def test_intx_routing_follows_the_prt_through_swizzles() -> None:
    """ACPI _PRT + pci_swizzle_interrupt_pin: a device behind switch port 2 with pin B
    reaches the root port on pin D; its IRQ is that wire's GSI, also written to Interrupt
    Line."""
    m = Machine(ncpus=1)
    sw = m.add_switch(3)
    dev = m.add_device(LegacyIntxDevice(m.ctx, pin=2), sw[2])
    m.kernel.register_driver(ProbeDriver((LEGACY,), lambda k, p: (
        k.pci_enable_device(p), k.pci_alloc_irq_vectors(p, 1, 1, PCI_IRQ_INTX))))
    m.boot()
    pdev = m.kernel.devices[-1]
    assert pdev.irq == intx_gsi(1, 4) == m.rc.intx_routes[(0, 1, 4)]
    assert dev.config_read(0x3C, 1) == pdev.irq
    desc = m.kernel.irqs[pdev.irq]
    assert desc.chip == "IO-APIC" and desc.trigger == "fasteoi"
    rte = m.ioapic.rte_fields(pdev.irq)
    assert rte["vector"] == desc.vector and rte["trigger_mode"] == 1 and rte["polarity"] == 1
    assert rte["mask"] == 1                               # unmasked only by request_irq
    assert balanced(m)
