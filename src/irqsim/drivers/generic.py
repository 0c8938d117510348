"""A generic driver: asks for one vector per CPU (up to what the device has) and counts them.

Used for devices built from real configuration dumps, whose real drivers irqsim does not
model: the interrupt set-up (capability discovery, MSI-X programming) is the real part.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from irqsim.os.irq import IRQ_HANDLED, IrqReturn
from irqsim.os.kernel import PCI_IRQ_ALL_TYPES

if TYPE_CHECKING:
    from irqsim.os.kernel import Kernel
    from irqsim.os.pci import PciDev


class GenericDriver:
    """Binds to every (vendor, device) in ``ids``; one vector per CPU, at most ``max_vectors``."""

    name = "generic"

    def __init__(self, ids: tuple[tuple[int, int], ...], max_vectors: int = 0,
                 handler_ns: int = 200) -> None:
        self.ids = ids
        self.max_vectors = max_vectors
        self.handler_ns = handler_ns
        self.kernel: Kernel | None = None
        self.vectors: dict[str, int] = {}
        self.failed: dict[str, str] = {}
        self.handled = 0

    def probe(self, k: Kernel, pdev: PciDev) -> None:
        self.kernel = k
        k.pci_enable_device(pdev)
        k.pci_set_master(pdev)
        want = self.max_vectors or len(k.cpus)
        try:
            n = k.pci_alloc_irq_vectors(pdev, 1, want, PCI_IRQ_ALL_TYPES)
        except OSError as e:
            self.failed[pdev.slot] = str(e)
            k.ctx.diag(pdev.slot, "pci_alloc_irq_vectors", f"no interrupts: {e}")
            return
        self.vectors[pdev.slot] = n
        for i in range(n):
            k.request_irq(k.pci_irq_vector(pdev, i), self.handler, 0,
                          f"{pdev.slot}-q{i}", pdev)

    def handler(self, irq: int, dev_id: Any) -> IrqReturn:
        assert self.kernel is not None
        self.kernel.current_cpu.spend(self.handler_ns)
        self.handled += 1
        return IRQ_HANDLED
