"""Busy polling and the poll-mode driver (shared/reference/nic-moderation.md section 6,
section 11 items 21-22; seed 003's "Busy polling" and "DPDK" rows)."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("numpy")

from irqsim.drivers.netnic import NetConfig
from irqsim.net.moderation import Coalesce
from irqsim.net.setup import build_net, run_net, summary


def run(cfg: NetConfig, **kw: Any) -> Any:
    r = build_net(cfg, pattern="poisson", pps=50_000, duration_ns=4_000_000, latency=False,
                  **kw)
    return r


def test_busy_poll_one_interrupt_per_ownership_and_budget_8() -> None:
    """Items 21-22: while the reader owns the NAPI at most one interrupt of that queue is
    delivered; busy polls use budget 8 and handle at most 8; after the spin ends the IRQ is
    re-enabled. Busy polling lowers the wire-to-application latency and costs CPU."""
    base = run(NetConfig(queues=1, queue_cpus=[0], rx=Coalesce(usecs=0, frames=1)))
    run_net(base)
    r = run(NetConfig(queues=1, queue_cpus=[0], rx=Coalesce(usecs=0, frames=1),
                      busy_read_us=50))
    drv = r.driver
    periods: list[tuple[int, int]] = []
    irqs: list[int] = []
    budgets: list[tuple[int, int]] = []
    orig_poll = drv.poll
    vector = r.machine.kernel.irqs[drv.queues[0].irq].vector

    def entry(iid: int, cpu: int, t: int, vec: int) -> None:
        if vec == vector:                              # the queue's handler is entered
            irqs.append(t)

    def poll(napi, budget):  # type: ignore[no-untyped-def]
        n = orig_poll(napi, budget)
        if napi.busy_owner:
            budgets.append((budget, n))
        return n

    r.machine.ctx.points.busy_poll.subscribe(lambda sock, t0, t1: periods.append((t0, t1)))
    r.machine.ctx.points.handler_entry.subscribe(entry)
    drv.queues[0].napi.poll = poll
    run_net(r)
    assert periods and budgets and irqs
    assert all(b == 8 and n <= 8 for b, n in budgets)
    for a, b in periods:
        assert sum(1 for t in irqs if a <= t < b) <= 1
    assert not r.nic.queues[0].masked
    sb, s = summary(base), summary(r)
    assert s["delivered"] == s["generated"]
    assert s["latency_app_ns"]["median"] < sb["latency_app_ns"]["median"]
    assert s["cpu_busy_pct"] > sb["cpu_busy_pct"]
    assert r.machine.accounting()["balanced"]


def test_busy_poll_ends_at_timeout() -> None:
    """Item 22: with no data the spin ends at the timeout (busy_poll_us)."""
    r = run(NetConfig(queues=1, queue_cpus=[0], rx=Coalesce(usecs=0, frames=1),
                      busy_poll_us=[20]))
    ends: list[int] = []

    def busy(sock, t0, t1):  # type: ignore[no-untyped-def]
        if not sock.backlog:
            ends.append(t1 - t0)

    r.machine.ctx.points.busy_poll.subscribe(busy)
    run_net(r)
    assert ends and all(20_000 <= d <= 20_000 + 2_000 for d in ends)


def test_poll_mode_driver_takes_no_interrupts() -> None:
    """Seed 003 DPDK row: dedicated cores poll the rings, no queue interrupts, sub-us
    latency from the wire, the polling cores 100 % busy."""
    r = run(NetConfig(queues=2, queue_cpus=[0, 1], app_cpus=[2, 3], pmd=True))
    run_net(r)
    s = summary(r)
    assert s["interrupts_per_s"] == 0 and s["delivered"] == s["generated"] > 100
    assert s["latency_app_ns"]["max"] < 1000
    t = s["cpu_time_window_ns"]
    for c in (2, 3):
        assert t[c]["idle"] == 0
    assert r.machine.accounting()["balanced"]


def test_reader_placement_pinned_remote_and_unpinned() -> None:
    """Application model: a reader pinned to another CPU is woken with a reschedule IPI
    (counted as RES), so its wire-to-application latency grows with the IPI hop (the
    other socket's more); an unpinned reader runs where it is woken (no IPI)."""
    med = {}
    for name, app_cpus, pinned in (("same", None, True), ("near", [2], True),
                                   ("far", [6], True), ("unpinned", [6], False)):
        cfg = NetConfig(queues=1, queue_cpus=[0], app_cpus=app_cpus, app_pinned=pinned,
                        rx=Coalesce(usecs=0, frames=1))
        r = run(cfg)
        run_net(r)
        assert summary(r)["delivered"] == summary(r)["generated"]
        med[name] = (summary(r)["latency_app_ns"]["median"], r.machine.kernel.smp.reschedules)
    assert med["same"][1] == med["unpinned"][1] == 0
    assert med["near"][1] > 0 and med["far"][1] > 0
    assert med["same"][0] < med["near"][0] < med["far"][0]
    assert med["unpinned"][0] == med["same"][0]


def test_a_reader_per_flow() -> None:
    """Application model, a thread per flow: each flow's packets reach its own socket and
    reader (pinned round-robin over the application CPUs), in order, none lost or doubled."""
    from irqsim.net.traffic import make_flows
    flows = make_flows(6, seed=9)
    cfg = NetConfig(queues=2, queue_cpus=[0, 1], app_cpus=[2, 3, 4],
                    rx=Coalesce(usecs=10, frames=16), app_per="flow")
    r = build_net(cfg, flows=flows, pattern="poisson", pps=100_000, duration_ns=2_000_000,
                  latency=False)
    run_net(r)
    s = summary(r)
    assert s["delivered"] == s["generated"] > 100
    socks = r.driver.flow_sockets
    assert set(socks) == set(range(6))
    assert all(socks[f].cpu == [2, 3, 4][f % 3] for f in socks)
    assert all(socks[f].q == int(r.nic.flow_queue[f]) for f in socks)
    assert r.machine.accounting()["balanced"]


def test_busy_poll_spin_counts_as_poll_cpu_time() -> None:
    """Issue 11 "CPU accounting per context (hardirq, softirq, task, idle, poll)": a reader's
    busy-poll spin (reference section 6) is counted under "poll", not "task"; the mpstat
    view shows a %poll column; without busy polling the context stays 0."""
    from irqsim.views.procfs import mpstat
    cfg = NetConfig(queues=1, queue_cpus=[0], rx=Coalesce(usecs=0, frames=1),
                    busy_poll_us=[50])
    r = run(cfg)
    spins: list[int] = []
    r.machine.ctx.points.busy_poll.subscribe(lambda sock, t0, t1: spins.append(t1 - t0))
    run_net(r)
    t = r.machine.cpu_time()[0]
    assert t["poll"] > 0
    # Every spin's time is poll time (an interrupt taken during a spin counts as hardirq).
    assert t["poll"] <= sum(spins) and t["poll"] > 0.8 * sum(spins)
    assert t["task"] > 0                               # the readers' own work stays task
    assert "%poll" in mpstat(r.machine.cpu_time())
    base = run(NetConfig(queues=1, queue_cpus=[0], rx=Coalesce(usecs=0, frames=1)))
    run_net(base)
    assert base.machine.cpu_time()[0]["poll"] == 0


def test_busy_poll_jump_matches_iterating() -> None:
    """The analytic jump over empty busy-poll iterations (docs/networking.md "Batching")
    gives what iterating one by one gives: the same packets, interrupts and poll-time,
    loop counts and per-packet latencies within one iteration (an interrupt taken during a
    jump is the only source of difference)."""
    out = {}
    for jump in (True, False):
        r = run(NetConfig(queues=1, queue_cpus=[0], rx=Coalesce(usecs=0, frames=1),
                          busy_poll_us=[50]))
        r.driver.busy_poll_jump = jump
        run_net(r)
        s = summary(r)
        sock = r.driver.sockets()[0]
        out[jump] = (s["delivered"], s["latency_app_ns"], sock.busy_loops,
                     r.machine.cpu_time()[0]["poll"], r.nic.counters()["interrupts"])
    (n1, l1, b1, p1, i1), (n2, l2, b2, p2, i2) = out[True], out[False]
    assert n1 == n2 > 100
    assert abs(l1["median"] - l2["median"]) <= 400 and abs(l1["p99"] - l2["p99"]) <= 400
    assert abs(b1 - b2) <= 0.02 * b2 and abs(p1 - p2) <= 0.02 * p2
    assert abs(i1 - i2) <= 0.05 * i2 + 2
