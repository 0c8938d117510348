"""MSI address and data formats for x86 (Intel SDM vol. 3, 11.11.1 and 11.11.2)."""

from __future__ import annotations

from irqsim.regs import RO, RSVD, RW, F, Register

MSI_ADDRESS = Register("MSI Message Address", 0, 4, (
    F("xx", (1, 0), RO),
    F("destination_mode", 2, RW, "DM: 0 physical, 1 logical"),
    F("redirection_hint", 3, RW, "RH: 1 = lowest-priority redirection among destinations"),
    F("reserved", (11, 4), RSVD, "interrupt-format/handle bits under VT-d remapping"),
    F("destination_id", (19, 12), RW),
    F("fee", (31, 20), RO, "0xFEE"),
), reset=0xFEE00000)

MSI_DATA = Register("MSI Message Data", 0, 4, (
    F("vector", (7, 0), RW),
    F("delivery_mode", (10, 8), RW, "000 fixed, 001 lowest priority, 010 SMI, 100 NMI, "
                                    "101 INIT, 111 ExtINT"),
    F("reserved", (13, 11), RSVD),
    F("level", 14, RW, "for level-triggered: 1 assert, 0 deassert"),
    F("trigger_mode", 15, RW, "0 edge, 1 level"),
    F("reserved_hi", (31, 16), RSVD),
))

DM_FIXED, DM_LOWEST, DM_SMI, DM_NMI, DM_INIT, DM_STARTUP, DM_EXTINT = 0, 1, 2, 4, 5, 6, 7
DELIVERY_MODE_NAMES = {0: "Fixed", 1: "LowestPrio", 2: "SMI", 4: "NMI", 5: "INIT",
                       6: "StartUp", 7: "ExtINT"}
MSI_WINDOW = 0xFEE


def msi_address(dest: int, logical: bool = False, redirection_hint: bool = False) -> int:
    """Compose a compatibility-format MSI address for xAPIC destination ``dest``."""
    return 0xFEE00000 | ((dest & 0xFF) << 12) | (int(redirection_hint) << 3) | (
        int(logical) << 2)


def msi_data(vector: int, delivery_mode: int = DM_FIXED, level_triggered: bool = False) -> int:
    """Compose MSI data (edge: level bit 0; level: assert)."""
    return (vector & 0xFF) | (delivery_mode << 8) | (int(level_triggered) << 15) | (
        int(level_triggered) << 14)


def decode(address: int, data: int) -> dict[str, int]:
    """Field view of an MSI message (for traces and views)."""
    return {**MSI_ADDRESS.decode(address & 0xFFFFFFFF), **MSI_DATA.decode(data)}
