"""A legacy INTx-only PCI function (no MSI, no MSI-X), e1000-style cause registers.

BAR0 (32-bit, 4 KiB) holds the interrupt registers of seed 003's e1000 example:
ICR (read-to-clear Interrupt Cause Read), ICS (write 1 to set causes, as software
does to test the line), IMS/IMC (write 1 to enable / disable causes). The function's
INTx condition is ``ICR & IMS != 0``: it asserts its virtual wire when a cause is
enabled and pending, and deasserts when the driver reads ICR (seed 003 "Handler
services device ... Device deasserts INTx").
"""

from __future__ import annotations

from irqsim.pci.config import BarSpec
from irqsim.pci.function import PciFunction
from irqsim.sim.context import SimContext
from irqsim.spec.pcie import EXP_TYPE_ENDPOINT
from irqsim.spec.regs import RO, RW, WO, F, Register

LEGACY_VENDOR = 0x1B36          # irqsim's own models use device IDs 0x00F0-0x00FF
LEGACY_DEVICE = 0x00F0

ICR = Register("ICR", 0x00, 4, (F("causes", (7, 0), RO, "pending causes; a read clears them"),))
ICS = Register("ICS", 0x08, 4, (F("causes", (7, 0), WO, "1 sets the cause"),))
IMS = Register("IMS", 0x10, 4, (F("enabled", (7, 0), RW, "write 1 enables a cause; read: "
                                                         "the enabled causes"),))
IMC = Register("IMC", 0x14, 4, (F("disable", (7, 0), WO, "1 disables the cause"),))
REGISTERS = (ICR, ICS, IMS, IMC)
CAUSE_BITS = 0xFF


class LegacyRegs:
    """The BAR0 register block."""

    __slots__ = ("dev",)

    def __init__(self, dev: LegacyIntxDevice) -> None:
        self.dev = dev

    def mmio_read(self, offset: int, size: int) -> int:
        dev = self.dev
        if offset == ICR.offset:
            v = dev.icr
            dev.icr = 0
            dev.reads_to_clear += 1
            dev.update_line()
            return v
        if offset == IMS.offset:
            return dev.ims
        return 0

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        dev = self.dev
        if offset == ICS.offset:
            dev.cause(value & CAUSE_BITS)
        elif offset == IMS.offset:
            dev.ims |= value & CAUSE_BITS
            dev.update_line()
        elif offset == IMC.offset:
            dev.ims &= ~value & CAUSE_BITS
            dev.update_line()


class LegacyIntxDevice(PciFunction):
    """A PCI function that signals only through its INTx pin (``pin`` 1-4); ``express``:
    a PCIe endpoint (a PCI Express capability, INTx as messages) or, False, a conventional
    PCI function (no PCI Express capability: PCIe 7.5.3 applies to PCIe functions only)."""

    def __init__(self, ctx: SimContext, name: str = "legacy", pin: int = 1,
                 express: bool = True) -> None:
        if not 1 <= pin <= 4:
            raise ValueError(f"INTx pin must be 1-4 (INTA-INTD), got {pin}")
        super().__init__(ctx, name, LEGACY_VENDOR, LEGACY_DEVICE, 0x088000,
                         bars=(BarSpec(0, 0x1000),), interrupt_pin=pin,
                         express_type=EXP_TYPE_ENDPOINT if express else None)
        self.icr = 0
        self.ims = 0
        self.events = 0
        self.reads_to_clear = 0
        self.map_region(0, 0, 0x1000, LegacyRegs(self))

    def event(self, cause: int = 0) -> None:
        """A hardware event with cause bit ``cause`` (0-7)."""
        self.events += 1
        if self.ctx.tracer.on:
            self.ctx.tracer.emit(self.ctx.engine.now, self.name, self.name, "device-event",
                                 what=f"cause {cause}")
        self.cause(1 << cause)

    def cause(self, bits: int) -> None:
        """Set cause bits; an enabled cause raises the INTx condition."""
        self.icr |= bits
        if bits & self.ims:
            self.intx_raise()

    def update_line(self) -> None:
        """Re-evaluate ``ICR & IMS`` after a register access."""
        want = bool(self.icr & self.ims)
        if want and not self.intx_status:
            self.intx_raise()
        elif not want and self.intx_status:
            self.intx_clear()
