"""PCI enumeration and resource assignment, through ECAM configuration reads/writes.

Depth-first scan from bus 0: bridges get secondary/subordinate bus numbers,
BARs are sized (write all ones, read back) and assigned naturally aligned
addresses, and bridge memory windows are programmed to cover their children.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from irqsim.os.iov import sriov_init
from irqsim.sim.rules import rule
from irqsim.spec.modes import IrqMode
from irqsim.spec.pci import CAP_ID_MSI, CAP_ID_MSIX

R_MMIO_EXHAUSTED = rule(
    "OS-MMIO-WINDOW-EXHAUSTED", "Linux PCI resource assignment",
    "a BAR needs room in the 32-bit MMIO window")

if TYPE_CHECKING:
    from irqsim.os.kernel import Kernel

MB = 1 << 20


@dataclass(slots=True)
class Bar:
    index: int
    address: int
    size: int
    is64: bool
    prefetchable: bool


@dataclass(slots=True)
class PciDev:
    """The OS's view of one function (Linux's struct pci_dev)."""

    bus: int
    devfn: int
    vendor: int
    device: int
    class_code: int
    header_type: int
    pin: int = 0
    bars: dict[int, Bar] = field(default_factory=dict)
    caps: list[tuple[int, int]] = field(default_factory=list)
    msix_cap: int | None = None
    msi_cap: int | None = None
    irqs: list[int] = field(default_factory=list)
    irq_mode: IrqMode = IrqMode.NONE
    driver: object | None = None
    secondary: int = 0
    subordinate: int = 0
    children: list[PciDev] = field(default_factory=list)
    parent: PciDev | None = field(default=None, repr=False, compare=False)  # bridge above
    irq: int = 0                      # Linux's dev->irq: the INTx line (GSI), 0 if none
    msi_domain: Any = field(default=None, repr=False, compare=False)  # PCI-MSI(-X) domain
    sriov: Any = field(default=None, repr=False, compare=False)   # os/iov.py SriovInfo (PF)
    physfn: PciDev | None = field(default=None, repr=False, compare=False)  # a VF's PF
    driver_override: str | None = None  # sysfs driver_override: bind only the driver so named

    @property
    def slot(self) -> str:
        return f"0000:{self.bus:02x}:{self.devfn >> 3:02x}.{self.devfn & 7}"

    @property
    def is_bridge(self) -> bool:
        return self.header_type & 0x7F == 1


class Enumerator:
    """Scans and assigns resources using the kernel's configuration accessors."""

    def __init__(self, kernel: Kernel) -> None:
        self.k = kernel
        fw = kernel.acpi.resources
        self.next_bus = 1
        self.mem_cursor = fw.mmio32_base
        self.mem_limit = fw.mmio32_limit
        self.pref_cursor = fw.mmio64_base
        self.devices: list[PciDev] = []

    def run(self) -> list[PciDev]:
        self.k.trace_sw("OS", "PCI Config Space", "Enumerate PCI bus")
        self.scan_bus(0)
        self.k.trace_sw("PCI Config Space", "OS", "Return device information", reply=True)
        return self.devices

    def scan_bus(self, bus: int, parent: PciDev | None = None) -> list[PciDev]:
        found: list[PciDev] = []
        k = self.k
        for dev in range(32):
            for fn in range(8):
                devfn = dev << 3 | fn
                vendor = k.cfg_read(bus, devfn, 0x00, 2)
                if vendor == 0xFFFF:
                    if fn == 0:
                        break
                    continue
                header = k.cfg_read(bus, devfn, 0x0E, 1)
                pdev = PciDev(bus, devfn, vendor, k.cfg_read(bus, devfn, 0x02, 2),
                              k.cfg_read(bus, devfn, 0x08, 4) >> 8, header,
                              pin=k.cfg_read(bus, devfn, 0x3D, 1), parent=parent)
                self.devices.append(pdev)
                found.append(pdev)
                self.read_caps(pdev)
                if pdev.is_bridge:
                    self.scan_bridge(pdev)
                else:
                    self.size_bars(pdev)
                    sriov_init(self, pdev)
                if fn == 0 and not header & 0x80:
                    break
        return found

    def read_caps(self, pdev: PciDev) -> None:
        k = self.k
        if not k.cfg_read(pdev.bus, pdev.devfn, 0x06, 2) & 0x10:
            return
        ptr = k.cfg_read(pdev.bus, pdev.devfn, 0x34, 1) & 0xFC
        seen: set[int] = set()
        while ptr and ptr not in seen:
            seen.add(ptr)
            cid = k.cfg_read(pdev.bus, pdev.devfn, ptr, 1)
            pdev.caps.append((ptr, cid))
            if cid == CAP_ID_MSIX:
                pdev.msix_cap = ptr
            elif cid == CAP_ID_MSI:
                pdev.msi_cap = ptr
            ptr = k.cfg_read(pdev.bus, pdev.devfn, ptr + 1, 1) & 0xFC

    def scan_bridge(self, pdev: PciDev) -> None:
        k = self.k
        b, d = pdev.bus, pdev.devfn
        sec = self.next_bus
        self.next_bus += 1
        k.cfg_write(b, d, 0x18, 1, pdev.bus)
        k.cfg_write(b, d, 0x19, 1, sec)
        k.cfg_write(b, d, 0x1A, 1, 0xFF)
        mem_start = self.mem_cursor = _align(self.mem_cursor, MB)
        pref_start = self.pref_cursor = _align(self.pref_cursor, MB)
        pdev.children = self.scan_bus(sec, pdev)
        sub = self.next_bus - 1
        k.cfg_write(b, d, 0x1A, 1, sub)
        pdev.secondary, pdev.subordinate = sec, sub
        self.mem_cursor = _align(self.mem_cursor, MB)
        self.pref_cursor = _align(self.pref_cursor, MB)
        if self.mem_cursor > mem_start:
            k.cfg_write(b, d, 0x20, 2, (mem_start >> 16) & 0xFFF0)
            k.cfg_write(b, d, 0x22, 2, ((self.mem_cursor - 1) >> 16) & 0xFFF0)
        else:
            k.cfg_write(b, d, 0x20, 2, 0xFFF0)
            k.cfg_write(b, d, 0x22, 2, 0x0000)
        if self.pref_cursor > pref_start:
            end = self.pref_cursor - 1
            k.cfg_write(b, d, 0x24, 2, (pref_start >> 16) & 0xFFF0)
            k.cfg_write(b, d, 0x28, 4, pref_start >> 32)
            k.cfg_write(b, d, 0x26, 2, (end >> 16) & 0xFFF0)
            k.cfg_write(b, d, 0x2C, 4, end >> 32)
        else:
            k.cfg_write(b, d, 0x24, 2, 0xFFF0)
            k.cfg_write(b, d, 0x26, 2, 0x0000)
        # Bridges forward memory down (MSE) and requests up, including MSIs (BME).
        cmd = k.cfg_read(b, d, 0x04, 2)
        k.cfg_write(b, d, 0x04, 2, cmd | 0x0006)

    def size_bars(self, pdev: PciDev) -> None:
        k = self.k
        b, d = pdev.bus, pdev.devfn
        i = 0
        while i < 6:
            off = 0x10 + 4 * i
            orig = k.cfg_read(b, d, off, 4)
            k.cfg_write(b, d, off, 4, 0xFFFFFFFF)
            probe = k.cfg_read(b, d, off, 4)
            k.cfg_write(b, d, off, 4, orig)
            if probe == 0 or probe & 1:          # unimplemented, or I/O (not assigned here)
                i += 1
                continue
            is64 = (probe >> 1) & 3 == 2
            pref = bool(probe & 8)
            mask = probe & 0xFFFFFFF0
            if is64:
                orig_hi = k.cfg_read(b, d, off + 4, 4)
                k.cfg_write(b, d, off + 4, 4, 0xFFFFFFFF)
                hi = k.cfg_read(b, d, off + 4, 4)
                k.cfg_write(b, d, off + 4, 4, orig_hi)
                mask |= hi << 32
                size = ((~mask) & ((1 << 64) - 1)) + 1
            else:
                size = ((~mask) & 0xFFFFFFFF) + 1
            if is64 and pref:
                addr = self.pref_cursor = _align(self.pref_cursor, size)
                self.pref_cursor += size
            else:
                addr = self.mem_cursor = _align(self.mem_cursor, size)
                self.mem_cursor += size
                if self.mem_cursor > self.mem_limit:
                    k.ctx.diag("OS", R_MMIO_EXHAUSTED,
                               f"{pdev.slot} BAR{i}: 32-bit MMIO window exhausted")
            k.cfg_write(b, d, off, 4, addr & 0xFFFFFFFF)
            if is64:
                k.cfg_write(b, d, off + 4, 4, addr >> 32)
            pdev.bars[i] = Bar(i, addr, size, is64, pref)
            i += 2 if is64 else 1


def _align(x: int, a: int) -> int:
    return (x + a - 1) // a * a
