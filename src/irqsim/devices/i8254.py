"""The PC/AT 8254 programmable interval timer (Intel 82C54 datasheet; spec/i8254.py).

Three counters on one 1.193182 MHz clock. CLK pulse k falls at ``ceil(k * 1e9 / 1193182)``
ns, so every instant is on the engine's integer clock and the waveforms are exact. A
counter keeps no per-pulse state: once its count is loaded (on the first CLK pulse after
the count is written, or after the GATE trigger in modes 1 and 5) its count and OUT are
functions of the pulses elapsed since the load, per the datasheet's "Modes of Operation":

* mode 0, interrupt on terminal count: OUT low from the control word; high N + 1 pulses
  after the count is written, until a new count or control word;
* mode 1, hardware retriggerable one-shot: OUT low from the load after a GATE rising edge
  to terminal count (N pulses);
* mode 2, rate generator: OUT high, low for the one pulse where the count is 1, reload N:
  one rising edge every N pulses;
* mode 3, square wave: OUT high for ceil(N/2) pulses and low for floor(N/2), the count
  going down by two;
* modes 4 and 5, software and hardware triggered strobe: OUT low for one pulse at terminal
  count.

GATE low stops counting (modes 0, 2, 3, 4; modes 2 and 3 also force OUT high and reload at
the rising edge); a GATE rising edge triggers modes 1 and 5. Counter 0's OUT drives ISA IRQ
0 (an event at each of its transitions), counter 2's GATE and OUT are port 61h bits 0 and 5
(computed when read). Data ports read the live count, or what a counter latch or read-back
command latched (status first); two-byte counts go LSB then MSB. In modes 2 and 3 a new
count written while counting takes effect at the next reload (mode 3: the next half-cycle).

Power-up: the datasheet leaves mode, count and OUT undefined; irqsim starts every counter
idle with OUT high (as after a mode 1-5 control word) and takes IRQ 0 as having risen
before time 0 (no interrupt), so Linux's first control word (mode 2) makes no edge and a
mode 0 control word drives OUT low.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from irqsim.sim.context import SimContext
from irqsim.sim.rules import rule
from irqsim.spec.i8254 import (
    CONTROL_BCD,
    CONTROL_MODE,
    CONTROL_MODE_SHIFT,
    CONTROL_RW,
    CONTROL_RW_SHIFT,
    CONTROL_SC_SHIFT,
    MODE_NAMES,
    NMI_SC,
    NMI_SC_GATE2,
    NMI_SC_OUT2,
    NMI_SC_REF_TOGGLE,
    NMI_SC_WRITABLE,
    PIT_CH0,
    PIT_MODE,
    PIT_PORTS,
    PIT_TICK_RATE,
    READ_BACK_CNT_SHIFT,
    READ_BACK_COUNT_N,
    READ_BACK_STATUS_N,
    REFRESH_TOGGLE_NS,
    RW_LATCH,
    RW_LSB,
    RW_MSB,
    SC_READ_BACK,
    STATUS_NULL_COUNT,
    STATUS_OUTPUT,
)

if TYPE_CHECKING:
    from irqsim.apic.i8259 import IsaIrqLines

NS = 1_000_000_000
NEVER = -1

R_COUNT_MIN = rule("PIT-COUNT-BELOW-MIN", "82C54 'Minimum and Maximum Initial Counts'",
                   "an initial count of 1 in mode 2 or 3 (their minimum is 2)")
R_BCD_DIGIT = rule("PIT-BCD-DIGIT", "82C54 'Control Word Format' (BCD)",
                   "a BCD count with a decade above 9")


def pulse_at(t: int) -> int:
    """Index of the last CLK pulse at or before ``t`` ns (pulse 0 at t = 0)."""
    return t * PIT_TICK_RATE // NS


def pulse_time(k: int) -> int:
    """The instant (ns) of CLK pulse ``k``."""
    return -(-k * NS // PIT_TICK_RATE)


def _from_bcd(v: int) -> tuple[int, bool]:
    digits = [(v >> s) & 0xF for s in (12, 8, 4, 0)]
    return (digits[0] * 1000 + digits[1] * 100 + digits[2] * 10 + digits[3],
            all(d <= 9 for d in digits))


def _to_bcd(n: int) -> int:
    return ((n // 1000 % 10) << 12) | ((n // 100 % 10) << 8) | ((n // 10 % 10) << 4) | n % 10


class Counter:
    """One 8254 counter: its control word, count register, latches and load instant."""

    def __init__(self, pit: Pit8254, index: int) -> None:
        self.pit = pit
        self.index = index
        self.control = 0                # the control word's bits 5:0 (the status byte's)
        self.mode = 0
        self.rw = RW_LSB
        self.bcd = False
        self.n = 0x10000                # the count N in effect (1..65536; BCD 1..10000)
        self.cr = 0                     # the count register as written (raw bytes)
        self.lsb_written = False        # RW_WORD: the LSB came, the MSB is next
        self.read_msb = False           # RW_WORD: the next unlatched read gives the MSB
        self.latch: list[int] = []      # bytes a latch command queued (status first)
        self.count_latched = False
        self.status_latched = False
        self.armed = False              # a count is loaded (or loads at k0) and counts
        self.have_count = False         # a count was written since the control word
        self.k0 = 0                     # the CLK pulse that loads N (p = 0 there)
        self.phase0 = 0                 # mode 3: where in the cycle pulse k0 is
        self.idle_out = 1               # OUT while not counting (power-up: high)
        self.gate = 1
        self.frozen_p = 0               # modes 0/4 with GATE low: pulses counted so far
        self.paused = False
        self.pending_n = 0              # modes 2/3: a count to take at the next reload
        self.null_until = NEVER         # the written count is loaded at this pulse

    # -- the waveform ------------------------------------------------------------------
    def _p(self, k: int) -> int:
        return (self.frozen_p if self.paused else k - self.k0)

    def out_at(self, k: int) -> int:
        """OUT after CLK pulse ``k`` (the level between pulses k and k + 1)."""
        if not self.armed:
            return self.idle_out
        mode, n = self.mode, self.n
        if self.paused and mode in (2, 3):
            return 1
        p = self._p(k)
        if mode == 0:
            return 1 if p >= n else 0
        if p < 0:
            return 1                                # modes 1-5 are high until the load
        if mode == 1:
            return 1 if p >= n else 0
        if mode == 2:
            return 0 if p % n == n - 1 else 1
        if mode == 3:
            return 1 if (p + self.phase0) % n < (n + 1) // 2 else 0
        return 0 if p == n else 1                                   # modes 4 and 5

    def count_at(self, k: int) -> int:
        """The counting element's value after CLK pulse ``k`` (binary)."""
        if not self.armed:
            return self.n & 0xFFFF
        n, p = self.n, self._p(k)
        if p < 0:
            return n & 0xFFFF
        mode = self.mode
        if mode == 2:
            return (n - p % n) & 0xFFFF
        if mode == 3:
            h = (n + 1) // 2
            j = (p + self.phase0) % n
            return (n - (n & 1) - 2 * (j if j < h else j - h)) & 0xFFFF
        wrap = 10000 if self.bcd else 0x10000
        return (n - p) % wrap & 0xFFFF

    def next_change(self, k: int) -> int:
        """The first CLK pulse after ``k`` at which OUT changes (NEVER if none)."""
        if not self.armed or self.paused:
            return NEVER
        mode, n = self.mode, self.n
        p = k - self.k0
        if p < 0:                                   # before the load: OUT as after it
            first = self.k0 + self._first_change_after_load()
            return first if first > k else NEVER
        if mode in (0, 1):
            return self.k0 + n if p < n else NEVER
        if mode == 2:
            if n == 1:
                return NEVER                        # OUT stays low (an illegal count)
            j = p % n
            base = self.k0 + p - j
            return base + n - 1 if j < n - 1 else base + n
        if mode == 3:
            h = (n + 1) // 2
            j = (p + self.phase0) % n
            base = k - j
            if h == n:
                return NEVER
            return base + h if j < h else base + n
        if p < n:
            return self.k0 + n
        return self.k0 + n + 1 if p == n else NEVER

    def _first_change_after_load(self) -> int:
        n, mode = self.n, self.mode
        if mode == 0:
            return n
        if mode == 1:
            return 0
        if mode == 2:
            return n - 1
        if mode == 3:
            h = (n + 1) // 2
            return NEVER if h == n else (h - self.phase0 if self.phase0 < h else n - self.phase0)
        return n                                                    # modes 4, 5

    # -- software access ---------------------------------------------------------------
    def program(self, control: int, k: int) -> None:
        """A control word for this counter (RW != 0): mode, access, BCD; counting stops."""
        self.control = control & 0x3F
        mode = (control & CONTROL_MODE) >> CONTROL_MODE_SHIFT
        self.mode = mode - 4 if mode >= 6 else mode
        self.rw = (control & CONTROL_RW) >> CONTROL_RW_SHIFT
        self.bcd = bool(control & CONTROL_BCD)
        self.lsb_written = self.read_msb = False
        self.latch.clear()
        self.count_latched = self.status_latched = False
        self.armed = self.have_count = self.paused = False
        self.pending_n = 0
        self.idle_out = 0 if self.mode == 0 else 1
        self.null_until = NEVER

    def latch_count(self, k: int) -> None:
        """Counter latch command (or read-back COUNT): ignored while a count is latched."""
        if self.count_latched:
            return
        v = self._live(k)
        self.count_latched = True
        if self.rw == RW_LSB:
            self.latch.append(v & 0xFF)
        elif self.rw == RW_MSB:
            self.latch.append(v >> 8)
        else:
            self.latch += [v & 0xFF, v >> 8]

    def latch_status(self, k: int) -> None:
        """Read-back STATUS: OUT, NULL COUNT and the control bits; read before a count."""
        if self.status_latched:
            return
        st = self.control
        if self.out_at(k):
            st |= STATUS_OUTPUT
        if not self.have_count or self.null_until == NEVER or self.null_until > k:
            st |= STATUS_NULL_COUNT
        self.status_latched = True
        self.latch.insert(0, st)

    def _live(self, k: int) -> int:
        v = self.count_at(k)
        return _to_bcd(v) if self.bcd else v

    def read(self, k: int) -> int:
        """A data-port read: a latched byte (status first), else the live count."""
        if self.latch:
            v = self.latch.pop(0)
            if self.status_latched:
                self.status_latched = False         # that was the status byte
            elif not self.latch:
                self.count_latched = False
            return v
        v = self._live(k)
        if self.rw == RW_LSB:
            return v & 0xFF
        if self.rw == RW_MSB:
            return v >> 8
        self.read_msb = not self.read_msb
        return v & 0xFF if self.read_msb else v >> 8

    def write(self, value: int, k: int) -> bool:
        """A count byte; True when the count is complete (then :meth:`load` runs)."""
        value &= 0xFF
        if self.rw == RW_LSB:
            self.cr = value
        elif self.rw == RW_MSB:
            self.cr = value << 8
        elif not self.lsb_written:
            self.cr = value
            self.lsb_written = True
            if self.mode == 0 and self.armed and not self.paused:   # the LSB stops mode 0
                self.frozen_p, self.paused = k - self.k0, True
            return False
        else:
            self.cr |= value << 8
            self.lsb_written = False
        return True


class Pit8254:
    """The 8254 at ports 40h-43h, with port 61h's counter-2 gate and OUT (PC/AT port B)."""

    def __init__(self, ctx: SimContext, name: str = "pit") -> None:
        self.ctx = ctx
        self.name = name
        self.irq = 0
        self.ports: tuple[int, ...] = PIT_PORTS
        self.lines: IsaIrqLines | None = None
        self.counters = [Counter(self, i) for i in range(3)]
        self.counters[2].gate = 0       # NMI_SC.TIM_CNT2_EN resets to 0
        self.nmi_sc = 0
        self.out0 = 1                   # the level IRQ 0 was last driven to (power-up)
        self.ticks = 0                  # rising edges of OUT0 (IRQ 0 assertions)
        self._handle: int | None = None

    def attach(self, lines: IsaIrqLines) -> None:
        self.lines = lines

    # -- ports -------------------------------------------------------------------------
    def io_read(self, port: int, size: int) -> int:
        k = pulse_at(self.ctx.engine.now)
        if port == NMI_SC:
            v = self.nmi_sc
            if self.ctx.engine.now // REFRESH_TOGGLE_NS & 1:
                v |= NMI_SC_REF_TOGGLE
            if self.counters[2].out_at(k):
                v |= NMI_SC_OUT2
            return v
        if port == PIT_MODE:
            return 0xFF                 # the control word register is write-only
        return self.counters[port - PIT_CH0].read(k)

    def io_write(self, port: int, size: int, value: int) -> None:
        now = self.ctx.engine.now
        k = pulse_at(now)
        value &= 0xFF
        if port == NMI_SC:
            old = self.nmi_sc
            self.nmi_sc = value & NMI_SC_WRITABLE
            if (old ^ self.nmi_sc) & NMI_SC_GATE2:
                self._gate(self.counters[2], self.nmi_sc & NMI_SC_GATE2, k)
            return
        if port == PIT_MODE:
            sc = value >> CONTROL_SC_SHIFT
            if sc == SC_READ_BACK:
                for i in range(3):
                    if value >> (READ_BACK_CNT_SHIFT + i) & 1:
                        c = self.counters[i]
                        if not value & READ_BACK_STATUS_N:
                            c.latch_status(k)
                        if not value & READ_BACK_COUNT_N:
                            c.latch_count(k)
                return
            c = self.counters[sc]
            if (value & CONTROL_RW) >> CONTROL_RW_SHIFT == RW_LATCH:
                c.latch_count(k)
                return
            c.program(value, k)
            self._changed(c)
            return
        c = self.counters[port - PIT_CH0]
        if c.write(value, k):
            self._load(c, k)
            self._changed(c)

    # -- counting ----------------------------------------------------------------------
    def _count_of(self, c: Counter) -> int:
        if c.bcd:
            n, ok = _from_bcd(c.cr)
            if not ok:
                self.ctx.diag(self.name, R_BCD_DIGIT,
                              f"counter {c.index}: BCD count {c.cr:#06x} has a decade > 9")
            return n or 10000
        return c.cr or 0x10000

    def _load(self, c: Counter, k: int) -> None:
        """A complete count was written at pulse ``k``: it loads on the next pulse."""
        n = self._count_of(c)
        if n == 1 and c.mode in (2, 3):
            self.ctx.diag(self.name, R_COUNT_MIN,
                          f"counter {c.index}: initial count 1 in mode {c.mode} "
                          f"({MODE_NAMES[c.mode]}); the minimum is 2")
        first = not c.have_count
        c.have_count = True
        if c.mode in (1, 5):                        # waits for a GATE trigger
            c.pending_n = n
            c.null_until = NEVER if not c.armed else c.null_until
            if not c.armed:
                c.n = n
            return
        if c.mode in (2, 3) and c.armed and not first and not c.paused:
            c.pending_n = n                         # taken at the next reload
            reload = c.next_change(k) if c.mode == 3 else NEVER
            if reload == NEVER:
                reload = self._next_reload(c, k)
            c.null_until = reload
            self._schedule_reload(c, reload)
            return
        c.n = n
        c.k0 = k + 1
        c.phase0 = 0
        c.null_until = k + 1
        c.armed = True
        c.paused = False
        if not c.gate:                              # counting waits for GATE
            c.frozen_p, c.paused = -1, True

    def _next_reload(self, c: Counter, k: int) -> int:
        p = k - c.k0
        return c.k0 + (p // c.n + 1) * c.n if p >= 0 else c.k0 + c.n

    def _schedule_reload(self, c: Counter, pulse: int) -> None:
        self.ctx.engine.at(pulse_time(pulse), self._reload, (c, pulse))

    def _reload(self, arg: tuple[Counter, int]) -> None:
        c, pulse = arg
        if not c.pending_n or c.null_until != pulse or not c.armed:
            return                                  # reprogrammed since
        low_half = c.mode == 3 and not c.out_at(pulse)
        c.n, c.pending_n = c.pending_n, 0
        c.k0 = pulse
        c.phase0 = (c.n + 1) // 2 if low_half else 0
        c.null_until = pulse
        self._changed(c)

    def _gate(self, c: Counter, level: int, k: int) -> None:
        level = 1 if level else 0
        c.gate = level
        if not c.have_count:
            return
        mode = c.mode
        if level:
            if mode in (1, 5):                      # trigger: load on the next pulse
                if c.pending_n:
                    c.n, c.pending_n = c.pending_n, 0
                c.k0, c.phase0, c.armed, c.paused = k + 1, 0, True, False
                c.null_until = k + 1
            elif mode in (2, 3):                    # rising edge reloads
                c.k0, c.phase0, c.paused = k + 1, 0, False
            elif c.paused:                          # modes 0/4 resume where they stopped
                c.k0, c.paused = k - c.frozen_p, False
        elif mode in (0, 2, 3, 4) and c.armed and not c.paused:
            c.frozen_p, c.paused = k - c.k0, True
        self._changed(c)

    def _changed(self, c: Counter) -> None:
        """Counter 0 was reprogrammed: drive IRQ 0 to its OUT now and re-arm the event."""
        if c.index != 0:
            return
        eng = self.ctx.engine
        if self._handle is not None:
            eng.cancel(self._handle)
            self._handle = None
        self._drive(c.out_at(pulse_at(eng.now)))
        self._arm(c)

    def _arm(self, c: Counter) -> None:
        eng = self.ctx.engine
        nxt = c.next_change(pulse_at(eng.now))
        self._handle = None if nxt == NEVER else eng.at(pulse_time(nxt), self._edge)

    def _edge(self, _: object = None) -> None:
        self._handle = None
        c = self.counters[0]
        self._drive(c.out_at(pulse_at(self.ctx.engine.now)))
        self._arm(c)

    def _drive(self, out: int) -> None:
        if out == self.out0:
            return
        self.out0 = out
        if out:
            self.ticks += 1
            tr = self.ctx.tracer
            if tr.on:
                tr.emit(self.ctx.engine.now, self.name, self.name, "device-event",
                        what="OUT0 rising: IRQ 0")
        assert self.lines is not None, "add_isa() the PIT first"
        self.lines.set_irq(self.irq, out, self.name)
