"""Guest RAM: one host buffer that Unicorn maps as the guest's physical memory and that the
model's devices write into by DMA (it stands in for :class:`irqsim.fabric.memory.SystemMemory`,
so a TLP that lands in RAM is at once visible to the guest's next load)."""

from __future__ import annotations

import ctypes

from irqsim.fabric.memory import SystemMemory


class GuestRam(SystemMemory):
    """``size`` bytes of RAM at physical address 0, shared by every CPU's Unicorn."""

    __slots__ = ("buf", "ptr", "view")

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.buf = (ctypes.c_ubyte * size)()
        self.ptr = ctypes.addressof(self.buf)
        self.view = memoryview(self.buf).cast("B")

    def contains(self, addr: int) -> bool:
        return 0 <= addr < self.size

    def write_bytes(self, addr: int, data: bytes) -> None:
        self.view[addr:addr + len(data)] = data

    def read_bytes(self, addr: int, n: int) -> bytes:
        return bytes(self.view[addr:addr + n])

    def write(self, addr: int, size: int, value: int) -> None:
        self.view[addr:addr + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")

    def read(self, addr: int, size: int) -> int:
        return int.from_bytes(self.view[addr:addr + size], "little")
