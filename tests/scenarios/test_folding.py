"""Event folding (issue 12 How 1) changes no result: the differential test.

A stage that is the last step of its event may run the next stage at once when that entry
would be the engine's next one anyway (``Engine.ahead``): the MSI-X table sample (a device
event ending with ``signal_last``), the link's arrival at the root port (end of the
sample), the root complex's delivery to the APIC bus, the acceptance (end of that delivery
and of the IRET: ``Cpu.intr_last``) and a handler's IRET tail. Every built-in scenario, and
bench_msix.py's workload (arrival events ending with the MSI-X signal, 1 and 4 CPUs), is run
folded and unfolded (``Engine.FOLD``), tracing off, and compared bit for bit: every
trace-point call in order (device events, sends, root complex, IRR set, acceptance, handler
entry, EOI, settled..., with their instants), latency histograms, accounting,
/proc/interrupts, CPU time, end time, diagnostics and the final register state of every
LAPIC, CPU, I/O APIC and PCI function.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from irqsim.devices.nic import MultiQueueNic
from irqsim.machine import Machine
from irqsim.scenarios import ScenarioOptions, load_all
from irqsim.scenarios.workload import ReplaySource
from irqsim.sim import probe
from irqsim.sim.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from bench_msix import BenchDriver

_MADE = probe.TracePoints.__init__
LAPIC_REGS = ("apic_id", "tpr", "svr", "irr", "isr", "tmr", "esr", "esr_hidden", "ldr",
              "dfr", "icr_lo", "icr_hi", "tmict", "tdcr", "_lvt", "base_msr", "x2apic")


def _plain(a: object) -> object:
    """A trace-point argument as a comparable value (blocks by name, TLPs by content)."""
    if isinstance(a, int | str | None):
        return a
    name = getattr(a, "name", None)
    return name if isinstance(name, str) else repr(a)


def _state(m: Machine) -> dict[str, Any]:
    """The machine's final architectural state: registers, tables, config spaces."""
    out: dict[str, Any] = {}
    for a in m.lapics:
        out[a.name] = [getattr(a, r) for r in LAPIC_REGS]
    for c in m.cpus:
        out[c.name] = (c.if_flag, [f.vector for f in c.frames], c.accepted, c.nmi_count,
                       c.state, c.cpu_time())
    io = m.ioapic
    out["ioapic"] = (list(io.rte), list(io.line), io.irr, io.ioregsel)
    for fn in m.rc.functions():
        msix = getattr(fn, "msix", None)
        out[fn.name] = (bytes(fn.config.data),
                        (list(msix.table), msix.pba) if msix is not None else None)
    return out


def _run(name: str, fold: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, ...]:
    def build() -> Machine:
        _, run = load_all()[name]
        return run(ScenarioOptions(requests=60, mean_gap_ns=4_000.0, seed=5,
                                   trace=False)).machine
    return _observe(build, fold, monkeypatch)


def _observe(build: Callable[[], Machine], fold: bool,
             monkeypatch: pytest.MonkeyPatch) -> tuple[Any, ...]:
    """Run ``build()`` with folding on or off and record every trace-point call and the
    machine's figures and final state."""
    monkeypatch.setattr(Engine, "FOLD", fold)
    calls: list[tuple[Any, ...]] = []

    def logged(self: probe.TracePoints) -> None:
        _MADE(self)
        for tp in self:
            tp.subscribe(lambda *args, _n=tp.name: calls.append((_n, *map(_plain, args))))

    monkeypatch.setattr(probe.TracePoints, "__init__", logged)
    m = build()
    assert not m.ctx.tracer.on
    rec = m.recorder
    hists = {src: [dict(h.counts) for h in hs] for src, hs in rec.rows.items()} \
        if rec is not None else None
    figures = (m.now, m.accounting(), m.kernel.interrupt_rows(), m.cpu_time(),
               [d.rule_id for d in m.ctx.diagnostics], hists, _state(m))
    return calls, figures, m.engine.events_run, m.engine.folded


@pytest.mark.parametrize("name", sorted(load_all()))
def test_folded_and_unfolded_runs_are_identical(name: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Folding only skips heap entries that would have run next: the same hops at the same
    instants in the same order, the same books and the same final registers."""
    calls_f, figures_f, events_f, folded = _run(name, True, monkeypatch)
    calls_u, figures_u, events_u, unfolded = _run(name, False, monkeypatch)
    assert unfolded == 0
    assert len(calls_f) == len(calls_u)
    assert calls_f == calls_u
    assert figures_f == figures_u
    assert events_f + folded == events_u


def test_the_msix_path_folds_when_the_machine_is_otherwise_idle(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """seed002 with spaced requests: most deliveries and handler tails run folded, so the
    engine pops fewer entries per interrupt than unfolded (same results, checked above)."""
    _, figures, events, folded = _run("seed002", True, monkeypatch)
    delivered = figures[1]["delivered"]
    assert folded >= delivered          # at least one fold per delivered interrupt
    assert events + folded > events


def test_tracing_on_folds_as_tracing_off() -> None:
    """The structured tracer observes no instant folding skips (each hop is recorded with
    its own instant), so a traced run folds the same stages as an untraced one."""
    from helpers import nic_machine

    runs = []
    for trace in (True, False):
        m, nics, _ = nic_machine(queues=1, handler_ns=100, trace=trace)
        nics[0].rx(0)
        m.run()
        runs.append((m.engine.folded, m.engine.events_run))
    # The link's arrival at the root port, the APIC-bus delivery, the acceptance and the
    # IRET tail (the MSI-X sample is not: rx is called from the top level, not an event).
    assert runs[0] == runs[1]
    assert runs[0][0] == 4


def _bench_machine(ncpus: int, mean_gap_ns: float, trace: bool = False) -> Machine:
    """bench_msix.py's workload, small: four queues per CPU, 40 arrivals each."""
    m = Machine(ncpus=ncpus, trace=trace)
    nic = MultiQueueNic(m.ctx, 4 * ncpus)
    m.add_device(nic)
    m.kernel.register_driver(BenchDriver([q % ncpus for q in range(4 * ncpus)], 850))
    m.boot()
    rng = random.Random(ncpus)
    for q in range(4 * ncpus):      # each event ends with the signal: its sample may fold
        ReplaySource(m.engine, [rng.expovariate(1 / mean_gap_ns) for _ in range(40)],
                     nic.msix.signal_last, q)
    m.run()
    return m


@pytest.mark.parametrize(("ncpus", "mean_gap_ns"), [(1, 6_000.0), (1, 60_000.0),
                                                     (4, 6_000.0)])
def test_bench_workload_folded_and_unfolded_are_identical(
        ncpus: int, mean_gap_ns: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """bench_msix.py's workload (every stage of the MSI-X path foldable, the sample
    included; issue 12 "Must hold"): folded and unfolded runs give the same hops at the
    same instants, the same books and the same final registers; folding takes entries off
    the heap."""
    def build() -> Machine:
        return _bench_machine(ncpus, mean_gap_ns)
    calls_f, figures_f, events_f, folded = _observe(build, True, monkeypatch)
    calls_u, figures_u, events_u, unfolded = _observe(build, False, monkeypatch)
    assert unfolded == 0 and folded > 0
    assert figures_f[1]["balanced"]
    assert calls_f == calls_u
    assert figures_f == figures_u
    assert events_f + folded == events_u


def test_an_idle_machine_folds_the_whole_msix_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Arrivals far apart on one CPU: each interrupt's sample, link arrival, APIC-bus
    delivery, acceptance and IRET tail all fold into its device event (one entry each)."""
    _, figures, _, folded = _observe(lambda: _bench_machine(1, 200_000.0), True,
                                          monkeypatch)
    delivered = figures[1]["delivered"]
    assert delivered == 160
    assert folded >= 0.95 * 5 * delivered     # (a few arrivals come within a path)


def _traced(build: Callable[[], Machine], fold: bool,
            monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], int]:
    """A traced run's every event (time, src, dst, kind, fields) and its folds."""
    monkeypatch.setattr(Engine, "FOLD", fold)
    m = build()
    assert m.ctx.tracer.on
    return m.ctx.tracer.to_jsonl().splitlines(), m.engine.folded


@pytest.mark.parametrize("name", ["seed002", "mixed", "vm-posted", "nic-10g"])
def test_traced_folded_and_unfolded_runs_give_the_same_trace(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Folding while tracing (issue 12: tracing on costs at most 1.5x): the structured
    trace, event by event with its instant, is that of the unfolded run."""
    def build() -> Machine:
        _, run = load_all()[name]
        return run(ScenarioOptions(requests=60, mean_gap_ns=4_000.0, seed=5,
                                   trace=True)).machine
    folded_trace, folded = _traced(build, True, monkeypatch)
    unfolded_trace, none = _traced(build, False, monkeypatch)
    assert none == 0 and folded > 0
    assert folded_trace == unfolded_trace


def test_traced_bench_workload_folds_with_the_same_trace(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """bench_msix.py's workload traced: the whole MSI-X path folds on an idle machine, and
    the trace is the unfolded run's."""
    def build() -> Machine:
        return _bench_machine(1, 200_000.0, trace=True)
    folded_trace, folded = _traced(build, True, monkeypatch)
    unfolded_trace, _ = _traced(build, False, monkeypatch)
    assert folded >= 0.95 * 5 * 160
    assert folded_trace == unfolded_trace
