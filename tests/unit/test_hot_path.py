"""The per-interrupt path's native forms (issue 12, session 5) keep the behaviour they
replace: the LAPIC's per-vector message slots follow IRR/ISR (semantics.md A.4, A.7: the
registers are the truth), the LAPIC reaches its core through the compiled ``CpuPort``, and
engine callbacks given as ``Fire`` objects run as the bound methods they stand for."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from irqsim.apic.lapic import CpuPort, LocalApic
from irqsim.fabric.tlp import Tlp, TlpType
from irqsim.sim.context import SimContext
from irqsim.sim.engine import Engine, Fire

ops = st.lists(st.one_of(st.tuples(st.just("accept"), st.integers(16, 255)),
                         st.just(("inta", 0)), st.just(("eoi", 0)), st.just(("reset", 0))),
               max_size=40)


def _enabled() -> LocalApic:
    a = LocalApic(SimContext(), 0)
    a.mmio_write(0xF0, 4, 0x1FF)           # SVR: software-enabled
    return a


@settings(max_examples=60, deadline=None)
@given(ops)
def test_message_slots_follow_irr_and_isr(program: list[tuple[str, int]]) -> None:
    """A.4/A.7 with each interrupt's message: the message accepted into IRR bit v (the first
    one: a later message merges) is the one INTA moves to ISR, EOI forgets it, a reset
    forgets all; a slot holds a message exactly while its IRR / ISR bit is set."""
    a = _enabled()
    pending: dict[int, Tlp] = {}
    in_service: dict[int, Tlp] = {}
    n = 0
    for op, v in program:
        if op == "accept":
            n += 1
            msg = Tlp(TlpType.MWR, 0x100, 0xFEE00000, v, 4)
            a.accept_fixed(v, False, msg)
            pending.setdefault(v, msg)
        elif op == "inta":
            got = a.inta()
            if got <= 0xFF:
                in_service[got] = pending.pop(got)
                assert a.isr_meta[got] is in_service[got]
        elif op == "eoi":
            got = a.eoi()
            if got >= 0:
                del in_service[got]
        else:
            a.reset()
            a.mmio_write(0xF0, 4, 0x1FF)
            pending.clear()
            in_service.clear()
        assert a.irr == sum(1 << w for w in pending)
        assert a.isr == sum(1 << w for w in in_service)
        for w in range(256):
            assert a.irr_meta[w] is pending.get(w)
            assert a.isr_meta[w] is in_service.get(w)


class _Port(CpuPort):
    """An interpreted core: the compiled LAPIC calls its overrides (INTR, IF)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.flag = True

    def intr_enabled(self) -> bool:
        return self.flag

    def intr(self) -> None:
        self.calls.append("intr")

    def intr_last(self) -> None:
        self.calls.append("intr_last")


def test_lapic_signals_an_interpreted_port() -> None:
    """A.6: an accepted vector above the PPR class asserts INTR at the core; with ``last``
    the caller's event ends there (``intr_last``); a vector at or below it does not, until
    the EOI that lowers the PPR (A.7)."""
    a = _enabled()
    port = _Port()
    a.cpu = port
    a.accept_fixed(0x40, False)
    assert port.calls == ["intr"]
    a.accept_fixed(0x51, False, last=True)
    assert port.calls == ["intr", "intr_last"]
    assert a.inta() == 0x51
    a.accept_fixed(0x52, False)             # class 5 in service: held
    assert port.calls == ["intr", "intr_last"]
    a.eoi()                                 # 0x51 done: 0x52 (class 5 > 0) is deliverable
    assert port.calls == ["intr", "intr_last", "intr"]


class _Record(Fire):
    def __init__(self, log: list[tuple[str, Any]], name: str) -> None:
        self.log = log
        self.name = name

    def fire(self, arg: Any) -> None:
        self.log.append((self.name, arg))


def _engines() -> list[Engine]:
    from irqsim.sim.engine_vec import VecEngine
    return [Engine(), VecEngine()]


def test_fire_callbacks_run_as_callables() -> None:
    """sim/engine.py contract with Fire callbacks beside plain ones: (time, seq) order, run
    and step, cancellation; a Fire called directly fires (both engines alike)."""
    results = []
    for e in _engines():
        log: list[tuple[str, Any]] = []
        e.at(5, _Record(log, "b"), 2)
        e.at(3, log.append, ("plain", 1))
        h = e.at(4, _Record(log, "gone"), 0)
        e.at(5, _Record(log, "c"), 3)
        e.cancel(h)
        assert e.step()
        e.run()
        _Record(log, "direct")(4)
        results.append(log)
    assert results[0] == results[1] == [("plain", 1), ("b", 2), ("c", 3), ("direct", 4)]
