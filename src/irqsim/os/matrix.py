"""The per-CPU vector matrix (Linux kernel/irq/matrix.c, as arch/x86/kernel/apic/vector.c
uses it).

One bitmap per CPU of vectors in use in [first, last] (default 0x20-0xDF, Linux's
FIRST_EXTERNAL_VECTOR..FIRST_SYSTEM_VECTOR-1). System vectors are assigned on every CPU
(``assign_system``, irq_matrix_assign_system) and never handed out. An allocation picks the
CPU of the allowed mask with the most free vectors, the lowest index on a tie
(matrix_find_best_cpu); the same vector number may be used on different CPUs.
"""

from __future__ import annotations


class VectorSpaceExhausted(Exception):
    """No free (block of) vectors on any allowed CPU."""


class IrqMatrix:
    """Per-CPU allocation bitmaps of the device vector range."""

    __slots__ = ("first", "last", "managed", "system", "used")

    def __init__(self, ncpus: int, first: int = 0x20, last: int = 0xDF) -> None:
        if not 0x10 <= first <= last <= 0xFF:
            raise ValueError(f"device vector range {first:#x}-{last:#x} invalid")
        self.first = first
        self.last = last
        self.used = [0] * ncpus
        self.system = 0                 # vectors assigned to the system on every CPU
        self.managed = [0] * ncpus      # managed vectors allocated per CPU

    def available(self, cpu: int) -> int:
        """Free vectors of ``cpu`` in the range (Linux cpumap->available)."""
        span = self.last - self.first + 1
        return span - (self.used[cpu] >> self.first & ((1 << span) - 1)).bit_count()

    def find_best_cpu(self, cpus: list[int]) -> list[int]:
        """``cpus`` ordered best first: most free vectors, then lowest index."""
        return sorted(cpus, key=lambda c: (-self.available(c), c))

    def alloc(self, cpus: list[int], count: int = 1, align: int = 1) -> tuple[int, int]:
        """A block of ``count`` free vectors aligned to ``align`` on the best CPU of ``cpus``
        that has one. Returns (cpu, first vector)."""
        for cpu in self.find_best_cpu(cpus):
            v = self._find(cpu, count, align)
            if v is not None:
                self.used[cpu] |= ((1 << count) - 1) << v
                return cpu, v
        raise VectorSpaceExhausted(
            f"no block of {count} vector(s) free in {self.first:#x}-{self.last:#x} on CPUs "
            f"{cpus}")

    def alloc_managed(self, cpus: list[int]) -> tuple[int, int]:
        """A managed vector: on the CPU of ``cpus`` with the fewest managed vectors
        allocated, the highest-numbered on a tie (matrix_find_best_cpu_managed), its lowest
        free vector. Returns (cpu, vector)."""
        for cpu in sorted(cpus, key=lambda c: (self.managed[c], -c)):
            v = self._find(cpu, 1, 1)
            if v is not None:
                self.used[cpu] |= 1 << v
                self.managed[cpu] += 1
                return cpu, v
        raise VectorSpaceExhausted(f"no managed vector free on CPUs {cpus}")

    def alloc_on_both(self, cpu: int, other: int) -> int | None:
        """One vector free on both ``cpu`` and ``other``, assigned on both (None if none)."""
        both = self.used[cpu] | self.used[other]
        for v in range(self.first, self.last + 1):
            if not both >> v & 1:
                self.used[cpu] |= 1 << v
                self.used[other] |= 1 << v
                return v
        return None

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
        """Release ``count`` vectors from ``vector`` on ``cpu`` (system vectors stay)."""
        self.used[cpu] &= ~((((1 << count) - 1) << vector) & ~self.system)

    def reserve(self, cpu: int, vector: int) -> None:
        """Mark ``vector`` used on ``cpu``."""
        self.used[cpu] |= 1 << vector

    def assign_system(self, vector: int) -> None:
        """Reserve ``vector`` on every CPU for good (irq_matrix_assign_system)."""
        self.system |= 1 << vector
        for cpu in range(len(self.used)):
            self.used[cpu] |= 1 << vector

    def in_use(self, cpu: int, vector: int) -> bool:
        return bool(self.used[cpu] >> vector & 1)
