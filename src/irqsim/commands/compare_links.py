"""``irqsim compare-links``: MSI-X latency by PCIe generation and link width.

The machine is compare-mechanisms' (a virtio-net behind a switch below a root port: two
links, device -> switch and switch -> root port) with every port and device built for one
link speed and width, so both links train to it (docs/timing.md "Links"). Only TLP
serialization changes between the rows: everything else is the same timing model.
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
from irqsim.fabric.tlp import FRAMING_BYTES
from irqsim.pci.express import LinkSpec, serialization_ns
from irqsim.sim.budget import Budget
from irqsim.sim.timing import TimingModel, default_timing
from irqsim.spec.pci import TLP_HEADER_3DW

MSI_WIRE_BYTES = TLP_HEADER_3DW + 4 + FRAMING_BYTES    # a 3DW MWr carrying one DWORD


def measure(link: LinkSpec, requests: int, gap_ns: float, seed: int,
            timing: TimingModel | None = None) -> dict[str, Any]:
    """Run the MSI-X workload with every link ``link``; the virtio-net's latency figures."""
    from irqsim.commands.progress import RunProgress
    from irqsim.scenarios.mechanisms import CompareSpec, run_compare
    spec = CompareSpec(requests, gap_ns, seed, sharers=0, ncpus=2, link=link)
    with RunProgress(f"compare-links {link}"):
        m = run_compare("msix", spec, timing=timing)
    s: dict[str, Any] = (m.recorder.summary() if m.recorder else {}).get("virtio-net") or {}
    stages: dict[str, int] = s.get("stages", {})
    per64 = m.ctx.timing.pcie_ns_per_64_bytes
    return {"gen": link.gen, "width": link.width, "gt_s": link.gt_s,
            "msi_serialization_ns": serialization_ns(link, per64, MSI_WIRE_BYTES),
            "count": s.get("count", 0), "min_ns": s.get("min", 0),
            "median_ns": s.get("median", 0), "p99_ns": s.get("p99", 0),
            "fabric_median_ns": stages.get("fabric", 0),
            "accounting_balanced": m.accounting()["balanced"]}


def as_text(rows: list[dict[str, Any]], widths: list[int], requests: int) -> str:
    buf = io.StringIO()
    con = Console(file=buf, width=140, no_color=True, highlight=False)
    con.print(f"irqsim compare-links: virtio-net MSI-X, 2 queues x {requests} requests, every "
              "port and device at one speed and width (two links: device -> switch -> root "
              f"port). Serialization of a 4-byte MSI ({MSI_WIRE_BYTES} wire bytes: 3DW header, "
              "payload, framing) per link, and latency (device event to handler entry).",
              markup=False, soft_wrap=True)
    t = Table(title="MSI serialization per link / median latency / min latency (ns)",
              title_justify="left")
    t.add_column("generation")
    for w in widths:
        t.add_column(f"x{w}", justify="right")
    for gen in sorted({r["gen"] for r in rows}):
        cells = []
        for w in widths:
            r = next(r for r in rows if r["gen"] == gen and r["width"] == w)
            cells.append(f"{r['msi_serialization_ns']} / {r['median_ns']} / {r['min_ns']}")
        t.add_row(str(LinkSpec(gen, 1)).replace(" x1", ""), *cells)
    con.print(t)
    ok = all(r["accounting_balanced"] for r in rows)
    con.print(f"accounting: {'balanced' if ok else 'NOT BALANCED'} in every run. Rates scale "
              "from the timing model's pcie_ns_per_64_bytes (the default Gen3 x1 link); "
              "--set-spec-rate prices every link at its specification line rate.",
              markup=False, soft_wrap=True)
    return buf.getvalue()


@click.command("compare-links")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="text: a generation x width table; json: one row each.")
@click.option("--gens", default="1,2,3,4,5,6", show_default=True,
              help="PCIe generations to run (comma-separated, 1-6).")
@click.option("--widths", default="1,4,16", show_default=True,
              help="Link widths to run (comma-separated lanes: 1, 2, 4, 8, 12, 16, 32).")
@click.option("--requests", type=click.IntRange(1, 1_000_000), default=100, show_default=True,
              help="Requests per virtio-net queue in each run.")
@click.option("--gap-ns", type=float, default=10_000.0, show_default=True, callback=finite_gap,
              help="Mean gap between requests on one queue (exponential), simulated ns.")
@click.option("--seed", type=SEED, default=1, show_default=True, help="Random seed (>= 0).")
@click.option("--set-spec-rate", is_flag=True,
              help="Price links at the specification's line rate (pcie_ns_per_64_bytes=65, "
                   "Gen3 x1's 8 GT/s x 128/130) instead of seed 003's 20 ns per 64 bytes.")
@budget_options("compare-links")
@diag_options
def command(fmt: str, gens: str, widths: str, requests: int, gap_ns: float, seed: int,
            set_spec_rate: bool, max_sim_ns: int, max_events: int) -> None:
    """MSI-X latency of one device for each PCIe generation and link width."""
    try:
        gen_list = [int(g) for g in gens.split(",")]
        width_list = [int(w.strip().lower().removeprefix("x")) for w in widths.split(",")]
        links = [LinkSpec(g, w) for g in gen_list for w in width_list]
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--gens/--widths") from None
    budget = Budget(max_sim_ns, max_events, DEFAULT_BUDGETS["compare-links"].storm_limit)
    check_span(requests * gap_ns, budget, f"--requests {requests} and --gap-ns {gap_ns:g}",
               "--gap-ns")
    timing = default_timing().with_(pcie_ns_per_64_bytes=65) if set_spec_rate else None
    rows = []
    with budget.active():
        for link in links:
            rows.append(measure(link, requests, gap_ns, seed, timing))
    click.echo(json.dumps(rows, indent=2) if fmt == "json" else
               as_text(rows, width_list, requests))
