"""A simple endpoint with several event types that signals them with MSI.

It asks for one message per event type (Multiple Message Capable rounded up to a
power of two). With ``n`` messages enabled, event ``k`` sends message
``min(k, n - 1)``: events beyond the allocation share the last message, whose
handler reads the cause register to tell them apart (PCI 6.8.1.3 leaves that
mapping to the function). With MSI disabled it uses its INTx pin (a PCIe function
must support INTx emulation, seed 004 table), asserting while an enabled cause
is pending.

BAR0 (32-bit, 4 KiB): ISR (causes, write 1 to clear), IER (enabled causes),
TRIGGER (write 1 to raise an event from software).
"""

from __future__ import annotations

from irqsim.pci.config import BarSpec
from irqsim.pci.function import PciFunction
from irqsim.pci.msi import MsiCapability
from irqsim.sim.context import SimContext
from irqsim.spec.regs import RW, RW1C, WO, F, Register

MSI_DEVICE_VENDOR = 0x1B36
MSI_DEVICE_ID = 0x00F1
MSI_CAP_OFFSET = 0x50

ISR = Register("ISR", 0x00, 4, (F("causes", (31, 0), RW1C, "pending events, write 1 clears"),))
IER = Register("IER", 0x04, 4, (F("enabled", (31, 0), RW, "events that interrupt"),))
TRIGGER = Register("TRIGGER", 0x08, 4, (F("events", (31, 0), WO, "1 raises the event"),))
REGISTERS = (ISR, IER, TRIGGER)


class EventRegs:
    """The BAR0 register block."""

    __slots__ = ("dev",)

    def __init__(self, dev: MsiEventDevice) -> None:
        self.dev = dev

    def mmio_read(self, offset: int, size: int) -> int:
        if offset == ISR.offset:
            return self.dev.isr
        if offset == IER.offset:
            return self.dev.ier
        return 0

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        dev = self.dev
        mask = (1 << dev.n_events) - 1
        if offset == ISR.offset:
            dev.isr &= ~value & mask
            dev.update_line()
        elif offset == IER.offset:
            dev.ier = value & mask
            dev.update_line()
        elif offset == TRIGGER.offset:
            for k in range(dev.n_events):
                if value >> k & 1:
                    dev.event(k)


class MsiEventDevice(PciFunction):
    """``events`` event types (1-32) over MSI in the layout given by ``addr64``/``masking``."""

    def __init__(self, ctx: SimContext, name: str = "msidev", events: int = 4,
                 addr64: bool = True, masking: bool = True, pin: int = 1) -> None:
        if not 1 <= events <= 32:
            raise ValueError(f"events must be 1-32, got {events}")
        super().__init__(ctx, name, MSI_DEVICE_VENDOR, MSI_DEVICE_ID, 0x088000,
                         bars=(BarSpec(0, 0x1000),), interrupt_pin=pin)
        self.n_events = events
        self.isr = 0
        self.ier = 0
        self.events = [0] * events
        vectors = 1 << (events - 1).bit_length()
        self.msi = MsiCapability(self, MSI_CAP_OFFSET, vectors, addr64, masking)
        self.map_region(0, 0, 0x1000, EventRegs(self))

    def message_for(self, k: int) -> int:
        """The MSI message event ``k`` uses with the current allocation."""
        return min(k, self.msi.allocated - 1)

    def event(self, k: int) -> None:
        """Event type ``k`` happens: set its cause and interrupt if it is enabled."""
        ctx = self.ctx
        self.events[k] += 1
        if ctx.tracer.on:
            ctx.tracer.emit(ctx.engine.now, self.name, self.name, "device-event",
                            what=f"event {k}")
        self.isr |= 1 << k
        if not self.ier >> k & 1:
            return
        if self.msi.enabled:
            self.msi.signal(self.message_for(k))
        else:
            self.intx_raise()

    def update_line(self) -> None:
        """INTx mode: the condition follows ``ISR & IER``."""
        want = bool(self.isr & self.ier) and not self.msi.enabled
        if want and not self.intx_status:
            self.intx_raise()
        elif not want and self.intx_status:
            self.intx_clear()
