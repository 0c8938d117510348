"""Event folding (issue 12 How 1) changes no result: the differential test.

A stage that is the last step of its event may run the next stage at once when that entry
would be the engine's next one anyway (``Engine.ahead``: the root complex's delivery to the
APIC bus, a handler's IRET tail). Every built-in scenario is run folded and unfolded
(``Engine.FOLD``), tracing off, and compared bit for bit: every trace-point call in order
(device events, sends, root complex, IRR set, acceptance, handler entry, EOI, settled...,
with their instants), latency histograms, accounting, /proc/interrupts, CPU time, end time,
diagnostics and the final register state of every LAPIC, CPU, I/O APIC and PCI function.
"""

from __future__ import annotations

from typing import Any

import pytest

from irqsim.machine import Machine
from irqsim.scenarios import ScenarioOptions, load_all
from irqsim.sim import probe
from irqsim.sim.engine import Engine

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
    monkeypatch.setattr(Engine, "FOLD", fold)
    calls: list[tuple[Any, ...]] = []

    def logged(self: probe.TracePoints) -> None:
        _MADE(self)
        for tp in self:
            tp.subscribe(lambda *args, _n=tp.name: calls.append((_n, *map(_plain, args))))

    monkeypatch.setattr(probe.TracePoints, "__init__", logged)
    _, run = load_all()[name]
    m = run(ScenarioOptions(requests=60, mean_gap_ns=4_000.0, seed=5, trace=False)).machine
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


def test_tracing_on_does_not_fold() -> None:
    """With the structured tracer on, every stage stays an entry of its own (the golden
    event counts are taken traced)."""
    from helpers import nic_machine

    m, nics, _ = nic_machine(queues=1, handler_ns=100, trace=True)
    nics[0].rx(0)
    m.run()
    assert m.engine.folded == 0
    m2, nics2, _ = nic_machine(queues=1, handler_ns=100, trace=False)
    nics2[0].rx(0)
    m2.run()
    # The link's arrival at the root port, the APIC-bus delivery, the acceptance and the
    # IRET tail (the MSI-X sample is not: rx is called from the top level, not an event).
    assert m2.engine.folded == 4
    assert m2.engine.events_run + 4 == m.engine.events_run
