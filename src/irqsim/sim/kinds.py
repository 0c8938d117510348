"""Trace kinds: the table of every event kind ``Tracer.emit`` records, with its Mermaid label.

A :class:`TraceKind` is a ``str`` (its value is the kind string in the trace and its JSON), so
callers keep passing and comparing plain strings; a test checks that every kind emitted is in
the table. ``label`` is the Mermaid arrow text as a template over the event's fields
(``kind`` is the kind itself), expanded by :func:`irqsim.views.mermaid.label`; ``None``: the
generic ``kind field=value...``. Beyond :meth:`str.format`, a field's format spec may be

* ``?YES|NO``: YES if the field is present and true, else NO;
* ``+YES|NO``: YES if the field is present, else NO; in YES, ``@`` is the value and ``@x`` the
  value in hex (``0x...``).

A missing field expands to nothing.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["TraceKind"]

_INTX_LABEL = "{kind} message{swizzled:+ (@)}{gsi:+ to GSI @}{shared:+ (@ asserting)}"


class TraceKind(StrEnum):
    """Every trace event kind, with its Mermaid label template (``label``)."""

    label: str | None

    def __new__(cls, value: str, label: str | None = None) -> TraceKind:
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.label = label
        return obj

    # -- software ---------------------------------------------------------------------------
    SW = ("sw", "{label}")
    DIAGNOSTIC = ("diagnostic", "Diagnostic {rule_id}: {message}")
    PREEMPTED = ("preempted",)
    # -- devices, PCI and the fabric ---------------------------------------------------------
    DEVICE_EVENT = ("device-event", "Hardware event occurs ({what})")
    SRIOV_ENABLE = ("sriov-enable", "VF Enable: {vfs} virtual functions appear")
    MSIX_SAMPLE = ("msix-sample",
                   "Read table entry {entry}, check mask: {masked:?masked|not masked}")
    MSIX_MASKED = ("msix-masked", "Vector masked: set Pending bit {entry} ({pba})")
    MSIX_UNMASK_SEND = ("msix-unmask-send",
                        "Entry {entry} unmasked with Pending bit set: send and clear it")
    MSI_SAMPLE = ("msi-sample",
                  "Read MSI capability, message {vector}: {masked:?masked|not masked}")
    MSI_MASKED = ("msi-masked", "Message {vector} masked: set Pending bit ({pending})")
    MSI_UNMASK_SEND = ("msi-unmask-send",
                       "Message {vector} unmasked with Pending bit set: send and clear it")
    MWR = ("MWr", "Post Memory Write {data:+(fire-and-forget)|(DMA)} Addr={address:#x}"
                  "{data:+ Data=@x}{length:+ len=@}")
    PEER_WRITE = ("peer-write",)
    DMA_WRITE = ("dma-write", "Memory write lands at {address:#x}")
    INTERRUPT_WRITE = ("interrupt-write", "Memory write to {address:#x} arrives (interrupt window)")
    INTX_HELD = ("intx-held", "Interrupt Status set, INTx not asserted ({reason})")
    INTX_COLLAPSE = ("intx-collapse", "INT{pin} already driven by another port: collapsed "
                                      "({sharers} asserting)")
    # INTx messages (fabric/tlp.py INTX_NAMES): the kind is the message name.
    ASSERT_INTA = ("Assert_INTA", _INTX_LABEL)
    ASSERT_INTB = ("Assert_INTB", _INTX_LABEL)
    ASSERT_INTC = ("Assert_INTC", _INTX_LABEL)
    ASSERT_INTD = ("Assert_INTD", _INTX_LABEL)
    DEASSERT_INTA = ("Deassert_INTA", _INTX_LABEL)
    DEASSERT_INTB = ("Deassert_INTB", _INTX_LABEL)
    DEASSERT_INTC = ("Deassert_INTC", _INTX_LABEL)
    DEASSERT_INTD = ("Deassert_INTD", _INTX_LABEL)
    # -- I/O APIC -------------------------------------------------------------------------------
    IOAPIC_INPUT = ("ioapic-input",
                    "Input {pin} {asserted:?asserted|deasserted} (level {level})")
    IOAPIC_SEND = ("ioapic-send", "RTE {pin} ({trigger}): send vector {vector:#x} to "
                                  "{logical:?logical|APIC ID} {dest}")
    IOAPIC_MASKED = ("ioapic-masked", "RTE {pin} masked: {trigger} request {outcome}")
    IOAPIC_EOI = ("ioapic-eoi", "EOI vector {vector:#x}: clear Remote IRR of RTE {pin}"
                                "{asserted:? (line still asserted: deliver again)|}")
    IOAPIC_RTE = ("ioapic-rte", "RTE {pin} = vector {vector:#x}, {trigger}, "
                                "{masked:?masked|unmasked}")
    # -- 8259A PIC pair (apic/i8259.py) --------------------------------------------------------
    PIC_IRQ = ("pic-irq", "IRQ {irq} {level:?asserted|deasserted}{latched:? (IRR set)|}")
    PIC_INT = ("pic-int", "INT output {level:?high|low}")
    PIC_INTA = ("pic-inta", "ExtINT INTA: vector {vector:#x} (IRQ {irq}{spurious:? spurious|})")
    PIC_EOI = ("pic-eoi", "{command}{irq:+ IRQ @}")
    EXTINT = ("extint", "ExtINT: INTR from the 8259 ({via})")
    # -- VT-d interrupt remapping (iommu/vtd.py) --------------------------------------------
    IR_LOOKUP = ("ir-lookup", "Lookup & validate device ID {sid}: remapping table entry {index}")
    IR_RESULT = ("ir-result", "Check remapping table, IRTE {index}: {outcome}"
                              "{vector:+, vector @x}{dest:+ to APIC ID @}{pid:+ in descriptor @x}"
                              "{notify:?, notify|}{reason:+, fault reason @x}{sid:+ from @}")
    IR_COMPAT = ("ir-compat", "Compatibility format: passed through (CFIS set)")
    # -- APIC bus and Local APIC -----------------------------------------------------------------
    MSI_DELIVER = ("msi-deliver", "Forward interrupt message: vector {vector:#x} to APIC ID {dest}")
    IRR_SET = ("irr-set", "Decode message, place vector {vector:#x} in IRR")
    IRR_MERGED = ("irr-merged", "Vector {vector:#x} already pending in IRR: merged")
    INTA = ("inta", "Assert INTR; INTA: IRR->ISR, vector {vector:#x}")
    EOI = ("eoi", "Clear ISR bit {vector:#x}")
    SPURIOUS = ("spurious",)
    TIMER_EXPIRY = ("timer-expiry",)
    APIC_MODE = ("apic-mode",)
    IPI_SEND = ("ipi-send", "Write ICR: {mode} IPI vector {vector:#x} to "
                            "{logical:?logical|APIC ID} {dest} (shorthand {shorthand})")
    IPI_DELIVER = ("ipi-deliver", "IPI arrives: {mode} vector {vector:#x}")
    IPI_INIT_DEASSERT = ("ipi-init-deassert",)
    # -- virtualization (irqsim.virt; SDM 25-29) --------------------------------------------------
    VM_ENTRY = ("vm-entry", "VM entry (RVI {rvi:#x}, SVI {svi:#x})")
    VM_EXIT = ("vm-exit", "VM exit: {reason}{vector:+, vector @x}")
    POSTED_PROCESSING = ("posted-processing", "Notification vector in non-root mode: clear ON, "
                                              "EOI, PIR {pir} -> vIRR, RVI {rvi:#x} (no VM exit)")
    SYNC_PIR = ("sync-pir", "KVM before entry: PIR {pir} -> vIRR, RVI {rvi:#x}")
    VIRTUAL_DELIVERY = ("virtual-delivery", "Virtual-interrupt delivery: vector {vector:#x} "
                                            "vIRR->vISR, through the guest IDT")
    GUEST_HANDLER = ("guest-handler", "Guest handler for vector {vector:#x} runs")
    VIRTUAL_EOI = ("virtual-eoi", "Guest EOI (virtualized): clear vISR {vector:#x}, "
                                  "VPPR {ppr:#x}")
    # -- CPU ---------------------------------------------------------------------------------------
    HANDLER_ENTRY = ("handler-entry",
                     "Save context, clear IF, IDT[{vector:#x}]: jump to ISR handler")
    IRET = ("iret", "IRET: restore context (IF restored)")
    CLI = ("cli",)
    STI = ("sti",)
    NMI = ("nmi",)
    NMI_LATCHED = ("nmi-latched",)
    SMI = ("smi",)
    INIT = ("init",)
    STARTUP = ("startup",)
    SIPI_IGNORED = ("sipi-ignored",)
    FAULT = ("fault",)
    CSTATE_EXIT = ("cstate-exit",)         # an idle CPU leaves a C-state (cpu/idle.py)
