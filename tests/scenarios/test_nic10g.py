"""The nic-10g scenario through the CLI: 8 queues on a two-node machine at 10 GbE line rate
with RSS, DIM and NAPI; text and JSON views (issue 11 "Views and commands")."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

pytest.importorskip("numpy")

from irqsim.cli import main


def test_nic10g_json() -> None:
    """JSON: every offered packet delivered (none lost or doubled), 8 queues each with
    interrupts, NET_RX softirqs on every CPU, books balanced, two sockets."""
    r = CliRunner().invoke(main, ["demo", "--scenario", "nic-10g", "--requests", "60",
                                  "--format", "json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    net = out["network"]
    assert net["generated"] == net["delivered"] + net["missed"] > 8000
    assert abs(net["offered_mpps"] - 14.88) < 0.01
    assert len(net["queues"]) == 8 and all(q["interrupts"] > 0 for q in net["queues"])
    assert {q["cpu"] for q in net["queues"]} == set(range(8))
    assert out["accounting"]["balanced"]
    net_rx = next(line for line in out["proc_softirqs"].splitlines()
                  if line.strip().startswith("NET_RX"))
    assert all(int(c) > 0 for c in net_rx.split()[1:])
    assert out["ethtool_S"]["rx_packets"] == net["generated"] - net["missed"]
    assert all(t["softirq"] > 0 for t in out["cpu_time_ns"])
    assert len(out["softnet_stat"]) == 8


def test_nic10g_text() -> None:
    """Text: per-queue interrupt rates, mpstat with %soft, ethtool -c/-S, /proc/softirqs."""
    r = CliRunner().invoke(main, ["demo", "--scenario", "nic-10g", "--requests", "30"])
    assert r.exit_code == 0, r.output
    for needle in ("per-queue interrupts", "%soft", "$ ethtool -c eth0", "Adaptive RX: on",
                   "$ ethtool -S eth0", "rx_queue_7_packets", "$ cat /proc/softirqs",
                   "NET_RX:", "softnet_stat", "wire to application"):
        assert needle in r.output, needle
