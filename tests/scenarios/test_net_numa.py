"""NUMA placement of the NIC's queues (shared/reference/nic-moderation.md section 9 and
section 11 item 30; seed 003 "NUMA-Aware Placement": local 70 ns vs remote 140 ns)."""

from __future__ import annotations

import pytest

pytest.importorskip("numpy")

from irqsim.drivers.netnic import NetConfig
from irqsim.net.moderation import Coalesce
from irqsim.net.setup import build_net, run_net, summary
from irqsim.sim.timing import TimingModel


def test_queue_on_the_other_node_pays_the_remote_costs_on_every_packet() -> None:
    """Item 30: the NIC sits on node 0 (its rings allocated there); its queue vector bound to
    CPU 5 (node 1) instead of CPU 1 (node 0) pays, per packet, the remote line transfer
    (cacheline_remote_node - cacheline_same_node), plus the interrupt message's remote hop
    and the head write-back read from remote RAM (SLIT 21/10); the local CPU pays none."""
    med, irq_node = {}, {}
    for cpu in (1, 5):
        cfg = NetConfig(queues=1, queue_cpus=[cpu], rx=Coalesce(usecs=0, frames=1))
        r = build_net(cfg, pattern="poisson", pps=50_000, duration_ns=2_000_000)
        run_net(r)
        s = summary(r)
        assert s["delivered"] == s["generated"] > 50
        med[cpu] = s["latency_stack_ns"]["median"]
        k = r.machine.kernel
        irq_node[cpu] = k.cpu_to_node(cpu)
        assert k.dev_to_node(next(p for p in k.devices if p.device == 0x10FB)) == 0
        assert r.driver.remote_pkt_ns[cpu] == (0 if cpu == 1 else 70)
    t = TimingModel()
    hwb_extra = t.memory_read * t.numa_slit_remote // t.numa_slit_local - t.memory_read
    want = (t.cacheline_remote_node - t.cacheline_same_node) + t.msi_hop_remote_node + hwb_extra
    assert irq_node == {1: 0, 5: 1}
    assert med[5] - med[1] == pytest.approx(want, abs=20)


def test_reader_pays_a_line_transfer_per_packet_by_where_it_runs() -> None:
    """Issue 11 "costs that depend on where the handler, the data and the application run":
    a reader on another core of the poll's node pays cacheline_same_node per packet, one on
    the other node cacheline_remote_node (seed 003: 70 vs 140 ns); on the poll's own core
    nothing (the golden nic-10g readers)."""
    t = TimingModel()
    rest = {}
    for app in (2, 6):
        cfg = NetConfig(queues=1, queue_cpus=[0], app_cpus=[app],
                        rx=Coalesce(usecs=0, frames=1))
        r = build_net(cfg, pattern="poisson", pps=50_000, duration_ns=2_000_000)
        run_net(r)
        sock = r.driver.sockets()[0]
        assert sock.delivered == summary(r)["generated"] > 50
        task = r.machine.cpu_time()[app]["task"]
        # Reader time beyond the wake-ups and the per-packet recvmsg: the line transfers.
        rest[app] = (task - sock.wakeups * t.app_wakeup - sock.delivered * t.app_rx_packet,
                     sock.delivered)
    (near, n), (far, n2) = rest[2], rest[6]
    assert n == n2
    assert far - near == n * (t.cacheline_remote_node - t.cacheline_same_node)
