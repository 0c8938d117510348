"""CPU model-specific registers the model implements (Intel SDM vol. 3 10.4.4, 10.5.4.1,
10.12.1; vol. 4 table 2-2): IA32_APIC_BASE and the MSR numbers."""

from __future__ import annotations

from irqsim.spec.regs import RO, RW, F, Register

MSR_TSC = 0x10                  # IA32_TIME_STAMP_COUNTER
MSR_APIC_BASE = 0x1B            # IA32_APIC_BASE
MSR_TSC_DEADLINE = 0x6E0        # IA32_TSC_DEADLINE
X2APIC_MSR_BASE = 0x800         # x2APIC registers: 0x800 + (xAPIC offset >> 4)
X2APIC_MSR_LAST = 0x8FF
APIC_DEFAULT_BASE = 0xFEE00000
MAXPHYADDR = 46

IA32_APIC_BASE = Register("IA32_APIC_BASE", MSR_APIC_BASE, 8, (
    F("bsp", 8, RO, "bootstrap processor"),
    F("extd", 10, RW, "x2APIC mode enable"),
    F("en", 11, RW, "APIC global enable"),
    F("base", (MAXPHYADDR - 1, 12), RW, "APIC page base"),
), reset=APIC_DEFAULT_BASE | 1 << 11)
APIC_BASE_BSP = IA32_APIC_BASE.mask("bsp")
APIC_BASE_EXTD = IA32_APIC_BASE.mask("extd")
APIC_BASE_EN = IA32_APIC_BASE.mask("en")
APIC_BASE_ADDR = IA32_APIC_BASE.mask("base")
APIC_BASE_RESERVED = IA32_APIC_BASE.reserved_mask & ~APIC_BASE_BSP

# CPUID output bits the interrupt path depends on (SDM vol. 2A, CPUID; vol. 3 10.4.2,
# 10.5.4, 10.12.1, 8.9.4): declared once, as (leaf, register, field) registers.
CPUID_01_EBX = Register("CPUID.01H:EBX", 0x01, 4, (
    F("max_logical_ids", (23, 16), RO, "addressable IDs for logical processors in the package"),
    F("initial_apic_id", (31, 24), RO, "initial APIC ID (low 8 bits)"),
))
CPUID_01_ECX = Register("CPUID.01H:ECX", 0x01, 4, (
    F("x2apic", 21, RO, "x2APIC supported (SDM 10.12.1)"),
    F("tsc_deadline", 24, RO, "TSC-deadline timer mode supported (SDM 10.5.4.1)"),
))
CPUID_01_EDX = Register("CPUID.01H:EDX", 0x01, 4, (
    F("apic", 9, RO, "on-chip APIC present (SDM 10.4.2)"),
    F("htt", 28, RO, "EBX[23:16] is valid"),
))
CPUID_06_EAX = Register("CPUID.06H:EAX", 0x06, 4, (
    F("arat", 2, RO, "APIC timer always running (does not stop in deep C-states)"),
))
CPUID_0B_EAX = Register("CPUID.0BH:EAX", 0x0B, 4, (
    F("shift", (4, 0), RO, "bits to shift the x2APIC ID right to get the next level's ID"),
))
CPUID_0B_EBX = Register("CPUID.0BH:EBX", 0x0B, 4, (
    F("logical", (15, 0), RO, "logical processors at this level"),
))
CPUID_0B_ECX = Register("CPUID.0BH:ECX", 0x0B, 4, (
    F("level", (7, 0), RO, "the sub-leaf number (ECX input)"),
    F("type", (15, 8), RO, "level type: 0 invalid, 1 SMT, 2 core"),
))
CPUID_0B_EDX = Register("CPUID.0BH:EDX", 0x0B, 4, (
    F("x2apic_id", (31, 0), RO, "x2APIC ID of the current logical processor"),
))
CPUID_80000008_EAX = Register("CPUID.80000008H:EAX", 0x80000008, 4, (
    F("maxphyaddr", (7, 0), RO, "physical address width (MAXPHYADDR)"),
    F("linear", (15, 8), RO, "linear address width"),
))
CPUID_0B_SMT, CPUID_0B_CORE = 1, 2
