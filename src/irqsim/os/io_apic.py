"""The IO-APIC domain (Linux arch/x86/kernel/apic/io_apic.c), above the VECTOR domain.

hwirq = the I/O APIC pin; the IRQ number is the GSI (the MADT's GSI base plus the pin).
Allocation programs the redirection entry masked, high dword (destination) first
(ioapic_write_entry); mask/unmask is a read-modify-write of the low dword; with directed EOI
(suppress-EOI-broadcast) a level line's EOI is a write of the vector to the I/O APIC's EOI
register. An affinity change masks the entry, writes destination and vector, and restores
the mask; a level request that arrives meanwhile is held by the I/O APIC and sent after the
unmask. If the entry's Remote IRR is set (a level interrupt is in service at the old
vector), the move waits until that interrupt's EOI, as Linux moves I/O APIC interrupts from
the ack path (ioapic_ack_level: mask, EOI, irq_move_masked_irq, unmask). A broadcast EOI
reaches the I/O APIC as a message some time after the LAPIC write; if Remote IRR is still
set when the entry is rewritten, the OS ends it at the pin first (Linux eoi_ioapic_pin: the
EOI register of a version 0x20 I/O APIC, else a switch to edge and back), so the new
vector's entry does not wait for an EOI that names the old one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from irqsim.os.intx import (
    RTE_LEVEL,
    RTE_MASK,
    IoApicInfo,
    ioapic_eoi,
    ioapic_mask,
    ioapic_program,
    ioapic_read,
    ioapic_write,
)
from irqsim.os.irqdomain import AllocInfo, IrqChip, IrqData, IrqDomain
from irqsim.spec.ioapic import RTE_REMOTE_IRR, remappable_rte
from irqsim.spec.msi import MSI_ADDRESS_REMAPPABLE

if TYPE_CHECKING:
    from irqsim.os.irq import IrqDesc
    from irqsim.os.kernel import Kernel


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
        # Under interrupt remapping (parent an IR domain): remappable-format entries, the
        # pin number as the RTE vector, the pin's EOI written to the EOI register
        # (Linux ioapic_ir_ack_level), and moves done by the IRTE alone.
        self.ir = bool(getattr(parent, "remapping", False))
        if self.ir:
            self.name = "IR-IO-APIC"

    def alloc(self, descs: list[IrqDesc], hwirq: int, info: AllocInfo) -> list[IrqData]:
        """``hwirq`` is the pin; trigger and polarity come from ``info`` (ACPI)."""
        assert self.parent is not None and len(descs) == 1
        desc = descs[0]
        info.devid = self.info.id
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
        if self.ir:
            self._program_ir(d, cfg)
            return
        ioapic_program(self.k, self.info, d.hwirq, desc.vector, self.k.apic_ids[desc.cpu],
                       cfg.level, cfg.active_low)
        cfg.masked = True

    def _program_ir(self, d: IrqData, cfg: RteConfig) -> None:
        """A remappable-format entry (VT-d 5.1.5.1): the IRTE index from the IR domain's
        message, the pin as vector; written masked, high dword first."""
        assert d.parent is not None
        addr, _ = d.parent.chip.irq_compose_msi_msg(d.parent)
        f = MSI_ADDRESS_REMAPPABLE.decode(addr)
        index = f["handle_15"] << 15 | f["handle"]
        rte = remappable_rte(index, d.hwirq, cfg.level, cfg.active_low, True)
        k, base, pin = self.k, self.info.base, d.hwirq
        k.trace_sw("OS", "IOAPIC0", f"Program RTE {pin} (remappable): IRTE index {index}, "
                                    f"{'level' if cfg.level else 'edge'}, masked")
        ioapic_write(k, base, 0x11 + 2 * pin, rte >> 32)
        ioapic_write(k, base, 0x10 + 2 * pin, rte & 0xFFFFFFFF)
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
        return ((cfg.level and (self.k.directed_eoi or self.ir))
                or cfg.pending_move is not None or super().needs_eoi(d))

    def irq_eoi(self, d: IrqData) -> None:
        """Directed EOI for a level line, then a deferred move, then the parent's."""
        cfg: RteConfig = d.chip_data
        if cfg.level and self.ir:
            if self.info.version >= 0x20:
                ioapic_eoi(self.k, self.info, d.hwirq)      # the RTE's vector is the pin
            else:
                low = ioapic_read(self.k, self.info.base, 0x10 + 2 * d.hwirq)
                self._eoi_pin(d.hwirq, low)
                ioapic_write(self.k, self.info.base, 0x10 + 2 * d.hwirq, low)
        elif cfg.level and self.k.directed_eoi:
            ioapic_eoi(self.k, self.info, self.k.irqs[d.irq].vector)
        if cfg.pending_move is not None:
            cpus, cfg.pending_move = cfg.pending_move, None
            self._move(d, cpus, after_eoi=True)
        super().irq_eoi(d)

    def irq_set_affinity(self, d: IrqData, cpus: list[int]) -> bool:
        """Rewrite the RTE now, or at the in-service interrupt's EOI (Remote IRR set); under
        remapping the IR domain rewrites the IRTE and the entry stays."""
        if self.ir:
            assert d.parent is not None
            return d.parent.chip.irq_set_affinity(d.parent, cpus)
        return self._move(d, cpus)

    def _move(self, d: IrqData, cpus: list[int], after_eoi: bool = False) -> bool:
        """Mask the entry; if a level interrupt is in service (Remote IRR, read with the
        entry masked so no new one can start) defer to its EOI, or, at that EOI
        (``after_eoi``), end it at the pin; then write destination and vector and restore
        the mask."""
        assert d.parent is not None
        k, base, pin = self.k, self.info.base, d.hwirq
        cfg: RteConfig = d.chip_data
        low = ioapic_read(k, base, 0x10 + 2 * pin)
        if not low & RTE_MASK:
            ioapic_write(k, base, 0x10 + 2 * pin, low | RTE_MASK)
            low = ioapic_read(k, base, 0x10 + 2 * pin)
        if cfg.level and not after_eoi and low & RTE_REMOTE_IRR:
            if not cfg.masked:
                ioapic_write(k, base, 0x10 + 2 * pin, low & ~RTE_MASK)
            cfg.pending_move = list(cpus)
            self.deferred_moves += 1
            k.irq.update_eoi(k.irqs[d.irq])
            return False
        if not d.parent.chip.irq_set_affinity(d.parent, cpus):
            if not cfg.masked:
                ioapic_write(k, base, 0x10 + 2 * pin, low & ~RTE_MASK)
            return False
        desc = k.irqs[d.irq]
        k.trace_sw("OS", "IOAPIC0", f"Move RTE {pin}: vector {desc.vector:#x}, APIC ID "
                                    f"{k.apic_ids[desc.cpu]} (masked while rewritten)")
        if after_eoi and low & RTE_REMOTE_IRR:
            self._eoi_pin(pin, low)
        ioapic_write(k, base, 0x11 + 2 * pin, (k.apic_ids[desc.cpu] & 0xFF) << 24)
        low = (low & ~0xFF) | desc.vector | RTE_MASK
        ioapic_write(k, base, 0x10 + 2 * pin, low)
        if not cfg.masked:
            ioapic_write(k, base, 0x10 + 2 * pin, low & ~RTE_MASK)
        return True

    def _eoi_pin(self, pin: int, low: int) -> None:
        """eoi_ioapic_pin: clear Remote IRR of ``pin`` whose entry reads ``low``."""
        k, base = self.k, self.info.base
        if self.info.version >= 0x20:
            ioapic_eoi(k, self.info, low & 0xFF)
            return
        edge = (low | RTE_MASK) & ~RTE_LEVEL
        ioapic_write(k, base, 0x10 + 2 * pin, edge)
        ioapic_write(k, base, 0x10 + 2 * pin, edge | RTE_LEVEL)
