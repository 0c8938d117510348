"""Per-CPU interrupt vector allocation (the role of Linux's irq matrix allocator).

Device vectors come from [first, last] (default 0x20-0xDF); vectors 0-31 are
exceptions and 0xE0-0xFF are system vectors (timer, IPIs, spurious). The same
vector number may be used on different CPUs.
"""

from __future__ import annotations

FIRST_DEVICE_VECTOR = 0x20
LAST_DEVICE_VECTOR = 0xDF
# Linux's fixed system vectors (arch/x86/include/asm/irq_vectors.h), as vector -> macro name.
# Seed 003 lists the same numbers for 0xF4-0xFF. A TLB shootdown has no vector of its own: it
# is a call-function IPI (0xFC/0xFB) whose function counts the "TLB" row (os/ipi.py).
# Linux arch/x86/include/asm/irq_vectors.h: the vectors the OS layer uses by name.
LOCAL_TIMER_VECTOR = 0xEC
CALL_FUNCTION_SINGLE_VECTOR = 0xFB
CALL_FUNCTION_VECTOR = 0xFC
RESCHEDULE_VECTOR = 0xFD
ERROR_APIC_VECTOR = 0xFE
SPURIOUS_APIC_VECTOR = 0xFF

SYSTEM_VECTORS = {
    0xEC: "LOCAL_TIMER_VECTOR", 0xED: "HYPERV_STIMER0_VECTOR",
    0xEE: "HYPERV_REENLIGHTENMENT_VECTOR", 0xEF: "MANAGED_IRQ_SHUTDOWN_VECTOR",
    0xF0: "POSTED_INTR_NESTED_VECTOR", 0xF1: "POSTED_INTR_WAKEUP_VECTOR",
    0xF2: "POSTED_INTR_VECTOR", 0xF3: "HYPERVISOR_CALLBACK_VECTOR",
    0xF4: "DEFERRED_ERROR_VECTOR", 0xF6: "IRQ_WORK_VECTOR", 0xF7: "X86_PLATFORM_IPI_VECTOR",
    0xF8: "REBOOT_VECTOR", 0xF9: "THRESHOLD_APIC_VECTOR", 0xFA: "THERMAL_APIC_VECTOR",
    0xFB: "CALL_FUNCTION_SINGLE_VECTOR", 0xFC: "CALL_FUNCTION_VECTOR",
    0xFD: "RESCHEDULE_VECTOR", 0xFE: "ERROR_APIC_VECTOR", 0xFF: "SPURIOUS_APIC_VECTOR",
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
