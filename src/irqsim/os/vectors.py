"""x86 interrupt vector numbers (Linux arch/x86/include/asm/irq_vectors.h).

Device vectors come from [FIRST_DEVICE_VECTOR, LAST_DEVICE_VECTOR] by default; vectors
0-31 are exceptions and the system vectors below are assigned on every CPU by the vector
matrix (os/matrix.py).
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
