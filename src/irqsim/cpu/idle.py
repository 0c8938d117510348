"""CPU idle states (C-states), a menu-like governor, and the wake-up an interrupt pays.

A CPU with nothing to run enters an idle state chosen by the governor (Linux's menu
governor, simplified): the predicted idle time is the time to the CPU's next timer expiry,
lowered to the typical recent idle interval when the last eight intervals are regular
(menu's get_typical_interval); the governor picks the deepest state whose target residency
is at most the prediction and whose exit latency is within the PM-QoS limit (reference
nic-moderation.md section 9). An interrupt reaching a CPU idle in state S is accepted
``exit_latency(S)`` later than on a running CPU (the kernel tables' worst case, taken
whole); ``idle=poll`` keeps every idle CPU in the POLL state (no exit latency).

The tables are the kernel's (drivers/idle/intel_idle.c, via reference section 9: exit
latency / target residency in us). State 0 is cpuidle's POLL (0/0) on every table, as x86
registers it. ``IdleCpu`` is the :class:`~irqsim.cpu.cpu.Cpu` a board builds when C-states
are on; a board without them builds plain ``Cpu`` and pays nothing on the interrupt path.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from irqsim.apic.lapic import LocalApic
from irqsim.cpu.cpu import IDLE, Cpu, Frame, Gate, Platform
from irqsim.sim.context import SimContext


@dataclass(frozen=True, slots=True)
class CState:
    """One idle state: name, exit latency and target residency (ns)."""

    name: str
    exit_latency_ns: int
    target_residency_ns: int


POLL_STATE = CState("POLL", 0, 0)


def _us(*rows: tuple[str, float, float]) -> tuple[CState, ...]:
    return (POLL_STATE, *(CState(n, int(e * 1000), int(r * 1000)) for n, e, r in rows))


# Reference section 9 (drivers/idle/intel_idle.c, worst-case exit latency / target
# residency in us). hsw target residencies are intel_idle's hsw_cstates (M: from memory).
CSTATE_TABLES: dict[str, tuple[CState, ...]] = {
    "skx": _us(("C1", 2, 2), ("C1E", 10, 20), ("C6", 133, 600)),
    "icx": _us(("C1", 1, 1), ("C1E", 4, 4), ("C6", 128, 384)),
    "spr": _us(("C1", 1, 1), ("C1E", 2, 4), ("C6", 290, 800)),
    "hsw": _us(("C1", 2, 2), ("C1E", 10, 20), ("C3", 33, 100), ("C6", 133, 400),
               ("C7s", 166, 500), ("C8", 300, 900), ("C9", 600, 1800), ("C10", 2600, 7700)),
    "poll": (POLL_STATE,),
}

HISTORY = 8                      # menu: INTERVALS
NO_TIMER = 1 << 62


def typical_interval(history: list[int]) -> int | None:
    """menu's get_typical_interval: the mean of the recent intervals when they are regular
    (mean > 6 std-dev, or variance <= 400 us^2), dropping the largest outlier and retrying
    while at least 3/4 of them are kept; None when there is no regular pattern."""
    data = sorted(history)
    while len(data) >= max(1, (3 * HISTORY) // 4):
        n = len(data)
        avg = sum(data) / n
        var = sum((x - avg) ** 2 for x in data) / n
        if avg > 6 * var ** 0.5 or var <= 400 * 1_000_000:
            return int(avg)
        data.pop()
    return None


def choose_state(table: tuple[CState, ...], predicted_ns: int, latency_limit_ns: int,
                 ) -> int:
    """Index of the deepest state with target residency <= ``predicted_ns`` and exit
    latency <= ``latency_limit_ns`` (POLL, index 0, when none fits)."""
    best = 0
    for i, s in enumerate(table):
        if s.target_residency_ns <= predicted_ns and s.exit_latency_ns <= latency_limit_ns:
            best = i
    return best


class IdleCpu(Cpu):
    """A CPU that idles in C-states: entering one when it runs out of work, paying its
    exit latency when an interrupt wakes it, and keeping per-state residency."""

    __slots__ = ("cstate", "cstate_entries", "cstate_ns", "cstate_table", "idle_history",
                 "idle_since", "pm_qos_ns", "wakeups")

    def __init__(self, ctx: SimContext, index: int, lapic: LocalApic,
                 platform: Platform | None = None, idt: list[Gate | None] | None = None,
                 table: tuple[CState, ...] = CSTATE_TABLES["skx"],
                 pm_qos_ns: int = NO_TIMER) -> None:
        self.cstate_table = table
        self.cstate: CState | None = None           # the state it idles in now (None: C0)
        self.idle_since = 0
        self.idle_history: deque[int] = deque(maxlen=HISTORY)
        self.cstate_ns = dict.fromkeys((s.name for s in table), 0)
        self.cstate_entries = dict.fromkeys((s.name for s in table), 0)
        self.pm_qos_ns = pm_qos_ns
        self.wakeups = 0
        super().__init__(ctx, index, lapic, platform, idt)
        self._enter_idle()

    # -- the governor ------------------------------------------------------------------
    def predicted_idle_ns(self) -> int:
        """Time to the next timer expiry, or the typical recent interval if shorter."""
        now = self._engine.now
        timer = self.lapic.timer
        nxt = timer.next_t - now if timer.handle is not None and timer.next_t > now \
            else NO_TIMER
        typ = typical_interval(list(self.idle_history)) \
            if len(self.idle_history) == HISTORY else None
        return min(nxt, typ) if typ is not None else nxt

    def _enter_idle(self) -> None:
        if self.cstate is not None or self._accept_entry is not None:
            return
        i = choose_state(self.cstate_table, self.predicted_idle_ns(), self.pm_qos_ns)
        st = self.cstate_table[i]
        self.cstate = st
        self.idle_since = self._engine.now
        self.cstate_entries[st.name] += 1

    def _leave_idle(self, pay: bool = True) -> int:
        """Back to C0 now; returns the exit latency to pay (``pay`` False: software started
        on the CPU without an interrupt; the stay ends now)."""
        st = self.cstate
        if st is None:
            return 0
        now = self._engine.now
        span = now - self.idle_since
        # cpuidle measures a stay from entry to the end of the exit (the CPU is back in C0)
        self.cstate_ns[st.name] += span + (st.exit_latency_ns if pay else 0)
        if pay:                 # an interrupt's wake-up: menu's measured idle interval
            self.idle_history.append(span)
        self.cstate = None
        self.wakeups += 1
        if self._tracer.on and st.exit_latency_ns:
            self._tracer.emit(now, self.name, self.name, "cstate-exit", state=st.name,
                              exit_ns=st.exit_latency_ns)
        return st.exit_latency_ns if pay else 0

    # -- hooks on the CPU's transitions ------------------------------------------------
    def intr(self) -> None:
        """INTR on an idle CPU: acceptance waits for the state's exit latency."""
        if self.if_flag and self._accept_entry is None:
            delay = self._lapic_delivery
            if self.cstate is not None:
                delay += self._leave_idle()
            self._accept_entry = self._engine.after(delay, self._accept)

    def _tally(self) -> None:
        super()._tally()
        if self._mode == IDLE:
            if not self.frames and self.task is None:
                self._enter_idle()
        elif self.cstate is not None:
            self._leave_idle(pay=False)

    def _handler_done(self, frame: Frame) -> None:
        super()._handler_done(frame)
        if self._mode == IDLE and not self.frames and self.task is None:
            self._enter_idle()

    def cstate_residency(self) -> dict[str, int]:
        """ns spent in each idle state so far, exit latencies included (cpuidle's
        residency: entry to back in C0), the current stay up to now."""
        out = dict(self.cstate_ns)
        if self.cstate is not None:
            out[self.cstate.name] += self._engine.now - self.idle_since
        return out
