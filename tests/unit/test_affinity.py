"""Interrupt affinity at run time: /proc/irq formats and errors, the x86 effective-CPU
choice, managed spreading (reference nic-moderation.md 7.1-7.3, behaviours 23-26)."""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import balanced, nic_machine
from irqsim.cpu.topology import Topology
from irqsim.devices.nic import MultiQueueNic
from irqsim.machine import Machine
from irqsim.os.affinity import (
    group_cpus_evenly,
    irq_set_affinity_hint,
    parse_cpulist,
    parse_cpumask,
    pci_alloc_irq_vectors_affinity,
)
from irqsim.os.irq import IRQ_HANDLED
from irqsim.os.kernel import Kernel
from irqsim.os.manage import cpulist, cpumask_hex
from irqsim.os.pci import PciDev
from irqsim.spec.msi import decode


@dataclass
class ManagedDriver:
    """Allocates ``1 + queues`` MSI-X vectors with pre_vectors = 1 (NVMe's admin vector)."""

    queues: int
    name: str = "managed"
    ids: tuple[tuple[int, int], ...] = ((0x8086, 0x1572),)
    pdevs: list[PciDev] = field(default_factory=list)

    def probe(self, k: Kernel, pdev: PciDev) -> None:
        k.pci_enable_device(pdev)
        k.pci_set_master(pdev)
        n = pci_alloc_irq_vectors_affinity(k, pdev, 2, self.queues + 1, pre_vectors=1)
        for i in range(n):
            k.request_irq(k.pci_irq_vector(pdev, i), self.handler, 0, f"q{i}", pdev)
        self.pdevs.append(pdev)

    def handler(self, irq: int, dev_id: Any) -> int:
        return IRQ_HANDLED


def managed_machine(queues: int, topology: Topology, **kw: Any,
                    ) -> tuple[Machine, MultiQueueNic, ManagedDriver]:
    m = Machine(topology=topology, latency=False, **kw)
    nic = MultiQueueNic(m.ctx, queues + 1)
    m.add_device(nic)
    drv = ManagedDriver(queues)
    m.kernel.register_driver(drv)
    m.boot()
    return m, nic, drv


# -- formats (7.1, behaviour 23) ------------------------------------------------------------
def test_mask_width_follows_nr_cpu_ids() -> None:
    """Behaviour 23: CPUs 0-7 with nr_cpu_ids 8 read ``ff`` (not seed 003's ``000000ff``);
    40 CPUs all set read ``ff,ffffffff``, list ``0-39``; 64 read two full groups."""
    assert cpumask_hex(list(range(8)), 8) == "ff"
    assert cpumask_hex(list(range(40)), 40) == "ff,ffffffff"
    assert cpumask_hex(list(range(64)), 64) == "ffffffff,ffffffff"
    assert cpumask_hex([2], 40) == "00,00000004"
    assert cpulist(list(range(40))) == "0-39"
    assert cpulist([0, 1, 2, 3, 8, 10, 11]) == "0-3,8,10-11"


@given(st.integers(1, 96), st.data())
def test_mask_and_list_round_trip(n: int, data: st.DataObject) -> None:
    """Property (7.1): what smp_affinity(_list) prints parses back to the same CPUs."""
    cpus = sorted(data.draw(st.sets(st.integers(0, n - 1), min_size=1)))
    assert parse_cpumask(cpumask_hex(cpus, n), n) == cpus
    assert parse_cpulist(cpulist(cpus), n) == cpus


def test_parse_errors_carry_linux_errno() -> None:
    """bitmap_parse/bitmap_parselist: bad syntax EINVAL, bits beyond nr_cpu_ids EOVERFLOW
    (mask) / ERANGE (list); the stride form ``0-7:2/4`` is accepted."""
    for bad in ("xyz", "1,,2", "123456789"):
        with pytest.raises(OSError) as e:
            parse_cpumask(bad, 8)
        assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        parse_cpumask("100", 8)
    assert e.value.errno == errno.EOVERFLOW
    with pytest.raises(OSError) as e:
        parse_cpulist("0-8", 8)
    assert e.value.errno == errno.ERANGE
    assert parse_cpulist("0-7:2/4", 8) == [0, 1, 4, 5]


# -- writes, errors, effective CPU (7.1, 7.2, behaviours 24-25) ------------------------------
def test_proc_write_retargets_the_msix_entry_through_the_table() -> None:
    """Writing smp_affinity_list moves the vector: the MSI-X table entry's destination ID
    (read back from the device's table) names the new CPU; effective_affinity reads it."""
    m, nics, drv = nic_machine(ncpus=8, queues=2)
    k = m.kernel
    irq = k.pci_irq_vector(drv.pdevs[0], 1)
    fs = k.procfs
    assert fs.read(f"/proc/irq/{irq}/smp_affinity") == "01\n"
    k.run_on(m.cpus[0], lambda: fs.write(f"/proc/irq/{irq}/smp_affinity_list", "5\n"))
    assert fs.read(f"/proc/irq/{irq}/effective_affinity_list") == "5\n"
    assert fs.read(f"/proc/irq/{irq}/effective_affinity") == "20\n"
    t = nics[0].msix.table
    fields = decode(t[4 * 1] | t[4 * 1 + 1] << 32, t[4 * 1 + 2])
    assert fields["destination_id"] == m.lapics[5].apic_id
    assert fields["vector"] == k.irqs[irq].vector
    nics[0].rx(1)
    m.run()
    assert k.irqs[irq].counts[5] == 1 and balanced(m)


def test_write_errors_einval_and_eacces_and_no_change() -> None:
    """Behaviour 24 (EINVAL on a mask with no CPU; read-only files refuse writes); a
    refused write leaves the IRQ where it was."""
    m, _, drv = nic_machine(ncpus=8)
    k = m.kernel
    irq = k.pci_irq_vector(drv.pdevs[0], 0)
    before = k.irqs[irq].cpu
    for path, text, code in ((f"/proc/irq/{irq}/smp_affinity", "0", errno.EINVAL),
                             (f"/proc/irq/{irq}/smp_affinity_list", "", errno.EINVAL),
                             (f"/proc/irq/{irq}/effective_affinity", "1", errno.EACCES),
                             ("/proc/irq/9999/smp_affinity", "1", errno.ENOENT)):
        with pytest.raises(OSError) as e:
            k.procfs.write(path, text)
        assert e.value.errno == code
    assert k.irqs[irq].cpu == before


def test_effective_cpu_most_free_vectors_and_sticky() -> None:
    """Behaviour 25: with mask ff the CPU with the most free vectors is chosen (lowest on a
    tie); re-writing a mask that still holds the current CPU does not move the vector."""
    m, _, drv = nic_machine(ncpus=8, queues=1)
    k = m.kernel
    irq = k.pci_irq_vector(drv.pdevs[0], 0)
    for c in range(4):                      # CPUs 0-3 busier
        k.vectors.reserve(c, 0x80)
    k.vectors.reserve(4, 0x81)
    k.vectors.reserve(4, 0x82)
    k.run_on(m.cpus[0], lambda: k.procfs.write(f"/proc/irq/{irq}/smp_affinity", "f0"))
    assert k.irqs[irq].cpu == 5             # 5, 6, 7 tie on free vectors: lowest
    vec = k.irqs[irq].vector
    k.run_on(m.cpus[0], lambda: k.procfs.write(f"/proc/irq/{irq}/smp_affinity", "ff"))
    assert (k.irqs[irq].cpu, k.irqs[irq].vector) == (5, vec)
    assert k.procfs.read(f"/proc/irq/{irq}/smp_affinity") == "ff\n"
    assert k.procfs.read(f"/proc/irq/{irq}/effective_affinity_list") == "5\n"


# -- managed spreading (7.3, behaviour 26) -------------------------------------------------
def _topo_fns(topo: Topology) -> tuple[Any, Any]:
    n = topo.ncpus

    def sib(c: int) -> list[int]:
        return [s for s in range(n) if s != c and topo.core_of(s) == topo.core_of(c)]
    return topo.node_of, sib


def test_group_cpus_evenly_reference_examples() -> None:
    """Reference 7.3: 2 nodes x 8 CPUs, 4 groups -> {0-3} {4-7} {8-11} {12-15}; 16 groups ->
    one CPU each, 8 per node; with SMT, siblings stay in one group."""
    flat = Topology(sockets=2, cores=8, nodes=2)
    node_of, sib = _topo_fns(flat)
    assert group_cpus_evenly(4, range(16), node_of, sib) == [
        [0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]
    g16 = group_cpus_evenly(16, range(16), node_of, sib)
    assert all(len(g) == 1 for g in g16)
    assert sum(1 for g in g16 if node_of(g[0]) == 0) == 8
    smt = Topology(sockets=2, cores=4, threads=2, nodes=2)
    node_of, sib = _topo_fns(smt)
    groups = group_cpus_evenly(4, range(16), node_of, sib)
    for g in groups:
        assert len(g) == 4 and {smt.core_of(c) for c in g} == {smt.core_of(g[0]),
                                                                  smt.core_of(g[2])}
        assert len({node_of(c) for c in g}) == 1
    # fewer groups than nodes: whole nodes OR-ed together
    assert group_cpus_evenly(1, range(16), node_of, sib) == [list(range(16))]


@given(st.integers(1, 4), st.integers(1, 8), st.integers(1, 2), st.integers(1, 40))
def test_group_cpus_evenly_covers_every_cpu_once(sockets: int, cores: int, threads: int,
                                                 groups: int) -> None:
    """Property (group_cpus_evenly): every CPU lands in exactly one group when groups <=
    CPUs, no group is empty, and no group spans two nodes when groups >= nodes."""
    topo = Topology(sockets=sockets, cores=cores, threads=threads, nodes=sockets)
    node_of, sib = _topo_fns(topo)
    n = topo.ncpus
    out = group_cpus_evenly(groups, range(n), node_of, sib)
    assert len(out) == groups
    flat = [c for g in out for c in g]
    if groups <= n:
        assert sorted(flat) == list(range(n))
        assert all(out)
    if sockets <= groups <= n:
        assert all(len({node_of(c) for c in g}) == 1 for g in out)


def test_managed_vectors_refuse_writes_and_spread_over_nodes() -> None:
    """Behaviours 24 and 26: 16 queue vectors over 2 nodes x 8 CPUs get one CPU each (8 per
    node), are managed and refuse smp_affinity writes with EIO; pre-vector 0 keeps the
    default mask, is not managed and can be moved; /proc/irq/N/node is the device's."""
    m, _, drv = managed_machine(16, Topology(sockets=2, cores=8, nodes=2))
    k = m.kernel
    pdev = drv.pdevs[0]
    admin = k.pci_irq_vector(pdev, 0)
    queues = [k.pci_irq_vector(pdev, i) for i in range(1, 17)]
    assert not k.irqs[admin].managed
    assert k.procfs.read(f"/proc/irq/{admin}/smp_affinity") == "ffff\n"
    assert k.procfs.read(f"/proc/irq/{admin}/node") == "0\n"
    effective = [k.irqs[q].cpu for q in queues]
    assert sorted(effective) == list(range(16))
    for q in queues:
        assert k.irqs[q].managed and len(k.irqs[q].affinity or []) == 1
        with pytest.raises(OSError) as e:
            k.procfs.write(f"/proc/irq/{q}/smp_affinity_list", "0")
        assert e.value.errno == errno.EIO
    k.run_on(m.cpus[0], lambda: k.procfs.write(f"/proc/irq/{admin}/smp_affinity_list", "9"))
    assert k.irqs[admin].cpu == 9


def test_managed_choice_fewest_managed_highest_cpu_and_isolcpus() -> None:
    """Reference 7.2: a managed vector goes to the CPU of its mask with the fewest managed
    vectors, the highest-numbered on a tie; with isolcpus=managed_irq the isolated CPUs are
    skipped when the mask has a housekeeping CPU (kernel/irq/manage.c)."""
    m, _, drv = managed_machine(2, Topology(sockets=1, cores=8))
    k = m.kernel
    q1, q2 = (k.pci_irq_vector(drv.pdevs[0], i) for i in (1, 2))
    assert k.irqs[q1].affinity == [0, 1, 2, 3] and k.irqs[q1].cpu == 3
    assert k.irqs[q2].affinity == [4, 5, 6, 7] and k.irqs[q2].cpu == 7
    m2 = Machine(topology=Topology(sockets=1, cores=8), latency=False)
    m2.kernel.isolcpus, m2.kernel.isolcpus_flags = [2, 3, 6, 7], frozenset({"managed_irq"})
    nic = MultiQueueNic(m2.ctx, 3)
    m2.add_device(nic)
    drv2 = ManagedDriver(2)
    m2.kernel.register_driver(drv2)
    m2.boot()
    k2 = m2.kernel
    assert [k2.irqs[k2.pci_irq_vector(drv2.pdevs[0], i)].cpu for i in (1, 2)] == [1, 5]


def test_affinity_hint_is_shown_and_applied() -> None:
    """irq_set_affinity_hint: affinity_hint reads the driver's mask (zeros before), and the
    hint becomes the unmanaged IRQ's affinity (Linux __irq_apply_affinity_hint)."""
    m, _, drv = nic_machine(ncpus=8)
    k = m.kernel
    irq = k.pci_irq_vector(drv.pdevs[0], 0)
    assert k.procfs.read(f"/proc/irq/{irq}/affinity_hint") == "00\n"
    k.run_on(m.cpus[0], lambda: irq_set_affinity_hint(k, irq, [6]))
    assert k.procfs.read(f"/proc/irq/{irq}/affinity_hint") == "40\n"
    assert k.procfs.read(f"/proc/irq/{irq}/effective_affinity_list") == "6\n"


def test_isolcpus_boot_option() -> None:
    """isolcpus=[flags,]LIST (kernel/sched/isolation.c): no flag means domain; the flags
    and CPUs reach the kernel; default_smp_affinity is writable and read back in hex."""
    from irqsim.os.isolation import parse_isolcpus
    assert parse_isolcpus("2-3", 8) == ([2, 3], frozenset({"domain"}))
    assert parse_isolcpus("managed_irq,domain,1,5-6", 8) == (
        [1, 5, 6], frozenset({"managed_irq", "domain"}))
    m = Machine(ncpus=8, isolcpus="managed_irq,4-7", latency=False)
    k = m.kernel
    assert k.isolcpus == [4, 5, 6, 7] and "managed_irq" in k.isolcpus_flags
    assert k.procfs.read("/proc/irq/default_smp_affinity") == "ff\n"
    k.procfs.write("/proc/irq/default_smp_affinity", "0f")
    assert k.procfs.read("/proc/irq/default_smp_affinity") == "0f\n"


def test_offline_cpus_are_not_targeted() -> None:
    """Reference 7.1/7.2: a mask whose CPUs are all offline is refused with EINVAL; a mask
    with an online CPU targets only online ones (a CPU sent INIT waits for SIPI: offline)."""
    m, _, drv = nic_machine(ncpus=4)
    k = m.kernel
    irq = k.pci_irq_vector(drv.pdevs[0], 0)
    m.cpus[3].init_signal()
    with pytest.raises(OSError) as e:
        k.procfs.write(f"/proc/irq/{irq}/smp_affinity", "8")
    assert e.value.errno == errno.EINVAL
    for c in range(3):
        k.vectors.reserve(c, 0x90)          # CPU3 would have the most free vectors
    k.run_on(m.cpus[0], lambda: k.procfs.write(f"/proc/irq/{irq}/smp_affinity", "e"))
    assert k.procfs.read(f"/proc/irq/{irq}/smp_affinity") == "e\n"
    assert k.irqs[irq].cpu in (1, 2)


@given(st.integers(1, 16), st.integers(1, 48))
def test_managed_allocation_stays_even(ncpus: int, nvec: int) -> None:
    """Property (matrix_find_best_cpu_managed): managed vectors allocated over one mask
    differ by at most one per CPU, and the highest-numbered CPUs get the extra ones."""
    from irqsim.os.matrix import IrqMatrix
    mx = IrqMatrix(ncpus)
    for _ in range(nvec):
        mx.alloc_managed(list(range(ncpus)))
    assert max(mx.managed) - min(mx.managed) <= 1
    assert mx.managed == sorted(mx.managed)


def test_new_irqs_start_with_default_smp_affinity() -> None:
    """Reference 7.1: new IRQs start with /proc/irq/default_smp_affinity (irqaffinity=):
    an MSI-X vector allocated without a mask lands on one of those CPUs and shows it."""
    from irqsim.os.kernel import PCI_IRQ_MSIX

    class NoMask(ManagedDriver):
        def probe(self, k: Kernel, pdev: PciDev) -> None:
            k.pci_enable_device(pdev)
            k.pci_set_master(pdev)
            k.pci_alloc_irq_vectors(pdev, 2, 2, PCI_IRQ_MSIX)
            self.pdevs.append(pdev)

    m = Machine(ncpus=8, latency=False)
    m.kernel.irq_default_affinity = [2, 3]
    m.add_device(MultiQueueNic(m.ctx, 2))
    drv = NoMask(2)
    m.kernel.register_driver(drv)
    m.boot()
    k = m.kernel
    for q in range(2):
        irq = k.pci_irq_vector(drv.pdevs[0], q)
        assert k.irqs[irq].cpu in (2, 3)
        assert k.procfs.read(f"/proc/irq/{irq}/smp_affinity") == "0c\n"
