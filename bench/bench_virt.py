"""Guest interrupts simulated per wall-clock second on each ``irqsim compare-virt`` path.

One NIC queue, packets at exponential gaps, 2 CPUs (docs/virt.md): bare metal, a VM without
APICv (three VM exits per interrupt), a VM with posted interrupts. Interrupts = handler
entries (the guest's in a VM).

    python bench/bench_virt.py [--requests 20000] [--gap-ns 20000] [--repeat 3]

Wall time is the best of ``--repeat`` runs (tracing off).
"""

from __future__ import annotations

import gc
import random
import time

import click

from irqsim.scenarios.virt import PATHS, build_path, summarize
from irqsim.scenarios.workload import PoissonSource


def run(path: str, requests: int, gap_ns: float) -> tuple[float, int, int]:
    """Wall seconds, interrupts handled and engine events of one run."""
    r = build_path(path)
    r.mark()
    m = r.machine
    PoissonSource(m.engine, lambda: r.nic.rx(0), requests, gap_ns, random.Random(1))
    gc.collect()
    ev0 = m.engine.events_run
    t0 = time.perf_counter()
    m.run()
    wall = time.perf_counter() - t0
    s = summarize(r)
    assert s["accounting_balanced"]
    return wall, int(s["interrupts"]), m.engine.events_run - ev0


@click.command(help=__doc__.splitlines()[0])
@click.option("--requests", type=int, default=20_000, help="packets")
@click.option("--gap-ns", type=float, default=20_000.0)
@click.option("--repeat", type=int, default=3)
def main(requests: int, gap_ns: float, repeat: int) -> None:
    print(f"one NIC queue, {requests} packets, mean gap {gap_ns:g} ns, 2 CPUs")
    print(f"{'path':>10} | {'interrupts':>10} | {'irq/s':>10} | {'events/s':>10} | "
          f"{'ev/irq':>6}")
    for path in PATHS:
        wall, irqs, ev = min(run(path, requests, gap_ns) for _ in range(max(1, repeat)))
        print(f"{path:>10} | {irqs:>10} | {irqs / wall:>10,.0f} | {ev / wall:>10,.0f} | "
              f"{ev / max(irqs, 1):>6.1f}")


if __name__ == "__main__":
    main()
