"""The IRQ domain hierarchy: vector matrix, PCI-MSI-X / PCI-MSI / IO-APIC domains, affinity
moves, free_irq, /proc/irq (Linux kernel/irq/matrix.c, arch/x86/kernel/apic/vector.c,
drivers/pci/msi/msi.c, arch/x86/kernel/apic/io_apic.c; PCIe 6.8.2.9 for the masked MSI-X
update). Every end-to-end test checks the ledger balances."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import RecordingDriver, balanced, nic_machine
from intx_helpers import rte_read, sw
from irqsim.devices.legacy import LegacyIntxDevice
from irqsim.devices.msi_device import MsiEventDevice
from irqsim.devices.nic import MultiQueueNic
from irqsim.devices.virtio import VirtioNet
from irqsim.drivers.legacy import LegacyIntxDriver
from irqsim.drivers.msi_device import MsiEventDriver
from irqsim.drivers.virtio import VirtioPciDriver
from irqsim.machine import Machine
from irqsim.os.irqdomain import AllocInfo, IrqChip, IrqData, IrqDomain
from irqsim.os.manage import cpulist, cpumask_hex
from irqsim.os.matrix import IrqMatrix, VectorSpaceExhausted
from irqsim.os.vectors import SYSTEM_VECTORS
from irqsim.pci.msix import MsixTable
from irqsim.spec.msi import msi_address, msi_data

MASKED = 1 << 16


def at(m: Machine, t: int, fn: Any) -> None:
    m.engine.at(t, lambda _: fn())


# -- the vector matrix -----------------------------------------------------------------------
def test_matrix_best_cpu_has_most_free_vectors_lowest_on_tie() -> None:
    """matrix_find_best_cpu: the CPU of the mask with the most free vectors; ties -> lowest."""
    mx = IrqMatrix(3)
    mx.alloc([0])
    mx.alloc([0])
    mx.alloc([1])
    assert mx.find_best_cpu([0, 1, 2]) == [2, 1, 0]
    assert mx.alloc([0, 1]) == (1, 0x21)
    assert mx.alloc([0, 1, 2])[0] == 2


def test_matrix_system_vectors_are_never_handed_out_nor_freed() -> None:
    """irq_matrix_assign_system: a system vector inside the device range stays reserved on
    every CPU, even after a stray free."""
    mx = IrqMatrix(2, 0x20, 0xFF)
    for v in SYSTEM_VECTORS:
        mx.assign_system(v)
    mx.free(1, 0xEC)
    got = []
    with pytest.raises(VectorSpaceExhausted):
        while True:
            got.append(mx.alloc([1])[1])
    assert not set(got) & set(SYSTEM_VECTORS)
    assert len(got) == 0xFF - 0x20 + 1 - len(SYSTEM_VECTORS)


def test_machine_reserves_linux_system_vectors() -> None:
    """A device range reaching 0xFF still never yields LOCAL_TIMER..SPURIOUS vectors."""
    m = Machine(ncpus=1, last_vector=0xFF)
    m.boot()
    mx = m.kernel.vectors
    assert all(mx.in_use(0, v) for v in SYSTEM_VECTORS)
    assert mx.available(0) == 0xFF - 0x20 + 1 - len(SYSTEM_VECTORS)


def test_matrix_exhaustion_and_free() -> None:
    """Exhaustion is an error, and a freed vector is the next one handed out."""
    mx = IrqMatrix(1, 0x20, 0x23)
    got = [mx.alloc([0])[1] for _ in range(4)]
    with pytest.raises(VectorSpaceExhausted):
        mx.alloc([0])
    mx.free(0, got[2])
    assert mx.alloc([0]) == (0, got[2])


def test_msix_vectors_spread_to_the_cpu_with_most_free_vectors() -> None:
    """Without a CPU list each MSI-X vector goes to the best CPU at its allocation: 4
    vectors on 2 CPUs alternate 0, 1, 0, 1."""
    m2 = Machine(ncpus=2)
    m2.add_device(MultiQueueNic(m2.ctx, 4))

    class AnyCpu(RecordingDriver):
        def probe(self, k: Any, pdev: Any) -> None:
            k.pci_enable_device(pdev)
            k.pci_alloc_irq_vectors(pdev, 4, 4)
            self.pdevs.append(pdev)
    d = AnyCpu()
    m2.kernel.register_driver(d)
    m2.boot()
    k = m2.kernel
    assert [k.irqs[i].cpu for i in d.pdevs[0].irqs] == [0, 1, 0, 1]


# -- MSI-X: masked update, move, cleanup ---------------------------------------------------------
def test_msix_affinity_is_a_masked_update_of_the_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """PCIe 6.8.2.9 / Linux pci_msix_write_msg: Vector Control mask set, address and data
    written, mask cleared; the entry read back holds the new CPU's message."""
    m, nics, drv = nic_machine(ncpus=2)
    k = m.kernel
    irq = k.pci_irq_vector(drv.pdevs[0], 0)
    writes: list[tuple[int, int]] = []
    orig = MsixTable.mmio_write

    def spy(self: MsixTable, offset: int, size: int, value: int) -> None:
        writes.append((offset, value))
        orig(self, offset, size, value)
    monkeypatch.setattr(MsixTable, "mmio_write", spy)
    eff = sw(m, lambda: k.irq_set_affinity(irq, [1]))
    desc = k.irqs[irq]
    assert eff == [1] and desc.cpu == 1
    assert writes == [(0xC, 1), (0x0, msi_address(k.apic_ids[1])), (0x4, 0),
                      (0x8, msi_data(desc.vector)), (0xC, 0)]
    table = nics[0].msix.table
    assert table[0:4] == [msi_address(k.apic_ids[1]), 0, msi_data(desc.vector), 0]
    assert not [d for d in m.ctx.diagnostics if d.rule_id == "MSIX-ENTRY-MODIFIED-UNMASKED"]


def test_after_affinity_change_next_interrupt_runs_on_new_cpu_and_old_vector_is_freed() -> None:
    """The next interrupt is taken on the new CPU (irq_complete_move); a jiffy later the old
    CPU's cleanup releases the old vector and its dispatch entry."""
    m, nics, drv = nic_machine(ncpus=2)
    k = m.kernel
    irq = k.pci_irq_vector(drv.pdevs[0], 0)
    old = k.irqs[irq].vector
    sw(m, lambda: k.irq_set_affinity(irq, [1]))
    assert k.vectors.in_use(0, old) and old in k.vector_irq[0]   # until cleanup
    at(m, m.now + 1000, lambda: nics[0].rx(0))
    m.run()
    assert [c.cpu for c in drv.calls] == [1]
    assert k.irqs[irq].counts == [0, 1]
    assert not k.vectors.in_use(0, old) and old not in k.vector_irq[0]
    assert k.irq.vector_domain.cleanups == 1
    assert k.irqs[irq].chip_eoi is None                  # the hot path is back to plain
    assert balanced(m)


def test_interrupt_pending_during_a_move_is_sent_with_the_new_message() -> None:
    """A vector masked across the move keeps its Pending Bit (PCIe 6.8.2.9); the unmask
    sends it once, to the new CPU; nothing is lost or duplicated."""
    m, nics, drv = nic_machine(ncpus=2)
    k = m.kernel
    irq = k.pci_irq_vector(drv.pdevs[0], 0)
    sw(m, lambda: k.disable_irq(irq))
    at(m, m.now + 100, lambda: nics[0].rx(0))
    m.run()
    assert nics[0].msix.pba == 1 and drv.calls == []
    sw(m, lambda: k.irq_set_affinity(irq, [1]))
    assert nics[0].msix.table[3] & 1 and nics[0].msix.pba == 1    # still masked, pending
    sw(m, lambda: k.enable_irq(irq))
    m.run()
    assert [c.cpu for c in drv.calls] == [1] and nics[0].msix.pba == 0
    assert balanced(m)


def test_second_move_before_completion_is_ebusy_and_same_cpu_is_a_no_op() -> None:
    """Linux returns -EBUSY while a previous move is not cleaned up; a mask that contains
    the current CPU changes nothing."""
    m, _nics, drv = nic_machine(ncpus=3)
    k = m.kernel
    irq = k.pci_irq_vector(drv.pdevs[0], 0)
    vec = k.irqs[irq].vector
    assert sw(m, lambda: k.irq_set_affinity(irq, [0, 2])) == [0]
    assert k.irqs[irq].vector == vec
    sw(m, lambda: k.irq_set_affinity(irq, [1]))
    # Refusals happen before any access (called outside a software section).
    with pytest.raises(OSError, match="EBUSY"):
        k.irq_set_affinity(irq, [2])
    with pytest.raises(OSError, match="EINVAL"):
        k.irq_set_affinity(irq, [7])


def test_proc_irq_affinity_files() -> None:
    """/proc/irq/N/smp_affinity is the mask in hex, effective_affinity the vector's CPU."""
    m, _nics, drv = nic_machine(ncpus=4)
    k = m.kernel
    irq = k.pci_irq_vector(drv.pdevs[0], 0)
    assert k.proc_irq(irq)["smp_affinity"] == "1"
    sw(m, lambda: k.irq_set_affinity(irq, [1, 2]))
    p = k.proc_irq(irq)
    assert p["smp_affinity"] == "6" and p["smp_affinity_list"] == "1-2"
    assert p["effective_affinity"] == "2" and p["effective_affinity_list"] == "1"


# -- free_irq, pci_free_irq_vectors ------------------------------------------------------------
def test_free_irq_masks_the_entry_and_frees_the_vector_request_irq_reallocates() -> None:
    """free_irq of the last handler: irq_shutdown masks the MSI-X entry and the vector is
    released (x86_vector_deactivate); request_irq activates again with a new message."""
    m, nics, drv = nic_machine(ncpus=1)
    k = m.kernel
    pdev = drv.pdevs[0]
    irq = k.pci_irq_vector(pdev, 0)
    vec = k.irqs[irq].vector
    assert sw(m, lambda: k.free_irq(irq, pdev)) == "q0"
    assert nics[0].msix.table[3] & 1
    assert not k.vectors.in_use(0, vec) and vec not in k.vector_irq[0]
    at(m, m.now + 100, lambda: nics[0].rx(0))
    m.run()
    assert drv.calls == [] and nics[0].msix.pba == 1
    sw(m, lambda: k.vectors.reserve(0, vec))                # force a different vector
    sw(m, lambda: k.request_irq(irq, drv.handler, 0, "q0", pdev))
    new = k.irqs[irq].vector
    assert new != vec and nics[0].msix.table[2] == msi_data(new)
    m.run()
    assert len(drv.calls) == 1 and drv.calls[0].vector == new
    assert balanced(m)


def test_pci_free_irq_vectors_disables_msix_and_releases_everything() -> None:
    """pci_free_irq_vectors: handlers must be gone; MSI-X Enable cleared, IRQs and vectors
    released; the device can allocate again."""
    m, nics, drv = nic_machine(ncpus=1, queues=2)
    k = m.kernel
    pdev = drv.pdevs[0]
    irqs = list(pdev.irqs)
    with pytest.raises(OSError, match="free_irq first"):
        k.pci_free_irq_vectors(pdev)                    # refused before any access
    for irq in irqs:
        sw(m, lambda irq=irq: k.free_irq(irq, pdev))
    free_before = k.vectors.available(0)
    sw(m, lambda: k.pci_free_irq_vectors(pdev))
    assert not nics[0].msix.enabled and pdev.irq_mode == "none"
    assert not set(irqs) & set(k.irqs) and k.vectors.available(0) == free_before
    assert sw(m, lambda: k.pci_alloc_irq_vectors(pdev, 2, 2)) == 2


# -- PCI-MSI ----------------------------------------------------------------------------------
def msi_machine(masking: bool) -> tuple[Machine, MsiEventDevice, MsiEventDriver]:
    m = Machine(ncpus=2)
    dev = m.add_device(MsiEventDevice(m.ctx, events=1, masking=masking))
    drv = MsiEventDriver(events=1)
    m.kernel.register_driver(drv)
    m.boot()
    return m, dev, drv  # type: ignore[return-value]


@pytest.mark.parametrize("masking", [True, False])
def test_msi_affinity_rewrites_address_and_data(masking: bool) -> None:
    """msi_set_affinity: Message Address names the new CPU and Data the new vector; the next
    message runs there. Without per-vector masking the new vector is first written with the
    old destination (both old mappings are cleaned up afterwards)."""
    m, dev, drv = msi_machine(masking)
    k = m.kernel
    irq = drv.devices[0].irqs[0]
    d0 = k.irqs[irq]
    old_cpu, old_vec = d0.cpu, d0.vector
    new_cpu = 1 - old_cpu
    sw(m, lambda: k.irq_set_affinity(irq, [new_cpu]))
    assert dev.msi.address == msi_address(k.apic_ids[new_cpu])
    assert dev.msi.data == msi_data(d0.vector) and d0.cpu == new_cpu
    if not masking:
        assert d0.vector in k.vector_irq[old_cpu]            # the transit mapping
    at(m, m.now + 1000, lambda: dev.event(0))
    m.run()
    assert d0.counts[new_cpu] == 1 and drv.devices[0].handled == [1]
    assert old_vec not in k.vector_irq[old_cpu]
    assert d0.vector not in k.vector_irq[old_cpu]
    assert k.irq.vector_domain.cleanups == (1 if masking else 2)
    assert balanced(m)


def test_multi_message_msi_block_cannot_move_one_irq() -> None:
    """A block shares one Message Address: moving one IRQ alone is refused (no IR)."""
    m = Machine(ncpus=2)
    m.add_device(MsiEventDevice(m.ctx, events=4))
    drv = MsiEventDriver(events=4)
    m.kernel.register_driver(drv)
    m.boot()
    irq = drv.devices[0].irqs[1]
    cpu = m.kernel.irqs[irq].cpu
    with pytest.raises(OSError, match="block"):
        m.kernel.irq_set_affinity(irq, [1 - cpu])        # refused before any access


# -- IO-APIC ----------------------------------------------------------------------------------
def intx_machine(**kw: Any) -> tuple[Machine, LegacyIntxDevice, LegacyIntxDriver]:
    m = Machine(ncpus=2, **kw)
    dev = m.add_device(LegacyIntxDevice(m.ctx))
    drv = LegacyIntxDriver()
    m.kernel.register_driver(drv)
    m.boot()
    return m, dev, drv  # type: ignore[return-value]


def test_ioapic_affinity_rewrites_the_rte_masked() -> None:
    """The RTE gets the new destination APIC ID and vector, unmasked again; the next level
    interrupt is taken on the new CPU."""
    m, dev, drv = intx_machine()
    k = m.kernel
    gsi = k.devices[-1].irq
    desc = k.irqs[gsi]
    new_cpu = 1 - desc.cpu
    sw(m, lambda: k.irq_set_affinity(gsi, [new_cpu]))
    rte = rte_read(m, gsi)
    assert rte >> 56 == k.apic_ids[new_cpu] and rte & 0xFF == desc.vector
    assert not rte & MASKED and rte & 1 << 15                   # level, unmasked
    at(m, m.now + 1000, lambda: dev.event(0))
    m.run()
    assert desc.counts[new_cpu] == 1 and drv.devices[0].handled == 1
    assert balanced(m)


@pytest.mark.parametrize("directed", [False, True])
def test_ioapic_move_while_in_service_waits_for_the_eoi(directed: bool) -> None:
    """With Remote IRR set (a level interrupt in service) the RTE keeps its vector until
    that interrupt's EOI (broadcast, or written to the I/O APIC's EOI register with
    directed EOI, SDM 10.8.5), so the EOI still matches; the move happens then, and the
    next interrupt goes to the new CPU."""
    m, dev, _drv = intx_machine(directed_eoi=directed)
    k = m.kernel
    gsi = k.devices[-1].irq
    desc = k.irqs[gsi]
    old_cpu = desc.cpu
    new_cpu = 1 - old_cpu
    k.vectors.reserve(new_cpu, desc.vector)           # the new vector differs from the old
    old_vec = desc.vector
    seen: list[int] = []
    action = desc.actions[0]
    inner = action.handler

    def handler(irq: int, st: Any) -> Any:
        if not seen:
            k.irq_set_affinity(gsi, [new_cpu])          # inside the handler: Remote IRR=1
            seen.append(desc.cpu)
        return inner(irq, st)
    action.handler = handler
    at(m, m.now + 1000, lambda: dev.event(0))
    m.run()
    assert seen == [old_cpu] and k.irq.ioapic_domains[0].deferred_moves == 1
    assert desc.cpu == new_cpu and rte_read(m, gsi) >> 56 == k.apic_ids[new_cpu]
    at(m, m.now + 1000, lambda: dev.event(0))
    m.run()
    assert desc.counts[old_cpu] == 1 and desc.counts[new_cpu] == 1
    assert desc.vector != old_vec and not rte_read(m, gsi) & 1 << 14   # Remote IRR clear
    assert balanced(m)


def test_free_irq_on_intx_masks_the_rte_and_frees_the_vector() -> None:
    """free_irq of the line's only handler masks the RTE and releases its vector."""
    m, _dev, drv = intx_machine()
    k = m.kernel
    gsi = k.devices[-1].irq
    desc = k.irqs[gsi]
    cpu, vec = desc.cpu, desc.vector
    sw(m, lambda: k.free_irq(gsi, drv.devices[0]))
    assert rte_read(m, gsi) & MASKED
    assert not k.vectors.in_use(cpu, vec) and k.proc_irq(gsi)["effective_affinity"] == "0"


def test_old_vector_still_pending_on_the_old_cpu_is_delivered_before_cleanup() -> None:
    """Linux __vector_cleanup: while the old vector is set in the old CPU's IRR the cleanup
    re-arms; the interrupt sent before the move is handled on the old CPU through the old
    mapping (not lost), and only then is the vector released."""
    m, nics, drv = nic_machine(ncpus=2)
    k = m.kernel
    irq = k.pci_irq_vector(drv.pdevs[0], 0)
    old = k.irqs[irq].vector
    cpu0 = m.cpus[0]
    sw(m, lambda: k.apic_write(cpu0, 0x80, 0xF0))           # TPR blocks device vectors
    at(m, m.now + 100, lambda: nics[0].rx(0))
    m.run()
    assert m.lapics[0].irr >> old & 1 and drv.calls == []
    sw(m, lambda: k.irq_set_affinity(irq, [1]))
    t1 = m.now + 100
    at(m, t1, lambda: nics[0].rx(0))
    at(m, t1 + 2_500_000, lambda: k.run_on(cpu0, lambda: k.apic_write(cpu0, 0x80, 0)))
    m.run()
    assert [c.cpu for c in drv.calls] == [1, 0]
    assert drv.calls[1].time > t1 + 2_500_000 and not m.lapics[0].irr
    vd = k.irq.vector_domain
    assert vd.cleanup_retries >= 2 and vd.cleanups == 1
    assert not k.vectors.in_use(0, old) and old not in k.vector_irq[0]
    assert balanced(m)


def test_msix_entries_sharing_a_message_move_with_their_irq() -> None:
    """Seed 002's kernel programs every virtio queue entry with the device's one message
    (msix_share_entry); moving that IRQ rewrites each of those entries (masked updates)."""
    m = Machine(ncpus=2)
    net = m.add_device(VirtioNet(m.ctx))
    m.kernel.register_driver(VirtioPciDriver())
    m.boot()
    k = m.kernel
    irq = k.devices[-1].irqs[0]
    old_cpu = k.irqs[irq].cpu
    sw(m, lambda: k.irq_set_affinity(irq, [1 - old_cpu]))
    want = [msi_address(k.apic_ids[1 - old_cpu]), 0, msi_data(k.irqs[irq].vector), 0]
    t = net.msix.table
    n = 1 + len(k.devices[-1].msi_domain.aliases[0])
    assert n >= 2 and [t[4 * e:4 * e + 4] for e in range(n)] == [want] * n
    assert balanced(m)


class PassThroughRemap(IrqDomain, IrqChip):
    """A test level in the interrupt-remapping slot: allocates through VECTOR and composes
    the parent's message unchanged (what an IR domain in pass-through would do)."""

    name = "IR-test"

    def __init__(self, parent: IrqDomain) -> None:
        super().__init__(parent)
        self.allocated = 0

    def alloc(self, descs: list[Any], hwirq: int, info: AllocInfo) -> list[IrqData]:
        assert self.parent is not None
        parents = self.parent.alloc(descs, hwirq, info)
        self.allocated += len(descs)
        return [IrqData(d.irq, hwirq + i, self, self, p)
                for i, (d, p) in enumerate(zip(descs, parents, strict=True))]


def test_remapping_slot_sits_between_the_device_domains_and_vector() -> None:
    """Linux's hierarchy PCI-MSIX -> IR -> VECTOR: a level installed in the slot before
    probing is every device IRQ's parent; messages, moves and delivery go through it."""
    m = Machine(ncpus=2)
    nic = m.add_device(MultiQueueNic(m.ctx, 2))
    drv = RecordingDriver(queues=2)
    m.kernel.register_driver(drv)
    ir = PassThroughRemap(m.kernel.irq.vector_domain)
    m.kernel.irq.set_msi_parent(ir)
    m.boot()
    k = m.kernel
    irq = k.pci_irq_vector(drv.pdevs[0], 1)
    d = k.irqs[irq].data
    assert d is not None and d.parent is not None and d.parent.parent is not None
    assert [d.domain.name, d.parent.domain.name, d.parent.parent.domain.name] == [
        "PCI-MSIX-0000:01:00.0", "IR-test", "VECTOR"]
    assert ir.allocated == 2
    sw(m, lambda: k.irq_set_affinity(irq, [1]))
    at(m, m.now + 1000, lambda: nic.rx(1))
    m.run()
    assert [c.cpu for c in drv.calls] == [1]
    with pytest.raises(OSError, match="already allocated"):
        k.irq.set_msi_parent(ir)
    assert balanced(m)


def test_cpumask_hex_groups_of_32_bits() -> None:
    """/proc/irq/N/smp_affinity prints ``%*pb``: 32-bit hex groups, comma-separated, the
    first as wide as the CPUs need."""
    assert cpumask_hex([0, 1], 2) == "3"
    assert cpumask_hex([0, 1], 4) == "3"
    assert cpumask_hex([3], 8) == "08"
    assert cpumask_hex([0, 33], 40) == "02,00000001"
    assert cpulist([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"


def test_shared_intx_line_is_freed_with_its_last_user() -> None:
    """pci_free_irq_vectors on a shared INTx line: the IRQ stays while another device uses
    it; the last user's release masks the RTE and frees the vector."""
    m = Machine(ncpus=1)
    sw_ = m.add_switch(2)
    m.add_device(LegacyIntxDevice(m.ctx, "a", pin=1), sw_[0])
    m.add_device(LegacyIntxDevice(m.ctx, "b", pin=4), sw_[1])   # swizzles to the same line
    drv = LegacyIntxDriver()
    m.kernel.register_driver(drv)
    m.boot()
    k = m.kernel
    a, b = drv.devices
    gsi = a.irq
    assert b.irq == gsi
    vec = k.irqs[gsi].vector
    for st in (a, b):
        sw(m, lambda st=st: k.free_irq(gsi, st))
    sw(m, lambda: k.pci_free_irq_vectors(a.pdev))
    assert gsi in k.irqs and a.pdev.irq_mode == "none"
    sw(m, lambda: k.pci_free_irq_vectors(b.pdev))
    assert gsi not in k.irqs and not k.vectors.in_use(0, vec)
    assert rte_read(m, gsi) & MASKED
