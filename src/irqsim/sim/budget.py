"""Run budgets: every command's run ends, within simulated time and an event count.

A :class:`Budget` is made active for the duration of a command (``with budget.active():``);
each :class:`~irqsim.machine.Machine` built meanwhile takes it, and ``Machine.run`` then runs
the engine in slices of events (``Engine.run(until=..., max_events=...)``), checking after
each slice:

* the simulated-time budget (the engine's clock from the machine's start),
* the event budget (events the machine's engine has run),
* a watchdog for a machine that will not go idle: a level-triggered I/O APIC line
  re-delivered at EOI ``storm_limit`` times in a row with its input never changing (no
  device wire moved): the same interrupt re-raised without progress, as when the device
  behind the line cannot be reached to clear it.

A run that breaks one raises :class:`BudgetExceeded` with a report; the CLI prints it and
exits with status :data:`EXIT_BUDGET`. Outside ``active()`` a machine has no budget (library
use and the tests run unbounded, as before).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from irqsim.sim.rules import RULES

if TYPE_CHECKING:
    from irqsim.machine import Machine

EXIT_BUDGET = 3                 # exit status of a command stopped by its budget
SLICE_EVENTS = 100_000          # events between two budget checks


@dataclass(frozen=True, slots=True)
class Budget:
    """Limits of one run: simulated ns, engine events, consecutive storm re-deliveries."""

    max_sim_ns: int = 100_000_000_000        # 100 s of simulated time
    max_events: int = 100_000_000
    storm_limit: int = 10_000

    def __post_init__(self) -> None:
        if self.max_sim_ns < 1 or self.max_events < 1 or self.storm_limit < 1:
            raise ValueError(f"budget limits must be >= 1, got {self}")

    @contextmanager
    def active(self) -> Iterator[Budget]:
        """Make this the budget of every machine built inside the ``with`` block."""
        token = _CURRENT.set(self)
        try:
            yield self
        finally:
            _CURRENT.reset(token)

    def run(self, m: Machine, until: int | None = None) -> int:
        """Run ``m``'s engine as ``Engine.run(until)`` would, within this budget."""
        engine = m.ctx.engine
        limit = self.max_sim_ns
        n = 0
        horizon = limit if until is None else min(until, limit)
        k = SLICE_EVENTS if until is not None else 16
        while True:
            nxt = engine.peek()
            if nxt is None or nxt > horizon:
                break
            left = self.max_events - engine.events_run
            if left <= 0:
                raise BudgetExceeded("events", self._report(m, "events", until))
            t0 = engine.now
            if until is None:
                # No horizon: Engine.run(until=...) would move the clock to it when the heap
                # empties, so run by events only, each slice sized (from the event rate so
                # far) to cover about half the time left, and test the clock in between.
                ran = engine.run(max_events=min(k, left))
                dt = engine.now - t0
                k = min(4 * k, SLICE_EVENTS) if dt <= 0 else max(1, min(
                    4 * k, SLICE_EVENTS, ran * max(limit - engine.now, 0) // (2 * dt)))
            else:
                ran = engine.run(until=horizon, max_events=min(k, left))
            n += ran
            self._watch(m, until)
            if engine.stopped:
                return n
            if ran == 0:
                break
        if until is not None and engine.now < until:
            nxt = engine.peek()
            if nxt is not None and nxt <= until:
                raise BudgetExceeded("sim-time", self._report(m, "sim-time", until))
            engine.run(until=until)               # nothing left before ``until``
        elif until is None and engine.peek() is not None:
            raise BudgetExceeded("sim-time", self._report(m, "sim-time", until))
        return n

    def _watch(self, m: Machine, until: int | None) -> None:
        for i, io in enumerate(m.ioapics):
            for pin, n in enumerate(io.redeliveries):
                if n >= self.storm_limit:
                    raise BudgetExceeded("storm", self._report(m, "storm", until, pin, i))

    def _report(self, m: Machine, why: str, until: int | None, pin: int = -1,
                ioapic: int = 0) -> str:
        """What stopped the run and the machine's state then, one fact per line."""
        engine = m.ctx.engine
        if why == "storm":
            io = m.ioapics[ioapic]
            rte = io.rte[pin]
            head = (f"interrupt storm: {io.name} pin {pin} (GSI {io.gsi_base + pin}, vector "
                    f"{rte & 0xFF}) re-delivered {io.redeliveries[pin]} times at EOI with its "
                    "level input still asserted and no device wire changing: the handler "
                    "never clears the device (is it reachable?)")
        elif why == "events":
            head = (f"event budget exhausted: {engine.events_run} events run "
                    f"(--max-events {self.max_events})")
        else:
            want = "the machine going idle" if until is None else f"t = {until} ns"
            head = (f"simulated-time budget exhausted: the run needs past {self.max_sim_ns} "
                    f"ns (--max-sim-ns) before {want}; next event at {engine.peek()} ns")
        led = m.ctx.ledger
        lines = [f"run stopped: {head}",
                 f"  at t = {engine.now} ns after {engine.events_run} events",
                 f"  ledger: raised {led.raised}, delivered {led.delivered}, merged "
                 f"{led.merged}, in flight {led.in_flight}"]
        for (block, rid), count in m.ctx.diagnostic_counts().most_common(3):
            r = RULES.get(rid)
            lines.append(f"  diagnostic x{count}: {block}: {rid} ({r.spec if r else '?'})")
        return "\n".join(lines)


class BudgetExceeded(RuntimeError):
    """A run broke its budget; ``why`` is "sim-time", "events" or "storm"."""

    def __init__(self, why: str, report: str) -> None:
        super().__init__(report)
        self.why = why
        self.report = report


_CURRENT: ContextVar[Budget | None] = ContextVar("irqsim_budget", default=None)


def current() -> Budget | None:
    """The budget active in this context, if any."""
    return _CURRENT.get()
