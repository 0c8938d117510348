"""The interrupt interconnect between the root complex, I/O APICs and Local APICs.

Decodes MSI-format messages (address/data, SDM 11.11) into destinations and
delivers them; carries IPIs and EOI broadcasts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from irqsim.apic.lapic import ESR_SEND_ACCEPT, ESR_SEND_ILLEGAL_VECTOR, LocalApic
from irqsim.apic.msi_format import DM_FIXED, DM_LOWEST, DM_NMI
from irqsim.sim.context import SimContext

if TYPE_CHECKING:
    from irqsim.fabric.tlp import Tlp

LowestPriorityPolicy = Callable[[list[LocalApic]], LocalApic]


def lowest_tpr_then_id(candidates: list[LocalApic]) -> LocalApic:
    """Default lowest-priority arbitration (semantics.md F): lowest TPR, then lowest ID."""
    return min(candidates, key=lambda a: (a.tpr, a.apic_id))


class ApicBus:
    """Routes interrupt messages to Local APICs by destination."""

    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self.lapics: list[LocalApic] = []
        self.by_id: dict[int, LocalApic] = {}
        self.eoi_listeners: list[Callable[[int], None]] = []
        self.lowest_priority: LowestPriorityPolicy = lowest_tpr_then_id
        self.messages = 0

    def add(self, lapic: LocalApic) -> None:
        lapic.bus = self
        self.lapics.append(lapic)
        self.by_id[lapic.apic_id] = lapic

    def targets(self, dest: int, logical: bool) -> list[LocalApic]:
        """APICs addressed by an 8-bit destination (physical or logical)."""
        if logical:
            return [a for a in self.lapics if a.matches_logical(dest)]
        if dest == 0xFF:
            return list(self.lapics)
        a = self.by_id.get(dest)
        if a is not None and a.apic_id == dest:
            return [a]
        return [a for a in self.lapics if a.apic_id == dest]

    def deliver_msi(self, tlp: Tlp) -> None:
        """An interrupt message arrives from the root complex (event callback)."""
        ctx = self.ctx
        ctx.ledger.in_flight -= 1
        self.messages += 1
        tlp.t_lapic = ctx.engine.now
        addr = tlp.address
        data = tlp.data
        vector = data & 0xFF
        mode = (data >> 8) & 7
        dest = (addr >> 12) & 0xFF
        logical = bool(addr & 4)
        if mode == DM_FIXED and not logical and dest != 0xFF:
            # Fast path: one physical destination, fixed delivery.
            a = self.by_id.get(dest)
            if a is not None:
                if ctx.tracer.on:
                    ctx.tracer.emit(ctx.engine.now, "IOMMU", a.name, "msi-deliver",
                                    vector=vector, dest=dest, source=tlp.source)
                a.accept_fixed(vector, bool(data & 0x8000), tlp)
                return
        targets = self.targets(dest, logical)
        if not targets:
            ctx.ledger.drop("no destination APIC")
            ctx.diag("APIC bus", "SDM 11.11.1 MSI destination ID",
                     f"interrupt message to {'logical' if logical else 'physical'} "
                     f"destination {dest:#x} matched no Local APIC")
            return
        if mode == DM_LOWEST or addr & 8:
            targets = [self.lowest_priority(targets)]
        ctx.ledger.raised += len(targets) - 1
        for a in targets:
            if ctx.tracer.on:
                ctx.tracer.emit(ctx.engine.now, "IOMMU", a.name, "msi-deliver", vector=vector,
                                dest=dest, source=tlp.source)
            if mode in (DM_FIXED, DM_LOWEST):
                a.accept_fixed(vector, bool(data & 0x8000), tlp)
            elif mode == DM_NMI and a.cpu is not None and hasattr(a.cpu, "nmi"):
                a.cpu.nmi()
            else:
                ctx.ledger.drop("unsupported delivery mode")
                ctx.diag(a.name, "SDM 11.11.2 delivery mode",
                         f"delivery mode {mode:#o} not modelled for MSI yet")

    def send_ipi(self, src: LocalApic, icr_lo: int, dest: int) -> None:
        """A fixed IPI written to ICR (shorthand, physical and logical destinations)."""
        ctx = self.ctx
        vector = icr_lo & 0xFF
        mode = (icr_lo >> 8) & 7
        shorthand = (icr_lo >> 18) & 3
        if shorthand == 1:
            targets = [src]
        elif shorthand == 2:
            targets = list(self.lapics)
        elif shorthand == 3:
            targets = [a for a in self.lapics if a is not src]
        else:
            targets = self.targets(dest, bool(icr_lo & 0x800))
        ctx.ledger.raised += len(targets)
        if mode in (DM_FIXED, DM_LOWEST) and vector < 16:
            src._error(ESR_SEND_ILLEGAL_VECTOR)
        if not targets:
            src._error(ESR_SEND_ACCEPT)
            return
        if mode == DM_LOWEST:
            targets = [self.lowest_priority(targets)]
        delay = ctx.timing.msg_to_lapic
        for a in targets:
            ctx.ledger.in_flight += 1
            ctx.engine.after(delay, self._ipi_arrive, (a, vector, mode))

    def _ipi_arrive(self, arg: tuple[LocalApic, int, int]) -> None:
        a, vector, mode = arg
        self.ctx.ledger.in_flight -= 1
        if mode in (DM_FIXED, DM_LOWEST):
            a.accept_fixed(vector, False)
        elif mode == DM_NMI and a.cpu is not None and hasattr(a.cpu, "nmi"):
            a.cpu.nmi()
        else:
            self.ctx.ledger.drop("unsupported delivery mode")

    def eoi_broadcast(self, vector: int) -> None:
        """Level-triggered EOI message to every I/O APIC (SDM 11.8.5)."""
        for fn in self.eoi_listeners:
            fn(vector)
