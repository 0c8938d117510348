"""The IOMMU on the interrupt path (Intel VT-d, ch. 5 interrupt remapping).

Remapping is off in this model so far: every interrupt request passes through
unchanged (semantics.md D.1 "IR disabled -> pass through"). The register block
(GCMD/GSTS/IRTA) is where remapping will be switched on; the single call
``interrupt_request`` is the seam the remapping hardware plugs into.
"""

from __future__ import annotations

from irqsim.fabric.tlp import Tlp
from irqsim.regs import RO, RW, WO, F, Register
from irqsim.sim.context import SimContext

VTD_BASE = 0xFED90000
GCMD = Register("Global Command", 0x18, 4, (
    F("cfi", 23, WO), F("sirtp", 24, WO), F("ire", 25, WO), F("qie", 26, WO),
    F("srtp", 30, WO), F("te", 31, WO)))
GSTS = Register("Global Status", 0x1C, 4, (
    F("cfis", 23, RO), F("irtps", 24, RO), F("ires", 25, RO), F("qies", 26, RO),
    F("rtps", 30, RO), F("tes", 31, RO)))
IRTA = Register("Interrupt Remapping Table Address", 0xB8, 8, (
    F("s", (3, 0), RW), F("eime", 11, RW), F("ira", (63, 12), RW)))


class Iommu:
    """DMA remapping unit: interrupt requests enter here from the root complex."""

    name = "IOMMU"

    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self.gsts = 0
        self.irta = 0
        self.requests = 0

    @property
    def remapping_enabled(self) -> bool:
        return bool(self.gsts >> 25 & 1)

    def interrupt_request(self, tlp: Tlp) -> Tlp | None:
        """Process an interrupt write; return the message to deliver, or None if blocked."""
        self.requests += 1
        if not self.gsts & (1 << 25):
            return tlp
        # Remapping hardware is not modelled yet: refuse rather than guess.
        self.ctx.ledger.in_flight -= 1
        self.ctx.ledger.drop("interrupt remapping not modelled")
        return None

    def mmio_read(self, offset: int, size: int) -> int:
        if offset == GSTS.offset:
            return self.gsts
        if offset == IRTA.offset:
            return self.irta & ((1 << (8 * size)) - 1)
        return 0

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        if offset == GCMD.offset:
            if value & (1 << 25):
                self.ctx.diag(self.name, "VT-d 5.1 interrupt remapping",
                              "GCMD.IRE set: interrupt remapping is not modelled yet; "
                              "interrupts stay in pass-through")
            if value & (1 << 24):
                self.gsts |= 1 << 24
        elif offset == IRTA.offset:
            self.irta = value
