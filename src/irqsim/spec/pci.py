"""PCI configuration space declarations (PCI Local Bus 3.0 ch. 6, PCI-to-PCI Bridge 1.2
ch. 3, PCIe Base 7.5.1 and 7.7.1-7.7.2): type 0/1 headers, capability IDs, MSI and MSI-X.

Offsets of capability registers are relative to the capability's start.
"""

from __future__ import annotations

from typing import Final

from irqsim.spec.regs import RO, RSVD, RW, RW1C, F, Register

# TLP header sizes (PCIe Base 2.2.1): every Message request (INTx included, 2.2.8) has a 4-DW
# header; a memory request below 4 GiB must use the 3-DW header (2.2.4.1).
TLP_HEADER_3DW: Final = 12
TLP_HEADER_4DW: Final = 16

CONFIG_SPACE_SIZE = 4096
PCI_CONFIG_SIZE = 256
BAR0 = 0x10                             # Base Address Registers: BAR n at 0x10 + 4n
BAR_COUNT = 6                           # type 0 (type 1 has BAR0-1)

# Capability IDs (PCI Code and ID Assignment spec)
CAP_ID_PM = 0x01
CAP_ID_MSI = 0x05
CAP_ID_VENDOR = 0x09
CAP_ID_EXP = 0x10
CAP_ID_MSIX = 0x11

VENDOR_ID = Register("Vendor ID", 0x00, 2, (F("vendor", (15, 0), RO),))
DEVICE_ID = Register("Device ID", 0x02, 2, (F("device", (15, 0), RO),))
COMMAND = Register("Command", 0x04, 2, (
    F("io_space", 0, RW, "I/O Space Enable"),
    F("memory_space", 1, RW, "Memory Space Enable"),
    F("bus_master", 2, RW, "Bus Master Enable"),
    F("special_cycles", 3, RO),
    F("mwi", 4, RO),
    F("vga_snoop", 5, RO),
    F("parity_error_response", 6, RW),
    F("idsel_stepping", 7, RO),
    F("serr", 8, RW, "SERR# Enable"),
    F("fast_b2b", 9, RO),
    F("interrupt_disable", 10, RW, "Interrupt Disable: the function may not assert INTx"),
    F("reserved", (15, 11), RSVD),
))
STATUS = Register("Status", 0x06, 2, (
    F("immediate_readiness", 0, RO),
    F("interrupt_status", 3, RO, "INTx pending in the function, regardless of Interrupt Disable"),
    F("capabilities_list", 4, RO),
    F("mhz66", 5, RO),
    F("udf", 6, RO, "User Definable Features (PCI 2.1; reserved since 2.2)"),
    F("fast_b2b", 7, RO),
    F("master_data_parity_error", 8, RW1C),
    F("devsel_timing", (10, 9), RO),
    F("signaled_target_abort", 11, RW1C),
    F("received_target_abort", 12, RW1C),
    F("received_master_abort", 13, RW1C),
    F("signaled_system_error", 14, RW1C),
    F("detected_parity_error", 15, RW1C),
))
REVISION_ID = Register("Revision ID", 0x08, 1, (F("revision", (7, 0), RO),))
CLASS_CODE = Register("Class Code", 0x09, 3, (
    F("prog_if", (7, 0), RO), F("subclass", (15, 8), RO), F("base_class", (23, 16), RO)))
CACHE_LINE_SIZE = Register("Cache Line Size", 0x0C, 1, (F("cls", (7, 0), RW),))
LATENCY_TIMER = Register("Latency Timer", 0x0D, 1, (F("latency", (7, 0), RO),))
HEADER_TYPE = Register("Header Type", 0x0E, 1, (
    F("layout", (6, 0), RO), F("multi_function", 7, RO)))
BIST = Register("BIST", 0x0F, 1, (F("bist", (7, 0), RO),))
CARDBUS_CIS = Register("CardBus CIS Pointer", 0x28, 4, (F("cis", (31, 0), RO),))
SUBSYSTEM_VENDOR_ID = Register("Subsystem Vendor ID", 0x2C, 2, (F("svid", (15, 0), RO),))
SUBSYSTEM_ID = Register("Subsystem ID", 0x2E, 2, (F("sid", (15, 0), RO),))
EXPANSION_ROM = Register("Expansion ROM Base Address", 0x30, 4, (F("rom", (31, 0), RO),))
CAPABILITIES_POINTER = Register("Capabilities Pointer", 0x34, 1, (F("ptr", (7, 0), RO),))
INTERRUPT_LINE = Register("Interrupt Line", 0x3C, 1, (
    F("line", (7, 0), RW, "software scratch: no hardware effect"),))
INTERRUPT_PIN = Register("Interrupt Pin", 0x3D, 1, (
    F("pin", (7, 0), RO, "0 none, 1-4 INTA#-INTD#"),))
MIN_GNT = Register("Min_Gnt", 0x3E, 1, (F("min_gnt", (7, 0), RO),))
MAX_LAT = Register("Max_Lat", 0x3F, 1, (F("max_lat", (7, 0), RO),))

TYPE0_HEADER: tuple[Register, ...] = (
    VENDOR_ID, DEVICE_ID, COMMAND, STATUS, REVISION_ID, CLASS_CODE, CACHE_LINE_SIZE,
    LATENCY_TIMER, HEADER_TYPE, BIST, CARDBUS_CIS, SUBSYSTEM_VENDOR_ID, SUBSYSTEM_ID,
    EXPANSION_ROM, CAPABILITIES_POINTER, INTERRUPT_LINE, INTERRUPT_PIN, MIN_GNT, MAX_LAT,
)

# Type 1 (PCI-to-PCI bridge) header, PCI-to-PCI Bridge spec 1.2 ch. 3
PRIMARY_BUS = Register("Primary Bus Number", 0x18, 1, (F("bus", (7, 0), RW),))
SECONDARY_BUS = Register("Secondary Bus Number", 0x19, 1, (F("bus", (7, 0), RW),))
SUBORDINATE_BUS = Register("Subordinate Bus Number", 0x1A, 1, (F("bus", (7, 0), RW),))
SECONDARY_LATENCY = Register("Secondary Latency Timer", 0x1B, 1, (F("lat", (7, 0), RO),))
IO_BASE = Register("I/O Base", 0x1C, 1, (F("base", (7, 0), RO),))
IO_LIMIT = Register("I/O Limit", 0x1D, 1, (F("limit", (7, 0), RO),))
SECONDARY_STATUS = Register("Secondary Status", 0x1E, 2, (
    F("mhz66", 5, RO, "66 MHz Capable (PCI); hardwired 0 in PCIe"),
    F("fast_b2b", 7, RO, "Fast Back-to-Back Transactions Capable (PCI); hardwired 0 in PCIe"),
    F("master_data_parity_error", 8, RW1C),
    F("devsel_timing", (10, 9), RO, "DEVSEL timing (PCI); hardwired 0 in PCIe"),
    F("signaled_target_abort", 11, RW1C),
    F("received_target_abort", 12, RW1C),
    F("received_master_abort", 13, RW1C),
    F("received_system_error", 14, RW1C),
    F("detected_parity_error", 15, RW1C),
), doc="PCI-to-PCI Bridge 1.2 3.2.5.7; PCIe Base 7.5.1.3.7 (the same RW1C bits: 0xF900)")
MEMORY_BASE = Register("Memory Base", 0x20, 2, (
    F("base", (15, 4), RW, "address bits 31:20"), F("type", (3, 0), RO)))
MEMORY_LIMIT = Register("Memory Limit", 0x22, 2, (
    F("limit", (15, 4), RW, "address bits 31:20"), F("type", (3, 0), RO)))
PREF_MEMORY_BASE = Register("Prefetchable Memory Base", 0x24, 2, (
    F("base", (15, 4), RW), F("type", (3, 0), RO)))
PREF_MEMORY_LIMIT = Register("Prefetchable Memory Limit", 0x26, 2, (
    F("limit", (15, 4), RW), F("type", (3, 0), RO)))
PREF_BASE_UPPER = Register("Prefetchable Base Upper 32 Bits", 0x28, 4, (F("base", (31, 0), RW),))
PREF_LIMIT_UPPER = Register("Prefetchable Limit Upper 32 Bits", 0x2C, 4, (
    F("limit", (31, 0), RW),))
BRIDGE_CONTROL = Register("Bridge Control", 0x3E, 2, (
    F("parity_error_response", 0, RW),
    F("serr", 1, RW, "SERR# Enable"),
    F("isa", 2, RW, "ISA Enable"),
    F("vga", 3, RW, "VGA Enable"),
    F("vga16", 4, RW, "VGA 16-bit Decode"),
    F("master_abort_mode", 5, RO, "PCI only; hardwired 0 in PCIe"),
    F("secondary_bus_reset", 6, RW),
    F("fast_b2b", 7, RO, "Fast Back-to-Back Enable (PCI only); hardwired 0 in PCIe"),
    F("primary_discard_timeout", 8, RO, "PCI only; hardwired 0 in PCIe"),
    F("secondary_discard_timeout", 9, RO, "PCI only; hardwired 0 in PCIe"),
    F("discard_timer_status", 10, RO, "PCI only (RW1C there); hardwired 0 in PCIe"),
    F("discard_timer_serr", 11, RO, "PCI only; hardwired 0 in PCIe"),
), doc="PCIe Base 7.5.1.3.13: irqsim's bridges are PCIe ports, so the PCI-only bits "
       "(PCI-to-PCI Bridge 1.2 3.2.5.18: RW mask 0xBFF, W1C 0x400) are read-only zero")
CB_BRIDGE_CONTROL = Register("CardBus Bridge Control", 0x3E, 2, (
    F("parity", 0, RW), F("serr", 1, RW), F("isa", 2, RW), F("vga", 3, RW),
    F("master_abort", 5, RW), F("reset", 6, RW), F("int16", 7, RW),
    F("prefetch0", 8, RW), F("prefetch1", 9, RW), F("post_writes", 10, RW)),
    doc="PC Card 16-bit / CardBus bridge (header type 2), decoded by lspci only")

TYPE1_HEADER: tuple[Register, ...] = (
    VENDOR_ID, DEVICE_ID, COMMAND, STATUS, REVISION_ID, CLASS_CODE, CACHE_LINE_SIZE,
    LATENCY_TIMER, HEADER_TYPE, BIST, PRIMARY_BUS, SECONDARY_BUS, SUBORDINATE_BUS,
    SECONDARY_LATENCY, IO_BASE, IO_LIMIT, SECONDARY_STATUS, MEMORY_BASE, MEMORY_LIMIT,
    PREF_MEMORY_BASE, PREF_MEMORY_LIMIT, PREF_BASE_UPPER, PREF_LIMIT_UPPER, CAPABILITIES_POINTER,
    INTERRUPT_LINE, INTERRUPT_PIN, BRIDGE_CONTROL,
)

CMD_IO_SPACE: Final = COMMAND.mask("io_space")
CMD_MEMORY_SPACE: Final = COMMAND.mask("memory_space")
CMD_BUS_MASTER: Final = COMMAND.mask("bus_master")
CMD_INTX_DISABLE: Final = COMMAND.mask("interrupt_disable")
STATUS_INTERRUPT: Final = STATUS.mask("interrupt_status")
STATUS_CAP_LIST = STATUS.mask("capabilities_list")


# -- MSI capability (ID 05h), PCI 3.0 6.8.1 / PCIe 7.7.1 --------------------------------
MSI_MESSAGE_CONTROL = Register("MSI Message Control", 0x02, 2, (
    F("enable", 0, RW, "MSI Enable"),
    F("multiple_message_capable", (3, 1), RO, "log2 of the vectors the function can use"),
    F("multiple_message_enable", (6, 4), RW, "log2 of the vectors software allocated"),
    F("addr64", 7, RO, "64-bit Address Capable"),
    F("per_vector_masking", 8, RO, "Per-Vector Masking Capable"),
    F("reserved", (15, 9), RSVD),
))
MSI_CTRL_ENABLE = MSI_MESSAGE_CONTROL.mask("enable")
MSI_CTRL_MME = MSI_MESSAGE_CONTROL.mask("multiple_message_enable")
MSI_CTRL_MME_SHIFT = MSI_MESSAGE_CONTROL.field("multiple_message_enable").lsb
MSI_CTRL_MMC_SHIFT = MSI_MESSAGE_CONTROL.field("multiple_message_capable").lsb
MSI_CTRL_ADDR64 = MSI_MESSAGE_CONTROL.mask("addr64")
MSI_CTRL_PVM = MSI_MESSAGE_CONTROL.mask("per_vector_masking")


MSI_MESSAGE_ADDRESS = Register("MSI Message Address", 0x04, 4, (
    F("zero", (1, 0), RO, "DWORD aligned"), F("address", (31, 2), RW)))
MSI_MESSAGE_UPPER_ADDRESS = Register("MSI Message Upper Address", 0x08, 4, (
    F("address", (31, 0), RW),))


def msi_layout(addr64: bool, per_vector_masking: bool, mmc: int) -> tuple[Register, ...]:
    """The registers of one MSI capability layout (offsets from the capability start)."""
    regs = [MSI_MESSAGE_CONTROL, MSI_MESSAGE_ADDRESS]
    off = 0x08
    if addr64:
        regs.append(MSI_MESSAGE_UPPER_ADDRESS)
        off = 0x0C
    regs.append(Register("MSI Message Data", off, 2, (F("data", (15, 0), RW),)))
    if per_vector_masking:
        n = 1 << mmc
        mask_fields = [F("mask", (n - 1, 0), RW, "1 = message masked")]
        pend_fields = [F("pending", (n - 1, 0), RO, "1 = message pending while masked")]
        if n < 32:
            mask_fields.append(F("reserved", (31, n), RSVD))
            pend_fields.append(F("reserved", (31, n), RSVD))
        regs.append(Register("MSI Mask Bits", off + 4, 4, tuple(mask_fields)))
        regs.append(Register("MSI Pending Bits", off + 8, 4, tuple(pend_fields)))
    return tuple(regs)


def msi_cap_size(addr64: bool, per_vector_masking: bool) -> int:
    """Bytes the layout occupies (semantics.md C.1 table)."""
    return {(False, False): 0x0A, (True, False): 0x0E, (False, True): 0x14,
            (True, True): 0x18}[(addr64, per_vector_masking)]


# -- MSI-X capability (ID 11h), PCI 3.0 6.8.2 / PCIe 7.7.2 ------------------------------
MSIX_MESSAGE_CONTROL = Register("MSI-X Message Control", 0x02, 2, (
    F("table_size", (10, 0), RO, "N-1"),
    F("reserved", (13, 11), RSVD),
    F("function_mask", 14, RW),
    F("enable", 15, RW),
))
MSIX_TABLE_OFFSET = Register("MSI-X Table Offset/Table BIR", 0x04, 4, (
    F("bir", (2, 0), RO), F("offset", (31, 3), RO, "QWORD-aligned offset")))
MSIX_PBA_OFFSET = Register("MSI-X PBA Offset/PBA BIR", 0x08, 4, (
    F("bir", (2, 0), RO), F("offset", (31, 3), RO)))
MSIX_CAP_SIZE = 12

# Table entry (16 bytes), PCIe Base 7.7.2.x
MSIX_ENTRY_ADDR_LO = Register("Message Address", 0x0, 4, (
    F("zero", (1, 0), RO, "DWORD aligned"), F("address", (31, 2), RW)))
MSIX_ENTRY_ADDR_HI = Register("Message Upper Address", 0x4, 4, (F("address", (31, 0), RW),))
MSIX_ENTRY_DATA = Register("Message Data", 0x8, 4, (F("data", (31, 0), RW),))
MSIX_ENTRY_CTRL = Register("Vector Control", 0xC, 4, (
    F("mask", 0, RW), F("reserved", (31, 1), RSVD)), reset=1)
MSIX_ENTRY = (MSIX_ENTRY_ADDR_LO, MSIX_ENTRY_ADDR_HI, MSIX_ENTRY_DATA, MSIX_ENTRY_CTRL)
MSIX_ENTRY_SIZE: Final = 16
MSIX_CTRL_ENABLE: Final = MSIX_MESSAGE_CONTROL.mask("enable")
MSIX_CTRL_FUNCTION_MASK: Final = MSIX_MESSAGE_CONTROL.mask("function_mask")
MSIX_VECTOR_MASKED: Final = MSIX_ENTRY_CTRL.mask("mask")
