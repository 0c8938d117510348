"""Interrupt remapping with the OS: Linux's enable sequence and boot lines, IRTEs per vector,
remappable MSI-X messages and I/O APIC entries, retargeting through the IRTE, x2APIC beyond
254, posting to a vCPU descriptor, the fault handler, forged writes, and the scenarios
(reference vtd-posted.md 2.2, 4, 7.4, 9, 10; VT-d 5.1, 9.10)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from helpers import nic_machine, table_addr
from irqsim.cli import main as cli_main
from irqsim.devices.nic import MultiQueueNic
from irqsim.drivers.generic import GenericDriver
from irqsim.iommu.vtd import IommuOptions
from irqsim.machine import Machine
from irqsim.os.irq_remapping import IrRemapDomain, IrteData
from irqsim.scenarios import ScenarioOptions
from irqsim.scenarios.vtd import build_vtd_remap, run_forging, vtd_fault, vtd_remap
from irqsim.spec import vtd as s
from irqsim.spec.ioapic import IOREDTBL_REMAPPABLE
from irqsim.views.iommu import ir_translation_struct
from irqsim.views.mermaid import sequence_diagram

OPTS = ScenarioOptions(requests=20, mean_gap_ns=10_000.0, seed=3, trace=True)


def irte_of(m: Machine, irq: int) -> tuple[IrRemapDomain, IrteData, int, int]:
    """The IR level of ``irq`` and its IRTE as it is in memory."""
    d = m.kernel.irqs[irq].data
    while d is not None and not isinstance(d.domain, IrRemapDomain):
        d = d.parent
    assert d is not None
    data: IrteData = d.chip_data
    idx = data.index + data.sub_handle
    raw = m.memory.read(m.iommu.irt_base + 16 * idx, 16)
    return d.domain, data, raw & (1 << 64) - 1, raw >> 64


def test_boot_enables_remapping_in_linux_order_with_its_log_lines() -> None:
    """Reference 2.2 and 9: QI on, IRTA latched by SIRTP (65,536 entries, xAPIC mode), IRE on,
    CFI off; dmesg has the lines Linux prints, with its two spaces before the base."""
    m, _ = build_vtd_remap()
    m.boot()
    io = m.iommu
    g = io.mmio_read(s.GSTS.offset, 4)
    assert g & s.GSTS_QIES and g & s.GSTS_IRES and g & s.GSTS_IRTPS and not g & s.GSTS_CFIS
    assert (io.irt_entries, io.eime) == (65536, False) and io.irt_base % (1 << 20) == 0
    assert [line.split("] ", 1)[1] for line in m.kernel.dmesg] == [
        "DMAR: Host address width 46",
        "DMAR: DRHD base: 0x000000fed90000 flags: 0x1",
        f"DMAR: dmar0: reg_base_addr fed90000 ver 1:0 cap {io.cap:x} ecap {io.ecap:x}",
        "DMAR-IR: IOAPIC id 0 under DRHD base  0xfed90000 IOMMU 0",
        "DMAR-IR: Queued invalidation will be enabled to support x2apic and Intr-remapping.",
        "DMAR-IR: Enabled IRQ remapping in xapic mode"]
    assert io.iec_invalidations >= 1                       # the global flush after SIRTP


def test_intremap_off_keeps_todays_path() -> None:
    """Without the kernel option the unit stays off: plain chip names, compatibility
    messages, no remapping stage on the path."""
    m, _ = build_vtd_remap(intremap=False)
    m.boot()
    assert not m.iommu.remapping_enabled and m.kernel.dmesg == []
    assert {r["chip"] for r in m.kernel.interrupt_rows()} >= {"IO-APIC"}
    assert not any(r["chip"].startswith("IR-") for r in m.kernel.interrupt_rows())


def test_msix_entries_hold_remappable_messages_and_irtes_the_vectors() -> None:
    """VT-d 5.1.2.2 and 9.10 (Linux fill_msi_msg): each MSI-X entry holds handle, SHV = 1,
    sub-handle 0; its IRTE holds the vector, the APIC ID (xAPIC: bits 47:40) and SVT = 01
    with the function's BDF."""
    m, nics, _ = nic_machine(queues=2, ncpus=2, intremap=True)
    k = m.kernel
    for q in range(2):
        irq = next(d.irq for d in k.irqs.values() if d.name == f"q{q}")
        _, data, lo, hi = irte_of(m, irq)
        addr = k.cpus[0].read(table_addr(m, nics[0], q), 4)
        dat = k.cpus[0].read(table_addr(m, nics[0], q, 2), 4)
        f = s.IRTE_LOW.decode(lo)
        assert addr & 0x18 == 0x18 and (addr >> 5 & 0x7FFF) == data.index and dat == 0
        desc = k.irqs[irq]
        assert (f["p"], f["v"], f["dst"]) == (1, desc.vector, k.apic_ids[desc.cpu] << 8)
        assert s.IRTE_HIGH.decode(hi) == {"sid": nics[0].requester_id, "sq": 0, "svt": 1}
        assert desc.chip.startswith("IR-PCI-MSIX-")


def test_retarget_rewrites_the_irte_not_the_device() -> None:
    """Reference 2.3 (Linux intel_ir_set_affinity): an affinity change writes the IRTE and
    invalidates it; the MSI-X entry keeps its message; the next interrupt arrives on the new
    CPU."""
    m, nics, _drv = nic_machine(ncpus=2, intremap=True)
    k = m.kernel
    irq = next(d.irq for d in k.irqs.values() if d.name == "q0")
    entry = [k.cpus[0].read(table_addr(m, nics[0], 0, i), 4) for i in range(3)]
    inval = m.iommu.iec_invalidations
    k.run_on(k.cpus[0], lambda: k.irq_set_affinity(irq, [1]))
    assert [k.cpus[0].read(table_addr(m, nics[0], 0, i), 4) for i in range(3)] == entry
    assert m.iommu.iec_invalidations == inval + 1
    _, _, lo, _ = irte_of(m, irq)
    assert lo >> 40 & 0xFF == k.apic_ids[1]
    nics[0].rx(0)
    m.run()
    assert k.irqs[irq].counts == [0, 1] and m.accounting()["balanced"]


def test_driver_that_forgets_to_invalidate_keeps_the_old_target() -> None:
    """VT-d 6.5.2.7 (reference 2.3, behaviour 13): software rewrites an IRTE to another CPU
    without the IEC invalidation: the interrupt still goes to the old CPU; after the
    invalidation it goes to the new one."""
    m, nics, _ = nic_machine(ncpus=2, intremap=True)
    k = m.kernel
    irq = next(d.irq for d in k.irqs.values() if d.name == "q0")
    dom, data, lo, hi = irte_of(m, irq)
    nics[0].rx(0)
    m.run()                                               # the entry is now cached
    assert k.irqs[irq].counts == [1, 0]
    new_lo = s.IRTE_LOW.field("dst").put(lo, k.apic_ids[1] << 8)
    k.run_on(k.cpus[0], lambda: dom.unit.write_irte(data.index, new_lo, hi, flush=False))
    nics[0].rx(0)
    m.run()
    assert m.lapics[0].isr == 0 and k.irqs[irq].counts == [2, 0]
    k.run_on(k.cpus[0], lambda: dom.unit.flush_iec(data.index))
    nics[0].rx(0)
    m.run()
    # CPU 1 has no handler for that vector (the driver never moved it): "unexpected".
    assert k.irqs[irq].counts == [2, 0] and k.unexpected == [0, 1]


def test_ioapic_line_goes_through_a_remappable_entry_and_directed_eoi() -> None:
    """VT-d 5.1.5.1, behaviour 23 (Linux ioapic_ir_ack_level): the RTE is remappable (bit 48,
    index), its vector is the pin, the delivered vector is IRTE.V; the level line's EOI goes
    to the EOI register with the pin, so it keeps firing; an IRTE whose SID is not the I/O
    APIC's DMAR source-id rejects it (0x26)."""
    m, legacy = build_vtd_remap()
    m.boot()
    k = m.kernel
    gsi = next(r["irq"] for r in k.interrupt_rows() if r["chip"] == "IR-IO-APIC")
    pin = gsi - m.ioapic.gsi_base
    f = IOREDTBL_REMAPPABLE.decode(m.ioapic.rte[pin])
    dom, data, lo, hi = irte_of(m, gsi)
    assert (f["format"], f["index"], f["vector"], f["trigger_mode"]) == (1, data.index, pin, 1)
    assert s.IRTE_HIGH.decode(hi)["sid"] == m.ioapic.source_id == 0xFF00
    for i in range(3):
        m.engine.at(m.now + 20_000 * (i + 1), lambda _=None: legacy.event(0))
    m.run()
    assert sum(k.irqs[gsi].counts) == 3 and m.accounting()["balanced"]
    k.run_on(k.cpus[0], lambda: dom.unit.write_irte(data.index, lo, hi ^ 0x0100))
    legacy.event(0)
    m.run()
    assert m.iommu.faults[0x26] == 1 and m.accounting()["balanced"]


def test_nosid_option_turns_source_validation_off() -> None:
    """Linux intremap=nosid: IRTEs carry SVT = 00."""
    m, _, _ = nic_machine(intremap="nosid")
    irq = next(d.irq for d in m.kernel.irqs.values() if d.name == "q0")
    assert s.IRTE_HIGH.decode(irte_of(m, irq)[3])["svt"] == 0


def test_bad_intremap_option_is_refused() -> None:
    with pytest.raises(ValueError, match="intremap"):
        Machine(intremap="sometimes")


def test_x2apic_remapping_spreads_vectors_over_1024_cpus() -> None:
    """Issue 10 OS: with remapping in x2APIC mode (EIME) device vectors reach CPUs with APIC
    IDs above 254: 1024 queues on 1024 CPUs, one each, each interrupt taken where its IRQ
    says."""
    m = Machine(ncpus=1024, intremap=True)
    nic = MultiQueueNic(m.ctx, 1024)
    m.add_device(nic)
    m.kernel.register_driver(GenericDriver(((0x8086, 0x1572),), max_vectors=1024))
    m.boot()
    k = m.kernel
    assert m.iommu.eime and k.dmesg[-1].endswith("Enabled IRQ remapping in x2apic mode")
    descs = [d for d in k.irqs.values() if d.chip.startswith("IR-PCI-MSIX")]
    assert len({d.cpu for d in descs}) == 1024
    assert max(k.apic_ids[d.cpu] for d in descs) == 1023
    for q in range(1024):
        nic.rx(q)
    m.run()
    assert all(d.counts[d.cpu] == 1 and sum(d.counts) == 1 for d in descs)
    assert m.accounting()["balanced"]


def test_vcpu_affinity_posts_into_the_descriptor_and_back() -> None:
    """VT-d 5.2.3, reference 7.4 (intel_ir_set_vcpu_affinity): the IRTE switches to posted
    format; device interrupts set PIR bits and one notification (NV to NDST) reaches the
    CPU; the pending PIR bit is counted; switching back delivers to the host vector again."""
    m, nics, drv = nic_machine(ncpus=2, intremap=True, ledger_debug=True)
    k = m.kernel
    irq = next(d.irq for d in k.irqs.values() if d.name == "q0")
    pda = k.dma_alloc(64, 64)
    m.memory.write(pda, 64, s.PID.encode(nv=0xF2, ndst=k.apic_ids[1] << 8))
    k.irq_set_vcpu_affinity(irq, (pda, 0x55, False))
    _, _, lo, _hi = irte_of(m, irq)
    assert s.IRTE_POSTED_LOW.decode(lo)["vv"] == 0x55 and lo & s.IRTE_IM
    assert f" 00000000 {pda:08x} 55  " in ir_translation_struct(m.iommu).split("****")[1]
    nics[0].rx(0)
    m.run()
    pid = m.memory.read(pda, 64)
    assert pid >> 0x55 & 1 and pid & s.PID_ON
    assert m.lapics[1].isr == 0 and m.iommu.notifications == 1
    acc = m.accounting()
    assert acc["pending"]["pir"] == 1 and acc["balanced"] and drv.calls == []
    k.irq_set_vcpu_affinity(irq, None)
    nics[0].rx(0)
    m.run()
    assert len(drv.calls) == 1 and m.accounting()["balanced"]


def test_nopost_refuses_vcpu_affinity() -> None:
    m, _, _ = nic_machine(intremap="nopost")
    irq = next(d.irq for d in m.kernel.irqs.values() if d.name == "q0")
    with pytest.raises(OSError, match="posted"):
        m.kernel.irq_set_vcpu_affinity(irq, (0x100000, 0x40, False))


def test_fault_handler_logs_and_clears_records() -> None:
    """Reference 5.2 and 9 (Linux dmar_fault): the fault event reaches the dmar0 IRQ, whose
    handler prints the record in words and clears it; the fault event MSI is counted
    delivered."""
    res = vtd_fault(OPTS)
    m = res.machine
    dmesg = "\n".join(m.kernel.dmesg)
    assert "DMAR: DRHD: handling fault status reg" in dmesg
    assert ("[fault reason 0x26] Blocked an interrupt request due to source-id verification "
            "failure") in dmesg
    dmar = next(r for r in m.kernel.interrupt_rows() if r["name"] == "dmar0")
    assert sum(dmar["counts"]) == m.iommu.fault_events > 0
    assert m.accounting()["balanced"]


def test_forged_writes_are_blocked_with_remapping_and_delivered_without() -> None:
    """Issue 10 Hardware (the seed's security benefit, measured): every forged write is
    blocked with remapping on (wrong SID 0x26, index 0x21, compatibility 0x25) and the
    forged compatibility writes all reach the victim with remapping off."""
    m_on, on = run_forging(True, 5, 5_000.0, 1)
    m_off, off = run_forging(False, 5, 5_000.0, 1)
    assert on.delivered == 0 and on.blocked == {0x26: 5, 0x21: 5, 0x25: 5}
    assert off.delivered == sum(off.sent.values()) == 5
    assert m_on.accounting()["balanced"] and m_off.accounting()["balanced"]


def test_vtd_remap_scenario_draws_the_remap_branch_and_balances() -> None:
    """Seeds 000/001: the delivery diagram has the IOMMU branch (look up, validate, remap)."""
    res = vtd_remap(OPTS)
    m = res.machine
    assert m.accounting()["balanced"] and m.iommu.remapped > 0
    text = sequence_diagram(m.ctx.tracer.events)
    assert "opt IOMMU Enabled" in text and "Lookup & validate device ID" in text
    assert any(n.startswith(" Entry SrcID") for n in res.notes)


def test_demo_json_runs_both_scenarios() -> None:
    for name in ("vtd-remap", "vtd-fault"):
        r = CliRunner().invoke(cli_main, ["demo", "--scenario", name, "--format", "json",
                                          "--requests", "8"])
        assert r.exit_code == 0, r.output
        assert json.loads(r.output)["accounting"]["balanced"]


def test_iommu_options_reach_the_unit() -> None:
    """Machine(iommu=...): base, capabilities as the DMAR table and CAP/ECAP say."""
    m = Machine(iommu=IommuOptions(base=0xFED91000, pi=False, eim=False, nfr=2))
    assert m.acpi.dmar is not None and m.acpi.dmar.drhds[0].address == 0xFED91000
    cap = s.CAP.decode(m.iommu.cap)
    assert (cap["pi"], cap["nfr"]) == (0, 1) and not m.iommu.ecap & s.ECAP_EIM


def test_multi_message_msi_moves_one_irq_at_a_time_under_remapping() -> None:
    """Linux with interrupt remapping (VT-d 5.1.2.2, sub-handles): a 4-message MSI block gets
    4 consecutive IRTEs (handle + message number) and a vector each, so one IRQ of the block
    moves alone by rewriting its IRTE; the others stay."""
    from irqsim.devices.msi_device import MsiEventDevice
    from irqsim.drivers.msi_device import MsiEventDriver
    m = Machine(ncpus=2, intremap=True, ledger_debug=True)
    dev = MsiEventDevice(m.ctx, events=4)
    m.add_device(dev)
    drv = MsiEventDriver(events=4)
    m.kernel.register_driver(drv)
    m.boot()
    k = m.kernel
    irqs = drv.devices[0].irqs
    idx = [irte_of(m, i)[1].index + irte_of(m, i)[1].sub_handle for i in irqs]
    assert idx == list(range(idx[0], idx[0] + 4)) and k.irqs[irqs[0]].chip.startswith("IR-")
    before = [k.irqs[i].cpu for i in irqs]
    target = 1 - before[2]
    k.run_on(k.cpus[0], lambda: k.irq_set_affinity(irqs[2], [target]))
    for ev in range(4):
        dev.event(ev)
    m.run()
    want = [*before[:2], target, before[3]]
    assert [k.irqs[i].cpu for i in irqs] == want
    assert [k.irqs[i].counts[c] for i, c in zip(irqs, want, strict=True)] == [1, 1, 1, 1]
    assert m.accounting()["balanced"]


def test_x2apic_opt_out_keeps_remapping_in_xapic_mode() -> None:
    """Reference 9 (Linux intel_irq_remapping): the DMAR x2APIC opt-out flag: the kernel says
    so and remaps with 8-bit destinations (EIME = 0), so CPUs above APIC ID 254 get no device
    vectors."""
    m = Machine(ncpus=300, intremap=True, iommu=IommuOptions(x2apic_opt_out=True))
    nic = MultiQueueNic(m.ctx, 8)
    m.add_device(nic)
    m.kernel.register_driver(GenericDriver(((0x8086, 0x1572),), max_vectors=8))
    m.boot()
    lines = [line.split("] ", 1)[1] for line in m.kernel.dmesg]
    assert "DMAR-IR: x2apic is disabled because BIOS sets x2apic opt out bit." in lines
    assert lines[-1] == "DMAR-IR: Enabled IRQ remapping in xapic mode" and not m.iommu.eime


def test_cfi_only_when_asked_lets_compatibility_writes_bypass() -> None:
    """Reference 2.2 and 1.2: the OS sets CFI only if asked (intremap_cfi); then, in xAPIC
    mode, a compatibility-format write bypasses remapping and is delivered as it is."""
    for cfi in (False, True):
        m, nics, drv = nic_machine(intremap=True, intremap_cfi=cfi)
        assert bool(m.iommu.gsts & s.GSTS_CFIS) == cfi
        v = m.kernel.irqs[next(d.irq for d in m.kernel.irqs.values() if d.name == "q0")].vector
        nics[0].dma_write(0xFEE00000, v.to_bytes(4, "little"))
        m.run()
        assert len(drv.calls) == int(cfi) and m.iommu.faults.get(0x25, 0) == int(not cfi)
        assert m.accounting()["balanced"]
