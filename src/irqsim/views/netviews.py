"""Text views of a network run: per-queue rates, ethtool -c/-S, /proc/softirqs,
softnet_stat, throughput and latency."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from irqsim.net.setup import NetRun


def text_blocks(r: NetRun, s: dict[str, Any]) -> list[str]:
    out = []
    out.append(f"\ntraffic: offered {s['offered_mpps']} Mpps, delivered to the application "
               f"{s['throughput_mpps']} Mpps = {s['throughput_gbps']} Gb/s on the wire; "
               f"missed {s['missed']}; {s['interrupts_per_s']} interrupts/s; CPU busy "
               f"{s['cpu_busy_pct']} % ({s['cpu_cores_busy']} cores)")
    lat = [("wire to socket", s["latency_stack_ns"]), ("wire to application",
                                                       s["latency_app_ns"])]
    out.append("packet latency (ns)      count        min     median        p99        max")
    for name, v in lat:
        out.append(f"  {name:<20s} {v['count']:>9d} {v['min']:>10d} {v['median']:>10d} "
                   f"{v['p99']:>10d} {v['max']:>10d}")
    out.append("\nper-queue interrupts (queue, CPU, IRQ, interrupts/s, packets/interrupt, "
               "polls, DIM profile)")
    for q in s["queues"]:
        out.append(f"  rx-{q['queue']}  CPU{q['cpu']}  irq {q['irq']:>3d}  "
                   f"{q['irq_per_s']:>8d}/s  {q['pkts_per_irq']:>7.1f} pkt/irq  "
                   f"{q['polls']:>7d} polls  profile {q['dim_profile']}")
    out.append("\n$ ethtool -c " + r.nic.name)
    out.append(r.driver.ethtool_c())
    out.append("\n$ ethtool -x " + r.nic.name)
    out.append(r.nic.rss.show())
    out.append("\n$ ethtool -S " + r.nic.name)
    out.extend(f"     {k}: {v}" for k, v in r.nic.counters().items())
    out.append("\n$ cat /proc/softirqs")
    out.append(r.machine.kernel.softirq.proc_softirqs())
    out.append("\n$ cat /proc/net/softnet_stat")
    out.extend(r.machine.kernel.softirq.softnet_stat())
    return out
