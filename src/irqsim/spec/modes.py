"""Interrupt modes as enums, with their register encodings where there is one (behaviour-free).

The integer values are the encodings of the MSI data, ICR, LVT and I/O APIC RTE fields, so a
decode is ``DeliveryMode(bits)``; ``label`` is the name views and traces print. Hot paths keep
plain-int comparisons against module constants derived from these enums at import time
(``spec.msi.DM_FIXED``, ``apic.timer.TIMER_PERIODIC``...).
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

__all__ = ["DeliveryMode", "DestinationMode", "IrqMode", "TimerMode", "TriggerMode"]


class DeliveryMode(IntEnum):
    """Delivery mode, bits 10:8 of the MSI data, ICR, LVT and RTE (SDM 10.6.1, 10.11.2;
    82093AA 3.2.4); 011b is reserved."""

    label: str

    def __new__(cls, value: int, label: str) -> DeliveryMode:
        obj = int.__new__(cls, value)
        obj._value_ = value
        obj.label = label
        return obj

    FIXED = (0b000, "Fixed")
    LOWEST = (0b001, "LowestPrio")
    SMI = (0b010, "SMI")
    NMI = (0b100, "NMI")
    INIT = (0b101, "INIT")
    STARTUP = (0b110, "StartUp")
    EXTINT = (0b111, "ExtINT")


class DestinationMode(IntEnum):
    """Destination mode: MSI address bit 2, ICR bit 11, RTE bit 11 (SDM 10.6.2)."""

    label: str

    def __new__(cls, value: int, label: str) -> DestinationMode:
        obj = int.__new__(cls, value)
        obj._value_ = value
        obj.label = label
        return obj

    PHYSICAL = (0, "physical")
    LOGICAL = (1, "logical")


class TriggerMode(IntEnum):
    """Trigger mode: MSI data bit 15, ICR bit 15, LINT0/1 and RTE bit 15 (SDM 10.5.1,
    10.11.2; 82093AA 3.2.4)."""

    label: str

    def __new__(cls, value: int, label: str) -> TriggerMode:
        obj = int.__new__(cls, value)
        obj._value_ = value
        obj.label = label
        return obj

    EDGE = (0, "edge")
    LEVEL = (1, "level")


class TimerMode(IntEnum):
    """LVT Timer mode, bits 18:17 (SDM 10.5.1, 10.5.4); 11b is reserved."""

    label: str

    def __new__(cls, value: int, label: str) -> TimerMode:
        obj = int.__new__(cls, value)
        obj._value_ = value
        obj.label = label
        return obj

    ONESHOT = (0b00, "one-shot")
    PERIODIC = (0b01, "periodic")
    TSC_DEADLINE = (0b10, "TSC-deadline")


class IrqMode(StrEnum):
    """The interrupt mechanism the driver chose for a PCI device (Linux ``pci_alloc_irq_vectors``
    tries MSI-X, then MSI, then INTx); the value is what JSON output carries."""

    label: str

    def __new__(cls, value: str, label: str) -> IrqMode:
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.label = label
        return obj

    NONE = ("none", "none")
    MSIX = ("msix", "MSI-X")
    MSI = ("msi", "MSI")
    INTX = ("intx", "INTx")
