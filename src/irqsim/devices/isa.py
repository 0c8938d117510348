"""Legacy ISA devices that signal on an ISA IRQ line (docs/legacy-pc.md).

``IsaIrqDevice``: a device that raises its line on an event and drops it when software
reads its data port (the i8042 keyboard controller holds IRQ 1 until port 0x60 is read; the
RTC holds IRQ 8 until register C is read, the model in devices/mc146818.py). The 8254 PIT
(devices/i8254.py) and the RTC come with the board's 8259 (``Machine.pit``, ``Machine.rtc``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from irqsim.sim.context import SimContext

if TYPE_CHECKING:
    from irqsim.apic.i8259 import IsaIrqLines

I8042_DATA = 0x60


class IsaIrqDevice:
    """An ISA device on IRQ ``irq`` whose data port ``port`` read acknowledges it."""

    def __init__(self, ctx: SimContext, name: str, irq: int, port: int) -> None:
        self.ctx = ctx
        self.name = name
        self.irq = irq
        self.ports: tuple[int, ...] = (port,)
        self.lines: IsaIrqLines | None = None
        self.events = 0
        self.reads = 0
        self.data = 0

    def attach(self, lines: IsaIrqLines) -> None:
        self.lines = lines

    def event(self, data: int = 0) -> None:
        """A hardware event (a key, an RTC update): the line goes high."""
        self.events += 1
        self.data = data & 0xFF
        if self.ctx.tracer.on:
            self.ctx.tracer.emit(self.ctx.engine.now, self.name, self.name, "device-event",
                                 what=f"IRQ {self.irq}")
        assert self.lines is not None, "add_isa() the device first"
        self.lines.set_irq(self.irq, 1, self.name)

    def io_read(self, port: int, size: int) -> int:
        """The data port: its read acknowledges the device (the line goes low)."""
        self.reads += 1
        if self.lines is not None:
            self.lines.set_irq(self.irq, 0, self.name)
        return self.data

    def io_write(self, port: int, size: int, value: int) -> None:
        """Writes are accepted and ignored (commands are not modelled)."""
