"""The IRQ domain hierarchy (Linux kernel/irq/irqdomain.c, include/linux/irq.h).

An IRQ descriptor (``IrqDesc``) holds a stack of ``IrqData``, one per domain level, top
(the device-facing chip) first: for a PCI MSI-X vector, PCI-MSIX -> VECTOR; for an INTx line,
IO-APIC -> VECTOR. Each level has an ``IrqChip`` whose operations act on that level's
hardware and pass on to the parent where Linux's ``irq_chip_*_parent`` helpers would:

    alloc/free        build or tear down the level's state (``IrqDomain.alloc``/``free``)
    activate          program the hardware (compose the message from the parent, write it)
    mask/unmask       the source (MSI-X Vector Control, MSI Mask Bits, RTE mask)
    eoi               an end-of-interrupt beyond the LAPIC (directed EOI), then the parent's
    set_affinity      the parent picks the new CPU/vector, the level rewrites its hardware
    compose_msi_msg   the (Message Address, Message Data) the parent's state implies

Interrupt remapping (Linux's IR domain, drivers/iommu/intel/irq_remapping.c) sits between
the PCI-MSI / IO-APIC domains and the VECTOR domain: it is the ``parent`` those domains are
given by the kernel (``IrqCore.msi_parent``), today the VECTOR domain itself. An IR domain
allocates an IRTE per IRQ, composes remappable-format messages and, on ``set_affinity``,
rewrites the IRTE instead of the device (issue 10).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from irqsim.os.irq import IrqDesc
    from irqsim.os.pci import PciDev


@dataclass(slots=True)
class AllocInfo:
    """What an allocation asks for (Linux's irq_alloc_info / msi_alloc_info).

    ``affinity``: one CPU mask per IRQ (None: every reachable CPU); ``contiguous``: the
    vectors form one power-of-two block of ``block`` on one CPU (multi-message MSI);
    ``level``/``active_low``: an I/O APIC line's trigger and polarity.
    """

    affinity: list[list[int] | None]
    contiguous: bool = False
    block: int = 1
    pdev: PciDev | None = None
    who: str = ""
    level: bool = False
    active_low: bool = False
    devid: int | None = None        # an I/O APIC's ID (its remapping source-id lookup)


@dataclass(slots=True, eq=False)
class IrqData:
    """One level of an IRQ's hierarchy (Linux struct irq_data)."""

    irq: int
    hwirq: int
    domain: IrqDomain
    chip: IrqChip
    parent: IrqData | None
    chip_data: Any = None

    def root(self) -> IrqData:
        """The bottom level (the VECTOR domain's data)."""
        d = self
        while d.parent is not None:
            d = d.parent
        return d


class IrqChip:
    """Operations of one level (Linux struct irq_chip); the defaults defer to the parent."""

    name = "none"

    def irq_mask(self, d: IrqData) -> None:
        if d.parent is not None:
            d.parent.chip.irq_mask(d.parent)

    def irq_unmask(self, d: IrqData) -> None:
        if d.parent is not None:
            d.parent.chip.irq_unmask(d.parent)

    def irq_eoi(self, d: IrqData) -> None:
        if d.parent is not None:
            d.parent.chip.irq_eoi(d.parent)

    def needs_eoi(self, d: IrqData) -> bool:
        """True while this level has work at EOI time (directed EOI, a move to complete)."""
        return d.parent is not None and d.parent.chip.needs_eoi(d.parent)

    def irq_set_affinity(self, d: IrqData, cpus: list[int]) -> bool:
        """Retarget to a CPU of ``cpus``; True if the hardware target changed."""
        if d.parent is None:
            return False
        return d.parent.chip.irq_set_affinity(d.parent, cpus)

    def irq_compose_msi_msg(self, d: IrqData) -> tuple[int, int]:
        if d.parent is None:
            raise NotImplementedError(f"{self.name}: no message to compose")
        return d.parent.chip.irq_compose_msi_msg(d.parent)


class IrqDomain:
    """One level of the hierarchy (Linux struct irq_domain)."""

    name = "domain"

    def __init__(self, parent: IrqDomain | None) -> None:
        self.parent = parent

    def alloc(self, descs: list[IrqDesc], hwirq: int, info: AllocInfo) -> list[IrqData]:
        """Allocate one level for each of ``descs`` (hwirqs from ``hwirq``), parent first."""
        raise NotImplementedError

    def free(self, d: IrqData) -> None:
        """Release this level's state, then the parent's."""
        if d.parent is not None:
            d.parent.domain.free(d.parent)

    def activate(self, d: IrqData) -> None:
        """Program this level's hardware (the parent is activated first)."""
        if d.parent is not None:
            d.parent.domain.activate(d.parent)

    def deactivate(self, d: IrqData) -> None:
        """Stop this level's hardware from targeting the parent, then deactivate it."""
        if d.parent is not None:
            d.parent.domain.deactivate(d.parent)

