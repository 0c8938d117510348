"""VMX controls, fields and the virtual-APIC page as interrupts need them (Intel SDM vol. 3C:
24.6 VM-execution controls, 24.7.1 VM-exit controls, 24.8.3 VM-entry interruption
information, 24.4.2 guest interrupt status, 29.1 virtual-APIC page, appendix C exit reasons;
reference/vtd-posted.md sections 7.3-7.5). Behaviour-free declarations only.
"""

from __future__ import annotations

from irqsim.spec.regs import RO, RSVD, RW, F, Register

# Pin-based VM-execution controls (SDM 24.6.1).
PIN_BASED = Register("Pin-Based VM-Execution Controls", 0x4000, 4, (
    F("external_interrupt_exiting", 0, RW, "external interrupts cause VM exits"),
    F("nmi_exiting", 3, RW, "NMIs cause VM exits"),
    F("virtual_nmis", 5, RW),
    F("preemption_timer", 6, RW, "activate the VMX-preemption timer"),
    F("process_posted_interrupts", 7, RW,
      "the notification vector is processed in non-root mode (SDM 29.6)"),
))
# Primary processor-based VM-execution controls (SDM 24.6.2), the bits used here.
PROC_BASED = Register("Primary Processor-Based VM-Execution Controls", 0x4002, 4, (
    F("interrupt_window_exiting", 2, RW, "VM exit at the first instruction with RFLAGS.IF=1"),
    F("hlt_exiting", 7, RW, "HLT causes a VM exit"),
    F("use_tpr_shadow", 21, RW, "virtual-APIC page in use"),
    F("activate_secondary", 31, RW),
))
# Secondary processor-based VM-execution controls (SDM 24.6.2), the APIC virtualization bits.
PROC_BASED2 = Register("Secondary Processor-Based VM-Execution Controls", 0x401E, 4, (
    F("virtualize_apic_accesses", 0, RW),
    F("virtualize_x2apic_mode", 4, RW),
    F("apic_register_virtualization", 8, RW),
    F("virtual_interrupt_delivery", 9, RW, "RVI/SVI evaluation and delivery, EOI virtualization"),
))
# VM-exit controls (SDM 24.7.1).
EXIT_CONTROLS = Register("VM-Exit Controls", 0x400C, 4, (
    F("acknowledge_interrupt_on_exit", 15, RW,
      "an external-interrupt exit acknowledges the LAPIC; the vector is in the exit info"),
))
# VM-entry interruption-information field (SDM 24.8.3): the event injected at VM entry.
ENTRY_INTR_INFO = Register("VM-Entry Interruption-Information", 0x4016, 4, (
    F("vector", (7, 0), RW),
    F("type", (10, 8), RW, "0 external interrupt, 2 NMI, 3 hardware exception, 4 software int"),
    F("deliver_error_code", 11, RW),
    F("reserved", (30, 12), RSVD),
    F("valid", 31, RW),
))
# VM-exit interruption information (SDM 24.9.2): the vector an acknowledged exit carries.
EXIT_INTR_INFO = Register("VM-Exit Interruption Information", 0x4404, 4, (
    F("vector", (7, 0), RO), F("type", (10, 8), RO), F("valid", 31, RO),
))
# Guest interrupt status (SDM 24.4.2), 16 bits: RVI low byte, SVI high byte.
GUEST_INTR_STATUS = Register("Guest Interrupt Status", 0x0810, 2, (
    F("rvi", (7, 0), RW, "requesting virtual interrupt"),
    F("svi", (15, 8), RW, "servicing virtual interrupt"),
))
POSTED_INTR_NV = Register("Posted-Interrupt Notification Vector", 0x0002, 2, (
    F("vector", (7, 0), RW), F("reserved", (15, 8), RSVD)))

# Virtual-APIC page offsets (SDM 29.1): the xAPIC layout, one 4 KiB page per vCPU.
VAPIC_PAGE_SIZE = 0x1000
VTPR = 0x080
VPPR = 0x0A0
VEOI = 0x0B0
VISR = 0x100            # 8 x 32-bit chunks at 0x100, 0x110, ... 0x170
VTMR = 0x180
VIRR = 0x200            # 8 x 32-bit chunks at 0x200, ... 0x270

# Basic VM-exit reasons (SDM appendix C) used by the interrupt path.
EXIT_EXTERNAL_INTERRUPT = 1
EXIT_INTERRUPT_WINDOW = 7
EXIT_HLT = 12
EXIT_MSR_WRITE = 32
EXIT_APIC_ACCESS = 44
EXIT_EOI_INDUCED = 45
EXIT_REASONS = {
    EXIT_EXTERNAL_INTERRUPT: "EXTERNAL_INTERRUPT", EXIT_INTERRUPT_WINDOW: "INTERRUPT_WINDOW",
    EXIT_HLT: "HLT", EXIT_MSR_WRITE: "MSR_WRITE", EXIT_APIC_ACCESS: "APIC_ACCESS",
    EXIT_EOI_INDUCED: "EOI_INDUCED",
}
INTR_TYPE_EXTERNAL = 0

# Linux/KVM host vectors (arch/x86/include/asm/irq_vectors.h).
POSTED_INTR_VECTOR = 0xF2
POSTED_INTR_WAKEUP_VECTOR = 0xF1
POSTED_INTR_NESTED_VECTOR = 0xF0

# Derived masks.
PIN_EXT_INT_EXITING = PIN_BASED.mask("external_interrupt_exiting")
PIN_POSTED = PIN_BASED.mask("process_posted_interrupts")
PROC_INTR_WINDOW = PROC_BASED.mask("interrupt_window_exiting")
PROC_HLT_EXITING = PROC_BASED.mask("hlt_exiting")
PROC2_VID = PROC_BASED2.mask("virtual_interrupt_delivery")
EXIT_ACK_INTR = EXIT_CONTROLS.mask("acknowledge_interrupt_on_exit")
ENTRY_INTR_VALID = ENTRY_INTR_INFO.mask("valid")

REGISTERS = (PIN_BASED, PROC_BASED, PROC_BASED2, EXIT_CONTROLS, ENTRY_INTR_INFO, EXIT_INTR_INFO,
             GUEST_INTR_STATUS, POSTED_INTR_NV)
