"""Every declared register, checked twice (issue 9 item 1).

1. The declaration in :mod:`irqsim.spec` against masks transcribed here from the specification
   (so flipping one bit of a declaration fails a test: see tests/spec_mutation.py).
2. The model against the declaration: software writes of all-ones and all-zeros through the
   model's own access path change exactly the writable bits, clear exactly the W1C bits and
   leave the read-only bits alone.

Sources: PCI Local Bus 3.0 6.2 (header), PCI-to-PCI Bridge 1.2 3.2, PCIe Base 7.5.1.3.7 and
7.5.1.3.13 (bridge Secondary Status, Bridge Control), PCIe 7.7.1-7.7.2 (MSI, MSI-X); Intel SDM
vol. 3 10.4-10.12 (Local APIC, Figure 10-8 LVT, Table 10-6 x2APIC); 82093AA 3.2 (I/O APIC);
virtio 1.2 4.1.4.3; VT-d 10.4 (reference/vtd-posted.md 2.1).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apic_helpers import raw_machine
from irqsim.apic.ioapic import IoApic
from irqsim.apic.lapic import LocalApic, register_table
from irqsim.devices.msi_device import MsiEventDevice
from irqsim.devices.nic import MultiQueueNic
from irqsim.devices.virtio import VirtioNet
from irqsim.iommu.vtd import Iommu
from irqsim.pci.bridge import PciBridge
from irqsim.sim.context import SimContext
from irqsim.spec import ioapic as sio
from irqsim.spec import lapic as sl
from irqsim.spec import msi as smsi
from irqsim.spec import pci as sp
from irqsim.spec import virtio as sv
from irqsim.spec import vtd as svtd
from irqsim.spec.regs import Register

SPEC_DIR = Path(sp.__file__).parent

# -- masks transcribed from the specifications (not from the declarations) ------------------
# PCI type 0/1 headers: register -> (writable, write-1-to-clear); every other header register
# is read-only.
PCI_HEADER_MASKS: dict[str, tuple[int, int]] = {
    "Command": (0x0547, 0),                 # I/O, Mem, BusMaster, ParErr resp, SERR#, DisINTx
    "Status": (0, 0xF900),                  # bits 8, 11-15
    "Cache Line Size": (0xFF, 0),
    "Interrupt Line": (0xFF, 0),
    "Primary Bus Number": (0xFF, 0),
    "Secondary Bus Number": (0xFF, 0),
    "Subordinate Bus Number": (0xFF, 0),
    "Memory Base": (0xFFF0, 0),
    "Memory Limit": (0xFFF0, 0),
    "Prefetchable Memory Base": (0xFFF0, 0),
    "Prefetchable Memory Limit": (0xFFF0, 0),
    "Prefetchable Base Upper 32 Bits": (0xFFFFFFFF, 0),
    "Prefetchable Limit Upper 32 Bits": (0xFFFFFFFF, 0),
    "Secondary Status": (0, 0xF900),        # PCIe 7.5.1.3.7 (= PCI-to-PCI Bridge 1.2)
    "Bridge Control": (0x005F, 0),          # PCIe 7.5.1.3.13: bits 0-4, 6
}
MSI_MASKS = {"MSI Message Control": 0x0071, "MSI Message Address": 0xFFFFFFFC,
             "MSI Message Upper Address": 0xFFFFFFFF, "MSI Message Data": 0xFFFF}
MSIX_CONTROL_WRITABLE = 0xC000
MSIX_ENTRY_WRITABLE = (0xFFFFFFFC, 0xFFFFFFFF, 0xFFFFFFFF, 0x00000001)

# Local APIC, xAPIC mode: offset -> writable bits (SDM 10.4-10.6, Figure 10-8), with the
# directed-EOI and TSC-deadline features present. Registers not listed have none.
XAPIC_WRITABLE: dict[int, int] = {
    0x020: 0xFF000000, 0x080: 0xFF, 0x0B0: 0xFFFFFFFF, 0x0D0: 0xFF000000, 0x0E0: 0xF0000000,
    0x0F0: 0x13FF, 0x280: 0xFF, 0x300: 0x000CCFFF, 0x310: 0xFF000000,
    0x2F0: 0x107FF, 0x320: 0x700FF, 0x330: 0x107FF, 0x340: 0x107FF, 0x350: 0x1A7FF,
    0x360: 0x1A7FF, 0x370: 0x100FF, 0x380: 0xFFFFFFFF, 0x3E0: 0xB,
}
# x2APIC mode where it differs (SDM 10.12.1.2, Table 10-6): ID and LDR read-only, ICR 64-bit,
# SELF_IPI vector.
X2APIC_WRITABLE: dict[int, int] = {
    **XAPIC_WRITABLE, 0x020: 0, 0x0D0: 0, 0x300: 0xFFFFFFFF_000CCFFF, 0x3F0: 0xFF}
del X2APIC_WRITABLE[0x310], X2APIC_WRITABLE[0x0E0]
FEATURE_GONE = {"directed_eoi": (0x0F0, 1 << 12), "tsc_deadline": (0x320, 1 << 18)}

IOAPIC_WRITABLE = {"IOAPICID": 0x0F000000, "IOAPICVER": 0, "IOAPICARB": 0,
                   "IOREDTBL": 0xFFFF0000_0001AFFF}
VIRTIO_RO = {"device_feature", "num_queues", "config_generation", "queue_notify_off"}
VTD_WRITABLE = {"IRTA": 0xFFFFFFFF_FFFFF80F, "GSTS": 0, "GCMD": 0xEF800000}
MSI_ADDRESS_FIELDS = {"destination_mode": 1 << 2, "redirection_hint": 1 << 3,
                      "destination_id": 0xFF000, "fee": 0xFFF00000}
MSI_DATA_FIELDS = {"vector": 0xFF, "delivery_mode": 0x700, "level": 1 << 14,
                   "trigger_mode": 1 << 15}


def _regs(module: object) -> list[Register]:
    return [v for v in vars(module).values() if isinstance(v, Register)]


# -- 0. the package is behaviour-free ----------------------------------------------------------
def test_spec_package_imports_nothing_from_the_rest_of_irqsim() -> None:
    """The spec package is shared by hardware, OS, drivers and views: it may import only
    itself (issue 9 item 1)."""
    for path in SPEC_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and \
                    node.module.startswith("irqsim"):
                assert node.module.startswith("irqsim.spec"), (path.name, node.module)
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("irqsim") and
                               not a.name.startswith("irqsim.spec") for a in node.names)


# -- 1. declarations against the specification -------------------------------------------------
def test_pci_header_declarations_match_the_spec() -> None:
    """Type 0 and type 1 header masks (PCI 3.0 6.2; PCIe 7.5.1.3.7 / 7.5.1.3.13)."""
    for reg in {*sp.TYPE0_HEADER, *sp.TYPE1_HEADER}:
        assert (reg.wmask, reg.w1cmask) == PCI_HEADER_MASKS.get(reg.name, (0, 0)), reg.name


def test_msi_and_msix_declarations_match_the_spec() -> None:
    """MSI capability layouts and MSI-X control / table entry (PCIe 7.7.1, 7.7.2)."""
    for addr64 in (False, True):
        for pvm in (False, True):
            for mmc in range(6):
                for reg in sp.msi_layout(addr64, pvm, mmc):
                    want = MSI_MASKS.get(reg.name, (1 << (1 << mmc)) - 1
                                         if reg.name == "MSI Mask Bits" else 0)
                    assert reg.wmask == want and reg.w1cmask == 0, reg.name
    assert sp.MSIX_MESSAGE_CONTROL.wmask == MSIX_CONTROL_WRITABLE
    assert tuple(r.wmask for r in sp.MSIX_ENTRY) == MSIX_ENTRY_WRITABLE
    assert sp.MSIX_TABLE_OFFSET.wmask == sp.MSIX_PBA_OFFSET.wmask == 0


def test_lapic_declarations_match_the_sdm() -> None:
    """xAPIC and x2APIC writable bits per register (SDM Table 10-1, Figure 10-8, 10.12)."""
    for off, reg in sl.APIC_REGISTERS.items():
        if sl.APIC_ACCESS[off][0]:
            assert reg.wmask == XAPIC_WRITABLE.get(off, 0), reg.name
        assert reg.w1cmask == 0
    for off, reg in sl.X2APIC_REGISTERS.items():
        if sl.APIC_ACCESS[off][1]:
            assert reg.wmask == X2APIC_WRITABLE.get(off, 0), reg.name
    assert sl.FEATURE_BITS == FEATURE_GONE


def test_ioapic_vtd_virtio_and_msi_format_declarations_match_the_spec() -> None:
    """I/O APIC (82093AA 3.2), VT-d GCMD/GSTS/IRTA (10.4), virtio common config (4.1.4.3),
    MSI address/data fields (SDM 11.11)."""
    for reg in sio.REGISTERS:
        assert reg.wmask == IOAPIC_WRITABLE[reg.name], reg.name
    for name, want in VTD_WRITABLE.items():
        assert getattr(svtd, name).wmask == want, name
    for reg in sv.COMMON_CFG:
        assert (reg.wmask == 0) == (reg.name in VIRTIO_RO), reg.name
    assert sv.COMMON_BY_NAME["queue_enable"].wmask == 1
    for name, mask in MSI_ADDRESS_FIELDS.items():
        assert smsi.MSI_ADDRESS.mask(name) == mask, name
    for name, mask in MSI_DATA_FIELDS.items():
        assert smsi.MSI_DATA.mask(name) == mask, name
    assert smsi.msi_address(0x12, logical=True) == 0xFEE12004
    assert smsi.msi_data(0x41, smsi.DM_LOWEST, level_triggered=True) == 0xC141


# -- 2. the model against the declaration --------------------------------------------------------
def _config_masks(cs_data: bytearray, write: object, base: int, reg: Register) -> None:
    """Write all-ones then all-zeros over ``reg`` and check writable, W1C and RO bits."""
    n, off = reg.size, base + reg.offset
    full = (1 << (8 * n)) - 1
    before = int.from_bytes(cs_data[off:off + n], "little")
    write(off, n, full)                                           # type: ignore[operator]
    after = int.from_bytes(cs_data[off:off + n], "little")
    ro = full & ~reg.wmask & ~reg.w1cmask
    assert after & reg.wmask == reg.wmask, reg.name
    assert after & reg.w1cmask == 0, reg.name
    assert after & ro == before & ro, reg.name
    write(off, n, 0)                                              # type: ignore[operator]
    assert int.from_bytes(cs_data[off:off + n], "little") & reg.wmask == 0, reg.name


@pytest.mark.parametrize("bridge", [False, True])
def test_config_space_model_follows_every_header_declaration(bridge: bool) -> None:
    """Every type 0 / type 1 header register through ConfigSpace.write (the software path)."""
    ctx = SimContext()
    fn = PciBridge(ctx, "rp") if bridge else MsiEventDevice(ctx)
    cs = fn.config
    for reg in sp.TYPE1_HEADER if bridge else sp.TYPE0_HEADER:
        cs.hw_write(reg.offset, reg.size, (1 << (8 * reg.size)) - 1)      # W1C bits set
        _config_masks(cs.data, cs.write, 0, reg)


def test_msi_and_msix_capability_models_follow_their_declarations() -> None:
    """MSI registers in configuration space; MSI-X control and table entries."""
    ctx = SimContext()
    dev = MsiEventDevice(ctx)
    cap = dev.msi
    for reg in sp.msi_layout(cap.addr64, cap.pvm, cap.mmc):
        if reg is not sp.MSI_MESSAGE_CONTROL:       # control: enable/MME side effects below
            _config_masks(dev.config.data, dev.config.write, cap.offset, reg)
    ctl = cap.offset + sp.MSI_MESSAGE_CONTROL.offset
    dev.config.write(ctl, 2, sp.MSI_CTRL_ENABLE)
    assert dev.config.read(ctl, 2) & sp.MSI_MESSAGE_CONTROL.wmask == sp.MSI_CTRL_ENABLE
    nic = MultiQueueNic(ctx, 4)
    xcap = nic.msix.offset + sp.MSIX_MESSAGE_CONTROL.offset
    nic.config.write(xcap, 2, 0xFFFF)
    assert nic.config.read(xcap, 2) == MSIX_CONTROL_WRITABLE | 3
    table = next(r for _, _, r in nic.regions[0] if type(r).__name__ == "MsixTable")
    for reg in sp.MSIX_ENTRY:
        table.mmio_write(reg.offset, 4, 0xFFFFFFFF)
        assert table.mmio_read(reg.offset, 4) == reg.wmask, reg.name


SIDE_EFFECTS = {0x0B0, 0x280, 0x300, 0x3F0}     # EOI, ESR latch, ICR/SELF_IPI send


def _lapic(x2: bool, **features: bool) -> LocalApic:
    m = raw_machine(1, x2apic=x2, cmci=features.pop("cmci", True))
    a = m.lapics[0]
    if not features.get("directed_eoi", True):
        a.version &= ~(1 << 24)
    else:
        a.version |= 1 << 24
    a.tsc_deadline = features.get("tsc_deadline", True)
    return a


def _expected(off: int, x2: bool, **features: bool) -> int:
    decl = (sl.X2APIC_REGISTERS if x2 else sl.APIC_REGISTERS)[off].wmask
    for feature, (foff, bits) in sl.FEATURE_BITS.items():
        if foff == off and not features.get(feature, True):
            decl &= ~bits
    return decl


@pytest.mark.parametrize("x2", [False, True])
@pytest.mark.parametrize("features", [{}, {"directed_eoi": False, "tsc_deadline": False}])
def test_lapic_model_writable_bits_equal_the_declaration(x2: bool,
                                                         features: dict[str, bool]) -> None:
    """Each readable RW register, written with all-ones then zero in its mode, shows exactly
    its declared writable bits; RO registers ignore (xAPIC) or #GP (x2APIC) writes."""
    for off, (xa, x2a) in sl.APIC_ACCESS.items():
        acc = x2a if x2 else xa
        if acc != "RW" or off in SIDE_EFFECTS:
            continue
        a = _lapic(x2, **features)
        wm = _expected(off, x2, **features)
        if x2:
            assert a.msr_write(sl.x2apic_msr(off), wm)
            got = a.msr_read(sl.x2apic_msr(off))
            assert a.x2_reserved(off) & wm == 0
            assert a.x2_reserved(off) | wm | sl.X2APIC_REGISTERS[off].romask == (1 << 64) - 1
        else:
            a.mmio_write(off, 4, 0xFFFFFFFF)
            got = a.mmio_read(off)
        ro = sl.X2APIC_REGISTERS[off].romask if x2 else sl.APIC_REGISTERS[off].romask
        assert got & ~ro == wm, (hex(off), hex(got), hex(wm))


@given(st.sampled_from(sorted(o for o, (xa, _) in sl.APIC_ACCESS.items()
                              if xa == "RW" and o not in SIDE_EFFECTS)),
       st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFFFFFF))
def test_lapic_xapic_write_changes_only_writable_bits(off: int, first: int,
                                                      second: int) -> None:
    """Property: after any two writes the register holds the second value's writable bits and
    keeps its read-only bits (SDM 10.4.1)."""
    a = _lapic(False)
    a.mmio_write(sl.APIC_SVR, 4, 0x1FF)
    a.mmio_write(off, 4, first)
    before = a.mmio_read(off)
    a.mmio_write(off, 4, second)
    reg = sl.APIC_REGISTERS[off]
    got = a.mmio_read(off)
    assert got & reg.wmask == second & reg.wmask
    assert got & reg.romask == before & reg.romask


def test_lapic_dispatch_table_is_the_declaration() -> None:
    """The MMIO/MSR dispatch is derived: per register, masks and access equal the spec."""
    for feats in ((True, True, True), (False, False, False)):
        table = register_table(*feats)
        for off, r in table.items():
            assert (r.xapic, r.x2apic) == (("", "") if off == 0x2F0 and not feats[0]
                                           else sl.APIC_ACCESS[off])
            assert r.wmask == _expected(off, False, directed_eoi=feats[1],
                                        tsc_deadline=feats[2])


def test_ioapic_model_follows_its_declarations() -> None:
    """IOAPICID bits 27:24 and the RTE's writable bits through IOREGSEL/IOWIN; RO bits
    (version, delivery status, remote IRR) unchanged (82093AA 3.2)."""
    from irqsim.apic.interconnect import ApicBus
    ctx = SimContext()
    io = IoApic(ctx, ApicBus(ctx), pins=4)
    io.write_register(sio.REG_ID, 0xFFFFFFFF)
    assert io.read_register(sio.REG_ID) == sio.IOAPICID.wmask
    ver = io.read_register(sio.REG_VERSION)
    io.write_register(sio.REG_VERSION, 0)
    assert io.read_register(sio.REG_VERSION) == ver
    for pin in range(4):
        io.write_register(sio.rte_index(pin, True), 0xFFFFFFFF)
        io.write_register(sio.rte_index(pin), 0xFFFFFFFF)
        rte = io.read_register(sio.rte_index(pin, True)) << 32 | io.read_register(
            sio.rte_index(pin))
        assert rte == sio.RTE_WMASK, hex(rte)
        io.write_register(sio.rte_index(pin), 0)
        io.write_register(sio.rte_index(pin, True), 0)
        assert io.rte[pin] == 0


def test_virtio_common_config_model_follows_its_declaration() -> None:
    """virtio 1.2 4.1.4.3: RW fields read back what was written (within their width), RO
    fields ignore writes."""
    dev = VirtioNet(SimContext())
    cc = dev.common
    for reg in sv.COMMON_CFG:
        if reg.name in ("device_status", "queue_select"):
            continue                       # status 0 resets; queue_select tested below
        full = (1 << (8 * reg.size)) - 1
        before = cc.mmio_read(reg.offset, reg.size)
        cc.mmio_write(reg.offset, reg.size, full)
        got = cc.mmio_read(reg.offset, reg.size)
        assert got == (reg.wmask or before), reg.name
        if reg.name.endswith("_select"):
            cc.mmio_write(reg.offset, reg.size, 0)
    cc.mmio_write(sv.COMMON_DEVICE_STATUS, 1, 0xFF)
    assert cc.mmio_read(sv.COMMON_DEVICE_STATUS, 1) == 0xFF
    cc.mmio_write(sv.COMMON_QUEUE_SELECT, 2, 1)
    assert cc.mmio_read(sv.COMMON_QUEUE_SELECT, 2) == 1


def test_iommu_model_follows_the_vtd_declaration() -> None:
    """IRTA keeps its writable bits only; GSTS is read-only; GCMD reads 0 (VT-d 10.4)."""
    io = Iommu(SimContext())
    io.mmio_write(svtd.IRTA.offset, 8, (1 << 64) - 1)
    assert io.mmio_read(svtd.IRTA.offset, 8) == svtd.IRTA.wmask
    io.mmio_write(svtd.GSTS.offset, 4, 0xFFFFFFFF)
    assert io.mmio_read(svtd.GSTS.offset, 4) == 0
    assert io.mmio_read(svtd.GCMD.offset, 4) == 0


# -- 3. mutation: a flipped declaration bit is caught ------------------------------------------
def test_making_lint0_bit_17_writable_in_the_declaration_fails_a_test(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 9: "making LINT0 bit 17 writable ... fails no test". With the bit added to the
    declaration, the SDM check and the model check both fail."""
    from irqsim.spec.regs import RW, F
    lint0 = sl.APIC_REGISTERS[0x350]
    mutant = Register(lint0.name, lint0.offset, 4, (*lint0.fields, F("mutant", 17, RW)),
                      lint0.reset)
    monkeypatch.setitem(sl.APIC_REGISTERS, 0x350, mutant)
    monkeypatch.setitem(sl.X2APIC_REGISTERS, 0x350, mutant)
    register_table.cache_clear()
    try:
        with pytest.raises(AssertionError):
            test_lapic_declarations_match_the_sdm()
        with pytest.raises(AssertionError):
            _model_lint0_matches_sdm()
    finally:
        monkeypatch.undo()
        register_table.cache_clear()
    _model_lint0_matches_sdm()


def _model_lint0_matches_sdm() -> None:
    a = _lapic(False)
    a.mmio_write(0x350, 4, 0xFFFFFFFF)
    assert a.mmio_read(0x350) == XAPIC_WRITABLE[0x350]
