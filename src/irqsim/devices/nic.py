"""A minimal multi-queue NIC: one MSI-X vector per queue, nothing else (for benchmarks
and experiments where only the interrupt path matters)."""

from __future__ import annotations

from irqsim.pci.config import BarSpec
from irqsim.pci.function import PciFunction
from irqsim.pci.msix import MsixCapability
from irqsim.sim.context import SimContext


class MultiQueueNic(PciFunction):
    """Ethernet controller with ``queues`` MSI-X vectors (table in BAR0, PBA after it)."""

    def __init__(self, ctx: SimContext, queues: int, name: str = "nic") -> None:
        table = 16 * queues
        pba_off = (table + 0xFFF) & ~0xFFF
        size = 1 << max(12, (pba_off + ((queues + 63) // 64) * 8 - 1).bit_length())
        super().__init__(ctx, name, 0x8086, 0x1572, 0x020000,
                         bars=(BarSpec(0, size, is64=True),), interrupt_pin=1)
        self.msix = MsixCapability(self, 0x70, queues, 0, 0, 0, pba_off)

    def rx(self, queue: int) -> None:
        """A packet arrived on ``queue``: signal its vector."""
        if self.ctx.tracer.on:
            self.ctx.tracer.emit(self.ctx.engine.now, self.name, self.name, "device-event",
                                 what=f"packet on queue {queue}")
        self.msix.signal(queue)
