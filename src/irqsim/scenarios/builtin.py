"""The scenarios shipped with irqsim."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from irqsim.scenarios import ScenarioOptions, ScenarioResult, knobs_of, register
from irqsim.scenarios.seed002 import WorkloadSpec, build_seed002, start_workload


@dataclass
class Seed002Knobs:
    """seed002's own knob: the virtio driver's vector policy (seed 002: one per device)."""

    vectors: Literal["per-device", "per-queue"] = "per-device"


@register("seed002", "Seed 002's machine: virtio-rng/blk/net on MSI-X, vectors 33-35, APIC ID 0",
          knobs=Seed002Knobs)
def seed002(opts: ScenarioOptions) -> ScenarioResult:
    m, drv = build_seed002(trace=opts.trace, vectors=knobs_of(opts, Seed002Knobs).vectors)
    m.boot()
    start_workload(m, WorkloadSpec(opts.requests, opts.mean_gap_ns), opts.seed)
    m.run()
    order_errors = sum(q.order_errors for st in drv.devices for q in st.queues)
    return ScenarioResult(m, "Seed 002: virtio devices on MSI-X, one CPU (APIC ID 0)",
                          "virtio-blk", extra={"order_errors": order_errors})
