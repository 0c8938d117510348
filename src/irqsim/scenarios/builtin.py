"""The scenarios shipped with irqsim."""

from __future__ import annotations

from irqsim.scenarios import ScenarioOptions, ScenarioResult, register
from irqsim.scenarios.seed002 import WorkloadSpec, build_seed002, start_workload


@register("seed002", "Seed 002's machine: virtio-rng/blk/net on MSI-X, vectors 33-35, APIC ID 0")
def seed002(opts: ScenarioOptions) -> ScenarioResult:
    m, drv = build_seed002(trace=opts.trace)
    m.boot()
    start_workload(m, WorkloadSpec(opts.requests, opts.mean_gap_ns), opts.seed)
    m.run()
    order_errors = sum(q.order_errors for st in drv.devices for q in st.queues)
    return ScenarioResult(m, "Seed 002: virtio devices on MSI-X, one CPU (APIC ID 0)",
                          "virtio-blk", extra={"order_errors": order_errors})
