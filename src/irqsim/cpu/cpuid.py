"""The CPUID leaves that matter to the interrupt path, as data (Intel SDM vol. 2A, CPUID).

One :class:`Cpuid` per logical processor, built by the board from what it made: leaf 01H
(APIC present, initial APIC ID, x2APIC and TSC-deadline support), leaf 06H (ARAT), leaf 0BH
(x2APIC topology: SMT and core levels, the x2APIC ID) and leaf 80000008H (MAXPHYADDR). The
bits are declared in :mod:`irqsim.spec.cpu`; a front-end (the Unicorn one) serves CPUID
from :meth:`Cpuid.leaf`. Leaves not listed read as zeros (as an unsupported leaf).
"""

from __future__ import annotations

from dataclasses import dataclass

from irqsim.spec.cpu import (
    CPUID_0B_CORE,
    CPUID_0B_EAX,
    CPUID_0B_EBX,
    CPUID_0B_ECX,
    CPUID_0B_EDX,
    CPUID_0B_SMT,
    CPUID_01_EBX,
    CPUID_01_ECX,
    CPUID_01_EDX,
    CPUID_06_EAX,
    CPUID_80000008_EAX,
)

Regs = tuple[int, int, int, int]        # EAX, EBX, ECX, EDX


@dataclass(frozen=True, slots=True)
class Cpuid:
    """CPUID of one logical processor (what its features and the topology say)."""

    apic_id: int                    # the initial (x2)APIC ID
    x2apic: bool = True
    tsc_deadline: bool = True
    arat: bool = True
    maxphyaddr: int = 46
    thread_bits: int = 0            # x2APIC ID bits of the SMT level
    core_bits: int = 0              # x2APIC ID bits of the core level (above the threads)
    threads: int = 1                # logical processors per core
    cores: int = 1                  # cores per package

    def leaf(self, eax: int, ecx: int = 0) -> Regs:
        """(EAX, EBX, ECX, EDX) that CPUID returns for leaf ``eax``, sub-leaf ``ecx``."""
        if eax == 0x00:
            return 0x0B, 0x756E6547, 0x6C65746E, 0x49656E69      # max leaf, "GenuineIntel"
        if eax == 0x01:
            logical = 1 << (self.thread_bits + self.core_bits)
            ebx = CPUID_01_EBX.encode(max_logical_ids=min(logical, 0xFF),
                                      initial_apic_id=self.apic_id & 0xFF)
            ecx = CPUID_01_ECX.encode(x2apic=int(self.x2apic),
                                      tsc_deadline=int(self.tsc_deadline))
            edx = CPUID_01_EDX.encode(apic=1, htt=int(logical > 1))
            return 0, ebx, ecx, edx
        if eax == 0x06:
            return CPUID_06_EAX.encode(arat=int(self.arat)), 0, 0, 0
        if eax == 0x0B:
            edx = CPUID_0B_EDX.encode(x2apic_id=self.apic_id)
            level = ecx & 0xFF
            if level == 0:
                shift, n, kind = self.thread_bits, self.threads, CPUID_0B_SMT
            elif level == 1:
                shift, n = self.thread_bits + self.core_bits, self.threads * self.cores
                kind = CPUID_0B_CORE
            else:                       # past the last level: type 0 (invalid)
                return 0, 0, CPUID_0B_ECX.encode(level=level), edx
            return (CPUID_0B_EAX.encode(shift=shift), CPUID_0B_EBX.encode(logical=n),
                    CPUID_0B_ECX.encode(level=level, type=kind), edx)
        if eax == 0x80000000:
            return 0x80000008, 0, 0, 0
        if eax == 0x80000008:
            return CPUID_80000008_EAX.encode(maxphyaddr=self.maxphyaddr, linear=48), 0, 0, 0
        return 0, 0, 0, 0
