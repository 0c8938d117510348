"""Writing experiment files: a built-in scenario as a file, a resolved point as a file."""

from __future__ import annotations

import dataclasses
from typing import Any

import tomli_w

from irqsim.experiments.schema import FORMAT_VERSION, RunSection, knob_default
from irqsim.sim.timing import SOURCES, TimingModel


def dump_toml(raw: dict[str, Any]) -> str:
    """``raw`` as TOML text (tomli-w: every value tomllib reads back identically)."""
    return tomli_w.dumps(raw)


def _val(v: Any) -> str:
    return tomli_w.dumps({"v": v})[4:].strip()


def export_scenario(name: str, requests: int = 200, mean_gap_ns: float = 20_000.0,
                    seed: int = 1) -> str:
    """Built-in scenario ``name`` as a commented version-1 file with these options and the
    scenario's knobs at their defaults; ``irqsim run`` on it is ``irqsim demo --scenario
    name`` with the same options."""
    from irqsim.scenarios import KNOBS, load_all
    desc = load_all()[name][0]
    run = RunSection(seed=seed)
    defaults = TimingModel()
    lines = [f"# irqsim experiment file: the built-in scenario {name!r} (docs/experiments.md).",
             "# `irqsim run FILE` gives the same output as `irqsim demo --scenario "
             f"{name}` with these options.",
             f"version = {FORMAT_VERSION}",
             f"description = {_val(desc)}",
             "",
             "[scenario]",
             f"name = {_val(name)}",
             f"requests = {requests}          # requests per queue (ipi: IPIs; timer: ms of "
             "ticks)",
             f"mean_gap_ns = {_val(float(mean_gap_ns))}  # mean gap between requests on one "
             "queue (exponential)"]
    knobs = KNOBS.get(name)
    if knobs is not None:
        helps: dict[str, str] = getattr(knobs, "HELP", {})
        for f in dataclasses.fields(knobs):
            line = f"{f.name} = {_val(knob_default(f))}"
            if f.name in helps:
                line = f"{line:<23} # {helps[f.name]}"
            lines.append(line)
    lines += ["",
              "[run]",
              f"seed = {seed}",
              f"max_sim_ns = {run.max_sim_ns}    # run budget: simulated ns",
              f"max_events = {run.max_events}      # run budget: engine events",
              "",
              "# [platform] applies to every machine the scenario builds (docs/experiments.md):",
              '# intremap = "on", cstates = "skx", pm_qos_ns, isolcpus = "managed_irq,2-3",',
              '# irqbalance_ns, smp_affinity_list = { "24" = "1" }, [platform.vtd] ...',
              "",
              "[timing]",
              "# Any TimingModel field in ns overrides the default (docs/timing.md), e.g.:"]
    lines += [f"# {k} = {getattr(defaults, k)}   # {SOURCES.get(k, '')[:60]}"
              for k in ("pcie_hop", "lapic_delivery", "handler_base")]
    return "\n".join(lines) + "\n"
