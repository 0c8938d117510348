"""Linux-shaped interrupt descriptors, handler actions and the IDT gate.

An IRQ number names one interrupt source (a device vector, an INTx line). Its
descriptor holds its domain stack (os/irqdomain.py), the CPU and vector the
VECTOR domain routed it to, the handler chain, and the per-CPU counts
/proc/interrupts prints. Registration lives in os/manage.py.

A shared line runs its handlers in registration order until one returns
IRQ_HANDLED (seed 004: "every driver sharing the line runs in sequence until one
of them claims the interrupt"); ``Kernel.irq_chain = "all"`` runs every handler
whatever they return, as Linux's ``__handle_irq_event_percpu`` does. Each
handler run costs ``handler_base`` plus its own accesses. A line whose
interrupts nobody claims is reported and disabled as Linux's ``note_interrupt``
does (thresholds scaled down: docs/intx.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Final

from irqsim.apic.ioapic import IOAPIC_SOURCE_ID
from irqsim.cpu.cpu import Gate
from irqsim.sim.rules import rule
from irqsim.sim.trace import shape

_IOAPIC_BUS: Final = IOAPIC_SOURCE_ID >> 8

R_NO_IRQ = rule(
    "OS-NO-IRQ-FOR-VECTOR", "Linux do_IRQ",
    "an interrupt arrived on a vector with no IRQ descriptor")

# Trace events of the hot path (irqsim.sim.trace: kind and field names, once).
_T_SW_EOI: Final = shape("sw", "label").bind("Driver", "LAPIC", "Write EOI register")

if TYPE_CHECKING:
    from irqsim.cpu.cpu import Cpu
    from irqsim.os.irqdomain import IrqData
    from irqsim.os.kernel import Kernel
    from irqsim.sim.timing import TimingModel
    from irqsim.sim.trace import Tracer


def write_eoi(cpu: Cpu, x2apic: bool, lapic_base: int) -> None:
    """Acknowledge ``cpu``'s LAPIC: WRMSR to the x2APIC EOI MSR (0x80B) in x2APIC mode,
    else a 4-byte write to the EOI register at ``lapic_base + 0xB0`` (SDM 10.8.5). Here, in
    a compiled module, for the device gate's exit (issue 12); ``Kernel.apic_eoi`` calls it."""
    if x2apic:
        cpu.wrmsr(0x80B, 0)
    else:
        cpu.write(lapic_base + 0xB0, 4, 0)


class ApicEoi:
    """How this kernel acknowledges a LAPIC (Linux's ``apic->eoi`` of the APIC driver chosen
    at boot): WRMSR 0x80B in x2APIC mode, else an MMIO write at ``base + 0xB0``. The kernel's
    ``x2apic_mode`` and ``lapic_base`` live here, so the device gate (compiled) reads them
    natively."""

    __slots__ = ("base", "x2apic")

    def __init__(self, x2apic: bool, base: int) -> None:
        self.x2apic = x2apic
        self.base = base

    def write(self, cpu: Cpu) -> None:
        """Acknowledge ``cpu``'s LAPIC as the kernel's APIC driver does."""
        write_eoi(cpu, self.x2apic, self.base)


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
    slot: str = ""          # the PCI device (pci_request_irq), for latency attribution


class CpuCounts:
    """An IRQ's per-CPU interrupt counts (Linux's per-CPU ``kstat_irqs``), kept sparse: a
    sequence of ``len`` ints, zero for every CPU that never took the IRQ. An IRQ is routed
    to one CPU at a time, so a descriptor holds one or two entries instead of a list of
    every CPU's (8 KiB per IRQ at 1024 CPUs; issue 12 scale goal). It compares equal to a
    list of the same counts.

    The CPU that took the IRQ last keeps its count in two plain fields (``_hot``,
    ``_hot_n``) rather than in the dict, so that counting an interrupt on the same CPU as
    the previous one is an integer compare and add (issue 12)."""

    __slots__ = ("_by_cpu", "_hot", "_hot_n", "_n")

    def __init__(self, counts: Iterable[int] | int) -> None:
        """``counts``: the per-CPU values, or the number of CPUs (all zero)."""
        self._hot = -1                  # the CPU whose count is _hot_n (not in _by_cpu)
        self._hot_n = 0
        if isinstance(counts, int):
            self._n: int = counts
            self._by_cpu: dict[int, int] = {}
        else:
            values = list(counts)
            self._n = len(values)
            self._by_cpu = {i: c for i, c in enumerate(values) if c}

    def add(self, cpu: int) -> None:
        """One more interrupt on ``cpu``."""
        if cpu == self._hot:
            self._hot_n += 1
            return
        if not 0 <= cpu < self._n:
            raise IndexError(f"CPU {cpu} out of range ({self._n} CPUs)")
        d = self._by_cpu
        if self._hot >= 0:
            d[self._hot] = self._hot_n
        self._hot = cpu
        self._hot_n = d.pop(cpu, 0) + 1

    def _counts(self) -> dict[int, int]:
        """Every non-zero count by CPU."""
        d = dict(self._by_cpu)
        if self._hot >= 0 and self._hot_n:
            d[self._hot] = self._hot_n
        return d

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, cpu: int) -> int:
        if cpu < 0:
            cpu += self._n
        if not 0 <= cpu < self._n:
            raise IndexError(f"CPU {cpu} out of range ({self._n} CPUs)")
        return self._hot_n if cpu == self._hot else self._by_cpu.get(cpu, 0)

    def __setitem__(self, cpu: int, value: int) -> None:
        if cpu < 0:
            cpu += self._n
        if not 0 <= cpu < self._n:
            raise IndexError(f"CPU {cpu} out of range ({self._n} CPUs)")
        if cpu == self._hot:
            self._hot, self._hot_n = -1, 0
        if value:
            self._by_cpu[cpu] = value
        else:
            self._by_cpu.pop(cpu, None)

    def __iter__(self) -> Iterator[int]:
        d = self._counts()
        return iter([d.get(i, 0) for i in range(self._n)])

    def total(self) -> int:
        """Interrupts on all CPUs (``sum(counts)`` without walking every CPU)."""
        return sum(self._by_cpu.values()) + (self._hot_n if self._hot >= 0 else 0)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CpuCounts):
            return self._n == other._n and self._counts() == other._counts()
        if isinstance(other, (list, tuple)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"CpuCounts({list(self)!r})"


@dataclass(slots=True)
class IrqDesc:
    """One IRQ: routing, handlers and counts (``counts``: a list is made a CpuCounts)."""

    irq: int
    chip: str
    hwirq: int
    cpu: int
    vector: int
    counts: CpuCounts
    actions: list[IrqAction] = field(default_factory=list)
    unhandled: int = 0
    device: str = ""
    trigger: str = "edge"           # the flow /proc/interrupts shows: edge or fasteoi
    # Chip operations (Linux irq_chip): mask/unmask the source, and an EOI beyond the
    # LAPIC's (the I/O APIC EOI register when EOI broadcasts are suppressed).
    chip_mask: Callable[[bool], None] | None = None
    chip_eoi: Callable[[], None] | None = None
    masked: bool = True
    disabled: str = ""              # why the kernel disabled the line, if it did
    # note_interrupt state: interrupts seen in the current window, unhandled among them,
    # and when the last unhandled one came.
    window_count: int = 0
    window_unhandled: int = 0
    last_unhandled: int = -(1 << 62)
    # The domain stack (top level; each IrqData links its parent), the affinity mask set
    # by irq_set_affinity (None: any CPU), and whether the stack holds a vector.
    data: IrqData | None = None
    affinity: list[int] | None = None
    activated: bool = False
    # Managed affinity (kernel-spread queue vectors: user writes fail with EIO), the
    # driver's hint (irq_set_affinity_hint) and the device's NUMA node (/proc/irq/N/node).
    managed: bool = False
    affinity_hint: list[int] | None = None
    node: int = -1

    @property
    def name(self) -> str:
        return ", ".join(a.name for a in self.actions)


class VectorTable:
    """One CPU's dispatch table, vector -> IRQ descriptor (Linux's per-CPU
    ``vector_irq[NR_VECTORS]``): 256 slots, read by the gate at every interrupt with a list
    index (a dict lookup hashed the vector). Reads and writes like a dict of the vectors in
    use."""

    __slots__ = ("_slots",)

    def __init__(self) -> None:
        self._slots: list[IrqDesc | None] = [None] * 256

    def get(self, vector: int) -> IrqDesc | None:
        """The descriptor installed at ``vector``, or None."""
        if 0 <= vector < 256:
            return self._slots[vector]
        return None

    def __getitem__(self, vector: int) -> IrqDesc:
        desc = self.get(vector)
        if desc is None:
            raise KeyError(vector)
        return desc

    def __setitem__(self, vector: int, desc: IrqDesc) -> None:
        if not 0 <= vector < 256:
            raise ValueError(f"vector {vector} is not in 0..255")
        self._slots[vector] = desc

    def __delitem__(self, vector: int) -> None:
        self.__getitem__(vector)
        self._slots[vector] = None

    def __contains__(self, vector: object) -> bool:
        return isinstance(vector, int) and self.get(vector) is not None

    def __iter__(self) -> Iterator[int]:
        return iter([v for v in range(256) if self._slots[v] is not None])

    def __len__(self) -> int:
        return sum(1 for d in self._slots if d is not None)

    def items(self) -> list[tuple[int, IrqDesc]]:
        """(vector, descriptor) of the vectors in use, in vector order."""
        return [(v, d) for v, d in enumerate(self._slots) if d is not None]


class IrqGate(Gate):
    """The IDT entry the OS installs for every device vector (Linux's common_interrupt): it
    finds the IRQ through the receiving CPU's vector table (Linux's per-CPU vector_irq)."""

    __slots__ = ("eoi", "kernel", "spurious_window", "timing", "tracer", "vector_irq")

    SPURIOUS_WINDOW: Final = 1000       # note_interrupt's window (Kernel.spurious_window)

    def __init__(self, kernel: Kernel, vector_irq: list[VectorTable]) -> None:
        self.kernel = kernel
        self.vector_irq = vector_irq        # per CPU: vector -> IRQ descriptor
        # The kernel's (set once): compiled, native reads instead of lookups on the Kernel.
        self.timing: TimingModel = kernel.timing
        self.tracer: Tracer = kernel.ctx.tracer
        self.eoi: ApicEoi = kernel.eoi
        self.spurious_window = IrqGate.SPURIOUS_WINDOW

    def enter(self, cpu: Cpu, vector: int, spurious: bool) -> int:
        k = self.kernel
        if spurious:
            k.spurious[cpu.index] += 1
            return k.timing.handler_base
        desc = self.vector_irq[cpu.index].get(vector)
        if desc is None:
            k.unexpected[cpu.index] += 1
            k.ctx.diag(cpu.name, R_NO_IRQ,
                       f"vector {vector:#x} has no IRQ descriptor on {cpu.name}")
            return k.timing.handler_base
        if desc.disabled:
            # handle_fasteoi_irq on a disabled line: mask it, run nothing.
            if desc.chip_mask is not None and not desc.masked:
                desc.chip_mask(True)
                desc.masked = True
            return k.timing.handler_base
        desc.counts.add(cpu.index)
        base = self.timing.handler_base
        actions = desc.actions
        frames = cpu.frames
        frame = frames[-1] if frames else None
        meta = frame.meta if frame is not None else None
        # An I/O APIC's message (every I/O APIC sends as ff:00.x, one function each).
        line = meta is not None and meta.requester >> 8 == _IOAPIC_BUS
        if len(actions) == 1 and not line:
            # Fast path: one handler, nothing to attribute.
            action = actions[0]
            handled = bool(action.handler(desc.irq, action.dev_id))
            if not handled or desc.window_unhandled:
                k.note_interrupt(desc, handled)
            else:
                desc.window_count += 1
                if desc.window_count >= self.spurious_window:
                    desc.window_count = 0
            return base
        all_actions = k.irq_chain == "all"
        claim_tp = k.ctx.points.claim
        claim = line and claim_tp.on
        tracer = k.ctx.tracer
        trace_each = tracer.on and len(actions) > 1
        handled = False
        for runs, action in enumerate(actions):
            if runs:
                cpu.spend(base)             # the previous handler's own code
            entry = cpu.clock
            if trace_each:
                tracer.emit(entry, "Driver", "Driver", "sw",
                            label=f"Shared IRQ {desc.irq}: run handler {action.name}")
            if action.handler(desc.irq, action.dev_id):
                if claim and not handled:
                    assert meta is not None
                    claim_tp(meta.iid, cpu.index, action.slot, entry)
                handled = True
                if not all_actions:
                    break
        k.note_interrupt(desc, handled)
        return base

    def exit(self, cpu: Cpu, vector: int, spurious: bool) -> int:
        if spurious:
            return 0
        if self.tracer.on:
            self.tracer.put0(_T_SW_EOI, cpu.clock)
        self.eoi.write(cpu)                                 # k.apic_eoi(cpu), compiled
        desc = self.vector_irq[cpu.index].get(vector)
        if desc is not None and desc.chip_eoi is not None:
            desc.chip_eoi()
        return 0
