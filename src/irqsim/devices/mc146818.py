"""The PC/AT real-time clock, an MC146818A (spec/mc146818.py; docs/legacy-pc.md "The RTC").

Time is kept as data, not ticks: the date and time registers are the datetime the clock
held when software last set it (or at power-up) plus the update cycles completed since.
Update cycle n begins ``500 ms + n s`` after the divider chain left reset and lasts
``T_UC`` (1984 us); UIP is set from 244 us before it begins to its end, and the registers
change at its end, when UF is set and the alarm bytes are compared (0xC0-0xFF: don't
care). Periodic flags fall every ``periodic_ticks(RS)`` ticks of the 32.768 kHz time base
(tick k at ``ceil(k x 10^9 / 32768)`` ns). Flags are brought up to date when read and at
the engine events the enabled interrupts need; IRQ 8 is high while IRQF = (PF and PIE) or
(AF and AIE) or (UF and UIE), and reading register C clears the flags and drops it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from irqsim.sim.context import SimContext
from irqsim.sim.rules import rule
from irqsim.spec.mc146818 import (
    A_DV,
    A_DV_SHIFT,
    A_RS,
    A_UIP,
    ALARM_DONT_CARE,
    B_AIE,
    B_DM,
    B_HOUR24,
    B_PIE,
    B_SET,
    B_UIE,
    C_AF,
    C_IRQF,
    C_PF,
    C_UF,
    CENTURY,
    D_VRT,
    DAY_OF_MONTH,
    DAY_OF_WEEK,
    DV_32K,
    FIRST_UPDATE_NS,
    HOUR_PM,
    HOURS,
    HOURS_ALARM,
    MINUTES,
    MINUTES_ALARM,
    MONTH,
    NMI_DISABLE,
    REG_A,
    REG_B,
    REG_C,
    REG_D,
    RTC_DATA,
    RTC_INDEX,
    RTC_INDEX_MASK,
    RTC_IRQ,
    RTC_PORTS,
    RTC_UPPER_DATA,
    SECONDS,
    SECONDS_ALARM,
    T_BUC_NS,
    T_UC_NS,
    TIME_BASE_HZ,
    UPDATE_PERIOD_NS,
    YEAR,
    periodic_ticks,
)

if TYPE_CHECKING:
    from irqsim.apic.i8259 import IsaIrqLines

NS = 1_000_000_000
POWER_ON = datetime(2000, 1, 1)
ALARM_SEARCH = 86_400                   # updates searched for an alarm match (a day)

R_READ_IN_UPDATE = rule("RTC-READ-IN-UPDATE", "MC146818A 'Update Cycle'",
                        "a time or date register read during an update cycle (UIP was set "
                        "for 244 us before it: software must check UIP first)")
R_BAD_TIME = rule("RTC-TIME-VALUE", "MC146818A 'Time, Calendar and Alarm Data Modes'",
                  "a time or date value out of range for the data mode")
R_DIVIDER = rule("RTC-DIVIDER", "MC146818A 'Register A' (DV2-DV0)",
                 "a divider setting other than 010 (32.768 kHz) or 11x (reset) on a PC")


def tick_time(k: int) -> int:
    """The instant (ns, from the divider's release) of 32.768 kHz tick ``k``."""
    return -(-k * NS // TIME_BASE_HZ)


def ticks_at(t: int) -> int:
    """32.768 kHz ticks completed ``t`` ns after the divider's release."""
    return t * TIME_BASE_HZ // NS


class Rtc:
    """The MC146818A at ports 70h-73h on ISA IRQ 8 (port 70h bit 7: NMI disable)."""

    def __init__(self, ctx: SimContext, name: str = "rtc0", start: datetime = POWER_ON) -> None:
        self.ctx = ctx
        self.name = name
        self.irq = RTC_IRQ
        self.ports: tuple[int, ...] = RTC_PORTS
        self.lines: IsaIrqLines | None = None
        self.index = 0
        self.upper_index = 0x80
        self.nmi_disabled = False
        self.ram = bytearray(256)               # CMOS RAM (0x0E-0x7F; 0x80-0xFF upper bank)
        self.a = 0x26                           # as firmware leaves it: 32.768 kHz, 1024 Hz
        self.b = B_HOUR24
        self.alarm = [0, 0, 0]                  # seconds, minutes, hours alarm bytes (raw)
        self.t_div = 0                          # when the divider chain left reset
        self.running = True
        self.base = start                       # the time after ``base_n`` updates
        self.base_n = 0
        self.shadow: dict[int, int] | None = None   # SET = 1: the values software writes
        self.flags = 0                          # UF, AF, PF as of ``t_flags``
        self.t_flags = 0
        self.irqf = False
        self.interrupts = 0                     # IRQ 8 assertions
        self._handle: int | None = None

    def attach(self, lines: IsaIrqLines) -> None:
        self.lines = lines

    # -- time ----------------------------------------------------------------------------
    def _completed(self, t: int) -> int:
        """Update cycles ended by ``t`` (since the divider left reset)."""
        if not self.running:
            return 0
        first_end = self.t_div + FIRST_UPDATE_NS + T_UC_NS
        return 0 if t < first_end else (t - first_end) // UPDATE_PERIOD_NS + 1

    def _updating(self, t: int) -> tuple[bool, bool]:
        """(UIP, inside an update cycle) at ``t``."""
        if not self.running:
            return False, False
        rel = t - self.t_div - FIRST_UPDATE_NS
        phase = rel % UPDATE_PERIOD_NS
        in_cycle = rel >= 0 and phase < T_UC_NS
        return in_cycle or (rel >= -T_BUC_NS and phase >= UPDATE_PERIOD_NS - T_BUC_NS), \
            in_cycle

    def now(self, t: int | None = None) -> datetime:
        """The time the clock holds at ``t`` (default: now)."""
        t = self.ctx.engine.now if t is None else t
        if self.b & B_SET:
            return self.base
        return self.base + timedelta(seconds=self._completed(t) - self.base_n)

    def _rebase(self, t: int, dt: datetime | None = None) -> None:
        self.base = self.now(t) if dt is None else dt
        self.base_n = self._completed(t)

    # -- flags and the IRQ ---------------------------------------------------------------
    def _catch_up(self, t: int) -> None:
        """Set the flags of what happened in (t_flags, t]."""
        t0, self.t_flags = self.t_flags, t
        if not self.running or t <= t0:
            return
        p = periodic_ticks(self.a & A_RS)
        if p and ticks_at(t - self.t_div) // p > ticks_at(max(t0 - self.t_div, 0)) // p:
            self.flags |= C_PF
        if self.b & B_SET:
            return
        n0, n1 = self._completed(t0), self._completed(t)
        if n1 > n0:
            self.flags |= C_UF
            if not self.flags & C_AF:
                for n in range(n0 + 1, min(n1, n0 + ALARM_SEARCH) + 1):
                    if self._alarm_matches(self.base + timedelta(seconds=n - self.base_n)):
                        self.flags |= C_AF
                        break

    def _alarm_matches(self, dt: datetime) -> bool:
        for raw, v, hours in ((self.alarm[0], dt.second, False),
                              (self.alarm[1], dt.minute, False),
                              (self.alarm[2], dt.hour, True)):
            if raw >= ALARM_DONT_CARE:
                continue
            if raw != self._encode(v, hours):
                return False
        return True

    def _irq_level(self) -> bool:
        b, f = self.b, self.flags
        return bool((f & C_PF and b & B_PIE) or (f & C_AF and b & B_AIE)
                    or (f & C_UF and b & B_UIE))

    def _evaluate(self) -> None:
        """Assert IRQ 8 when an enabled flag is set, then arm the next event."""
        if not self.irqf and self._irq_level():
            self.irqf = True
            self.interrupts += 1
            tr = self.ctx.tracer
            if tr.on:
                tr.emit(self.ctx.engine.now, self.name, self.name, "device-event",
                        what=f"IRQ 8 (register C {self.flags:#04x})")
            assert self.lines is not None, "add_isa() the RTC first"
            self.lines.set_irq(self.irq, 1, self.name)
        self._arm()

    def _next_event(self, t: int) -> int | None:
        """The first instant after ``t`` an enabled flag gets set (None: never)."""
        if self.irqf or not self.running:
            return None
        cands = []
        p = periodic_ticks(self.a & A_RS)
        if p and self.b & B_PIE:
            cands.append(self.t_div + tick_time((ticks_at(t - self.t_div) // p + 1) * p))
        if self.b & (B_UIE | B_AIE) and not self.b & B_SET:
            first_end = self.t_div + FIRST_UPDATE_NS + T_UC_NS
            n = self._completed(t)                              # the next update to end
            end = first_end + n * UPDATE_PERIOD_NS
            if self.b & B_UIE:
                cands.append(end)
            else:
                for i in range(ALARM_SEARCH):
                    if self._alarm_matches(self.base + timedelta(seconds=n + 1 + i
                                                                 - self.base_n)):
                        cands.append(end + i * UPDATE_PERIOD_NS)
                        break
        return min(cands) if cands else None

    def _arm(self) -> None:
        eng = self.ctx.engine
        if self._handle is not None:
            eng.cancel(self._handle)
            self._handle = None
        nxt = self._next_event(eng.now)
        if nxt is not None:
            self._handle = eng.at(nxt, self._event)

    def _event(self, _: object = None) -> None:
        self._handle = None
        self._catch_up(self.ctx.engine.now)
        self._evaluate()

    # -- encoding ------------------------------------------------------------------------
    def _encode(self, v: int, hours: bool = False) -> int:
        pm = 0
        if hours and not self.b & B_HOUR24:
            pm = HOUR_PM if v >= 12 else 0
            v = v % 12 or 12
        if not self.b & B_DM:
            v = (v // 10) << 4 | v % 10
        return v | pm

    def _decode(self, raw: int, hours: bool = False) -> int | None:
        pm = False
        if hours and not self.b & B_HOUR24:
            pm, raw = bool(raw & HOUR_PM), raw & ~HOUR_PM
        if not self.b & B_DM:
            hi, lo = raw >> 4, raw & 0xF
            if hi > 9 or lo > 9:
                return None
            raw = hi * 10 + lo
        if hours and not self.b & B_HOUR24:
            if not 1 <= raw <= 12:
                return None
            raw = raw % 12 + (12 if pm else 0)
        return raw

    def _time_bytes(self, dt: datetime) -> dict[int, int]:
        return {SECONDS: self._encode(dt.second), MINUTES: self._encode(dt.minute),
                HOURS: self._encode(dt.hour, True),
                DAY_OF_WEEK: self._encode(dt.isoweekday() % 7 + 1),
                DAY_OF_MONTH: self._encode(dt.day), MONTH: self._encode(dt.month),
                YEAR: self._encode(dt.year % 100), CENTURY: self._encode(dt.year // 100)}

    def _from_bytes(self, regs: dict[int, int]) -> datetime | None:
        vals = {}
        for i in (SECONDS, MINUTES, HOURS, DAY_OF_MONTH, MONTH, YEAR, CENTURY):
            v = self._decode(regs[i], i == HOURS)
            if v is None:
                return None
            vals[i] = v
        try:
            return datetime(vals[CENTURY] * 100 + vals[YEAR], vals[MONTH], vals[DAY_OF_MONTH],
                            vals[HOURS], vals[MINUTES], vals[SECONDS])
        except ValueError:
            return None

    # -- registers -----------------------------------------------------------------------
    def read_register(self, index: int) -> int:
        t = self.ctx.engine.now
        if index == REG_A:
            return (self.a & ~A_UIP) | (A_UIP if self._updating(t)[0] else 0)
        if index == REG_B:
            return self.b
        if index == REG_C:
            self._catch_up(t)
            v = self.flags | (C_IRQF if self.irqf else 0)
            self.flags = 0
            if self.irqf:
                self.irqf = False
                assert self.lines is not None
                self.lines.set_irq(self.irq, 0, self.name)
            self._arm()
            return v
        if index == REG_D:
            return D_VRT
        if index in (SECONDS_ALARM, MINUTES_ALARM, HOURS_ALARM):
            return self.alarm[(index - 1) // 2]
        if index in (SECONDS, MINUTES, HOURS, DAY_OF_WEEK, DAY_OF_MONTH, MONTH, YEAR, CENTURY):
            if self.shadow is not None:
                return self.shadow[index]
            if self._updating(t)[1]:
                self.ctx.diag(self.name, R_READ_IN_UPDATE,
                              f"register {index:#04x} read {t} ns, inside an update cycle")
            return self._time_bytes(self.now(t))[index]
        return self.ram[index]

    def write_register(self, index: int, value: int) -> None:
        t = self.ctx.engine.now
        value &= 0xFF
        if index == REG_A:
            self._catch_up(t)
            dv = (value & A_DV) >> A_DV_SHIFT
            if dv >= 0b110:
                if self.running:
                    self._rebase(t)
                    self.running = False
            else:
                if dv != DV_32K:
                    self.ctx.diag(self.name, R_DIVIDER,
                                  f"register A DV = {dv:03b}; a PC's RTC runs at 32.768 kHz "
                                  f"(010)")
                if not self.running:
                    self.running, self.t_div = True, t
                    self.base_n = 0
                    self.t_flags = t
            self.a = value & ~A_UIP
            self._evaluate()
            return
        if index == REG_B:
            self._catch_up(t)
            was_set = bool(self.b & B_SET)
            if value & B_SET and not was_set:
                self._rebase(t)                             # (in the old mode)
            self.b = value
            if value & B_SET and not was_set:
                self.shadow = self._time_bytes(self.base)   # in the new mode
            if was_set and not value & B_SET:
                assert self.shadow is not None
                dt = self._from_bytes(self.shadow)
                if dt is None:
                    self.ctx.diag(self.name, R_BAD_TIME,
                                  f"SET cleared with time bytes {self.shadow}: not a date")
                    dt = self.base
                self.shadow = None
                self.base, self.base_n = dt, self._completed(t)
                self.t_flags = t
            self._evaluate()
            return
        if index in (REG_C, REG_D):
            return                                      # read-only
        if index in (SECONDS_ALARM, MINUTES_ALARM, HOURS_ALARM):
            self._catch_up(t)
            self.alarm[(index - 1) // 2] = value
            self._evaluate()
            return
        if index in (SECONDS, MINUTES, HOURS, DAY_OF_WEEK, DAY_OF_MONTH, MONTH, YEAR, CENTURY):
            if self.shadow is not None:
                self.shadow[index] = value
                return
            if index == DAY_OF_WEEK:
                return                                  # derived from the date here
            self._catch_up(t)
            regs = self._time_bytes(self.now(t))
            regs[index] = value
            dt = self._from_bytes(regs)
            if dt is None:
                self.ctx.diag(self.name, R_BAD_TIME,
                              f"register {index:#04x} = {value:#04x}: out of range")
                return
            self._rebase(t, dt)
            self._evaluate()
            return
        self.ram[index] = value

    # -- ports ---------------------------------------------------------------------------
    def io_read(self, port: int, size: int) -> int:
        if port == RTC_DATA:
            return self.read_register(self.index)
        if port == RTC_UPPER_DATA:
            return self.ram[self.upper_index]
        return 0xFF                                     # the index ports are write-only

    def io_write(self, port: int, size: int, value: int) -> None:
        value &= 0xFF
        if port == RTC_INDEX:
            self.index = value & RTC_INDEX_MASK
            self.nmi_disabled = bool(value & NMI_DISABLE)
        elif port == RTC_DATA:
            self.write_register(self.index, value)
        elif port == RTC_UPPER_DATA:
            self.ram[self.upper_index] = value
        else:
            self.upper_index = 0x80 | (value & RTC_INDEX_MASK)
