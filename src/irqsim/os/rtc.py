"""The CMOS RTC in the OS (Linux drivers/rtc/rtc-cmos.c, drivers/rtc/rtc-mc146818-lib.c;
docs/legacy-pc.md "The RTC").

Every access is CMOS_READ/CMOS_WRITE: the register index to port 70h, then port 71h.
``set_freq`` is cmos_set_freq (RS = 16 - log2(Hz) + 1, Hz a power of two 2-8192),
``irq_enable``/``irq_disable`` are cmos_irq_enable/cmos_irq_disable (register C is read
first, so a stale flag does not fire at once), ``interrupt`` is cmos_interrupt (read C to
acknowledge, keep the enabled flags), ``read_time`` is mc146818_get_time (wait while UIP
is set, read the time, decode BCD and 12-hour forms as register B says).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from irqsim.os.irq import IRQ_HANDLED, IRQ_NONE, IrqReturn
from irqsim.spec.mc146818 import (
    A_RS,
    A_UIP,
    B_AIE,
    B_DM,
    B_HOUR24,
    B_PIE,
    B_UIE,
    C_IRQF,
    CENTURY,
    DAY_OF_MONTH,
    HOUR_PM,
    HOURS,
    MINUTES,
    MONTH,
    REG_A,
    REG_B,
    REG_C,
    RTC_DATA,
    RTC_INDEX,
    SECONDS,
    YEAR,
)

if TYPE_CHECKING:
    from irqsim.os.kernel import Kernel

RTC_IRQMASK = B_PIE | B_AIE | B_UIE
UIP_WAIT_NS = 1_000_000                  # mc146818_avoid_UIP: mdelay(1) between tries


def rate_for(hz: int) -> int:
    """cmos_set_freq's rate select for ``hz`` (a power of two, 2-8192 Hz)."""
    if hz < 2 or hz > 8192 or hz & (hz - 1):
        raise ValueError(f"RTC periodic rate must be a power of two in 2-8192 Hz, got {hz}")
    return 16 - hz.bit_length() + 1


class RtcCmos:
    """Linux's rtc_cmos driver, each access a port I/O of the CPU the caller runs on."""

    def __init__(self, k: Kernel) -> None:
        self.k = k
        self.irqs = 0                   # interrupts it claimed

    def read(self, reg: int) -> int:
        cpu = self.k.current_cpu
        cpu.outl(RTC_INDEX, reg, 1)
        return cpu.inl(RTC_DATA, 1)

    def write(self, reg: int, value: int) -> None:
        cpu = self.k.current_cpu
        cpu.outl(RTC_INDEX, reg, 1)
        cpu.outl(RTC_DATA, value & 0xFF, 1)

    def set_freq(self, hz: int) -> None:
        """cmos_set_freq: the periodic rate in register A's RS bits."""
        self.write(REG_A, (self.read(REG_A) & ~A_RS & 0x7F) | rate_for(hz))

    def irq_enable(self, mask: int) -> None:
        """cmos_irq_enable: flush pending flags (read C), then set the enables in B."""
        b = self.read(REG_B)
        self.read(REG_C)
        self.write(REG_B, b | (mask & RTC_IRQMASK))

    def irq_disable(self, mask: int) -> None:
        """cmos_irq_disable: clear the enables in B, then flush the flags."""
        self.write(REG_B, self.read(REG_B) & ~(mask & RTC_IRQMASK))
        self.read(REG_C)

    def interrupt(self, _irq: int, _dev: Any) -> IrqReturn:
        """cmos_interrupt: read C (acknowledging the IRQ), keep the enabled flags."""
        irqstat = self.read(REG_C)
        control = self.read(REG_B)
        irqstat &= (control & RTC_IRQMASK) | C_IRQF
        if irqstat & RTC_IRQMASK:
            self.irqs += 1
            return IRQ_HANDLED
        return IRQ_NONE

    def read_time(self, tries: int = 10) -> datetime | None:
        """mc146818_get_time: wait out UIP (1 ms per try), read and decode the time."""
        for _ in range(tries):
            if not self.read(REG_A) & A_UIP:
                break
            self.k.spend(UIP_WAIT_NS)
        else:
            return None
        raw = {r: self.read(r) for r in (SECONDS, MINUTES, HOURS, DAY_OF_MONTH, MONTH, YEAR,
                                         CENTURY)}
        b = self.read(REG_B)
        pm = False
        if not b & B_HOUR24:
            pm = bool(raw[HOURS] & HOUR_PM)
            raw[HOURS] &= ~HOUR_PM
        if not b & B_DM:
            raw = {r: (v >> 4) * 10 + (v & 0xF) for r, v in raw.items()}
        hour = raw[HOURS]
        if not b & B_HOUR24:
            hour = hour % 12 + (12 if pm else 0)
        return datetime(raw[CENTURY] * 100 + raw[YEAR], raw[MONTH], raw[DAY_OF_MONTH], hour,
                        raw[MINUTES], raw[SECONDS])
