"""Seed 003's "Performance Summary" experiments (its "Latency Comparison" and "Throughput vs
CPU Usage" tables) as runs of the model: ``irqsim tune`` (docs/tuning.md).

Every row is one configuration of the same machine (one socket of 8 cores: the seed's "8
cores"; the 10 GbE NIC below a root port; queue q's vector and reader on CPU q; the default
:class:`~irqsim.sim.timing.TimingModel`, whose fields cite their sources) driven by one of
two loads; nothing in this module is a per-row figure — the figures are what the runs
measure:

* latency rows: Poisson arrivals of 64-byte frames at ``LATENCY_PPS`` in total over 1024 UDP
  flows, ``LATENCY_NS`` of measured traffic after the warm-up of :func:`warmup_ns`
  (adaptive moderation settles first). Latency is per packet, wire to socket: from
  the frame's last bit on the wire to the instant the driver has handed it to the socket
  (NAPI poll, busy poll) or to the application (poll-mode driver, which works in place).
  ``min`` / ``typical`` / ``max`` are the 1st percentile, the median and the 99th percentile
  (10 ns resolution, net/stats.py), so one outlier does not make the row;
* throughput rows: 64-byte frames at 10 GbE line rate (14.88 Mpps) over 1024 flows,
  ``THROUGHPUT_NS`` of measured traffic on 8 CPUs after the warm-up; throughput counts the
  frames delivered to the readers in the window (wire bits, preamble and gap included, so
  line rate is 10 Gb/s), CPU usage is the busy share of the 8 CPUs over the window (every
  context but idle). Single-queue rows run their reader on CPU 1.

``inside_seed_range``: latency rows — the typical (median) figure lies within the seed's
[min, max]; throughput rows — throughput within the seed's range (its "10 Gbps" read as at
least ``LINE_RATE_SHARE`` of line rate) and CPU usage within the seed's range widened by
``CPU_SLACK`` points (the seed's figures are round); CPU usage is the share of the 8 CPUs,
except for the seed's single-queue rows ("100 % (1 core)"), compared with the busiest CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from irqsim.cpu.topology import Topology
from irqsim.drivers.netnic import NetConfig
from irqsim.net.moderation import Coalesce
from irqsim.net.setup import NetRun, build_net, run_net, summary
from irqsim.net.stats import PacketLatency
from irqsim.net.traffic import WIRE_OVERHEAD

CPUS = 8
TOPOLOGY = Topology(sockets=1, cores=CPUS, threads=1)      # the seed's "8 cores": one socket
LATENCY_PPS = 200_000               # aggregate offered load of the latency rows
LATENCY_NS = 10_000_000             # 10 ms of measured traffic per latency row
THROUGHPUT_NS = 4_000_000           # 4 ms of measured line rate per throughput row
ADAPTIVE_WARMUP_NS = 80_000_000     # DIM settling time before a latency row's measurement
ADAPTIVE_WARMUP_LINE_NS = 20_000_000  # ... and before a line-rate row's
PIPELINE_WARMUP_NS = 1_000_000      # line-rate rows with fixed settings: fill the pipeline
LINE_RATE_SHARE = 0.95              # the seed's "10 Gbps" = at least 95 % of line rate
CPU_SLACK = 1.0                     # percentage points around the seed's CPU figures
ALL = list(range(CPUS))


def _no_coalescing() -> Coalesce:
    """ETHC "no coalescing": rx-usecs 0 rx-frames 1 (the seed's 'rx-usecs 1 rx-frames 1'
    still delays by up to 1 us: reference 3.1)."""
    return Coalesce(usecs=0, frames=1)


def _aggressive() -> Coalesce:
    """Seed 003 "Throughput-Optimized": ethtool -C rx-usecs 100 rx-frames 128 adaptive-rx off
    (ABSOLUTE timer: from the first completion after the last interrupt)."""
    return Coalesce(usecs=100, frames=128)


def _coalescing() -> Coalesce:
    """Seed 003 "Performance Example": coalescing 50 us OR 64 packets."""
    return Coalesce(usecs=50, frames=64)


def _adaptive() -> Coalesce:
    """Seed 003 "Balanced": adaptive-rx on (Linux DIM, reference section 4)."""
    return Coalesce(adaptive=True)


@dataclass(frozen=True)
class Experiment:
    """One row: the seed's row name, the ethtool/sysctl-like set-up, the configuration and
    the seed's figures (latency: us min/typical/max; throughput: Gb/s and % of 8 CPUs, as
    [low, high])."""

    config: str
    table: str                          # "latency" or "throughput"
    setup: str
    make: Callable[[], NetConfig]
    seed_latency_us: tuple[float, float, float] | None = None
    seed_gbps: tuple[float, float] | None = None
    seed_cpu_pct: tuple[float, float] | None = None
    seed_cpu_scope: str = "all"         # "all": % of the 8 CPUs; "core": the busiest CPU's %
    seed_note: str = ""


def _cfg(queues: int = 8, **kw: Any) -> Callable[[], NetConfig]:
    cpus = ALL[:queues]

    def make() -> NetConfig:
        return NetConfig(queues=queues, queue_cpus=list(cpus), **kw)
    return make


EXPERIMENTS: tuple[Experiment, ...] = (
    # Seed 003 "Performance Comparison Table" / "Latency Comparison".
    Experiment("MSI-X + no coalescing", "latency",
               "8 queues, MSI-X, ethtool -C rx-usecs 0 rx-frames 1 adaptive-rx off",
               _cfg(rx=_no_coalescing()), seed_latency_us=(0.5, 1, 3)),
    Experiment("MSI-X + adaptive", "latency", "8 queues, MSI-X, ethtool -C adaptive-rx on (DIM)",
               _cfg(rx=_adaptive()), seed_latency_us=(1, 10, 100)),
    Experiment("MSI-X + aggressive", "latency",
               "8 queues, MSI-X, ethtool -C rx-usecs 100 rx-frames 128 adaptive-rx off",
               _cfg(rx=_aggressive()), seed_latency_us=(10, 50, 200)),
    Experiment("MSI + no coalescing", "latency",
               "1 queue, MSI, ethtool -C rx-usecs 0 rx-frames 1 adaptive-rx off",
               _cfg(1, rx=_no_coalescing(), irq_mode="msi"), seed_latency_us=(1, 2, 5)),
    Experiment("INTx", "latency", "1 queue, INTx (I/O APIC), rx-usecs 0 rx-frames 1",
               _cfg(1, rx=_no_coalescing(), irq_mode="intx"), seed_latency_us=(5, 7, 20)),
    Experiment("Busy polling", "latency",
               "8 queues, MSI-X, net.core.busy_read=50, rx-usecs 0 rx-frames 1",
               _cfg(rx=_no_coalescing(), busy_read_us=50), seed_latency_us=(0.3, 5, 10)),
    Experiment("DPDK", "latency", "8 queues polled by a poll-mode driver on dedicated cores",
               _cfg(pmd=True), seed_latency_us=(0.2, 1, 2)),
    # Seed 003 "Throughput vs CPU Usage" (10 GbE, 8 cores).
    Experiment("INTx", "throughput",
               "1 queue, INTx, rx-usecs 0 rx-frames 1; IRQ on CPU 0, reader on CPU 1",
               _cfg(1, rx=_no_coalescing(), irq_mode="intx", app_cpus=[1]), seed_gbps=(1, 2),
               seed_cpu_pct=(100, 100), seed_cpu_scope="core",
               seed_note="100 % (the one core an INTx line reaches)"),
    Experiment("MSI (single queue)", "throughput",
               "1 queue, MSI, rx-usecs 0 rx-frames 1; IRQ on CPU 0, reader on CPU 1",
               _cfg(1, rx=_no_coalescing(), irq_mode="msi", app_cpus=[1]), seed_gbps=(3, 5),
               seed_cpu_pct=(100, 100), seed_cpu_scope="core", seed_note="100 % (1 core)"),
    Experiment("MSI-X (8 queues) + coalescing", "throughput",
               "8 queues, MSI-X, ethtool -C rx-usecs 50 rx-frames 64 adaptive-rx off",
               _cfg(rx=_coalescing()), seed_gbps=(10, 10), seed_cpu_pct=(30, 50)),
    Experiment("MSI-X (8 queues) + no coalescing", "throughput",
               "8 queues, MSI-X, ethtool -C rx-usecs 0 rx-frames 1 adaptive-rx off",
               _cfg(rx=_no_coalescing()), seed_gbps=(10, 10), seed_cpu_pct=(60, 80)),
    Experiment("NAPI (polling)", "throughput",
               "8 queues, MSI-X, NAPI with the driver default adaptive-rx on (DIM)",
               _cfg(rx=_adaptive()), seed_gbps=(10, 10), seed_cpu_pct=(40, 60)),
    Experiment("Busy polling", "throughput",
               "8 queues, MSI-X, net.core.busy_read=50, rx-usecs 0 rx-frames 1",
               _cfg(rx=_no_coalescing(), busy_read_us=50), seed_gbps=(10, 10),
               seed_cpu_pct=(100, 100)),
    Experiment("DPDK", "throughput", "8 queues polled by a poll-mode driver on 8 cores",
               _cfg(pmd=True), seed_gbps=(10, 10), seed_cpu_pct=(100, 100),
               seed_note="100 % (dedicated)"),
)


def warmup_ns(cfg: NetConfig, table: str) -> int:
    """Traffic before the measurement starts: adaptive moderation must settle first (DIM
    decides every 64 interrupts: at 25 kpps per queue its profile climbs for ~60 ms);
    fixed settings have no state to settle, but a line-rate window starts with packets in
    flight (rings, sockets) as it ends with them, so its rate counts neither end twice."""
    if table == "latency":
        return ADAPTIVE_WARMUP_NS if cfg.rx.adaptive else 0
    return ADAPTIVE_WARMUP_LINE_NS if cfg.rx.adaptive else PIPELINE_WARMUP_NS


def _us(ns: int) -> float:
    return round(ns / 1000, 2)


def _snapshot(r: NetRun) -> dict[str, Any]:
    """Delivered frames and bytes and CPU time per context, now."""
    socks = r.driver.sockets()
    return {"delivered": sum(s.delivered for s in socks),
            "bytes": sum(s.delivered_bytes for s in socks),
            "cpu": r.machine.cpu_time(), "missed": r.nic.counters()["rx_missed"],
            "interrupts": r.nic.counters()["interrupts"]}


def run_experiment(e: Experiment, seed: int = 1, duration_ns: int | None = None
                   ) -> dict[str, Any]:
    """Run one row's configuration under its load (``duration_ns`` of measured traffic,
    default LATENCY_NS or THROUGHPUT_NS, after a warm-up of ``warmup_ns(cfg)``); the row as
    ``irqsim tune`` prints it."""
    cfg = e.make()
    lat_row = e.table == "latency"
    span = duration_ns or (LATENCY_NS if lat_row else THROUGHPUT_NS)
    warm = warmup_ns(cfg, e.table)
    if lat_row:
        r = build_net(cfg, pattern="poisson", pps=LATENCY_PPS, duration_ns=warm + span,
                      seed=seed, topology=TOPOLOGY)
    else:
        r = build_net(cfg, pattern="line", duration_ns=warm + span, seed=seed,
                      topology=TOPOLOGY)
    t0 = r.stop_ns - span
    marks: dict[str, dict[str, Any]] = {}

    def start(_: object) -> None:
        r.driver.stack_latency = PacketLatency()        # measure from here on
        r.driver.app_latency = PacketLatency()
        marks["a"] = _snapshot(r)

    r.machine.engine.at(t0, start)
    r.machine.engine.at(r.stop_ns, lambda _: marks.__setitem__("b", _snapshot(r)))
    run_net(r)
    s = summary(r)
    a, b = marks["a"], marks["b"]
    row: dict[str, Any] = {"config": e.config, "table": e.table, "setup": e.setup,
                           "measured_ns": span, "warmup_ns": warm}
    if lat_row:
        lat = r.driver.app_latency if cfg.pmd else r.driver.stack_latency
        lo, typ, hi = (_us(lat.percentile(p)) for p in (1, 50, 99))
        assert e.seed_latency_us is not None
        smin, styp, smax = e.seed_latency_us
        row["latency_us"] = {"min": lo, "typical": typ, "max": hi}
        row["seed"] = {"latency_us": {"min": smin, "typical": styp, "max": smax}}
        row["inside_seed_range"] = bool(smin <= typ <= smax)
        row["packets"] = lat.count
    else:
        n = b["delivered"] - a["delivered"]
        gbps = round((b["bytes"] - a["bytes"] + WIRE_OVERHEAD * n) * 8 / span, 3)
        times = [sum(y.values()) - y["idle"] - (sum(x.values()) - x["idle"])
                 for x, y in zip(a["cpu"], b["cpu"], strict=True)]
        cpu = round(100 * sum(times) / (span * len(times)), 1)
        busiest = round(100 * max(times) / span, 1)
        assert e.seed_gbps is not None and e.seed_cpu_pct is not None
        glo, ghi = e.seed_gbps
        clo, chi = e.seed_cpu_pct
        if ghi == 10:
            glo = min(glo, 10 * LINE_RATE_SHARE)
        row["throughput_gbps"] = gbps
        row["cpu_pct"] = cpu
        row["cores_busy"] = round(sum(times) / span, 2)
        row["busiest_cpu_pct"] = busiest
        row["seed"] = {"throughput_gbps": list(e.seed_gbps), "cpu_pct": list(e.seed_cpu_pct),
                       "cpu_scope": "busiest CPU" if e.seed_cpu_scope == "core"
                       else f"{CPUS} CPUs"}
        if e.seed_note:
            row["seed"]["note"] = e.seed_note
        mine = busiest if e.seed_cpu_scope == "core" else cpu
        row["inside_seed_range"] = bool(glo <= gbps <= ghi + 0.05
                                        and clo - CPU_SLACK <= mine <= chi + CPU_SLACK)
        row["missed"] = b["missed"] - a["missed"]
    row["interrupts_per_s"] = round((b["interrupts"] - a["interrupts"]) * 1e9 / span)
    if cfg.rx.adaptive:
        row["dim_profiles"] = [q["dim_profile"] for q in s["queues"]]
    row["accounting_balanced"] = bool(r.machine.accounting()["balanced"])
    diags: dict[str, int] = {}
    for (_, rid), n in r.machine.ctx.diagnostic_counts().items():
        diags[rid] = diags.get(rid, 0) + n
    row["diagnostics"] = diags
    return row


def tune(seed: int = 1, only: str | None = None) -> list[dict[str, Any]]:
    """Every row (or those of table ``only``: "latency" / "throughput")."""
    return [run_experiment(e, seed) for e in EXPERIMENTS if only in (None, e.table)]


def _range(lo: float, hi: float) -> str:
    return f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"


def text(rows: list[dict[str, Any]]) -> str:
    """The two tables as text, irqsim's figures beside the seed's."""
    out = [f"Latency comparison (wire to socket, us: min = p1, typical = median, max = p99; "
           f"Poisson {LATENCY_PPS // 1000} kpps of 64-byte frames, "
           f"{LATENCY_NS // 1_000_000} ms measured, after {ADAPTIVE_WARMUP_NS // 1_000_000} ms "
           f"of warm-up with adaptive moderation)",
           f"{'configuration':34s} {'min':>7s} {'typical':>8s} {'max':>8s}   "
           f"{'seed min/typ/max':>17s}  inside"]
    for r in rows:
        if r["table"] != "latency":
            continue
        lat, sd = r["latency_us"], r["seed"]["latency_us"]
        seed = f"{sd['min']:g}/{sd['typical']:g}/{sd['max']:g}"
        out.append(f"{r['config']:34s} {lat['min']:7.2f} {lat['typical']:8.2f} "
                   f"{lat['max']:8.2f}   {seed:>17s}  {'yes' if r['inside_seed_range'] else 'no'}")
    out += ["", f"Throughput vs CPU usage (10 GbE line rate, 64-byte frames, {CPUS} CPUs, "
                f"{THROUGHPUT_NS // 1_000_000} ms measured after {PIPELINE_WARMUP_NS // 1_000_000} "
                f"ms, {ADAPTIVE_WARMUP_LINE_NS // 1_000_000} ms with adaptive moderation)",
            f"{'configuration':34s} {'Gb/s':>6s} {'CPU %':>6s} {'cores':>6s} {'max %':>6s} "
            f"{'irq/s':>9s}   {'seed Gb/s':>9s} {'seed CPU %':>14s}  inside"]
    for r in rows:
        if r["table"] != "throughput":
            continue
        sd = r["seed"]
        scpu = _range(*sd["cpu_pct"]) + (" (1 CPU)" if sd["cpu_scope"] == "busiest CPU"
                                          else "")
        out.append(f"{r['config']:34s} {r['throughput_gbps']:6.2f} {r['cpu_pct']:6.1f} "
                   f"{r['cores_busy']:6.2f} {r['busiest_cpu_pct']:6.1f} "
                   f"{r['interrupts_per_s']:9d}   {_range(*sd['throughput_gbps']):>9s} "
                   f"{scpu:>14s}  {'yes' if r['inside_seed_range'] else 'no'}")
    out += ["", "CPU % is the busy share of the 8 CPUs, max % the busiest CPU's (what the "
                "seed's single-queue '100 % (1 core)' is compared with).",
            "Seed figures: seed 003 'Performance Comparison Table'; where irqsim falls "
            "outside them, docs/tuning.md says why."]
    return "\n".join(out)
