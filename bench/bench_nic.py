"""One simulated second of 10 GbE line rate (64-byte frames, 14.88 Mpps) on 8 queues with
adaptive moderation (Linux DIM) and NAPI: wall time and simulated/wall ratio.

    python bench/bench_nic.py [--ms 1000] [--no-app]

Prints the run's figures (interrupts/s, CPU busy, latency) with the timing, and the
machine's load average (the bench machine is shared: compare with bench_msix run beside).
"""

from __future__ import annotations

import gc
import os
import resource
import time

import click

from benchcli import run
from irqsim.drivers.netnic import NetConfig
from irqsim.net.moderation import Coalesce
from irqsim.net.setup import build_net, run_net, summary


@click.command(help=__doc__.splitlines()[0])
@click.option("--ms", type=float, default=1000.0, show_default=True,
              help="simulated milliseconds of traffic")
@click.option("--app/--no-app", default=True, show_default=True,
              help="model the reader threads (wire-to-application latency)")
def main(ms: float, app: bool) -> None:
    dur = int(ms * 1_000_000)
    cfg = NetConfig(queues=8, queue_cpus=list(range(8)), ring_size=1024,
                    rx=Coalesce(adaptive=True), app=app)
    r = build_net(cfg, duration_ns=dur, latency=False)
    gc.collect()
    ev0 = r.machine.engine.events_run
    t0 = time.perf_counter()
    run_net(r)
    wall = time.perf_counter() - t0
    s = summary(r)
    ev = r.machine.engine.events_run - ev0
    print(f"10 GbE line rate, 64-byte frames, 8 queues, DIM + NAPI, {ms:g} ms simulated "
          f"(then until idle)")
    print(f"wall {wall:.2f} s, simulated/wall {dur / 1e9 / wall:.4f} "
          f"({wall / (dur / 1e9):.1f} s per simulated second), {ev} events "
          f"({ev / wall:,.0f}/s), {s['generated'] / wall:,.0f} packets/s of wall time")
    print(f"packets {s['generated']} delivered {s['delivered']} missed {s['missed']}; "
          f"{s['interrupts_per_s']} interrupts/s; CPU busy {s['cpu_busy_pct']} % "
          f"({s['cpu_cores_busy']} cores); app latency {s['latency_app_ns']}")
    print(f"DIM profiles {[q['dim_profile'] for q in s['queues']]}; peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB; load average "
          f"{os.getloadavg()[0]:.1f}")
    assert r.machine.accounting()["balanced"]


if __name__ == "__main__":
    run(main)
