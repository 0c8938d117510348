"""End-to-end MSI-X interrupts simulated per wall-clock second, beside the reference models.

Same arrival process as ../shared/bench/anchors (its Workload: 4 sources per CPU, load 0.95,
exponential gaps), measured in the same process run; prints a table and ratios. The
references are much simpler pipelines (see their README); irqsim runs the whole register
path (MSI-X table, TLPs, root port, root complex, IOMMU, LAPIC IRR/ISR/PPR, CPU, OS gate, EOI).

    python bench/bench_msix.py [--n 100000] [--cpus 1 64] [--intremap] [--pairs 8]

``--intremap``: the OS enables VT-d interrupt remapping (every interrupt is looked up,
validated and remapped by the IOMMU; docs/vtd.md). ``--pairs N`` then runs N alternating
irqsim/heapq pairs per CPU count and prints the median of their ratios: two adjacent runs
share the machine's state, which on a shared host moves single runs by tens of percent
(docs/performance.md section 11).
"""

from __future__ import annotations

import gc
import resource
import statistics
import sys
import time
from pathlib import Path

import click

from benchcli import run
from irqsim.devices.nic import MultiQueueNic
from irqsim.machine import Machine
from irqsim.os.irq import IRQ_HANDLED
from irqsim.os.kernel import PCI_IRQ_MSIX
from irqsim.scenarios.workload import ReplaySource

ANCHORS = Path(__file__).resolve().parents[1] / ".." / "shared" / "bench" / "anchors"


class BenchDriver:
    """Allocates one MSI-X vector per queue on the anchor's CPU and handles them."""

    name = "bench-nic"
    ids = ((0x8086, 0x1572),)

    def __init__(self, queue_cpu: list[int], handler_ns: int) -> None:
        self.queue_cpu = queue_cpu
        self.handler_ns = handler_ns
        self.k = None

    def probe(self, k, pdev) -> None:  # type: ignore[no-untyped-def]
        self.k = k
        k.pci_enable_device(pdev)
        k.pci_set_master(pdev)
        n = len(self.queue_cpu)
        k.pci_alloc_irq_vectors(pdev, n, n, PCI_IRQ_MSIX, cpus=self.queue_cpu)
        for i in range(n):
            k.request_irq(k.pci_irq_vector(pdev, i), self.handler, 0, f"nic-q{i}", None)

    def handler(self, irq: int, dev_id: object) -> int:
        self.k.spend(self.handler_ns)
        return IRQ_HANDLED


def run_irqsim(wl, trace: bool, intremap: bool = False  # type: ignore[no-untyped-def]
               ) -> tuple[float, int, int, dict]:
    m = Machine(ncpus=wl.n_cpus, trace=trace, latency=False, intremap=intremap)
    nic = MultiQueueNic(m.ctx, wl.n_devices)
    m.add_device(nic)
    m.kernel.register_driver(BenchDriver(wl.dev_cpu, 850))
    m.boot()
    eng = m.engine
    for d in range(wl.n_devices):      # the anchor's arrival stream, replayed gap by gap
        ReplaySource(eng, wl.gaps[d], nic.msix.signal_last, d)   # its event's last step
    gc.collect()
    ev0 = eng.events_run
    start = time.perf_counter()
    m.run()
    wall = time.perf_counter() - start
    acc = m.accounting()
    assert acc["balanced"], acc
    return wall, eng.events_run - ev0, len(m.ctx.tracer), acc


def run_anchor(mod, wl) -> float:  # type: ignore[no-untyped-def]
    gc.collect()
    start = time.perf_counter()
    mod.run(wl)
    return time.perf_counter() - start


@click.command(help=__doc__.splitlines()[0])
@click.option("--n", "n_irqs", type=float, default=1e5, help="interrupts per run")
@click.option("--cpus", type=int, multiple=True, default=(1, 64), show_default=True)
@click.option("--repeat", type=int, default=3, help="runs per measurement (best kept)")
@click.option("--intremap", is_flag=True, help="VT-d interrupt remapping on")
@click.option("--pairs", type=click.IntRange(min=0), default=0,
              help="also run this many alternating irqsim/heapq pairs per CPU count and "
                   "print the median of the pairs' ratios (steadier on a noisy machine)")
def main(n_irqs: float, cpus: tuple[int, ...], repeat: int, intremap: bool,
         pairs: int) -> None:
    anchors_ok = ANCHORS.is_dir()
    if anchors_ok:
        sys.path.insert(0, str(ANCHORS))
        import sim_heapq  # type: ignore[import-not-found]
        from workload import Workload  # type: ignore[import-not-found]
        try:
            import sim_simpy  # type: ignore[import-not-found]
        except ImportError:
            sim_simpy = None
    else:
        print(f"anchors not found at {ANCHORS}: only irqsim is measured")
        sim_heapq = sim_simpy = None
        from irqsim_bench_workload import Workload  # type: ignore[import-not-found]
    rows = []
    for ncpu in cpus:
        wl = Workload(n_total=int(n_irqs), n_cpus=ncpu, load=0.95, seed=1, iommu=True)
        offs, ons, heaps, simpys = [], [], [], []
        for _ in range(repeat):       # interleaved, best of N: the machine's noise is large
            off, ev, _, acc = run_irqsim(wl, trace=False, intremap=intremap)
            on, _, nev, _ = run_irqsim(wl, trace=True, intremap=intremap)
            offs.append(off)
            ons.append(on)
            heaps.append(run_anchor(sim_heapq, wl) if sim_heapq else float("nan"))
            simpys.append(run_anchor(sim_simpy, wl) if sim_simpy else float("nan"))
        off, on, heap, simpy = min(offs), min(ons), min(heaps), min(simpys)
        n = wl.n_total
        rows.append((ncpu, n / off, n / on, n / heap, n / simpy, ev / off, ev / n, nev / n,
                     on / off, heap / off, simpy / off, acc["delivered"], acc["merged"]))
    print(f"MSI-X end to end{', VT-d interrupt remapping on' if intremap else ''}, "
          f"{int(n_irqs)} interrupts per run, load 0.95, best of {repeat} "
          f"(peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB)")
    hdr = ("cpus", "irqsim off/s", "irqsim on/s", "heapq/s", "simpy/s", "events/s",
           "ev/irq", "trace/irq", "on/off cost", "vs heapq", "vs simpy", "delivered",
           "merged")
    print(" | ".join(f"{h:>12}" for h in hdr))
    for r in rows:
        cells = [f"{r[0]:>12d}"] + [f"{x:>12,.0f}" for x in r[1:6]] + [
            f"{r[6]:>12.2f}", f"{r[7]:>12.1f}", f"{r[8]:>11.2f}x", f"{r[9]:>11.2f}x",
            f"{r[10]:>11.2f}x", f"{r[11]:>12d}", f"{r[12]:>12d}"]
        print(" | ".join(cells))
    print("vs heapq / vs simpy: irqsim (tracing off) speed divided by the reference's speed")
    if pairs and sim_heapq is not None:
        print(f"alternating pairs (irqsim tracing off, then heapq), {pairs} per row:")
        for ncpu in cpus:
            wl = Workload(n_total=int(n_irqs), n_cpus=ncpu, load=0.95, seed=1, iommu=True)
            ratios = sorted(run_anchor(sim_heapq, wl) / run_irqsim(wl, False, intremap)[0]
                            for _ in range(pairs))
            q = statistics.quantiles(ratios, n=4) if pairs > 1 else [ratios[0]] * 3
            print(f"  {ncpu:>4} CPUs: vs heapq median {statistics.median(ratios):.2f}x "
                  f"(quartiles {q[0]:.2f}x-{q[2]:.2f}x, range {ratios[0]:.2f}x-"
                  f"{ratios[-1]:.2f}x)")


if __name__ == "__main__":
    run(main)
