"""IA32_APIC_BASE (MSR 0x1B): reset value, mode transitions, #GP cases, relocation, and the
register reset values (semantics.md A.2, A.3; SDM 10.4.4, 10.12.5)."""

from __future__ import annotations

import pytest

from apic_helpers import BASE, raw_machine
from irqsim.apic.lapic import (
    APIC_BASE_BSP,
    APIC_BASE_EN,
    APIC_BASE_EXTD,
    LVT_OFFSETS,
    MODE_DISABLED,
    MODE_X2APIC,
    MODE_XAPIC,
    LocalApic,
)
from irqsim.cpu.cpu import Cpu
from irqsim.machine import Machine
from irqsim.sim.context import SimContext

MODE_BITS = {MODE_DISABLED: 0, MODE_XAPIC: APIC_BASE_EN,
             MODE_X2APIC: APIC_BASE_EN | APIC_BASE_EXTD}


def cpu_in(mode: int) -> Cpu:
    """A CPU whose APIC was brought to ``mode`` by legal transitions."""
    cpu = Machine(ncpus=1, latency=False).cpus[0]
    if mode == MODE_DISABLED:
        assert cpu.wrmsr(0x1B, BASE)
    elif mode == MODE_X2APIC:
        assert cpu.wrmsr(0x1B, BASE | MODE_BITS[MODE_X2APIC])
    assert cpu.lapic.mode == mode
    return cpu


def test_reset_value() -> None:
    """IA32_APIC_BASE resets to 0xFEE00000 | EN, plus BSP on the bootstrap processor (A.3)."""
    m = Machine(ncpus=2)
    assert m.cpus[0].rdmsr(0x1B) == BASE | APIC_BASE_EN | APIC_BASE_BSP
    assert m.cpus[1].rdmsr(0x1B) == BASE | APIC_BASE_EN


SDM_10_12_5 = {"LAPIC-INVALID-STATE", "LAPIC-X2APIC-TO-XAPIC", "LAPIC-DISABLED-TO-X2APIC"}
LEGAL = {(MODE_XAPIC, MODE_X2APIC), (MODE_X2APIC, MODE_DISABLED), (MODE_XAPIC, MODE_DISABLED),
         (MODE_DISABLED, MODE_XAPIC)}


@pytest.mark.parametrize("old", [MODE_DISABLED, MODE_XAPIC, MODE_X2APIC])
@pytest.mark.parametrize("new", [MODE_DISABLED, MODE_XAPIC, MODE_X2APIC])
def test_mode_transitions(old: int, new: int) -> None:
    """Legal: xAPIC->x2APIC, x2APIC->disabled, xAPIC->disabled, disabled->xAPIC; x2APIC->xAPIC
    and disabled->x2APIC #GP (A.2, SDM 10.12.5 Figure 10-27)."""
    cpu = cpu_in(old)
    ok = cpu.wrmsr(0x1B, BASE | MODE_BITS[new])
    if old == new or (old, new) in LEGAL:
        assert ok and cpu.lapic.mode == new and not cpu.faults
    else:
        assert not ok and cpu.lapic.mode == old
        assert cpu.faults[-1].vector == 13 and cpu.faults[-1].rule_id in SDM_10_12_5


@pytest.mark.parametrize("old", [MODE_DISABLED, MODE_XAPIC, MODE_X2APIC])
def test_invalid_state_en0_extd1(old: int) -> None:
    """EN=0 with EXTD=1 is the invalid state: #GP, nothing changes (A.2)."""
    cpu = cpu_in(old)
    before = cpu.rdmsr(0x1B)
    assert not cpu.wrmsr(0x1B, BASE | APIC_BASE_EXTD)
    assert cpu.rdmsr(0x1B) == before and cpu.faults[-1].name == "#GP"


@pytest.mark.parametrize("bit", [0, 7, 9, 46, 63])
def test_reserved_bits_gp(bit: int) -> None:
    """Bits 0-7, 9 and MAXPHYADDR and above are reserved: #GP (A.2, KVM reserved mask 0x2ff)."""
    cpu = cpu_in(MODE_XAPIC)
    assert not cpu.wrmsr(0x1B, BASE | APIC_BASE_EN | 1 << bit)
    assert cpu.rdmsr(0x1B) & (1 << bit) == 0


def test_bsp_flag_is_read_only() -> None:
    """BSP (bit 8) is read-only: a write without it keeps it set (A.2)."""
    cpu = cpu_in(MODE_XAPIC)
    assert cpu.wrmsr(0x1B, BASE | APIC_BASE_EN)
    assert cpu.rdmsr(0x1B) & APIC_BASE_BSP


def test_extd_without_x2apic_support_gp() -> None:
    """Setting EXTD when CPUID lacks x2APIC is reserved: #GP (A.2)."""
    ctx = SimContext()
    cpu = Cpu(ctx, 0, LocalApic(ctx, 0, x2apic_capable=False))
    assert not cpu.wrmsr(0x1B, BASE | APIC_BASE_EN | APIC_BASE_EXTD)
    assert cpu.lapic.mode == MODE_XAPIC


def test_power_up_register_values() -> None:
    """TPR=PPR=0, SVR=0xFF, LVTs masked, DFR all ones, LDR/ESR/ICR/TDCR/TMICT 0, version
    0x00050014 (A.3)."""
    cpu = Machine(ncpus=1).cpus[0]
    rd = lambda off: cpu.read(BASE + off)   # noqa: E731
    assert (rd(0x80), rd(0xA0), rd(0xF0), rd(0xE0), rd(0xD0)) == (0, 0, 0xFF, 0xFFFFFFFF, 0)
    assert (rd(0x280), rd(0x300), rd(0x310), rd(0x3E0), rd(0x380), rd(0x390)) == (0,) * 6
    assert all(rd(o) == 0x10000 for o in LVT_OFFSETS[1:])
    assert rd(0x30) == 0x00050014


def test_disable_resets_state_and_reenable_restores_id() -> None:
    """Disabling returns the APIC to power-up state (IRR dropped, accounted); enabling again
    restores the xAPIC ID from the initial ID (A.2, KVM __kvm_apic_set_base)."""
    m = raw_machine(1, apic_ids=[0x105])
    cpu, a = m.cpus[0], m.lapics[0]
    cpu.write(BASE + 0x20, 4, 0x07000000)
    a.accept_fixed(0x40, False)
    m.ctx.ledger.raise_("test")
    assert cpu.wrmsr(0x1B, BASE)
    assert a.irr == 0 and a.svr == 0xFF and m.accounting()["balanced"]
    assert cpu.read(BASE + 0x20) == 0xFFFFFFFF          # page not decoded while disabled
    assert not a.accept_fixed(0x41, False)               # disabled: fixed interrupts dropped
    assert cpu.wrmsr(0x1B, BASE | APIC_BASE_EN)
    assert cpu.read(BASE + 0x20) == 0x05000000


def test_x2apic_entry_loads_the_32bit_id_and_ldr() -> None:
    """Entering x2APIC: ID becomes the 32-bit x2APIC ID and LDR the derived one (A.2, A.11)."""
    m = Machine(ncpus=1, apic_ids=[0x123], latency=False)
    cpu = m.cpus[0]
    assert cpu.read(BASE + 0x20) >> 24 == 0x23
    assert cpu.wrmsr(0x1B, BASE | APIC_BASE_EN | APIC_BASE_EXTD)
    assert cpu.rdmsr(0x802) == 0x123 and cpu.rdmsr(0x80D) == 0x12 << 16 | 1 << 3
    assert m.apic_bus.by_id[0x123] is m.lapics[0]


def test_base_relocation() -> None:
    """A new base moves the xAPIC page (A.2): software reaches the APIC at the new address."""
    m = raw_machine(1)
    cpu = m.cpus[0]
    new = 0xFED00000
    assert cpu.wrmsr(0x1B, new | APIC_BASE_EN)
    assert cpu.apic_base == new
    cpu.write(new + 0x80, 4, 0x30)
    assert m.lapics[0].tpr == 0x30 and cpu.read(new + 0x80) == 0x30
