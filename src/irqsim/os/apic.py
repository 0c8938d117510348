"""Local APIC bring-up and the timer tick (Linux arch/x86/kernel/apic/apic.c, x2apic
enabling, lapic timer), through the CPU's LAPIC access path (MMIO in xAPIC mode, MSRs in
x2APIC mode: ``Kernel.apic_read/apic_write``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from irqsim.os.vectors import (
    ERROR_APIC_VECTOR,
    LOCAL_TIMER_VECTOR,
    SPURIOUS_APIC_VECTOR,
    SYSTEM_VECTORS,
)
from irqsim.spec.cpu import APIC_BASE_EN, APIC_BASE_EXTD, MSR_APIC_BASE, MSR_TSC_DEADLINE

if TYPE_CHECKING:
    from irqsim.cpu.cpu import Cpu
    from irqsim.os.kernel import Kernel

APIC_DIVISOR = 16                 # Linux programs TDCR for divide-by-16 (TDCR = 0x3)
SYSTEM_ROWS = (("NMI", "Non-maskable interrupts"), ("LOC", "Local timer interrupts"),
               ("RES", "Rescheduling interrupts"), ("CAL", "Function call interrupts"),
               ("TLB", "TLB shootdowns"))


def setup_local_apic(k: Kernel, i: int, cpu: Cpu) -> None:
    """Per-CPU APIC bring-up, in Linux's order (x2apic_enable, setup_local_APIC)."""
    if i == 0:
        k.x2apic_mode = (k.x2apic_option if k.x2apic_option is not None
                         else any(x > 0xFE for x in k.madt_ids))
        if len(k.cpus) > 1 or k.tick_hz:
            for name, text in SYSTEM_ROWS:
                k.system_counters.setdefault(name, ([0] * len(k.cpus), text))
    if k.x2apic_mode:
        base = cpu.rdmsr(MSR_APIC_BASE)
        if not base & APIC_BASE_EXTD:
            cpu.wrmsr(MSR_APIC_BASE, base | APIC_BASE_EN | APIC_BASE_EXTD)
        k.apic_ids[i] = cpu.rdmsr(0x802)
    else:
        k.apic_ids[i] = cpu.read(k.lapic_base + 0x20) >> 24
    k.apic_write(cpu, 0x80, 0)                                  # TPR 0
    k.apic_write(cpu, 0xF0, 0x100 | SPURIOUS_APIC_VECTOR)       # SVR: software enable
    # LINT1 is NMI where the MADT says so; as Linux's setup_local_APIC, only the BSP leaves
    # it unmasked.
    nmi_ok = i == 0 and 1 in k.lint_nmi[i]
    # LINT0: ExtINT, masked; the BSP's unmasked when the 8259 is the interrupt controller
    # (noapic) or IRQ 0 stays on it through LINT0 (virtual wire, docs/legacy-pc.md).
    wire = (i == 0 and k.pic8259 is not None
            and (k.noapic or k.timer_8259 == "lint0"))
    k.apic_write(cpu, 0x350, 0x700 if wire else 0x10700)
    k.apic_write(cpu, 0x360, 0x400 | (0 if nmi_ok else 0x10000))   # LINT1: NMI
    k.apic_write(cpu, 0x370, ERROR_APIC_VECTOR)                 # LVT Error
    k.apic_write(cpu, 0x280, 0)                                 # clear ESR
    matrix = k.vectors
    if i == 0:
        for v in SYSTEM_VECTORS:                                # irq_matrix_assign_system
            matrix.assign_system(v)
    for v in range(0, matrix.first):
        matrix.reserve(i, v)
    cpu.idt = k.idt                                             # lidt: one table for all
    if k.tick_hz:
        setup_apic_timer(k, cpu)


def setup_apic_timer(k: Kernel, cpu: Cpu) -> None:
    """Program the LAPIC timer for a ``tick_hz`` tick on LOCAL_TIMER_VECTOR."""
    period_ns = 1_000_000_000 // k.tick_hz
    if k.timer_mode == "tsc-deadline":
        k.apic_write(cpu, 0x320, LOCAL_TIMER_VECTOR | 2 << 17)
        cpu.wrmsr(MSR_TSC_DEADLINE, cpu.rdtsc() + period_ns * k.timing.tsc_khz // 1_000_000)
        return
    k.apic_write(cpu, 0x3E0, 0x3)                               # divide by 16
    k.apic_write(cpu, 0x320, LOCAL_TIMER_VECTOR | 1 << 17)      # periodic
    count = max(1, period_ns // (k.timing.apic_bus_cycle_ns * APIC_DIVISOR))
    k.apic_write(cpu, 0x380, count)


def lapic_timer_tick(k: Kernel, cpu: Cpu) -> None:
    """The local timer interrupt's work: count the tick, re-arm a TSC deadline."""
    k.ticks[cpu.index] += 1
    if k.timer_mode == "tsc-deadline" and k.tick_hz:
        period = 1_000_000_000 // k.tick_hz * k.timing.tsc_khz // 1_000_000
        cpu.wrmsr(MSR_TSC_DEADLINE, cpu.rdtsc() + period)
