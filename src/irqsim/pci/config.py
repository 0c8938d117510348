"""PCI configuration space: 4 KiB per function, access rules per byte.

The header registers are declared once (PCI Local Bus 3.0 ch. 6, PCIe Base
7.5.1); write and write-1-to-clear masks derive from the declarations, as in
QEMU's ``PCIDevice`` (config, wmask, w1cmask).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from irqsim.regs import RO, RSVD, RW, RW1C, F, Register

CONFIG_SPACE_SIZE = 4096
PCI_CONFIG_SIZE = 256

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
    F("received_master_abort", 13, RW1C), F("received_target_abort", 12, RW1C)))
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
    F("parity_error_response", 0, RW), F("serr", 1, RW), F("isa", 2, RW), F("vga", 3, RW),
    F("master_abort_mode", 5, RW), F("secondary_bus_reset", 6, RW)))

TYPE1_HEADER: tuple[Register, ...] = (
    VENDOR_ID, DEVICE_ID, COMMAND, STATUS, REVISION_ID, CLASS_CODE, CACHE_LINE_SIZE,
    LATENCY_TIMER, HEADER_TYPE, BIST, PRIMARY_BUS, SECONDARY_BUS, SUBORDINATE_BUS,
    SECONDARY_LATENCY, IO_BASE, IO_LIMIT, SECONDARY_STATUS, MEMORY_BASE, MEMORY_LIMIT,
    PREF_MEMORY_BASE, PREF_MEMORY_LIMIT, PREF_BASE_UPPER, PREF_LIMIT_UPPER, CAPABILITIES_POINTER,
    INTERRUPT_LINE, INTERRUPT_PIN, BRIDGE_CONTROL,
)

CMD_MEMORY_SPACE = 1 << 1
CMD_BUS_MASTER = 1 << 2
CMD_INTX_DISABLE = 1 << 10
STATUS_INTERRUPT = 1 << 3
STATUS_CAP_LIST = 1 << 4


@dataclass(frozen=True, slots=True)
class BarSpec:
    """A memory BAR: ``index`` 0-5, power-of-two ``size`` >= 16, 32- or 64-bit."""

    index: int
    size: int
    is64: bool = False
    prefetchable: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.index <= 5 or (self.is64 and self.index == 5):
            raise ValueError(f"BAR index {self.index} invalid (64-bit BARs need index 0-4)")
        if self.size < 16 or self.size & (self.size - 1):
            raise ValueError(f"BAR{self.index} size {self.size:#x} is not a power of two >= 16")

    @property
    def type_bits(self) -> int:
        return (0b100 if self.is64 else 0) | (0b1000 if self.prefetchable else 0)


WriteHook = Callable[[int, int, bytes], None]


class ConfigSpace:
    """4 KiB of configuration bytes with per-byte write and W1C masks."""

    __slots__ = ("_last_cap", "data", "hook", "w1cmask", "wmask")

    def __init__(self, size: int = CONFIG_SPACE_SIZE) -> None:
        self.data = bytearray(size)
        self.wmask = bytearray(size)
        self.w1cmask = bytearray(size)
        self.hook: WriteHook | None = None
        self._last_cap = 0

    # -- declaration ---------------------------------------------------
    def declare(self, reg: Register, base: int = 0, reset: int | None = None) -> None:
        """Install ``reg`` at ``base + reg.offset`` with its masks and reset value."""
        off = base + reg.offset
        n = reg.size
        self.data[off:off + n] = (reg.reset if reset is None else reset).to_bytes(n, "little")
        self.wmask[off:off + n] = reg.wmask.to_bytes(n, "little")
        self.w1cmask[off:off + n] = reg.w1cmask.to_bytes(n, "little")

    def set_masks(self, offset: int, size: int, wmask: int, w1cmask: int = 0) -> None:
        self.wmask[offset:offset + size] = wmask.to_bytes(size, "little")
        self.w1cmask[offset:offset + size] = w1cmask.to_bytes(size, "little")

    def add_capability(self, cap_id: int, offset: int, size: int) -> None:
        """Link a capability at ``offset`` into the list that starts at 0x34."""
        if offset < 0x40 or offset & 3 or offset + size > PCI_CONFIG_SIZE:
            raise ValueError(f"capability {cap_id:#04x} at {offset:#x}: not a dword-aligned "
                             "offset in 0x40-0xFF")
        self.data[offset] = cap_id
        self.data[offset + 1] = 0
        if self._last_cap:
            self.data[self._last_cap + 1] = offset
        else:
            self.data[0x34] = offset
            self.data[0x06] |= STATUS_CAP_LIST
        self._last_cap = offset

    def bar(self, spec: BarSpec) -> None:
        """Declare a memory BAR: address bits above the size are writable."""
        off = 0x10 + 4 * spec.index
        self.hw_write(off, 4, spec.type_bits)
        self.set_masks(off, 4, ~(spec.size - 1) & 0xFFFFFFF0)
        if spec.is64:
            self.hw_write(off + 4, 4, 0)
            self.set_masks(off + 4, 4, 0xFFFFFFFF & ~((spec.size - 1) >> 32))

    # -- access --------------------------------------------------------
    def read(self, offset: int, size: int) -> int:
        """Read ``size`` (1, 2 or 4) bytes little-endian."""
        return int.from_bytes(self.data[offset:offset + size], "little")

    def write(self, offset: int, size: int, value: int) -> None:
        """Software write: masks applied, then the function's hook sees old bytes."""
        data, wm, w1c = self.data, self.wmask, self.w1cmask
        old = bytes(data[offset:offset + size])
        for i in range(size):
            b = (value >> (8 * i)) & 0xFF
            j = offset + i
            data[j] = ((data[j] & ~wm[j]) | (b & wm[j])) & ~(b & w1c[j]) & 0xFF
        if self.hook is not None:
            self.hook(offset, size, old)

    def hw_write(self, offset: int, size: int, value: int) -> None:
        """Hardware-side update that ignores software access rules."""
        self.data[offset:offset + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(
            size, "little")

    def capabilities(self) -> list[tuple[int, int]]:
        """(offset, id) of each capability, following next pointers (loop-safe)."""
        out: list[tuple[int, int]] = []
        if not self.data[0x06] & STATUS_CAP_LIST:
            return out
        ptr = self.data[0x34] & 0xFC
        seen: set[int] = set()
        while ptr and ptr not in seen and ptr + 1 < PCI_CONFIG_SIZE:
            seen.add(ptr)
            out.append((ptr, self.data[ptr]))
            ptr = self.data[ptr + 1] & 0xFC
        return out

    def find_capability(self, cap_id: int) -> int | None:
        for off, cid in self.capabilities():
            if cid == cap_id:
                return off
        return None


def install_header(cs: ConfigSpace, regs: tuple[Register, ...]) -> None:
    """Declare every register of a header layout."""
    for reg in regs:
        cs.declare(reg)
