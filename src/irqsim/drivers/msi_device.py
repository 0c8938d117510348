"""Driver for the MSI event device (devices/msi_device.py).

It asks for one vector per event type with MSI, and takes INTx when MSI cannot be
had (Linux's pci_alloc_irq_vectors(dev, 1, n, PCI_IRQ_MSI | PCI_IRQ_INTX)). With
one vector per event the handler of vector ``k`` knows its event and only clears
the cause (a posted write); events sharing the last vector, and INTx, read the
cause register first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from irqsim.devices.msi_device import IER, ISR, MSI_DEVICE_ID, MSI_DEVICE_VENDOR
from irqsim.os.irq import IRQ_HANDLED, IRQ_NONE, IrqReturn
from irqsim.os.kernel import PCI_IRQ_INTX, PCI_IRQ_MSI
from irqsim.spec.modes import IrqMode

if TYPE_CHECKING:
    from irqsim.os.kernel import Kernel
    from irqsim.os.pci import PciDev


@dataclass
class EventDevState:
    """Per-device driver state."""

    pdev: PciDev
    regs: int
    events: int
    vectors: int = 0
    irqs: list[int] = field(default_factory=list)
    handled: list[int] = field(default_factory=list)
    none: int = 0


class MsiEventDriver:
    """One handler per MSI vector; a demultiplexing handler for the last or only one."""

    name = "msi-events"
    ids = ((MSI_DEVICE_VENDOR, MSI_DEVICE_ID),)

    def __init__(self, events: int = 4, flags: int = PCI_IRQ_MSI | PCI_IRQ_INTX,
                 process_ns: int = 100, max_vectors: int | None = None) -> None:
        """``max_vectors``: ask for at most this many vectors (default: one per event)."""
        self.n_events = events
        self.flags = flags
        self.process_ns = process_ns
        self.max_vectors = max_vectors
        self.devices: list[EventDevState] = []
        self.kernel: Kernel | None = None

    def probe(self, k: Kernel, pdev: PciDev) -> None:
        self.kernel = k
        k.pci_enable_device(pdev)
        k.pci_set_master(pdev)
        st = EventDevState(pdev, pdev.bars[0].address, self.n_events)
        want = self.max_vectors or self.n_events
        st.vectors = k.pci_alloc_irq_vectors(pdev, 1, want, self.flags)
        st.handled = [0] * self.n_events
        if pdev.irq_mode == IrqMode.MSI:
            for i in range(st.vectors):
                demux = i == st.vectors - 1 and st.vectors < self.n_events
                st.irqs.append(k.pci_request_irq(
                    pdev, i, self.demux_interrupt if demux else self.vector_interrupt,
                    f"msidev-ev{i}" if not demux else f"msidev-ev{i}+", (st, i)))
        else:
            st.irqs.append(k.pci_request_irq(pdev, 0, self.demux_interrupt, "msidev",
                                             (st, 0)))
        k.writel(st.regs + IER.offset, (1 << self.n_events) - 1)
        self.devices.append(st)

    def vector_interrupt(self, irq: int, arg: Any) -> IrqReturn:
        """Vector ``i`` is event ``i``: clear its cause (write 1) and process it."""
        st, i = arg
        k = self.kernel
        assert k is not None
        k.writel(st.regs + ISR.offset, 1 << i)
        st.handled[i] += 1
        k.spend(self.process_ns)
        return IRQ_HANDLED

    def demux_interrupt(self, irq: int, arg: Any) -> IrqReturn:
        """Read the causes, clear the ones this vector serves, process each."""
        st, first = arg
        k = self.kernel
        assert k is not None
        isr = k.readl(st.regs + ISR.offset) & ~((1 << first) - 1)
        if not isr:
            st.none += 1
            return IRQ_NONE
        k.writel(st.regs + ISR.offset, isr)
        for ev in range(st.events):
            if isr >> ev & 1:
                st.handled[ev] += 1
                k.spend(self.process_ns)
        return IRQ_HANDLED
