"""INTx: the _PRT lookup with bridge swizzling, and the I/O APIC register accessors.

The firmware's routing table (the board's ACPI _PRT, ``AcpiTables.prt``) maps
(bus, device, pin) to a GSI. As Linux's ``acpi_pci_irq_lookup`` does, the OS tries
the device's own (bus, slot, pin); when there is no entry it swizzles the pin
through the bridge above (``pci_swizzle_interrupt_pin``) and tries again, up to
bus 0. PCI interrupts are level-triggered and active low (ACPI's default for a
_PRT GSI) unless a MADT interrupt source override names the GSI. The I/O APIC is
reached only through IOREGSEL/IOWIN (and its EOI register) with
``Kernel.readl/writel``; an entry is written high dword first, masked, and unmasked
when its IRQ starts (Linux's ioapic_write_entry, irq_startup). The IO-APIC domain
(os/io_apic.py) uses these accessors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from irqsim.platform.acpi import (
    INTI_POLARITY_HIGH,
    INTI_POLARITY_LOW,
    INTI_TRIGGER_EDGE,
    INTI_TRIGGER_LEVEL,
)
from irqsim.sim.rules import rule
from irqsim.spec.ioapic import (
    IOEOI,
    IOREGSEL,
    IOWIN,
    RTE_LEVEL,
    RTE_LOGICAL,
    RTE_MASKED,
    RTE_POLARITY,
)
from irqsim.spec.lapic import SVR_SUPPRESS_EOI_BROADCAST as SVR_DIRECTED_EOI

R_NO_IOAPIC = rule(
    "OS-NO-IOAPIC", "ACPI MADT",
    "an I/O APIC listed in the MADT must answer at its address")
R_NO_DIRECTED_EOI = rule(
    "OS-NO-DIRECTED-EOI", "SDM 10.8.5",
    "suppressing EOI broadcasts needs a LAPIC that advertises directed EOI (LVR bit 24)")

if TYPE_CHECKING:
    from irqsim.os.kernel import Kernel
    from irqsim.os.pci import PciDev

RTE_MASK = RTE_MASKED
RTE_ACTIVE_LOW = RTE_POLARITY


@dataclass(slots=True)
class IoApicInfo:
    """What the OS learnt about one I/O APIC (MADT entry plus its version register)."""

    base: int
    version: int
    pins: int
    gsi_base: int = 0
    id: int = 0


def ioapic_read(k: Kernel, base: int, index: int) -> int:
    """Read internal register ``index``: IOREGSEL then IOWIN (seed 003 io_apic_read)."""
    k.writel(base + IOREGSEL, index)
    return k.readl(base + IOWIN)


def ioapic_write(k: Kernel, base: int, index: int, value: int) -> None:
    """Write internal register ``index``: IOREGSEL then IOWIN (seed 003 io_apic_write)."""
    k.writel(base + IOREGSEL, index)
    k.writel(base + IOWIN, value)


def ioapic_probe(k: Kernel, address: int, gsi_base: int, apic_id: int) -> IoApicInfo | None:
    """Read the version register of the MADT's I/O APIC at ``address`` (None if absent)."""
    ver = ioapic_read(k, address, 0x01)
    if ver == 0xFFFFFFFF:
        k.ctx.diag("OS", R_NO_IOAPIC, f"no I/O APIC answers at {address:#x}")
        return None
    info = IoApicInfo(address, ver & 0xFF, (ver >> 16 & 0xFF) + 1, gsi_base, apic_id)
    k.trace_sw("OS", "IOAPIC0", f"I/O APIC version {ver & 0xFF:#x}, {info.pins} pins")
    return info


def gsi_trigger(k: Kernel, gsi: int) -> tuple[bool, bool]:
    """(level, active_low) of ``gsi``: a MADT override's flags, else PCI's level/low."""
    o = k.acpi.madt.override_for(gsi)
    level, active_low = True, True
    if o is not None:
        trig, pol = o.flags & 0xC, o.flags & 0x3
        if trig == INTI_TRIGGER_EDGE:
            level = False
        elif trig == INTI_TRIGGER_LEVEL:
            level = True
        if pol == INTI_POLARITY_HIGH:
            active_low = False
        elif pol == INTI_POLARITY_LOW:
            active_low = True
    return level, active_low


def intx_route(k: Kernel, pdev: PciDev) -> int:
    """The GSI of the device's INTx pin through the _PRT (0 if no pin or no route); with
    ``noapic``, the ISA IRQ of the _PRT's PIC-mode route (docs/legacy-pc.md)."""
    pin = pdev.pin
    if not 1 <= pin <= 4:
        return 0
    dev: PciDev | None = pdev
    prt = k.acpi.prt_pic if k.noapic and k.pic8259 is not None else k.acpi.prt
    while dev is not None:
        gsi = prt.get((dev.bus, dev.devfn >> 3, pin))
        if gsi is not None:
            return gsi
        if dev.parent is None:
            break
        pin = (pin - 1 + (dev.devfn >> 3)) % 4 + 1      # pci_swizzle_interrupt_pin
        dev = dev.parent
    return 0


def rte_low(vector: int, level: bool, active_low: bool, masked: bool,
            logical: bool = False) -> int:
    """Low dword of a fixed-delivery redirection entry."""
    return (vector | (RTE_LEVEL if level else 0) | (RTE_ACTIVE_LOW if active_low else 0)
            | (RTE_MASK if masked else 0) | (RTE_LOGICAL if logical else 0))


def ioapic_program(k: Kernel, info: IoApicInfo, pin: int, vector: int, dest: int,
                   level: bool, active_low: bool) -> None:
    """Write RTE ``pin`` masked: high dword (destination) first, then the low dword."""
    k.trace_sw("OS", "IOAPIC0", f"Program RTE {pin}: vector {vector:#x}, APIC ID {dest}, "
                                f"{'level' if level else 'edge'}, active "
                                f"{'low' if active_low else 'high'}, masked")
    ioapic_write(k, info.base, 0x11 + 2 * pin, (dest & 0xFF) << 24)
    ioapic_write(k, info.base, 0x10 + 2 * pin, rte_low(vector, level, active_low, True))


def ioapic_mask(k: Kernel, info: IoApicInfo, pin: int, masked: bool) -> None:
    """Set or clear RTE ``pin``'s mask bit (read-modify-write of the low dword)."""
    low = ioapic_read(k, info.base, 0x10 + 2 * pin)
    k.trace_sw("OS", "IOAPIC0", f"{'Mask' if masked else 'Unmask'} RTE {pin}")
    ioapic_write(k, info.base, 0x10 + 2 * pin,
                 (low | RTE_MASK) if masked else (low & ~RTE_MASK))


def ioapic_eoi(k: Kernel, info: IoApicInfo, vector: int) -> None:
    """Directed EOI: write the vector to the I/O APIC's EOI register (version 0x20)."""
    k.writel(info.base + IOEOI, vector)


def enable_directed_eoi(k: Kernel) -> None:
    """On the current CPU: set SVR bit 12 if LVR bit 24 advertises it (SDM 10.8.5)."""
    cpu = k.current_cpu
    if k.apic_read(cpu, 0x30) >> 24 & 1:
        k.apic_write(cpu, 0xF0, k.apic_read(cpu, 0xF0) | SVR_DIRECTED_EOI)
    else:
        k.ctx.diag("OS", R_NO_DIRECTED_EOI,
                   f"CPU{cpu.index}: the LAPIC does not advertise directed EOI (LVR bit 24)")
