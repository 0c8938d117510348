"""Driver for the legacy INTx-only device (devices/legacy.py), shaped like e1000_intr.

The handler reads ICR (read-to-clear, which deasserts the device's wire); ICR == 0
means another device on the shared line raised it: IRQ_NONE (seed 003 "Shared
Interrupts").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from irqsim.devices.legacy import CAUSE_BITS, ICR, IMS, LEGACY_DEVICE, LEGACY_VENDOR
from irqsim.os.irq import IRQ_HANDLED, IRQ_NONE, IrqReturn
from irqsim.os.kernel import PCI_IRQ_INTX

if TYPE_CHECKING:
    from irqsim.os.kernel import Kernel
    from irqsim.os.pci import PciDev


@dataclass
class LegacyState:
    """Per-device driver state."""

    pdev: PciDev
    regs: int
    irq: int = 0
    handled: int = 0
    none: int = 0
    causes: int = 0


class LegacyIntxDriver:
    """Binds the legacy device: INTx line, shared handler, all causes enabled."""

    name = "legacy-intx"
    ids = ((LEGACY_VENDOR, LEGACY_DEVICE),)

    def __init__(self, process_ns: int = 100) -> None:
        self.process_ns = process_ns
        self.devices: list[LegacyState] = []
        self.kernel: Kernel | None = None

    def probe(self, k: Kernel, pdev: PciDev) -> None:
        self.kernel = k
        k.pci_enable_device(pdev)
        st = LegacyState(pdev, pdev.bars[0].address)
        k.pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_INTX)
        st.irq = k.pci_request_irq(pdev, 0, self.interrupt, f"legacy:{pdev.slot[5:]}", st)
        k.writel(st.regs + IMS.offset, CAUSE_BITS)
        self.devices.append(st)

    def interrupt(self, irq: int, st: Any) -> IrqReturn:
        """Read ICR; nothing pending means the interrupt is another sharer's."""
        k = self.kernel
        assert k is not None
        icr = k.readl(st.regs + ICR.offset)
        if not icr:
            st.none += 1
            return IRQ_NONE
        st.causes += bin(icr).count("1")
        k.spend(self.process_ns)
        st.handled += 1
        return IRQ_HANDLED
