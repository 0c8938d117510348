"""Measurement apart from hardware (issue 8 item 5) and bounded memory (issue 14 defect 3)."""

from __future__ import annotations

import io
import json
import random

from helpers import nic_machine
from irqsim.machine import RUN_PROGRESS, Machine
from irqsim.scenarios.mechanisms import CompareSpec, run_compare
from irqsim.sim.stats import Histogram, percentile
from irqsim.sim.trace import Tracer


def test_trace_points_follow_one_msix_interrupt_by_its_id() -> None:
    """Issue 8 item 5: hardware announces each hop with the interrupt id; a probe that
    subscribes sees one MSI-X interrupt go event -> send -> root complex -> IRR set ->
    accept -> handler entry, in time order, all with the id the ledger gave it."""
    m, nics, _ = nic_machine(latency=False)
    seen: list[tuple[str, int, int]] = []
    for name in ("event", "send", "root_complex", "irr_set", "accept", "handler_entry"):
        tp = getattr(m.ctx.points, name)
        if name == "accept":
            tp.subscribe(lambda iid, cpu, t, n=name: seen.append((n, iid, t)))
        elif name == "handler_entry":
            tp.subscribe(lambda iid, cpu, t, vector, n=name: seen.append((n, iid, t)))
        elif name == "event":
            tp.subscribe(lambda iid, t, dev, n=name: seen.append((n, iid, t)))
        else:
            tp.subscribe(lambda iid, t, n=name: seen.append((n, iid, t)))
    raised = m.ctx.ledger.raised
    nics[0].rx(0)
    m.run()
    assert [s[0] for s in seen] == ["event", "send", "root_complex", "irr_set", "accept",
                                    "handler_entry"]
    assert {s[1] for s in seen} == {raised + 1}
    times = [s[2] for s in seen]
    assert times == sorted(times)


def test_no_probe_means_every_trace_point_is_off() -> None:
    """Tracing off costs one attribute test per hop: without the latency probe no trace
    point has a subscriber, so every call site's ``if tp.on`` is False."""
    m = Machine(latency=False)
    assert not any(tp.on for tp in m.ctx.points)
    m = Machine()
    assert m.ctx.points.handler_entry.on and m.ctx.points.claim.on


def test_latency_probe_forgets_every_interrupt_it_finished_with() -> None:
    """Issue 14 defect 3: the probe keeps stamps only for interrupts still travelling;
    after MSI-X, MSI and shared-line INTx runs (merges and claims included) none is left."""
    for mech in ("msix", "msi", "intx"):
        m = run_compare(mech, CompareSpec(200, 3_000.0, 1, 2, 2))
        rec = m.recorder
        assert rec is not None
        assert rec.summary()["virtio-net"]["count"] > 0
        assert rec.stamps == {}, mech
        assert len(rec._intx_keep) <= 2 * len(m.rc.functions())


def test_histogram_percentiles_equal_the_sorted_list() -> None:
    """Printed latencies must not change: the exact histogram's nearest-rank percentiles,
    min and max equal those of the sorted sample list."""
    rng = random.Random(7)
    for n in (1, 2, 3, 99, 100, 101, 1000):
        vals = [int(rng.expovariate(1 / 500)) for _ in range(n)]
        h = Histogram()
        for v in vals:
            h.add(v)
        s = sorted(vals)
        for p in (0, 1, 50, 99, 99.9, 100):
            assert h.percentile(p) == percentile(s, p), (n, p)
        assert (h.min, h.max, h.n) == (s[0], s[-1], n)


def test_tracer_keeps_first_deliveries_then_one_undisturbed_delivery_per_device() -> None:
    """Issue 14 defect 3: past ``keep_deliveries`` device events the tracer keeps only a
    device's first delivery from its event to its handler's IRET with no other device in
    between (what the sequence diagram shows), so memory stops growing."""
    tr = Tracer(on=True, keep_deliveries=1)
    tr.emit(0, "OS", "PCI", "sw", label="setup")
    tr.emit(1, "a", "a", "device-event")
    tr.emit(2, "CPU0", "Driver", "handler-entry", vector=0x20)
    tr.emit(3, "CPU0", "CPU0", "iret", vector=0x20)
    for t in range(10, 100, 10):                   # disturbed: b's message in a's delivery
        tr.emit(t, "a", "a", "device-event")
        tr.emit(t + 1, "b", "PCIe Bus", "MWr", source="b/msix0")
        tr.emit(t + 2, "CPU0", "Driver", "handler-entry", vector=0x20)
        tr.emit(t + 3, "CPU0", "CPU0", "iret", vector=0x20)
    tr.emit(200, "b", "b", "device-event")
    tr.emit(201, "b", "PCIe Bus", "MWr", source="b/msix0")
    tr.emit(202, "CPU0", "Driver", "handler-entry", vector=0x21)
    tr.emit(203, "CPU0", "CPU0", "iret", vector=0x21)
    tr.emit(204, "CPU0", "CPU0", "eoi", vector=0x21)
    assert [e.time for e in tr.events] == [0, 1, 2, 3, 200, 201, 202, 203]
    assert tr.on


def test_tracer_streams_to_its_sink_and_turns_off_when_nothing_is_kept() -> None:
    """``--trace FILE`` streams every event as a JSON line; with no sink and nothing left
    to keep, tracing turns itself off (the rest of the run costs what an untraced one
    does); ``clear`` empties the sink too."""
    sink = io.StringIO()
    tr = Tracer(on=True, limit=0, sink=sink)
    tr.emit(5, "a", "b", "k", x=1)
    tr.emit(6, "a", "b", "k")
    assert len(tr) == 0 and tr.on
    assert [json.loads(s) for s in sink.getvalue().splitlines()] == [
        {"time": 5, "src": "a", "dst": "b", "kind": "k", "x": 1},
        {"time": 6, "src": "a", "dst": "b", "kind": "k"}]
    tr.clear()
    assert sink.getvalue() == ""
    tr = Tracer(on=True, limit=2)
    for t in range(5):
        tr.emit(t, "a", "b", "k")
    assert len(tr) == 2 and not tr.on


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_only_on_a_terminal_and_does_not_change_the_run() -> None:
    """Issue 14 defect 3: long runs show a progress line on a terminal (stderr), drawn by a
    thread that reads the machine's clock and ledger; a watched run is event for event the
    run an unwatched one is (the golden figures must not depend on the terminal)."""
    from irqsim.commands.progress import RunProgress
    spec = CompareSpec(300, 5_000.0, 3, 1, 2)
    plain = run_compare("intx", spec)
    with RunProgress("quiet", stream=io.StringIO()) as rp:
        run_compare("intx", spec)
        assert rp.machine is None                  # not a terminal: nothing watched
    tty = _Tty()
    with RunProgress("compare INTx", stream=tty) as rp:
        rp.start -= 10                              # as if the run had lasted 10 s
        watched = run_compare("intx", spec)
        assert rp.machine is watched
        rp.update()
        assert rp.progress is not None
    assert RUN_PROGRESS.get() is None
    assert "compare INTx" in tty.getvalue()
    assert (watched.now, watched.engine.events_run) == (plain.now, plain.engine.events_run)
    assert watched.recorder is not None and plain.recorder is not None
    assert watched.recorder.summary() == plain.recorder.summary()


def test_tracer_stops_sampling_after_its_budget() -> None:
    """Past ``keep_deliveries + sample_deliveries`` device events nothing more is kept and
    tracing turns off: the rest of a long text/mermaid run costs what an untraced one does."""
    tr = Tracer(on=True, keep_deliveries=1, sample_deliveries=2)
    for t in range(4):
        tr.emit(t, "a", "a", "device-event")
    assert not tr.on and [e.time for e in tr.events] == [0]


def test_latency_probe_forgets_nmi_smi_init_mode_messages() -> None:
    """Forged MSIs with delivery mode NMI, SMI or INIT (SDM 10.11.2) end at the core's pins,
    never at a handler entry: the latency probe is told they settled and keeps no stamps, so
    its memory stays bounded under such traffic (issue 14 defect 3)."""
    from irqsim.devices.nic import MultiQueueNic
    from irqsim.machine import Machine

    m = Machine(ncpus=2)
    nic = MultiQueueNic(m.ctx, 1)
    m.add_device(nic)
    m.boot()
    pdev = next(d for d in m.kernel.devices if not d.is_bridge)
    k = m.kernel
    k.run_on(m.cpus[0], lambda: k.cfg_write(pdev.bus, pdev.devfn, 4, 2, 0x6))  # MSE, BME
    for i in range(300):
        mode = (4, 2)[i % 2]                       # NMI, SMI (INIT would reset the CPU)
        m.engine.at(m.now + 1_000 * (i + 1), lambda _, d=mode << 8: nic.dma_write(
            0xFEE01000, d.to_bytes(4, "little")))
    m.run()
    assert m.recorder is not None and not m.recorder.stamps
    assert m.accounting()["balanced"]
