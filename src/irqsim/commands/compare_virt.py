"""``irqsim compare-virt``: one NIC workload delivered to bare metal, to a VM without
APICv (VM exit + injection), to a VM with APICv only (the host handler posts, CPU-side) and
to a VM with VT-d posted interrupts (docs/virt.md).

Latency is device event to the entry of the handler that serves it (the host driver's on bare
metal, the guest's in a VM); exits per interrupt are the VM exits the path costs (external
interrupt, APIC access for the EOI, EOI-induced, interrupt window) per guest interrupt; root
time is host CPU time (hardirq + task, with the exits' and entries' hardware time).
"""

from __future__ import annotations

import io
import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from irqsim.commands.options import (
    DEFAULT_BUDGETS,
    SEED,
    budget_options,
    check_span,
    diag_options,
    finite_gap,
)
from irqsim.sim.budget import Budget

NAMES = {"bare": "bare metal", "vm_exit": "VM, no APICv (exit + injection)",
         "apicv": "VM, APICv (CPU-side posting)", "posted": "VM, VT-d posted interrupts"}
# Seed 003 (Posted Interrupts; Performance Summary): what it says each path costs.
SEED_003 = {"bare": "MSI-X 0.5 / 1 / 2 us (best / typical / worst)",
            "vm_exit": "~2000 cycles of exit + entry (~600-800 ns) + handler time",
            "apicv": "(no figure for CPU-side posting alone)",
            "posted": "0.3 / 0.5 / 1 us; overhead ~300-500 ns, no VM exit"}


def measure(requests: int, gap_ns: float, seed: int) -> dict[str, dict[str, Any]]:
    """Run the workload on each path; one summary per path."""
    from irqsim.commands.progress import RunProgress
    from irqsim.scenarios.virt import PATHS, VirtSpec, run_path, summarize
    out: dict[str, dict[str, Any]] = {}
    for path in PATHS:
        with RunProgress(f"compare-virt {path}"):
            r = run_path(path, VirtSpec(requests, gap_ns, seed))
        out[path] = {"path": NAMES[path], **summarize(r), "seed003": SEED_003[path]}
        del r
    return out


def as_text(requests: int, gap_ns: float, seed: int, res: dict[str, dict[str, Any]]) -> str:
    buf = io.StringIO()
    con = Console(file=buf, width=130, no_color=True, highlight=False)
    con.print(f"irqsim compare-virt: one NIC queue, {requests} packets at mean gap {gap_ns:g} ns "
              f"(seed {seed}); 2 CPUs. In the VM the NIC is assigned (VFIO), its host vector on "
              "CPU0 (running vCPU0), its guest vector on vCPU1 (CPU1).", markup=False,
              soft_wrap=True)
    t = Table(title="Device event to handler entry (the guest's in a VM)", title_justify="left")
    for col in ("path", "interrupts", "median ns", "p99 ns", "exits/interrupt",
                "root ns/interrupt"):
        t.add_column(col, justify="left" if col == "path" else "right")
    for r in res.values():
        t.add_row(r["path"], str(r["interrupts"]), str(r["median_ns"]), str(r["p99_ns"]),
                  f"{r['exits_per_interrupt']:.2f}", str(r["root_ns_per_interrupt"]))
    con.print(t)
    for r in res.values():
        exits = ", ".join(f"{k} {n}" for k, n in r["exits"].items()) or "none"
        con.print(f"{r['path']}: VM exits {exits}; seed 003 says {r['seed003']}",
                  markup=False, soft_wrap=True)
    ok = all(r["accounting_balanced"] for r in res.values())
    con.print(f"accounting: {'balanced' if ok else 'NOT BALANCED'} in all runs; docs/virt.md "
              "compares these with seed 003.", markup=False)
    return buf.getvalue()


@click.command("compare-virt")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="text: a table; json: an object keyed bare, vm_exit, "
                                      "apicv, posted.")
@click.option("--requests", type=click.IntRange(1, 1_000_000), default=400, show_default=True,
              help="Packets on the NIC queue.")
@click.option("--gap-ns", type=float, default=20_000.0, show_default=True, callback=finite_gap,
              help="Mean gap between packets (exponential), simulated ns.")
@click.option("--seed", type=SEED, default=1, show_default=True, help="Random seed (>= 0).")
@budget_options("compare-virt")
@diag_options
def command(fmt: str, requests: int, gap_ns: float, seed: int, max_sim_ns: int,
            max_events: int) -> None:
    """The same NIC workload to bare metal and to a VM: VM exits, APICv, VT-d posting."""
    budget = Budget(max_sim_ns, max_events, DEFAULT_BUDGETS["compare-virt"].storm_limit)
    check_span(requests * gap_ns, budget, f"--requests {requests} and --gap-ns {gap_ns:g}",
               "--gap-ns")
    with budget.active():
        res = measure(requests, gap_ns, seed)
    if fmt == "json":
        click.echo(json.dumps(res, indent=2))
    else:
        click.echo(as_text(requests, gap_ns, seed, res))
