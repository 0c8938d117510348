"""The MC146818A RTC (devices/mc146818.py) against its datasheet ("Registers", "Interrupts",
"Update Cycle", "Time, Calendar and Alarm Data Modes") and Linux's rtc-cmos driving it."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from irqsim.devices.mc146818 import Rtc, tick_time
from irqsim.machine import Machine
from irqsim.os.irq import IRQ_HANDLED, IrqReturn
from irqsim.os.rtc import rate_for
from irqsim.sim.context import SimContext
from irqsim.spec.mc146818 import (
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
    FIRST_UPDATE_NS,
    HOURS,
    MINUTES,
    REG_A,
    REG_B,
    REG_C,
    SECONDS,
    SECONDS_ALARM,
    T_UC_NS,
    periodic_ticks,
)

S = 1_000_000_000


class Lines:
    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self.log: list[tuple[int, int]] = []

    def set_irq(self, irq: int, level: int, source: str) -> None:
        assert irq == 8
        self.log.append((self.ctx.engine.now, level))


def make(start: datetime = datetime(2000, 1, 1)) -> tuple[SimContext, Rtc, Lines]:
    ctx = SimContext()
    rtc = Rtc(ctx, start=start)
    lines = Lines(ctx)
    rtc.attach(lines)                  # type: ignore[arg-type]
    return ctx, rtc, lines


def run_to(ctx: SimContext, t: int) -> None:
    ctx.engine.run(until=t)
    ctx.engine.now = max(ctx.engine.now, t)


def test_periodic_interrupt_is_held_until_register_c_is_read() -> None:
    """MC146818A "Periodic Interrupt": RS = 6 with the 32.768 kHz base is 1024 Hz (every 32
    ticks, 976.5625 us); with PIE the IRQ rises at the first boundary and stays high until
    register C is read (PF and IRQF set), which clears the flags and drops it."""
    ctx, rtc, lines = make()
    assert periodic_ticks(6) == 32 and periodic_ticks(1) == periodic_ticks(8) == 128
    rtc.write_register(REG_B, B_HOUR24 | B_PIE)
    run_to(ctx, 3 * tick_time(32) + 1000)
    assert lines.log == [(tick_time(32), 1)]                # held: no new edge unread
    assert rtc.read_register(REG_C) == C_IRQF | C_PF
    assert lines.log[-1] == (ctx.engine.now, 0)
    run_to(ctx, tick_time(4 * 32))
    assert lines.log[-1] == (tick_time(4 * 32), 1)
    assert rtc.read_register(REG_C) & C_PF and rtc.read_register(REG_C) == 0


def test_time_counts_through_update_cycles_with_uip() -> None:
    """"Update Cycle": the first update begins 500 ms after the divider leaves reset, then
    one per second, each 1984 us long; UIP is set 244 us before it begins until it ends;
    the time registers change at its end. Reading them inside the cycle is diagnosed."""
    ctx, rtc, _ = make(datetime(2026, 12, 2, 23, 59, 58))
    run_to(ctx, FIRST_UPDATE_NS - 300_000)
    assert not rtc.read_register(REG_A) & 0x80
    run_to(ctx, FIRST_UPDATE_NS - 100_000)
    assert rtc.read_register(REG_A) & 0x80
    run_to(ctx, FIRST_UPDATE_NS + 1_000_000)
    assert rtc.read_register(REG_A) & 0x80 and rtc.read_register(SECONDS) == 0x58
    assert [d.rule_id for d in ctx.diagnostics] == ["RTC-READ-IN-UPDATE"]
    run_to(ctx, FIRST_UPDATE_NS + T_UC_NS)
    assert not rtc.read_register(REG_A) & 0x80
    assert rtc.read_register(SECONDS) == 0x59                  # BCD
    run_to(ctx, FIRST_UPDATE_NS + 2 * S)                       # midnight rolls the date
    assert rtc.now() == datetime(2026, 12, 3, 0, 0, 0)
    assert [rtc.read_register(r) for r in (7, 8, 9, 0x32)] == [0x03, 0x12, 0x26, 0x20]
    assert rtc.read_register(6) == 5                          # Thursday (Sunday = 1)


def test_set_bit_loads_the_time_in_12_hour_binary_mode() -> None:
    """Register B SET inhibits updates while software writes the time; DM = 1 is binary,
    24/12 = 0 is 12-hour with bit 7 = PM; clearing SET starts counting from the value
    written; an out-of-range value is diagnosed (RTC-TIME-VALUE) and not loaded."""
    ctx, rtc, _ = make()
    rtc.write_register(REG_B, B_DM | B_SET)
    rtc.write_register(HOURS, 0x80 | 11)                       # 11 PM
    rtc.write_register(MINUTES, 30)
    run_to(ctx, 3 * S)
    assert rtc.read_register(HOURS) == 0x80 | 11                # SET: as written, frozen
    rtc.write_register(REG_B, B_DM)
    assert rtc.now() == datetime(2000, 1, 1, 23, 30, 0)
    run_to(ctx, 5 * S + T_UC_NS)
    assert rtc.now() == datetime(2000, 1, 1, 23, 30, 2)
    rtc.write_register(MINUTES, 61)
    assert [d.rule_id for d in ctx.diagnostics] == ["RTC-TIME-VALUE"]
    assert rtc.read_register(MINUTES) == 30


def test_alarm_and_update_ended_interrupts() -> None:
    """"Alarm Interrupt": the alarm bytes are compared at every update's end, 0xC0-0xFF
    matching anything; AIE raises IRQ 8 when seconds = 5 ("once a minute"). UIE raises it
    at every update's end (UF)."""
    ctx, rtc, lines = make()
    rtc.write_register(SECONDS_ALARM, 0x05)
    rtc.write_register(3, 0xC0)
    rtc.write_register(5, 0xFF)
    rtc.write_register(REG_B, B_HOUR24 | B_AIE)
    run_to(ctx, 70 * S)
    rises = [t for t, lv in lines.log if lv]
    assert rises == [FIRST_UPDATE_NS + T_UC_NS + 4 * S]         # 00:00:05, held after
    assert rtc.read_register(REG_C) == C_IRQF | C_AF | C_UF | C_PF    # PF: RS = 6 runs
    ctx2, rtc2, lines2 = make()
    rtc2.write_register(REG_B, B_HOUR24 | B_UIE)
    for _ in range(3):
        ctx2.engine.run()
        if lines2.log and lines2.log[-1][1]:
            rtc2.read_register(REG_C)
        if len([1 for _, lv in lines2.log if lv]) == 3:
            break
    assert [t for t, lv in lines2.log if lv] == [FIRST_UPDATE_NS + T_UC_NS + n * S
                                                for n in range(3)]


@settings(max_examples=60, deadline=None)
@given(dt=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2089, 12, 31)),
       binary=st.booleans(), h24=st.booleans(), later=st.integers(0, 200))
def test_registers_round_trip_every_data_mode(dt: datetime, binary: bool, h24: bool,
                                              later: int) -> None:
    """"Time, Calendar and Alarm Data Modes": whatever the mode (BCD or binary, 12- or
    24-hour), the time read back through the registers is the clock's time, and ``later``
    seconds after it the clock has advanced by the updates completed."""
    ctx, rtc, _ = make(dt.replace(microsecond=0))
    rtc.write_register(REG_B, (B_DM if binary else 0) | (B_HOUR24 if h24 else 0))
    run_to(ctx, FIRST_UPDATE_NS + T_UC_NS + later * S)
    regs = {r: rtc.read_register(r) for r in (0, 2, 4, 7, 8, 9, 0x32)}
    hour = regs[4]
    pm = not h24 and bool(hour & 0x80)
    hour &= 0x7F

    def dec(v: int) -> int:
        return v if binary else (v >> 4) * 10 + (v & 0xF)
    h = dec(hour)
    if not h24:
        h = h % 12 + (12 if pm else 0)
    got = datetime(dec(regs[0x32]) * 100 + dec(regs[9]), dec(regs[8]), dec(regs[7]), h,
                   dec(regs[2]), dec(regs[0]))
    assert got == dt.replace(microsecond=0) + timedelta(seconds=later + 1)


def test_linux_rtc_cmos_periodic_interrupts_and_read_time() -> None:
    """rtc-cmos on the legacy board: cmos_set_freq(1024) writes RS = 6, cmos_irq_enable
    flushes C and sets PIE; IRQ 8 (IO-APIC GSI 8) arrives every 976.5625 us and
    cmos_interrupt acknowledges each through register C; mc146818_get_time reads the
    clock's time (waiting out UIP)."""
    assert (rate_for(8192), rate_for(1024), rate_for(2)) == (3, 6, 15)
    m = Machine(ncpus=1, pic=True)
    m.boot()
    k = m.kernel
    assert k.rtc is not None and m.rtc is not None
    seen: list[int] = []
    rtc = k.rtc

    def handler(irq: int, dev: Any) -> IrqReturn:
        seen.append(m.now)
        assert rtc.interrupt(irq, dev) == IRQ_HANDLED
        if len(seen) == 5:
            rtc.irq_disable(B_PIE)
        return IRQ_HANDLED

    def setup() -> None:
        k.request_irq(8, handler, 0, "rtc0")
        rtc.set_freq(1024)
        rtc.irq_enable(B_PIE)
    k.run_on(m.cpus[0], setup)
    m.run()
    assert len(seen) == 5 and m.rtc.interrupts == 5
    gaps = {b - a for a, b in pairwise(seen)}
    assert all(abs(g - 976_562) <= 2 for g in gaps), gaps
    got: list[datetime | None] = []
    m.engine.at(FIRST_UPDATE_NS - 50_000, lambda _: k.run_on(
        m.cpus[0], lambda: got.append(rtc.read_time())))
    m.run()
    assert got == [datetime(2000, 1, 1, 0, 0, 1)]             # waited out the first update
    assert not m.ctx.diagnostics and m.accounting()["balanced"]
