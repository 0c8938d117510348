"""A CPU core as the interrupt path sees it (Intel SDM vol. 3 ch. 6).

RFLAGS.IF, acceptance at an instruction boundary (INTA to the LAPIC), IDT
dispatch through an interrupt gate (IF cleared), handler execution, EOI by the
OS and IRET restoring IF. A handler that re-enables IF can be preempted by a
higher priority class (the LAPIC's PPR decides which vectors may nest).

Also: NMI (not blocked by IF or TPR; blocked from delivery until the IRET of the NMI
handler, one more latched meanwhile, SDM 6.7.1), INIT / start-up IPIs (wait-for-SIPI,
SDM 8.4.4), SMI (counted), RDMSR/WRMSR (IA32_APIC_BASE, x2APIC MSRs, IA32_TSC_DEADLINE,
IA32_TSC) and architectural faults: a #GP is delivered through IDT vector 13 as a fault
event, never as a Python exception.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from irqsim.apic.lapic import (
    APIC_DEFAULT_BASE,
    GP,
    MSR_APIC_BASE,
    MSR_TSC_DEADLINE,
    LocalApic,
)
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


class ExceptionGate(Protocol):
    """An IDT entry for an exception vector: runs synchronously inside the faulting code."""

    def exception(self, cpu: Cpu, fault: Fault) -> int:
        """Handle ``fault``; return the handler's cost in ns."""
        ...


class Platform(Protocol):
    """Where the CPU's memory and I/O accesses go (the root complex)."""

    def cpu_read(self, addr: int, size: int) -> tuple[int, int]: ...

    def cpu_write(self, addr: int, size: int, value: int) -> int: ...

    def io_read(self, port: int, size: int) -> tuple[int, int]: ...

    def io_write(self, port: int, size: int, value: int) -> int: ...


class Frame:
    """One interrupt in service on this CPU (the stack frame the gate pushed)."""

    __slots__ = ("done", "end", "exiting", "meta", "remaining", "saved_if", "spurious",
                 "t_accept", "vector")

    def __init__(self, vector: int, saved_if: bool, spurious: bool, t_accept: int,
                 meta: Tlp | None) -> None:
        self.vector = vector
        self.saved_if = saved_if
        self.spurious = spurious
        self.t_accept = t_accept
        self.meta = meta
        self.done: int | None = None     # pending handler-end or IRET event
        self.end = 0                      # when that event is due
        self.exiting = False              # handler done: the pending event is the IRET
        self.remaining = -1               # time left of a preempted handler or IRET


EXCEPTION_NAMES = {0: "#DE", 2: "NMI", 6: "#UD", 8: "#DF", 13: "#GP", 14: "#PF"}
VEC_NMI = 2
VEC_GP = 13
MSR_TSC = 0x10
RUNNING = "running"
WAIT_FOR_SIPI = "wait-for-SIPI"


@dataclass(frozen=True, slots=True)
class Fault:
    """An architectural fault raised by an instruction (e.g. #GP from WRMSR)."""

    time: int
    vector: int
    name: str
    error_code: int
    rule: str
    message: str


class Cpu:
    """One logical processor with its Local APIC."""

    __slots__ = ("_accept_entry", "_dead", "_engine", "_entry_delay", "_lapic_access",
                 "_lapic_delivery", "_ledger", "_msr_access", "_nmi_delay", "_nmi_entry",
                 "_restore", "_tracer", "accepted", "apic_base", "busy_ns", "ctx", "faults",
                 "frames", "idt", "if_flag", "index", "lapic", "name", "nesting_allowed",
                 "nmi_blocked", "nmi_count", "nmi_latched", "on_startup", "platform",
                 "recorder", "smi_count", "startup_vector", "state", "sw_cost", "tsc_offset")

    def __init__(self, ctx: SimContext, index: int, lapic: LocalApic,
                 platform: Platform | None = None,
                 idt: list[Gate | None] | None = None) -> None:
        self.ctx = ctx
        self.index = index
        self.name = f"CPU{index}"
        self.lapic = lapic
        lapic.cpu = self
        self.platform = platform
        self.apic_base = lapic.base_address if lapic.hw_enabled else APIC_DEFAULT_BASE
        self.if_flag = True
        self.frames: list[Frame] = []
        self.idt: list[Gate | None] = idt if idt is not None else [None] * 256
        self.sw_cost = 0
        self.state = RUNNING
        self.startup_vector = -1
        self.on_startup: Callable[[Cpu], None] | None = None
        self.nmi_blocked = False
        self.nmi_latched = False
        self.nmi_count = 0
        self.smi_count = 0
        self.faults: list[Fault] = []
        self.tsc_offset = 0
        self._nmi_entry: int | None = None
        self._dead: set[Frame] = set()
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
        self._msr_access = t.lapic_msr_access
        self._nmi_delay = t.nmi_delivery

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
            meta = lapic.isr_meta.get(v)
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
        if self._dead and frame in self._dead:
            self._dead.discard(frame)
            return
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
        self.sw_cost = 0
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
        self.sw_cost = 0
        cost += self._restore
        self.busy_ns += cost
        self.if_flag = False
        # An NMI may still be taken before the IRET instruction (SDM 6.7.1): keep the IRET
        # cancellable so it runs after the NMI handler returns, last in first out.
        frame.exiting = True
        frame.end = self._engine.now + cost
        frame.done = self._engine.after(cost, self._iret, frame)

    def _iret(self, frame: Frame) -> None:
        frame.done = None
        if self._dead and frame in self._dead:
            self._dead.discard(frame)
            return
        frames = self.frames
        frames.pop()
        self.if_flag = frame.saved_if
        engine = self._engine
        if self._tracer.on:
            self._tracer.emit(engine.now, self.name, self.name, "iret", vector=frame.vector,
                              IF=int(self.if_flag))
        if frame.vector == VEC_NMI:
            self._nmi_iret()
        if frames:
            top = frames[-1]
            if top.remaining >= 0 and top.done is None:
                top.end = engine.now + top.remaining
                top.done = engine.after(top.remaining,
                                        self._iret if top.exiting else self._handler_done, top)
                top.remaining = -1
        if self.if_flag and self.lapic.deliverable() >= 0:
            self.intr()

    # -- NMI, SMI, INIT, start-up --------------------------------------------------
    def nmi(self) -> None:
        """The NMI input fires: taken regardless of IF and TPR, one latched while blocked."""
        ledger = self._ledger
        if self.state != RUNNING:
            ledger.drop("NMI to a CPU in wait-for-SIPI")
            return
        if not self.nmi_blocked:
            self.nmi_blocked = True
            ledger.in_flight += 1
            self._nmi_entry = self._engine.after(self._nmi_delay, self._nmi_enter)
        elif not self.nmi_latched:
            self.nmi_latched = True
            if self._tracer.on:
                self._tracer.emit(self._engine.now, self.lapic.name, self.name, "nmi-latched")
        else:
            ledger.drop("NMI while one is already latched")
            self.ctx.diag(self.name, "SDM 6.7.1 NMIs blocked until IRET; one more is latched",
                          "a third NMI while the handler runs is lost")

    def _nmi_enter(self, _: object) -> None:
        self._nmi_entry = None
        engine = self._engine
        now = engine.now
        frames = self.frames
        if frames and frames[-1].end == 0 and frames[-1].done is None \
                and frames[-1].remaining < 0:
            # An interrupt is being dispatched: the NMI is taken after its first instruction.
            self._nmi_entry = engine.after(self._entry_delay, self._nmi_enter)
            return
        self._ledger.in_flight -= 1
        self._ledger.delivered += 1
        self.nmi_count += 1
        if self._tracer.on:
            self._tracer.emit(now, self.lapic.name, self.name, "nmi", IF=int(self.if_flag))
        if frames:
            top = frames[-1]
            if top.done is not None:
                top.remaining = top.end - now
                engine.cancel(top.done)
                top.done = None
                if self._tracer.on:
                    self._tracer.emit(now, self.name, self.name, "preempted",
                                      vector=top.vector, by=VEC_NMI)
        frame = Frame(VEC_NMI, self.if_flag, False, now, None)
        frames.append(frame)
        self.if_flag = False
        self._enter(frame)

    def _nmi_iret(self) -> None:
        """IRET from the NMI handler unblocks NMIs; a latched one is delivered now."""
        self.nmi_blocked = False
        if self.nmi_latched:
            self.nmi_latched = False
            self._ledger.in_flight += 1
            self.nmi_blocked = True
            self._nmi_entry = self._engine.after(self._nmi_delay, self._nmi_enter)

    def smi(self) -> None:
        """An SMI reaches the core (SMM is not modelled: counted and traced)."""
        self.smi_count += 1
        if self._tracer.on:
            self._tracer.emit(self._engine.now, self.lapic.name, self.name, "smi")

    def init_signal(self) -> None:
        """INIT: the core stops whatever it ran and waits for a start-up IPI (SDM 8.4.4)."""
        engine = self._engine
        if self._accept_entry is not None:
            engine.cancel(self._accept_entry)
            self._accept_entry = None
        for f in self.frames:
            if f.done is not None:
                engine.cancel(f.done)
                f.done = None
            elif f.remaining < 0:
                self._dead.add(f)       # its _enter or _iret event is still queued
        self.frames.clear()
        if self._nmi_entry is not None:
            engine.cancel(self._nmi_entry)
            self._nmi_entry = None
            self._ledger.in_flight -= 1
            self._ledger.drop("INIT reset")
        if self.nmi_latched:
            self._ledger.drop("INIT reset")
        self.nmi_blocked = self.nmi_latched = False
        self.if_flag = False
        self.state = WAIT_FOR_SIPI
        self.lapic.init_reset()
        if self._tracer.on:
            self._tracer.emit(engine.now, self.lapic.name, self.name, "init",
                              state=WAIT_FOR_SIPI)

    def sipi(self, vector: int) -> None:
        """Start-up IPI: honoured only in wait-for-SIPI; execution starts at vector << 12."""
        tracer = self._tracer
        if self.state != WAIT_FOR_SIPI:
            if tracer.on:
                tracer.emit(self._engine.now, self.lapic.name, self.name, "sipi-ignored",
                            vector=vector)
            return
        self.state = RUNNING
        self.startup_vector = vector
        if tracer.on:
            tracer.emit(self._engine.now, self.lapic.name, self.name, "startup",
                        vector=vector, ip=vector << 12)
        if self.on_startup is not None:
            self.on_startup(self)

    @property
    def startup_ip(self) -> int:
        """Physical address the last start-up IPI sent this CPU to (-1: none)."""
        return self.startup_vector << 12 if self.startup_vector >= 0 else -1

    # -- faults ---------------------------------------------------------------------
    def fault(self, vector: int, rule: str, message: str, error_code: int = 0) -> Fault:
        """Raise an exception in the code running now: recorded, traced, sent to the IDT."""
        name = EXCEPTION_NAMES.get(vector, f"#{vector}")
        f = Fault(self._engine.now + self.sw_cost, vector, name, error_code, rule, message)
        self.faults.append(f)
        self.ctx.diag(self.name, rule, f"{name}: {message}")
        if self._tracer.on:
            self._tracer.emit(f.time, self.name, self.name, "fault", vector=vector, name=name,
                              rule=rule)
        gate = self.idt[vector]
        handler = getattr(gate, "exception", None)
        if handler is not None:
            self.sw_cost += handler(self, f)
        else:
            self.ctx.diag(self.name, "SDM 6.12 IDT gate not present",
                          f"{name} (vector {vector}) has no exception handler")
        return f

    # -- MSRs ---------------------------------------------------------------------------
    def rdtsc(self) -> int:
        """Time-stamp counter now (software time) at the timing model's tsc_khz."""
        raw = (self._engine.now + self.sw_cost) * self.ctx.timing.tsc_khz // 1_000_000
        return (raw + self.tsc_offset) & 0xFFFFFFFFFFFFFFFF     # a 64-bit counter

    def rdmsr(self, msr: int) -> int:
        """RDMSR: returns the value; an illegal read raises #GP and returns 0."""
        self.sw_cost += self._msr_access
        lapic = self.lapic
        if 0x800 <= msr <= 0x8FF:
            v = lapic.msr_read(msr)
            if v == GP:
                self.fault(VEC_GP, lapic.last_gp, f"RDMSR {msr:#x}")
                return 0
            return v
        if msr == MSR_APIC_BASE:
            return lapic.base_msr
        if msr == MSR_TSC_DEADLINE and lapic.tsc_deadline:
            return lapic.timer.deadline_read()
        if msr == MSR_TSC:
            return self.rdtsc()
        self.fault(VEC_GP, "SDM RDMSR: unimplemented MSR raises #GP", f"RDMSR {msr:#x}")
        return 0

    def wrmsr(self, msr: int, value: int) -> bool:
        """WRMSR: False when the write raised #GP (delivered to the IDT)."""
        self.sw_cost += self._msr_access
        lapic = self.lapic
        if 0x800 <= msr <= 0x8FF:
            if lapic.msr_write(msr, value):
                return True
            self.fault(VEC_GP, lapic.last_gp, f"WRMSR {msr:#x} <- {value:#x}")
            return False
        if msr == MSR_APIC_BASE:
            if lapic.set_base(value):
                self.apic_base = lapic.base_address
                return True
            self.fault(VEC_GP, lapic.last_gp, f"WRMSR IA32_APIC_BASE <- {value:#x}")
            return False
        if msr == MSR_TSC_DEADLINE and lapic.tsc_deadline:
            if value < 0 or value >> 64:
                self.fault(VEC_GP, "SDM WRMSR: value wider than 64 bits", f"{value:#x}")
                return False
            lapic.timer.deadline_write(value, self._engine.now + self.sw_cost)
            return True
        if msr == MSR_TSC:
            self.tsc_offset += value - self.rdtsc()
            # The TSC-deadline comparator watches the TSC: re-aim an armed deadline.
            if lapic.timer.deadline:
                lapic.timer.rearm(self._engine.now + self.sw_cost)
            return True
        self.fault(VEC_GP, "SDM WRMSR: unimplemented MSR raises #GP",
                   f"WRMSR {msr:#x} <- {value:#x}")
        return False

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
            self.sw_cost += self._lapic_access
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
