"""Seed 000's branch 'CPU cannot accept': IF=0, TPR blocks, higher-priority ISR; the interrupt
stays pending in IRR and is serviced on STI, TPR lowered, or EOI. SDM 10.8.3.1 / semantics.md
A.5-A.7."""

from helpers import balanced, nic_machine

TPR = 0xFEE00080


def test_if_clear_keeps_interrupt_in_irr_until_sti() -> None:
    """IF=0: the vector stays in IRR; STI lets the CPU take it."""
    m, nics, drv = nic_machine()
    cpu, lapic = m.cpus[0], m.lapics[0]
    cpu.cli()
    nics[0].rx(0)
    m.run()
    v = m.kernel.irqs[m.kernel.pci_irq_vector(drv.pdevs[0], 0)].vector
    assert drv.calls == [] and lapic.irr >> v & 1
    assert m.accounting()["pending"]["irr"] == 1 and balanced(m)
    cpu.sti()
    m.run()
    assert len(drv.calls) == 1 and lapic.irr == 0 and lapic.isr == 0 and balanced(m)


def test_tpr_equal_class_blocks_and_lowering_it_delivers() -> None:
    """TPR class >= vector class blocks (PPR rule); writing a lower TPR delivers at once."""
    m, nics, drv = nic_machine(targets=[0x55])
    cpu = m.cpus[0]
    k = m.kernel
    cpu.write(TPR, 4, 0x50)
    nics[0].rx(0)
    m.run()
    assert drv.calls == [] and m.lapics[0].irr >> 0x55 & 1
    cpu.write(TPR, 4, 0x4F)
    m.run()
    assert [c.vector for c in drv.calls] == [0x55]
    assert k.ctx.ledger.delivered == 1 and balanced(m)


def test_cr8_aliases_tpr_class() -> None:
    """CR8 = TPR[7:4] (SDM 10.8.6.1): CR8=6 blocks class 5 and 6 vectors."""
    m, nics, drv = nic_machine(targets=[0x60])
    m.cpus[0].cr8 = 6
    assert m.lapics[0].tpr == 0x60
    nics[0].rx(0)
    m.run()
    assert drv.calls == []
    m.cpus[0].cr8 = 5
    m.run()
    assert len(drv.calls) == 1


def test_higher_priority_in_service_blocks_lower_until_eoi() -> None:
    """With IF=1 inside a class-9 handler, a class-5 vector waits in IRR until that EOI."""
    m, nics, drv = nic_machine(devices=2, targets=[0x55, 0x95], handler_ns=5000)
    m.cpus[0].nesting_allowed = True
    nics[1].rx(0)                      # vector 0x95
    m.run(until=m.now + 1000)
    assert m.lapics[0].isr >> 0x95 & 1
    nics[0].rx(0)                      # vector 0x55 arrives while 0x95 is in service
    m.run(until=m.now + 2000)
    assert [c.vector for c in drv.calls] == [0x95]
    assert m.lapics[0].irr >> 0x55 & 1 and m.lapics[0].ppr == 0x90
    m.run()
    assert [c.vector for c in drv.calls] == [0x95, 0x55]
    assert drv.calls[1].depth == 1     # not nested: taken after the IRET of 0x95
    assert balanced(m)


def test_same_class_higher_vector_does_not_preempt() -> None:
    """PPR class = ISR class: a higher vector of the same class waits (semantics.md A.6)."""
    m, nics, drv = nic_machine(devices=2, targets=[0x51, 0x5E], handler_ns=5000)
    m.cpus[0].nesting_allowed = True
    nics[0].rx(0)                      # 0x51
    m.run(until=m.now + 1000)
    nics[1].rx(0)                      # 0x5E: same class 5
    m.run()
    assert [c.vector for c in drv.calls] == [0x51, 0x5E]
    assert all(c.depth == 1 for c in drv.calls)


def test_higher_class_nests_when_handler_runs_with_if_set() -> None:
    """Nesting: a higher class preempts a running handler; the lower one finishes after."""
    m, nics, drv = nic_machine(devices=2, targets=[0x55, 0x95], handler_ns=5000)
    m.cpus[0].nesting_allowed = True
    nics[0].rx(0)                      # 0x55
    m.run(until=m.now + 1000)
    nics[1].rx(0)                      # 0x95 preempts
    m.run()
    assert [(c.vector, c.depth) for c in drv.calls] == [(0x55, 1), (0x95, 2)]
    assert m.lapics[0].isr == 0 and m.cpus[0].frames == [] and balanced(m)


def test_interrupt_gate_clears_if_so_no_nesting_by_default() -> None:
    """An interrupt gate clears IF (SDM 6.12.1.3): without re-enabling, a higher class waits."""
    m, nics, drv = nic_machine(devices=2, targets=[0x55, 0x95], handler_ns=5000)
    nics[0].rx(0)
    m.run(until=m.now + 1000)
    nics[1].rx(0)
    m.run()
    assert [(c.vector, c.depth, c.if_flag) for c in drv.calls] == [(0x55, 1, False),
                                                                   (0x95, 1, False)]


def test_second_interrupt_of_a_vector_in_service_is_delivered_after_eoi() -> None:
    """A vector can be in ISR and IRR at once: the second is delivered after the EOI (A.4)."""
    m, nics, drv = nic_machine(handler_ns=5000)
    nics[0].rx(0)
    m.run(until=m.now + 1000)
    nics[0].rx(0)
    m.run()
    assert len(drv.calls) == 2 and m.ctx.ledger.merged == 0 and balanced(m)


def test_irr_merges_a_second_arrival_of_a_pending_vector() -> None:
    """One IRR bit per vector: a second arrival while pending merges (A.4), and is counted."""
    m, nics, drv = nic_machine()
    m.cpus[0].cli()
    nics[0].rx(0)
    nics[0].rx(0)
    m.run()
    assert m.ctx.ledger.merged == 1 and balanced(m)
    m.cpus[0].sti()
    m.run()
    assert len(drv.calls) == 1 and balanced(m)
