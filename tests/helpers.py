"""Shared builders for tests: a machine with MultiQueueNic devices and a recording driver."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from irqsim.devices.nic import MultiQueueNic
from irqsim.machine import Machine
from irqsim.os.irq import IRQ_HANDLED
from irqsim.os.kernel import PCI_IRQ_MSIX, Kernel
from irqsim.os.pci import PciDev


@dataclass
class Call:
    irq: int
    vector: int
    time: int
    cpu: int
    if_flag: bool
    depth: int


@dataclass
class RecordingDriver:
    """Allocates MSI-X vectors (optionally at chosen vector numbers) and records handler calls."""

    queues: int = 1
    targets: list[int] | None = None       # wanted first vector per probed device
    handler_ns: int = 0
    name: str = "test-nic"
    ids: tuple[tuple[int, int], ...] = ((0x8086, 0x1572),)
    calls: list[Call] = field(default_factory=list)
    pdevs: list[PciDev] = field(default_factory=list)
    kernel: Kernel | None = None
    on_irq: Any = None

    def probe(self, k: Kernel, pdev: PciDev) -> None:
        self.kernel = k
        k.pci_enable_device(pdev)
        k.pci_set_master(pdev)
        added: list[int] = []
        if self.targets is not None:
            want = self.targets[len(self.pdevs)]
            for v in range(k.vectors.first, want):
                if not k.vectors.used[0] >> v & 1:
                    k.vectors.reserve(0, v)
                    added.append(v)
        k.pci_alloc_irq_vectors(pdev, self.queues, self.queues, PCI_IRQ_MSIX, cpus=[0])
        for v in added:
            k.vectors.free(0, v)
        for i in range(self.queues):
            k.request_irq(k.pci_irq_vector(pdev, i), self.handler, 0, f"q{i}", pdev)
        self.pdevs.append(pdev)

    def handler(self, irq: int, dev_id: Any) -> int:
        k = self.kernel
        assert k is not None
        cpu = k.current_cpu
        desc = k.irqs[irq]
        self.calls.append(Call(irq, desc.vector, k.ctx.engine.now, cpu.index, cpu.if_flag,
                               len(cpu.frames)))
        cpu.spend(self.handler_ns)
        if self.on_irq is not None:
            self.on_irq(irq, dev_id)
        return IRQ_HANDLED


def nic_machine(devices: int = 1, queues: int = 1, targets: list[int] | None = None,
                handler_ns: int = 0, trace: bool = False, ncpus: int = 1,
                **kw: Any) -> tuple[Machine, list[MultiQueueNic], RecordingDriver]:
    """A booted machine with ``devices`` NICs of ``queues`` MSI-X vectors each."""
    m = Machine(ncpus=ncpus, trace=trace, **kw)
    nics = [MultiQueueNic(m.ctx, queues, name=f"nic{i}") for i in range(devices)]
    for n in nics:
        m.add_device(n)
    drv = RecordingDriver(queues=queues, targets=targets, handler_ns=handler_ns)
    m.kernel.register_driver(drv)
    m.boot()
    return m, nics, drv


def table_addr(m: Machine, nic: MultiQueueNic, entry: int, dword: int = 0) -> int:
    """Memory address of a table entry dword, as software computes it from the BAR."""
    return nic.bar_address(0) + 16 * entry + 4 * dword


def pba_addr(m: Machine, nic: MultiQueueNic) -> int:
    off = nic.config.read(nic.msix.offset + 8, 4)
    return nic.bar_address(off & 7) + (off & ~7)


def balanced(m: Machine) -> bool:
    acc = m.accounting()
    return bool(acc["balanced"])


def module_source(mod: ModuleType) -> str | None:
    """A module's Python source: its .py file, or for a module compiled by mypyc the .py
    file beside the extension (build_compiled.py keeps it); None for a C-only extension."""
    if mod.__file__ is None:
        return None
    path = Path(mod.__file__)
    if path.suffix != ".py":
        path = path.with_name(mod.__name__.rsplit(".", 1)[-1] + ".py")
    return path.read_text() if path.is_file() else None
