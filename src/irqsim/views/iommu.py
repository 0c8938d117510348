"""What Linux shows of interrupt remapping: the debugfs ``ir_translation_struct`` table
(drivers/iommu/intel/debugfs.c, reference vtd-posted.md 9) and fault records in words
(drivers/iommu/intel/dmar.c dmar_fault_do_one)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from irqsim.spec.vtd import FAULT_TEXT, IRTE_SIZE

if TYPE_CHECKING:
    from irqsim.iommu.vtd import Iommu


def _sid(sid: int) -> str:
    return f"{sid >> 8 & 0xFF:02x}:{sid >> 3 & 0x1F:02x}.{sid & 7:01x}"


def ir_translation_struct(io: Iommu, name: str = "dmar0") -> str:
    """/sys/kernel/debug/iommu/intel/ir_translation_struct: present remapped entries, then
    present posted ones, each block in Linux's columns (entries read from memory)."""
    out = [f"Remapped Interrupt supported on IOMMU: {name}"]
    entries: list[tuple[int, int, int]] = []
    if io.remapping_enabled:
        mem = io.memory
        base, size = io.irt_base, IRTE_SIZE * io.irt_entries
        for page in mem.pages_in(base, size):          # never-written pages hold zeros
            for addr in range(max(page, base), min(page + 4096, base + size), IRTE_SIZE):
                raw = mem.read(addr, IRTE_SIZE)
                if raw & 1:
                    entries.append(((addr - base) // IRTE_SIZE, raw & (1 << 64) - 1,
                                    raw >> 64))
        out.append(f" IR table address:{io.irt_base:x}")
        out.append(" Entry SrcID   DstID    Vct IRTE_high\t\tIRTE_low")
        for idx, lo, hi in entries:
            if lo >> 15 & 1:
                continue
            out.append(f" {idx:<5d} {_sid(hi & 0xFFFF)} {lo >> 32:08x} {lo >> 16 & 0xFF:02x}  "
                       f"{hi:016x}\t{lo:016x}")
    else:
        out.append("Interrupt Remapping is not enabled")
    out += ["", "****", ""]
    if io.pi:
        out.append(f"Posted Interrupt supported on IOMMU: {name}")
        if io.remapping_enabled:
            out.append(f" IR table address:{io.irt_base:x}")
            out.append(" Entry SrcID   PDA_high PDA_low  Vct IRTE_high\t\tIRTE_low")
            for idx, lo, hi in entries:
                if not lo >> 15 & 1:
                    continue
                out.append(f" {idx:<5d} {_sid(hi & 0xFFFF)} {hi >> 32:08x} "
                           f"{(lo >> 38) << 6 & 0xFFFFFFFF:08x} {lo >> 16 & 0xFF:02x}  "
                           f"{hi:016x}\t{lo:016x}")
        else:
            out.append("Interrupt Remapping is not enabled")
        out.append("")
    return "\n".join(out)


def fault_lines(io: Iommu) -> list[str]:
    """The unit's valid fault records as Linux logs them: reason, source bus:dev.fn, index."""
    return [f"DMAR: [INTR-REMAP] Request device [{_sid(r['sid'])}] fault index "
            f"{r['index']:#x} [fault reason {r['reason']:#04x}] "
            f"{FAULT_TEXT.get(r['reason'], 'Unknown')}" for r in io.fault_records()]
