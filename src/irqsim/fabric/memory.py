"""System memory: sparse 4 KiB pages, little-endian accesses."""

from __future__ import annotations

from collections.abc import Callable

from irqsim.sim.compiled import mypyc_attr

PAGE = 4096


# Compiled (bench/build_compiled.py), it stays subclassable by interpreted code: the guest
# front-end's GuestRam (guest/memory.py) is one.
@mypyc_attr(allow_interpreted_subclasses=True)
class SystemMemory:
    """RAM below ``size``; pages are allocated on first write."""

    __slots__ = ("_pages", "size", "watchers")

    def __init__(self, size: int = 2 << 30) -> None:
        self.size = size
        self._pages: dict[int, bytearray] = {}
        # page -> callbacks run before a read of that page: a device whose DMA writes are
        # computed lazily (batched packet arrivals) brings the page up to date first.
        self.watchers: dict[int, list[tuple[int, int, Callable[[], None]]]] = {}

    def watch(self, addr: int, size: int, fn: Callable[[], None]) -> None:
        """Run ``fn()`` before every read that overlaps ``[addr, addr + size)`` (within one
        page)."""
        self.watchers.setdefault(addr >> 12, []).append((addr, addr + size, fn))

    def contains(self, addr: int) -> bool:
        return 0 <= addr < self.size

    def write_bytes(self, addr: int, data: bytes) -> None:
        i = 0
        n = len(data)
        while i < n:
            page = self._pages.get((addr + i) >> 12)
            if page is None:
                page = self._pages[(addr + i) >> 12] = bytearray(PAGE)
            off = (addr + i) & (PAGE - 1)
            k = min(PAGE - off, n - i)
            page[off:off + k] = data[i:i + k]
            i += k

    def read_bytes(self, addr: int, n: int) -> bytes:
        if self.watchers:
            end = addr + n
            for pno in range(addr >> 12, ((end - 1) >> 12) + 1):
                for lo, hi, fn in self.watchers.get(pno, ()):
                    if lo < end and addr < hi:
                        fn()
        out = bytearray()
        i = 0
        while i < n:
            off = (addr + i) & (PAGE - 1)
            k = min(PAGE - off, n - i)
            page = self._pages.get((addr + i) >> 12)
            out += page[off:off + k] if page is not None else bytes(k)
            i += k
        return bytes(out)

    def write(self, addr: int, size: int, value: int) -> None:
        data = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
        off = addr & (PAGE - 1)
        page = self._pages.get(addr >> 12)
        if page is not None and off + size <= PAGE:     # within an allocated page
            page[off:off + size] = data
        else:
            self.write_bytes(addr, data)

    def read(self, addr: int, size: int) -> int:
        off = addr & (PAGE - 1)
        if off + size > PAGE or size <= 0:              # across pages: the general path
            return int.from_bytes(self.read_bytes(addr, size), "little")
        pno = addr >> 12
        if self.watchers:
            for lo, hi, fn in self.watchers.get(pno, ()):
                if lo < addr + size and addr < hi:
                    fn()
        page = self._pages.get(pno)                     # after the watchers: they may write
        return int.from_bytes(page[off:off + size], "little") if page is not None else 0

    def pages_in(self, addr: int, size: int) -> list[int]:
        """Addresses of the allocated (ever written) pages overlapping [addr, addr+size)."""
        lo, hi = addr >> 12, (addr + size - 1) >> 12
        return sorted(p << 12 for p in self._pages if lo <= p <= hi)
