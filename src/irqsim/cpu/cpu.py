"""A CPU core as the interrupt path sees it (Intel SDM vol. 3 ch. 6).

RFLAGS.IF, acceptance at an instruction boundary (INTA to the LAPIC), IDT
dispatch through an interrupt gate (IF cleared), handler execution, EOI by the
OS and IRET restoring IF. A handler that re-enables IF can be preempted by a
higher priority class (the LAPIC's PPR decides which vectors may nest).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from irqsim.apic.lapic import APIC_DEFAULT_BASE, LocalApic
from irqsim.sim.context import SimContext

if TYPE_CHECKING:
    from irqsim.fabric.tlp import Tlp
    from irqsim.sim.stats import LatencyRecorder


class Gate(Protocol):
    """An IDT entry: the OS code that runs for a vector."""

    def enter(self, cpu: Cpu, vector: int, spurious: bool) -> int:
        """Run the handler body at entry; return its CPU cost in ns."""
        ...

    def exit(self, cpu: Cpu, vector: int, spurious: bool) -> int:
        """Run the epilogue (EOI); return its cost in ns."""
        ...


class Platform(Protocol):
    """Where the CPU's memory and I/O accesses go (the root complex)."""

    def cpu_read(self, addr: int, size: int) -> tuple[int, int]: ...

    def cpu_write(self, addr: int, size: int, value: int) -> int: ...

    def io_read(self, port: int, size: int) -> tuple[int, int]: ...

    def io_write(self, port: int, size: int, value: int) -> int: ...


class Frame:
    """One interrupt in service on this CPU (the stack frame the gate pushed)."""

    __slots__ = ("done", "end", "meta", "remaining", "saved_if", "spurious", "t_accept",
                 "vector")

    def __init__(self, vector: int, saved_if: bool, spurious: bool, t_accept: int,
                 meta: Tlp | None) -> None:
        self.vector = vector
        self.saved_if = saved_if
        self.spurious = spurious
        self.t_accept = t_accept
        self.meta = meta
        self.done: int | None = None
        self.end = 0
        self.remaining = -1


class Cpu:
    """One logical processor with its Local APIC."""

    def __init__(self, ctx: SimContext, index: int, lapic: LocalApic,
                 platform: Platform | None = None) -> None:
        self.ctx = ctx
        self.index = index
        self.name = f"CPU{index}"
        self.lapic = lapic
        lapic.cpu = self
        self.platform = platform
        self.apic_base = APIC_DEFAULT_BASE
        self.if_flag = True
        self.frames: list[Frame] = []
        self.idt: list[Gate | None] = [None] * 256
        self.sw_cost = 0
        self.busy_ns = 0
        self.accepted = 0
        self.nesting_allowed = False
        self.recorder: LatencyRecorder | None = None
        self._accept_entry: int | None = None
        self._engine = ctx.engine
        self._tracer = ctx.tracer
        self._ledger = ctx.ledger
        t = ctx.timing
        self._entry_delay = t.cpu_acceptance + t.context_save + t.handler_dispatch
        self._restore = t.context_restore
        self._lapic_delivery = t.lapic_delivery
        self._lapic_access = t.lapic_mmio_access

    # -- INTR / acceptance -------------------------------------------------
    def intr(self) -> None:
        """The LAPIC asserts INTR; the core samples it at the next instruction boundary."""
        if self.if_flag and self._accept_entry is None:
            self._accept_entry = self._engine.after(self._lapic_delivery, self._accept)

    def _accept(self, _: object) -> None:
        self._accept_entry = None
        if not self.if_flag:
            return
        lapic = self.lapic
        v = lapic.inta()
        engine = self._engine
        tracer = self._tracer
        now = engine.now
        spurious = v > 0xFF
        v &= 0xFF
        if spurious:
            if tracer.on:
                tracer.emit(now, lapic.name, self.name, "spurious", vector=v)
            meta = None
        else:
            self._ledger.delivered += 1
            self.accepted += 1
            meta = lapic.isr_meta[v]
            if tracer.on:
                tracer.emit(now, lapic.name, self.name, "inta", vector=v, ppr=lapic.ppr)
        frames = self.frames
        if frames:
            top = frames[-1]
            if top.done is not None:
                top.remaining = top.end - now
                engine.cancel(top.done)
                top.done = None
                if tracer.on:
                    tracer.emit(now, self.name, self.name, "preempted", vector=top.vector, by=v)
        frame = Frame(v, self.if_flag, spurious, now, meta)
        frames.append(frame)
        self.if_flag = False
        engine.after(self._entry_delay, self._enter, frame)

    def _enter(self, frame: Frame) -> None:
        engine = self._engine
        now = engine.now
        if self.recorder is not None and frame.meta is not None:
            self.recorder.record(frame.meta, frame.t_accept, now, self.index, frame.vector)
        if self._tracer.on:
            self._tracer.emit(now, self.name, "Driver", "handler-entry", vector=frame.vector)
        gate = self.idt[frame.vector]
        self.sw_cost = 0
        if gate is not None:
            cost = gate.enter(self, frame.vector, frame.spurious)
        else:
            cost = 0
            self.ctx.diag(self.name, "SDM 6.12 IDT gate not present",
                          f"vector {frame.vector:#x} has no IDT entry (#NP)")
        self.busy_ns += cost
        frame.end = now + cost
        frame.done = engine.after(cost, self._handler_done, frame)
        if self.nesting_allowed:
            self.if_flag = True
            if self.lapic.deliverable() >= 0:
                self.intr()

    def _handler_done(self, frame: Frame) -> None:
        frame.done = None
        gate = self.idt[frame.vector]
        self.sw_cost = 0
        cost = gate.exit(self, frame.vector, frame.spurious) if gate is not None else 0
        cost += self._restore
        self.busy_ns += cost
        self.if_flag = False
        self._engine.after(cost, self._iret, frame)

    def _iret(self, frame: Frame) -> None:
        frames = self.frames
        frames.pop()
        self.if_flag = frame.saved_if
        engine = self._engine
        if self._tracer.on:
            self._tracer.emit(engine.now, self.name, self.name, "iret", vector=frame.vector,
                              IF=int(self.if_flag))
        if frames:
            top = frames[-1]
            if top.remaining >= 0 and top.done is None:
                top.end = engine.now + top.remaining
                top.done = engine.after(top.remaining, self._handler_done, top)
                top.remaining = -1
        if self.if_flag and self.lapic.deliverable() >= 0:
            self.intr()

    # -- instructions software runs -------------------------------------------
    def cli(self) -> None:
        """CLI: clear RFLAGS.IF."""
        self.if_flag = False
        if self.ctx.tracer.on:
            self.ctx.tracer.emit(self.ctx.engine.now, self.name, self.name, "cli")

    def sti(self) -> None:
        """STI: set RFLAGS.IF; a pending deliverable interrupt is then taken."""
        self.if_flag = True
        if self.ctx.tracer.on:
            self.ctx.tracer.emit(self.ctx.engine.now, self.name, self.name, "sti")
        if self.lapic.deliverable() >= 0:
            self.intr()

    @property
    def cr8(self) -> int:
        """CR8 aliases TPR[7:4] (SDM 10.8.6.1)."""
        return self.lapic.tpr >> 4

    @cr8.setter
    def cr8(self, value: int) -> None:
        self.lapic.tpr = (value & 0xF) << 4
        self.lapic._priority_changed()

    @property
    def in_service(self) -> list[int]:
        return [f.vector for f in self.frames]

    # -- memory and I/O accesses (software cost accumulates in sw_cost) --------
    def _is_apic(self, addr: int) -> bool:
        return (addr & ~0xFFF) == self.apic_base

    def read(self, addr: int, size: int = 4) -> int:
        """Memory read by software on this CPU."""
        if self._is_apic(addr):
            self.sw_cost += self.ctx.timing.lapic_mmio_access
            return self.lapic.mmio_read(addr & 0xFFF, size)
        assert self.platform is not None
        value, cost = self.platform.cpu_read(addr, size)
        self.sw_cost += cost
        return value

    def write(self, addr: int, size: int, value: int) -> None:
        """Memory write by software on this CPU."""
        if (addr & ~0xFFF) == self.apic_base:
            self.sw_cost += self._lapic_access
            self.lapic.mmio_write(addr & 0xFFF, size, value)
            return
        assert self.platform is not None
        self.sw_cost += self.platform.cpu_write(addr, size, value)

    def inl(self, port: int, size: int = 4) -> int:
        """Port I/O read (IN)."""
        assert self.platform is not None
        value, cost = self.platform.io_read(port, size)
        self.sw_cost += cost
        return value

    def outl(self, port: int, value: int, size: int = 4) -> None:
        """Port I/O write (OUT)."""
        assert self.platform is not None
        self.sw_cost += self.platform.io_write(port, size, value)

    def spend(self, ns: int) -> None:
        """Charge ``ns`` of pure computation to the current software section."""
        self.sw_cost += ns
