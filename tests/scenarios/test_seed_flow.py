"""Seed 002's machine end to end: enumeration, MSI-X set-up, delivery, accounting."""

from irqsim.devices.virtio import NO_VECTOR, VirtioPciDevice
from irqsim.scenarios.seed002 import WorkloadSpec, build_seed002, run_seed002, start_workload
from irqsim.sim.timing import TimingModel
from irqsim.spec.msi import msi_address


def test_vectors_33_34_35_to_apic_id_0() -> None:
    """Seed 002: rng 33, blk 34, net 35 (RX and TX), all to LAPIC ID 0 (0xFEE00000)."""
    m, drv = build_seed002()
    m.boot()
    by_name = {st.kind: st for st in drv.devices}
    k = m.kernel
    assert {n: k.irqs[st.irq].vector for n, st in by_name.items()} == {
        "virtio-rng": 33, "virtio-blk": 34, "virtio-net": 35}
    net = m.device("virtio-net")
    assert isinstance(net, VirtioPciDevice)
    for entry in (0, 1):                       # RX = entry 0, TX = entry 1, same message
        assert net.msix.table[4 * entry] == msi_address(0)
        assert net.msix.table[4 * entry + 2] & 0xFF == 35
        assert net.msix.table[4 * entry + 3] & 1 == 0
    assert [q.msix_vector for q in net.queues] == [0, 1]


def test_config_vector_is_no_vector_and_queues_map_to_entries() -> None:
    """Seed 002: config vector 0xFFFF; queue vectors 0 (single queue) and 0/1 (net)."""
    m, _ = build_seed002()
    m.boot()
    for dev in m.devices:
        assert isinstance(dev, VirtioPciDevice)
        assert dev.common.msix_config == NO_VECTOR
        assert [q.msix_vector for q in dev.queues] == list(range(len(dev.queues)))


def test_64bit_bars_are_paired_and_assigned() -> None:
    """Seed 002: BAR0+1 (MSI-X table) and BAR4+5 (virtio structures) are 64-bit pairs."""
    m, drv = build_seed002()
    m.boot()
    for st in drv.devices:
        assert set(st.pdev.bars) == {0, 4}
        assert st.pdev.bars[0].is64 and st.pdev.bars[4].is64
        assert st.pdev.bars[4].address >= 1 << 32      # prefetchable 64-bit window
        assert st.pdev.bars[0].address < 1 << 32       # non-prefetchable window is 32-bit


def test_every_request_is_handled_and_accounted() -> None:
    """Every completion's interrupt is delivered, merged, pending or dropped: the sum holds."""
    m, drv = run_seed002(WorkloadSpec(requests=100, mean_gap_ns=5_000))
    acc = m.accounting()
    assert acc["balanced"] and acc["raised"] == 400
    assert acc["delivered"] + acc["merged"] == 400
    processed = sum(q.processed for st in drv.devices for q in st.queues)
    assert processed == 400
    assert sum(q.order_errors for st in drv.devices for q in st.queues) == 0
    rows = {r["name"]: r for r in m.kernel.interrupt_rows()}
    assert sum(r["counts"][0] for r in rows.values()) == acc["delivered"]


def test_same_seed_same_run() -> None:
    """One clock, deterministic for a given seed."""
    a, _ = run_seed002(WorkloadSpec(requests=30), seed=7, trace=False)
    b, _ = run_seed002(WorkloadSpec(requests=30), seed=7, trace=False)
    c, _ = run_seed002(WorkloadSpec(requests=30), seed=8, trace=False)
    assert a.now == b.now and a.recorder.summary() == b.recorder.summary()
    assert a.now != c.now


def test_latency_emerges_from_the_stages() -> None:
    """Uncontended latency = sum of the timing model's stages on the path (seed 003 breakdown);
    changing one stage moves it by exactly that much."""
    def min_latency(tm: TimingModel) -> int:
        m, _ = build_seed002(timing=tm)
        m.boot()
        start_workload(m, WorkloadSpec(requests=5, mean_gap_ns=200_000), seed=3)
        m.run()
        return min(s["min"] for s in m.recorder.summary().values())

    tm = TimingModel()
    tlp_bytes = 12 + 4 + 8
    ser = (tlp_bytes * tm.pcie_ns_per_64_bytes + 63) >> 6
    expect = (tm.device_event_detect + tm.msix_table_read + tm.tlp_generation + ser
              + tm.pcie_hop + tm.root_complex + tm.iommu_passthrough + tm.msg_to_lapic
              + tm.lapic_delivery + tm.cpu_acceptance + tm.context_save + tm.handler_dispatch)
    assert min_latency(tm) == expect
    assert min_latency(tm.with_(root_complex=tm.root_complex + 1000)) == expect + 1000


def test_trace_shows_every_hop_of_one_interrupt() -> None:
    """Observable: one delivery leaves device, fabric, IOMMU, LAPIC and CPU trace events."""
    m, _ = run_seed002(WorkloadSpec(requests=1, mean_gap_ns=1000))
    kinds = [e.kind for e in m.ctx.tracer.events if e.kind != "sw"]
    for k in ("device-event", "msix-sample", "MWr", "interrupt-write", "msi-deliver",
              "irr-set", "inta", "handler-entry", "eoi", "iret"):
        assert k in kinds, k
