"""IPI throughput and TLB-shootdown cost on 2, 64 and 1024 CPUs.

For each size: build time and memory per CPU of the machine (sockets of 64 cores x 2 threads,
x2APIC when the IDs need it), boot time, an IPI storm (reschedule IPIs between random CPUs:
IPIs and simulated events per wall-clock second) and TLB shootdowns from CPU 0 to every other
CPU, with the all-but-self shorthand and with one physical ICR write per target (simulated
latency from the call to the last acknowledgement, the sender's ICR loop, wall time).

    python bench/bench_ipi.py [--cpus 2 64 1024] [--ipis 20000] [--shootdowns 5]
"""

from __future__ import annotations

import gc
import random
import time
import tracemalloc

import click

from benchcli import run
from irqsim.cpu.topology import Topology
from irqsim.machine import Machine


def topology(n: int) -> Topology:
    """2 CPUs: one core with 2 threads; 64: one socket x 32 cores x 2; 1024: 8 x 64 x 2."""
    if n <= 2:
        return Topology(1, 1, n)
    cores = min(64, n // 2)
    return Topology(max(1, n // (2 * cores)), cores, 2)


def build(n: int) -> tuple[Machine, float, float]:
    gc.collect()
    t0 = time.perf_counter()
    m = Machine(topology=topology(n), latency=False)
    build_s = time.perf_counter() - t0
    tracemalloc.start()
    m2 = Machine(topology=topology(n), latency=False)
    mem = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del m2
    return m, build_s, mem / n


def storm(m: Machine, count: int, seed: int = 1) -> tuple[float, int]:
    """``count`` reschedule IPIs between random CPUs, 200 ns apart on average."""
    rng = random.Random(seed)
    n = len(m.cpus)
    smp = m.kernel.smp
    t = m.now
    for _ in range(count):
        t += int(rng.expovariate(1 / 200)) + 1
        src = rng.randrange(n)
        dst = (src + 1 + rng.randrange(n - 1)) % n
        m.engine.at(t, lambda _, s=src, d=dst: smp.send_reschedule(s, d))
    ev0 = m.engine.events_run
    gc.collect()
    w0 = time.perf_counter()
    m.run()
    return time.perf_counter() - w0, m.engine.events_run - ev0


def shootdowns(m: Machine, count: int, shorthand: bool) -> tuple[int, int, float, int]:
    """Mean simulated latency and sender time, wall seconds per shootdown, events each."""
    smp = m.kernel.smp
    smp.shorthand = shorthand
    lat = sender = 0
    ev0 = m.engine.events_run
    w0 = time.perf_counter()
    for _ in range(count):
        req = smp.flush_tlb_others(0)
        m.run()
        lat += req.latency
        sender += req.sender_ns
    wall = (time.perf_counter() - w0) / count
    return lat // count, sender // count, wall, (m.engine.events_run - ev0) // count


@click.command(help=__doc__.splitlines()[0])
@click.option("--cpus", type=int, multiple=True, default=(2, 64, 1024), show_default=True)
@click.option("--ipis", type=int, default=20000)
@click.option("--shootdowns", "n_shootdowns", type=int, default=5)
def main(cpus: tuple[int, ...], ipis: int, n_shootdowns: int) -> None:
    rows = []
    for n in cpus:
        m, build_s, mem = build(n)
        b0 = time.perf_counter()
        m.boot()
        boot_s = time.perf_counter() - b0
        wall, events = storm(m, ipis)
        sh = shootdowns(m, n_shootdowns, True)
        ph = shootdowns(m, n_shootdowns, False)
        assert m.accounting()["balanced"]
        rows.append((n, str(m.topology).split(" = ")[0], build_s * 1e3, mem, boot_s * 1e3,
                     ipis / wall, events / wall, sh, ph, m.kernel.x2apic_mode))
    print(f"IPI benchmark: {ipis} reschedule IPIs per storm, {n_shootdowns} shootdowns "
          "per mode (simulated ns unless marked)")
    hdr = ("cpus", "build ms", "bytes/cpu", "boot ms", "IPIs/s", "events/s",
           "TLB sh. ns", "sh. wall ms", "TLB phys ns", "phys ICR ns", "phys wall ms")
    print(" | ".join(f"{h:>11}" for h in hdr))
    for r in rows:
        n, _topo, b, mem, boot, ips, eps, sh, ph, _x2 = r
        cells = [f"{n:>11d}", f"{b:>11.1f}", f"{mem:>11,.0f}", f"{boot:>11.1f}",
                 f"{ips:>11,.0f}", f"{eps:>11,.0f}", f"{sh[0]:>11,d}", f"{sh[2] * 1e3:>11.2f}",
                 f"{ph[0]:>11,d}", f"{ph[1]:>11,d}", f"{ph[2] * 1e3:>11.2f}"]
        print(" | ".join(cells))
    for r in rows:
        print(f"  {r[0]:>5} CPUs: {r[1]}, {'x2APIC' if r[9] else 'xAPIC'}")
    print("TLB sh.: all-but-self shorthand (one ICR write); TLB phys: one x2APIC/xAPIC ICR "
          "write per target; latency = call to last acknowledgement; phys ICR = sender's "
          "send loop.")


if __name__ == "__main__":
    run(main)
