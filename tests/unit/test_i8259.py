"""The 8259A PIC pair as a hardware block (Intel 8259A datasheet, order 231468; QEMU
hw/intc/i8259.c where the datasheet leaves a choice; PIIX3 ELCR)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from irqsim.apic.i8259 import PicPair
from irqsim.sim.accounting import DebugLedger, Reason
from irqsim.sim.context import SimContext
from irqsim.spec.i8259 import ELCR1, ELCR2, ICW1, ICW4, OCW2, OCW3
from irqsim.testbench import Code, TestBench

MCMD, MDATA, SCMD, SDATA = 0x20, 0x21, 0xA0, 0xA1


def pair(init: bool = True, elcr: int = 0) -> tuple[SimContext, PicPair]:
    """A pair initialised as Linux's init_8259A does (vectors 0x30/0x38, cascade on IR2),
    every line unmasked."""
    ctx = SimContext(ledger=DebugLedger())
    p = PicPair(ctx)
    if init:
        for port, v in ((MCMD, 0x11), (MDATA, 0x30), (MDATA, 0x04), (MDATA, 0x01),
                        (SCMD, 0x11), (SDATA, 0x38), (SDATA, 0x02), (SDATA, 0x01),
                        (MDATA, 0x00), (SDATA, 0x00)):
            p.io_write(port, 1, v)
    if elcr:
        p.io_write(ELCR1, 1, elcr & 0xFF)
        p.io_write(ELCR2, 1, elcr >> 8)
    return ctx, p


def ids(ctx: SimContext) -> list[str]:
    return [d.rule_id for d in ctx.diagnostics]


def ack(ctx: SimContext, p: PicPair) -> int:
    """The CPU's INTA; the interrupt answered is delivered."""
    v, _, iid = p.inta()
    if iid:
        ctx.ledger.deliver(iid, "CPU0")
    return v


def books(ctx: SimContext, p: PicPair) -> bool:
    led = ctx.ledger
    return (led.raised == led.delivered + led.merged + sum(led.dropped.values())
            + p.pending() + led.in_flight) and led.counters_ok()


def test_spec_command_word_layouts() -> None:
    """8259A datasheet figures: ICW1 bit 4 marks ICW1; OCW2 bits 4:3 = 00 and OCW3 = 01;
    ICW4 bit 0 uPM, bit 1 AEOI, bit 4 SFNM."""
    assert ICW1.mask("icw1") == 0x10 and ICW1.mask("ic4") == 0x01 and ICW1.mask("ltim") == 0x08
    assert OCW2.mask("ocw2") == 0x18 and OCW2.mask("eoi") == 0x20 and OCW2.mask("r") == 0x80
    assert OCW3.mask("ocw3") == 0x18 and OCW3.mask("rr") == 0x02 and OCW3.mask("esmm") == 0x40
    assert ICW4.mask("upm") == 0x01 and ICW4.mask("aeoi") == 0x02 and ICW4.mask("sfnm") == 0x10


def test_icw_sequence_sets_bases_cascade_and_clears_imr() -> None:
    """8259A "Initialization Command Words": ICW1 on the command port, then ICW2 (vector
    base T7-T3), ICW3 (master: slave inputs; slave: its ID), ICW4 on the data port; ICW1
    clears the IMR, and after ICW4 the data port is OCW1 (IMR, read back)."""
    ctx, p = pair(init=False)
    assert p.io_read(MDATA, 1) == 0xFF                   # firmware left every line masked
    p.io_write(MCMD, 1, 0x11)
    assert p.master.imr == 0 and p.master.init_state == 1
    for v in (0x30, 0x04, 0x01):
        p.io_write(MDATA, 1, v)
    assert p.master.base == 0x30 and p.master.icw3 == 0x04 and p.master.initialised
    p.io_write(MDATA, 1, 0xFB)
    assert p.io_read(MDATA, 1) == 0xFB
    assert ids(ctx) == []


def test_icw_misuse_diagnostics() -> None:
    """8259A ICW1/ICW2/ICW4: no IC4 (MCS-80/85 mode), ICW2 bits 2:0 set, a vector base in
    the exception range (SDM 6.2), an OCW before the sequence ends."""
    ctx, p = pair(init=False)
    p.io_write(MCMD, 1, 0x10)                            # ICW1 without IC4
    p.io_write(MCMD, 1, 0x11)
    p.io_write(MCMD, 1, 0x20)                            # OCW2 while ICW2 is expected
    p.io_write(MDATA, 1, 0x0B)                           # ICW2: base 0x08, low bits set
    assert {"PIC-ICW4-MODE", "PIC-ICW-SEQUENCE", "PIC-ICW2-LOW-BITS",
            "PIC-VECTOR-RESERVED"} <= set(ids(ctx))


def test_priority_fixed_then_rotated() -> None:
    """8259A "Fully Nested Mode": IR0 highest; an in-service IR blocks equal and lower
    ones; "Rotation": rotate on non-specific EOI makes the serviced IR the lowest."""
    ctx, p = pair()
    p.set_irq(3, 1, "a")
    p.set_irq(1, 1, "b")
    assert ack(ctx, p) == 0x31                          # IR1 beats IR3
    assert p.int_level == 0                              # IR3 is blocked by ISR1
    p.io_write(MCMD, 1, 0xA0)                            # rotate on non-specific EOI
    assert p.master.isr == 0 and p.master.priority_add == 2
    p.set_irq(1, 0, "b")
    p.set_irq(1, 1, "b")                                 # IR1 again: now below IR3
    assert ack(ctx, p) == 0x33
    assert books(ctx, p)


def test_cascade_slave_irq_via_master_ir2() -> None:
    """8259A "Cascade Mode": a slave request raises the master's IR2; INTA sets the
    master's ISR bit 2 and the slave's ISR bit, and the slave supplies the vector."""
    ctx, p = pair()
    p.set_irq(9, 1, "dev")
    assert p.int_level == 1
    assert ack(ctx, p) == 0x39
    assert p.master.isr == 1 << 2 and p.slave.isr == 1 << 1
    p.io_write(SCMD, 1, 0x61)                            # specific EOI IR1 to the slave
    p.io_write(MCMD, 1, 0x62)                            # specific EOI IR2 to the master
    assert p.master.isr == 0 and p.slave.isr == 0
    assert books(ctx, p)


def test_eoi_forms() -> None:
    """8259A OCW2: non-specific EOI resets the highest-priority ISR bit, specific EOI the
    one named; a non-specific EOI with ISR empty is reported."""
    ctx, p = pair()
    p.master.special_mask = True                         # let IR4 nest under IR5
    p.set_irq(5, 1, "a")
    ack(ctx, p)
    p.set_irq(4, 1, "b")
    ack(ctx, p)
    assert p.master.isr == 0x30
    p.io_write(MCMD, 1, 0x20)                            # non-specific: IR4 (highest)
    assert p.master.isr == 0x20
    p.io_write(MCMD, 1, 0x65)                            # specific: IR5
    assert p.master.isr == 0
    p.io_write(MCMD, 1, 0x20)
    assert "PIC-EOI-NOT-IN-SERVICE" in ids(ctx)


def test_spurious_irq7_when_request_goes_away_before_inta() -> None:
    """8259A datasheet: IR must stay high until the first INTA; otherwise the chip answers
    IR7 (spurious) without setting ISR. The level request that went away is dropped."""
    ctx, p = pair(elcr=1 << 5)
    p.set_irq(5, 1, "dev")
    assert p.pending() == 1
    p.set_irq(5, 0, "dev")                               # gone before the INTA
    assert ack(ctx, p) == 0x37
    assert p.master.isr == 0 and p.spurious == [1, 0]
    assert ctx.ledger.dropped[Reason.PIC_DEASSERTED] == 1
    assert books(ctx, p)


def test_spurious_irq15_sets_master_ir2_in_service() -> None:
    """A slave request gone before INTA: the slave answers IR7 (vector base + 7, IRQ 15)
    without ISR, while the master, which saw IR2, sets its ISR bit 2 (QEMU pic_read_irq)."""
    ctx, p = pair(elcr=1 << 12)
    p.set_irq(12, 1, "dev")
    p.set_irq(12, 0, "dev")         # gone at the slave; the master's edge IR2 stays latched
    assert p.int_level == 1
    assert ack(ctx, p) == 0x3F
    assert p.master.isr == 1 << 2 and p.slave.isr == 0 and p.spurious == [0, 1]
    assert books(ctx, p)


def test_elcr_level_line_stays_requested_and_is_delivered_again_after_eoi() -> None:
    """ELCR level mode: IRR follows the input, INTA leaves it set; a line still high when
    its ISR bit is cleared is a new request (counted as raised by the PIC)."""
    ctx, p = pair(elcr=1 << 10)
    p.set_irq(10, 1, "dev")
    assert ack(ctx, p) == 0x3A
    assert p.slave.irr >> 2 & 1                           # level: IRR not cleared by INTA
    raised = ctx.ledger.raised
    p.io_write(SCMD, 1, 0x62)
    p.io_write(MCMD, 1, 0x62)
    assert ctx.ledger.raised == raised + 1 and p.int_level == 1
    assert ack(ctx, p) == 0x3A
    assert books(ctx, p)


def test_edge_latches_and_merges_and_elcr_reserved_bits() -> None:
    """Edge mode: IRR latches the rising edge and holds it when the line falls; a second
    assertion while IRR is set is merged. ELCR bits of IRQ 0, 1, 2, 8, 13 are reserved."""
    ctx, p = pair()
    p.set_irq(4, 1, "a")
    p.set_irq(4, 0, "a")
    assert p.master.irr >> 4 & 1
    p.set_irq(4, 1, "a")
    assert ctx.ledger.merged == 1
    p.io_write(ELCR1, 1, 0x03)
    p.io_write(ELCR2, 1, 0x21)
    assert p.elcr == 0 and ids(ctx).count("PIC-ELCR-RESERVED") == 2
    assert books(ctx, p)


def test_ocw3_reads_irr_isr_poll_and_imr_masking() -> None:
    """OCW3: RR/RIS select IRR or ISR for command-port reads; the poll command answers
    0x80 | IR and acknowledges it; OCW1 masks a line without clearing its IRR bit."""
    ctx, p = pair()
    p.io_write(MDATA, 1, 1 << 6)
    p.set_irq(6, 1, "a")
    assert p.int_level == 0 and p.io_read(MCMD, 1) == 1 << 6
    p.io_write(MDATA, 1, 0)
    assert p.int_level == 1
    p.io_write(MCMD, 1, 0x0C)                            # poll
    assert p.io_read(MCMD, 1) == 0x86
    p.io_write(MCMD, 1, 0x0B)
    assert p.io_read(MCMD, 1) == 1 << 6                  # ISR
    assert books(ctx, p)


def test_icw1_drops_latched_edge_requests() -> None:
    """ICW1 resets the edge-sense latches: a pending edge request is lost (counted)."""
    ctx, p = pair()
    p.io_write(MDATA, 1, 0xFF)
    p.set_irq(3, 1, "a")
    p.io_write(MCMD, 1, 0x11)
    assert p.pending() == 0 and ctx.ledger.dropped[Reason.PIC_INIT_RESET] == 1
    assert books(ctx, p)


_OPS = st.lists(st.one_of(
    st.tuples(st.just("irq"), st.sampled_from([0, 1, 3, 4, 5, 7, 8, 9, 12, 15]),
              st.integers(0, 1)),
    st.tuples(st.just("inta"), st.just(0), st.just(0)),
    st.tuples(st.just("eoi"), st.sampled_from([0x20, 0xA0]), st.sampled_from(
        [0x20, 0x60, 0x61, 0x62, 0x63, 0x67, 0xA0, 0xE2, 0xC3])),
    st.tuples(st.just("imr"), st.sampled_from([0x21, 0xA1]), st.integers(0, 255)),
    st.tuples(st.just("ocw3"), st.sampled_from([0x20, 0xA0]), st.sampled_from(
        [0x0A, 0x0B, 0x48, 0x68])),
), max_size=40)


@settings(max_examples=60, deadline=None)
@given(elcr=st.integers(0, 0xFFFF), ops=_OPS)
def test_property_irr_isr_imr_invariants(elcr: int, ops: list[tuple[str, int, int]]) -> None:
    """For any sequence of inputs, INTAs, EOIs, masks and OCW3s (8259A datasheet): the
    registers stay 8-bit; every pending interrupt is an IRR bit; INT is high exactly when
    priority resolution finds a request; the slave's INT is the master's IR2 input; the
    books balance (raised = delivered + merged + dropped + pending)."""
    ctx, p = pair(elcr=elcr)
    for op, a, b in ops:
        if op == "irq":
            p.set_irq(a, b, "src")
        elif op == "inta":
            ack(ctx, p)
        elif op == "eoi":
            p.io_write(a, 1, b)
        else:
            p.io_write(a, 1, b)
        for chip in (p.master, p.slave):
            assert 0 <= chip.irr < 256 and 0 <= chip.isr < 256 and 0 <= chip.imr < 256
        assert p.req & ~p.irr() == 0
        assert p.int_level == (1 if p.master.get_irq() >= 0 else 0)
        assert (p.master.last_irr >> 2 & 1) == (1 if p.slave.get_irq() >= 0 else 0)
        assert p.elcr & 0x2107 == 0
        assert books(ctx, p)


def test_auto_eoi_sets_no_isr_and_rotates() -> None:
    """8259A ICW4 AEOI: the chip performs a non-specific EOI at the end of the INTA
    sequence (ISR never set); with rotate-in-AEOI set (OCW2 R SL EOI = 100) the IR just
    served becomes the lowest priority."""
    ctx, p = pair(init=False)
    for port, v in ((MCMD, 0x11), (MDATA, 0x30), (MDATA, 0x04), (MDATA, 0x03),
                    (SCMD, 0x11), (SDATA, 0x38), (SDATA, 0x02), (SDATA, 0x03),
                    (MDATA, 0x00), (SDATA, 0x00)):
        p.io_write(port, 1, v)
    p.io_write(MCMD, 1, 0x80)                            # set rotate in AEOI
    p.set_irq(1, 1, "a")
    assert ack(ctx, p) == 0x31
    assert p.master.isr == 0 and p.master.priority_add == 2
    assert books(ctx, p)


# -- on the test bench: ExtINT at the CPU, no OS (SDM 10.5.1, MP spec 3.6.2.2) -----------------
def _bench_with_pic(lint0: int) -> tuple[TestBench, list[tuple[int, int]]]:
    tb = TestBench(cpus=1, pic=True)
    taken: list[tuple[int, int]] = []

    def program(c: Code) -> None:
        for port, v in ((MCMD, 0x11), (MDATA, 0x30), (MDATA, 0x04), (MDATA, 0x01),
                        (SCMD, 0x11), (SDATA, 0x38), (SDATA, 0x02), (SDATA, 0x01),
                        (MDATA, 0xF3), (SDATA, 0xFF)):  # IR2 (cascade), IR3 open
            c.outb(port, v)
        c.apic_write(0xF0, 0x1FF)
        c.apic_write(0x350, lint0)

    def handler(code: Code) -> None:
        taken.append((code.vector, code.cpu.lapic.isr))
        code.outb(MCMD, 0x20)

    tb.handle(0x33, handler, eoi=False)                   # no LAPIC EOI for an ExtINT
    tb.run_on(0, program)
    return tb, taken


def test_bench_extint_via_lint0_takes_the_8259_vector_without_lapic_isr() -> None:
    """LINT0 = ExtINT unmasked: the 8259's INT reaches the core, whose INTA the 8259
    answers (ICW2 base + IR); the LAPIC's IRR/ISR are not involved (SDM 10.5.1)."""
    tb, taken = _bench_with_pic(0x700)
    tb.machine.isa_irq(3, 1, "dev")
    summary = tb.run()
    assert taken == [(0x33, 0)]
    assert summary.accounting["balanced"]


def test_bench_lint0_masked_blocks_and_hw_disabled_apic_passes_the_8259_through() -> None:
    """LINT0 masked: no ExtINT. With the APIC hardware-disabled (IA32_APIC_BASE.EN = 0)
    the 8259's INT is the core's INTR directly (semantics.md A.8, QEMU
    apic_accept_pic_intr)."""
    tb, taken = _bench_with_pic(0x10700)
    m = tb.machine
    m.isa_irq(3, 1, "dev")
    tb.run()
    assert taken == [] and m.pic.pending() == 1
    tb.run_on(0, lambda c: c.wrmsr(0x1B, 0))
    tb.run()
    assert taken == [(0x33, 0)] and m.accounting()["balanced"]


def test_bench_extint_via_ioapic_pin0_message() -> None:
    """I/O APIC RTE 0 in ExtINT mode (the virtual wire through the I/O APIC): the 8259's
    INT on pin 0 becomes an ExtINT message; the target core's INTA goes to the 8259."""
    tb, taken = _bench_with_pic(0x10700)
    m = tb.machine
    io = m.ioapic
    io.write_register(0x11, 0)
    io.write_register(0x10, 0x700)                        # ExtINT, edge, unmasked, APIC 0
    m.isa_irq(3, 1, "dev")
    summary = tb.run()
    assert taken == [(0x33, 0)] and io.messages == 1
    assert summary.accounting["balanced"] and summary.accounting["merged"] == 1
