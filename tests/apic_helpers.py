"""Builders shared by the Local APIC tests: small machines with software-enabled APICs."""

from __future__ import annotations

from irqsim.apic.lapic import APIC_BASE_EN, APIC_BASE_EXTD, APIC_DEFAULT_BASE
from irqsim.cpu.cpu import Cpu
from irqsim.cpu.topology import Topology
from irqsim.machine import Machine

BASE = APIC_DEFAULT_BASE


def to_x2apic(cpu: Cpu) -> None:
    """Switch a CPU's APIC from xAPIC to x2APIC through IA32_APIC_BASE."""
    assert cpu.wrmsr(0x1B, cpu.rdmsr(0x1B) | APIC_BASE_EN | APIC_BASE_EXTD)


def apic_write(cpu: Cpu, reg: int, value: int) -> None:
    """Software write of an APIC register in the CPU's current mode."""
    if cpu.lapic.x2apic:
        assert cpu.wrmsr(0x800 + (reg >> 4), value)
    else:
        cpu.write(cpu.apic_base + reg, 4, value)


def apic_read(cpu: Cpu, reg: int) -> int:
    if cpu.lapic.x2apic:
        return cpu.rdmsr(0x800 + (reg >> 4))
    return cpu.read(cpu.apic_base + reg)


def raw_machine(n: int = 1, x2apic: bool = False, topology: Topology | None = None,
                apic_ids: list[int] | None = None, cli: bool = True, **kw: object) -> Machine:
    """An unbooted machine whose APICs software has enabled (SVR 0x1FF); IF=0 by default so
    accepted interrupts stay visible in IRR."""
    m = Machine(ncpus=None if topology is not None and n == 0 else n, topology=topology,
                apic_ids=apic_ids, latency=False, **kw)  # type: ignore[arg-type]
    for c in m.cpus:
        if x2apic:
            to_x2apic(c)
        apic_write(c, 0xF0, 0x1FF)
        if cli:
            c.cli()
    return m


def send_ipi(cpu: Cpu, low: int, dest: int) -> None:
    """Write the ICR as software does: ICR2 then ICR (xAPIC) or one WRMSR (x2APIC)."""
    if cpu.lapic.x2apic:
        cpu.wrmsr(0x830, dest << 32 | low)
    else:
        cpu.write(cpu.apic_base + 0x310, 4, dest << 24)
        cpu.write(cpu.apic_base + 0x300, 4, low)


def got(m: Machine, vector: int) -> list[int]:
    """Indexes of the CPUs whose APIC holds ``vector`` in IRR or ISR."""
    return [i for i, a in enumerate(m.lapics) if (a.irr | a.isr) >> vector & 1]
