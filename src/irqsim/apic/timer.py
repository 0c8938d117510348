"""The Local APIC timer (Intel SDM vol. 3, 10.5.4; semantics.md A.10).

Three modes, chosen by LVT Timer bits 18:17: one-shot (00), periodic (01) and TSC-deadline (10).
The count is not stored as a ticking number: TMCCT is computed from the time it was last
loaded (``start``), the value it had then (``count0``) and the tick length (bus clock x divide
value), so a masked timer keeps counting without costing an event. An expiry event is only
scheduled while the LVT entry is unmasked.

[SIM] choices (docs/lapic.md): a periodic period is TMICT ticks (KVM; QEMU counts TMICT+1);
changing TDCR while counting rescales the remaining count to the new tick (KVM
``update_target_expiration``); a reserved timer mode (11b) behaves as one-shot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from irqsim.spec.lapic import LVT_MASK, LVT_TIMER, LVT_TIMER_MODE_SHIFT
from irqsim.spec.modes import TimerMode

if TYPE_CHECKING:
    from irqsim.apic.lapic import LocalApic

# Plain ints for the timer paths, derived from the TimerMode enum (spec/modes.py).
TIMER_ONESHOT, TIMER_PERIODIC, TIMER_TSC_DEADLINE = (
    int(TimerMode.ONESHOT), int(TimerMode.PERIODIC), int(TimerMode.TSC_DEADLINE))
TIMER_MODE_NAMES = {**{int(m): m.label for m in TimerMode}, 3: "reserved"}


def divisor(tdcr: int) -> int:
    """Divide value of a TDCR setting: bits 3,1,0 encode 2,4,...,128,1 (A.10 table)."""
    v = (tdcr & 3) | ((tdcr >> 1) & 4)
    return 1 << ((v + 1) & 7)


class ApicTimer:
    """Timer state of one Local APIC (TMICT, TDCR and the LVT live in the LAPIC)."""

    __slots__ = ("count0", "deadline", "expiries", "handle", "lapic", "next_t", "running",
                 "start", "tick")

    def __init__(self, lapic: LocalApic) -> None:
        self.lapic = lapic
        self.handle: int | None = None
        self.running = False
        self.start = 0
        self.count0 = 0
        self.tick = 2 * lapic.ctx.timing.apic_bus_cycle_ns
        self.deadline = 0
        self.next_t = 0
        self.expiries = 0

    # -- derived state ---------------------------------------------------------
    @property
    def mode(self) -> int:
        """LVT Timer bits 18:17 (a reserved 11b counts as one-shot)."""
        m = (self.lapic._lvt[LVT_TIMER] >> LVT_TIMER_MODE_SHIFT) & 3
        return TIMER_ONESHOT if m == 3 else m

    def current(self, now: int) -> int:
        """TMCCT at ``now`` (0 when stopped, expired one-shot, or TSC-deadline mode)."""
        if not self.running or self.mode == TIMER_TSC_DEADLINE:
            return 0
        ticks = (now - self.start) // self.tick
        if ticks < self.count0:
            return self.count0 - ticks
        tmict = self.lapic.tmict
        if self.mode == TIMER_PERIODIC and tmict:
            return tmict - (ticks - self.count0) % tmict
        return 0

    # -- register writes -------------------------------------------------------
    def on_tmict(self, now: int) -> None:
        """TMICT written: load TMCCT and start counting (0 stops the timer)."""
        if self.mode == TIMER_TSC_DEADLINE:
            return
        tmict = self.lapic.tmict
        self.running = tmict != 0
        self.start = now
        self.count0 = tmict
        self.rearm(now)

    def on_tdcr(self, now: int) -> None:
        """TDCR written: the remaining count continues at the new tick length."""
        new_tick = divisor(self.lapic.tdcr) * self.lapic.ctx.timing.apic_bus_cycle_ns
        if self.running and self.mode != TIMER_TSC_DEADLINE:
            cur = self.current(now)
            if cur == 0:
                self.running = False
            self.start = now
            self.count0 = cur
        self.tick = new_tick
        self.rearm(now)

    def on_lvt(self, old: int, new: int, now: int) -> None:
        """LVT Timer written: mode changes keep TMCCT (A.10); mask changes re-arm."""
        old_mode = (old >> LVT_TIMER_MODE_SHIFT) & 3
        new_mode = (new >> LVT_TIMER_MODE_SHIFT) & 3
        if old_mode != new_mode:
            if TIMER_TSC_DEADLINE in (old_mode, new_mode):
                self.stop()
                self.lapic.tmict = 0
                self.deadline = 0
            elif self.running:
                # Re-base at the last tick boundary with the count computed in the old mode.
                ticks = (now - self.start) // self.tick
                self.lapic._lvt[LVT_TIMER] = old
                cur = self.current(now)
                self.lapic._lvt[LVT_TIMER] = new
                if cur == 0:
                    self.running = False
                else:
                    boundary = self.start + ticks * self.tick
                    self.start = boundary
                    self.count0 = cur
        self.rearm(now)

    # -- TSC-deadline ----------------------------------------------------------
    def deadline_write(self, value: int, now: int) -> None:
        """IA32_TSC_DEADLINE written: arm at that TSC value, 0 disarms (A.10)."""
        if self.mode != TIMER_TSC_DEADLINE:
            return
        self.deadline = value
        self.rearm(now)

    def deadline_read(self) -> int:
        """IA32_TSC_DEADLINE reads the armed deadline (0 once fired or outside the mode)."""
        return self.deadline if self.mode == TIMER_TSC_DEADLINE else 0

    # -- events --------------------------------------------------------------
    def stop(self) -> None:
        """Stop counting and cancel any expiry."""
        self.running = False
        self.count0 = 0
        if self.handle is not None:
            self.lapic.ctx.engine.cancel(self.handle)
            self.handle = None

    def rearm(self, now: int) -> None:
        """Schedule the next expiry if it can deliver (LVT unmasked), else none."""
        lapic = self.lapic
        engine = lapic.ctx.engine
        if self.handle is not None:
            engine.cancel(self.handle)
            self.handle = None
        if lapic._lvt[LVT_TIMER] & LVT_MASK:
            return
        if self.mode == TIMER_TSC_DEADLINE:
            if self.deadline:
                khz = lapic.ctx.timing.tsc_khz
                # The deadline is compared with the core's TSC (raw count + IA32_TSC offset).
                offset = getattr(lapic.cpu, "tsc_offset", 0)
                t = max(now, -(-(self.deadline - offset) * 1_000_000 // khz))
                self.next_t = t
                self.handle = engine.at(t, self._fire)
            return
        if not self.running:
            return
        t = self.start + self.count0 * self.tick
        if t < now:
            tmict = lapic.tmict
            if self.mode != TIMER_PERIODIC or not tmict:
                return                      # a one-shot that expired while masked is lost
            period = tmict * self.tick
            t += -(-(now - t) // period) * period
        self.next_t = t
        self.handle = engine.at(t, self._fire)

    def _fire(self, _: object) -> None:
        self.handle = None
        lapic = self.lapic
        self.expiries += 1
        mode = self.mode
        if mode == TIMER_TSC_DEADLINE:
            self.deadline = 0
        tracer = lapic.ctx.tracer
        if tracer.on:
            tracer.emit(lapic.ctx.engine.now, lapic.name, lapic.name, "timer-expiry",
                        mode=TIMER_MODE_NAMES[mode])
        if mode == TIMER_PERIODIC and lapic.tmict and self.running:
            t = self.next_t + lapic.tmict * self.tick
            self.next_t = t
            self.handle = lapic.ctx.engine.at(t, self._fire)
        lapic.local_interrupt(LVT_TIMER)
