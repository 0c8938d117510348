"""Built-in scenarios for ``irqsim demo --scenario NAME``.

A scenario is a function ``run(options) -> ScenarioResult``; register it in
``SCENARIOS`` with a one-line description. A scenario with knobs of its own declares them
as a dataclass (``register(..., knobs=K)``): ``options.knobs`` is then a ``K`` (None: the
defaults), and experiment files (docs/experiments.md) validate and set its fields.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from irqsim.machine import Machine
from irqsim.sim.trace import TraceOption


@dataclass
class ScenarioOptions:
    """Options every scenario understands."""

    requests: int = 200
    mean_gap_ns: float = 20_000.0
    seed: int = 1
    trace: TraceOption = True
    knobs: Any = None          # the scenario's own knobs dataclass, or None for its defaults


@dataclass
class ScenarioResult:
    """A finished run and what the views need to present it."""

    machine: Machine
    title: str
    focus_device: str
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


K = TypeVar("K")
Runner = Callable[[ScenarioOptions], ScenarioResult]
Span = Callable[[ScenarioOptions], float]
SCENARIOS: dict[str, tuple[str, Runner]] = {}
SPANS: dict[str, Span] = {}
KNOBS: dict[str, type] = {}


def register(name: str, description: str, span: Span | None = None,
             knobs: type | None = None) -> Callable[[Runner], Runner]:
    """Decorator adding a scenario to the registry; ``span`` estimates the simulated ns a
    run with given options needs (default: requests x mean gap, one Poisson queue);
    ``knobs``: the dataclass of the scenario's own parameters (defaults = the demo's)."""
    def deco(fn: Runner) -> Runner:
        SCENARIOS[name] = (description, fn)
        if span is not None:
            SPANS[name] = span
        if knobs is not None:
            KNOBS[name] = knobs
        return fn
    return deco


def expected_span_ns(name: str, opts: ScenarioOptions) -> float:
    """About how much simulated time scenario ``name`` runs for with ``opts``."""
    span = SPANS.get(name)
    return span(opts) if span is not None else opts.requests * opts.mean_gap_ns


def knobs_of(opts: ScenarioOptions, cls: type[K]) -> K:
    """``opts.knobs`` if it is a ``cls``, else ``cls()`` (the scenario's defaults)."""
    return opts.knobs if isinstance(opts.knobs, cls) else cls()


def load_all() -> dict[str, tuple[str, Runner]]:
    """Import every module of this package so their scenarios register themselves."""
    import importlib
    import pkgutil

    import irqsim.scenarios as pkg
    names = [f"irqsim.scenarios.{info.name}" for info in pkgutil.iter_modules(pkg.__path__)]
    for name in names:
        importlib.import_module(name)
    # The same order whichever scenario modules were imported first: module by module (in
    # file name order), each module's in the order it registers them.
    rank = {name: i for i, name in enumerate(names)}
    ordered = sorted(SCENARIOS.items(), key=lambda kv: rank.get(kv[1][1].__module__, len(rank)))
    SCENARIOS.clear()
    SCENARIOS.update(ordered)
    return SCENARIOS
