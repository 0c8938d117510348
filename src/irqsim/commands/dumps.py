"""``irqsim run-dump``: simulate devices whose configuration space comes from real dumps."""

from __future__ import annotations

from pathlib import Path

import click

from irqsim.commands.options import (
    DEFAULT_BUDGETS,
    SEED,
    UsageFailure,
    budget_options,
    check_span,
    diag_options,
    finite_gap,
)
from irqsim.sim.budget import Budget


@click.command("run-dump")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--cpus", type=click.IntRange(1, 64), default=4, show_default=True,
              help="CPUs in the simulated machine.")
@click.option("--requests", type=click.IntRange(1, 1_000_000), default=100, show_default=True,
              help="Events raised on each allocated vector.")
@click.option("--gap-ns", type=float, callback=finite_gap, default=20_000.0, show_default=True,
              help="Mean gap between events on one vector (simulated ns).")
@click.option("--seed", type=SEED, default=1, show_default=True, help="Random seed (>= 0).")
@click.option("--format", "fmt", type=click.Choice(["text", "mermaid", "json"]), default="text",
              show_default=True, help="Output format, as for `irqsim demo`.")
@click.option("--sriov-numvfs", type=click.IntRange(0, 0xFFFF), default=None,
              help="VFs to enable on each SR-IOV PF (its sriov_numvfs; default: the NumVFs "
                   "the dump shows). Each VF's MSI-X vectors raise interrupts too.")
@click.option("--no-sriov", is_flag=True,
              help="Do not model dumped SR-IOV capabilities: VF BARs stay the dump's "
                   "read-only bytes (the OS reports OS-SRIOV-VF-BAR) and no VF appears.")
@budget_options("run-dump")
@diag_options
def command(files: tuple[Path, ...], cpus: int, requests: int, gap_ns: float, seed: int,
            fmt: str, sriov_numvfs: int | None, no_sriov: bool, max_sim_ns: int,
            max_events: int) -> None:
    """Build a machine from lspci -x/-xxx/-xxxx dumps or sysfs config FILES and run it.

    Each endpoint's configuration space is the dump's (read-only parts kept, writable parts
    writable); its MSI-X capability (real table size, BIR, offsets) drives the simulated OS's
    set-up, and every allocated vector raises interrupts. Each device sits behind a root port
    whose link is the dump's LnkSta; an SR-IOV PF enables VFs (--sriov-numvfs), whose
    vectors raise interrupts as well (docs/sriov.md).
    """
    from irqsim.commands.progress import RunProgress
    from irqsim.scenarios.dumps import run_dumps
    from irqsim.views.report import render, tracer_for
    budget = Budget(max_sim_ns, max_events, DEFAULT_BUDGETS["run-dump"].storm_limit)
    check_span(requests * gap_ns, budget, f"--requests {requests} and --gap-ns {gap_ns:g}",
               "--gap-ns")
    with RunProgress("run-dump"), budget.active():
        res = run_dumps(list(files), ncpus=cpus, requests=requests, mean_gap_ns=gap_ns,
                        seed=seed, trace=tracer_for(fmt), sriov_numvfs=sriov_numvfs,
                        sriov=not no_sriov)
    if not res.machine.devices:
        raise UsageFailure("no simulatable endpoint in " + ", ".join(map(str, files))
                           + ("; " + "; ".join(res.notes) if res.notes else ""))
    click.echo(render(res, fmt))
