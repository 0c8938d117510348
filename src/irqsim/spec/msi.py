"""x86 MSI Message Address and Data (Intel SDM vol. 3, 11.11.1 and 11.11.2; VT-d 5.1.2).

The compatibility format is what devices, I/O APICs and the IOMMU's pass-through send and the
APIC bus decodes; the remappable format (address bit 4 set) is declared for the IOMMU's
interrupt remapping (reference/vtd-posted.md section 1). :func:`msi_address`,
:func:`msi_data` and :func:`decode` are the only encoders/decoders; the bit constants used on
the delivery hot path derive from the declarations here.
"""

from __future__ import annotations

from typing import Final

from irqsim.spec.modes import DeliveryMode
from irqsim.spec.regs import RO, RSVD, RW, F, Register

MSI_ADDRESS = Register("MSI Message Address", 0, 4, (
    F("xx", (1, 0), RO),
    F("destination_mode", 2, RW, "DM: 0 physical, 1 logical"),
    F("redirection_hint", 3, RW, "RH: 1 = lowest-priority redirection among destinations"),
    F("extended_destination", (11, 4), RSVD, "reserved; under VT-d the interrupt-format and "
                                             "handle bits (the I/O APIC's RTE bits 55:48 land "
                                             "here, semantics.md B.4)"),
    F("destination_id", (19, 12), RW),
    F("fee", (31, 20), RO, "0xFEE"),
), reset=0xFEE00000, doc="compatibility format; bits 63:32 (upper address) are 0 for xAPIC")

MSI_DATA = Register("MSI Message Data", 0, 4, (
    F("vector", (7, 0), RW),
    F("delivery_mode", (10, 8), RW, "000 fixed, 001 lowest priority, 010 SMI, 100 NMI, "
                                    "101 INIT, 111 ExtINT"),
    F("reserved", (13, 11), RSVD),
    F("level", 14, RW, "for level-triggered: 1 assert, 0 deassert"),
    F("trigger_mode", 15, RW, "0 edge, 1 level"),
    F("reserved_hi", (31, 16), RSVD),
))

# Remappable format (VT-d 5.1.2.2), declared for interrupt remapping; nothing encodes it yet.
MSI_ADDRESS_REMAPPABLE = Register("MSI Message Address (remappable)", 0, 4, (
    F("xx", (1, 0), RO, "ignored"),
    F("handle_15", 2, RW, "HANDLE[15]"),
    F("shv", 3, RW, "SubHandle Valid"),
    F("interrupt_format", 4, RW, "1 = remappable"),
    F("handle", (19, 5), RW, "HANDLE[14:0]"),
    F("fee", (31, 20), RO, "0xFEE"),
), reset=0xFEE00010)
MSI_DATA_REMAPPABLE = Register("MSI Message Data (remappable)", 0, 4, (
    F("subhandle", (15, 0), RW, "added to the handle when SHV = 1"),
    F("reserved", (31, 16), RSVD, "non-zero with SHV = 1 is fault 0x20"),
))

# Plain ints for the hot paths, derived from the DeliveryMode enum (spec/modes.py).
DM_FIXED: Final = int(DeliveryMode.FIXED)
DM_LOWEST: Final = int(DeliveryMode.LOWEST)
DM_SMI: Final = int(DeliveryMode.SMI)
DM_NMI: Final = int(DeliveryMode.NMI)
DM_INIT: Final = int(DeliveryMode.INIT)
DM_STARTUP: Final = int(DeliveryMode.STARTUP)
DM_EXTINT: Final = int(DeliveryMode.EXTINT)
DELIVERY_MODE_NAMES = {int(m): m.label for m in DeliveryMode}

# Derived bit constants (free at run time).
_FEE = MSI_ADDRESS.field("fee")
MSI_WINDOW: Final = _FEE.get(MSI_ADDRESS.reset)                 # 0xFEE: address bits 31:20
MSI_WINDOW_SHIFT: Final = _FEE.lsb
ADDR_LOGICAL: Final = MSI_ADDRESS.mask("destination_mode")
ADDR_REDIRECTION_HINT: Final = MSI_ADDRESS.mask("redirection_hint")
ADDR_REMAPPABLE: Final = MSI_ADDRESS_REMAPPABLE.mask("interrupt_format")
ADDR_DEST_SHIFT: Final = MSI_ADDRESS.field("destination_id").lsb
ADDR_DEST_MAX: Final = (1 << MSI_ADDRESS.field("destination_id").width) - 1     # 0xFF: broadcast
ADDR_EXT_DEST_SHIFT: Final = MSI_ADDRESS.field("extended_destination").lsb
DATA_VECTOR: Final = MSI_DATA.mask("vector")
DATA_MODE_SHIFT: Final = MSI_DATA.field("delivery_mode").lsb
DATA_MODE_BITS: Final = (1 << MSI_DATA.field("delivery_mode").width) - 1
DATA_LEVEL_ASSERT: Final = MSI_DATA.mask("level")
DATA_TRIGGER_LEVEL: Final = MSI_DATA.mask("trigger_mode")


def is_msi_address(address: int) -> bool:
    """A memory write to ``address`` lands in the 0xFEExxxxx interrupt window."""
    return address >> MSI_WINDOW_SHIFT == MSI_WINDOW


def msi_address(dest: int, logical: bool = False, redirection_hint: bool = False,
                ext_dest: int = 0) -> int:
    """Compose a compatibility-format MSI address for xAPIC destination ``dest``
    (``ext_dest``: bits 11:4, the I/O APIC's extended destination)."""
    return (MSI_ADDRESS.reset | (dest & ADDR_DEST_MAX) << ADDR_DEST_SHIFT
            | (ext_dest & 0xFF) << ADDR_EXT_DEST_SHIFT
            | (ADDR_REDIRECTION_HINT if redirection_hint else 0)
            | (ADDR_LOGICAL if logical else 0))


def msi_data(vector: int, delivery_mode: int = DM_FIXED, level_triggered: bool = False) -> int:
    """Compose MSI data (edge: level bit 0; level: assert)."""
    return ((vector & DATA_VECTOR) | (delivery_mode & DATA_MODE_BITS) << DATA_MODE_SHIFT
            | (DATA_TRIGGER_LEVEL | DATA_LEVEL_ASSERT if level_triggered else 0))


def decode(address: int, data: int) -> dict[str, int]:
    """Field view of an MSI message (for traces and views)."""
    return {**MSI_ADDRESS.decode(address & 0xFFFFFFFF), **MSI_DATA.decode(data)}
