"""PCI configuration space: 4 KiB per function, access rules per byte.

The header registers are declared once, in :mod:`irqsim.spec.pci`; write and
write-1-to-clear masks derive from the declarations, as in QEMU's ``PCIDevice``
(config, wmask, w1cmask).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from irqsim.spec.pci import (
    BAR0,
    CAPABILITIES_POINTER,
    CONFIG_SPACE_SIZE,
    PCI_CONFIG_SIZE,
    STATUS,
    STATUS_CAP_LIST,
)
from irqsim.spec.regs import Register


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
            self.data[CAPABILITIES_POINTER.offset] = offset
            self.data[STATUS.offset] |= STATUS_CAP_LIST
        self._last_cap = offset

    def bar(self, spec: BarSpec) -> None:
        """Declare a memory BAR: address bits above the size are writable."""
        off = BAR0 + 4 * spec.index
        self.hw_write(off, 4, spec.type_bits)
        self.set_masks(off, 4, ~(spec.size - 1) & 0xFFFFFFF0)
        if spec.is64:
            self.hw_write(off + 4, 4, 0)
            self.set_masks(off + 4, 4, 0xFFFFFFFF & ~((spec.size - 1) >> 32))

    # -- access --------------------------------------------------------
    def _check(self, offset: int, size: int) -> None:
        if size < 1 or offset < 0 or offset + size > len(self.data):
            raise ValueError(f"configuration access of {size} bytes at {offset:#x} is outside "
                             f"the {len(self.data)}-byte space (the root complex screens guest "
                             "accesses; this is a caller's error)")

    def read(self, offset: int, size: int) -> int:
        """Read ``size`` (1, 2 or 4) bytes little-endian; ValueError outside the space."""
        if offset + size > len(self.data) or offset < 0 or size < 1:
            self._check(offset, size)
        return int.from_bytes(self.data[offset:offset + size], "little")

    def write(self, offset: int, size: int, value: int) -> None:
        """Software write: masks applied, then the function's hook sees old bytes;
        ValueError outside the space."""
        data, wm, w1c = self.data, self.wmask, self.w1cmask
        if offset + size > len(data) or offset < 0 or size < 1:
            self._check(offset, size)
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
        if not self.data[STATUS.offset] & STATUS_CAP_LIST:
            return out
        ptr = self.data[CAPABILITIES_POINTER.offset] & 0xFC
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
