"""The Local APIC behaviour the seed flow relies on: SDM 10.8.3-10.8.5, semantics.md A.4-A.9."""

from hypothesis import given
from hypothesis import strategies as st

from irqsim.apic.lapic import ESR_RECV_ILLEGAL_VECTOR, LocalApic
from irqsim.sim.context import SimContext


def lapic() -> LocalApic:
    a = LocalApic(SimContext(), 0)
    a.mmio_write(0xF0, 4, 0x1FF)        # software enable
    return a


@given(st.integers(0, 255), st.integers(0, (1 << 256) - 1))
def test_ppr_formula(tpr: int, isr: int) -> None:
    """PPR = TPR if TPR[7:4] >= ISRV[7:4], else ISRV[7:4] << 4 (A.5)."""
    a = lapic()
    a.tpr = tpr
    a.isr = isr & ~0xFFFF
    isrv = a.isr.bit_length() - 1 if a.isr else 0
    want = tpr if (tpr & 0xF0) >= (isrv & 0xF0) else isrv & 0xF0
    assert a.ppr == want and a.mmio_read(0xA0) == want


@given(st.integers(16, 255), st.integers(0, 255))
def test_acceptance_needs_class_above_ppr(vector: int, tpr: int) -> None:
    """Deliverable iff (IRRV & 0xF0) > (PPR & 0xF0) (A.6)."""
    a = lapic()
    a.tpr = tpr
    a.accept_fixed(vector, False)
    assert (a.deliverable() == vector) == ((vector & 0xF0) > (tpr & 0xF0))


def test_inta_moves_irr_to_isr_and_eoi_clears_the_highest() -> None:
    """INTA: IRR->ISR; EOI clears the highest ISR bit, whatever was taken last (A.4, A.7)."""
    a = lapic()
    a.accept_fixed(0x41, False)
    assert a.inta() == 0x41
    a.accept_fixed(0x91, False)
    assert a.inta() == 0x91
    assert a.isr == (1 << 0x41) | (1 << 0x91) and a.irr == 0
    a.mmio_write(0xB0, 4, 0)
    assert a.isr == 1 << 0x41
    a.mmio_write(0xB0, 4, 0)
    assert a.isr == 0
    a.mmio_write(0xB0, 4, 0)            # EOI with empty ISR: no-op
    assert a.isr == 0


def test_isr_irr_tmr_registers_are_32bit_slices() -> None:
    """ISR/TMR/IRR[n] at 0x100/0x180/0x200 + 0x10*n expose bits 32n..32n+31."""
    a = lapic()
    a.accept_fixed(0x21, True)
    assert a.mmio_read(0x210) == 1 << 1 and a.mmio_read(0x190) == 1 << 1
    a.inta()
    assert a.mmio_read(0x110) == 1 << 1 and a.mmio_read(0x210) == 0


@given(st.integers(0, 15))
def test_vectors_0_to_15_are_illegal(vector: int) -> None:
    """Receive illegal vector: dropped, ESR bit 6 after the ESR write latch (A.9, [SIM])."""
    a = lapic()
    assert not a.accept_fixed(vector, False)
    assert a.irr == 0
    assert a.mmio_read(0x280) == 0          # latched only on write
    a.mmio_write(0x280, 4, 0)
    assert a.mmio_read(0x280) & ESR_RECV_ILLEGAL_VECTOR


def test_software_disabled_apic_drops_fixed_interrupts() -> None:
    """SVR bit 8 clear: fixed interrupts are not accepted ([SIM] = KVM, semantics.md F)."""
    a = LocalApic(SimContext(), 0)
    assert not a.accept_fixed(0x40, False) and a.irr == 0
    assert a.ctx.ledger.dropped["apic software-disabled"] == 1


def test_spurious_vector_when_nothing_deliverable_at_inta() -> None:
    """INTA with no deliverable IRR vector returns the spurious vector, sets no ISR bit."""
    a = lapic()
    a.accept_fixed(0x45, False)
    a.tpr = 0x50
    v = a.inta()
    assert v & 0xFF == 0xFF and v > 0xFF and a.isr == 0
