"""Moving an interrupt's affinity while traffic flows (Linux irq_set_affinity through the
domain hierarchy; PCIe 6.8.2.9 masked MSI-X update). Nothing is lost: every raised
interrupt is handled on the old or the new CPU and the ledger balances."""

from __future__ import annotations

from helpers import balanced, nic_machine


def test_msix_affinity_moves_mid_stream_without_losing_interrupts() -> None:
    """200 packets 1.5 us apart on one queue; at the midpoint CPU0 moves the queue's IRQ to
    CPU1. Packets before the move run on CPU0, after it on CPU1; the old vector is released
    once the old CPU no longer holds it; raised == delivered + merged, balanced."""
    m, nics, drv = nic_machine(ncpus=2, handler_ns=400)
    k = m.kernel
    irq = k.pci_irq_vector(drv.pdevs[0], 0)
    old_vec = k.irqs[irq].vector
    t0 = m.now + 1000
    n, gap = 200, 1500
    for i in range(n):
        m.engine.at(t0 + i * gap, lambda _: nics[0].rx(0))
    t_move = t0 + n // 2 * gap + 700
    m.engine.at(t_move, lambda _: k.run_on(m.cpus[0], lambda: k.irq_set_affinity(irq, [1])))
    m.run()
    calls = drv.calls
    led = m.ctx.ledger
    assert led.raised == n and len(calls) == led.delivered
    assert led.delivered + led.merged == n
    assert all(c.cpu == 0 for c in calls if c.time < t_move)
    assert all(c.cpu == 1 for c in calls if c.time > t_move + 10_000)
    counts = k.irqs[irq].counts
    assert counts[0] > 50 and counts[1] > 50 and sum(counts) == led.delivered
    assert not k.vectors.in_use(0, old_vec) and old_vec not in k.vector_irq[0]
    assert k.proc_irq(irq)["effective_affinity"] == "2"
    assert balanced(m)
