"""Linux-shaped interrupt descriptors, handler registration and the IDT gate.

An IRQ number names one interrupt source (a device vector, an INTx line). Its
descriptor holds the CPU vector it is routed to, the handler chain, and the
per-CPU counts /proc/interrupts prints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from irqsim.cpu.cpu import Cpu
    from irqsim.os.kernel import Kernel


class IrqReturn(IntEnum):
    NONE = 0
    HANDLED = 1


IRQ_NONE, IRQ_HANDLED = IrqReturn.NONE, IrqReturn.HANDLED
IRQF_SHARED = 0x80
Handler = Callable[[int, Any], IrqReturn]


@dataclass(slots=True)
class IrqAction:
    handler: Handler
    flags: int
    name: str
    dev_id: Any


@dataclass(slots=True)
class IrqDesc:
    """One IRQ: routing, handlers and counts."""

    irq: int
    chip: str
    hwirq: int
    cpu: int
    vector: int
    counts: list[int]
    actions: list[IrqAction] = field(default_factory=list)
    unhandled: int = 0
    device: str = ""

    @property
    def name(self) -> str:
        return ", ".join(a.name for a in self.actions)


class IrqGate:
    """The IDT entry the OS installs for a device vector on one CPU."""

    __slots__ = ("kernel", "per_vector")

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.per_vector: dict[int, IrqDesc] = {}

    def enter(self, cpu: Cpu, vector: int, spurious: bool) -> int:
        k = self.kernel
        if spurious:
            k.spurious[cpu.index] += 1
            return k.timing.handler_base
        desc = self.per_vector.get(vector)
        if desc is None:
            k.unexpected[cpu.index] += 1
            k.ctx.diag(cpu.name, "Linux do_IRQ: no irq for vector",
                       f"vector {vector:#x} has no IRQ descriptor on {cpu.name}")
            return k.timing.handler_base
        desc.counts[cpu.index] += 1
        prev = k.current_cpu
        k.current_cpu = cpu
        handled = False
        for action in desc.actions:
            if action.handler(desc.irq, action.dev_id):
                handled = True
        k.current_cpu = prev
        if not handled:
            desc.unhandled += 1
        return k.timing.handler_base + cpu.sw_cost

    def exit(self, cpu: Cpu, vector: int, spurious: bool) -> int:
        if spurious:
            return 0
        if self.kernel.x2apic_mode:
            cpu.wrmsr(0x80B, 0)                     # EOI (x2APIC MSR)
        else:
            cpu.write(cpu.apic_base + 0xB0, 4, 0)   # EOI
        if self.kernel.ctx.tracer.on:
            self.kernel.ctx.tracer.emit(self.kernel.ctx.engine.now, "Driver", "LAPIC",
                                        "sw", label="Write EOI register")
        return cpu.sw_cost
