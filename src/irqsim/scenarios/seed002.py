"""Seed 002's machine: one CPU (APIC ID 0), virtio-rng, virtio-blk and virtio-net on MSI-X.

The small kernel of seed 002 keeps vector 32 for its own timer, so device
vectors start at 33: virtio-rng gets 33, virtio-blk 34, virtio-net 35 (RX and TX
queues share it through MSI-X entries 0 and 1). Config vectors are NO_VECTOR.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import partial

from irqsim.cpu.cpu import Cpu
from irqsim.devices.virtio import VirtioBlk, VirtioNet, VirtioPciDevice, VirtioRng
from irqsim.drivers.virtio import VirtioPciDriver
from irqsim.machine import CpuOptions, Machine
from irqsim.scenarios.workload import PoissonSource
from irqsim.sim.timing import TimingModel
from irqsim.sim.trace import TraceOption

SEED002_FIRST_VECTOR = 33


@dataclass
class WorkloadSpec:
    """Requests per device queue and mean gap between them."""

    requests: int = 200
    mean_gap_ns: float = 20_000.0


def build_seed002(trace: TraceOption = False, timing: TimingModel | None = None,
                  vectors: str = "per-device", ncpus: int = 1,
                  cpu_class: type[Cpu] = Cpu,
                  cpus: list[CpuOptions] | None = None) -> tuple[Machine, VirtioPciDriver]:
    """The machine of seed 002, not yet booted (``cpu_class``: e.g. the guest front-end's
    CPUs, which run real code instead of irqsim's OS; ``cpus``: each CPU's APIC ID and
    features, replacing ``ncpus``)."""
    if cpus is None:
        cpus = [CpuOptions(i) for i in range(ncpus)]
    m = Machine(cpus=cpus, trace=trace, timing=timing,
                first_vector=SEED002_FIRST_VECTOR, cpu_class=cpu_class)
    for cls in (VirtioRng, VirtioBlk, VirtioNet):
        m.add_device(cls(m.ctx))
    drv = VirtioPciDriver(vectors=vectors)
    m.kernel.register_driver(drv)
    return m, drv


def start_workload(m: Machine, spec: WorkloadSpec, seed: int = 1) -> list[PoissonSource]:
    """Independent request streams on every queue of every virtio device."""
    rng = random.Random(seed)
    sources = []
    for dev in m.devices:
        if not isinstance(dev, VirtioPciDevice):
            continue
        for qi in range(len(dev.queues)):
            sources.append(PoissonSource(m.engine, partial(dev.complete, qi),
                                         spec.requests, spec.mean_gap_ns, rng))
    return sources


def run_seed002(spec: WorkloadSpec | None = None, seed: int = 1, trace: TraceOption = True,
                timing: TimingModel | None = None) -> tuple[Machine, VirtioPciDriver]:
    """Build, boot and run the seed 002 machine to completion."""
    m, drv = build_seed002(trace=trace, timing=timing)
    m.boot()
    start_workload(m, spec or WorkloadSpec(), seed)
    m.run()
    return m, drv
