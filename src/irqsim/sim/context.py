"""What every hardware block shares: the engine, timing model, trace, ledger, diagnostics,
trace points."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from irqsim.sim.accounting import Ledger
from irqsim.sim.engine import Engine, new_engine
from irqsim.sim.probe import TracePoints
from irqsim.sim.rules import DiagPolicy, Rule, current_policy
from irqsim.sim.section import Software
from irqsim.sim.timing import TimingModel
from irqsim.sim.trace import Tracer

DIAG_KEEP = 10          # diagnostics kept per (block, rule id); later ones are only counted


@dataclass(slots=True, frozen=True)
class Diagnostic:
    """A rule broken by software (or a hardware limit hit), at ``time``, seen by ``block``:
    ``rule_id`` names the registered rule, ``rule`` is its specification citation."""

    time: int
    block: str
    rule: str
    message: str
    rule_id: str

    def __str__(self) -> str:
        return f"[{self.time} ns] {self.block}: {self.message} ({self.rule_id}, {self.rule})"

    def as_dict(self) -> dict[str, object]:
        """The JSON form: time_ns, block, rule_id, spec, message."""
        return {"time_ns": self.time, "block": self.block, "rule_id": self.rule_id,
                "spec": self.rule, "message": self.message}


@dataclass(slots=True)
class SimContext:
    """Shared services of one simulated machine (``sw`` runs software on the clock)."""

    engine: Engine = field(default_factory=new_engine)
    timing: TimingModel = field(default_factory=TimingModel)
    tracer: Tracer = field(default_factory=Tracer)
    ledger: Ledger = field(default_factory=Ledger)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    points: TracePoints = field(default_factory=TracePoints)
    # Every diagnostic counted per (block, rule id), the kept ones and the suppressed ones.
    diag_counts: dict[tuple[str, str], int] = field(default_factory=dict)
    diag_keep: int = DIAG_KEEP
    # The --allow/--strict policy active when the machine was built (None: none).
    policy: DiagPolicy | None = field(default_factory=current_policy)
    sw: Software = field(init=False)

    def __post_init__(self) -> None:
        self.sw = Software(self.engine)
        self.points.settled = self.ledger.settled      # the ledger's merge/drop intents

    def diag(self, block: str, rule: Rule, message: str) -> None:
        """Record a diagnostic naming the registered ``rule`` broken; it also enters the trace.

        As the kernel's printk ratelimit: the first ``diag_keep`` of each (block, rule id) are
        kept (and traced), later ones only counted, so a storm cannot grow memory. Under a
        :class:`~irqsim.sim.rules.DiagPolicy` an allowed id is only counted.
        """
        key = (block, rule.id)
        n = self.diag_counts.get(key, 0) + 1
        self.diag_counts[key] = n
        policy = self.policy
        if policy is not None:
            if rule.id in policy.allow:
                return
            policy.reported[rule.id] += 1
        if n > self.diag_keep:
            return
        d = Diagnostic(self.engine.now, block, rule.spec, message, rule.id)
        self.diagnostics.append(d)
        if self.tracer.on:
            self.tracer.emit(self.engine.now, block, block, "diagnostic", rule=rule.spec,
                             rule_id=rule.id, message=message)

    def diagnostic_counts(self) -> Counter[tuple[str, str]]:
        """How many times each (block, rule id) fired, kept or not."""
        return Counter(self.diag_counts)

    def allowed(self) -> dict[str, int]:
        """Rule id -> diagnostics counted but not reported because ``--allow`` names the id."""
        allow = self.policy.allow if self.policy is not None else frozenset()
        out: Counter[str] = Counter()
        for (_, rid), n in self.diag_counts.items():
            if rid in allow:
                out[rid] += n
        return dict(out)

    def suppressed(self) -> dict[tuple[str, str], int]:
        """(block, rule id) -> diagnostics counted but not kept (beyond the first ``diag_keep``)."""
        keep = self.diag_keep
        allow = self.policy.allow if self.policy is not None else frozenset()
        return {k: n - keep for k, n in self.diag_counts.items()
                if n > keep and k[1] not in allow}
