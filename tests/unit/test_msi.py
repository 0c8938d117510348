"""The MSI capability (ID 05h) in its four layouts: register map and access rules, Multiple
Message Capable/Enable, message composition, per-vector Mask and Pending (PCI Local Bus
3.0 6.8.1, PCIe Base 7.7.1; semantics.md C.1; seed 004 "MSI Capability Structure")."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irqsim.pci.function import PciFunction
from irqsim.pci.msi import MsiCapability
from irqsim.sim.context import SimContext
from irqsim.spec.pci import CAP_ID_MSI, MSI_MESSAGE_CONTROL, msi_cap_size, msi_layout

CAP = 0x50
LAYOUTS = list(itertools.product((False, True), (False, True)))


def fn_with_msi(vectors: int = 4, addr64: bool = True, pvm: bool = True,
                ) -> tuple[PciFunction, MsiCapability]:
    ctx = SimContext()
    fn = PciFunction(ctx, "dev", 0x1B36, 0x00F1, 0x088000, interrupt_pin=1)
    return fn, MsiCapability(fn, CAP, vectors, addr64, pvm)


@pytest.mark.parametrize(("addr64", "pvm"), LAYOUTS)
def test_layout_offsets_and_sizes(addr64: bool, pvm: bool) -> None:
    """C.1 table: data at +8 (32-bit) or +0Ch (64-bit); Mask and Pending follow the data
    with per-vector masking; sizes 0Ah, 0Eh, 14h, 18h; Message Control advertises the
    layout (bit 7 64-bit, bit 8 per-vector masking)."""
    fn, cap = fn_with_msi(4, addr64, pvm)
    assert fn.config.find_capability(CAP_ID_MSI) == CAP
    assert cap.size == msi_cap_size(addr64, pvm) == {(0, 0): 0x0A, (1, 0): 0x0E,
                                                     (0, 1): 0x14, (1, 1): 0x18}[addr64, pvm]
    ctl = fn.config_read(CAP + 2, 2)
    assert ctl == 2 << 1 | int(addr64) << 7 | int(pvm) << 8
    assert cap.data_off == CAP + (0x0C if addr64 else 0x08)
    names = [r.name for r in msi_layout(addr64, pvm, 2)]
    assert ("MSI Message Upper Address" in names) == addr64
    assert ("MSI Mask Bits" in names) == pvm == ("MSI Pending Bits" in names)
    if pvm:
        assert cap.mask_off == cap.data_off + 4 and cap.pend_off == cap.data_off + 8


@pytest.mark.parametrize(("addr64", "pvm"), LAYOUTS)
def test_address_data_mask_pending_access_rules(addr64: bool, pvm: bool) -> None:
    """C.1: address bits 1:0 read 0; data is 16 bits; mask bits exist only for vectors below
    2^MMC; pending bits are read-only to software."""
    fn, cap = fn_with_msi(2, addr64, pvm)
    fn.config_write(CAP + 4, 4, 0xFEE0100F)
    assert fn.config_read(CAP + 4, 4) == 0xFEE0100C
    if addr64:
        fn.config_write(CAP + 8, 4, 0x12345678)
        assert fn.config_read(CAP + 8, 4) == 0x12345678
    fn.config_write(cap.data_off, 4, 0xFFFF49A3)
    assert fn.config_read(cap.data_off, 4) == 0x49A3
    if pvm:
        fn.config_write(cap.mask_off, 4, 0xFFFFFFFF)
        assert cap.mask_bits == 0x3
        fn.config_write(cap.pend_off, 4, 0xFFFFFFFF)
        assert cap.pending_bits == 0
    assert cap.address & 0xFFFFFFFF == 0xFEE0100C


def test_multiple_message_data_values() -> None:
    """Seed 004 figure 7 / C.1: with 4 messages enabled the device varies Data bits 1:0:
    base 49A0h gives 49A0h-49A3h; low bits already set in the base are replaced."""
    fn, cap = fn_with_msi(4)
    fn.config_write(CAP + 2, 2, 2 << 4)
    fn.config_write(cap.data_off, 2, 0x49A0)
    assert [cap.message(k)[1] for k in range(4)] == [0x49A0, 0x49A1, 0x49A2, 0x49A3]
    fn.config_write(cap.data_off, 2, 0x49A3)
    assert [cap.message(k)[1] for k in range(4)] == [0x49A0, 0x49A1, 0x49A2, 0x49A3]
    fn.config_write(CAP + 2, 2, 1 << 4)                   # 2 messages: only bit 0 varies
    assert [cap.message(k)[1] for k in range(2)] == [0x49A2, 0x49A3]


def test_mme_larger_than_mmc_is_clamped_with_a_diagnostic() -> None:
    """C.1: MME > MMC is clamped to MMC (QEMU msi_write_config) and diagnosed."""
    fn, cap = fn_with_msi(4)
    fn.config_write(CAP + 2, 2, 5 << 4)
    assert cap.allocated == 4 and (fn.config_read(CAP + 2, 2) >> 4) & 7 == 2
    assert any(d.rule_id == "MSI-MME-EXCEEDS-MMC" for d in fn.ctx.diagnostics)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([1, 2, 4, 8, 16, 32]), st.booleans(), st.booleans(),
       st.integers(0, 0xFFFF))
def test_message_control_write_rules(vectors: int, addr64: bool, pvm: bool,
                                     value: int) -> None:
    """C.1 Message Control: Enable and MME are the only writable fields; MMC, 64-bit and
    per-vector masking keep their values; reserved bits 15:9 read 0; MME never exceeds MMC
    and a larger value is diagnosed."""
    fn, _cap = fn_with_msi(vectors, addr64, pvm)
    before = fn.config_read(CAP + 2, 2)
    fn.config_write(CAP + 2, 2, value)
    after = fn.config_read(CAP + 2, 2)
    ro = MSI_MESSAGE_CONTROL.field("multiple_message_capable").mask | 0x180
    assert after & ro == before & ro
    assert after & 0xFE00 == 0
    assert after & 1 == value & 1
    mmc = vectors.bit_length() - 1
    assert (after >> 4) & 7 == min((value >> 4) & 7, mmc)
    clamped = any(d.rule_id == "MSI-MME-EXCEEDS-MMC" for d in fn.ctx.diagnostics)
    assert clamped == ((value >> 4) & 7 > mmc)


def test_vectors_must_be_a_power_of_two() -> None:
    """PCI 6.8.1.3: Multiple Message Capable encodes 1, 2, 4, 8, 16 or 32 vectors."""
    with pytest.raises(ValueError):
        fn_with_msi(3)
    with pytest.raises(ValueError):
        fn_with_msi(64)


def test_enable_hooks_the_function() -> None:
    """C.1: setting MSI Enable tells the function (it then may not use INTx)."""
    fn, _cap = fn_with_msi(1)
    assert fn.intx_allowed
    fn.config_write(CAP + 2, 2, 1)
    assert fn.msi_on and not fn.intx_allowed
    fn.config_write(CAP + 2, 2, 0)
    assert not fn.msi_on and fn.intx_allowed


def test_pending_beyond_mme_is_discarded_and_unmask_sends() -> None:
    """C.1 (QEMU msi_write_config): a masked message sets Pending; lowering MME discards
    Pending bits at or beyond 2^MME; clearing a Mask bit sends its pending message once."""
    fn, cap = fn_with_msi(4)
    ctx = fn.ctx
    fn.config_write(0x04, 2, 0x4)                           # Bus Master Enable
    fn.config_write(cap.mask_off, 4, 0xF)
    fn.config_write(CAP + 2, 2, 2 << 4 | 1)                 # 4 messages, enabled
    for k in (1, 3, 3):
        cap.signal(k)
    ctx.engine.run()
    assert cap.pending_bits == 0b1010 and ctx.ledger.merged == 1
    fn.config_write(CAP + 2, 2, 1 << 4 | 1)                 # 2 messages: bit 3 discarded
    assert cap.pending_bits == 0b0010
    assert ctx.ledger.dropped["MSI pending beyond Multiple Message Enable"] == 1
    fn.config_write(cap.mask_off, 4, 0xD)                   # unmask message 1
    assert cap.pending_bits == 0
    assert ctx.ledger.dropped["no link"] == 1               # sent (no link in a unit test)


def test_msi_below_4gib_uses_a_3dw_header_and_intx_a_4dw_one() -> None:
    """PCIe 2.2.4.1: a memory write below 4 GiB (every xAPIC MSI, 0xFEExxxxx) uses the 3-DW
    header, above it the 4-DW one; PCIe 2.2.8: a Message (Assert_INTx) always has 4 DW. Seed
    004 draws the MSI as 4-DW and INTx as 3-DW (docs/spec-differences.md)."""
    from irqsim.fabric.tlp import FRAMING_BYTES, Tlp, TlpType
    from irqsim.spec.msi import msi_address
    msi = Tlp(TlpType.MWR, 0x0100, msi_address(1), 0x41, 4)
    assert msi.is_interrupt and msi.wire_bytes == 12 + 4 + FRAMING_BYTES
    high = Tlp(TlpType.MWR, 0x0100, 1 << 32, 0, 4)
    assert high.wire_bytes == 16 + 4 + FRAMING_BYTES
    intx = Tlp(TlpType.MSG, 0x0100, code=0x20, length=0)
    assert intx.wire_bytes == 16 + FRAMING_BYTES
