"""NUMA: nodes in the topology, the firmware's view, and the cost tiers (reference
nic-moderation.md section 9 and behaviour 30; seed 003 "IPI Latency by Topology")."""

from __future__ import annotations

import pytest

from helpers import RecordingDriver, balanced
from irqsim.cpu.topology import Topology
from irqsim.devices.nic import MultiQueueNic
from irqsim.machine import Machine
from irqsim.platform.numa import line_transfer_ns
from irqsim.sim.timing import TimingModel


def test_nodes_group_sockets_or_split_them() -> None:
    """Nodes group whole sockets (2 sockets per node) or split a socket's cores (SNC)."""
    grouped = Topology(sockets=4, cores=2, nodes=2)
    assert [grouped.node_of(c) for c in range(8)] == [0, 0, 0, 0, 1, 1, 1, 1]
    snc = Topology(sockets=2, cores=4, threads=2, nodes=4)
    assert [snc.node_of(c) for c in range(16)] == [0] * 4 + [1] * 4 + [2] * 4 + [3] * 4
    assert snc.node_cpus(3) == [12, 13, 14, 15]
    with pytest.raises(ValueError):
        Topology(sockets=2, cores=3, nodes=4)


def _two_node_machine(irq_cpu: int, **kw: object) -> tuple[Machine, MultiQueueNic,
                                                               RecordingDriver]:
    m = Machine(topology=Topology(sockets=2, cores=2, nodes=2), **kw)  # type: ignore[arg-type]
    nic = MultiQueueNic(m.ctx, 1, name="nic0")
    m.add_device(nic, node=0)
    drv = RecordingDriver()
    m.kernel.register_driver(drv)
    m.boot()
    k = m.kernel
    irq = k.pci_irq_vector(drv.pdevs[0], 0)
    k.run_on(m.cpus[0], lambda: k.irq_set_affinity(irq, [irq_cpu]))
    return m, nic, drv


def test_firmware_view_and_device_node() -> None:
    """The OS reads the SRAT/_PXM: CPUs 0-1 on node 0, 2-3 on node 1; RAM split per node;
    the NIC's IRQ reports node 0 in /proc/irq/N/node; an unpinned activation picks a CPU
    of the device's node."""
    m, _, drv = _two_node_machine(3)
    k = m.kernel
    assert [k.cpu_to_node(c) for c in range(4)] == [0, 0, 1, 1]
    assert k.dev_to_node(drv.pdevs[0]) == 0
    irq = k.pci_irq_vector(drv.pdevs[0], 0)
    assert k.procfs.read(f"/proc/irq/{irq}/node") == "0\n"
    assert m.numa is not None and m.numa.node_of_addr(m.memory.size - 1) == 1
    assert m.numa.distance == [[10, 21], [21, 10]]


def test_remote_ram_access_costs_the_slit_ratio() -> None:
    """A RAM read from a CPU on another node costs memory_read x 21/10; local costs
    memory_read (reference 9: SLIT 10/21)."""
    m, _, _ = _two_node_machine(0)
    t = m.ctx.timing
    k = m.kernel
    near, far = 0x100_0000, m.memory.size - 4096
    for cpu, addr, want in ((0, near, t.memory_read), (0, far, t.memory_read * 21 // 10),
                            (3, far, t.memory_read), (3, near, t.memory_read * 21 // 10)):
        c = m.cpus[cpu]
        assert k.run_on(c, lambda c=c, addr=addr: c.read(addr, 8)) == want


def test_interrupt_to_another_node_pays_the_remote_hop() -> None:
    """Behaviour 30: a vector whose effective CPU is on another node than the device pays
    msi_hop_remote_node on every interrupt; local placement does not."""
    lat = {}
    for cpu in (1, 2):
        m, nic, _ = _two_node_machine(cpu)
        for i in range(5):
            m.engine.at(m.now + 10_000 * (i + 1), lambda _, nic=nic: nic.rx(0))
        m.run()
        assert m.recorder is not None and balanced(m)
        s = m.recorder.summary()[nic.name]
        assert s["min"] == s["max"]
        lat[cpu] = s["min"]
    assert lat[2] - lat[1] == TimingModel().msi_hop_remote_node


def test_ipi_tiers_include_the_remote_node() -> None:
    """Seed 003: same core / same socket / different socket same node / different node
    are four hop tiers (remote node IPI 7.5 us measured -> ipi_hop_remote_node)."""
    m = Machine(topology=Topology(sockets=4, cores=2, threads=2, nodes=2), latency=False)
    t = m.ctx.timing
    hop = m.apic_bus.hop_ns
    a = m.lapics
    assert hop(a[0], a[1]) == t.ipi_hop_same_core
    assert hop(a[0], a[2]) == t.ipi_hop_same_socket
    assert hop(a[0], a[4]) == t.ipi_hop_cross_socket          # socket 1, node 0
    assert hop(a[0], a[8]) == t.ipi_hop_remote_node           # socket 2, node 1
    flat = Machine(topology=Topology(sockets=2, cores=1), latency=False)
    assert flat.apic_bus.hop_ns(flat.lapics[0], flat.lapics[1]) == t.ipi_hop_cross_socket


def test_cache_line_transfer_tiers() -> None:
    """Handler-to-application hand-off: free on one core, cacheline_same_node within a
    node, cacheline_remote_node across nodes."""
    topo = Topology(sockets=2, cores=2, threads=2, nodes=2)
    t = TimingModel()
    assert line_transfer_ns(t, topo, 0, 1) == 0
    assert line_transfer_ns(t, topo, 0, 2) == t.cacheline_same_node
    assert line_transfer_ns(t, topo, 0, 4) == t.cacheline_remote_node


def _reactivated_cpu(node: int) -> int:
    """CPU of queue 1's vector after free_irq + request_irq with mask 0-3, the NIC on
    ``node`` (RecordingDriver pins both vectors to CPU 0 at allocation)."""
    m = Machine(topology=Topology(sockets=2, cores=2, nodes=2), latency=False)
    nic = MultiQueueNic(m.ctx, 2, name="eth0")
    m.add_device(nic, node=node)
    drv = RecordingDriver(queues=2)
    m.kernel.register_driver(drv)
    m.boot()
    k = m.kernel
    pdev = drv.pdevs[0]
    irq = k.pci_irq_vector(pdev, 1)

    def script() -> None:
        for q in range(2):
            k.irq.irq_set_affinity(k.pci_irq_vector(pdev, q), [0, 1, 2, 3])
        k.free_irq(irq, pdev)
        k.request_irq(irq, drv.handler, 0, "q1", pdev)
    k.run_on(m.cpus[0], script)
    return k.irqs[irq].cpu


def test_unmanaged_activation_prefers_the_device_node_within_the_mask() -> None:
    """Reference 7.2 (assign_irq_vector_any_locked): an unmanaged vector whose mask spans
    both nodes is activated on a CPU of its device's node (node 1: CPU 2, though CPU 1
    has as many free vectors and a lower number)."""
    assert _reactivated_cpu(1) == 2
    assert _reactivated_cpu(0) == 1
