"""``irqsim platform``: run a scenario with platform settings applied at run time and show
the /proc/irq tree, C-state residency and CPU use (docs/affinity.md).

``--set IRQ=LIST`` writes ``/proc/irq/IRQ/smp_affinity_list`` and ``--set-mask IRQ=HEX``
``/proc/irq/IRQ/smp_affinity`` right after boot, from CPU0, through the same file API a
script uses (``Kernel.procfs``): the write moves the vector with real register writes, and
a refused write prints Linux's error (``Input/output error`` for a managed IRQ, ``Invalid
argument`` for a mask without an online CPU). ``--irqbalance MS`` runs irqbalance every MS
simulated ms; ``--isolcpus`` and ``--cstates``/``--pm-qos-us`` are boot options of every
machine the scenario builds.
"""

from __future__ import annotations

import io
import json
from typing import Any

import click
from rich.console import Console

from irqsim.commands.options import (
    DEFAULT_BUDGETS,
    SEED,
    UsageFailure,
    budget_options,
    finite_gap,
)
from irqsim.sim.budget import Budget

DEFAULT_BUDGETS.setdefault("platform", Budget(max_sim_ns=100_000_000_000,
                                              max_events=100_000_000))


def _pairs(ctx: click.Context, param: click.Parameter, values: tuple[str, ...],
           ) -> list[tuple[int, str]]:
    out = []
    for v in values:
        irq, sep, text = v.partition("=")
        if not sep or not irq.strip().isdigit() or not text.strip():
            raise click.BadParameter(f"expected IRQ=VALUE, got {v!r}")
        out.append((int(irq), text.strip()))
    return out


def run(scenario: str, requests: int, gap_ns: float, seed: int,
        writes: list[tuple[str, int, str]], irqbalance_ms: float | None,
        isolcpus: str | None, cstates: str | None, pm_qos_us: float | None,
        ) -> dict[str, Any]:
    """Run ``scenario`` with the settings; the report as a dict."""
    from irqsim.machine import PLATFORM, Machine
    from irqsim.os.affinity import AFTER_BOOT
    from irqsim.os.irqbalance import IrqBalance
    from irqsim.scenarios import ScenarioOptions, load_all

    scenarios = load_all()
    if scenario not in scenarios:
        raise click.BadParameter(f"unknown scenario {scenario!r}; one of "
                                 f"{', '.join(sorted(scenarios))}", param_hint="'--scenario'")
    results: list[dict[str, Any]] = []
    balancers: list[IrqBalance] = []

    def after_boot(m: Machine) -> None:
        k = m.kernel
        for fname, irq, text in writes:
            path = f"/proc/irq/{irq}/{fname}"
            row: dict[str, Any] = {"path": path, "value": text, "error": None}

            def echo(p: str = path, t: str = text, row: dict[str, Any] = row) -> None:
                try:
                    k.procfs.write(p, t + "\n")
                except OSError as e:            # what `echo` prints: write error: ...
                    row["error"] = f"write error: {e.strerror}"
            k.run_on(m.cpus[0], echo)
            results.append(row)
        if irqbalance_ms is not None:
            bal = IrqBalance(k, interval_ns=int(irqbalance_ms * 1_000_000))
            balancers.append(bal)
            bal.start()

    plat: dict[str, Any] = {}
    if cstates:
        plat["cstates"] = cstates
    if pm_qos_us is not None:
        plat["pm_qos_ns"] = int(pm_qos_us * 1000)
    if isolcpus:
        plat["isolcpus"] = isolcpus
    t1 = PLATFORM.set(plat)
    t2 = AFTER_BOOT.set((*AFTER_BOOT.get(), after_boot))
    try:
        res = scenarios[scenario][1](ScenarioOptions(requests, gap_ns, seed, trace=False))
    finally:
        AFTER_BOOT.reset(t2)
        PLATFORM.reset(t1)
    m = res.machine
    k = m.kernel
    rec = m.recorder.summary() if m.recorder else {}
    acc = m.accounting()
    return {
        "scenario": scenario,
        "boot_options": {"isolcpus": isolcpus, "cstates": cstates,
                         "pm_qos_us": pm_qos_us},
        "writes": results,
        "proc_irq": k.procfs.table(),
        "interrupts": [{"irq": r["irq"], "name": r["name"], "counts": r["counts"]}
                       for r in k.interrupt_rows()],
        "irqbalance": balancers[0].stats() if balancers else None,
        "cstate_residency_ns": m.cstate_residency(),
        "cpu_time_ns": m.cpu_time(),
        "latency_ns": {d: {x: s[x] for x in ("count", "min", "median", "p99", "max")}
                       for d, s in rec.items()},
        "accounting": {"balanced": acc["balanced"], "raised": acc["raised"],
                       "delivered": acc["delivered"], "merged": acc["merged"]},
    }


def as_text(rep: dict[str, Any]) -> str:
    from irqsim.views.procfs import mpstat
    buf = io.StringIO()
    con = Console(file=buf, width=130, no_color=True, highlight=False)

    def p(s: str = "") -> None:
        con.print(s, markup=False, soft_wrap=True)
    opts = ", ".join(f"{k}={v}" for k, v in rep["boot_options"].items() if v is not None)
    p(f"irqsim platform: scenario {rep['scenario']}" + (f" ({opts})" if opts else ""))
    for w in rep["writes"]:
        p(f"echo {w['value']} > {w['path']}" + (f": {w['error']}" if w["error"] else ""))
    p()
    cols = ("irq", "name", "managed", "smp_affinity", "smp_affinity_list",
            "effective_affinity_list", "affinity_hint", "node")
    p("/proc/irq (after the run)")
    p("  " + " ".join(f"{c:>{max(len(c), 6)}}" for c in cols))
    for r in rep["proc_irq"]:
        p("  " + " ".join(f"{r[c]!s:>{max(len(c), 6)}}" for c in cols))
    counts = {r["irq"]: sum(r["counts"]) for r in rep["interrupts"]}
    p("interrupts per IRQ: " + ", ".join(f"{i}: {n}" for i, n in counts.items()))
    if rep["irqbalance"]:
        b = rep["irqbalance"]
        p(f"irqbalance: {b['cycles']} cycles, {b['moves']} moves, {b['writes']} writes, "
          f"banned CPUs {b['banned'] or 'none'}")
    res = rep["cstate_residency_ns"]
    if any(res):
        p()
        p("C-state residency (% of each CPU's run)")
        total = sum(rep["cpu_time_ns"][0].values()) or 1
        for i, r in enumerate(res):
            p(f"  CPU{i}: " + "  ".join(f"{n} {100 * v / total:5.1f}%" for n, v in r.items()
                                        if v))
    p()
    p(mpstat(rep["cpu_time_ns"]))
    for d, s in rep["latency_ns"].items():
        p(f"latency {d}: n={s['count']} min {s['min']} median {s['median']} p99 {s['p99']} "
          f"max {s['max']} ns")
    a = rep["accounting"]
    p(f"accounting: raised {a['raised']}, delivered {a['delivered']}, merged {a['merged']}: "
      f"{'balanced' if a['balanced'] else 'NOT BALANCED'}")
    return buf.getvalue()


@click.command("platform")
@click.option("--scenario", default="nvme", show_default=True, help="Scenario to run.")
@click.option("--requests", type=click.IntRange(1, 1_000_000), default=200, show_default=True)
@click.option("--gap-ns", type=float, default=10_000.0, show_default=True, callback=finite_gap,
              help="Mean gap between requests (the scenario's meaning), simulated ns.")
@click.option("--seed", type=SEED, default=1, show_default=True)
@click.option("--set", "sets", multiple=True, callback=_pairs, metavar="IRQ=LIST",
              help="Write LIST (e.g. 0-3,8) to /proc/irq/IRQ/smp_affinity_list after boot.")
@click.option("--set-mask", "masks", multiple=True, callback=_pairs, metavar="IRQ=HEX",
              help="Write HEX (e.g. ff or ff,ffffffff) to /proc/irq/IRQ/smp_affinity.")
@click.option("--irqbalance", "irqbalance_ms", type=click.FloatRange(0.001, 1e6), default=None,
              metavar="MS", help="Run irqbalance every MS simulated ms (irqbalance: 10000).")
@click.option("--isolcpus", default=None, metavar="[managed_irq,]LIST",
              help="The isolcpus= boot option.")
@click.option("--cstates", type=click.Choice(["skx", "icx", "spr", "hsw", "poll"]),
              default=None, help="Idle states (poll: idle=poll); default none.")
@click.option("--pm-qos-us", type=click.FloatRange(0, 1e6), default=None,
              help="PM-QoS CPU latency limit for the idle governor, us.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@budget_options("platform")
def command(scenario: str, requests: int, gap_ns: float, seed: int,
            sets: list[tuple[int, str]], masks: list[tuple[int, str]],
            irqbalance_ms: float | None, isolcpus: str | None, cstates: str | None,
            pm_qos_us: float | None, fmt: str, max_sim_ns: int, max_events: int) -> None:
    """Run a scenario with run-time affinity writes, irqbalance, isolcpus and C-states."""
    writes = ([("smp_affinity_list", i, v) for i, v in sets]
              + [("smp_affinity", i, v) for i, v in masks])
    if isolcpus:
        from irqsim.os.isolation import parse_isolcpus
        try:
            parse_isolcpus(isolcpus, 1 << 16)
        except OSError as e:
            raise click.BadParameter(e.strerror or str(e), param_hint="'--isolcpus'") from None
    budget = Budget(max_sim_ns, max_events, DEFAULT_BUDGETS["platform"].storm_limit)
    with budget.active():
        try:
            rep = run(scenario, requests, gap_ns, seed, writes, irqbalance_ms, isolcpus,
                      cstates, pm_qos_us)
        except OSError as e:            # e.g. isolcpus naming a CPU the machine lacks
            raise UsageFailure(f"{scenario}: {e}") from None
    click.echo(json.dumps(rep, indent=2) if fmt == "json" else as_text(rep))
