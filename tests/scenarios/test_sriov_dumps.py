"""SR-IOV on devices built from real dumps (PCIe Base 6.0, 9.3.3 SR-IOV Extended Capability;
9.3.3.9-10 First VF Offset and VF Stride; 9.3.3.14 VF BARs): run-dump enables the VFs through
sriov_numvfs and drives their MSI-X vectors; the ledger balances."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irqsim.devices.dumped import DumpedFunction, DumpedVf
from irqsim.scenarios.dumps import run_dumps

DUMPS = Path(__file__).resolve().parents[2] / ".." / "shared" / "realworld" / "pci-dumps"
needs_dumps = pytest.mark.skipif(not DUMPS.is_dir(), reason="real dumps not present")
I82576 = DUMPS / "03-nic-intel-82576-sriov.lspci-x.txt"


def _pf(res: object) -> DumpedFunction:
    (pf,) = res.machine.devices                      # type: ignore[attr-defined]
    assert isinstance(pf, DumpedFunction) and pf.sriov is not None
    return pf


@needs_dumps
def test_82576_vfs_sit_on_the_next_bus_and_raise_their_own_vectors() -> None:
    """The 82576's First VF Offset 384 and VF Stride 2 put VF i at the PF's routing ID +
    0x180 + 2i: bus 02, 10.0, 10.2, ... (9.3.3.9-10). The OS reserves that bus below the root
    port (Linux pci_iov_bus_range), each VF answers configuration requests there with its own
    Vendor/Device ID FFFFh (9.3.4.1.1), the driver allocates the VF's 3 MSI-X vectors (82576
    datasheet) and every VF event is delivered or merged."""
    res = run_dumps([I82576], ncpus=2, requests=4, mean_gap_ns=5_000, trace=False,
                    sriov_numvfs=8)
    m, pf = res.machine, _pf(res)
    assert pf.bdf == "01:00.0"
    assert [vf.bdf for vf in pf.sriov.vfs] == [f"02:10.{f}" for f in (0, 2, 4, 6)] + \
        [f"02:11.{f}" for f in (0, 2, 4, 6)]
    port = pf.parent
    assert port.subordinate_bus >= 2                  # type: ignore[attr-defined]
    assert m.kernel.cfg_read(2, 0x80, 0, 4) == 0xFFFFFFFF      # VF IDs read FFFFh
    assert m.kernel.cfg_read(2, 0x81, 0, 4) == 0xFFFFFFFF      # no function there either
    vfs = [p for p in m.kernel.devices if p.physfn is not None]
    assert len(vfs) == 8
    assert all(p.device == 0x10CA and p.bus == 2 and len(p.irqs) == 2 for p in vfs)
    for vf in pf.sriov.vfs:
        assert isinstance(vf, DumpedVf) and vf.msix is not None and vf.msix.n == 3
        assert vf.msix.enabled and vf.requester_id == 2 << 8 | vf.devfn
    assert res.extra["vfs"]["03-nic-intel-82576-sriov"][0] == "02:10.0"
    assert res.extra["links"]["03-nic-intel-82576-sriov"] == {"gen": 1, "width": 4}
    acc = m.accounting()
    assert acc["balanced"], acc
    vf_events = 8 * 2 * 4
    assert acc["raised"] == vf_events + 2 * 4          # the PF's two vectors too
    assert not m.ctx.diagnostics


@needs_dumps
def test_by_default_run_dump_enables_the_dumps_numvfs() -> None:
    """Without --sriov-numvfs the PF gets the NumVFs its dump shows (the live machine's
    setting): one VF for the 82576."""
    res = run_dumps([I82576], ncpus=2, requests=2, trace=False)
    assert len(_pf(res).sriov.vfs) == 1
    assert any("sriov_numvfs 1: 1 VFs enabled" in n for n in res.notes)


@needs_dumps
def test_samsung_nvme_and_thunderx_vfs() -> None:
    """Samsung PM174x: VF offset 32, stride 1 on the PF's bus, each VF with an MSI-X
    capability shaped like the PF's (no VF dump exists) in its VF BAR 0. ThunderX: VF BARs
    not implemented (its resources are Enhanced Allocation entries): the VFs appear but have
    nothing to hold an MSI-X table, so no driver binds and no rule is broken."""
    res = run_dumps([DUMPS / "10-nvme-samsung.lspci-x.txt"], ncpus=2, requests=2,
                    trace=False, sriov_numvfs=3)
    pf = _pf(res)
    assert [vf.bdf for vf in pf.sriov.vfs] == ["01:04.0", "01:04.1", "01:04.2"]
    assert all(isinstance(vf, DumpedVf) and vf.msix is not None and vf.msix.enabled
               and vf.msix.n == pf.msix.n for vf in pf.sriov.vfs)   # type: ignore[union-attr]
    assert res.machine.accounting()["balanced"]
    res = run_dumps([DUMPS / "05-nic-cavium-thunderx-ea.lspci-x.txt"], ncpus=2, requests=2,
                    trace=False)
    pf = _pf(res)
    assert len(pf.sriov.vfs) == 128 and pf.vf_msix is None
    assert not res.machine.ctx.diagnostics and res.machine.accounting()["balanced"]


@needs_dumps
def test_read_only_vf_bars_are_reported_as_linux_would() -> None:
    """Kept as the dump's read-only bytes (--no-sriov), a VF BAR reads its old value after
    all ones are written: not sizable (9.3.3.14). The OS reports OS-SRIOV-VF-BAR for each
    (Linux: "invalid BAR (can't size)", no resource). Writing sriov_numvfs then finds no VF
    answering at its routing ID (VF Enable did not stick, 9.3.3.3.1): OS-SRIOV-VF-MISSING
    ("unknown header type 7f"), the enable is undone and fails with EIO, as Linux's
    sriov_enable does; the PF still runs."""
    res = run_dumps([I82576], ncpus=2, requests=2, trace=False, sriov=False)
    m = res.machine
    ids = [d.rule_id for d in m.ctx.diagnostics]
    assert ids == ["OS-SRIOV-VF-BAR", "OS-SRIOV-VF-BAR", "OS-SRIOV-VF-MISSING"]
    assert not any(p.physfn for p in m.kernel.devices)
    (pdev,) = [p for p in m.kernel.devices if p.sriov is not None]
    assert pdev.sriov.num_vfs == 0 and not pdev.sriov.vfs
    assert any("does not respond" in n for n in res.notes)
    assert m.accounting()["balanced"] and m.accounting()["delivered"] > 0


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 0x300), st.integers(1, 4), st.integers(1, 8))
def test_vf_routing_ids_follow_offset_and_stride(offset: int, stride: int, n: int) -> None:
    """9.3.3.9-10: VF i's routing ID is the PF's + First VF Offset + i x VF Stride, on the
    PF's bus or above it (the OS reserves those buses below the port); each answers
    configuration reads there (Vendor ID FFFFh) and sends with that requester ID."""
    from irqsim.devices.sriov_nic import SriovNic
    from irqsim.drivers.generic import GenericDriver
    from irqsim.machine import Machine

    m = Machine(2)
    pf = SriovNic(m.ctx, vf_offset=offset, vf_stride=stride)
    m.add_device(pf)
    m.kernel.register_driver(GenericDriver(((0x8086, 0x10C9), (0x8086, 0x10CA)), 1))
    m.boot()
    pdev = next(p for p in m.kernel.devices if p.device == 0x10C9)
    assert m.kernel.sriov_numvfs(pdev, n) == n
    rid0 = pf.requester_id
    for i, vf in enumerate(pf.sriov.vfs):
        rid = rid0 + offset + i * stride
        assert vf.requester_id == rid
        assert m.kernel.cfg_read(rid >> 8, rid & 0xFF, 0, 2) == 0xFFFF
        assert m.kernel.cfg_read(rid >> 8, rid & 0xFF, 0x0E, 1) == 0   # a type 0 header
    assert not m.ctx.diagnostics


def test_colliding_vf_routing_ids() -> None:
    """9.3.3.9-10: a VF Stride of 0 would put every VF on one routing ID. Linux's
    sriov_enable refuses (EIO) before setting VF Enable; a device enabled behind the OS's back
    creates the first VF only and reports SRIOV-VF-RID for the others."""
    from irqsim.devices.sriov_nic import SriovNic
    from irqsim.machine import Machine
    from irqsim.spec import pcie as X

    m = Machine(1)
    pf = SriovNic(m.ctx, vf_stride=0)
    m.add_device(pf)
    m.boot()
    pdev = next(p for p in m.kernel.devices if p.device == 0x10C9)
    with pytest.raises(OSError) as e:
        m.kernel.sriov_numvfs(pdev, 2)
    assert e.value.errno == 5 and not pf.sriov.vfs
    pos = pf.sriov.offset
    k = m.kernel
    k.cfg_write(pdev.bus, pdev.devfn, pos + X.SRIOV_NUM_VFS.offset, 2, 3)
    k.cfg_write(pdev.bus, pdev.devfn, pos + X.SRIOV_CTRL.offset, 2, 0x9)   # VF Enable, VF MSE
    assert len(pf.sriov.vfs) == 1
    assert [d.rule_id for d in m.ctx.diagnostics] == ["SRIOV-VF-RID"] * 2     # VFs 1 and 2
