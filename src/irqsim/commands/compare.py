"""``irqsim compare-mechanisms``: one device workload over MSI-X, MSI and INTx.

The machine is the same for the three runs: a virtio-net (MSI-X table, two MSI
messages, INTA) and ``--sharers`` idle legacy devices behind one switch, all
swizzled onto one I/O APIC line. Only the mechanisms the virtio driver may use
change (MSI-X, else MSI, else INTx). Latency is device event to the entry of the
handler that claims the interrupt; every figure comes from the timing model's
stages (no per-mechanism constant exists).
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

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
from irqsim.sim.stats import STAGE_DOCS, STAGES

if TYPE_CHECKING:
    from irqsim.machine import Machine
    from irqsim.scenarios.mechanisms import CompareSpec

NAMES = {"msix": "MSI-X", "msi": "MSI", "intx": "INTx"}
# Seed 003 "Performance Summary": best / typical / worst case (us).
SEED_003 = {"msix": (0.5, 1, 2), "msi": (1, 2, 3), "intx": (3, 5, 10)}
DEVICE = "virtio-net"


def measure(spec: CompareSpec) -> dict[str, dict[str, Any]]:
    """Run the workload on each mechanism; summary per mechanism."""
    # Imported here: importing the scenarios at CLI start would register them before
    # the demo's own listing order.
    from irqsim.commands.progress import RunProgress
    from irqsim.scenarios.mechanisms import run_compare
    out: dict[str, dict[str, Any]] = {}
    for mech in NAMES:
        with RunProgress(f"compare-mechanisms {NAMES[mech]}"):
            m = run_compare(mech, spec)
        out[mech] = summarize(m, mech)
        del m               # one machine alive at a time
    return out


def summarize(m: Machine, mech: str) -> dict[str, Any]:
    """Median/p99 latency of the virtio-net's interrupts and their stage medians."""
    rec = m.recorder.summary() if m.recorder else {}
    s = rec.get(DEVICE)
    pdev = next(p for p in m.kernel.devices if p.vendor == 0x1AF4)
    irqs = [m.kernel.irqs[i] for i in pdev.irqs]
    acc = m.accounting()
    res: dict[str, Any] = {
        "mechanism": NAMES[mech], "used": pdev.irq_mode,
        "count": s["count"] if s else 0, "min_ns": s["min"] if s else 0,
        "median_ns": s["median"] if s else 0, "p99_ns": s["p99"] if s else 0,
        "max_ns": s["max"] if s else 0, "stages_median_ns": s["stages"] if s else {},
        "irqs": [{"irq": d.irq, "chip": d.chip, "cpu": d.cpu, "vector": d.vector,
                  "handlers": d.name, "unhandled": d.unhandled} for d in irqs],
        "accounting_balanced": acc["balanced"],
        "seed003_us": dict(zip(("best", "typical", "worst"), SEED_003[mech], strict=True)),
    }
    return res


def as_text(spec: CompareSpec, res: dict[str, dict[str, Any]]) -> str:
    buf = io.StringIO()
    con = Console(file=buf, width=120, no_color=True, highlight=False)
    links = f"every link {spec.link}; " if spec.link else ""
    con.print(f"irqsim compare-mechanisms: {DEVICE} (2 queues x {spec.requests} requests, mean "
              f"gap {spec.mean_gap_ns:g} ns per queue, seed {spec.seed}) on {spec.ncpus} CPU(s); "
              f"{links}its INTx line is shared with {spec.sharers} idle legacy device(s) whose "
              "handlers run first", markup=False, soft_wrap=True)
    con.print()
    t = Table(title="Latency: device event to the claiming handler's entry (ns)",
              title_justify="left")
    for col in ("mechanism", "interrupts", "median", "p99", "vs MSI-X (median)", "IRQs",
                "seed 003 typical"):
        t.add_column(col, justify="left" if col in ("mechanism", "IRQs") else "right")
    base = res["msix"]["median_ns"] or 1
    for mech, r in res.items():
        irqs = ", ".join(f"{d['irq']} ({d['chip'].split('-0000')[0]}, CPU{d['cpu']}, "
                         f"vector {d['vector']:#x})" for d in r["irqs"])
        t.add_row(r["mechanism"] + ("" if r["used"] == mech else f" (got {r['used']})"),
                  str(r["count"]), str(r["median_ns"]), str(r["p99_ns"]),
                  f"{r['median_ns'] / base:.2f}x", irqs, f"{r['seed003_us']['typical']} us")
    con.print(t)
    b = Table(title="Per-stage breakdown (median ns; medians of stages need not add up to the "
                    "median total)", title_justify="left")
    b.add_column("stage")
    for r in res.values():
        b.add_column(r["mechanism"], justify="right")
    b.add_column("what it covers")
    for st in STAGES:
        b.add_row(st, *(str(r["stages_median_ns"].get(st, 0)) for r in res.values()),
                  STAGE_DOCS[st])
    con.print(b)
    ok = all(r["accounting_balanced"] for r in res.values())
    con.print(f"accounting: {'balanced' if ok else 'NOT BALANCED'} in all three runs. "
              "Seed 003's table (MSI-X ~1 us, MSI ~2 us, INTx ~5 us typical) is compared with "
              "these figures in docs/mechanisms.md.", markup=False, soft_wrap=True)
    return buf.getvalue()


@click.command("compare-mechanisms")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="text: tables; json: an object keyed msix, msi, intx.")
@click.option("--requests", type=click.IntRange(1, 1_000_000), default=400, show_default=True,
              help="Requests per virtio-net queue.")
@click.option("--gap-ns", type=float, default=10_000.0, show_default=True, callback=finite_gap,
              help="Mean gap between requests on one queue (exponential), simulated ns.")
@click.option("--seed", type=SEED, default=1, show_default=True, help="Random seed (>= 0).")
@click.option("--sharers", type=click.IntRange(0, 7), default=2, show_default=True,
              help="Idle legacy devices sharing the INTx line (their handlers run first).")
@click.option("--cpus", type=click.IntRange(1, 16), default=2, show_default=True,
              help="CPUs in the machine.")
@click.option("--pcie-gen", type=click.IntRange(1, 6), default=None,
              help="Build every port and device with this PCIe generation (1-6 = 2.5-64 "
                   "GT/s; default: each one's own link, docs/timing.md \"Links\").")
@click.option("--pcie-width", type=click.Choice(["x1", "x2", "x4", "x8", "x12", "x16", "x32"]),
              default=None, help="... and this link width (default x1 with --pcie-gen).")
@budget_options("compare-mechanisms")
@diag_options
def command(fmt: str, requests: int, gap_ns: float, seed: int, sharers: int,
            cpus: int, pcie_gen: int | None, pcie_width: str | None, max_sim_ns: int,
            max_events: int) -> None:
    """Run the same device workload over MSI-X, MSI and INTx; median and p99 latency."""
    from irqsim.pci.express import LinkSpec
    from irqsim.scenarios.mechanisms import CompareSpec
    link = None
    if pcie_gen is not None or pcie_width is not None:
        link = LinkSpec.parse(pcie_gen or 3, pcie_width or "x1")
    spec = CompareSpec(requests, gap_ns, seed, sharers, cpus, link)
    budget = Budget(max_sim_ns, max_events, DEFAULT_BUDGETS["compare-mechanisms"].storm_limit)
    check_span(requests * gap_ns, budget, f"--requests {requests} and --gap-ns {gap_ns:g}",
               "--gap-ns")
    with budget.active():
        res = measure(spec)
    if fmt == "json":
        click.echo(json.dumps(res, indent=2))
    else:
        click.echo(as_text(spec, res))
