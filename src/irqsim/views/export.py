"""Export a simulated function's configuration space as ``lspci -x/-xxx/-xxxx`` text."""

from __future__ import annotations

from irqsim.formats.dumpfile import format_hex_dump
from irqsim.pci.function import PciFunction
from irqsim.views.lspci import class_name, device_name


def header_line(fn: PciFunction) -> str:
    """lspci's terse line after the slot: class name and IDs (no pci.ids names)."""
    cs = fn.config
    cls = cs.read(0x09, 3)
    return f"{class_name(cls >> 8)}: {device_name(cs.read(0, 2), cs.read(2, 2))}"


def lspci_hex(fn: PciFunction, size: int = 256, domain: bool = False) -> str:
    """The function's configuration bytes in the format ``lspci -F`` reads back."""
    slot = f"{'0000:' if domain else ''}{fn.bdf}"
    return format_hex_dump(slot, header_line(fn), bytes(fn.config.data), size)
