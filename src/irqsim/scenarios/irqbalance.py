"""The ``irqbalance`` scenario: irqbalance spreading a NIC's queue vectors, all started on
CPU0, over single CPUs of the NIC's NUMA node (reference nic-moderation.md section 8;
docs/affinity.md)."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from irqsim.cpu.topology import Topology
from irqsim.devices.nic import MultiQueueNic
from irqsim.machine import Machine
from irqsim.os.irq import IRQ_HANDLED, IrqReturn
from irqsim.os.irqbalance import IrqBalance
from irqsim.os.kernel import PCI_IRQ_MSIX
from irqsim.scenarios import ScenarioOptions, ScenarioResult, register

if TYPE_CHECKING:
    from irqsim.os.kernel import Kernel
    from irqsim.os.pci import PciDev

QUEUES = 4
HANDLER_NS = 2_000                   # per-packet handler work (irqsim choice)
PERIOD_NS = 1_000_000                # irqbalance's 10 s period scaled to 1 ms


class _QueueDriver:
    """A bench-NIC driver that puts every queue vector on CPU0 (as a driver without
    affinity hints does before irqbalance runs)."""

    name = "bench-nic"
    ids = ((0x8086, 0x1572),)

    def __init__(self) -> None:
        self.k: Kernel | None = None
        self.irqs: list[int] = []

    def probe(self, k: Kernel, pdev: PciDev) -> None:
        self.k = k
        k.pci_enable_device(pdev)
        k.pci_set_master(pdev)
        k.pci_alloc_irq_vectors(pdev, QUEUES, QUEUES, PCI_IRQ_MSIX, cpus=[0])
        for q in range(QUEUES):
            irq = k.pci_irq_vector(pdev, q)
            k.request_irq(irq, self.handler, 0, f"eth0-TxRx-{q}", q)
            self.irqs.append(irq)

    def handler(self, irq: int, dev_id: Any) -> IrqReturn:
        assert self.k is not None
        self.k.spend(HANDLER_NS)
        return IRQ_HANDLED


@register("irqbalance", "irqbalance (period scaled to 1 ms) spreading a 4-queue NIC's vectors, "
                        "all started on CPU0, over single CPUs of the NIC's node (2 sockets x "
                        "4 cores, 2 NUMA nodes, NIC on node 1)",
          span=lambda o: o.requests * o.mean_gap_ns / QUEUES + PERIOD_NS)
def irqbalance(opts: ScenarioOptions) -> ScenarioResult:
    m = Machine(topology=Topology(sockets=2, cores=4, nodes=2), trace=opts.trace)
    nic = MultiQueueNic(m.ctx, QUEUES, name="eth0")
    m.add_device(nic, node=1)
    drv = _QueueDriver()
    m.kernel.register_driver(drv)
    m.boot()
    k = m.kernel
    before = {irq: k.irqs[irq].cpu for irq in drv.irqs}
    rng = random.Random(opts.seed)
    t = m.now
    gap = opts.mean_gap_ns / QUEUES
    for _ in range(max(1, opts.requests)):
        t += max(1, int(rng.expovariate(1.0 / gap)))
        queue = rng.randrange(QUEUES)
        m.engine.at(t, lambda _, q=queue: nic.rx(q))
    bal = IrqBalance(k, interval_ns=PERIOD_NS)
    bal.start()
    m.run()
    m.ctx.tracer.on = False
    after = {irq: k.irqs[irq].cpu for irq in drv.irqs}
    notes = [f"topology: {m.topology}; eth0 on node 1 (CPUs {k.topology.node_cpus(1)})",
             f"irqbalance every {PERIOD_NS} ns: {bal.cycles} cycles, {bal.moves} moves, "
             f"{len(bal.writes)} smp_affinity writes"]
    notes += [f"  IRQ {irq} ({k.irqs[irq].name}): CPU{before[irq]} -> CPU{after[irq]} "
              f"(smp_affinity {k.procfs.read(f'/proc/irq/{irq}/smp_affinity').strip()})"
              for irq in drv.irqs]
    return ScenarioResult(m, "irqbalance spreading NIC queue vectors", nic.name, notes=notes,
                          extra={"irqbalance": {**bal.stats(),
                                                "moved": {str(i): [before[i], after[i]]
                                                          for i in drv.irqs}}})
