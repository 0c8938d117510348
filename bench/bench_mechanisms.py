"""INTx and MSI interrupts simulated per wall-clock second, beside MSI-X.

The workload of ``irqsim compare-mechanisms``: a virtio-net whose two queues complete
requests at exponential gaps, on two CPUs, its INTx line shared with idle legacy devices
behind a switch. Each run is the whole register path of its mechanism (MSI-X: table,
MWr TLPs; MSI: capability, MWr; INTx: Assert/Deassert messages through the switch ports,
root-complex router, I/O APIC with Remote IRR and EOI broadcast, shared handler chain)
plus the virtio driver's ring processing. Interrupts = handler entries that claimed one.

    python bench/bench_mechanisms.py [--requests 20000] [--gap-ns 10000] [--sharers 2]
                                     [--repeat 3]

Wall time is the best of ``--repeat`` runs (tracing off) to damp machine noise.
"""

from __future__ import annotations

import gc
import random
import time

import click

from irqsim.scenarios.mechanisms import CompareSpec, build_compare, poisson


def run(mech: str, spec: CompareSpec, trace: bool) -> tuple[float, int, int, int]:
    """Wall seconds, interrupts handled, engine events and trace events of one run."""
    m, net = build_compare(mech, spec, trace=trace)
    m.boot()
    rng = random.Random(spec.seed)
    for qi in range(len(net.queues)):
        poisson(m, lambda q=qi: net.complete(q), spec.requests, spec.mean_gap_ns, rng)
    gc.collect()
    ev0 = m.engine.events_run
    t0 = time.perf_counter()
    m.run()
    wall = time.perf_counter() - t0
    acc = m.accounting()
    assert acc["balanced"], acc
    irqs = sum(sum(d.counts) for d in m.kernel.irqs.values())
    return wall, irqs, m.engine.events_run - ev0, len(m.ctx.tracer)


@click.command(help=__doc__.splitlines()[0])
@click.option("--requests", type=int, default=20_000, help="requests per queue")
@click.option("--gap-ns", type=float, default=10_000.0)
@click.option("--sharers", type=int, default=2)
@click.option("--repeat", type=int, default=3)
def main(requests: int, gap_ns: float, sharers: int, repeat: int) -> None:
    spec = CompareSpec(requests, gap_ns, 1, sharers, 2)
    rows = []
    for mech in ("msix", "msi", "intx"):
        runs = [run(mech, spec, trace=False) for _ in range(max(1, repeat))]
        off, irqs, ev, _ = min(runs)
        on, _, _, nev = run(mech, spec, trace=True)
        rows.append((mech, irqs, irqs / off, irqs / on, ev / off, ev / irqs, nev / irqs))
    print(f"virtio-net, 2 queues x {requests} requests, mean gap {gap_ns:g} ns, "
          f"{sharers} idle sharers on the INTx line, 2 CPUs")
    hdr = ("mechanism", "interrupts", "irq/s (off)", "irq/s (trace)", "events/s",
           "events/irq", "trace/irq", "vs MSI-X")
    print(" | ".join(f"{h:>13}" for h in hdr))
    base = rows[0][2]
    for mech, irqs, s_off, s_on, evs, epi, tpi in rows:
        print(" | ".join((f"{mech:>13}", f"{irqs:>13,d}", f"{s_off:>13,.0f}", f"{s_on:>13,.0f}",
                          f"{evs:>13,.0f}", f"{epi:>13.1f}", f"{tpi:>13.1f}",
                          f"{s_off / base:>12.2f}x")))


if __name__ == "__main__":
    main()
