"""Networking scenarios: a 10 GbE multi-queue NIC at line rate with RSS, adaptive
moderation and NAPI on a two-socket machine (seed 003 "Interrupt Coalescing", "RSS")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field

from irqsim.machine import Machine
from irqsim.os.affinity import AFTER_BOOT
from irqsim.os.softirq import NETDEV_BUDGET, NETDEV_BUDGET_USECS
from irqsim.scenarios import ScenarioOptions, ScenarioResult, knobs_of, register

if TYPE_CHECKING:
    from irqsim.devices.netnic import NetNic
    from irqsim.drivers.netnic import NetConfig

US_PER_REQUEST = 10     # --requests N runs N x 10 us of traffic (default 200: 2 ms)


@dataclass
class NicSettings:
    """A multi-queue NIC's ``ethtool``/sysctl settings (defaults: nic-10g's).

    ``rx_usecs``/``rx_frames``: ``ethtool -C rx-usecs/rx-frames`` (used when ``adaptive``
    is off; ``rx_frames = 0``: no frame condition, and with ``rx_usecs = 0`` that is "no
    coalescing", ethtool's rx-usecs 0 rx-frames 1); ``napi_weight``, ``defer_hard_irqs``,
    ``gro_flush_timeout_ns``: the netdev's NAPI settings; ``busy_read_us``/
    ``busy_poll_budget``: net.core.busy_read and SO_BUSY_POLL_BUDGET; ``rss_equal`` (0: all
    queues) / ``rss_weights``: ``ethtool -X equal N`` / ``weight ...``; ``rss_key``:
    ``ethtool -X hkey`` (hex, 40 bytes; "": the default key)."""

    HELP: ClassVar[dict[str, str]] = {
        "queues": "RX/TX queue pairs, one MSI-X vector each",
        "ring_size": "descriptors per RX ring (ethtool -G rx)",
        "adaptive": "ethtool -C adaptive-rx: the driver's DIM/ITR sets usecs/frames",
        "adaptive_algo": "dim (Linux DIM) or itr (igb's legacy ITR)",
        "dim_mode": "DIM profiles: eqe (timer restarts at the interrupt) or cqe",
        "rx_usecs": "ethtool -C rx-usecs (adaptive off)",
        "rx_frames": "ethtool -C rx-frames (0: none; with rx_usecs 0: no coalescing)",
        "tx_usecs": "ethtool -C tx-usecs",
        "tx_frames": "ethtool -C tx-frames",
        "napi_weight": "NAPI budget per poll (netif_napi_add weight)",
        "defer_hard_irqs": "napi_defer_hard_irqs",
        "gro_flush_timeout_ns": "gro_flush_timeout",
        "busy_read_us": "net.core.busy_read (0: no busy polling)",
        "busy_poll_budget": "SO_BUSY_POLL_BUDGET",
        "rss_equal": "ethtool -X equal N (0: all queues)",
        "rss_weights": "ethtool -X weight W0 W1 ... ([]: equal)",
        "rss_key": "ethtool -X hkey, 40 bytes hex (\"\": the default key)",
        "busy_poll_us": "SO_BUSY_POLL per queue's socket ([]: busy_read_us for all)",
        "app_cpus": "the readers' CPUs ([]: each queue's CPU)",
        "echo": "each reader answers every packet (the TX path)",
        "pmd": "poll-mode driver: PMD threads on app_cpus, no interrupts",
        "netdev_budget": "net.core.netdev_budget: packets per NET_RX softirq run",
        "netdev_budget_usecs": "net.core.netdev_budget_usecs: time per NET_RX run",
        "irq_mode": "msix; msi or intx: one queue on the NIC's MSI or INTx (ICR causes)",
        "threaded": "threaded NAPI (/sys/class/net/IF/threaded): polls in kthreads",
        "tx_adaptive": "ethtool -C adaptive-tx: a DIM per TX queue sets tx usecs/frames",
        "tx_ring_size": "descriptors per TX ring (ethtool -G tx; at least 64)",
        "txqueuelen": "the TX queue's qdisc limit in packets (ip link set txqueuelen)",
        "tx_pps": "a sender thread per queue at this rate (0: none)",
        "tx_size": "the senders' frame size in bytes",
        "tx_batch": "packets per sendmmsg-like call of a sender",
    }

    queues: Annotated[int, Field(ge=1, le=64)] = 8
    ring_size: Annotated[int, Field(ge=64, le=8192)] = 1024
    adaptive: bool = True
    adaptive_algo: Literal["dim", "itr"] = "dim"
    dim_mode: Literal["eqe", "cqe"] = "eqe"
    rx_usecs: Annotated[int, Field(ge=0, le=10_000)] = 0
    rx_frames: Annotated[int, Field(ge=0, le=8192)] = 1
    tx_usecs: Annotated[int, Field(ge=0, le=10_000)] = 64
    tx_frames: Annotated[int, Field(ge=0, le=8192)] = 128
    napi_weight: Annotated[int, Field(ge=1, le=1024)] = 64
    defer_hard_irqs: Annotated[int, Field(ge=0, le=1000)] = 0
    gro_flush_timeout_ns: Annotated[int, Field(ge=0, le=100_000_000)] = 0
    busy_read_us: Annotated[int, Field(ge=0, le=10_000)] = 0
    busy_poll_budget: Annotated[int, Field(ge=1, le=1024)] = 8
    rss_equal: Annotated[int, Field(ge=0, le=64)] = 0
    rss_weights: list[Annotated[int, Field(ge=0)]] = field(default_factory=list)
    rss_key: str = ""
    busy_poll_us: list[Annotated[int, Field(ge=0, le=10_000)]] = field(default_factory=list)
    app_cpus: list[Annotated[int, Field(ge=0)]] = field(default_factory=list)
    echo: bool = False
    pmd: bool = False
    netdev_budget: Annotated[int, Field(ge=1, le=100_000)] = NETDEV_BUDGET
    netdev_budget_usecs: Annotated[int, Field(ge=1, le=10**7)] = NETDEV_BUDGET_USECS
    irq_mode: Literal["msix", "msi", "intx"] = "msix"
    threaded: bool = False
    tx_adaptive: bool = False
    tx_ring_size: Annotated[int, Field(ge=64, le=8192)] = 1024
    txqueuelen: Annotated[int, Field(ge=0, le=1_000_000)] = 1000
    tx_pps: Annotated[float, Field(ge=0, le=1e9)] = 0
    tx_size: Annotated[int, Field(ge=64, le=9216)] = 64
    tx_batch: Annotated[int, Field(ge=1, le=1024)] = 32

    def __post_init__(self) -> None:
        from irqsim.net.rss import parse_key
        if self.busy_poll_us and len(self.busy_poll_us) != self.queues:
            raise ValueError(f"busy_poll_us: one value per queue ({self.queues}), got "
                             f"{len(self.busy_poll_us)}")
        if self.rss_equal > self.queues:
            raise ValueError(f"rss_equal {self.rss_equal} exceeds queues {self.queues}")
        if self.rss_weights and (len(self.rss_weights) > self.queues
                                 or not sum(self.rss_weights)):
            raise ValueError(f"rss_weights: one weight per queue (at most {self.queues}), "
                             "not all zero")
        if self.rss_key:
            parse_key(self.rss_key)
        if self.irq_mode != "msix" and self.queues != 1:
            raise ValueError(f"irq_mode {self.irq_mode!r} has one vector: queues must be 1, "
                             f"got {self.queues}")
        if self.tx_usecs == 0 and self.tx_frames == 0:
            raise ValueError("tx_usecs 0 and tx_frames 0: nothing would ever fire")

    def net_config(self, ncpus: int) -> NetConfig:
        """The driver's configuration: queue q's vector on CPU q mod ``ncpus``."""
        from irqsim.drivers.netnic import NetConfig
        from irqsim.net.moderation import Coalesce
        frames = 1 if self.rx_usecs == 0 and self.rx_frames == 0 else self.rx_frames
        return NetConfig(
            queues=self.queues, queue_cpus=[q % ncpus for q in range(self.queues)],
            ring_size=self.ring_size,
            rx=Coalesce(usecs=self.rx_usecs, frames=frames, adaptive=self.adaptive),
            tx=Coalesce(usecs=self.tx_usecs, frames=self.tx_frames, adaptive=self.tx_adaptive),
            dim_mode=self.dim_mode, adaptive_algo=self.adaptive_algo, weight=self.napi_weight,
            napi_defer_hard_irqs=self.defer_hard_irqs,
            gro_flush_timeout_ns=self.gro_flush_timeout_ns,
            busy_read_us=self.busy_read_us, busy_poll_budget=self.busy_poll_budget,
            busy_poll_us=list(self.busy_poll_us) or None,
            app_cpus=list(self.app_cpus) or None, echo=self.echo, pmd=self.pmd,
            irq_mode=self.irq_mode, threaded=self.threaded, tx_ring_size=self.tx_ring_size,
            txqueuelen=self.txqueuelen, tx_pps=self.tx_pps, tx_size=self.tx_size,
            tx_batch=self.tx_batch)

    def apply(self, m: Machine, nic: NetNic) -> None:
        """After boot: the sysctls (net.core.netdev_budget[_usecs]) and ``ethtool -X``."""
        m.kernel.softirq.netdev_budget = self.netdev_budget
        m.kernel.softirq.netdev_budget_usecs = self.netdev_budget_usecs
        self.apply_rss(nic)

    def apply_rss(self, nic: NetNic) -> None:
        """``ethtool -X`` as set (nothing when the defaults are kept)."""
        from irqsim.net.rss import parse_key
        if self.rss_equal or self.rss_weights or self.rss_key:
            nic.set_rxfh(equal=self.rss_equal or None, weights=self.rss_weights or None,
                         key=parse_key(self.rss_key) if self.rss_key else None)


@dataclass
class TrafficSettings:
    """Traffic into the NIC: ``flows`` UDP flows of ``frame_size``-byte frames, arrivals
    ``pattern`` (line: back to back at the link speed; poisson / bursty at ``pps``, bursts
    of ``burst``), on a ``link_gbps`` link."""

    HELP: ClassVar[dict[str, str]] = {
        "flows": "UDP flows (RSS spreads them over the queues)",
        "frame_size": "bytes on the wire, 64-9216",
        "pattern": "arrivals: line (back to back), poisson or bursty",
        "pps": "packets/s of poisson and bursty (0 with line)",
        "burst": "frames per burst (bursty)",
        "link_gbps": "link speed, Gb/s",
    }

    flows: Annotated[int, Field(ge=1, le=1_000_000)] = 1024
    frame_size: Annotated[int, Field(ge=64, le=9216)] = 64
    pattern: Literal["line", "poisson", "bursty"] = "line"
    pps: Annotated[float, Field(ge=0, le=200e6)] = 0.0
    burst: Annotated[int, Field(ge=1, le=4096)] = 32
    link_gbps: Annotated[float, Field(gt=0, le=800)] = 10.0

    def __post_init__(self) -> None:
        if self.pattern == "line" and self.pps:
            raise ValueError("pps applies to the poisson and bursty patterns (line: the "
                             "link's rate)")
        if self.pattern != "line" and not self.pps:
            raise ValueError(f"pattern {self.pattern!r} needs pps > 0")


@dataclass
class Nic10gKnobs(NicSettings, TrafficSettings):
    """``nic-10g``'s NIC settings, traffic and machine (``sockets`` x ``cores``, ``nodes``
    NUMA nodes; the NIC on node 0); defaults: the demo."""

    HELP: ClassVar[dict[str, str]] = {
        **TrafficSettings.HELP, **NicSettings.HELP,
        "sockets": "sockets", "cores": "cores per socket",
        "nodes": "NUMA nodes (2: one per socket; the NIC on node 0)"}

    sockets: Annotated[int, Field(ge=1, le=8)] = 2
    cores: Annotated[int, Field(ge=1, le=64)] = 4
    nodes: Annotated[int, Field(ge=1, le=16)] = 1

    def __post_init__(self) -> None:
        from irqsim.cpu.topology import Topology
        NicSettings.__post_init__(self)
        TrafficSettings.__post_init__(self)
        t = Topology(self.sockets, self.cores, 1, nodes=self.nodes)
        if any(c >= t.ncpus for c in self.app_cpus):
            raise ValueError(f"app_cpus: CPUs of 0-{t.ncpus - 1}, got {self.app_cpus}")


def _moderation(k: Nic10gKnobs) -> str:
    if not k.adaptive:
        return f"rx-usecs {k.rx_usecs} rx-frames {k.rx_frames}"
    return "DIM" if k.adaptive_algo == "dim" else "adaptive ITR"


def _span(o: ScenarioOptions) -> float:
    return o.requests * US_PER_REQUEST * 1000 + 3_000_000


@register("nic-10g", "10 GbE NIC, 8 queues, RSS over 1024 UDP flows at line rate (64-byte "
                     "frames, 14.88 Mpps), adaptive moderation (Linux DIM), NAPI, two "
                     "sockets; --requests N = N x 10 us of traffic", span=_span,
          knobs=Nic10gKnobs)
def nic_10g(opts: ScenarioOptions) -> ScenarioResult:
    from irqsim.cpu.topology import Topology
    from irqsim.devices.netnic import NetNic
    from irqsim.net.setup import build_net, run_net, summary
    from irqsim.net.traffic import make_flows
    from irqsim.views.netviews import text_blocks
    k = knobs_of(opts, Nic10gKnobs)
    topo = Topology(k.sockets, k.cores, 1, nodes=k.nodes)
    flows = make_flows(k.flows, size=k.frame_size, seed=opts.seed)

    def rxfh(m: Machine) -> None:       # sysctls, ethtool -X: after boot, before traffic
        for nic in m.devices:
            if isinstance(nic, NetNic):
                k.apply(m, nic)
    token = AFTER_BOOT.set((*AFTER_BOOT.get(), rxfh))
    try:
        r = build_net(k.net_config(topo.ncpus), flows=flows, pattern=k.pattern,
                      pps=k.pps or None, gbps=k.link_gbps, burst=k.burst,
                      duration_ns=opts.requests * US_PER_REQUEST * 1000, seed=opts.seed,
                      trace=opts.trace, topology=topo)
    finally:
        AFTER_BOOT.reset(token)
    run_net(r)
    s = summary(r)
    extra: dict[str, Any] = {"network": s,
                             "ethtool_S": r.nic.counters(),
                             "proc_softirqs": r.machine.kernel.softirq.proc_softirqs(),
                             "softnet_stat": r.machine.kernel.softirq.softnet_stat()}
    return ScenarioResult(r.machine, f"nic-10g: {k.link_gbps:g} GbE, {k.queues} queues, RSS, "
                          f"{_moderation(k)}, NAPI", "eth0",
                          notes=text_blocks(r, s), extra=extra)
