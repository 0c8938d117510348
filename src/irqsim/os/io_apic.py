"""The IO-APIC domain (Linux arch/x86/kernel/apic/io_apic.c), above the VECTOR domain.

hwirq = the I/O APIC pin; the IRQ number is the GSI (the MADT's GSI base plus the pin).
Allocation programs the redirection entry masked, high dword (destination) first
(ioapic_write_entry); mask/unmask is a read-modify-write of the low dword; with directed EOI
(suppress-EOI-broadcast) a level line's EOI is a write of the vector to the I/O APIC's EOI
register. An affinity change masks the entry, writes destination and vector, and restores
the mask; a level request that arrives meanwhile is held by the I/O APIC and sent after the
unmask. If the entry's Remote IRR is set (a level interrupt is in service at the old
vector), the move waits until that interrupt's EOI, as Linux moves I/O APIC interrupts from
the ack path (irq_move_masked_irq) so that the EOI still matches the entry's vector.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from irqsim.os.intx import (
    RTE_MASK,
    IoApicInfo,
    ioapic_eoi,
    ioapic_mask,
    ioapic_program,
    ioapic_read,
    ioapic_write,
)
from irqsim.os.irqdomain import AllocInfo, IrqChip, IrqData, IrqDomain

if TYPE_CHECKING:
    from irqsim.os.irq import IrqDesc
    from irqsim.os.kernel import Kernel

RTE_REMOTE_IRR = 1 << 14


@dataclass(slots=True)
class RteConfig:
    """Per-pin state the OS keeps (Linux struct mp_chip_data)."""

    level: bool
    active_low: bool
    masked: bool = True
    pending_move: list[int] | None = None


class IoApicDomain(IrqDomain, IrqChip):
    """One I/O APIC's pins (chip name "IO-APIC")."""

    name = "IO-APIC"

    def __init__(self, kernel: Kernel, info: IoApicInfo, parent: IrqDomain) -> None:
        super().__init__(parent)
        self.k = kernel
        self.info = info
        self.deferred_moves = 0

    def alloc(self, descs: list[IrqDesc], hwirq: int, info: AllocInfo) -> list[IrqData]:
        """``hwirq`` is the pin; trigger and polarity come from ``info`` (ACPI)."""
        assert self.parent is not None and len(descs) == 1
        desc = descs[0]
        (p,) = self.parent.alloc(descs, hwirq, info)
        self.k.trace_sw("OS", "OS", f"Allocate vector {desc.vector:#x} on CPU{desc.cpu} for "
                                    f"GSI {desc.irq}")
        d = IrqData(desc.irq, hwirq, self, self, p,
                    RteConfig(info.level, info.active_low))
        self._program(d)
        return [d]

    def _program(self, d: IrqData) -> None:
        cfg: RteConfig = d.chip_data
        desc = self.k.irqs[d.irq]
        ioapic_program(self.k, self.info, d.hwirq, desc.vector, self.k.apic_ids[desc.cpu],
                       cfg.level, cfg.active_low)
        cfg.masked = True

    def activate(self, d: IrqData) -> None:
        super().activate(d)
        self._program(d)

    def deactivate(self, d: IrqData) -> None:
        self.irq_mask(d)
        super().deactivate(d)

    # -- chip ------------------------------------------------------------------------
    def irq_mask(self, d: IrqData) -> None:
        ioapic_mask(self.k, self.info, d.hwirq, True)
        d.chip_data.masked = True

    def irq_unmask(self, d: IrqData) -> None:
        ioapic_mask(self.k, self.info, d.hwirq, False)
        d.chip_data.masked = False

    def needs_eoi(self, d: IrqData) -> bool:
        cfg: RteConfig = d.chip_data
        return ((cfg.level and self.k.directed_eoi) or cfg.pending_move is not None
                or super().needs_eoi(d))

    def irq_eoi(self, d: IrqData) -> None:
        """Directed EOI for a level line, then a deferred move, then the parent's."""
        cfg: RteConfig = d.chip_data
        if cfg.level and self.k.directed_eoi:
            ioapic_eoi(self.k, self.info, self.k.irqs[d.irq].vector)
        if cfg.pending_move is not None:
            cpus, cfg.pending_move = cfg.pending_move, None
            self._move(d, cpus)
        super().irq_eoi(d)

    def irq_set_affinity(self, d: IrqData, cpus: list[int]) -> bool:
        """Rewrite the RTE now, or at the in-service interrupt's EOI (Remote IRR set)."""
        cfg: RteConfig = d.chip_data
        low = ioapic_read(self.k, self.info.base, 0x10 + 2 * d.hwirq)
        if cfg.level and low & RTE_REMOTE_IRR:
            cfg.pending_move = list(cpus)
            self.deferred_moves += 1
            self.k.irq.update_eoi(self.k.irqs[d.irq])
            return False
        return self._move(d, cpus)

    def _move(self, d: IrqData, cpus: list[int]) -> bool:
        assert d.parent is not None
        if not d.parent.chip.irq_set_affinity(d.parent, cpus):
            return False
        k, base, pin = self.k, self.info.base, d.hwirq
        cfg: RteConfig = d.chip_data
        desc = k.irqs[d.irq]
        k.trace_sw("OS", "IOAPIC0", f"Move RTE {pin}: vector {desc.vector:#x}, APIC ID "
                                    f"{k.apic_ids[desc.cpu]} (masked while rewritten)")
        low = ioapic_read(k, base, 0x10 + 2 * pin)
        if not low & RTE_MASK:
            ioapic_write(k, base, 0x10 + 2 * pin, low | RTE_MASK)
        ioapic_write(k, base, 0x11 + 2 * pin, (k.apic_ids[desc.cpu] & 0xFF) << 24)
        low = (low & ~0xFF) | desc.vector | RTE_MASK
        ioapic_write(k, base, 0x10 + 2 * pin, low)
        if not cfg.masked:
            ioapic_write(k, base, 0x10 + 2 * pin, low & ~RTE_MASK)
        return True
