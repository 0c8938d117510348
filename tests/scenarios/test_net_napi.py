"""The NIC, NAPI and softirqs on the engine clock (shared/reference/nic-moderation.md
sections 3 and 5, section 11 items 11 and 18-20), batching against a per-packet run, packet
conservation and interrupt accounting."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

np = pytest.importorskip("numpy")

from irqsim.drivers.netnic import NetConfig  # noqa: E402
from irqsim.net.moderation import Coalesce  # noqa: E402
from irqsim.net.setup import build_net, run_net, summary  # noqa: E402
from irqsim.net.traffic import Flow, make_flows  # noqa: E402
from irqsim.os.softirq import NET_RX  # noqa: E402

US = 1000


def conserve(r: Any, strict: bool = True) -> None:
    """No packet lost or counted twice: generated = received + missed + held in the device;
    every received packet reaped once (or still in its ring) and delivered once; every
    interrupt accounted for. ``strict``: nothing may be held at the end."""
    s = summary(r)
    dev, ring = r.nic.held()
    assert s["generated"] == s["received"] + s["missed"] + dev
    assert s["received"] == s["reaped"] + ring
    assert s["reaped"] == s["delivered"]
    if strict:
        assert dev == ring == 0
    assert sum(q.stats["rx_packets"] for q in r.nic.queues) == s["received"]
    acc = r.machine.accounting()
    assert acc["balanced"], acc


def test_batched_equals_per_packet_at_low_rate() -> None:
    """The batching method (docs/networking.md): at 200 kpps Poisson over 4 queues the
    batched run and a run with one engine event per packet give the same counts
    (interrupts, polls, packets) and the same latency distribution."""
    out = []
    for pp in (False, True):
        cfg = NetConfig(queues=4, queue_cpus=[0, 1, 2, 3],
                        rx=Coalesce(usecs=20, frames=16, mode="absolute"))
        r = build_net(cfg, pattern="poisson", pps=200_000, duration_ns=3_000_000, seed=3,
                      per_packet=pp, latency=False)
        run_net(r)
        conserve(r)
        s = summary(r)
        out.append((s, [q.stats["interrupts"] for q in r.nic.queues],
                    [st.napi.polls for st in r.driver.queues]))
    (a, ia, pa), (b, ib, pb) = out
    assert a["generated"] == b["generated"] > 400
    assert a["delivered"] == b["delivered"]
    assert sum(abs(x - y) for x, y in zip(ia, ib, strict=True)) <= 2
    assert sum(abs(x - y) for x, y in zip(pa, pb, strict=True)) <= 4
    for k in ("latency_stack_ns", "latency_app_ns"):
        for p in ("min", "median", "p99"):
            assert abs(a[k][p] - b[k][p]) <= max(200, a[k][p] // 50), (k, p, a[k], b[k])


@pytest.mark.parametrize("mode", ["absolute", "packet", "interval"])
def test_per_packet_and_batched_agree_per_mode(mode: str) -> None:
    """Each timer variant: batched and per-packet runs fire the same interrupts."""
    res = []
    for pp in (False, True):
        cfg = NetConfig(queues=2, queue_cpus=[0, 1], rx=Coalesce(usecs=30, frames=8,
                                                                  mode=mode), app=False)
        r = build_net(cfg, pattern="bursty", pps=100_000, burst=8, duration_ns=2_000_000,
                      seed=5, per_packet=pp, latency=False)
        run_net(r)
        conserve(r) if cfg.app else None
        res.append(([q.stats["interrupts"] for q in r.nic.queues],
                     r.driver.stack_latency.summary()))
    assert sum(abs(x - y) for x, y in zip(res[0][0], res[1][0], strict=True)) <= 2
    assert abs(res[0][1]["median"] - res[1][1]["median"]) <= 200


def test_line_rate_conservation_and_napi_masking() -> None:
    """Items 11 and 18: under line rate with DIM, each queue's vector stays masked from
    its interrupt until napi_complete_done re-enables it: interrupts = unmasks (+1 for
    the initial enable), no NAPI schedule ever finds the instance already scheduled, and
    nothing is lost or counted twice."""
    r = build_net(NetConfig(rx=Coalesce(adaptive=True)), duration_ns=1_000_000,
                  latency=False)
    run_net(r)
    conserve(r)
    for q, st in zip(r.nic.queues, r.driver.queues, strict=True):
        assert q.stats["unmasks"] == q.stats["interrupts"] + 1
        assert st.napi.misses == 0
        assert st.irqs == q.stats["interrupts"]
    k = r.machine.kernel
    assert all(c > 0 for c in k.softirq.counts[NET_RX])
    assert all(t["softirq"] > 0 for t in r.machine.cpu_time())


def test_budget_round_robin_and_time_squeeze() -> None:
    """Item 19: with 5 busy queues on one CPU, one softirq round processes at most 300 + 63
    packets and at most 64 per poll; instances are polled round-robin and the softirq
    re-raises with time_squeeze incremented."""
    cfg = NetConfig(queues=5, queue_cpus=[0], app_cpus=[1],
                    rx=Coalesce(usecs=0, frames=1))
    flows = make_flows(64, seed=2)
    r = build_net(cfg, flows=flows, duration_ns=300_000, latency=False)
    sirq = r.machine.kernel.softirq
    rounds: list[list[tuple[str, int]]] = []
    orig_poll = r.driver.poll

    def poll(napi, budget):  # type: ignore[no-untyped-def]
        n = orig_poll(napi, budget)
        rounds[-1].append((napi.name, n))
        assert n <= 64
        return n

    orig_action = sirq.net_rx_action

    def action(cpu):  # type: ignore[no-untyped-def]
        rounds.append([])
        orig_action(cpu)

    for st in r.driver.queues:
        st.napi.poll = poll
    sirq.handlers[NET_RX] = action
    run_net(r)
    assert max(sum(n for _, n in rd) for rd in rounds) <= 300 + 63
    assert sirq.softnet[0].time_squeeze > 0
    full = [rd for rd in rounds if len(rd) >= 5]
    assert full and len({name for name, _ in full[0][:5]}) == 5      # round robin
    conserve(r)


def test_defer_hard_irqs_and_gro_flush_timeout() -> None:
    """Item 20: napi_defer_hard_irqs 2, gro_flush_timeout 20 us: after the last productive
    poll exactly 2 empty timer polls 20 us apart with the IRQ masked; the second unmasks."""
    cfg = NetConfig(queues=1, queue_cpus=[0], rx=Coalesce(usecs=0, frames=1),
                    napi_defer_hard_irqs=2, gro_flush_timeout_ns=20 * US)
    flows = [Flow("10.0.0.1", "10.0.0.2", 1000, 2000)]
    r = build_net(cfg, flows=flows, pattern="bursty", pps=20_000, burst=4,
                  duration_ns=1_000_000, seed=1, latency=False)
    polls: list[tuple[int, int, bool, bool]] = []     # (instant, packets, masked, timer)
    st = r.driver.queues[0]
    orig = r.driver.poll
    q = r.nic.queues[0]
    timer_polls = [st.napi.timer_polls]

    def poll(napi, budget):  # type: ignore[no-untyped-def]
        t = r.machine.ctx.sw.current.clock
        masked = q.masked
        # The gro_flush_timeout watchdog counts each poll it schedules (napi.timer_polls).
        by_timer = napi.timer_polls != timer_polls[0]
        timer_polls[0] = napi.timer_polls
        n = orig(napi, budget)
        polls.append((t, n, masked, by_timer))
        return n

    st.napi.poll = poll
    run_net(r)
    episodes = 0
    for i, (_, n, _, _) in enumerate(polls):
        if not n:
            continue
        timers = []
        restarted = False
        for t2, n2, masked, timer in polls[i + 1:]:
            if n2:
                restarted = True                        # a packet came: the count restarts
            if n2 or not timer:
                break
            timers.append((t2, masked))
        if restarted and len(timers) < 2:
            continue
        episodes += 1
        assert len(timers) == 2, polls[i:i + 4]
        assert 20 * US <= timers[1][0] - timers[0][0] <= 22 * US
        assert all(m for _, m in timers)               # the IRQ stays masked meanwhile
    assert episodes >= 2
    assert not q.masked                                # the last timer poll re-enabled it
    conserve(r)


def test_ksoftirqd_takes_over_when_softirq_restarts_run_out() -> None:
    """kernel/softirq.c: softirqs still pending after MAX_SOFTIRQ_RESTART rounds or 2 ms
    go to ksoftirqd, whose time counts as softirq."""
    cfg = NetConfig(queues=5, queue_cpus=[0], app_cpus=[1], rx=Coalesce(usecs=0, frames=1))
    r = build_net(cfg, duration_ns=3_000_000, latency=False)
    sirq = r.machine.kernel.softirq
    run_net(r)
    assert sirq.cpus[0].ksoftirqd_wakes > 0
    t = r.machine.cpu_time()[0]
    assert t["softirq"] > t["task"]
    conserve(r)


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(hs.sampled_from(["line", "poisson", "bursty"]),
       hs.sampled_from(["absolute", "packet", "interval"]), hs.integers(0, 40),
       hs.integers(0, 64), hs.sampled_from([64, 128, 1024]), hs.integers(1, 4),
       hs.integers(0, 2**16))
def test_no_packet_lost_or_counted_twice(pattern: str, mode: str, usecs: int, frames: int,
                                         ring: int, queues: int, seed: int) -> None:
    """Property: whatever the arrivals, timer variant, ring size and queue count, every
    generated packet is received once or missed once (a full ring), every received packet
    is reaped and delivered once, and every interrupt is accounted for."""
    if usecs == 0 and frames == 0:
        frames = 1
    cfg = NetConfig(queues=queues, queue_cpus=list(range(queues)), ring_size=ring,
                    rx=Coalesce(usecs=usecs, frames=frames, mode=mode))
    r = build_net(cfg, pattern=pattern, pps=None if pattern == "line" else 2_000_000,
                  duration_ns=100_000, seed=seed, latency=False,
                  flows=make_flows(16, seed=seed))
    run_net(r)
    # rx-usecs 0 with rx-frames F > 1 has no time condition (ETHC): the last packets of a
    # queue that never reach F stay in the device, counted as held.
    conserve(r, strict=usecs > 0 or frames <= 1)


def test_ethtool_X_moves_flows() -> None:
    """Reference 1.2: `ethtool -X equal 1` sends every flow to queue 0 (a flow changes
    queue only when the table, key or queue count changes)."""
    cfg = NetConfig(queues=4, queue_cpus=[0, 1, 2, 3], rx=Coalesce(usecs=0, frames=1))
    r = build_net(cfg, pattern="poisson", pps=100_000, duration_ns=1_000_000, latency=False)
    r.nic.set_rxfh(equal=1)
    run_net(r)
    conserve(r)
    per_q = [q.stats["rx_packets"] for q in r.nic.queues]
    # Only the first generated chunk (before the change) reached queues 1-3.
    assert per_q[0] > 3 * sum(per_q[1:])


def test_misc_vector_link_change() -> None:
    """Reference section 2: the non-queue vector carries link changes; its handler reads
    (and so clears) ICR."""
    cfg = NetConfig(queues=2, queue_cpus=[0, 1], rx=Coalesce(usecs=0, frames=1), app=False)
    r = build_net(cfg, pattern="poisson", pps=10_000, duration_ns=100_000, latency=False)
    r.machine.engine.after(5_000, lambda _: r.nic.link_change(False))
    run_net(r)
    assert r.driver.link_events == 1 and r.nic.icr == 0
    assert r.machine.kernel.irqs[r.driver.misc_irq].counts[0] == 1
    assert r.machine.accounting()["balanced"]


def test_ipv6_flows_spread_by_rss() -> None:
    """RSS over IPv6 TCP flows (36-byte 4-tuple input): each flow stays on the queue its
    hash names, and 256 flows reach every one of 4 queues."""
    from irqsim.net.rss import Packet

    flows = make_flows(256, proto="tcp", seed=4, ipv6=True)
    cfg = NetConfig(queues=4, queue_cpus=[0, 1, 2, 3], rx=Coalesce(usecs=10, frames=32))
    r = build_net(cfg, flows=flows, pattern="poisson", pps=1_000_000, duration_ns=200_000,
                  latency=False)
    run_net(r)
    conserve(r)
    want = [r.nic.rss.classify(Packet(f.src, f.dst, f.proto, f.sport, f.dport))[1]
            for f in flows]
    assert list(r.nic.flow_queue) == want and set(want) == {0, 1, 2, 3}
    assert all(q.stats["rx_packets"] > 0 for q in r.nic.queues)


def test_head_write_back_lands_before_the_interrupt() -> None:
    """Posted ordering (PCIe 2.4.1; reference section 2): the head write-back DMA the NIC
    issues when a vector fires travels ahead of the MSI-X write on the same link, so at
    handler entry host memory already holds the head the device had when it fired."""
    cfg = NetConfig(queues=2, queue_cpus=[0, 1], rx=Coalesce(usecs=5, frames=8), app=False)
    r = build_net(cfg, pattern="poisson", pps=300_000, duration_ns=300_000)
    m, nic = r.machine, r.nic
    fired: dict[int, int] = {}
    by_addr = {q.hwb: q.index for q in nic.queues}

    def dma(fn, tlp, ready):  # type: ignore[no-untyped-def]
        if fn is nic and tlp.address in by_addr:      # the RX head (not the TX one)
            fired[by_addr[tlp.address]] = tlp.data

    m.ctx.points.upstream.subscribe(dma)               # the NIC's posted writes, in order
    seen: list[tuple[int, int]] = []

    def entry(iid: int, cpu: int, t: int, *_: object) -> None:
        q = nic.queues[cpu]
        page = m.memory._pages.get(q.hwb >> 12)       # raw RAM, no device materialisation
        off = q.hwb & 0xFFF
        raw = int.from_bytes(page[off:off + 4], "little") if page else 0
        seen.append((raw, fired[cpu]))

    m.ctx.points.handler_entry.subscribe(entry)
    run_net(r)
    assert len(seen) > 10
    assert all(raw >= head for raw, head in seen)


def test_tx_completions_moderated_cleaned_and_batched_equals_per_packet() -> None:
    """The TX side of a queue pair (ETHC per direction; reference 2: one vector per pair):
    an echo reader answers every packet; TX completions count toward tx-usecs/tx-frames,
    the vector fires at the earlier of the RX and TX decisions, NAPI cleans every completed
    transmit; batched and per-packet runs agree."""
    out = []
    for pp in (False, True):
        cfg = NetConfig(queues=2, queue_cpus=[0, 1], rx=Coalesce(usecs=20, frames=16),
                        tx=Coalesce(usecs=30, frames=8), echo=True)
        r = build_net(cfg, pattern="poisson", pps=200_000, duration_ns=2_000_000,
                      latency=False, per_packet=pp, seed=3)
        run_net(r)
        conserve(r)
        c = r.nic.counters()
        assert c["tx_packets"] == summary(r)["delivered"]
        assert sum(st.tx_done for st in r.driver.queues) == c["tx_packets"]
        out.append(([q.stats["interrupts"] for q in r.nic.queues],
                    summary(r)["latency_app_ns"]["median"]))
    assert out[0] == out[1]
    # RX alone would wait 1 ms per interrupt; the TX frames threshold fires sooner.
    slow_rx = NetConfig(queues=1, queue_cpus=[0], rx=Coalesce(usecs=1000, frames=0),
                        tx=Coalesce(usecs=0, frames=4), echo=True, app_cpus=[1])
    r = build_net(slow_rx, pattern="poisson", pps=200_000, duration_ns=2_000_000,
                  latency=False, seed=3)
    run_net(r)
    conserve(r)
    assert r.nic.queues[0].stats["interrupts"] > 2_000_000 // 1_000_000 * 3


def test_ethtool_C_at_run_time() -> None:
    """ethtool -C while traffic flows: switching from no coalescing to rx-usecs 100 (an
    INTERVAL throttle) cuts the interrupt rate to at most 10 000/s per queue."""
    cfg = NetConfig(queues=1, queue_cpus=[0], rx=Coalesce(usecs=0, frames=1))
    r = build_net(cfg, pattern="poisson", pps=500_000, duration_ns=4_000_000, latency=False)
    m, q = r.machine, r.nic.queues[0]
    half = r.traffic.start + 2_000_000
    m.run(until=half)
    first = q.stats["interrupts"]
    m.engine.at(m.now, lambda _: r.driver.set_coalesce(
        rx=Coalesce(usecs=100, frames=0, mode="interval")))
    run_net(r)
    second = q.stats["interrupts"] - first
    # + the few taken before the writes land and the tail after the traffic
    assert first > 200 and second <= 2_000_000 // 100_000 + 5
    conserve(r)


def test_threaded_napi_polls_in_a_kthread_not_net_rx() -> None:
    """Reference 5, threaded NAPI (/sys/class/net/<if>/threaded = 1): the hard IRQ wakes the
    instance's kthread instead of raising NET_RX; the same poll loop runs there (task time,
    no NET_RX softirq, no softirq CPU time), the vector stays masked until the poll
    completes, and every packet is delivered once."""
    from irqsim.os.softirq import NET_RX
    out = {}
    for threaded in (False, True):
        cfg = NetConfig(queues=1, queue_cpus=[0], app_cpus=[1], threaded=threaded,
                        rx=Coalesce(usecs=0, frames=1))
        r = build_net(cfg, pattern="poisson", pps=200_000, duration_ns=2_000_000,
                      latency=False)
        t0 = r.machine.cpu_time()[0]
        run_net(r)
        s = summary(r)
        assert s["delivered"] == s["generated"] > 200
        assert r.machine.accounting()["balanced"]
        t1 = r.machine.cpu_time()[0]
        napi = r.driver.queues[0].napi
        out[threaded] = (r.machine.kernel.softirq.counts[NET_RX][0],
                         t1["softirq"] - t0["softirq"], t1["task"] - t0["task"], napi.polls,
                         r.nic.queues[0].stats["interrupts"], napi.misses)
    net_rx, soft, task, polls, irqs, misses = out[True]
    assert net_rx == 0 and soft == 0 and polls > 0 and task > out[False][2]
    assert out[False][0] > 0 and out[False][1] > 0
    assert irqs <= polls and misses == 0       # no interrupt while the kthread polls


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(hs.sampled_from(["msix", "msi", "intx"]), hs.booleans(), hs.sampled_from([0, 20]),
       hs.sampled_from([0, 2]), hs.booleans(), hs.sampled_from(["poisson", "bursty"]),
       hs.integers(0, 2**16))
def test_books_balance_with_every_path(mech: str, threaded: bool, busy_us: int, defer: int,
                                       echo: bool, pattern: str, seed: int) -> None:
    """Property over the delivery paths (MSI-X, MSI, INTx; softirq or threaded NAPI; busy
    polling; napi_defer_hard_irqs with gro_flush_timeout; echo replies through the TX path):
    no packet lost or counted twice, nothing left behind, every interrupt accounted for,
    every reply transmitted and cleaned once."""
    queues = 2 if mech == "msix" else 1
    cfg = NetConfig(queues=queues, queue_cpus=list(range(queues)), irq_mode=mech,
                    threaded=threaded, busy_read_us=busy_us, napi_defer_hard_irqs=defer,
                    gro_flush_timeout_ns=20_000 if defer else 0, echo=echo,
                    rx=Coalesce(usecs=10, frames=16))
    r = build_net(cfg, pattern=pattern, pps=300_000, duration_ns=300_000, seed=seed,
                  latency=False, flows=make_flows(16, seed=seed))
    run_net(r)
    conserve(r)
    tx = summary(r)["tx"]
    assert tx["sent"] == (summary(r)["delivered"] if echo else 0)
    assert tx["sent"] == tx["transmitted"] == tx["cleaned"]
