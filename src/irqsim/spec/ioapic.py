"""I/O APIC registers (Intel 82093AA datasheet 3.0-3.2; semantics.md B).

Software reaches the I/O APIC through IOREGSEL (base+0x00, index of an internal register),
IOWIN (base+0x10, a 32-bit window on it) and, in version 0x20, the EOI register (base+0x40).
Internal registers: 0x00 ID, 0x01 version, 0x02 arbitration ID, 0x10+2n / 0x11+2n the low /
high dword of redirection table entry n.
"""

from __future__ import annotations

from irqsim.spec.regs import RO, RSVD, RW, F, Register

IOAPIC_DEFAULT_BASE = 0xFEC00000
IOAPIC_MMIO_SIZE = 0x1000
IOREGSEL = 0x00
IOWIN = 0x10
IOEOI = 0x40
IOAPIC_VERSION_EOI = 0x20               # the first version with the EOI register

IOAPICID = Register("IOAPICID", 0x00, 4, (
    F("reserved_lo", (23, 0), RSVD),
    F("id", (27, 24), RW, "I/O APIC ID"),
    F("reserved_hi", (31, 28), RSVD),
))
IOAPICVER = Register("IOAPICVER", 0x01, 4, (
    F("version", (7, 0), RO, "0x11 (82093AA) or 0x20 (with the EOI register)"),
    F("max_redirection_entry", (23, 16), RO, "number of pins - 1"),
))
IOAPICARB = Register("IOAPICARB", 0x02, 4, (F("arbitration_id", (27, 24), RO),))
IOREDTBL = Register("IOREDTBL", 0x10, 8, (
    F("vector", (7, 0), RW),
    F("delivery_mode", (10, 8), RW, "000 fixed, 001 lowest priority, 010 SMI, 100 NMI, "
                                    "101 INIT, 111 ExtINT; 011 and 110 reserved"),
    F("destination_mode", 11, RW, "0 physical, 1 logical"),
    F("delivery_status", 12, RO, "1 while the message is being sent"),
    F("polarity", 13, RW, "0 active high, 1 active low"),
    F("remote_irr", 14, RO, "level: set on delivery, cleared by EOI"),
    F("trigger_mode", 15, RW, "0 edge, 1 level"),
    F("mask", 16, RW),
    F("reserved", (47, 17), RSVD),
    F("extended_destination", (55, 48), RW, "passed to address bits 11:4 (VT-d remappable "
                                            "format bits, semantics.md B.4)"),
    F("destination", (63, 56), RW, "APIC ID (physical) or logical MDA"),
), reset=0x10000)
REGISTERS = (IOAPICID, IOAPICVER, IOAPICARB, IOREDTBL)

# Derived constants (free at run time).
REG_ID, REG_VERSION, REG_ARBITRATION, REG_REDTBL = (r.offset for r in REGISTERS)
RTE_RESET = IOREDTBL.reset
RTE_WMASK = IOREDTBL.wmask
RTE_RESERVED = IOREDTBL.reserved_mask
RTE_VECTOR = IOREDTBL.mask("vector")
RTE_MODE_SHIFT = IOREDTBL.field("delivery_mode").lsb
RTE_LOGICAL = IOREDTBL.mask("destination_mode")
RTE_DELIVERY_STATUS = IOREDTBL.mask("delivery_status")
RTE_POLARITY = IOREDTBL.mask("polarity")           # 1 = active low
RTE_POLARITY_SHIFT = IOREDTBL.field("polarity").lsb
RTE_REMOTE_IRR = IOREDTBL.mask("remote_irr")
RTE_LEVEL = IOREDTBL.mask("trigger_mode")
RTE_MASKED = IOREDTBL.mask("mask")
RTE_DEST_SHIFT = IOREDTBL.field("destination").lsb
RTE_EXT_DEST_SHIFT = IOREDTBL.field("extended_destination").lsb
RESERVED_DELIVERY_MODES = (3, 6)


def rte_index(pin: int, high: bool = False) -> int:
    """IOREGSEL index of redirection entry ``pin``'s low (or high) dword."""
    return REG_REDTBL + 2 * pin + int(high)

# The remappable-format redirection entry (VT-d 5.1.5.1; reference/vtd-posted.md 4): with
# interrupt remapping the OS writes the IRTE index here; the I/O APIC sends the bits as it
# always does (bit 48 lands in address bit 4, the interrupt-format bit).
IOREDTBL_REMAPPABLE = Register("IOREDTBL (remappable)", 0x10, 8, (
    F("vector", (7, 0), RW, "matched by EOIs; Linux writes the pin number"),
    F("zero", (10, 8), RW, "000"),
    F("index_15", 11, RW, "INDEX[15]"),
    F("delivery_status", 12, RO),
    F("polarity", 13, RW),
    F("remote_irr", 14, RO),
    F("trigger_mode", 15, RW),
    F("mask", 16, RW),
    F("reserved", (47, 17), RSVD),
    F("format", 48, RW, "1 = remappable"),
    F("index", (63, 49), RW, "INDEX[14:0]"),
), reset=0x10000)


def remappable_rte(index: int, vector: int, level: bool, active_low: bool,
                   masked: bool) -> int:
    """A remappable-format entry for IRTE ``index`` (``vector``: what EOIs will name)."""
    return IOREDTBL_REMAPPABLE.encode(
        vector=vector, index_15=index >> 15 & 1, polarity=int(active_low),
        trigger_mode=int(level), mask=int(masked), format=1, index=index & 0x7FFF)
