"""Per-CPU interrupt vector allocation (the role of Linux's irq matrix allocator).

Device vectors come from [first, last] (default 0x20-0xDF); vectors 0-31 are
exceptions and 0xE0-0xFF are system vectors (timer, IPIs, spurious). The same
vector number may be used on different CPUs.
"""

from __future__ import annotations

FIRST_DEVICE_VECTOR = 0x20
LAST_DEVICE_VECTOR = 0xDF
SYSTEM_VECTORS = {
    0xEC: "LOC", 0xF2: "POSTED_INTR", 0xF3: "POSTED_INTR_WAKEUP", 0xF7: "IRQ_WORK",
    0xFB: "CAL", 0xFC: "RES", 0xFD: "TLB", 0xFE: "ERR", 0xFF: "SPURIOUS",
}


class VectorSpaceExhausted(Exception):
    """No free (block of) vectors on any allowed CPU."""


class VectorAllocator:
    """Bitmap per CPU of vectors in use."""

    def __init__(self, ncpus: int, first: int = FIRST_DEVICE_VECTOR,
                 last: int = LAST_DEVICE_VECTOR) -> None:
        if not 0x10 <= first <= last <= 0xFF:
            raise ValueError(f"device vector range {first:#x}-{last:#x} invalid")
        self.first = first
        self.last = last
        self.used = [0] * ncpus

    def free_count(self, cpu: int) -> int:
        span = self.last - self.first + 1
        return span - bin(self.used[cpu] >> self.first & ((1 << span) - 1)).count("1")

    def alloc(self, cpus: list[int], count: int = 1, align: int = 1) -> tuple[int, int]:
        """A block of ``count`` free vectors aligned to ``align`` on the least-loaded CPU.

        Returns (cpu, first vector).
        """
        for cpu in sorted(cpus, key=lambda c: (-self.free_count(c), c)):
            v = self._find(cpu, count, align)
            if v is not None:
                self.used[cpu] |= ((1 << count) - 1) << v
                return cpu, v
        raise VectorSpaceExhausted(
            f"no block of {count} vector(s) free in {self.first:#x}-{self.last:#x} on CPUs "
            f"{cpus}")

    def _find(self, cpu: int, count: int, align: int) -> int | None:
        used = self.used[cpu]
        block = (1 << count) - 1
        v = (self.first + align - 1) // align * align
        while v + count - 1 <= self.last:
            if not used >> v & block:
                return v
            v += align
        return None

    def free(self, cpu: int, vector: int, count: int = 1) -> None:
        self.used[cpu] &= ~(((1 << count) - 1) << vector)

    def reserve(self, cpu: int, vector: int) -> None:
        self.used[cpu] |= 1 << vector
