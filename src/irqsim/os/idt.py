"""The OS's interrupt descriptor table: one table shared by every CPU, as Linux's idt_table.

Entries: exception gates for vectors 0-31 (#GP and friends run synchronously inside the
faulting code; NMI is vector 2), the device-vector gate for 32-255 (``os/irq.IrqGate``,
Linux's common_interrupt: it looks the vector up in the receiving CPU's ``vector_irq`` table,
which the vector domain fills), and the system
gates Linux installs at fixed vectors (local timer, reschedule, call-function, error,
spurious). System gates acknowledge the LAPIC at entry, as Linux's DEFINE_IDTENTRY_SYSVEC
handlers do (``apic_eoi()`` first), and count themselves in ``Kernel.system_counters`` under
the names /proc/interrupts uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from irqsim.cpu.cpu import Gate
from irqsim.sim.rules import rule

R_EXCEPTION_VECTOR = rule(
    "OS-EXCEPTION-VECTOR", "SDM 6.3",
    "vectors 16-31 are reserved for exceptions, not external interrupts")

if TYPE_CHECKING:
    from irqsim.cpu.cpu import Cpu, Fault
    from irqsim.os.kernel import Kernel

SystemBody = Callable[["Cpu"], None]


class SystemGate(Gate):
    """A Linux system vector: EOI at entry, count ``name`` per CPU, run ``body``."""

    __slots__ = ("body", "description", "kernel", "name")

    def __init__(self, kernel: Kernel, name: str, description: str,
                 body: SystemBody | None = None) -> None:
        self.kernel = kernel
        self.name = name
        self.description = description
        self.body = body

    def enter(self, cpu: Cpu, vector: int, spurious: bool) -> int:
        k = self.kernel
        if spurious:
            k.spurious[cpu.index] += 1
            return k.timing.handler_base
        k.count_system(self.name, cpu.index, self.description)
        cpu.spend(k.timing.ipi_receiver_overhead)       # kernel entry (PTI, mitigations)
        k.apic_eoi(cpu)
        cpu.spend(k.timing.handler_base)                # generic handler code
        if self.body is not None:
            self.body(cpu)
        return 0

    def exit(self, cpu: Cpu, vector: int, spurious: bool) -> int:
        return 0


class SpuriousGate(Gate):
    """Vector 0xFF: the LAPIC's spurious vector (no EOI), counted as SPU."""

    __slots__ = ("kernel",)

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def enter(self, cpu: Cpu, vector: int, spurious: bool) -> int:
        k = self.kernel
        if spurious:
            k.spurious[cpu.index] += 1
        else:                       # a real 0xFF interrupt is in service: acknowledge it
            k.unexpected[cpu.index] += 1
            k.apic_eoi(cpu)
        return k.timing.handler_base

    def exit(self, cpu: Cpu, vector: int, spurious: bool) -> int:
        return 0


class NmiGate(Gate):
    """Vector 2: runs the registered NMI handlers; NMIs need no EOI."""

    __slots__ = ("handlers", "kernel")

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.handlers: list[SystemBody] = []

    def enter(self, cpu: Cpu, vector: int, spurious: bool) -> int:
        k = self.kernel
        k.count_system("NMI", cpu.index, "Non-maskable interrupts")
        for h in self.handlers:
            h(cpu)
        return k.timing.nmi_handler

    def exit(self, cpu: Cpu, vector: int, spurious: bool) -> int:
        return 0

    def exception(self, cpu: Cpu, fault: Fault) -> int:
        return self.enter(cpu, 2, False)


class ExceptionGate(Gate):
    """Vectors 0-31: faults raised by instructions (e.g. #GP from WRMSR).

    Like Linux's exception fixup for RDMSR/WRMSR (``ex_handler_msr``), the handler records
    the fault, warns, and lets the code continue after the faulting instruction.
    """

    __slots__ = ("kernel",)

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def exception(self, cpu: Cpu, fault: Fault) -> int:
        k = self.kernel
        k.exceptions.append((cpu.index, fault))
        return k.timing.handler_base

    def enter(self, cpu: Cpu, vector: int, spurious: bool) -> int:
        k = self.kernel
        k.unexpected[cpu.index] += 1
        k.ctx.diag(cpu.name, R_EXCEPTION_VECTOR,
                   f"external interrupt on exception vector {vector}")
        k.apic_eoi(cpu)
        return k.timing.handler_base

    def exit(self, cpu: Cpu, vector: int, spurious: bool) -> int:
        return 0
