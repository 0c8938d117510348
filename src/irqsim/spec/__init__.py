"""Specification definitions: every architectural register and table declared once, as data.

The modules here play the role of Linux's uapi headers or QEMU's standard-headers: hardware
models, the OS, drivers and views all import their register layouts, bit numbers and offsets
from here. They carry no behaviour and import nothing from the rest of irqsim (only
:mod:`irqsim.spec.regs`, the declaration machinery). Constants other modules use at run time
are derived from the declarations at import time.

========  =============================================================================
module    contents
========  =============================================================================
regs      Access, Field, Register: the declaration machinery (masks derive from fields)
pci       type 0/1 headers, capability IDs, MSI and MSI-X capabilities and table entries
msi       x86 MSI Message Address/Data (compatibility format; remappable format declared)
lapic     Local APIC xAPIC offsets, x2APIC MSRs, per-mode access, LVTs, ICR, ESR, SVR
ioapic    I/O APIC IOREGSEL/IOWIN/EOI, ID/VER/ARB and redirection table entries
virtio    virtio-pci capability types and the common configuration structure
vtd       VT-d remapping register block (GCMD/GSTS/IRTA/...), IRTE layout
cpu       IA32_APIC_BASE and the MSR numbers the model implements
modes     delivery, destination, trigger and timer modes (IntEnum = encoding), irq mode
rss       RSS key and indirection table sizes, hash types and their input tuples (MS-RSS)
nic       the multi-queue NIC's BAR0 registers (EIMS/EIMC/EIAM, ring, coalescing, EITR)
========  =============================================================================
"""
