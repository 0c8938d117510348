"""Regressions for the defects hostile testing found (issue 14, defects 1, 5 and 6): guest
accesses that are legal but odd are modelled as the hardware does, with a diagnostic, and
never raise a Python exception."""

from __future__ import annotations

import pytest

from apic_helpers import raw_machine
from helpers import balanced, nic_machine, table_addr
from irqsim.fabric.root_complex import ECAM_BASE
from irqsim.pci.config import ConfigSpace

CF8, CFC = 0xCF8, 0xCFC


def ecam(bus: int, devfn: int, off: int) -> int:
    return ECAM_BASE + (bus << 20 | devfn << 12 | off)


def rules(m: object) -> list[str]:
    return [d.rule_id for d in m.ctx.diagnostics]  # type: ignore[attr-defined]


# -- defect 1 and defect 5 (config side) -----------------------------------------------------
def test_ecam_write_crossing_4k_is_dropped_not_raised() -> None:
    """Defect 1: a 4-byte ECAM write at offset 0xFFE runs past the function's 4 KiB; an ECAM
    access is naturally aligned (PCIe Base 7.2.2), so it is undefined: dropped with a
    diagnostic, no IndexError, the next function's space untouched."""
    m, nics, drv = nic_machine()
    pd = drv.pdevs[0]
    before = bytes(nics[0].config.data)
    cpu = m.cpus[0]
    cpu.write(ecam(pd.bus, pd.devfn, 0xFFE), 4, 0xDEADBEEF)
    assert bytes(nics[0].config.data) == before
    assert cpu.read(ecam(pd.bus, pd.devfn, 0xFFE), 4) == 0xFFFFFFFF
    assert cpu.read(ecam(pd.bus, pd.devfn, 0xFFF), 2) == 0xFFFF
    assert "PCI-ECAM-UNALIGNED" in rules(m)


def test_ecam_misaligned_dword_write_at_offset_3_leaves_command_alone() -> None:
    """Defect 5: a DWORD ECAM write at offset 3 (it covers Command's bytes 4-6) is not
    naturally aligned: undefined, irqsim drops it; Command keeps its value."""
    m, nics, drv = nic_machine()
    pd = drv.pdevs[0]
    cmd = nics[0].config.read(0x04, 2)
    m.cpus[0].write(ecam(pd.bus, pd.devfn, 0x03), 4, 0)
    m.cpus[0].write(ecam(pd.bus, pd.devfn, 0x05), 2, 0)
    assert nics[0].config.read(0x04, 2) == cmd
    assert rules(m).count("PCI-ECAM-UNALIGNED") == 2


def test_cfc_word_write_inside_the_dword_is_legal_but_past_0xcff_dropped() -> None:
    """Mechanism #1: CONFIG_DATA takes byte enables of one DWORD (PCI 3.0 3.2.2.3.2): a word
    at 0xCFD writes bytes 1-2 of the register; a DWORD at 0xCFE runs past 0xCFF: dropped."""
    m, nics, drv = nic_machine()
    pd = drv.pdevs[0]
    cpu = m.cpus[0]
    cpu.outl(CF8, 0x80000000 | pd.bus << 16 | pd.devfn << 8 | 0x3C)
    cpu.outl(CFC + 1, 0x1234, size=2)                 # Interrupt Pin (RO) and Min_Gnt (RO)
    cpu.outl(CFC, 0x5A, size=1)                       # Interrupt Line
    before = bytes(nics[0].config.data)
    cpu.outl(CFC + 2, 0xFFFFFFFF, size=4)
    assert bytes(nics[0].config.data) == before and before[0x3C] == 0x5A
    assert cpu.inl(CFC + 3, size=2) == 0xFFFF
    assert "PCI-CONFIG-DATA-SPAN" in rules(m)


def test_config_space_api_outside_the_space_is_a_value_error() -> None:
    """A script calling ConfigSpace directly past 4 KiB made a programming error: ValueError
    (guest accesses are screened by the root complex and never get here)."""
    cs = ConfigSpace()
    with pytest.raises(ValueError, match="outside"):
        cs.write(0xFFE, 4, 0)
    with pytest.raises(ValueError, match="outside"):
        cs.read(0x1000, 1)


# -- defect 5 (device side) ------------------------------------------------------------------
def test_msix_table_small_reads_return_the_bytes_not_all_ones() -> None:
    """Defect 5: a 1- or 2-byte MSI-X table read returned 0xFFFFFFFF, wider than the access.
    The table takes DWORD/QWORD accesses (PCIe 6.1.4.5); irqsim returns the addressed bytes
    of the DWORD (with a diagnostic) and all ones of the width when misaligned."""
    m, nics, _drv = nic_machine()
    cpu = m.cpus[0]
    addr = table_addr(m, nics[0], 0, 2)
    dword = cpu.read(addr, 4)
    assert cpu.read(addr, 1) == dword & 0xFF
    assert cpu.read(addr + 1, 1) == dword >> 8 & 0xFF
    assert cpu.read(addr + 2, 2) == dword >> 16
    assert cpu.read(addr + 1, 2) == 0xFFFF
    assert "MSIX-TABLE-ACCESS-SIZE" in rules(m)


@pytest.mark.parametrize("length", [1, 2, 8])
def test_dma_write_of_non_dword_to_fee_is_not_an_msi(length: int) -> None:
    """Defect 5: a DMA write of 1, 2 or 8 bytes to 0xFEExxxxx was taken as an MSI. An
    interrupt message is one DWORD write (PCI 6.8, SDM 11.11): the root complex drops it
    with a diagnostic; no interrupt is delivered and the books stay balanced."""
    m, nics, drv = nic_machine()
    nics[0].dma_write(0xFEE00000, (0x41).to_bytes(length, "little"))
    m.run()
    assert drv.calls == [] and m.rc.interrupt_writes == 0
    assert m.lapics[0].irr == 0 and m.ctx.ledger.delivered == 0
    assert "MSI-NOT-DWORD" in rules(m)
    assert balanced(m)


def test_dma_dword_write_to_fee_is_still_an_interrupt_write() -> None:
    """Control for the test above: the same write as a DWORD reaches the interrupt path."""
    m, nics, _drv = nic_machine()
    nics[0].dma_write(0xFEE00000, (0x41).to_bytes(4, "little"))
    m.run()
    assert m.rc.interrupt_writes == 1


# -- defect 6 --------------------------------------------------------------------------------
@pytest.mark.parametrize(("msr", "value"), [
    (0x838, 1 << 64),                 # TMICT: was accepted, a 65-bit count
    (0x808, 1 << 64),                 # TPR
    (0x83F, (1 << 64) | 0x40),        # SELF_IPI
    (0x830, (1 << 64) | 0x40),        # ICR (a 64-bit register)
    (0x80F, (1 << 70) | 0x1FF),       # SVR
])
def test_lapic_msr_write_beyond_64_bits_gp(msr: int, value: int) -> None:
    """Defect 6: WRMSR carries EDX:EAX; bits from 64 up are reserved in every x2APIC MSR, so
    the LAPIC faults (#GP, SDM 10.12.1.2) and nothing changes: no timer armed 2^64 ahead."""
    m = raw_machine(x2apic=True)
    a = m.lapics[0]
    tmict, tpr, pending = a.tmict, a.tpr, m.engine.pending
    assert not a.msr_write(msr, value)
    assert a.last_gp is not None and a.last_gp.id == "LAPIC-X2APIC-WRMSR-RESERVED"
    assert (a.tmict, a.tpr, a.irr, m.engine.pending) == (tmict, tpr, 0, pending)


@pytest.mark.parametrize(("msr", "value"), [
    (0x808, 0x100),                   # TPR bits 31:8
    (0x83F, 0x100),                   # SELF_IPI bits 31:8
    (0x830, 1 << 13),                 # ICR bit 13
    (0x830, 1 << 16),                 # ICR bits 17:16
    (0x830, 1 << 20),                 # ICR bits 31:20
    (0x83E, 1 << 2),                  # TDCR bit 2
    (0x832, 1 << 8),                  # LVT Timer bits 10:8 (no delivery mode)
    (0x80F, 1 << 10),                 # SVR bit 10
    (0x838, 1 << 32),                 # TMICT bits 63:32
])
def test_lapic_msr_reserved_bits_gp_per_register(msr: int, value: int) -> None:
    """SDM 10.12.1.2 / semantics.md A.12: setting a reserved bit of an x2APIC MSR is #GP."""
    m = raw_machine(x2apic=True)
    assert not m.lapics[0].msr_write(msr, value)
    gp = m.lapics[0].last_gp
    assert gp is not None and gp.id == "LAPIC-X2APIC-WRMSR-RESERVED"


# -- found by the guest fuzz (tests/fuzz) ----------------------------------------------------
def test_msix_message_to_non_interrupt_address_is_dropped_not_in_flight_forever() -> None:
    """Found by tests/fuzz (seed 2, op 232005): an 8-byte write of 0 to MSI-X entry 0 made
    its Message Address 0; the next interrupt left as a plain memory write to address 0 but
    stayed counted in flight for ever (the machine idle, 'balanced' still true). An MSI is
    an interrupt only at 0xFEExxxxx (SDM 11.11.1): counted dropped at the origin, with a
    diagnostic, and the posted write still goes out."""
    m, nics, drv = nic_machine()
    m.cpus[0].write(table_addr(m, nics[0], 0, 0), 8, 0)
    nics[0].rx(0)
    m.run()
    acc = m.accounting()
    assert drv.calls == [] and acc["in_flight"] == 0 and acc["balanced"]
    assert acc["dropped"] == {"MSI address outside 0xFEExxxxx": 1}
    assert "MSI-ADDRESS" in rules(m)


def test_non_dword_fee_write_dropped_by_a_bridge_is_not_an_interrupt() -> None:
    """The same rule on every path: a bridge with Bus Master Enable clear drops a 1-byte
    write to 0xFEExxxxx as a memory write, not as an interrupt (no ledger drop, balanced)."""
    m, nics, _drv = nic_machine()
    port = nics[0].parent
    port.config.write(0x04, 2, port.config.read(0x04, 2) & ~0x4)
    nics[0].dma_write(0xFEE00000, b"\x41")
    m.run()
    assert m.ctx.ledger.dropped == {} and balanced(m)


@pytest.mark.parametrize("how", ["forged MSI", "INIT IPI to itself"])
def test_init_arriving_during_a_software_section_abandons_it(how: str) -> None:
    """Found by tests/fuzz (seeds 11 and 12): an INIT reaches CPU0 while software on CPU0
    waits for an access -- a device's DWORD write to 0xFEE00000 with delivery mode INIT (an
    MSI may carry it, SDM 10.11.2) or the software's own ICR write of an INIT to APIC ID 0.
    INIT puts the CPU in wait-for-SIPI (SDM 8.4): the software is gone. The section machinery
    raised RuntimeError ("waits for something that never happens") instead."""
    m, nics, _drv = nic_machine()
    cpu = m.cpus[0]
    if how == "forged MSI":
        nics[0].dma_write(0xFEE00000, (0x500).to_bytes(4, "little"))
        m.kernel.run_section(cpu, lambda: cpu.read(table_addr(m, nics[0], 0, 0), 4))
    else:
        m.kernel.run_section(cpu, lambda: (cpu.write(cpu.apic_base + 0x310, 4, 0),
                                           cpu.write(cpu.apic_base + 0x300, 4, 0x4500),
                                           cpu.read(table_addr(m, nics[0], 0, 0), 4)))
    assert cpu.state == "wait-for-SIPI"


def test_virtio_queue_size_zero_completion_does_not_divide_by_zero() -> None:
    """Found by tests/fuzz (seed 13): the guest wrote queue_size 0 through the common
    configuration (virtio 1.2 4.1.4.3: 0 means the queue is unavailable); the next completion
    on that queue raised ZeroDivisionError computing the used-ring slot. Now no used entry is
    written (diagnostic) and the interrupt is still sent."""
    from irqsim.devices.virtio import COMMON_OFF
    from irqsim.scenarios.seed002 import build_seed002
    m, _drv = build_seed002()
    m.boot()
    net = m.device("virtio-net")
    common = net.bar_address(4) + COMMON_OFF
    cpu = m.cpus[0]
    m.kernel.run_section(cpu, lambda: (cpu.write(common + 0x16, 2, 0),
                                       cpu.write(common + 0x18, 2, 0)))
    before = m.ctx.ledger.delivered
    net.complete(0)
    m.run()
    assert m.ctx.ledger.delivered == before + 1 and balanced(m)
    assert "VIRTIO-QUEUE-UNAVAILABLE" in rules(m)
