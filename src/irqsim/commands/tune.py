"""``irqsim tune``: seed 003's "Performance Summary" experiments (its "Latency Comparison"
and "Throughput vs CPU Usage" tables) as runs of the model, irqsim's figures beside the
seed's (logic in :mod:`irqsim.net.tune`; docs/tuning.md)."""

from __future__ import annotations

import json
from typing import Any

import click

from irqsim.commands.options import DEFAULT_BUDGETS, SEED, budget_options, diag_options
from irqsim.sim.budget import Budget


@click.command("tune")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True,
              help="text: the two tables; json: a list of rows with config, latency_us "
                   "{min, typical, max} or throughput_gbps and cpu_pct, seed, "
                   "inside_seed_range.")
@click.option("--table", type=click.Choice(["all", "latency", "throughput"]), default="all",
              show_default=True, help="Run only one of the two tables.")
@click.option("--seed", type=SEED, default=1, show_default=True,
              help="Random seed of the traffic (>= 0).")
@budget_options("tune")
@diag_options
def command(fmt: str, table: str, seed: int, max_sim_ns: int, max_events: int) -> None:
    """Seed 003's Performance Summary rows (MSI-X with no, adaptive and aggressive
    coalescing, MSI, INTx, busy polling, poll-mode; throughput and CPU usage at 10 GbE on
    8 CPUs), each measured by a short simulated run of the default timing model: 10 ms of
    traffic per latency row, 4 ms of line rate per throughput row, after a warm-up (80 ms
    and 20 ms with adaptive moderation). docs/tuning.md defines every figure."""
    from irqsim.commands.progress import RunProgress
    from irqsim.net.tune import EXPERIMENTS, run_experiment, text
    budget = Budget(max_sim_ns, max_events, DEFAULT_BUDGETS["tune"].storm_limit)
    rows: list[dict[str, Any]] = []
    with budget.active():
        for e in EXPERIMENTS:
            if table in ("all", e.table):
                with RunProgress(f"tune {e.table}: {e.config}"):
                    rows.append(run_experiment(e, seed))
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(text(rows))
