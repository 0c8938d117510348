"""Why an interrupt is dropped: :class:`Reason`, one member per rule that loses one.

Kept apart from the ledger (sim/accounting.py re-exports it) so that the ledger compiles with
mypyc (issue 12): mypyc rejects a ``StrEnum`` whose ``__new__`` takes an extra field, so this
module always stays plain Python.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why an interrupt was dropped: a short name (the value) and the rule that drops it."""

    rule: str

    def __new__(cls, text: str, rule: str) -> Reason:
        obj = str.__new__(cls, text)
        obj._value_ = text
        obj.rule = rule
        return obj

    NO_LINK = ("no link", "PCIe 2.2: a posted write needs a link to leave the port")
    BUS_MASTER = ("bus master disabled", "PCI 6.8 MSI needs Bus Master Enable")
    BRIDGE_BUS_MASTER = ("bridge bus master disabled",
                         "PCI-PCI Bridge 1.2 3.2.2.3.3 Bus Master Enable")
    MSI_DISABLED = ("MSI disabled", "PCI 6.8.1.3 MSI Enable")
    MSI_BEYOND_MME = ("message beyond Multiple Message Enable",
                      "PCI 6.8.1.3 Multiple Message Enable")
    MSI_PENDING_BEYOND_MME = ("MSI pending beyond Multiple Message Enable",
                              "PCI 6.8.1.3 Multiple Message Enable")
    MSIX_BEYOND_TABLE = ("vector beyond table", "PCIe 7.7.2 MSI-X Table Size")
    NO_INTX_PIN = ("no INTx pin", "PCI 6.2.4 Interrupt Pin")
    INTX_CLEARED_HELD = ("INTx condition cleared while held", "PCI 6.2.3 Interrupt Status")
    INTX_NOT_ROUTED = ("INTx not routed", "ACPI _PRT INTx routing")
    IOAPIC_NO_PIN = ("no such I/O APIC pin", "82093AA 2.2 input pins")
    INTX_POLARITY = ("INTx Assert seen as deassertion (RTE polarity)",
                     "82093AA 3.2.4 Interrupt Input Pin Polarity")
    INTX_DEASSERTED_PENDING = ("INTx deasserted while pending",
                               "82093AA 3.2.4 level-triggered input")
    INTX_DEASSERTED_SERVICE = ("INTx deasserted before I/O APIC service",
                               "82093AA 3.2.4 level-triggered input")
    INTX_DISCARDED_RTE = ("pending INTx discarded by an RTE write",
                          "82093AA 3.2.4 I/O Redirection Table")
    MASKED_EDGE = ("masked edge lost", "82093AA 3.2.4 Interrupt Mask (edge)")
    VTD_REQUEST_RESERVED = ("VT-d fault 0x20: reserved field in the request",
                            "VT-d 5.1.4.1 interrupt request reserved fields")
    VTD_INDEX_RANGE = ("VT-d fault 0x21: index beyond the remapping table",
                       "VT-d 5.1.4.1 IRTA.S table size")
    VTD_NOT_PRESENT = ("VT-d fault 0x22: IRTE not present", "VT-d 9.10 IRTE Present")
    VTD_READ_FAILED = ("VT-d fault 0x23: IRTE read failed", "VT-d 5.1.4.1 IRTE access")
    VTD_IRTE_RESERVED = ("VT-d fault 0x24: reserved field in the IRTE",
                         "VT-d 9.10 IRTE reserved fields")
    VTD_COMPAT_BLOCKED = ("VT-d fault 0x25: compatibility format blocked",
                          "VT-d 5.1.2.1 compatibility format (IRTA.EIME, GSTS.CFIS)")
    VTD_SID = ("VT-d fault 0x26: source-id verification failed", "VT-d 9.10 SVT/SQ/SID")
    VTD_PID_READ = ("VT-d fault 0x27: posted-interrupt descriptor read failed",
                    "VT-d 5.2.3 posted-interrupt descriptor access")
    PIC_DEASSERTED = ("8259 level request deasserted before INTA",
                      "8259A datasheet: IR must stay high until the first INTA pulse")
    PIC_INIT_RESET = ("8259 request cleared by ICW1", "8259A ICW1: the edge sense latch is "
                                                      "reset")
    NO_DESTINATION = ("no destination APIC", "SDM 10.11.1 MSI destination ID")
    MSI_MODE = ("MSI delivery mode not deliverable", "SDM 10.11.2 MSI delivery mode")
    MSI_ADDRESS = ("MSI address outside 0xFEExxxxx", "SDM 11.11.1 MSI address is 0xFEExxxxx")
    NMI_NO_CPU = ("NMI: no CPU", "SDM 10.11.2 MSI delivery mode")
    APIC_HW_DISABLED = ("apic hardware-disabled", "SDM 10.4.3 APIC global enable")
    APIC_SW_DISABLED = ("apic software-disabled", "SDM 10.4.7.2 APIC software disable")
    ILLEGAL_VECTOR = ("illegal vector", "SDM 10.5.3 ESR Receive Illegal Vector")
    LVT_MODE = ("LVT delivery mode not modelled", "SDM 10.5.1 LVT delivery mode")
    INIT_RESET = ("INIT reset", "SDM 10.4.7.3 INIT reset")
    NMI_WAIT_SIPI = ("NMI to a CPU in wait-for-SIPI", "SDM 8.4.1 wait-for-SIPI")
    NMI_LATCHED = ("NMI while one is already latched",
                   "SDM 6.7.1 NMIs blocked until IRET; one more is latched")
