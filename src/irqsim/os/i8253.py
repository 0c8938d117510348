"""The PIT clockevent device in the OS (Linux drivers/clocksource/i8253.c, arch/x86/kernel/
i8253.c; docs/legacy-pc.md "The 8254 PIT").

Linux programs counter 0 through port 43h and 40h only: periodic mode is mode 2 (rate
generator, control word 0x34: counter 0, LSB then MSB, binary) with ``LATCH(HZ)``; one-shot
is mode 4 (0x38) with each event's delta written as LSB and MSB; shutdown writes the mode-0
control word 0x30, which stops the counter with OUT low. Linux then also writes a zero count
when ``i8253_clear_counter_on_shutdown`` is set (the default), which on an 8254 starts one
last count of 65536: IRQ 0 rises once more 54.9 ms later (``clear_counter``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from irqsim.spec.i8254 import PIT_CH0, PIT_MODE, PIT_TICK_RATE

if TYPE_CHECKING:
    from irqsim.os.kernel import Kernel

PIT_PERIODIC = 0x34                 # counter 0, LSB/MSB, mode 2, binary
PIT_ONESHOT = 0x38                  # counter 0, LSB/MSB, mode 4, binary
PIT_SHUTDOWN = 0x30                 # counter 0, LSB/MSB, mode 0, binary


def pit_latch(hz: int) -> int:
    """LATCH: the counter-0 count for ``hz`` ticks a second (include/linux/timex.h)."""
    if hz <= 0:
        raise ValueError(f"PIT: HZ must be positive, got {hz}")
    return (PIT_TICK_RATE + hz // 2) // hz


def pit_count_for(period_ns: int) -> int:
    """The count whose period is closest to ``period_ns`` (2..65536 CLK pulses)."""
    return max(2, min(0x10000, (period_ns * PIT_TICK_RATE + 500_000_000) // 1_000_000_000))


class PitClockevent:
    """Linux's i8253_clockevent: counter 0 on IRQ 0, driven by port writes of the CPU the
    calling code runs on."""

    def __init__(self, k: Kernel) -> None:
        self.k = k

    def _outb(self, value: int, port: int) -> None:
        self.k.current_cpu.outl(port, value & 0xFF, 1)

    def set_periodic(self, count: int) -> None:
        """pit_set_periodic: mode 2 with ``count`` (LATCH(HZ) in Linux)."""
        self.k.trace_sw("OS", "pit", f"pit_set_periodic: mode 2, count {count}")
        self._outb(PIT_PERIODIC, PIT_MODE)
        self._outb(count & 0xFF, PIT_CH0)
        self._outb(count >> 8, PIT_CH0)

    def set_oneshot(self) -> None:
        """pit_set_oneshot: mode 4; each pit_next_event writes a count."""
        self._outb(PIT_ONESHOT, PIT_MODE)

    def next_event(self, delta: int) -> None:
        """pit_next_event: IRQ 0 rises ``delta`` + 1 CLK pulses from now (mode 4)."""
        self._outb(delta & 0xFF, PIT_CH0)
        self._outb(delta >> 8, PIT_CH0)

    def shutdown(self, clear_counter: bool = False) -> None:
        """clockevent_i8253_disable: mode 0 stops counter 0 (OUT low); ``clear_counter``
        also writes the zero count Linux writes by default."""
        self.k.trace_sw("OS", "pit", "pit_shutdown: mode 0")
        self._outb(PIT_SHUTDOWN, PIT_MODE)
        if clear_counter:
            self._outb(0, PIT_CH0)
            self._outb(0, PIT_CH0)
