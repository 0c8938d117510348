"""A generic driver: asks for one vector per CPU (up to what the device has) and counts them.

Used for devices built from real configuration dumps, whose real drivers irqsim does not
model: the interrupt set-up (capability discovery, MSI-X programming) is the real part.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from irqsim.os.irq import IRQ_HANDLED, IRQ_NONE, IRQF_SHARED, IrqReturn
from irqsim.os.kernel import PCI_IRQ_ALL_TYPES
from irqsim.sim.rules import rule
from irqsim.spec.modes import IrqMode

R_NO_VECTORS = rule(
    "OS-NO-IRQ-VECTORS", "Linux pci_alloc_irq_vectors",
    "the driver could allocate no interrupt vectors")

if TYPE_CHECKING:
    from irqsim.os.kernel import Kernel
    from irqsim.os.pci import PciDev

_INTX = IrqMode.INTX          # the per-interrupt test reads a module constant


class GenericDriver:
    """Binds to every (vendor, device) in ``ids``; one vector per CPU, at most ``max_vectors``."""

    name = "generic"

    def __init__(self, ids: tuple[tuple[int, int], ...], max_vectors: int = 0,
                 handler_ns: int = 200,
                 cause_registers: dict[tuple[int, int], tuple[int, int]] | None = None) -> None:
        self.ids = ids
        self.max_vectors = max_vectors
        self.handler_ns = handler_ns
        self.kernel: Kernel | None = None
        self.vectors: dict[str, int] = {}
        self.failed: dict[str, str] = {}
        self.handled = 0
        # (vendor, device) -> (BAR index, offset) of a read-to-clear cause register (INTx)
        self.cause_registers = cause_registers or {}

    def probe(self, k: Kernel, pdev: PciDev) -> None:
        self.kernel = k
        k.pci_enable_device(pdev)
        k.pci_set_master(pdev)
        want = self.max_vectors or len(k.cpus)
        try:
            n = k.pci_alloc_irq_vectors(pdev, 1, want, PCI_IRQ_ALL_TYPES)
        except OSError as e:
            self.failed[pdev.slot] = str(e)
            k.ctx.diag(pdev.slot, R_NO_VECTORS, f"no interrupts: {e}")
            return
        self.vectors[pdev.slot] = n
        flags = IRQF_SHARED if pdev.irq_mode == IrqMode.INTX else 0
        for i in range(n):
            k.request_irq(k.pci_irq_vector(pdev, i), self.handler, flags,
                          f"{pdev.slot}-q{i}", pdev)

    def handler(self, irq: int, dev_id: Any) -> IrqReturn:
        k = self.kernel
        assert k is not None
        pdev = dev_id
        if pdev.irq_mode == _INTX:
            # A shared level line: claim it only if our device's cause register says so.
            where = self.cause_registers.get((pdev.vendor, pdev.device))
            if where is None or not k.readl(pdev.bars[where[0]].address + where[1]):
                return IRQ_NONE
        k.spend(self.handler_ns)
        self.handled += 1
        return IRQ_HANDLED
