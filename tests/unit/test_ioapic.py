"""The I/O APIC: register interface (IOREGSEL/IOWIN), redirection entries, edge and level
input handling, Remote IRR, EOI, messages (semantics.md B; Intel 82093AA datasheet)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from intx_helpers import (
    balanced,
    bare_machine,
    install_handler,
    reg_read,
    reg_write,
    rte_low,
    rte_read,
    rte_write,
    sw,
)
from irqsim.apic.interconnect import ApicBus
from irqsim.apic.ioapic import (
    DELIVERY_STATUS,
    IOEOI,
    IOREDTBL,
    IOREGSEL,
    IOWIN,
    REMOTE_IRR,
    IoApic,
)
from irqsim.os.irq import IRQ_HANDLED, IRQ_NONE
from irqsim.sim.context import SimContext

EDGE_HIGH = 0x00000            # edge, active high, unmasked, fixed, physical
LEVEL_HIGH = 0x08000
LEVEL_LOW = 0x0A000
MASK = 0x10000


def test_id_register_only_bits_27_24_writable() -> None:
    """B.1: IOAPICID bits 27:24 are the only writable bits; others read 0 (diagnostic)."""
    m = bare_machine()
    reg_write(m, 0x00, 0xFFFFFFFF)
    assert reg_read(m, 0x00) == 0x0F000000
    assert any(d.rule_id == "IOAPIC-ID-RESERVED" for d in m.ctx.diagnostics)
    n = len(m.ctx.diagnostics)
    reg_write(m, 0x00, 0x05000000)
    assert reg_read(m, 0x00) == 0x05000000 and len(m.ctx.diagnostics) == n


def test_version_and_arbitration_are_read_only() -> None:
    """B.1: version 0x20 with max redirection entry 23 reads 0x00170020; arbitration ID
    reads ID << 24; writes to either are ignored with a diagnostic."""
    m = bare_machine()
    assert reg_read(m, 0x01) == 0x00170020
    reg_write(m, 0x01, 0)
    assert reg_read(m, 0x01) == 0x00170020
    reg_write(m, 0x00, 0x03000000)
    assert reg_read(m, 0x02) == 0x03000000
    reg_write(m, 0x02, 0)
    assert reg_read(m, 0x02) == 0x03000000
    ro = [d.message for d in m.ctx.diagnostics if d.rule_id == "IOAPIC-READ-ONLY"]
    assert len(ro) == 2 and "IOAPICVER" in ro[0] and "IOAPICARB" in ro[1]


def test_reset_entries_are_masked_and_undefined_index_reads_zero() -> None:
    """B.1: every RTE resets to 0x0000000000010000; an undefined index reads 0."""
    m = bare_machine()
    assert all(rte_read(m, p) == 0x10000 for p in range(24))
    assert reg_read(m, 0x10 + 48) == 0
    assert any(d.rule_id == "IOAPIC-BAD-INDEX" for d in m.ctx.diagnostics)


def test_ioregsel_reads_back_and_iowin_is_32_bit() -> None:
    """B.1: IOREGSEL reads back the last index; IOWIN accesses that are not 32-bit are
    ignored (QEMU), with a diagnostic."""
    m = bare_machine()
    k = m.kernel
    sw(m, lambda: k.writel(0xFEC00000 + IOREGSEL, 0x12))
    assert sw(m, lambda: k.readl(0xFEC00000 + IOREGSEL)) == 0x12
    assert sw(m, lambda: k.readw(0xFEC00000 + IOWIN)) == 0
    sw(m, lambda: k.writew(0xFEC00000 + IOWIN, 0x40))
    assert rte_read(m, 1) == 0x10000
    assert sum(d.rule_id == "IOAPIC-IOWIN-SIZE" for d in m.ctx.diagnostics) == 2


RO_BITS = DELIVERY_STATUS | REMOTE_IRR


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 23), st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFFFFFF))
def test_rte_write_masks_follow_the_declaration(pin: int, low: int, high: int) -> None:
    """B.2: a write keeps the RO bits (delivery status, Remote IRR), drops reserved bits
    47:17 (diagnostic named after the rule) and stores every RW field; Delivery Status is
    set exactly while a delivery is under way."""
    ctx = SimContext()
    io = IoApic(ctx, ApicBus(ctx))
    old = io.rte[pin]
    io.mmio_write(IOREGSEL, 4, 0x11 + 2 * pin)
    io.mmio_write(IOWIN, 4, high)
    io.mmio_write(IOREGSEL, 4, 0x10 + 2 * pin)
    io.mmio_write(IOWIN, 4, low)
    value = low | high << 32
    want = (old & ~IOREDTBL.wmask) | (value & IOREDTBL.wmask)
    got = io.rte[pin]
    assert (got ^ want) & ~DELIVERY_STATUS == 0
    assert bool(got & DELIVERY_STATUS) == bool(io.sched >> pin & 1)
    assert got & IOREDTBL.reserved_mask == 0
    reserved_written = bool(value & IOREDTBL.reserved_mask)
    assert reserved_written == any(d.rule_id.startswith("IOAPIC-RTE-RESERVED")
                                   for d in ctx.diagnostics)
    io.mmio_write(IOREGSEL, 4, 0x10 + 2 * pin)
    assert io.mmio_read(IOWIN, 4) == got & 0xFFFFFFFF


def test_edge_entry_delivers_on_rising_edges_only() -> None:
    """B.3 [SIM]: an edge-triggered pin delivers on 0->1 transitions only."""
    m = bare_machine()
    calls = []
    install_handler(m, 0x40, lambda: calls.append(m.now) or IRQ_HANDLED)
    rte_write(m, 5, 0x40 | EDGE_HIGH)
    m.ioapic.set_pin(5, 1)
    m.run()
    m.ioapic.set_pin(5, 1)
    m.run()
    assert len(calls) == 1
    m.ioapic.set_pin(5, 0)
    m.ioapic.set_pin(5, 1)
    m.run()
    assert len(calls) == 2
    assert not m.lapics[0].tmr >> 0x40 & 1          # edge: TMR clear
    assert balanced(m)


def test_masked_edge_is_lost() -> None:
    """B.3: an edge that finds its entry masked is lost; unmasking delivers nothing."""
    m = bare_machine()
    calls = []
    install_handler(m, 0x40, lambda: calls.append(1) or IRQ_HANDLED)
    rte_write(m, 5, 0x40 | EDGE_HIGH | MASK)
    m.ioapic.set_pin(5, 1)
    m.run()
    rte_low(m, 5, 0x40 | EDGE_HIGH)
    m.run()
    assert calls == []
    assert m.ctx.ledger.dropped["masked edge lost"] == 1
    assert balanced(m)


def test_level_sets_remote_irr_and_redelivers_while_asserted() -> None:
    """B.3: a level delivery sets Remote IRR (and TMR at the LAPIC); the EOI broadcast
    clears it; a line still asserted then is delivered again."""
    m = bare_machine()
    seen = []

    def handler() -> int:
        seen.append((rte_read(m, 3) >> 14 & 1, m.lapics[0].tmr >> 0x41 & 1))
        if len(seen) == 2:
            m.ioapic.set_pin(3, 0)           # the device is serviced the second time
        return IRQ_HANDLED
    install_handler(m, 0x41, handler)
    rte_write(m, 3, 0x41 | LEVEL_HIGH)
    m.ioapic.set_pin(3, 1)
    m.run()
    assert seen == [(1, 1), (1, 1)]
    assert not rte_read(m, 3) & REMOTE_IRR
    assert m.ioapic.eois == 2
    assert balanced(m)


def test_level_assertions_coalesce_while_remote_irr_set() -> None:
    """B.3: while Remote IRR is set, a new assertion sends no message; the EOI delivers it
    once."""
    m = bare_machine()
    calls = []

    def handler() -> int:
        calls.append(m.ioapic.eois)
        m.ioapic.set_pin(3, 0)
        if len(calls) == 1:
            m.ioapic.set_pin(3, 1)           # asserted again before the EOI
            assert m.ioapic.messages == 1 and m.ioapic.sched == 0
        return IRQ_HANDLED
    install_handler(m, 0x41, handler)
    rte_write(m, 3, 0x41 | LEVEL_HIGH)
    m.ioapic.set_pin(3, 1)
    m.run()
    assert calls == [0, 1] and m.ioapic.messages == 2       # the second after the EOI
    assert balanced(m)


def test_masked_level_is_held_then_delivered_on_unmask() -> None:
    """B.3: a masked level line keeps IRR; it is pending (accounting) and delivered when
    the entry is unmasked."""
    m = bare_machine()
    calls = []
    install_handler(m, 0x42, lambda: (calls.append(1), m.ioapic.set_pin(7, 0))[0] or
                    IRQ_HANDLED)
    rte_write(m, 7, 0x42 | LEVEL_HIGH | MASK)
    m.ioapic.set_pin(7, 1)
    m.run()
    assert calls == [] and m.accounting()["pending"]["ioapic"] == 1 and balanced(m)
    rte_low(m, 7, 0x42 | LEVEL_HIGH)
    m.run()
    assert calls == [1] and m.accounting()["pending"]["ioapic"] == 0
    assert balanced(m)


def test_level_deasserted_while_masked_is_dropped() -> None:
    """B.3: line low clears IRR; a request held by a mask dies with it."""
    m = bare_machine()
    rte_write(m, 7, 0x42 | LEVEL_HIGH | MASK)
    m.ioapic.set_pin(7, 1)
    m.run()
    m.ioapic.set_pin(7, 0)
    m.run()
    assert m.ctx.ledger.dropped["INTx deasserted while pending"] == 1
    assert balanced(m)


def test_active_low_polarity() -> None:
    """B.2 [SIM]: the pin is asserted when its level differs from the polarity bit: an
    active-low entry fires when the input goes low."""
    m = bare_machine()
    calls = []
    m.ioapic.set_pin(9, 1)                          # idle high
    install_handler(m, 0x43, lambda: (calls.append(1), m.ioapic.set_pin(9, 1))[0] or
                    IRQ_HANDLED)
    rte_write(m, 9, 0x43 | LEVEL_LOW)
    m.run()
    assert calls == []
    m.ioapic.set_pin(9, 0)
    m.run()
    assert calls == [1] and balanced(m)


def test_writing_edge_trigger_clears_remote_irr() -> None:
    """B.2: writing an entry with trigger mode edge clears Remote IRR (QEMU, KVM)."""
    m = bare_machine()
    m.cpus[0].cli()                                # keep the interrupt in IRR
    rte_write(m, 3, 0x41 | LEVEL_HIGH)
    m.ioapic.set_pin(3, 1)
    m.run()
    assert rte_read(m, 3) & REMOTE_IRR
    rte_low(m, 3, 0x41 | LEVEL_HIGH | MASK)         # level rewrite keeps it
    assert rte_read(m, 3) & REMOTE_IRR
    rte_low(m, 3, 0x41 | EDGE_HIGH | MASK)
    assert not rte_read(m, 3) & REMOTE_IRR


def test_eoi_register_clears_remote_irr_of_matching_level_entries() -> None:
    """B.1/B.3: a write of the vector to the EOI register (version 0x20) clears Remote IRR
    of level entries with that vector only; edge entries are not examined."""
    m = bare_machine()
    m.cpus[0].cli()
    rte_write(m, 3, 0x41 | LEVEL_HIGH)
    rte_write(m, 4, 0x42 | LEVEL_HIGH)
    m.ioapic.set_pin(3, 1)
    m.ioapic.set_pin(4, 1)
    m.run()
    m.ioapic.set_pin(3, 0)
    sw(m, lambda: m.kernel.writel(0xFEC00000 + IOEOI, 0x41))
    assert not rte_read(m, 3) & REMOTE_IRR
    assert rte_read(m, 4) & REMOTE_IRR


def test_version_11_has_no_eoi_register() -> None:
    """B.1: the EOI register exists only from version 0x20; a write is ignored."""
    ctx = SimContext()
    io = IoApic(ctx, ApicBus(ctx), version=0x11)
    io.rte[2] = 0x8041 | REMOTE_IRR
    io.mmio_write(IOEOI, 4, 0x41)
    assert io.rte[2] & REMOTE_IRR
    assert any(d.rule_id == "IOAPIC-NO-EOI-REGISTER" for d in ctx.diagnostics)
    io.mmio_write(IOREGSEL, 4, 1)
    assert io.mmio_read(IOWIN, 4) == 0x00170011


def test_delivery_status_while_the_message_is_under_way() -> None:
    """B.2 / 82093AA: Delivery Status reads 1 between the assertion and the LAPIC's
    acceptance of the message, 0 otherwise."""
    m = bare_machine()
    install_handler(m, 0x40, lambda: IRQ_HANDLED)
    rte_write(m, 5, 0x40 | EDGE_HIGH)
    m.ioapic.set_pin(5, 1)
    m.run(until=m.now + m.ctx.timing.ioapic_processing + 1)
    assert rte_read(m, 5) & DELIVERY_STATUS
    m.run()
    assert not rte_read(m, 5) & DELIVERY_STATUS


def test_reserved_delivery_mode_is_diagnosed() -> None:
    """B.2: delivery modes 011 and 110 are reserved."""
    m = bare_machine()
    rte_write(m, 1, 0x341 | MASK)
    assert any(d.rule_id == "IOAPIC-RTE-DELIVERY-MODE" for d in m.ctx.diagnostics)


def test_message_format_physical_and_logical() -> None:
    """B.4: address 0xFEE00000 | dest << 12 | ext << 4 | DM << 2; data vector | mode << 8 |
    trigger << 15 (and the assert bit 14 for level)."""
    ctx = SimContext()
    io = IoApic(ctx, ApicBus(ctx))
    io.rte[0] = 0x41 | 1 << 8 | LEVEL_HIGH | 1 << 11 | 0x0C << 56 | 0x10 << 48
    assert io.message(0) == (0xFEE0C000 | 0x100 | 4, 0x41 | 0x100 | 0x8000 | 0x4000)
    io.rte[1] = 0x30 | 3 << 56
    assert io.message(1) == (0xFEE03000, 0x30)


def test_physical_and_logical_destinations_reach_the_right_cpu() -> None:
    """B.4 + A.11: a physical RTE destination selects the APIC ID; a logical one (flat
    model) every APIC whose LDR bit matches."""
    m = bare_machine(ncpus=2)
    for i in range(2):
        sw(m, lambda i=i: m.cpus[i].write(m.cpus[i].apic_base + 0xD0, 4, 1 << (24 + i)),
           cpu=i)
    got = []
    for cpu in range(2):
        install_handler(m, 0x50, lambda c=cpu: got.append(c) or IRQ_HANDLED, cpu=cpu,
                        irq=200 + cpu)
    rte_write(m, 1, 0x50 | EDGE_HIGH, 1 << 24)            # physical APIC ID 1
    m.ioapic.set_pin(1, 1)
    m.run()
    rte_write(m, 2, 0x50 | EDGE_HIGH | 1 << 11, 1 << 24)  # logical MDA 0x01: LDR bit 0
    m.ioapic.set_pin(2, 1)
    m.run()
    assert got == [1, 0] and balanced(m)


def test_unclaimed_level_interrupt_counts_unhandled() -> None:
    """Linux note_interrupt: a handler returning IRQ_NONE counts an unhandled interrupt."""
    m = bare_machine()
    desc = install_handler(m, 0x41, lambda: (m.ioapic.set_pin(3, 0), IRQ_NONE)[1])
    rte_write(m, 3, 0x41 | LEVEL_HIGH)
    m.ioapic.set_pin(3, 1)
    m.run()
    assert desc.unhandled == 1 and balanced(m)


def test_lowest_priority_logical_goes_to_one_cpu() -> None:
    """B.2 delivery mode 001 with a logical destination: exactly one of the matching APICs
    (lowest TPR, then lowest ID: semantics.md A.11 [SIM]) receives it."""
    m = bare_machine(ncpus=2)
    for i in range(2):
        sw(m, lambda i=i: m.cpus[i].write(m.cpus[i].apic_base + 0xD0, 4, 1 << (24 + i)),
           cpu=i)
    sw(m, lambda: m.cpus[0].write(m.cpus[0].apic_base + 0x80, 4, 0x20))   # CPU0 TPR 0x20
    got = []
    for cpu in range(2):
        install_handler(m, 0x50, lambda c=cpu: got.append(c) or IRQ_HANDLED, cpu=cpu,
                        irq=200 + cpu)
    rte_write(m, 4, 0x50 | 1 << 8 | 1 << 11 | EDGE_HIGH, 0x03 << 24)
    m.ioapic.set_pin(4, 1)
    m.run()
    assert got == [1] and balanced(m)
