"""MSI-X capability, table and PBA (PCIe Base 7.7.2 / PCI 3.0 6.8.2; semantics.md C.2; seed 004).

Software touches the table only through memory writes that the BAR decodes
(Kernel.writel -> CPU -> root complex -> root port window -> function BAR).
"""

import pytest

from helpers import balanced, nic_machine, pba_addr, table_addr
from irqsim.spec.msi import msi_address, msi_data


def setup(queues: int = 2, **kw):  # type: ignore[no-untyped-def]
    m, nics, drv = nic_machine(queues=queues, **kw)
    return m, nics[0], drv, m.kernel


def test_reset_state_all_entries_masked_and_pba_clear() -> None:
    """After reset every Vector Control mask bit is set and the PBA is 0 (C.2 reset)."""
    from irqsim.devices.nic import MultiQueueNic
    from irqsim.sim.context import SimContext
    nic = MultiQueueNic(SimContext(), 8)
    assert all(nic.msix.table[4 * k + 3] == 1 for k in range(8))
    assert nic.msix.pba == 0 and not nic.msix.enabled and not nic.msix.function_masked
    assert nic.config.read(nic.msix.offset + 2, 2) & 0x7FF == 7   # Table Size is N-1


def test_setup_programs_entries_through_the_bar() -> None:
    """After set-up each entry holds 0xFEE00000|APIC ID<<12, the vector, and is unmasked."""
    m, nic, drv, k = setup(queues=3)
    for i in range(3):
        desc = k.irqs[k.pci_irq_vector(drv.pdevs[0], i)]
        assert k.readl(table_addr(m, nic, i, 0)) == msi_address(0)
        assert k.readl(table_addr(m, nic, i, 2)) == msi_data(desc.vector)
        assert k.readl(table_addr(m, nic, i, 3)) == 0
    assert nic.msix.enabled and not nic.msix.function_masked
    assert nic.config.read(0x04, 2) & (1 << 10)           # INTx disabled (seed 004 step 7)


def test_unmasked_vector_delivers_once() -> None:
    """Vector not masked: the device posts one memory write and the handler runs once."""
    m, nic, drv, k = setup()
    nic.rx(1)
    m.run()
    assert [c.irq for c in drv.calls] == [k.pci_irq_vector(drv.pdevs[0], 1)]
    assert nic.msix.pba == 0 and balanced(m)


def test_per_vector_mask_sets_pending_bit_and_unmask_delivers() -> None:
    """Seed 000 'Vector Masked': set Pending bit; clearing the mask sends once and clears it."""
    m, nic, drv, k = setup()
    k.writel(table_addr(m, nic, 1, 3), 1)
    nic.rx(1)
    m.run()
    assert drv.calls == []
    assert k.readl(pba_addr(m, nic)) == 0b10
    assert m.accounting()["pending"]["pba"] == 1 and balanced(m)
    k.writel(table_addr(m, nic, 1, 3), 0)
    m.run()
    assert len(drv.calls) == 1 and k.readl(pba_addr(m, nic)) == 0 and balanced(m)


def test_function_mask_pends_all_and_clearing_it_delivers_each_pending_vector() -> None:
    """Function Mask masks every vector; clearing it sends every pending vector once (C.2)."""
    m, nic, drv, k = setup(queues=3)
    cap = nic.msix.offset
    pd = drv.pdevs[0]
    ctrl = k.cfg_read(pd.bus, pd.devfn, cap + 2, 2)
    k.cfg_write(pd.bus, pd.devfn, cap + 2, 2, ctrl | 0x4000)
    for q in (0, 2, 2):
        nic.rx(q)
    m.run()
    assert drv.calls == [] and nic.msix.pba == 0b101
    assert m.ctx.ledger.merged == 1 and balanced(m)
    k.cfg_write(pd.bus, pd.devfn, cap + 2, 2, ctrl & ~0x4000)
    m.run()
    assert sorted(c.irq for c in drv.calls) == sorted(
        k.pci_irq_vector(pd, i) for i in (0, 2))
    assert nic.msix.pba == 0 and balanced(m)


def test_nothing_is_sent_while_msix_is_disabled() -> None:
    """MSI-X Enable clear: the function is masked; events pend and are sent on enable (C.2)."""
    m, nic, drv, k = setup()
    pd = drv.pdevs[0]
    cap = nic.msix.offset
    ctrl = k.cfg_read(pd.bus, pd.devfn, cap + 2, 2)
    k.cfg_write(pd.bus, pd.devfn, cap + 2, 2, ctrl & ~0x8000)
    nic.rx(0)
    m.run()
    assert drv.calls == [] and m.rc.interrupt_writes == 0 and nic.msix.pba == 1
    k.cfg_write(pd.bus, pd.devfn, cap + 2, 2, ctrl | 0x8000)
    m.run()
    assert len(drv.calls) == 1 and nic.msix.pba == 0 and balanced(m)


def test_masking_never_sends_and_never_clears_pending() -> None:
    """Setting a mask bit (entry or function) sends nothing and leaves PBA bits set (C.2)."""
    m, nic, drv, k = setup()
    k.writel(table_addr(m, nic, 0, 3), 1)
    nic.rx(0)
    m.run()
    pd = drv.pdevs[0]
    cap = nic.msix.offset
    k.cfg_write(pd.bus, pd.devfn, cap + 2, 2, k.cfg_read(pd.bus, pd.devfn, cap + 2, 2) | 0x4000)
    k.writel(table_addr(m, nic, 0, 3), 1)
    m.run()
    assert nic.msix.pba == 1 and drv.calls == []


def test_unmask_with_function_still_masked_keeps_pending() -> None:
    """Clearing the entry mask while Function Mask is set does not send (effective mask)."""
    m, nic, drv, k = setup()
    pd = drv.pdevs[0]
    cap = nic.msix.offset
    ctrl = k.cfg_read(pd.bus, pd.devfn, cap + 2, 2)
    k.writel(table_addr(m, nic, 0, 3), 1)
    k.cfg_write(pd.bus, pd.devfn, cap + 2, 2, ctrl | 0x4000)
    nic.rx(0)
    m.run()
    k.writel(table_addr(m, nic, 0, 3), 0)
    m.run()
    assert drv.calls == [] and nic.msix.pba == 1
    k.cfg_write(pd.bus, pd.devfn, cap + 2, 2, ctrl & ~0x4000)
    m.run()
    assert len(drv.calls) == 1 and nic.msix.pba == 0 and balanced(m)


def test_message_is_sampled_at_send_time() -> None:
    """A masked entry may be reprogrammed; the unmask sends the new address/data (C.2)."""
    m, nic, drv, k = setup()
    pd = drv.pdevs[0]
    other = k.irqs[k.pci_irq_vector(pd, 1)].vector
    k.writel(table_addr(m, nic, 0, 3), 1)
    nic.rx(0)
    m.run()
    k.writel(table_addr(m, nic, 0, 2), msi_data(other))
    k.writel(table_addr(m, nic, 0, 3), 0)
    m.run()
    assert [c.vector for c in drv.calls] == [other]


def test_pba_writes_are_ignored_with_a_diagnostic() -> None:
    """The PBA is read-only: writes are ignored (semantics.md C.2, F) and named."""
    m, nic, _drv, k = setup()
    k.writel(table_addr(m, nic, 0, 3), 1)
    nic.rx(0)
    m.run()
    k.writel(pba_addr(m, nic), 0)
    assert k.readl(pba_addr(m, nic)) == 1
    assert any(d.rule_id == "MSIX-PBA-READ-ONLY" for d in m.ctx.diagnostics)


def test_writing_an_unmasked_entry_is_flagged() -> None:
    """Changing Address/Data of an unmasked entry is undefined (PCIe 6.1.4.5): diagnostic."""
    m, nic, _drv, k = setup()
    k.writel(table_addr(m, nic, 0, 2), msi_data(0x55))
    assert any(d.rule_id == "MSIX-ENTRY-MODIFIED-UNMASKED" for d in m.ctx.diagnostics)


def test_enabling_msix_with_memory_space_clear_is_flagged() -> None:
    """MSI-X Enable with Memory Space Enable clear: table unreachable, diagnostic names it."""
    m, nic, drv, k = setup()
    pd = drv.pdevs[0]
    cap = nic.msix.offset
    ctrl = k.cfg_read(pd.bus, pd.devfn, cap + 2, 2)
    k.cfg_write(pd.bus, pd.devfn, cap + 2, 2, ctrl & ~0x8000)
    k.cfg_write(pd.bus, pd.devfn, 0x04, 2, k.cfg_read(pd.bus, pd.devfn, 0x04, 2) & ~0x2)
    k.cfg_write(pd.bus, pd.devfn, cap + 2, 2, ctrl | 0x8000)
    assert any(d.rule_id == "MSIX-MEMORY-SPACE-DISABLED" for d in m.ctx.diagnostics)
    assert k.readl(table_addr(m, nic, 0, 0)) == 0xFFFFFFFF     # master abort: all ones


def test_table_accepts_only_dword_accesses() -> None:
    """QEMU-like: sub-DWORD table writes are ignored (semantics.md C.2)."""
    m, nic, _drv, k = setup()
    before = k.readl(table_addr(m, nic, 0, 2))
    k.writew(table_addr(m, nic, 0, 2), 0x77)
    assert k.readl(table_addr(m, nic, 0, 2)) == before
    assert any(d.rule_id == "MSIX-TABLE-ACCESS-SIZE" for d in m.ctx.diagnostics)


def test_bus_master_disabled_drops_with_a_reason() -> None:
    """An MSI-X message is a memory write: with Bus Master Enable clear it is not sent."""
    m, nic, drv, k = setup()
    pd = drv.pdevs[0]
    k.cfg_write(pd.bus, pd.devfn, 0x04, 2, k.cfg_read(pd.bus, pd.devfn, 0x04, 2) & ~0x4)
    nic.rx(0)
    m.run()
    assert drv.calls == [] and m.ctx.ledger.dropped["bus master disabled"] == 1
    assert balanced(m)


@pytest.mark.parametrize("entry", [2, 3])
def test_entry_beyond_table_is_not_decoded(entry: int) -> None:
    """Table Size is N-1: a write past entry N-1 reaches no register (Unsupported Request)."""
    m, nic, _drv, k = setup(queues=2)
    before = list(nic.msix.table)
    k.writel(table_addr(m, nic, entry, 0), 0x1234)
    assert nic.msix.table == before
    assert any(d.rule_id == "PCI-UNSUPPORTED-REQUEST" for d in m.ctx.diagnostics)
