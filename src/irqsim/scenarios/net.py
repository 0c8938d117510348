"""Networking scenarios: a 10 GbE multi-queue NIC at line rate with RSS, adaptive
moderation and NAPI on a two-node machine (seed 003 "Interrupt Coalescing", "RSS")."""

from __future__ import annotations

from typing import Any

from irqsim.scenarios import ScenarioOptions, ScenarioResult, register

US_PER_REQUEST = 10     # --requests N runs N x 10 us of traffic (default 200: 2 ms)


def _span(o: ScenarioOptions) -> float:
    return o.requests * US_PER_REQUEST * 1000 + 3_000_000


@register("nic-10g", "10 GbE NIC, 8 queues, RSS over 1024 UDP flows at line rate (64-byte "
                     "frames, 14.88 Mpps), adaptive moderation (Linux DIM), NAPI, two NUMA "
                     "nodes; --requests N = N x 10 us of traffic", span=_span)
def nic_10g(opts: ScenarioOptions) -> ScenarioResult:
    from irqsim.drivers.netnic import NetConfig
    from irqsim.net.moderation import Coalesce
    from irqsim.net.setup import build_net, run_net, summary
    from irqsim.views.netviews import text_blocks
    cfg = NetConfig(queues=8, queue_cpus=list(range(8)), ring_size=1024,
                    rx=Coalesce(adaptive=True))
    r = build_net(cfg, duration_ns=opts.requests * US_PER_REQUEST * 1000, seed=opts.seed,
                  trace=opts.trace)
    run_net(r)
    s = summary(r)
    extra: dict[str, Any] = {"network": s,
                             "ethtool_S": r.nic.counters(),
                             "proc_softirqs": r.machine.kernel.softirq.proc_softirqs(),
                             "softnet_stat": r.machine.kernel.softirq.softnet_stat()}
    return ScenarioResult(r.machine, "nic-10g: 10 GbE, 8 queues, RSS, DIM, NAPI", "eth0",
                          notes=text_blocks(r, s), extra=extra)
