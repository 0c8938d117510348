"""The PCI interrupt API (Linux drivers/pci/msi/api.c, drivers/pci/irq.c).

``pci_alloc_irq_vectors`` tries MSI-X, then MSI, then INTx (only when ``min_vecs`` is 1 and
the device has a routed line), each only if ``flags`` allows it; it allocates descriptors,
builds their domain stacks (PCI-MSIX/PCI-MSI/IO-APIC over ``IrqCore.msi_parent``) and
programs the capability. MSI blocks are contiguous, power-of-two sized and aligned (Linux
msi_capability_init). ``pci_free_irq_vectors`` undoes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from irqsim.os.intx import gsi_trigger
from irqsim.os.irq import IRQF_SHARED, Handler
from irqsim.os.irqdomain import AllocInfo
from irqsim.os.msi import PciMsiDomain, msi_vec_count
from irqsim.os.msix import PciMsixDomain, msix_table_size
from irqsim.sim.rules import rule
from irqsim.spec.modes import IrqMode

R_MSI_BLOCK_ROUNDED = rule(
    "OS-MSI-BLOCK-ROUNDED", "Linux msi_capability_init",
    "an MSI vector block is a power of two: a request is rounded up")

if TYPE_CHECKING:
    from irqsim.os.kernel import Kernel
    from irqsim.os.pci import PciDev

PCI_IRQ_INTX = 1 << 0
PCI_IRQ_MSI = 1 << 1
PCI_IRQ_MSIX = 1 << 2
PCI_IRQ_ALL_TYPES = PCI_IRQ_INTX | PCI_IRQ_MSI | PCI_IRQ_MSIX


def pci_alloc_irq_vectors(k: Kernel, pdev: PciDev, min_vecs: int, max_vecs: int,
                          flags: int = PCI_IRQ_ALL_TYPES,
                          cpus: list[int] | None = None,
                          masks: list[list[int]] | None = None,
                          managed: list[bool] | None = None) -> int:
    """Allocate between ``min_vecs`` and ``max_vecs`` vectors; returns the count.

    ``cpus``: MSI-X vector i is bound to ``cpus[i % len(cpus)]``, an MSI block and an INTx
    line to the best of ``cpus``. ``masks``/``managed``: MSI-X vector i gets affinity mask
    ``masks[i]``, managed if ``managed[i]`` (os/affinity.py pci_alloc_irq_vectors_affinity).
    Raises OSError (like -EINVAL / -ENOSPC) when nothing can provide ``min_vecs``.
    """
    if min_vecs < 1 or max_vecs < min_vecs:
        raise OSError(f"pci_alloc_irq_vectors: invalid range min={min_vecs} max={max_vecs}")
    if pdev.irq_mode != IrqMode.NONE:
        raise OSError(f"{pdev.slot}: interrupts already allocated ({pdev.irq_mode})")
    why: list[str] = []
    if flags & PCI_IRQ_MSIX:
        if pdev.msix_cap is None:
            why.append("no MSI-X capability")
        else:
            count = _msix(k, pdev, min_vecs, max_vecs, cpus, why, masks, managed)
            if count:
                return count
    if flags & PCI_IRQ_MSI:
        if pdev.msi_cap is None:
            why.append("no MSI capability")
        else:
            count = _msi(k, pdev, min_vecs, max_vecs, cpus, why)
            if count:
                return count
    if flags & PCI_IRQ_INTX:
        if min_vecs != 1:
            why.append(f"INTx provides 1 vector, {min_vecs} required")
        elif not pdev.irq:
            why.append("no INTx line (no pin or no _PRT route)")
        else:
            k.trace_sw("Driver", "OS", "Request legacy INTx")
            pci_intx_setup(k, pdev, cpus)
            return 1
    raise OSError(f"{pdev.slot}: no interrupt mechanism allowed by flags {flags:#x} "
                  f"can provide {min_vecs} vector(s): {'; '.join(why)}")


def _msix(k: Kernel, pdev: PciDev, min_vecs: int, max_vecs: int, cpus: list[int] | None,
          why: list[str], masks: list[list[int]] | None = None,
          managed: list[bool] | None = None) -> int:
    """msix_capability_init: one IRQ per table entry 0..count-1."""
    k.trace_sw("OS", "PCI Config Space", "Read MSI-X capability structure")
    n = msix_table_size(k, pdev)
    k.trace_sw("PCI Config Space", "OS", f"Capability details (table size {n})", reply=True)
    count = min(max_vecs, n)
    if count < min_vecs:
        why.append(f"MSI-X table size {n} < {min_vecs}")
        return 0
    k.trace_sw("Driver", "OS", f"Request {count} interrupt vector(s)")
    core = k.irq
    dom = PciMsixDomain(k, pdev, core.msi_parent)
    wanted = core.vector_domain.reachable(cpus, pdev.slot) if cpus else None
    affinity: list[list[int] | None] = [
        [wanted[i % len(wanted)]] if wanted else None for i in range(count)]
    if masks is not None:
        affinity = [list(m) for m in masks[:count]]
    descs = [core.alloc_desc(None, dom.name, i, pdev.slot, affinity=affinity[i])
             for i in range(count)]
    node = k.dev_to_node(pdev)
    for i, desc in enumerate(descs):
        desc.node = node
        desc.managed = bool(managed[i]) if managed is not None else False
    try:
        datas = core.domain_alloc(dom, descs, 0, AllocInfo([d.affinity for d in descs],
                                                          pdev=pdev, who=pdev.slot))
    except OSError as e:
        core.next_irq -= count
        why.append(f"MSI-X: {e}")
        return 0
    for desc in descs:
        k.trace_sw("OS", "OS", f"Allocate vector {desc.vector:#x} on CPU{desc.cpu} "
                               f"(IRQ {desc.irq})")
        pdev.irqs.append(desc.irq)
    k.trace_sw("OS", "Driver", "Return allocated vectors", reply=True)
    pdev.msi_domain = dom
    dom.setup(datas)
    for desc in descs:
        desc.masked = False
    return count


def _msi(k: Kernel, pdev: PciDev, min_vecs: int, max_vecs: int, cpus: list[int] | None,
         why: list[str]) -> int:
    """msi_capability_init: a power-of-two, aligned block on one CPU (one Message Address)."""
    k.trace_sw("OS", "PCI Config Space", "Read MSI capability")
    cap = msi_vec_count(k, pdev)
    count = min(max_vecs, cap)
    if count < min_vecs:
        why.append(f"MSI capable of {cap} < {min_vecs}")
        return 0
    block = 1 << (count - 1).bit_length()
    if block != count:
        k.ctx.diag("OS", R_MSI_BLOCK_ROUNDED,
                   f"{pdev.slot}: {count} MSI vectors requested; the block and "
                   f"Multiple Message Enable are rounded up to {block}, messages "
                   f"{count}-{block - 1} have no IRQ")
    core = k.irq
    dom = PciMsiDomain(k, pdev, core.msi_parent)
    mask = core.vector_domain.reachable(cpus, pdev.slot)
    descs = [core.alloc_desc(None, dom.name, i, pdev.slot, affinity=mask)
             for i in range(count)]
    for desc in descs:
        desc.node = k.dev_to_node(pdev)
    info = AllocInfo([mask] * count, contiguous=True, block=block, pdev=pdev, who="MSI")
    try:
        datas = core.domain_alloc(dom, descs, 0, info)
    except OSError as e:
        core.next_irq -= count
        why.append(str(e))
        return 0
    first = descs[0]
    k.trace_sw("Driver", "OS", f"Request {count} MSI vector(s): block {first.vector:#x}-"
                               f"{first.vector + block - 1:#x} on CPU{first.cpu}")
    pdev.irqs.extend(d.irq for d in descs)
    pdev.msi_domain = dom
    dom.setup(datas)
    return count


def pci_intx_setup(k: Kernel, pdev: PciDev, cpus: list[int] | None = None) -> int:
    """Route the device's INTx to its I/O APIC line and return the IRQ (its GSI).

    The first device on a line allocates the IRQ in the IO-APIC domain (vector, RTE
    programmed masked); later ones share the descriptor. Interrupt Line is written with
    the IRQ and Command.Interrupt Disable is cleared (Linux's pci_intx).
    """
    gsi = pdev.irq
    core = k.irq
    if k.noapic and k.pic8259 is not None:
        return _pic_intx_setup(k, pdev)
    dom = core.ioapic_for_gsi(gsi) if gsi else None
    if dom is None:
        raise OSError(f"{pdev.slot}: INTx pin {pdev.pin} has no I/O APIC route")
    desc = core.irqs.get(gsi)
    if desc is None:
        level, active_low = gsi_trigger(k, gsi)
        pin = gsi - dom.info.gsi_base
        mask = core.vector_domain.reachable(cpus, "I/O APIC")
        desc = core.alloc_desc(gsi, dom.name, pin, pdev.slot,
                               trigger="fasteoi" if level else "edge", affinity=mask)
        desc.node = k.dev_to_node(pdev)
        core.domain_alloc(dom, [desc], pin, AllocInfo([mask], who="I/O APIC", level=level,
                                                      active_low=active_low))
    else:
        k.trace_sw("OS", "OS", f"GSI {gsi} already set up: share IRQ {gsi}")
    core.intx_users.setdefault(gsi, set()).add(pdev.slot)
    b, d = pdev.bus, pdev.devfn
    k.cfg_write(b, d, 0x3C, 1, gsi)                       # Interrupt Line: no hardware effect
    cmd = k.cfg_read(b, d, 0x04, 2)
    if cmd & (1 << 10):
        k.trace_sw("OS", "PCI Config Space", "Clear Interrupt Disable (Command bit 10)")
        k.cfg_write(b, d, 0x04, 2, cmd & ~(1 << 10))
    pdev.irqs = [gsi]
    pdev.irq_mode = IrqMode.INTX
    return gsi


def _pic_intx_setup(k: Kernel, pdev: PciDev) -> int:
    """``noapic``: the INTx line is an ISA IRQ of the 8259 (the _PRT's PIC-mode route),
    shared on its XT-PIC descriptor and made level-sensitive in the ELCR (Linux
    acpi_register_gsi_pic -> elcr_set_level_irq)."""
    irq = pdev.irq
    core = k.irq
    desc = core.irqs.get(irq)
    pic = k.pic8259
    if desc is None or pic is None:
        raise OSError(f"{pdev.slot}: INTx pin {pdev.pin} has no 8259 route")
    pic.set_level(irq)
    core.intx_users.setdefault(irq, set()).add(pdev.slot)
    b, d = pdev.bus, pdev.devfn
    k.cfg_write(b, d, 0x3C, 1, irq)
    cmd = k.cfg_read(b, d, 0x04, 2)
    if cmd & (1 << 10):
        k.cfg_write(b, d, 0x04, 2, cmd & ~(1 << 10))
    pdev.irqs = [irq]
    pdev.irq_mode = IrqMode.INTX
    return irq


def pci_free_irq_vectors(k: Kernel, pdev: PciDev) -> None:
    """Release the device's IRQs (every handler must have been freed): disable MSI-X/MSI
    (masking its entries) and free the domain stacks; an INTx line is freed with its last
    user (its RTE masked, its vector released)."""
    core = k.irq
    for irq in pdev.irqs:
        desc = core.irqs.get(irq)
        if desc is not None and desc.actions and pdev.irq_mode != IrqMode.INTX:
            raise OSError(f"{pdev.slot}: IRQ {irq} still has handlers; free_irq first")
    if pdev.irq_mode in (IrqMode.MSIX, IrqMode.MSI):
        pdev.msi_domain.shutdown()
        for irq in pdev.irqs:
            core.free_desc(core.irqs[irq])
        pdev.msi_domain = None
    elif pdev.irq_mode == IrqMode.INTX:
        gsi = pdev.irqs[0]
        users = core.intx_users.get(gsi, set())
        users.discard(pdev.slot)
        desc = core.irqs[gsi]
        if not users and not desc.actions and desc.chip != "XT-PIC":
            if desc.activated and desc.chip_mask is not None:
                desc.chip_mask(True)
            core.free_desc(desc)
            del core.intx_users[gsi]
    pdev.irqs = []
    pdev.irq_mode = IrqMode.NONE


def pci_irq_vector(pdev: PciDev, nr: int) -> int:
    """Linux IRQ number of the device's ``nr``-th vector."""
    if not 0 <= nr < len(pdev.irqs):
        raise OSError(f"{pdev.slot}: no vector {nr} (has {len(pdev.irqs)})")
    return pdev.irqs[nr]


def msix_share_entry(k: Kernel, pdev: PciDev, entry: int, irq: int) -> None:
    """Program MSI-X ``entry`` with the same message as ``irq`` (seed 002's kernel)."""
    n = msix_table_size(k, pdev)
    if entry >= n:
        raise OSError(f"{pdev.slot}: MSI-X entry {entry} beyond table size {n}")
    dom = pdev.msi_domain
    data = k.irqs[irq].data
    if not isinstance(dom, PciMsixDomain) or data is None:
        raise OSError(f"{pdev.slot}: MSI-X is not enabled")
    dom.share_entry(entry, data)


def pci_request_irq(k: Kernel, pdev: PciDev, nr: int, handler: Handler, name: str,
                    dev_id: Any = None, flags: int = 0) -> int:
    """request_irq for the device's ``nr``-th vector; INTx lines are requested shared
    (Linux's pci_request_irq). Returns the IRQ."""
    irq = pci_irq_vector(pdev, nr)
    if pdev.irq_mode == IrqMode.INTX:
        flags |= IRQF_SHARED
    k.irq.request_irq(irq, handler, flags, name, dev_id, slot=pdev.slot)
    return irq
