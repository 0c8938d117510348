"""Priorities and acceptance as properties over TPR/ISR/IRR (semantics.md A.4-A.7; SDM 10.8.3).

Each property builds the LAPIC state through its interfaces (accept, INTA, TPR writes) and
checks the registers against the formulas written out here.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from apic_helpers import raw_machine, to_x2apic
from irqsim.apic.lapic import LocalApic
from irqsim.sim.context import SimContext

vectors = st.integers(16, 255)


def enabled_lapic() -> LocalApic:
    a = LocalApic(SimContext(), 0)
    a.mmio_write(0xF0, 4, 0x1FF)
    return a


def hi(x: int) -> int:
    return x.bit_length() - 1 if x else 0


def ppr_formula(tpr: int, isr: int) -> int:
    """A.5: TPR if TPR[7:4] >= ISRV[7:4], else ISRV[7:4] << 4."""
    isrv = hi(isr)
    return tpr if (tpr & 0xF0) >= (isrv & 0xF0) else isrv & 0xF0


def load(a: LocalApic, tpr: int, in_service: list[int], pending: list[int]) -> None:
    """ISR through accept + INTA (TPR 0 meanwhile), then IRR, then TPR."""
    a.mmio_write(0x80, 4, 0)
    for v in sorted(set(in_service)):
        a.accept_fixed(v, False)
        a.isr |= 1 << v                 # INTA order does not matter for the state under test
        a.irr &= ~(1 << v)
    for v in pending:
        a.accept_fixed(v, False)
    a.mmio_write(0x80, 4, tpr)


@given(st.integers(0, 255), st.lists(vectors, max_size=4), st.lists(vectors, max_size=4))
def test_ppr_and_deliverable(tpr: int, in_service: list[int], pending: list[int]) -> None:
    """PPR per A.5; the LAPIC offers IRRV iff (IRRV & 0xF0) > (PPR & 0xF0) (A.6)."""
    a = enabled_lapic()
    load(a, tpr, in_service, pending)
    ppr = ppr_formula(tpr, a.isr)
    assert a.mmio_read(0xA0) == ppr
    irrv = hi(a.irr)
    want = irrv if a.irr and (irrv & 0xF0) > (ppr & 0xF0) else -1
    assert a.deliverable() == want


@given(st.integers(0, 255), st.lists(vectors, max_size=4), st.lists(vectors, max_size=4))
def test_apr_formula(tpr: int, in_service: list[int], pending: list[int]) -> None:
    """APR = TPR if TPR[7:4] >= IRRV[7:4] and TPR[7:4] > ISRV[7:4], else
    max(TPR[7:4] AND ISRV[7:4], IRRV[7:4]) << 4 (SDM 10.8.3.1, literally; Bochs)."""
    a = enabled_lapic()
    load(a, tpr, in_service, pending)
    t, s, r = tpr >> 4, hi(a.isr) >> 4, hi(a.irr) >> 4
    want = tpr if t >= r and t > s else max(t & s, r) << 4
    assert a.mmio_read(0x90) == want


@given(st.integers(0, 255), st.lists(vectors, min_size=1, max_size=5))
def test_inta_takes_highest_deliverable_or_spurious(tpr: int, pending: list[int]) -> None:
    """INTA moves the highest deliverable IRR vector to ISR; with none, the spurious vector
    and no ISR change (A.4)."""
    a = enabled_lapic()
    load(a, tpr, [], pending)
    before_irr, d = a.irr, a.deliverable()
    v = a.inta()
    if d < 0:
        assert v == 0x1FF and a.isr == 0 and a.irr == before_irr
    else:
        assert v == hi(before_irr) and a.isr == 1 << v and a.irr == before_irr & ~(1 << v)


@given(st.lists(vectors, min_size=1, max_size=6))
def test_eoi_clears_highest_isr(in_service: list[int]) -> None:
    """EOI clears the highest set ISR bit, whatever was taken last (A.7)."""
    a = enabled_lapic()
    load(a, 0, in_service, [])
    isr = a.isr
    a.mmio_write(0xB0, 4, 0)
    assert a.isr == isr & ~(1 << hi(isr))


@given(vectors)
def test_same_class_does_not_preempt(v: int) -> None:
    """A higher vector of the in-service class is not deliverable (A.6 consequence)."""
    a = enabled_lapic()
    base = v & 0xF0
    if base < 0x10 or (v & 0xF) == 0:
        return
    load(a, 0, [base], [v])
    assert a.deliverable() == -1


@given(st.integers(2, 15), st.integers(0, 15))
def test_tpr_class_blocks_and_class_minus_one_unblocks(cls: int, sub: int) -> None:
    """TPR = class(V) blocks V; TPR = class(V) - 1 lets it through (A.6)."""
    a = enabled_lapic()
    v = cls << 4 | sub
    load(a, cls << 4, [], [v])
    assert a.deliverable() == -1
    a.mmio_write(0x80, 4, (cls - 1) << 4)
    assert a.deliverable() == v


@settings(max_examples=30)
@given(st.integers(0, 255), st.lists(vectors, max_size=3))
def test_x2apic_ppr_msr_matches(tpr: int, in_service: list[int]) -> None:
    """The x2APIC PPR MSR (0x80A) and TPR MSR (0x808) show the same A.5 values."""
    m = raw_machine(1)
    cpu, a = m.cpus[0], m.lapics[0]
    to_x2apic(cpu)
    for v in set(in_service):
        a.isr |= 1 << v
    assert cpu.wrmsr(0x808, tpr)
    assert cpu.rdmsr(0x80A) == ppr_formula(tpr, a.isr) and cpu.rdmsr(0x808) == tpr


def test_tmr_follows_trigger_mode_at_each_acceptance() -> None:
    """TMR[V] := trigger mode at every acceptance; EOI keeps it (A.4 [SIM])."""
    a = enabled_lapic()
    a.accept_fixed(0x50, True)
    assert a.tmr >> 0x50 & 1
    a.inta()
    a.mmio_write(0xB0, 4, 0)
    assert a.tmr >> 0x50 & 1
    a.accept_fixed(0x50, False)
    assert not a.tmr >> 0x50 & 1


def test_pending_and_in_service_at_once() -> None:
    """A vector can be in ISR and pending in IRR together; a third request merges (A.4)."""
    a = enabled_lapic()
    a.accept_fixed(0x60, False)
    a.inta()
    a.accept_fixed(0x60, False)
    a.accept_fixed(0x60, False)
    assert a.isr == a.irr == 1 << 0x60 and a.ctx.ledger.merged == 1
