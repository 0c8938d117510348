"""Building a machine with the multi-queue NIC, its driver and traffic (scenarios, tests,
bench)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from irqsim.cpu.topology import Topology
from irqsim.devices.netnic import NetNic
from irqsim.drivers.netnic import NetConfig, NetDriver
from irqsim.machine import Machine
from irqsim.net.traffic import Flow, Traffic, make_flows
from irqsim.sim.timing import TimingModel
from irqsim.sim.trace import TraceOption

# Two sockets (NUMA nodes) x 4 cores: CPUs 0-3 on node 0 (the NIC's), 4-7 on node 1.
NIC_TOPOLOGY = Topology(sockets=2, cores=4, threads=1, nodes=2)


@dataclass
class NetRun:
    """A booted machine with the NIC, its driver and the traffic feeding it."""

    machine: Machine
    nic: NetNic
    driver: NetDriver
    traffic: Traffic
    stop_ns: int
    extra: dict[str, Any] = field(default_factory=dict)


def build_net(cfg: NetConfig | None = None, flows: list[Flow] | None = None,
              pattern: str = "line", pps: float | None = None, gbps: float = 10,
              duration_ns: int = 10_000_000, seed: int = 1, trace: TraceOption = False,
              topology: Topology = NIC_TOPOLOGY, timing: TimingModel | None = None,
              burst: int = 32, latency: bool = True, chunk_ns: int = 200_000,
              per_packet: bool = False, rx: bool = True) -> NetRun:
    """Machine + NIC (node 0) + driver, booted, with traffic from now for ``duration_ns``
    (``rx=False``: no receive traffic, e.g. only the senders of ``cfg.tx_pps``)."""
    cfg = cfg or NetConfig()
    m = Machine(topology=topology, trace=trace, latency=latency, timing=timing)
    nic = NetNic(m.ctx, m.memory, cfg.queues, numa_node=0, per_packet=per_packet,
                 msi=cfg.irq_mode != "msix")
    m.add_device(nic, node=nic.numa_node if topology.nodes > 1 else 0)
    drv = NetDriver(cfg, nic)
    m.kernel.register_driver(drv)
    m.boot()
    start = m.now + 1000
    tr = Traffic(flows or make_flows(1024, seed=seed), gbps=gbps, pattern=pattern, pps=pps,
                 burst=burst, start_ns=start, stop_ns=start + duration_ns, seed=seed,
                 chunk_ns=chunk_ns)
    if rx:
        nic.connect(tr)
    run = NetRun(m, nic, drv, tr, start + duration_ns)
    # CPU time over the traffic window: snapshots at its start and end.
    m.engine.at(start, lambda _: run.extra.__setitem__("cpu0", m.cpu_time()))
    m.engine.at(start + duration_ns, lambda _: run.extra.__setitem__("cpu1", m.cpu_time()))
    # Kick the queues: each unmasked queue computes its first fire from the traffic.
    for q in nic.queues:
        nic._schedule(q)
    drv.start_senders(start, start + duration_ns)
    if cfg.pmd:
        cfg.pmd_stop_ns = start + duration_ns + 1_000_000
        drv.start_pmd(cfg.app_cpus or cfg.queue_cpus or list(range(cfg.queues)))
    return run


def run_net(r: NetRun, drain_ns: int | None = None) -> None:
    """Run through the traffic until everything is delivered and the engine is idle (an
    unbounded run lets software sections wait inline: docs/timing.md), or until
    ``drain_ns`` after the traffic stops."""
    r.machine.run(until=None if drain_ns is None else r.stop_ns + drain_ns)


def summary(r: NetRun) -> dict[str, Any]:
    """Throughput, CPU usage, latency and per-queue figures of a finished run."""
    m, nic, drv, tr = r.machine, r.nic, r.driver, r.traffic
    span = max(1, tr.stop - tr.start)
    secs = span / 1e9
    delivered = sum(s.delivered for s in drv.sockets())
    dbytes = sum(s.delivered_bytes for s in drv.sockets())
    reaped = sum(s.pkts for s in drv.queues)
    cnt = nic.counters()
    c0, c1 = r.extra.get("cpu0"), r.extra.get("cpu1") or m.cpu_time()
    times = [{k: b[k] - (a[k] if c0 else 0) for k in b} for a, b in
             zip(c0 or c1, c1, strict=True)]
    total = sum(sum(t.values()) for t in times) or 1
    busy = sum(sum(t.values()) - t["idle"] for t in times)      # every context but idle
    queues = []
    for s in drv.queues:
        q = nic.queues[s.q]
        queues.append({"queue": s.q, "cpu": s.napi.cpu, "irq": s.irq,
                       "interrupts": q.stats["interrupts"],
                       "irq_per_s": round(q.stats["interrupts"] / secs),
                       "packets": s.pkts, "missed": q.stats["rx_missed"],
                       "polls": s.napi.polls, "pkts_per_irq": round(
                           s.pkts / max(1, q.stats["interrupts"]), 1),
                       "dim_profile": s.dim.profile_ix if s.dim is not None else None,
                       "dim_changes": s.dim_applied})
    sn = m.kernel.softirq.softnet
    return {
        "generated": tr.generated, "received": cnt["rx_packets"], "missed": cnt["rx_missed"],
        "reaped": reaped, "delivered": delivered,
        "offered_mpps": round(tr.generated / secs / 1e6, 3),
        "throughput_mpps": round(delivered / secs / 1e6, 3),
        "throughput_gbps": round((dbytes + 20 * delivered) * 8 / secs / 1e9, 3),
        "interrupts_per_s": round(cnt["interrupts"] / secs),
        "cpu_busy_pct": round(100 * busy / total, 1),
        "cpu_cores_busy": round(busy / span, 2),
        "cpu_time_window_ns": times,
        "latency_stack_ns": drv.stack_latency.summary(),
        "latency_app_ns": drv.app_latency.summary(),
        "queues": queues,
        "softnet": [{"cpu": i, "processed": s.processed, "time_squeeze": s.time_squeeze}
                    for i, s in enumerate(sn)],
        "tx": {"sent": sum(s.tx_sent for s in drv.queues),
               "transmitted": cnt["tx_packets"],
               "cleaned": sum(s.tx_done for s in drv.queues),
               "qdisc_drops": sum(s.tx_qdisc_drops for s in drv.queues),
               "queue_stops": sum(s.tx_stops for s in drv.queues),
               "queue_wakes": sum(s.tx_wakes for s in drv.queues)},
    }
