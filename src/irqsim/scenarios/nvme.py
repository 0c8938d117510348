"""The ``nvme`` scenario: an NVMe controller on node 0 of a two-node machine, managed
per-CPU completion vectors, interrupt aggregation, one polled queue (docs/nvme.md)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from statistics import median
from typing import Annotated, Any, ClassVar

from pydantic import Field

from irqsim.cpu.topology import Topology
from irqsim.devices.nvme import NvmeController
from irqsim.drivers.nvme import NvmeDriver
from irqsim.machine import Machine
from irqsim.scenarios import ScenarioOptions, ScenarioResult, knobs_of, register
from irqsim.sim.trace import TraceOption

NVME_TOPOLOGY = Topology(sockets=2, cores=4, nodes=2)
AGGREGATION = (3, 1)          # Set Features 08h: THR 3 (4 entries), TIME 1 (100 us)
POLL_EVERY = 8                # one request in eight is a polled (hipri) read


def build_nvme(trace: TraceOption = False, aggregation: tuple[int, int] | None = AGGREGATION,
               topology: Topology = NVME_TOPOLOGY, node: int = 0, poll_queues: int = 1,
               cstates: str | None = None) -> tuple[Machine, NvmeController, NvmeDriver]:
    """The machine booted: one controller with a vector per CPU on NUMA node ``node``."""
    m = Machine(topology=topology, trace=trace, cstates=cstates)
    dev = NvmeController(m.ctx, m.memory, io_queues=topology.ncpus)
    m.add_device(dev, node=node)
    drv = NvmeDriver(poll_queues=poll_queues, aggregation=aggregation)
    m.kernel.register_driver(drv)
    m.boot()
    return m, dev, drv


def run_reads(m: Machine, drv: NvmeDriver, requests: int, mean_gap_ns: float, seed: int,
              poll_every: int = POLL_EVERY) -> None:
    """Poisson arrivals of reads, each from a random CPU; every ``poll_every``-th polled."""
    rng = random.Random(seed)
    t = m.now
    n = len(m.cpus)
    for i in range(requests):
        t += max(1, int(rng.expovariate(1.0 / mean_gap_ns)))
        polled = poll_every > 0 and i % poll_every == poll_every - 1
        cpu = rng.randrange(n)
        m.engine.at(t, lambda _, c=cpu, p=polled: drv.issue(c, p))
    m.run()


def _stats(xs: list[int]) -> dict[str, int]:
    if not xs:
        return {"count": 0}
    s = sorted(xs)
    return {"count": len(s), "min": s[0], "median": int(median(s)),
            "p99": s[min(len(s) - 1, (99 * len(s)) // 100)], "max": s[-1]}


def nvme_report(m: Machine, dev: NvmeController, drv: NvmeDriver) -> dict[str, Any]:
    """Per-queue rows (CPU, node, interrupts, completions), aggregation, latency."""
    k = m.kernel
    assert drv.pdev is not None
    dev_node = k.dev_to_node(drv.pdev)
    rows = []
    for qid, q in sorted(drv.queues.items()):
        if qid == 0:
            continue
        desc = k.irqs.get(q.irq) if q.irq else None
        cpu = desc.cpu if desc is not None else -1
        rows.append({"queue": qid, "irq": q.irq or None, "polled": not q.irq,
                     "cpu": cpu, "node": k.cpu_to_node(cpu) if cpu >= 0 else None,
                     "remote": (k.cpu_to_node(cpu) != dev_node) if cpu >= 0 else None,
                     "interrupts": sum(desc.counts) if desc is not None else 0,
                     "completions": q.completed})
    st = dev.stats
    return {"device_node": dev_node,
            "aggregation": {"thr": dev.agg_thr, "time_100us": dev.agg_time,
                            "signals": st.interrupts, "by_cause": dict(st.by_cause),
                            "completions": st.completions},
            "queues": rows,
            "latency_ns": {kind: _stats(v) for kind, v in drv.latencies.items()},
            "cstate_residency_ns": m.cstate_residency()}


@dataclass
class NvmeKnobs:
    """The ``nvme`` scenario's machine and driver settings (defaults: the demo).

    ``aggregation_thr``/``aggregation_time``: Set Features 08h (THR: entries - 1; TIME in
    100 us units; both 0: no aggregation); ``poll_queues``: the driver's poll_queues;
    ``poll_every``: one read in N is polled (0: none); ``node``: the controller's NUMA
    node; ``sockets`` x ``cores`` with ``nodes`` NUMA nodes."""

    HELP: ClassVar[dict[str, str]] = {
        "aggregation_thr": "Set Features 08h THR: entries - 1 (both 0: no aggregation)",
        "aggregation_time": "Set Features 08h TIME, 100 us units",
        "poll_queues": "nvme.poll_queues: polled queue pairs",
        "poll_every": "one read in N is polled (0: none)",
        "sockets": "sockets", "cores": "cores per socket", "nodes": "NUMA nodes",
        "node": "the controller's NUMA node"}

    aggregation_thr: Annotated[int, Field(ge=0, le=255)] = AGGREGATION[0]
    aggregation_time: Annotated[int, Field(ge=0, le=255)] = AGGREGATION[1]
    poll_queues: Annotated[int, Field(ge=0, le=64)] = 1
    poll_every: Annotated[int, Field(ge=0, le=1_000_000)] = POLL_EVERY
    sockets: Annotated[int, Field(ge=1, le=8)] = 2
    cores: Annotated[int, Field(ge=1, le=64)] = 4
    nodes: Annotated[int, Field(ge=1, le=16)] = 2
    node: Annotated[int, Field(ge=0, le=15)] = 0

    def __post_init__(self) -> None:
        t = Topology(sockets=self.sockets, cores=self.cores, nodes=self.nodes)
        if self.node >= self.nodes:
            raise ValueError(f"node {self.node}: the machine has nodes 0-{self.nodes - 1}")
        if self.poll_queues >= t.ncpus:
            raise ValueError(f"poll_queues {self.poll_queues} leaves no interrupt-driven "
                             f"queue of {t.ncpus}")
        if self.poll_every and not self.poll_queues:
            raise ValueError("poll_every needs poll_queues >= 1 (0: no polled reads)")


@register("nvme", "An NVMe controller on node 0 of 2 sockets x 4 cores (2 NUMA nodes): admin "
                  "vector + 8 managed per-CPU completion vectors (pre_vectors=1), aggregation "
                  "THR 3 / TIME 100 us, one polled queue",
          span=lambda o: o.requests * o.mean_gap_ns + 300_000, knobs=NvmeKnobs)
def nvme(opts: ScenarioOptions) -> ScenarioResult:
    k = knobs_of(opts, NvmeKnobs)
    agg = (k.aggregation_thr, k.aggregation_time) if k.aggregation_thr or \
        k.aggregation_time else None
    m, dev, drv = build_nvme(trace=opts.trace, aggregation=agg, node=k.node,
                             topology=Topology(sockets=k.sockets, cores=k.cores,
                                               nodes=k.nodes), poll_queues=k.poll_queues)
    tracer = m.ctx.tracer
    run_reads(m, drv, max(1, opts.requests), opts.mean_gap_ns, opts.seed, k.poll_every)
    tracer.on = False
    rep = nvme_report(m, dev, drv)
    agg = rep["aggregation"]
    notes = [f"topology: {m.topology}; controller on node {rep['device_node']}",
             f"nvme get-feature -f 8: THR {agg['thr']} ({agg['thr'] + 1} entries), TIME "
             f"{agg['time_100us']} ({agg['time_100us'] * 100} us); {agg['completions']} "
             f"completions -> {agg['signals']} vector signals {agg['by_cause']}",
             "queue  irq  cpu node remote  interrupts completions"]
    for r in rep["queues"]:
        notes.append(f"  q{r['queue']:<3} {r['irq'] or 'poll':>4} "
                     f"{r['cpu'] if r['cpu'] >= 0 else '-':>4} "
                     f"{'' if r['node'] is None else r['node']:>4} "
                     f"{ {True: 'yes', False: 'no', None: '-'}[r['remote']]:>6} "
                     f"{r['interrupts']:>11} "
                     f"{r['completions']:>11}")
    for kind, s in rep["latency_ns"].items():
        if s.get("count"):
            notes.append(f"read latency ({kind}-driven): n={s['count']} min {s['min']} ns, "
                         f"median {s['median']} ns, p99 {s['p99']} ns")
    return ScenarioResult(m, "NVMe: managed per-CPU completion vectors with aggregation",
                          dev.name, notes=notes, extra={"nvme": rep})
