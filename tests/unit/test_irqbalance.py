"""irqbalance as a periodic policy (reference nic-moderation.md section 8, behaviours
27-28): classes and levels, placement on the device's node, moves off overloaded CPUs,
banned (isolated) CPUs never targeted, managed IRQs left alone after EIO."""

from __future__ import annotations

from helpers import RecordingDriver, balanced
from irqsim.cpu.topology import Topology
from irqsim.devices.nic import MultiQueueNic
from irqsim.machine import Machine
from irqsim.os.irqbalance import (
    CACHE,
    CORE,
    ETH,
    LEGACY,
    OTHER,
    PACKAGE,
    SCSI,
    IrqBalance,
    IrqInfo,
    Obj,
    class_level,
    irq_class,
)

MS = 1_000_000


def _nic_on_cpu0(topology: Topology, queues: int = 4, node: int = 0,
                 ) -> tuple[Machine, MultiQueueNic, RecordingDriver]:
    m = Machine(topology=topology, latency=False)
    nic = MultiQueueNic(m.ctx, queues, name="eth0")
    m.add_device(nic, node=node)
    drv = RecordingDriver(queues=queues, handler_ns=2000)   # every vector on CPU0
    m.kernel.register_driver(drv)
    m.boot()
    return m, nic, drv


def _traffic(m: Machine, nic: MultiQueueNic, queues: int, until: int) -> None:
    t = m.now + 1000
    i = 0
    while t < until:
        m.engine.at(t, lambda _, q=i % queues: nic.rx(q))
        t += 5_000
        i += 1


def test_classes_and_levels() -> None:
    """Reference 8: network -> ETH, storage -> SCSI; an INTx line of another class is
    LEGACY, an MSI of another class OTHER; OTHER on a package, LEGACY on a cache domain,
    the others on one CPU."""
    assert irq_class(0x020000, True) == ETH and irq_class(0x010802, True) == SCSI
    assert irq_class(0x088000, False) == LEGACY and irq_class(0x088000, True) == OTHER
    assert (class_level(OTHER), class_level(LEGACY), class_level(ETH)) == (PACKAGE, CACHE,
                                                                          CORE)


def test_spreads_nic_vectors_one_cpu_each_on_the_device_node() -> None:
    """Behaviour 27: four ETH vectors all on CPU0 of a 2-node machine (device on node 1)
    end on single CPUs of node 1, one each; writes go through smp_affinity and the
    hardware follows (the handlers run there); the books balance."""
    m, nic, drv = _nic_on_cpu0(Topology(sockets=2, cores=4, nodes=2), node=1)
    k = m.kernel
    bal = IrqBalance(k, interval_ns=1 * MS)
    end = m.now + 5 * MS
    _traffic(m, nic, 4, end)
    bal.start(until=end)
    m.run(until=end)
    m.run()
    irqs = [k.pci_irq_vector(drv.pdevs[0], q) for q in range(4)]
    cpus = [k.irqs[i].cpu for i in irqs]
    assert sorted(cpus) == [4, 5, 6, 7]
    for i in irqs:
        mask = k.procfs.read(f"/proc/irq/{i}/smp_affinity_list").strip()
        assert mask == str(k.irqs[i].cpu)
    late = [c for c in drv.calls if c.time > m.now - 2 * MS]
    assert late and all(c.cpu >= 4 for c in late)
    assert bal.cycles == 6 and balanced(m)


def test_moves_off_an_overloaded_cpu_but_not_a_single_irq() -> None:
    """Reference 8 (migrate_overloaded_irqs): an IRQ of load L leaves an object when
    min + L < adj - L, then adj -= L and min += L: of three IRQs of load 10 on one CPU
    (other CPU idle) exactly one moves; two IRQs (20 vs 0) stay (10 < 10 fails); an object
    with a single IRQ never gives it up, however loaded."""
    m = Machine(topology=Topology(sockets=1, cores=2), latency=False)
    bal = IrqBalance(m.kernel, interval_ns=MS)

    def objs(n_irqs: int, load: float) -> list[Obj]:
        busy = Obj(CORE, [0], irqs=[IrqInfo(30 + i, ETH, CORE, 0, load=load)
                                    for i in range(n_irqs)])
        busy.load = n_irqs * load
        return [busy, Obj(CORE, [1])]

    assert len(bal._overloaded(objs(3, 10))) == 1
    assert bal._overloaded(objs(2, 10)) == []
    assert bal._overloaded(objs(1, 1000)) == []
    bal.migrate_ratio = 2           # delta = (adj - min) / ratio makes moving easier
    assert len(bal._overloaded(objs(2, 10))) == 1


def test_banned_cpus_are_never_targeted() -> None:
    """Behaviour 28: with isolcpus 1-2, irqbalance places nothing on CPUs 1 or 2."""
    m = Machine(topology=Topology(sockets=1, cores=4), latency=False)
    m.kernel.isolcpus = [1, 2]
    nic = MultiQueueNic(m.ctx, 4, name="eth0")
    m.add_device(nic)
    drv = RecordingDriver(queues=4, handler_ns=2000)
    m.kernel.register_driver(drv)
    m.boot()
    bal = IrqBalance(m.kernel, interval_ns=1 * MS)
    end = m.now + 4 * MS
    _traffic(m, nic, 4, end)
    bal.start(until=end)
    m.run(until=end)
    k = m.kernel
    cpus = {k.irqs[k.pci_irq_vector(drv.pdevs[0], q)].cpu for q in range(4)}
    assert cpus <= {0, 3} and cpus == {0, 3}
    assert all(w[2] not in ("2", "4") for w in bal.writes)


def test_irqbalance_scenario_spreads_over_the_nic_node() -> None:
    """The irqbalance scenario: the four vectors end on four distinct CPUs of node 1 and
    the books balance."""
    from irqsim.scenarios import ScenarioOptions
    from irqsim.scenarios.irqbalance import irqbalance

    res = irqbalance(ScenarioOptions(requests=120, mean_gap_ns=20_000.0, seed=2, trace=False))
    moved = res.extra["irqbalance"]["moved"]
    assert sorted(after for _, after in moved.values()) == [4, 5, 6, 7]
    assert all(before == 0 for before, _ in moved.values())
    assert res.machine.accounting()["balanced"]
