"""The NVMe-like controller and driver: managed per-CPU vectors with an unmanaged admin
vector (pre_vectors = 1), Set Features 08h aggregation (NVMe 2.0 5.27.1.8: THR 0's based,
TIME in 100 us), 09h coalescing disable, polled queues (IEN = 0)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import balanced
from irqsim.cpu.cpu import POLL
from irqsim.cpu.topology import Topology
from irqsim.devices.nvme import NvmeController
from irqsim.drivers.nvme import NvmeDriver
from irqsim.machine import Machine
from irqsim.scenarios.nvme import build_nvme
from irqsim.sim.timing import TimingModel

US = 1000
T = TimingModel()


def _machine(aggregation: tuple[int, int] | None = None, cd: tuple[int, ...] = (),
             poll_queues: int = 0) -> tuple[Machine, NvmeController, NvmeDriver]:
    m = Machine(topology=Topology(sockets=1, cores=2))
    dev = NvmeController(m.ctx, m.memory, io_queues=2)
    m.add_device(dev)
    drv = NvmeDriver(poll_queues=poll_queues, aggregation=aggregation,
                     coalescing_disabled=cd)
    m.kernel.register_driver(drv)
    m.boot()
    return m, dev, drv


def _burst(m: Machine, drv: NvmeDriver, cpu: int, n: int, gap: int = 1000) -> None:
    t = m.now
    for i in range(n):
        m.engine.at(t + i * gap, lambda _: drv.issue(cpu))
    m.run()


def test_vectors_admin_unmanaged_io_managed_and_blk_mq_map() -> None:
    """pre_vectors = 1: vector 0 (admin) keeps the default mask and is not managed; each
    I/O vector is managed with one CPU and blk-mq sends CPU c's requests to its queue."""
    m, _, drv = _machine()
    k = m.kernel
    assert drv.pdev is not None
    admin = k.irqs[k.pci_irq_vector(drv.pdev, 0)]
    assert not admin.managed and admin.affinity == [0, 1]      # default_smp_affinity
    for qid in (1, 2):
        d = k.irqs[drv.queues[qid].irq]
        assert d.managed and d.affinity == [qid - 1] and d.cpu == qid - 1
    assert drv.cpu_queue == [1, 2]


def test_no_aggregation_interrupts_per_completion_after_media_time() -> None:
    """TIME 0 (the default): one interrupt per completion; the read completes after the
    SQE fetch (a round trip) and the media time, plus driver and interrupt path costs."""
    m, dev, drv = _machine()
    _burst(m, drv, 0, 5, gap=50 * US)
    assert dev.stats.by_cause["threshold"] == dev.stats.by_cause["time"] == 0
    assert sum(m.kernel.irqs[drv.queues[1].irq].counts) == 5
    lat = drv.latencies["irq"]
    assert len(lat) == 5 and all(T.nvme_media_read + T.device_mmio_read < x
                                 < T.nvme_media_read + 5 * US for x in lat)
    assert balanced(m)


def test_threshold_fires_on_the_thr_plus_one_th_entry() -> None:
    """THR 3, TIME 255 (25.5 ms): four completions 1 us apart give one interrupt, at the
    fourth (threshold), and all four are reaped by it."""
    m, dev, drv = _machine(aggregation=(3, 255))
    _burst(m, drv, 1, 4)
    assert dev.stats.by_cause["threshold"] == 1 and dev.stats.by_cause["time"] == 0
    assert sum(m.kernel.irqs[drv.queues[2].irq].counts) == 1
    assert drv.queues[2].completed == 4 and balanced(m)


def test_time_fires_time_units_after_the_first_entry() -> None:
    """THR 3, TIME 1: a lone completion interrupts 100 us after it is posted; a vector with
    coalescing disabled (feature 09h CD) interrupts at once."""
    m, dev, drv = _machine(aggregation=(3, 1))
    _burst(m, drv, 0, 1)
    (lat,) = drv.latencies["irq"]
    m2, dev2, drv2 = _machine(aggregation=(3, 1), cd=(1,))
    _burst(m2, drv2, 0, 1)
    (lat_cd,) = drv2.latencies["irq"]
    assert dev.stats.by_cause["time"] == 1 and dev2.stats.by_cause["time"] == 0
    assert lat - lat_cd == 100 * US


def test_polled_queue_never_interrupts_and_spins_in_poll_context() -> None:
    """A CQ created with IEN = 0: the issuer spins (POLL context) and no interrupt is raised
    for it; its latency has no interrupt path."""
    m, _, drv = _machine(poll_queues=1)
    raised = m.ctx.ledger.raised
    t = m.now
    m.engine.at(t + 1000, lambda _: drv.issue(1, polled=True))
    m.run()
    assert m.ctx.ledger.raised == raised
    assert len(drv.latencies["poll"]) == 1
    assert m.cpus[1].cpu_time()[POLL] >= T.nvme_media_read


def test_remote_queue_pays_numa_costs() -> None:
    """Behaviour 30 for NVMe: with the controller on node 0, a queue whose CPU is on node 1
    pays the remote interrupt hop and remote CQE reads; a node-0 queue does not."""
    m, _, drv = build_nvme(aggregation=None, poll_queues=0)
    for cpu in (1, 5):
        m.engine.at(m.now + 1000, lambda _, c=cpu: drv.issue(c))
        m.run()
    local, remote = drv.latencies["irq"]
    assert remote - local >= T.msi_hop_remote_node
    assert balanced(m)


def test_nvme_scenario_balances_and_aggregates() -> None:
    """The nvme scenario: every interrupt accounted for; aggregation makes fewer vector
    signals than I/O completions; polled reads raise none."""
    from irqsim.scenarios import ScenarioOptions
    from irqsim.scenarios.nvme import nvme

    res = nvme(ScenarioOptions(requests=80, mean_gap_ns=5_000.0, seed=3, trace=False))
    m = res.machine
    rep = res.extra["nvme"]
    assert m.accounting()["balanced"]
    io = [q for q in rep["queues"] if not q["polled"]]
    assert sum(q["interrupts"] for q in io) < sum(q["completions"] for q in io)
    assert rep["latency_ns"]["poll"]["count"] == 10
    assert rep["aggregation"]["by_cause"]["time"] > 0


def test_platform_command_json(tmp_path: object) -> None:
    """``irqsim platform --format json``: a managed IRQ's write fails with EIO's text, an
    unmanaged one moves; C-state residency is reported; the books balance."""
    import json

    from click.testing import CliRunner

    from irqsim.cli import main
    out = CliRunner().invoke(main, ["platform", "--requests", "40", "--set", "25=4",
                                    "--set-mask", "24=f0", "--cstates", "icx",
                                    "--format", "json"])
    assert out.exit_code == 0, out.output
    rep = json.loads(out.output)
    errs = {w["path"]: w["error"] for w in rep["writes"]}
    assert "Input/output error" in errs["/proc/irq/25/smp_affinity_list"]
    assert errs["/proc/irq/24/smp_affinity"] is None
    row = next(r for r in rep["proc_irq"] if r["irq"] == 24)
    assert row["smp_affinity"] == "f0" and int(row["effective_affinity_list"]) >= 4
    assert any(sum(r.values()) for r in rep["cstate_residency_ns"])
    assert rep["accounting"]["balanced"]


def test_nvme_declarations_match_the_specification() -> None:
    """NVMe 2.0 3.1.3: CC.EN bit 0, IOSQES 19:16, IOCQES 23:20; AQA ASQS 11:0 / ACQS 27:16;
    CAP.DSTRD 35:32; CQE DW3 phase tag bit 16, status 31:17; feature 08h THR 7:0, TIME
    15:8; feature 09h CD bit 16; Create I/O CQ CDW11 IEN bit 1, IV 31:16."""
    from irqsim.spec import nvme as s
    assert s.CC.wmask == 0x00FF_FFF1
    assert s.AQA.wmask == 0x0FFF_0FFF
    assert s.CAP.mask("dstrd") == 0xF << 32
    assert s.CQE_DW3.mask("p") == 1 << 16 and s.CQE_DW3.mask("sf") == 0x7FFF << 17
    assert s.INTERRUPT_COALESCING.wmask == 0xFFFF
    assert s.INTERRUPT_VECTOR_CONFIG.mask("cd") == 1 << 16
    assert s.CREATE_CQ_CDW11.mask("ien") == 2 and s.CREATE_CQ_CDW11.mask("iv") == 0xFFFF << 16


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 7), st.integers(0, 3),
       st.lists(st.integers(0, 150_000), min_size=1, max_size=12))
def test_aggregation_invariants(thr: int, time: int, offsets: list[int]) -> None:
    """Property (NVMe 5.27.1.8): whatever THR, TIME and arrival pattern, every read is
    completed exactly once, vector signals never outnumber completions, no completion
    waits more than TIME x 100 us for its interrupt, and the books balance."""
    m, dev, drv = _machine(aggregation=(thr, time))
    t0 = m.now + 1000
    for off in offsets:
        m.engine.at(t0 + off, lambda _: drv.issue(0))
    m.run()
    q = drv.queues[1]
    assert q.completed == len(offsets) and not q.inflight
    assert len(drv.latencies["irq"]) == len(offsets)
    io_signals = sum(m.kernel.irqs[q.irq].counts) + dev.msix.pba.bit_count()
    assert io_signals <= len(offsets)
    bound = T.device_mmio_read + T.nvme_media_read + time * 100 * US + 20 * US
    assert max(drv.latencies["irq"]) <= bound + len(offsets) * 2 * US
    assert balanced(m)


def test_platform_command_usage_errors() -> None:
    """Bad --isolcpus / --set values are usage errors (exit status 2), not tracebacks."""
    from click.testing import CliRunner

    from irqsim.cli import main
    for args in (["--isolcpus", "abc"], ["--isolcpus", "0-99"], ["--set", "x"]):
        out = CliRunner().invoke(main, ["platform", "--requests", "5", *args])
        assert out.exit_code == 2, (args, out.output)


def test_shared_polled_queue_under_load_loses_nothing() -> None:
    """Regression: eight CPUs share one polled queue and interleave their submissions and
    reaps; sq_lock / cq_poll_lock (spinlocks in simulated time, as Linux's) keep every
    request completed exactly once, no CQ overflows, and the books balance."""
    import signal

    from irqsim.scenarios.nvme import run_reads

    def hung(signum: int, frame: object) -> None:
        raise TimeoutError("a polled reader spins for ever: a completion was lost")

    m, dev, drv = build_nvme(aggregation=(7, 2))
    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(30)
    try:
        run_reads(m, drv, 400, 3000.0, 5, poll_every=2)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert sum(len(v) for v in drv.latencies.values()) == 400
    assert not m.ctx.diagnostics and all(not q.inflight for q in drv.queues.values())
    assert balanced(m) and dev.stats.completions >= 400
