"""The IOMMU on the interrupt path (Intel VT-d, ch. 5 interrupt remapping).

Remapping is off in this model so far: every interrupt request passes through
unchanged (semantics.md D.1 "IR disabled -> pass through"). The register block
(GCMD/GSTS/IRTA, declared in :mod:`irqsim.spec.vtd`) is where remapping will be
switched on; the single call ``interrupt_request`` is the seam the remapping hardware plugs
into.
"""

from __future__ import annotations

from irqsim.fabric.tlp import Tlp
from irqsim.sim.accounting import Reason
from irqsim.sim.context import SimContext
from irqsim.sim.rules import rule
from irqsim.spec.vtd import GCMD, GCMD_IRE, GCMD_SIRTP, GSTS, GSTS_IRES, GSTS_IRTPS, IRTA

R_IRE_NOT_MODELLED = rule(
    "VTD-IRE-NOT-MODELLED", "VT-d 5.1",
    "interrupt remapping enabled (GCMD.IRE) is not modelled: interrupts stay in pass-through")

__all__ = ["Iommu"]


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
        return bool(self.gsts & GSTS_IRES)

    def interrupt_request(self, tlp: Tlp) -> Tlp | None:
        """Process an interrupt write; return the message to deliver, or None if blocked."""
        self.requests += 1
        if not self.gsts & GSTS_IRES:
            return tlp
        # Remapping hardware is not modelled yet: refuse rather than guess.
        self.ctx.ledger.drop(Reason.REMAPPING, tlp.iid, self.name, flying=True)
        return None

    def mmio_read(self, offset: int, size: int) -> int:
        if offset == GSTS.offset:
            return self.gsts
        if offset == IRTA.offset:
            return self.irta & ((1 << (8 * size)) - 1)
        return 0

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        if offset == GCMD.offset:
            if value & GCMD_IRE:
                self.ctx.diag(self.name, R_IRE_NOT_MODELLED,
                              "GCMD.IRE set: interrupt remapping is not modelled yet; "
                              "interrupts stay in pass-through")
            if value & GCMD_SIRTP:
                self.gsts |= GSTS_IRTPS
        elif offset == IRTA.offset:
            self.irta = value & IRTA.wmask
