"""Builders for the INTx / I/O APIC / MSI tests: software access paths and handlers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from irqsim.machine import Machine
from irqsim.os.intx import ioapic_read, ioapic_write
from irqsim.os.irq import IRQ_HANDLED, CpuCounts, IrqAction, IrqDesc, IrqReturn

IOAPIC = 0xFEC00000


def bare_machine(ncpus: int = 1, **kw: Any) -> Machine:
    """A booted machine with no devices (LAPICs software-enabled)."""
    m = Machine(ncpus=ncpus, **kw)
    m.boot()
    return m


def sw(m: Machine, fn: Callable[[], Any], cpu: int = 0) -> Any:
    """Run ``fn`` as a software section on ``cpu``; returns what it returns."""
    out: list[Any] = []
    m.kernel.run_on(m.cpus[cpu], lambda: out.append(fn()))
    return out[0]


def rte_write(m: Machine, pin: int, low: int, high: int = 0) -> None:
    """Program RTE ``pin`` through IOREGSEL/IOWIN: high dword, then low dword."""
    k = m.kernel

    def go() -> None:
        ioapic_write(k, IOAPIC, 0x11 + 2 * pin, high)
        ioapic_write(k, IOAPIC, 0x10 + 2 * pin, low)
    sw(m, go)


def rte_low(m: Machine, pin: int, value: int) -> None:
    """Write only the low dword of RTE ``pin``."""
    sw(m, lambda: ioapic_write(m.kernel, IOAPIC, 0x10 + 2 * pin, value))


def rte_read(m: Machine, pin: int) -> int:
    """The 64-bit RTE ``pin`` as software reads it."""
    k = m.kernel
    return int(sw(m, lambda: ioapic_read(k, IOAPIC, 0x10 + 2 * pin)
               | ioapic_read(k, IOAPIC, 0x11 + 2 * pin) << 32))


def reg_read(m: Machine, index: int) -> int:
    return int(sw(m, lambda: ioapic_read(m.kernel, IOAPIC, index)))


def reg_write(m: Machine, index: int, value: int) -> None:
    sw(m, lambda: ioapic_write(m.kernel, IOAPIC, index, value))


def install_handler(m: Machine, vector: int, fn: Callable[[], IrqReturn] | None = None,
                    cpu: int = 0, irq: int = 200) -> IrqDesc:
    """Route ``vector`` on ``cpu`` to a handler (test scaffolding: a kernel IRQ by hand)."""
    k = m.kernel
    k.vectors.reserve(cpu, vector)
    desc = IrqDesc(irq, "test", 0, cpu, vector, CpuCounts(len(m.cpus)))
    desc.actions.append(IrqAction(lambda i, d: fn() if fn else IRQ_HANDLED, 0, "test", None))
    desc.masked = False
    k.irqs[irq] = desc
    k.vector_irq[cpu][vector] = desc
    return desc


def balanced(m: Machine) -> bool:
    acc = m.accounting()
    return bool(acc["balanced"]) and acc["in_flight"] == 0


class ProbeDriver:
    """Binds devices by (vendor, device) and runs ``fn(kernel, pdev)`` at probe."""

    name = "probe"

    def __init__(self, ids: tuple[tuple[int, int], ...],
                 fn: Callable[[Any, Any], None]) -> None:
        self.ids = ids
        self.fn = fn
        self.pdevs: list[Any] = []

    def probe(self, k: Any, pdev: Any) -> None:
        self.pdevs.append(pdev)
        self.fn(k, pdev)
