"""SR-IOV (issue 16; PCIe Base 6.0, 9.3): a physical function's VFs appear at their routing
IDs when software enables them, each a function of its own with its MSI-X vectors and
requester ID, enabled the Linux way (sriov_numvfs) and gone when disabled."""

from __future__ import annotations

from irqsim.devices.sriov_nic import SriovNic
from irqsim.drivers.generic import GenericDriver
from irqsim.formats.dumpfile import parse_hex_text
from irqsim.machine import Machine
from irqsim.spec import pcie as X
from irqsim.views.export import lspci_hex
from irqsim.views.lspci import decode


def machine(ncpus: int = 2) -> tuple[Machine, SriovNic, GenericDriver]:
    m = Machine(ncpus, trace=True)
    pf = SriovNic(m.ctx)
    m.add_device(pf)
    drv = GenericDriver(ids=((0x8086, 0x10C9), (0x8086, 0x10CA)), max_vectors=3)
    m.kernel.register_driver(drv)
    m.boot()
    return m, pf, drv


def pf_pdev(m: Machine) -> object:
    return next(p for p in m.kernel.devices if (p.vendor, p.device) == (0x8086, 0x10C9))


def test_vfs_appear_at_routing_ids_and_get_their_own_vectors() -> None:
    """9.3.3.9-10: VF i at PF + First VF Offset + i x VF Stride; each VF is probed and given
    MSI-X vectors of its own; a VF event is delivered as a message with the VF's requester
    ID; the books balance."""
    m, pf, drv = machine()
    assert m.kernel.sriov_numvfs(pf_pdev(m), 4) == 4
    assert [vf.requester_id for vf in pf.vfs] == [
        pf.requester_id + 0x80 + 2 * i for i in range(4)]
    assert len(drv.vectors) == 5                       # the PF and four VFs
    for vf in pf.vfs:
        assert vf.msix.enabled and drv.vectors[f"0000:{vf.bdf}"] == 3
        vf.event(0)
    m.run()
    requesters = {e.fields["requester"] for e in m.ctx.tracer.events
                  if e.kind == "MWr" and "requester" in e.fields}
    assert {vf.requester_id for vf in pf.vfs} <= requesters
    acc = m.accounting()
    assert acc["balanced"] and acc["delivered"] == 4
    assert drv.handled == 4


def test_vf_config_space_reads_ffff_ids_and_pf_declares_the_vf_device() -> None:
    """9.3.4.1.1-2: a VF's Vendor and Device ID read FFFFh; software takes the VF Device ID
    from the PF's SR-IOV capability (10CAh here)."""
    m, pf, _ = machine()
    m.kernel.sriov_numvfs(pf_pdev(m), 2)
    vf = pf.vfs[0]
    assert vf.config_read(0, 2) == 0xFFFF and vf.config_read(2, 2) == 0xFFFF
    assert pf.config_read(pf.sriov.offset + X.SRIOV_VF_DEVICE.offset, 2) == 0x10CA


def test_disable_removes_the_vfs() -> None:
    """Writing 0 to sriov_numvfs frees the VFs' vectors and clears VF Enable: configuration
    reads at their routing IDs then return all ones (no function)."""
    m, pf, _ = machine()
    m.kernel.sriov_numvfs(pf_pdev(m), 3)
    rids = [vf.requester_id for vf in pf.vfs]
    assert m.kernel.sriov_numvfs(pf_pdev(m), 0) == 0
    assert pf.vfs == []
    for rid in rids:
        assert m.rc.config_read(rid >> 8, rid & 0xFF, 0, 4) == 0xFFFFFFFF


def test_vf_bus_master_gates_its_messages() -> None:
    """Each VF has its own Bus Master Enable (9.3.4.1.3): with it clear, the VF's MSI-X
    message is blocked and counted under a named reason; other VFs are unaffected."""
    m, pf, _ = machine()
    m.kernel.sriov_numvfs(pf_pdev(m), 2)
    vf0, vf1 = pf.vfs
    rid = vf0.requester_id
    cmd = m.rc.config_read(rid >> 8, rid & 0xFF, 4, 2)
    m.rc.config_write(rid >> 8, rid & 0xFF, 4, 2, cmd & ~0x4)
    vf0.event(0)
    vf1.event(0)
    m.run()
    acc = m.accounting()
    assert acc["balanced"] and acc["delivered"] == 1
    assert sum(acc["dropped"].values()) == 1


def test_lspci_decodes_the_pf_sriov_capability() -> None:
    """The PF's SR-IOV capability, printed by the lspci view from the same declarations:
    IOVCtl with Enable+ MSE+, NumVFs and the VF BARs the OS assigned."""
    m, pf, _ = machine()
    m.kernel.sriov_numvfs(pf_pdev(m), 4)
    (dump,), _ = parse_hex_text(lspci_hex(pf, 4096), "pf.txt")
    text = decode(dump).text
    assert "Single Root I/O Virtualization (SR-IOV)" in text
    assert "IOVCtl:\tEnable+ Migration- Interrupt- MSE+ ARIHierarchy- 10BitTagReq-" in text
    assert "Initial VFs: 8, Total VFs: 8, Number of VFs: 4" in text
    assert "VF offset: 128, stride: 2, Device ID: 10ca" in text


def test_sriov_scenario_runs_balanced_with_no_rule_broken() -> None:
    """`irqsim demo --scenario sriov`: four VFs enabled by sriov_numvfs, events on each VF's RX
    and TX vectors all delivered or merged, no diagnostic (a VF's MSI-X table is reachable
    through the PF's VF MSE although its own Memory Space bit is read-only zero, 9.3.4.1.3)."""
    from irqsim.scenarios import ScenarioOptions, load_all
    res = load_all()["sriov"][1](ScenarioOptions(requests=20, trace=False))
    m = res.machine
    assert res.extra["vfs"] == ["01:10.0", "01:10.2", "01:10.4", "01:10.6"]
    acc = m.accounting()
    assert acc["balanced"] and acc["raised"] == 4 * 2 * 20
    assert m.ctx.diagnostics == []
