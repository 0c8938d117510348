"""The Local APIC register file in both modes, derived from the declared map (semantics.md A.1,
A.8, A.9, A.11, A.12; SDM 10.4.1 Table 10-1 and 10.12.1.2 Table 10-6)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apic_helpers import BASE, raw_machine, to_x2apic
from irqsim.apic.lapic import (
    APIC_ACCESS,
    APIC_REGISTERS,
    ESR_ILLEGAL_REGISTER,
    GP,
    LVT_OFFSETS,
    X2APIC_REGISTERS,
    LocalApic,
    register_access,
    x2apic_msr,
)
from irqsim.machine import Machine
from irqsim.sim.rules import RULES
from irqsim.spec.regs import Access

OFFSETS = sorted(APIC_ACCESS)
# Writable bits of each LVT entry transcribed from SDM vol. 3 Figure 10-8 (not from the
# declaration): CMCI, Timer (with TSC-deadline), Thermal, PerfMon, LINT0, LINT1, Error.
SDM_LVT_WRITABLE = (0x107FF, 0x700FF, 0x107FF, 0x107FF, 0x1A7FF, 0x1A7FF, 0x100FF)
SIDE_EFFECT_FREE_RW = [o for o in OFFSETS if o not in (0x280, 0x300)]  # ESR latches, ICR sends


def lapic_pair(x2: bool, cmci: bool = False) -> tuple[Machine, LocalApic]:
    m = raw_machine(1, x2apic=x2, cmci=cmci)
    return m, m.lapics[0]


def expected_wmask(a: LocalApic, off: int, x2: bool) -> int:
    """Writable bits from the declaration, with the feature-dependent ones removed."""
    reg = (X2APIC_REGISTERS if x2 else APIC_REGISTERS)[off]
    m = reg._mask(Access.RW)
    if off == 0x0F0 and not a.version >> 24 & 1:
        m &= ~(1 << 12)
    return m


def latched_esr(a: LocalApic) -> int:
    a.mmio_write(0x280, 4, 0)
    return a.mmio_read(0x280)


def test_map_covers_every_register_with_both_modes() -> None:
    """Every declared register has an access rule for xAPIC and x2APIC (A.1 table)."""
    assert set(APIC_ACCESS) == set(APIC_REGISTERS)
    for off, (xa, x2) in APIC_ACCESS.items():
        assert xa in ("", "RO", "RW", "WO") and x2 in ("", "RO", "RW", "WO"), off
    assert x2apic_msr(0x300) == 0x830 and x2apic_msr(0x3F0) == 0x83F


# -- xAPIC (MMIO) ------------------------------------------------------------------------------
@pytest.mark.parametrize("off", OFFSETS)
def test_xapic_access_matrix(off: int) -> None:
    """xAPIC: invalid offsets set ESR bit 7 (A.9); RO ignore writes; WO read 0; RW read back
    their writable bits (A.1)."""
    _m, a = lapic_pair(False)
    acc = register_access(off, False)
    before = a.mmio_read(off) if acc not in ("", "WO") else 0
    if acc == "":
        a.mmio_read(off)
        assert latched_esr(a) & ESR_ILLEGAL_REGISTER
        a.mmio_write(off, 4, 0x12)
        assert latched_esr(a) & ESR_ILLEGAL_REGISTER
    elif acc == "WO":
        assert a.mmio_read(off) == 0
        assert not latched_esr(a) & ESR_ILLEGAL_REGISTER
    elif acc == "RO":
        a.mmio_write(off, 4, 0xFFFFFFFF)
        assert a.mmio_read(off) == before
        assert not latched_esr(a) & ESR_ILLEGAL_REGISTER
    elif off in SIDE_EFFECT_FREE_RW:
        wm = expected_wmask(a, off, False)
        a.mmio_write(off, 4, 0xFFFFFFFF)
        assert a.mmio_read(off) & wm == wm
        a.mmio_write(off, 4, 0)
        assert a.mmio_read(off) & wm == 0
        assert not latched_esr(a) & ESR_ILLEGAL_REGISTER


def test_xapic_cmci_only_when_max_lvt_is_6() -> None:
    """LVT CMCI (0x2F0) exists only when the Version register's max LVT entry >= 6 (A.1)."""
    _, a = lapic_pair(False)
    a.mmio_read(0x2F0)
    assert latched_esr(a) & ESR_ILLEGAL_REGISTER
    _, b = lapic_pair(False, cmci=True)
    assert b.mmio_read(0x30) >> 16 & 0xFF == 6
    b.mmio_write(0x2F0, 4, 0x42)
    assert b.mmio_read(0x2F0) == 0x42 and not latched_esr(b)


def test_xapic_unaligned_and_narrow_writes_are_dropped() -> None:
    """Only aligned 32-bit writes take effect; 1/2/4-byte reads inside a register work (A.1)."""
    _, a = lapic_pair(False)
    a.mmio_write(0x80, 1, 0x50)
    a.mmio_write(0x84, 4, 0x50)
    assert a.tpr == 0
    a.mmio_write(0x80, 4, 0xA5)
    assert a.mmio_read(0x80, 1) == 0xA5 and a.mmio_read(0x81, 1) == 0 and a.mmio_read(0x84) == 0


@pytest.mark.parametrize("i", range(7))
def test_lvt_write_masks(i: int) -> None:
    """LVT writable bits per kind (SDM Figure 10-8, A.8 table); delivery status and remote IRR
    are read-only."""
    _, a = lapic_pair(False, cmci=True)
    off = LVT_OFFSETS[i]
    a.mmio_write(off, 4, 0xFFFFFFFF)
    assert a.mmio_read(off) == SDM_LVT_WRITABLE[i]
    a.mmio_write(off, 4, 0)
    assert a.mmio_read(off) == 0


def test_svr_software_disable_masks_lvts_and_forces_masked_writes() -> None:
    """SVR bit 8 = 0: every LVT gets its mask bit and cannot be unmasked (A.8, SDM 10.4.7.2)."""
    _, a = lapic_pair(False)
    for off in LVT_OFFSETS[1:]:
        a.mmio_write(off, 4, 0x30)
    a.mmio_write(0xF0, 4, 0xFF)
    assert all(a.mmio_read(o) & 0x10000 for o in LVT_OFFSETS[1:])
    a.mmio_write(0x320, 4, 0x31)
    assert a.mmio_read(0x320) == 0x10031
    a.mmio_write(0xF0, 4, 0x1FF)
    a.mmio_write(0x320, 4, 0x31)
    assert a.mmio_read(0x320) == 0x31


def test_esr_latches_on_write() -> None:
    """Errors collect in a hidden register; an ESR write makes them visible and clears (A.9)."""
    _, a = lapic_pair(False)
    a.mmio_read(0x3F0)                       # SELF_IPI does not exist in xAPIC
    assert a.mmio_read(0x280) == 0
    a.mmio_write(0x280, 4, 0)
    assert a.mmio_read(0x280) == ESR_ILLEGAL_REGISTER
    a.mmio_write(0x280, 4, 0)
    assert a.mmio_read(0x280) == 0


def test_cr8_aliases_tpr() -> None:
    """CR8 = TPR[7:4]; writing CR8 = n sets TPR = n << 4 (A.5, SDM 10.8.6.1)."""
    m, a = lapic_pair(False)
    cpu = m.cpus[0]
    cpu.cr8 = 0x9
    assert a.mmio_read(0x80) == 0x90
    a.mmio_write(0x80, 4, 0x7C)
    assert cpu.cr8 == 0x7


# -- x2APIC (MSR) -----------------------------------------------------------------------------
@pytest.mark.parametrize("off", OFFSETS)
def test_x2apic_access_matrix(off: int) -> None:
    """x2APIC: invalid or write-only reads and read-only or invalid writes #GP; RW registers
    take their writable bits; reserved bits and bits 63:32 #GP (A.12)."""
    _, a = lapic_pair(True)
    acc = register_access(off, True)
    msr = x2apic_msr(off)
    if acc in ("", "WO"):
        assert a.msr_read(msr) == GP
    else:
        assert a.msr_read(msr) >= 0
    if acc in ("", "RO"):
        assert not a.msr_write(msr, 0)
        return
    reserved = a.x2_reserved(off)
    if off != 0x300:
        assert not a.msr_write(msr, 1 << 32)
    if reserved & 0xFFFFFFFF:
        low = reserved & -reserved
        assert not a.msr_write(msr, low)
    if acc == "WO" or off in (0x280, 0x300):
        assert a.msr_write(msr, 0)           # EOI, SELF_IPI 0 (illegal vector: ESR only), ESR
        return
    wm = expected_wmask(a, off, True)
    assert a.msr_write(msr, wm)
    assert a.msr_read(msr) & wm == wm


def test_x2apic_msrs_fault_outside_x2apic_mode() -> None:
    """Any x2APIC MSR access while EXTD=0 raises #GP, delivered to the CPU (A.1, A.12)."""
    m = Machine(ncpus=1)
    m.boot()
    cpu = m.cpus[0]
    assert cpu.rdmsr(0x802) == 0 and cpu.faults[-1].vector == 13
    assert not cpu.wrmsr(0x808, 0x20)
    assert [f.name for f in cpu.faults] == ["#GP", "#GP"]
    assert len(m.kernel.exceptions) == 2 and m.lapics[0].tpr == 0


def test_gp_is_a_fault_event_not_an_exception() -> None:
    """A #GP is traced and reaches IDT vector 13; the simulator keeps running (issue 5 #8)."""
    m = Machine(ncpus=1, trace=True)
    m.boot()
    cpu = m.cpus[0]
    to_x2apic(cpu)
    assert not cpu.wrmsr(0x809, 0)           # APR is not an x2APIC register
    assert not cpu.wrmsr(0x80B, 1)           # EOI must be written with 0
    assert cpu.rdmsr(0x83F) == 0             # SELF_IPI is write-only
    faults = m.ctx.tracer.of_kind("fault")
    assert [e.fields["vector"] for e in faults] == [13, 13, 13]
    assert all(f.rule_id in RULES and f.rule.startswith("SDM") for f in cpu.faults)
    assert not cpu.wrmsr(0x1234, 0) and cpu.faults[-1].vector == 13   # unimplemented MSR


def test_mmio_page_not_decoded_in_x2apic_mode() -> None:
    """In x2APIC mode the xAPIC page reads all-ones and drops writes (A.1, KVM)."""
    m, a = lapic_pair(True)
    cpu = m.cpus[0]
    assert cpu.read(BASE + 0x80) == 0xFFFFFFFF
    cpu.write(BASE + 0x80, 4, 0x40)
    assert a.tpr == 0
    assert any(d.rule_id == "LAPIC-MMIO-NOT-DECODED" for d in m.ctx.diagnostics)


@given(st.integers(0, 0xFFFFFFFE))
def test_x2apic_id_and_derived_ldr(x2id: int) -> None:
    """x2APIC ID is the full 32-bit ID; LDR = (ID >> 4) << 16 | 1 << (ID & 0xF) (KVM, A.11)."""
    m = Machine(ncpus=1, apic_ids=[x2id], latency=False)
    cpu = m.cpus[0]
    assert cpu.read(BASE + 0x20) == (x2id & 0xFF) << 24
    to_x2apic(cpu)
    assert cpu.rdmsr(0x802) == x2id
    assert cpu.rdmsr(0x80D) == ((x2id >> 4) << 16) | (1 << (x2id & 0xF))


def test_x2apic_icr_is_one_64bit_register() -> None:
    """ICR is one 64-bit MSR with the destination in bits 63:32; ICR2 #GPs (A.11)."""
    _, a = lapic_pair(True)
    assert a.msr_write(0x830, 0x1234_5678 << 32 | 0x4041)
    assert a.msr_read(0x830) == 0x1234_5678 << 32 | 0x4041
    assert a.msr_read(0x831) == GP
    assert not a.msr_write(0x830, 1 << 13)       # reserved bit 13
    assert not a.msr_write(0x830, 1 << 16)       # reserved bits 17:16
    assert not a.msr_write(0x830, 1 << 20)       # reserved bits 31:20


def test_x2apic_self_ipi() -> None:
    """SELF_IPI = fixed, edge, shorthand self; bits 31:8 #GP (A.11)."""
    m, a = lapic_pair(True)
    assert not a.msr_write(0x83F, 0x140)
    assert a.msr_write(0x83F, 0x40)
    m.run()
    assert a.irr >> 0x40 & 1


def test_x2apic_esr_write_must_be_zero() -> None:
    """x2APIC ESR: non-zero writes #GP; a zero write latches (A.9)."""
    _, a = lapic_pair(True)
    a.accept_fixed(3, False)
    assert not a.msr_write(0x828, 1)
    assert a.msr_write(0x828, 0)
    assert a.msr_read(0x828) == 1 << 6


def test_x2apic_tpr_reserved_bits() -> None:
    """x2APIC TPR bits 31:8 are reserved: #GP (A.12)."""
    _, a = lapic_pair(True)
    assert not a.msr_write(0x808, 0x100)
    assert a.msr_write(0x808, 0xFF) and a.tpr == 0xFF
