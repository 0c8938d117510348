"""The 8254 PIT (devices/i8254.py) against the Intel 82C54 datasheet's "Modes of Operation",
its control word, counter latch and read-back commands, and port 61h (PCH "NMI Status and
Control"); the OS's i8253 clockevent programming it as Linux does."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from irqsim.devices.i8254 import NEVER, Pit8254, pulse_at, pulse_time
from irqsim.machine import Machine
from irqsim.os.i8253 import pit_count_for, pit_latch
from irqsim.os.irq import IRQ_HANDLED, IrqReturn
from irqsim.sim.context import SimContext
from irqsim.spec.i8254 import NMI_SC, PIT_CH0, PIT_CH2, PIT_MODE


class Lines:
    """ISA IRQ lines that record (time, level) of IRQ 0."""

    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self.log: list[tuple[int, int]] = []

    def set_irq(self, irq: int, level: int, source: str) -> None:
        self.log.append((self.ctx.engine.now, level))


def make() -> tuple[SimContext, Pit8254, Lines]:
    ctx = SimContext()
    pit = Pit8254(ctx)
    lines = Lines(ctx)
    pit.attach(lines)              # type: ignore[arg-type]
    return ctx, pit, lines


def at(ctx: SimContext, t: int, fn: Any) -> None:
    ctx.engine.at(t, lambda _: fn())


def program(pit: Pit8254, counter: int, mode: int, count: int, bcd: bool = False) -> None:
    """Control word (LSB then MSB) and the count, as software writes them."""
    pit.io_write(PIT_MODE, 1, counter << 6 | 3 << 4 | mode << 1 | int(bcd))
    pit.io_write(PIT_CH0 + counter, 1, count & 0xFF)
    pit.io_write(PIT_CH0 + counter, 1, count >> 8 & 0xFF)


def reference(mode: int, n: int, pulses: int) -> list[tuple[int, int]]:
    """(OUT, count) after each CLK pulse from the load pulse on, stepped one pulse at a time
    as the datasheet describes each mode (GATE high); n in 2..65536."""
    out = 0 if mode == 0 else 1
    odd = mode == 3 and n & 1
    ce = n - 1 if odd else n
    res = [(out, ce & 0xFFFF)]
    expired = False
    for _ in range(pulses):
        if mode == 0:
            ce = (ce - 1) & 0xFFFF
            if ce == 0:
                out = 1
        elif mode == 2:
            if ce == 1:
                ce, out = n, 1
            else:
                ce -= 1
                if ce == 1:
                    out = 0
        elif mode == 3:
            if odd and out and expired:         # one pulse after expiry while high
                out, ce, expired = 0, n - 1, False
            else:
                ce -= 2
                if ce == 0:
                    if odd and out:
                        expired = True
                    else:
                        out, ce = 1 - out, (n - 1 if odd else n)
        else:                                   # mode 4
            ce = (ce - 1) & 0xFFFF
            out = 0 if ce == 0 else 1
        res.append((out, ce & 0xFFFF))
    return res


@settings(max_examples=60, deadline=None)
@given(mode=st.sampled_from([0, 2, 3, 4]), n=st.integers(2, 40),
       write_at=st.integers(0, 5_000))
def test_waveforms_match_a_pulse_by_pulse_8254(mode: int, n: int, write_at: int) -> None:
    """82C54 "Modes of Operation": the count is loaded on the first CLK pulse after it is
    written; from there OUT and the count follow each mode pulse by pulse (mode 0 high N + 1
    pulses after the write; mode 2 low for the pulse at count 1; mode 3 high ceil(N/2), low
    floor(N/2), counting by two; mode 4 low for one pulse at terminal count). The counter's
    closed form equals a pulse-by-pulse stepper, and counter 0's IRQ 0 transitions (one
    engine event each) fall exactly on the pulses where OUT changes."""
    ctx, pit, lines = make()
    at(ctx, write_at, lambda: program(pit, 0, mode, n))
    k0 = pulse_at(write_at) + 1
    span = 3 * n + 4
    ctx.engine.run(until=pulse_time(k0 + span) - 1)
    c = pit.counters[0]
    ref = reference(mode, n, span)
    for j, (out, ce) in enumerate(ref):
        assert (c.out_at(k0 + j), c.count_at(k0 + j)) == (out, ce), (mode, n, j)
    expected = [(write_at, 0)] if mode == 0 else []          # mode 0: OUT low at once
    expected += [(pulse_time(k0 + j), ref[j][0]) for j in range(1, span)
                 if ref[j][0] != ref[j - 1][0]]
    assert lines.log == expected


def test_mode2_periodic_irq0_and_the_reloaded_count() -> None:
    """Mode 2 (rate generator): IRQ 0 rises every N pulses, the first N pulses after the
    load; a count written while counting takes effect at the next reload (82C54 mode 2)."""
    ctx, pit, lines = make()
    at(ctx, 0, lambda: program(pit, 0, 2, 100))
    at(ctx, pulse_time(150), lambda: program_count_only(pit, 0, 40))
    ctx.engine.run(until=pulse_time(400))
    rises = [pulse_at(t) for t, lv in lines.log if lv]
    assert rises[:3] == [1 + 100, 1 + 200, 1 + 240]       # k0 = 1; the new count at 201
    assert pit.ticks == len(rises)


def program_count_only(pit: Pit8254, counter: int, count: int) -> None:
    pit.io_write(PIT_CH0 + counter, 1, count & 0xFF)
    pit.io_write(PIT_CH0 + counter, 1, count >> 8)


def test_latch_and_read_back() -> None:
    """Counter latch command: the count is held until read, later latch commands are
    ignored; read-back with STATUS and COUNT: status byte first (OUTPUT, NULL COUNT, the
    control bits), then the count, LSB then MSB (82C54 "Read-Back Command")."""
    ctx, pit, _ = make()
    program(pit, 0, 0, 1000)                               # at t = 0: loads at pulse 1
    assert pit.io_read(PIT_CH0, 1) == (1000 & 0xFF)        # live read before the load
    pit.io_read(PIT_CH0, 1)
    pit.io_write(PIT_MODE, 1, 0xE2)                         # read-back status of counter 0
    assert pit.io_read(PIT_CH0, 1) == 0x40 | 0x30          # OUT low, NULL COUNT, LSB/MSB, mode 0
    ctx.engine.run(until=pulse_time(11))                    # 10 pulses after the load
    pit.io_write(PIT_MODE, 1, 0x00)                         # counter latch
    ctx.engine.run(until=pulse_time(51))
    pit.io_write(PIT_MODE, 1, 0x00)                         # ignored: one is latched
    lo, hi = pit.io_read(PIT_CH0, 1), pit.io_read(PIT_CH0, 1)
    assert lo | hi << 8 == 990
    pit.io_write(PIT_MODE, 1, 0xC2)                         # read-back: status and count
    st0 = pit.io_read(PIT_CH0, 1)
    assert st0 == 0x30 and st0 & 0x80 == 0                  # loaded, OUT still low
    lo, hi = pit.io_read(PIT_CH0, 1), pit.io_read(PIT_CH0, 1)
    assert lo | hi << 8 == 950
    ctx.engine.run(until=pulse_time(1001))
    pit.io_write(PIT_MODE, 1, 0xE2)
    assert pit.io_read(PIT_CH0, 1) & 0x80                   # terminal count: OUT high


def test_counter2_gate_and_out_on_port_61h() -> None:
    """Counter 2's GATE is port 61h bit 0 and its OUT bit 5 (PCH NMI_SC): Linux's
    pit_calibrate_tsc sets the gate, programs mode 0 and polls bit 5 until terminal count,
    N + 1 pulses later; with the gate low mode 0 does not count."""
    ctx, pit, _ = make()
    pit.io_write(NMI_SC, 1, 0x00)                           # gate low
    pit.io_write(PIT_MODE, 1, 0xB0)                         # counter 2, LSB/MSB, mode 0
    pit.io_write(PIT_CH2, 1, 100)
    pit.io_write(PIT_CH2, 1, 0)
    ctx.engine.run(until=pulse_time(500))
    assert not pit.io_read(NMI_SC, 1) & 0x20                # gate low: still counting 100
    pit.io_write(NMI_SC, 1, 0x01)                           # gate high at pulse 500
    ctx.engine.run(until=pulse_time(500 + 100) - 1)
    assert not pit.io_read(NMI_SC, 1) & 0x20
    ctx.engine.run(until=pulse_time(500 + 101))
    assert pit.io_read(NMI_SC, 1) & 0x21 == 0x21            # OUT2 high, gate still set
    assert pit.io_read(NMI_SC, 1) & 0xC0 == 0


def test_bcd_count_and_illegal_count_diagnostics() -> None:
    """BCD counting: 0x0100 is a hundred pulses and the count reads back in BCD; a BCD
    decade above 9 and a count of 1 in mode 2 (minimum 2) are diagnosed by rule id."""
    ctx, pit, lines = make()
    program(pit, 0, 2, 0x0100, bcd=True)
    ctx.engine.run(until=pulse_time(1 + 100))
    assert [pulse_at(t) for t, lv in lines.log if lv][-1] == 101
    pit.io_write(PIT_MODE, 1, 0x00)
    assert pit.io_read(PIT_CH0, 1) == 0x00 and pit.io_read(PIT_CH0, 1) == 0x01   # "0100"
    program(pit, 0, 2, 0x00AB, bcd=True)
    program(pit, 0, 2, 1)
    assert {d.rule_id for d in ctx.diagnostics} == {"PIT-BCD-DIGIT", "PIT-COUNT-BELOW-MIN"}
    k0 = pulse_at(ctx.engine.now) + 1                       # OUT falls at the load, then stays
    assert pit.counters[0].next_change(k0 - 1) == k0
    assert pit.counters[0].next_change(k0) == NEVER


def test_linux_clockevent_drives_the_timer_interrupt() -> None:
    """The OS programs the PIT as Linux's i8253 clockevent does (control word 0x34, LATCH
    LSB/MSB to port 40h): IRQ 0 arrives once per LATCH(HZ) pulses through the IO-APIC (GSI 2
    by the MADT override); the mode-0 control word of pit_shutdown stops it."""
    m = Machine(ncpus=1, pic=True)
    m.boot()
    k = m.kernel
    assert k.pit is not None and m.pit is not None
    count = pit_latch(1000)
    assert count == 1193 and pit_count_for(1_000_000) == 1193
    ticks: list[int] = []

    def timer(_irq: int, _dev: Any) -> IrqReturn:
        ticks.append(m.now)
        if len(ticks) == 5:
            assert k.pit is not None
            k.pit.shutdown()
        return IRQ_HANDLED
    k.run_on(m.cpus[0], lambda: k.request_irq(0, timer, 0, "timer"))
    k.run_on(m.cpus[0], lambda: k.pit.set_periodic(count) if k.pit else None)
    m.run()
    assert len(ticks) == 5 and m.pit.ticks == 5
    gaps = {b - a for a, b in pairwise(ticks)}
    period = count * 1_000_000_000 / 1_193_182
    assert all(abs(g - period) < 1_000 for g in gaps), gaps       # CLK-pulse rounding
    assert m.accounting()["balanced"]


PORT_OPS = st.lists(st.tuples(
    st.sampled_from([PIT_CH0, PIT_CH0 + 1, PIT_CH2, PIT_MODE, NMI_SC]),
    st.booleans(),                                      # write?
    st.integers(0, 255),
    st.integers(0, 30_000)), max_size=40)               # ns until the next access


@settings(max_examples=150, deadline=None)
@given(ops=PORT_OPS)
def test_any_port_sequence_keeps_irq0_on_counter0s_waveform(
        ops: list[tuple[int, bool, int, int]]) -> None:
    """Whatever software writes and reads (any control word, count, latch, read-back or
    gate in any order; 82C54 "Programming the 82C54": any sequence is legal), the PIT
    never fails, never schedules into the past, and IRQ 0 always equals counter 0's OUT
    at the current CLK pulse (the event-driven edges agree with the closed form)."""
    ctx, pit, lines = make()
    t = 0
    for port, write, value, gap in ops:
        ctx.engine.run(until=t)
        if write:
            pit.io_write(port, 1, value)
        else:
            assert 0 <= pit.io_read(port, 1) <= 0xFF
        assert pit.out0 == pit.counters[0].out_at(pulse_at(ctx.engine.now))
        t += gap
    ctx.engine.run(until=t)
    assert pit.out0 == pit.counters[0].out_at(pulse_at(ctx.engine.now))
    assert all(a[0] <= b[0] for a, b in pairwise(lines.log))
