"""INTx set-up: the _PRT lookup with bridge swizzling, and I/O APIC programming.

The firmware's routing table (``Firmware.prt``, the role ACPI _PRT plays) maps
(bus, device, pin) to a GSI. As Linux's ``acpi_pci_irq_lookup`` does, the OS tries
the device's own (bus, slot, pin); when there is no entry it swizzles the pin
through the bridge above (``pci_swizzle_interrupt_pin``) and tries again, up to
bus 0. PCI interrupts are level-triggered and active low (ACPI's default for a
_PRT GSI). The I/O APIC is reached only through IOREGSEL/IOWIN (and its EOI
register) with ``Kernel.readl/writel``; an entry is written high dword first,
masked, and unmasked when its IRQ starts (Linux's ioapic_write_entry, irq_startup).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from irqsim.os.irq import IrqDesc
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

if TYPE_CHECKING:
    from irqsim.os.kernel import Kernel
    from irqsim.os.pci import PciDev

RTE_MASK = RTE_MASKED
RTE_ACTIVE_LOW = RTE_POLARITY


@dataclass(slots=True)
class IoApicInfo:
    """What the OS learnt about the I/O APIC (MADT base plus its version register)."""

    base: int
    version: int
    pins: int
    gsi_base: int = 0


def ioapic_read(k: Kernel, base: int, index: int) -> int:
    """Read internal register ``index``: IOREGSEL then IOWIN (seed 003 io_apic_read)."""
    k.writel(base + IOREGSEL, index)
    return k.readl(base + IOWIN)


def ioapic_write(k: Kernel, base: int, index: int, value: int) -> None:
    """Write internal register ``index``: IOREGSEL then IOWIN (seed 003 io_apic_write)."""
    k.writel(base + IOREGSEL, index)
    k.writel(base + IOWIN, value)


def ioapic_probe(k: Kernel) -> IoApicInfo | None:
    """The I/O APIC at the firmware's address (read once), or None if absent."""
    info = k.ioapic_info
    if info is not None:
        return info
    base = k.firmware.ioapic_base
    if base is None:
        return None
    ver = ioapic_read(k, base, 0x01)
    if ver == 0xFFFFFFFF:
        k.ctx.diag("OS", "ACPI MADT I/O APIC", f"no I/O APIC answers at {base:#x}")
        return None
    info = k.ioapic_info = IoApicInfo(base, ver & 0xFF, (ver >> 16 & 0xFF) + 1)
    k.trace_sw("OS", "IOAPIC0", f"I/O APIC version {ver & 0xFF:#x}, {info.pins} pins")
    return info


def intx_route(k: Kernel, pdev: PciDev) -> int:
    """The GSI of the device's INTx pin through the _PRT (0 if no pin or no route)."""
    pin = pdev.pin
    if not 1 <= pin <= 4:
        return 0
    dev: PciDev | None = pdev
    prt = k.firmware.prt
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
        k.ctx.diag("OS", "SDM 10.8.5 suppress EOI broadcast",
                   f"CPU{cpu.index}: the LAPIC does not advertise directed EOI (LVR bit 24)")


def intx_setup(k: Kernel, pdev: PciDev, cpus: list[int] | None = None) -> int:
    """Route the device's INTx to its I/O APIC line and return the IRQ (its GSI).

    The first device on a line allocates the vector and programs the entry (masked);
    later ones share the descriptor. Interrupt Line is written with the IRQ and
    Command.Interrupt Disable is cleared (Linux's pci_intx).
    """
    gsi = pdev.irq
    info = ioapic_probe(k)
    if not gsi or info is None or not info.gsi_base <= gsi < info.gsi_base + info.pins:
        raise OSError(f"{pdev.slot}: INTx pin {pdev.pin} has no I/O APIC route")
    pin = gsi - info.gsi_base
    desc = k.irqs.get(gsi)
    if desc is None:
        online = k.irq_target_cpus(cpus, "I/O APIC")
        cpu, vector = k.vectors.alloc(online)
        level = k.firmware.intx_trigger == "level"
        active_low = k.firmware.intx_polarity == "low"
        k.trace_sw("OS", "OS", f"Allocate vector {vector:#x} on CPU{cpu} for GSI {gsi}")
        ioapic_program(k, info, pin, vector, k.apic_ids[cpu], level, active_low)
        desc = IrqDesc(gsi, "IO-APIC", pin, cpu, vector, [0] * len(k.cpus),
                       device=pdev.slot, trigger="fasteoi" if level else "edge")
        desc.chip_mask = lambda m: ioapic_mask(k, info, pin, m)
        if level and k.firmware.directed_eoi:
            desc.chip_eoi = lambda: ioapic_eoi(k, info, vector)
        k.irqs[gsi] = desc
        k.gates[cpu].per_vector[vector] = desc
    else:
        k.trace_sw("OS", "OS", f"GSI {gsi} already set up: share IRQ {gsi}")
    b, d = pdev.bus, pdev.devfn
    k.cfg_write(b, d, 0x3C, 1, gsi)                       # Interrupt Line: no hardware effect
    cmd = k.cfg_read(b, d, 0x04, 2)
    if cmd & (1 << 10):
        k.trace_sw("OS", "PCI Config Space", "Clear Interrupt Disable (Command bit 10)")
        k.cfg_write(b, d, 0x04, 2, cmd & ~(1 << 10))
    pdev.irqs = [gsi]
    pdev.irq_mode = "intx"
    return gsi
