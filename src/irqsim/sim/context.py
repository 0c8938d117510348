"""What every hardware block shares: the engine, timing model, trace, ledger, diagnostics,
trace points."""

from __future__ import annotations

from dataclasses import dataclass, field

from irqsim.sim.accounting import Ledger
from irqsim.sim.engine import Engine
from irqsim.sim.probe import TracePoints
from irqsim.sim.section import Software
from irqsim.sim.timing import TimingModel
from irqsim.sim.trace import Tracer


@dataclass(slots=True, frozen=True)
class Diagnostic:
    """A rule broken by software (or a hardware limit hit), at ``time``, seen by ``block``."""

    time: int
    block: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"[{self.time} ns] {self.block}: {self.message} ({self.rule})"


@dataclass(slots=True)
class SimContext:
    """Shared services of one simulated machine (``sw`` runs software on the clock)."""

    engine: Engine = field(default_factory=Engine)
    timing: TimingModel = field(default_factory=TimingModel)
    tracer: Tracer = field(default_factory=Tracer)
    ledger: Ledger = field(default_factory=Ledger)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    points: TracePoints = field(default_factory=TracePoints)
    sw: Software = field(init=False)

    def __post_init__(self) -> None:
        self.sw = Software(self.engine)
        self.points.settled = self.ledger.settled      # the ledger's merge/drop intents

    def diag(self, block: str, rule: str, message: str) -> None:
        """Record a diagnostic naming the rule broken; it also enters the trace."""
        d = Diagnostic(self.engine.now, block, rule, message)
        self.diagnostics.append(d)
        if self.tracer.on:
            self.tracer.emit(self.engine.now, block, block, "diagnostic", rule=rule,
                             message=message)
