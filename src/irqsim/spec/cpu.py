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
