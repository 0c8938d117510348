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

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from irqsim.apic.lapic import GP, CpuPort, LocalApic
from irqsim.sim.accounting import Reason
from irqsim.sim.compiled import mypyc_attr
from irqsim.sim.context import SimContext
from irqsim.sim.engine import Callback, Fire
from irqsim.sim.rules import Rule, rule
from irqsim.sim.section import HARDIRQ, SOFTIRQ, TASK, NativeSection, Section
from irqsim.sim.trace import shape
from irqsim.spec.cpu import (
    APIC_DEFAULT_BASE,
    MSR_APIC_BASE,
    MSR_TSC,
    MSR_TSC_DEADLINE,
    X2APIC_MSR_BASE,
    X2APIC_MSR_LAST,
)

R_WAIT_FOR_SIPI = rule(
    "CPU-WAIT-FOR-SIPI", "SDM 8.4.1",
    "a CPU waiting for a start-up IPI runs no software")
R_IDT_NOT_PRESENT = rule(
    "CPU-IDT-NOT-PRESENT", "SDM 6.12",
    "a vector taken needs a present IDT gate")
R_NMI_LOST = rule(
    "CPU-NMI-LOST", "SDM 6.7.1",
    "NMIs are blocked until IRET and only one more is latched: a third is lost")
R_RDMSR_UNIMPLEMENTED = rule(
    "CPU-RDMSR-UNIMPLEMENTED", "SDM RDMSR",
    "RDMSR of an unimplemented MSR raises #GP")
R_WRMSR_UNIMPLEMENTED = rule(
    "CPU-WRMSR-UNIMPLEMENTED", "SDM WRMSR",
    "WRMSR of an unimplemented MSR raises #GP")

# Trace events of the hot path (irqsim.sim.trace: kind and field names, once).
_T_INTA: Final = shape("inta", "vector", "ppr")
_T_HANDLER_ENTRY: Final = shape("handler-entry", "vector")
_T_IRET: Final = shape("iret", "vector", "IF")

IDLE: Final = "idle"
# Busy polling (a task spinning on a queue instead of sleeping for its interrupt): a task
# section whose kind is POLL is counted here, apart from ``task`` (the one name of the
# context; sim/section.py's kinds plus this one are what /proc/stat-like splits show).
POLL: Final = "poll"
CONTEXTS = (HARDIRQ, SOFTIRQ, TASK, IDLE, POLL)

if TYPE_CHECKING:
    from irqsim.fabric.tlp import Tlp


@mypyc_attr(allow_interpreted_subclasses=True)
class Gate:
    """An IDT entry: the OS code that runs for a vector. Gates subclass it (the compiled CPU
    then calls a compiled gate's methods natively, issue 12).

    Both methods run inside the handler's software section on ``cpu``: each access they make
    happens at its own instant and is charged as it happens; they return only the extra
    computation cost (ns) to charge after their last access."""

    __slots__ = ()

    def enter(self, cpu: Cpu, vector: int, spurious: bool) -> int:
        """Run the handler body; return the computation cost left to charge (ns)."""
        raise NotImplementedError(f"{type(self).__name__} handles no interrupt vector")

    def exit(self, cpu: Cpu, vector: int, spurious: bool) -> int:
        """Run the epilogue (EOI); return the computation cost left to charge (ns)."""
        return 0


class ExceptionGate(Protocol):
    """An IDT entry for an exception vector: runs synchronously inside the faulting code."""

    def exception(self, cpu: Cpu, fault: Fault) -> int:
        """Handle ``fault``; return the handler's cost in ns."""
        ...


class GuestPort(Protocol):
    """A CPU in VMX non-root mode: what the LAPIC's INTR means there (SDM 25.2, 29.6)."""

    def intr(self) -> None:
        """The LAPIC asserts INTR while the CPU runs guest code."""
        ...


class Platform(Protocol):
    """Where the CPU's memory and I/O accesses go (the root complex)."""

    def cpu_read(self, addr: int, size: int) -> tuple[int, int]: ...

    def cpu_write(self, addr: int, size: int, value: int) -> int: ...

    def write_cost(self, addr: int) -> int: ...

    def io_read(self, port: int, size: int) -> tuple[int, int]: ...

    def io_write(self, port: int, size: int, value: int) -> int: ...

    def io_write_cost(self, port: int) -> int: ...


DISPATCH: Final = 0
BODY: Final = 1


class Frame(NativeSection):
    """One interrupt in service on this CPU: the stack frame the gate pushed, and the
    handler's software section (it starts at acceptance; dispatch is its first cost)."""

    __slots__ = ("core", "dispatch", "meta", "saved_if", "spurious", "state", "t_accept",
                 "vector")

    SELF_FINISHING = True       # Cpu._handler_done marks it finished (one call less)

    def __init__(self, cpu: Cpu, vector: int, saved_if: bool, spurious: bool, t_accept: int,
                 meta: Tlp | None) -> None:
        # Section's fields, set here directly (one call less on the hot path).
        self.cpu = cpu
        self.core = cpu                     # typed: run_body/run_done call it natively
        self.body = cpu._handler_fn
        self.arg = self
        self.kind = HARDIRQ
        self.start = self.clock = t_accept
        self.busy = 0
        self.on_done = cpu._handler_done_fn
        self.done_fire = cpu._done_f
        self.finished = self.preempted = self.blocked = self.ready = False
        self.stepping = self.abandoned = False
        self.handle = self.next = self.posted = self.p_fn = self.p_arg = None
        self.remaining = -1
        # glet, resumer and vseq are set before they are read (Software.launch,
        # Software._wait): a handler that never waits does not pay for them.
        self.vector = vector
        self.saved_if = saved_if
        self.spurious = spurious
        self.t_accept = t_accept
        self.meta = meta
        self.state = DISPATCH               # DISPATCH: entering the gate; BODY: handler runs
        self.dispatch = cpu._entry_delay     # acceptance, context save, handler dispatch

    def run_body(self) -> None:
        self.core._handler(self)

    def run_done(self) -> None:
        self.core._handler_done(self)


MEM_SIZES: Final = frozenset((1, 2, 4, 8))     # what a load/store instruction can access
IO_SIZES = frozenset((1, 2, 4))         # IN/OUT: byte, word, dword


def _stack() -> list[Any]:
    """An empty list that keeps a one-item buffer: CPython frees an empty list's buffer only
    when it holds more than twice what it needs, so the frame stack's 0 -> 1 -> 0 at every
    interrupt reuses it (an empty ``[]`` allocates and frees its buffer each time)."""
    s: list[Any] = [None]
    s.pop()
    return s


def _bad_size(what: str, size: object, allowed: frozenset[int]) -> ValueError:
    return ValueError(f"{what}: access size must be one of {sorted(allowed)} bytes, "
                      f"got {size!r}")


EXCEPTION_NAMES = {0: "#DE", 2: "NMI", 6: "#UD", 8: "#DF", 13: "#GP", 14: "#PF"}
VEC_NMI: Final = 2
VEC_GP: Final = 13
RUNNING: Final = "running"
WAIT_FOR_SIPI = "wait-for-SIPI"


@dataclass(frozen=True, slots=True)
class Fault:
    """An architectural fault raised by an instruction (e.g. #GP from WRMSR)."""

    time: int
    vector: int
    name: str
    error_code: int
    rule: str               # the specification citation
    message: str
    rule_id: str = ""       # the diagnostic rule's id (irqsim.sim.rules)


@mypyc_attr(allow_interpreted_subclasses=True)    # the guest front-end's GuestCpu
class Cpu(CpuPort):
    """One logical processor with its Local APIC.

    Software runs on it in sections (:mod:`irqsim.sim.section`): tasks (boot code, probes,
    a user's script) and interrupt handlers (hardirq). An access made by a section happens
    at the section's clock; an access made outside any section of this CPU (a debugger-like
    poke from a test or an event callback) happens at ``engine.now`` and takes no time.
    """

    __slots__ = ("_accept_entry", "_accept_f", "_accept_fn", "_ctx_ns", "_done_f", "_engine",
                 "_enter_f", "_enter_fn", "_entry_delay",
                 "_fold_intr", "_handler_done_fn", "_handler_fn", "_hardirq_ns", "_idle_ns",
                 "_lapic_access",
                 "_lapic_delivery", "_ledger", "_mark", "_mode",
                 "_msr_access", "_nmi_delay", "_nmi_due", "_nmi_entry", "_post_f", "_post_write",
                 "_restore",
                 "_sw", "_t_handler_entry", "_t_inta", "_t_iret", "_t_iret_if", "_tp_accept",
                 "_tp_entry", "_tracer", "accepted", "apic_base", "ctx",
                 "faults", "frames", "idt", "if_flag", "index", "irq_exit_hook", "lapic",
                 "name", "nesting_allowed", "nmi_blocked", "nmi_count", "nmi_latched",
                 "on_startup", "platform", "runq", "smi_count", "soft", "softirq_pending",
                 "startup_vector", "state", "task", "tsc_offset", "vcpu")

    def __init__(self, ctx: SimContext, index: int, lapic: LocalApic,
                 platform: Platform | None = None,
                 idt: list[Gate | None] | None = None) -> None:
        self.ctx = ctx
        self.index = index
        self.name = f"CPU{index}"
        self.lapic = lapic
        lapic.cpu = self
        # trace shapes bound to this CPU's endpoints (Tracer.put1 etc.)
        self._t_inta = _T_INTA.bind(lapic.name, self.name)
        self._t_handler_entry = _T_HANDLER_ENTRY.bind(self.name, "Driver")
        self._t_iret = _T_IRET.bind(self.name, self.name, 0)         # IF clear after IRET
        self._t_iret_if = _T_IRET.bind(self.name, self.name, 1)      # IF set
        self.platform = platform
        self.apic_base = lapic.base_address if lapic.hw_enabled else APIC_DEFAULT_BASE
        self.if_flag: bool = True
        self.frames: list[Frame] = _stack()
        # VMX non-root mode: the running vCPU's hardware side (irqsim.virt.vmx) while this
        # CPU executes guest code (the LAPIC's INTR is wired to it meanwhile: ``lapic.cpu``);
        # None in root mode (the only mode without virtualization).
        self.vcpu: GuestPort | None = None
        self.idt: list[Gate | None] = idt if idt is not None else [None] * 256
        self.task: Section | None = None            # the task section on this CPU
        self.runq: deque[Section] = deque()          # tasks waiting for the CPU
        # Softirq context (os/softirq.py): the OS sets ``softirq_pending`` when it raises a
        # softirq and installs ``irq_exit_hook``, which the last IRET calls (irq_exit ->
        # invoke_softirq) to start ``soft``, a SOFTIRQ section that runs before the
        # interrupted task resumes and that interrupts preempt (IF=1).
        self.soft: Section | None = None
        self.softirq_pending = False
        self.irq_exit_hook: Callable[[Cpu], None] | None = None
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
        self._nmi_due = 0
        self.accepted = 0
        self.nesting_allowed = False
        self._accept_entry: int | None = None
        self._engine = ctx.engine
        self._sw = ctx.sw
        self._tracer = ctx.tracer
        self._ledger = ctx.ledger
        self._ctx_ns = dict.fromkeys(CONTEXTS, 0)
        # Added to _ctx_ns[HARDIRQ] / [IDLE] (cpu_time): the interrupt path's own tallies, in
        # native ints (compiled) instead of a boxed int made per interrupt in the dict.
        self._hardirq_ns = 0
        self._idle_ns = 0
        self._mode = IDLE
        self._mark = ctx.engine.now
        self._tp_accept = ctx.points.accept
        self._tp_entry = ctx.points.handler_entry
        t = ctx.timing
        self._entry_delay = t.cpu_acceptance + t.context_save + t.handler_dispatch
        self._restore = t.context_restore
        self._lapic_delivery = t.lapic_delivery
        self._lapic_access = t.lapic_mmio_access
        self._msr_access = t.lapic_msr_access
        self._nmi_delay = t.nmi_delivery
        self._handler_fn = self._handler            # bound once: every Frame runs it
        # The engine's callbacks of the interrupt path, made once: Fire objects where the
        # engine calls them natively (the compiled build), else bound methods.
        self._post_write: Callback       # posted on every EOI
        self._handler_done_fn: Callback  # every Frame's IRET
        self._accept_fn: Callback        # every INTR schedules it
        self._enter_fn: Callback         # a busy CPU's dispatch
        # The same Fire objects, typed (None where they are bound methods): scheduled with
        # push_fire/at_fire, the compiled engine tests no type.
        self._post_f: Fire | None = None
        self._done_f: Fire | None = None
        self._accept_f: Fire | None = None
        self._enter_f: Fire | None = None
        if self._engine.fires:
            self._post_f = self._post_write = _PostedWrite(self)
            self._done_f = self._handler_done_fn = _HandlerDone(self)
            self._accept_f = self._accept_fn = _Accept(self)
            self._enter_f = self._enter_fn = _Enter(self)
        else:
            self._post_write = self._posted_write
            self._handler_done_fn = self._handler_done
            self._accept_fn = self._accept
            self._enter_fn = self._enter
        # intr_last may run the acceptance at once (Engine.ahead) only where intr and the IRET
        # are this class's: a subclass's own INTR path (C-state exit, a guest executor) or
        # work after its IRET would be skipped or reordered.
        cls = type(self)
        self._fold_intr = cls.intr is Cpu.intr and cls._handler_done is Cpu._handler_done

    # -- CPU time per context (/proc/stat, mpstat) ------------------------------------
    def _tally(self) -> None:
        """Close the current context's interval at ``now`` and enter the one now due."""
        now = self._engine.now
        self._ctx_ns[self._mode] += now - self._mark
        self._mark = now
        self._mode = (HARDIRQ if self.frames else SOFTIRQ if self.soft is not None
                      else self.task.kind if self.task is not None else IDLE)

    def cpu_time(self) -> dict[str, int]:
        """Simulated ns spent so far in hardirq, softirq, task, idle and poll context (they
        add up to the simulated time)."""
        out = dict(self._ctx_ns)
        out[HARDIRQ] += self._hardirq_ns
        out[IDLE] += self._idle_ns
        out[self._mode] += self._engine.now - self._mark
        return out

    def set_task_kind(self, kind: str) -> None:
        """The running task enters another accounting context from now (a reader that
        starts busy polling counts as POLL until it goes back to TASK)."""
        task = self.task
        if task is not None and task.kind != kind:
            task.kind = kind
            self._tally()

    @property
    def busy_ns(self) -> int:
        """Simulated ns this CPU was not idle."""
        t = self.cpu_time()
        return t[HARDIRQ] + t[SOFTIRQ] + t[TASK] + t[POLL]

    # -- software sections ------------------------------------------------------------
    @property
    def section(self) -> Section | None:
        """The section of this CPU whose code runs now (None outside one)."""
        cur = self._sw.current
        return cur if cur is not None and cur.cpu is self else None

    @property
    def clock(self) -> int:
        """The instant software on this CPU has reached (``engine.now`` outside a section)."""
        cur = self._sw.current
        if cur is not None and cur.cpu is self:
            return cur.clock
        return self._engine.now

    def spend(self, ns: int) -> None:
        """Charge ``ns`` of pure computation to the section running on this CPU."""
        cur = self._sw.current
        if cur is not None and cur.cpu is self:
            cur.clock += ns
            cur.busy += ns

    def _sync(self) -> Section | None:
        """Bring the engine to this CPU's software clock before an access (the fast path
        of :meth:`Software.sync`, inlined); returns the running section, if any."""
        cur = self._sw.current
        me = self       # compared instead of self: ``is`` with the Any ``cur.cpu`` would make
        if cur is None or cur.cpu is not me:    # mypy (and mypyc) take self as Any below
            return None
        t = cur.clock
        engine = self._engine
        if t > engine.now:
            if engine.free_until(t):
                engine.now = t
            else:
                self._sw._wait(cur, t)
        return cur

    def run(self, body: Callable[[Any], Any], arg: Any = None, kind: str = TASK,
            then: Callable[[Section], None] | None = None) -> Section:
        """Run ``body(arg)`` as software on this CPU.

        Inside a section of this CPU it runs inline (same clock). Otherwise it becomes a
        task section (its time counted as ``kind``: a kernel thread such as ksoftirqd
        counts as softirq, a busy-polling task as POLL): started now if the CPU is free, else
        queued until it is. Called from outside any event (a script), it returns when the
        section has ended. ``then`` runs at the task's last instant, after the CPU has let it
        go (inline: not called)."""
        cur = self._sw.current
        if cur is not None and cur.cpu is self:
            body(arg)
            return cur
        done: Callable[[Section], None] = self._task_done
        if then is not None:
            def done(s: Section, _then: Callable[[Section], None] = then) -> None:
                self._task_done(s)
                _then(s)
        sec = Section(self, body, kind, self._engine.now, done, arg)
        if self.state != RUNNING:
            # In wait-for-SIPI the core fetches nothing (SDM 8.4.1): the software never runs.
            sec.abandoned = True
            self.ctx.diag(self.name, R_WAIT_FOR_SIPI,
                          "software started on a CPU waiting for a start-up IPI never runs")
            return sec
        if self.task is None and not self.frames and self.soft is None:
            self._task_start(sec)
        else:
            self.runq.append(sec)
        if self._engine.running == 0 and cur is None:
            self._sw.finish_from_top(sec)
        return sec

    def _task_start(self, sec: Section) -> None:
        sec.start = sec.clock = self._engine.now
        self.task = sec
        self._tally()
        self._sw.launch(sec)

    def _task_done(self, sec: Section) -> None:
        self.task = None
        self._tally()
        if self.runq and not self.frames and self.soft is None:
            self._engine.after(0, self._task_next)

    def _task_next(self, _: object) -> None:
        if self.task is None and not self.frames and self.soft is None and self.runq:
            self._task_start(self.runq.popleft())

    # -- softirq context -------------------------------------------------------------
    def start_soft(self, body: Callable[[Any], Any], on_done: Callable[[Section], None],
                   arg: Any = None) -> Section:
        """Start a SOFTIRQ section now (the OS's do_softirq): it runs before the task it
        finds on the CPU (that task stays preempted until it ends); interrupts preempt it.
        Its launch is an event at ``now``, held like a wake-up if an interrupt comes
        first. ``body`` gets ``arg``, or the section itself when ``arg`` is None. The CPU
        must not be in an interrupt handler nor already in softirq."""
        assert self.soft is None and not self.frames
        now = self._engine.now
        task = self.task
        if task is not None and not task.preempted:
            self._sw.preempt(task)
        sec = Section(self, body, SOFTIRQ, now, on_done, arg)
        if arg is None:
            sec.arg = sec                   # the body gets its own section
        self.soft = sec
        self._tally()
        sec.next = self._soft_launch
        sec.handle = self._engine.at(now, self._soft_launch, sec)
        return sec

    def _soft_launch(self, sec: Section) -> None:
        sec.handle = sec.next = None
        sec.start = sec.clock = self._engine.now
        self._sw.launch(sec)

    def soft_done(self) -> None:
        """The SOFTIRQ section has ended (called from its ``on_done``): the interrupted
        task resumes, or the next queued one starts."""
        self.soft = None
        self._tally()
        task = self.task
        if task is not None:
            if task.preempted:
                self._sw.unpreempt(task)
        elif self.runq and not self.frames:
            self._engine.after(0, self._task_next)

    def _preempt_top(self, now: int, by: int) -> None:
        """An interrupt or NMI takes the CPU: the software running until now stops."""
        frames = self.frames
        if frames:
            top = frames[-1]
            if top.finished:
                return
            sec: Section = top
            vector = top.vector
        elif self.soft is not None:
            sec = self.soft
            vector = -1
        elif self.task is not None:
            sec = self.task
            vector = -1
        else:
            return
        self._sw.preempt(sec)
        if self._tracer.on:
            self._tracer.emit(now, self.name, self.name, "preempted", vector=vector, by=by)

    def _resume_top(self) -> None:
        """After an IRET: the software that was interrupted continues."""
        frames = self.frames
        if frames:
            top = frames[-1]
            if top.preempted:
                self._sw.unpreempt(top)
        elif self.soft is not None:
            if self.soft.preempted:
                self._sw.unpreempt(self.soft)
        elif self.task is not None:
            if self.task.preempted:
                self._sw.unpreempt(self.task)
        elif self.runq:
            self._engine.after(0, self._task_next)

    # -- INTR / acceptance -------------------------------------------------
    def intr_enabled(self) -> bool:
        """EFLAGS.IF: the core takes INTR at its next instruction boundary."""
        return self.if_flag

    def intr(self) -> None:
        """The LAPIC asserts INTR; the core samples it at the next instruction boundary (in
        VMX non-root mode the LAPIC's INTR goes to the running vCPU instead, which decides:
        posted-interrupt processing or a VM exit; see ``vcpu``)."""
        if self.if_flag and self._accept_entry is None:
            self._accept_entry = self._engine.after(self._lapic_delivery, self._accept_fn)

    def intr_last(self) -> None:
        """:meth:`intr` as the very last step of an event callback (the APIC bus's delivery
        event, the IRET): when the acceptance would be the engine's next entry anyway (and
        tracing is off), it runs at once, at its instant (Engine.ahead)."""
        if not self._fold_intr:
            self.intr()
            return
        if self.if_flag and self._accept_entry is None:
            engine = self._engine
            t = engine.now + self._lapic_delivery
            # Not from inside a section (an IRET called by a greenlet section's own end,
            # Software._ended): the acceptance would launch its handler from there.
            if self._sw.current is None and engine.fold_at(t):
                self._accept(None)
            else:
                f = self._accept_f
                self._accept_entry = (engine.push_fire(t, f, None) if f is not None
                                      else engine.push(t, self._accept_fn, None))

    def _accept(self, _: object) -> None:
        self._accept_entry = None
        if not self.if_flag:
            return
        engine = self._engine
        now = engine.now
        if self._nmi_entry is not None and self._nmi_due <= now:
            # An NMI pending at the same boundary is taken first (SDM 6.9); INTR is sampled
            # again when its handler returns.
            return
        lapic = self.lapic
        v = lapic.inta()
        tracer = self._tracer
        spurious = v > 0xFF
        if spurious:
            if v > 0x1FF:
                self._accept_extint(v & 0xFF, now)     # the vector came from the 8259
                return
            v &= 0xFF
            if tracer.on:
                tracer.emit(now, lapic.name, self.name, "spurious", vector=v)
            meta = None
        else:
            self.accepted += 1
            meta = lapic.isr_meta[v]
            iid = meta.iid if meta is not None else 0
            self._ledger.deliver(iid, self.name)
            tp = self._tp_accept
            if tp.on and iid:
                tp(iid, self.index, now)
            if tracer.on:
                tracer.put2(self._t_inta, now, v, lapic.ppr)
        frames = self.frames
        if frames or self.task is not None or self.soft is not None:
            self._preempt_top(now, v)
        frame = Frame(self, v, self.if_flag, spurious, now, meta)
        frames.append(frame)
        self.if_flag = False
        if self._mode == IDLE:                              # _tally(), inlined
            self._idle_ns += now - self._mark
        else:
            self._ctx_ns[self._mode] += now - self._mark
        self._mark = now
        self._mode = HARDIRQ
        t = now + frame.dispatch
        if engine.free_until(t):
            self._sw.launch(frame)          # nothing happens during dispatch
        else:
            # The section would wait for its first instant: start it then instead (the same
            # order; no section is left waiting through the dispatch).
            self._enter_at(t, frame)

    def _enter_at(self, t: int, frame: Frame) -> None:
        """Enter ``frame``'s handler at ``t`` (an entry: something is due before)."""
        frame.next = self._enter_fn
        f = self._enter_f
        frame.handle = (self._engine.at_fire(t, f, frame) if f is not None
                        else self._engine.at(t, self._enter_fn, frame))

    def _accept_extint(self, v: int, now: int) -> None:
        """An ExtINT acceptance: the INTA cycles went to the 8259, which answered vector
        ``v`` (SDM 10.5.1 ExtINT: no IRR, ISR or EOI at the Local APIC). The cycles cost
        ``pic_inta`` before the dispatch; a spurious IRQ 7/15 carries no interrupt."""
        lapic = self.lapic
        iid = lapic.extint_iid
        meta = lapic.extint_meta
        self.accepted += 1
        if iid:
            self._ledger.deliver(iid, self.name)
            tp_irr = self.ctx.points.irr_set
            if tp_irr.on:
                tp_irr(iid, now)
            tp = self._tp_accept
            if tp.on:
                tp(iid, self.index, now)
        if self._tracer.on:
            self._tracer.emit2(_T_INTA, now, "8259", self.name, v, lapic.ppr)
        if self.frames or self.task is not None or self.soft is not None:
            self._preempt_top(now, v)
        frame = Frame(self, v, self.if_flag, False, now, meta)
        frame.dispatch += self.ctx.timing.pic_inta
        self.frames.append(frame)
        self.if_flag = False
        self._tally()
        t = now + frame.dispatch
        if self._engine.free_until(t):
            self._sw.launch(frame)
        else:
            self._enter_at(t, frame)

    def dispatch_acked(self, vector: int, meta: Tlp | None) -> Callable[[], None]:
        """The host handler of ``vector``, already acknowledged at the LAPIC by a VM exit
        with "acknowledge interrupt on exit" (SDM 27.2.2; KVM's
        handle_external_interrupt_irqoff calls the IDT entry): its frame is pushed now (the
        CPU is in hardirq from here); the returned function starts it and must be the last
        thing the calling event does (its tail may then run at once: Engine.ahead)."""
        engine = self._engine
        now = engine.now
        if self.frames or self.task is not None:
            self._preempt_top(now, vector)
        self.accepted += 1
        frame = Frame(self, vector, self.if_flag, False, now, meta)
        self.frames.append(frame)
        self.if_flag = False
        self._tally()

        def go() -> None:
            t = now + frame.dispatch
            if engine.free_until(t):
                self._sw.launch(frame)
            else:
                self._enter_at(t, frame)
        return go

    def _enter(self, frame: Frame) -> None:
        frame.handle = frame.next = None
        self._sw.launch(frame)

    def _handler(self, frame: Frame) -> None:
        """The handler's section: dispatch through the gate (acceptance, context save,
        handler dispatch), the gate's body, its epilogue (EOI) and context restore."""
        t = frame.clock = frame.clock + frame.dispatch
        frame.busy += frame.dispatch
        engine = self._engine
        if t > engine.now:
            # _accept starts the section at acceptance only when nothing is due before its
            # first instant (else at that instant, from _enter): the clock moves there.
            engine.now = t
        frame.state = BODY
        now = engine.now
        tp = self._tp_entry
        if tp.on:
            meta = frame.meta
            tp(meta.iid if meta is not None else 0, self.index, now, frame.vector)
        if self._tracer.on:
            self._tracer.put1(self._t_handler_entry, now, frame.vector)
        if self.nesting_allowed:
            self.if_flag = True
            if self.lapic.deliverable() >= 0:
                self.intr()
        sec = frame
        gate = self.idt[frame.vector]
        if gate is not None:
            cost = gate.enter(self, frame.vector, frame.spurious)
        else:
            cost = 0
            self.ctx.diag(self.name, R_IDT_NOT_PRESENT,
                          f"vector {frame.vector:#x} has no IDT entry (#NP)")
        sec.clock += cost
        sec.busy += cost
        if self.nesting_allowed:
            self._sw.sync(sec)      # the body's last instant: IF is cleared for the epilogue
            self.if_flag = False
        cost = gate.exit(self, frame.vector, frame.spurious) if gate is not None else 0
        cost += self._restore
        sec.clock += cost
        sec.busy += cost

    def _handler_done(self, frame: Frame) -> None:
        """The handler's last instant: IRET."""
        frame.finished = True               # (its handle and posted writes are spent)
        frame.arg = None                    # its body ran: no self-cycle left for the GC
        frames = self.frames
        if not frames or frames[-1] is not frame:
            return                          # INIT cleared the stack meanwhile
        frames.pop()
        self.if_flag = frame.saved_if
        now = self._engine.now
        if self._tracer.on:
            self._tracer.put1(self._t_iret_if if self.if_flag else self._t_iret, now,
                              frame.vector)
        self._hardirq_ns += now - self._mark                # _tally(), inlined
        self._mark = now
        if frames:
            top = frames[-1]
            if top.preempted:
                self._sw.unpreempt(top)
        elif self.soft is not None:
            self._mode = SOFTIRQ
            if self.soft.preempted:
                self._sw.unpreempt(self.soft)
        elif self.softirq_pending and self.irq_exit_hook is not None:
            self.irq_exit_hook(self)                # irq_exit -> invoke_softirq
        else:
            task = self.task
            if task is None:
                self._mode = IDLE
                if self.runq:
                    self._engine.after(0, self._task_next)
            else:
                self._mode = task.kind
                if task.preempted:
                    self._sw.unpreempt(task)
        if frame.vector == VEC_NMI and not frame.spurious:
            self._nmi_iret()
        if self.if_flag:
            lapic = self.lapic
            if (lapic.irr and lapic.deliverable() >= 0) or lapic.extint:
                self.intr_last()            # the IRET's last step (a Frame's tail event)

    # -- NMI, SMI, INIT, start-up --------------------------------------------------
    def nmi(self) -> None:
        """The NMI input fires: taken regardless of IF and TPR, one latched while blocked."""
        ledger = self._ledger
        if self.state != RUNNING:
            ledger.drop(Reason.NMI_WAIT_SIPI, 0, self.name)
            return
        if not self.nmi_blocked:
            self.nmi_blocked = True
            ledger.launch(0, self.name)
            self._nmi_due = self._engine.now + self._nmi_delay
            self._nmi_entry = self._engine.after(self._nmi_delay, self._nmi_enter)
        elif not self.nmi_latched:
            self.nmi_latched = True
            if self._tracer.on:
                self._tracer.emit(self._engine.now, self.lapic.name, self.name, "nmi-latched")
        else:
            ledger.drop(Reason.NMI_LATCHED, 0, self.name)
            self.ctx.diag(self.name, R_NMI_LOST,
                          "a third NMI while the handler runs is lost")

    def _nmi_enter(self, _: object) -> None:
        self._nmi_entry = None
        engine = self._engine
        now = engine.now
        frames = self.frames
        if frames and frames[-1].state == DISPATCH \
                and frames[-1].t_accept + frames[-1].dispatch > now:
            # An interrupt is being dispatched: the NMI is taken at the next boundary, after
            # the handler's first instruction (SDM 6.9).
            top = frames[-1]
            self._nmi_due = max(now, top.t_accept + top.dispatch)
            self._nmi_entry = engine.at(self._nmi_due, self._nmi_enter)
            return
        self._ledger.land(0, self.name)
        self._ledger.deliver(0, self.name)
        self.nmi_count += 1
        if self._tracer.on:
            self._tracer.emit(now, self.lapic.name, self.name, "nmi", IF=int(self.if_flag))
        self._preempt_top(now, VEC_NMI)
        frame = Frame(self, VEC_NMI, self.if_flag, False, now, None)
        frame.dispatch = 0                  # an NMI's delivery cost is in nmi_delivery
        frames.append(frame)
        self.if_flag = False
        self._tally()
        self._sw.launch(frame)

    def _nmi_iret(self) -> None:
        """IRET from the NMI handler unblocks NMIs; a latched one is delivered now."""
        self.nmi_blocked = False
        if self.nmi_latched:
            self.nmi_latched = False
            self._ledger.launch(0, self.name)
            self.nmi_blocked = True
            self._nmi_due = self._engine.now + self._nmi_delay
            self._nmi_entry = self._engine.after(self._nmi_delay, self._nmi_enter)

    def smi(self) -> None:
        """An SMI reaches the core (SMM is not modelled: counted and traced)."""
        self.smi_count += 1
        if self._tracer.on:
            self._tracer.emit(self._engine.now, self.lapic.name, self.name, "smi")

    def init_signal(self) -> None:
        """INIT: the core stops whatever it ran and waits for a start-up IPI (SDM 8.4.4)."""
        engine = self._engine
        sw = self._sw
        if self._accept_entry is not None:
            engine.cancel(self._accept_entry)
            self._accept_entry = None
        for f in self.frames:
            if not f.finished:
                sw.abandon(f)               # it never runs again
        self.frames.clear()
        if self.soft is not None:
            sw.abandon(self.soft)
            self.soft = None
        self.softirq_pending = False
        if self.task is not None:
            sw.abandon(self.task)
            self.task = None
        for queued in self.runq:
            sw.abandon(queued)
        self.runq.clear()
        if self._nmi_entry is not None:
            engine.cancel(self._nmi_entry)
            self._nmi_entry = None
            self._ledger.drop(Reason.INIT_RESET, 0, self.name, flying=True)
        if self.nmi_latched:
            self._ledger.drop(Reason.INIT_RESET, 0, self.name)
        self.nmi_blocked = self.nmi_latched = False
        self.if_flag = False
        self.state = WAIT_FOR_SIPI
        self._tally()
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
    def fault(self, vector: int, rule: Rule, message: str, error_code: int = 0) -> Fault:
        """Raise an exception in the code running now: recorded, traced, sent to the IDT."""
        name = EXCEPTION_NAMES.get(vector, f"#{vector}")
        f = Fault(self.clock, vector, name, error_code, rule.spec, message, rule.id)
        self.faults.append(f)
        self.ctx.diag(self.name, rule, f"{name}: {message}")
        if self._tracer.on:
            self._tracer.emit(f.time, self.name, self.name, "fault", vector=vector, name=name,
                              rule=rule.spec, rule_id=rule.id)
        gate = self.idt[vector]
        handler = getattr(gate, "exception", None)
        if handler is not None:
            self.spend(handler(self, f))
        else:
            self.ctx.diag(self.name, R_IDT_NOT_PRESENT,
                          f"{name} (vector {vector}) has no exception handler")
        return f

    # -- MSRs ---------------------------------------------------------------------------
    def rdtsc(self) -> int:
        """Time-stamp counter at this CPU's software clock, at the timing model's tsc_khz."""
        raw = self.clock * self.ctx.timing.tsc_khz // 1_000_000
        return (raw + self.tsc_offset) & 0xFFFFFFFFFFFFFFFF     # a 64-bit counter

    def rdmsr(self, msr: int) -> int:
        """RDMSR: returns the value; an illegal read raises #GP and returns 0."""
        self._sync()
        self.spend(self._msr_access)
        lapic = self.lapic
        if X2APIC_MSR_BASE <= msr <= X2APIC_MSR_LAST:
            v = lapic.msr_read(msr)
            if v == GP:
                self.fault(VEC_GP, _gp_rule(lapic), f"RDMSR {msr:#x}")
                return 0
            return v
        if msr == MSR_APIC_BASE:
            return lapic.base_msr
        if msr == MSR_TSC_DEADLINE and lapic.tsc_deadline:
            return lapic.timer.deadline_read()
        if msr == MSR_TSC:
            return self.rdtsc()
        self.fault(VEC_GP, R_RDMSR_UNIMPLEMENTED, f"RDMSR {msr:#x}")
        return 0

    def wrmsr(self, msr: int, value: int) -> bool:
        """WRMSR: False when the write raised #GP (delivered to the IDT). ``value`` is
        EDX:EAX: outside 0..2^64-1 it is the caller's error (ValueError), not a guest
        access."""
        if not 0 <= value < 1 << 64:
            raise ValueError(f"WRMSR {msr:#x}: value {value:#x} is not a 64-bit EDX:EAX")
        self._sync()
        lapic = self.lapic
        now = self._engine.now
        try:
            if X2APIC_MSR_BASE <= msr <= X2APIC_MSR_LAST:
                if lapic.msr_write(msr, value):
                    return True
                self.fault(VEC_GP, _gp_rule(lapic), f"WRMSR {msr:#x} <- {value:#x}")
                return False
            if msr == MSR_APIC_BASE:
                if lapic.set_base(value):
                    self.apic_base = lapic.base_address
                    return True
                self.fault(VEC_GP, _gp_rule(lapic), f"WRMSR IA32_APIC_BASE <- {value:#x}")
                return False
            if msr == MSR_TSC_DEADLINE and lapic.tsc_deadline:
                lapic.timer.deadline_write(value, now)
                return True
            if msr == MSR_TSC:
                self.tsc_offset += value - self.rdtsc()
                # The TSC-deadline comparator watches the TSC: re-aim an armed deadline.
                if lapic.timer.deadline:
                    lapic.timer.rearm(now)
                return True
            self.fault(VEC_GP, R_WRMSR_UNIMPLEMENTED,
                       f"WRMSR {msr:#x} <- {value:#x}")
            return False
        finally:
            self.spend(self._msr_access)

    # -- instructions software runs -------------------------------------------
    def cli(self) -> None:
        """CLI: clear RFLAGS.IF."""
        self._sync()
        self.if_flag = False
        if self._tracer.on:
            self._tracer.emit(self._engine.now, self.name, self.name, "cli")

    def sti(self) -> None:
        """STI: set RFLAGS.IF; a pending deliverable interrupt is then taken."""
        self._sync()
        self.if_flag = True
        if self._tracer.on:
            self._tracer.emit(self._engine.now, self.name, self.name, "sti")
        if self.lapic.deliverable() >= 0 or self.lapic.extint:
            self.intr()

    @property
    def cr8(self) -> int:
        """CR8 aliases TPR[7:4] (SDM 10.8.6.1)."""
        return self.lapic.tpr >> 4

    @cr8.setter
    def cr8(self, value: int) -> None:
        self._sync()
        self.lapic.tpr = (value & 0xF) << 4
        self.lapic._priority_changed()

    @property
    def in_service(self) -> list[int]:
        return [f.vector for f in self.frames]

    # -- memory and I/O accesses (each at the software's instant, then charged) --------
    def read(self, addr: int, size: int = 4) -> int:
        """Memory read by software on this CPU (``size`` 1, 2, 4 or 8 bytes)."""
        if size not in MEM_SIZES:
            raise _bad_size("memory read", size, MEM_SIZES)
        cur = self._sync()
        value, cost = self.route_read(addr, size)
        if cur is not None:
            cur.clock += cost
            cur.busy += cost
        return value

    def route_read(self, addr: int, size: int) -> tuple[int, int]:
        """A load as the core routes it, at the current instant: the LAPIC page at the
        APIC base (SDM 10.4.1), else the platform. (value, cost in ns); no clock moves."""
        if (addr & ~0xFFF) == self.apic_base:
            return self.lapic.mmio_read(addr & 0xFFF, size), self._lapic_access
        assert self.platform is not None
        return self.platform.cpu_read(addr, size)

    def route_write(self, addr: int, size: int, value: int) -> int:
        """A store routed as :meth:`route_read`; its cost in ns."""
        if (addr & ~0xFFF) == self.apic_base:
            self.lapic.mmio_write(addr & 0xFFF, size, value)
            return self._lapic_access
        assert self.platform is not None
        return self.platform.cpu_write(addr, size, value)

    @property
    def msr_access_ns(self) -> int:
        """What an APIC MSR access costs (TimingModel.lapic_msr_access)."""
        return self._msr_access

    @property
    def lapic_access_ns(self) -> int:
        """What a LAPIC MMIO access costs (TimingModel.lapic_mmio_access)."""
        return self._lapic_access

    def write(self, addr: int, size: int, value: int) -> None:
        """Memory write by software on this CPU (``size`` 1, 2, 4 or 8 bytes; posted: see
        :mod:`irqsim.sim.section`)."""
        if size != 4 and size not in MEM_SIZES:      # (4 first: no set lookup for a dword)
            raise _bad_size("memory write", size, MEM_SIZES)
        cur = self._sw.current
        me = self               # not ``is self``: that would make self Any below (see _sync)
        if cur is not None and cur.cpu is me:
            t = cur.clock
            engine = self._engine
            if t > engine.now:
                if not engine.free_until(t):
                    if (addr & ~0xFFF) == self.apic_base:
                        cost = self._lapic_access
                    else:
                        assert self.platform is not None
                        cost = self.platform.write_cost(addr)
                    f = self._post_f
                    if f is not None:
                        self._sw.post_fire(cur, f, (addr, size, value))
                    else:
                        self._sw.post(cur, self._post_write, (addr, size, value))
                    cur.clock = t + cost
                    cur.busy += cost
                    return
                engine.now = t
        else:
            cur = None
        cost = self.route_write(addr, size, value)
        if cur is not None:
            cur.clock += cost
            cur.busy += cost

    def locked(self, addr: int, size: int, op: Callable[[int], int]) -> int:
        """A LOCK-prefixed read-modify-write of memory (LOCK OR/BTS/CMPXCHG, XCHG): read and
        write at one instant, nothing in between; ``op(old)`` gives the new value. Returns the
        old value; costs a read and a write."""
        if size not in MEM_SIZES:
            raise _bad_size("locked access", size, MEM_SIZES)
        cur = self._sync()
        assert self.platform is not None
        old, cost = self.platform.cpu_read(addr, size)
        cost += self.platform.cpu_write(addr, size, op(old) & ((1 << (8 * size)) - 1))
        if cur is not None:
            cur.clock += cost
            cur.busy += cost
        return old

    def _posted_write(self, arg: tuple[int, int, int]) -> None:
        addr, size, value = arg
        if (addr & ~0xFFF) == self.apic_base:
            self.lapic.mmio_write(addr & 0xFFF, size, value)
        else:
            assert self.platform is not None
            self.platform.cpu_write(addr, size, value)

    def inl(self, port: int, size: int = 4) -> int:
        """Port I/O read (IN; ``size`` 1, 2 or 4 bytes)."""
        if size not in IO_SIZES:
            raise _bad_size("port read", size, IO_SIZES)
        cur = self._sync()
        assert self.platform is not None
        value, cost = self.platform.io_read(port, size)
        if cur is not None:
            cur.clock += cost
            cur.busy += cost
        return value

    def outl(self, port: int, value: int, size: int = 4) -> None:
        """Port I/O write (OUT; ``size`` 1, 2 or 4 bytes), posted like a memory write."""
        if size not in IO_SIZES:
            raise _bad_size("port write", size, IO_SIZES)
        cur = self._sw.current
        assert self.platform is not None
        me = self               # not ``is self``: that would make self Any below (see _sync)
        if cur is not None and cur.cpu is me:
            t = cur.clock
            engine = self._engine
            if t > engine.now:
                if not engine.free_until(t):
                    cost = self.platform.io_write_cost(port)
                    self._sw.post(cur, self._posted_out, (port, size, value))
                    cur.clock = t + cost
                    cur.busy += cost
                    return
                engine.now = t
        else:
            cur = None
        cost = self.platform.io_write(port, size, value)
        if cur is not None:
            cur.clock += cost
            cur.busy += cost

    def _posted_out(self, arg: tuple[int, int, int]) -> None:
        port, size, value = arg
        assert self.platform is not None
        self.platform.io_write(port, size, value)


class _Accept(Fire):
    """``Cpu._accept`` as a :class:`Fire` (called natively by the compiled engine)."""

    __slots__ = ("cpu",)

    def __init__(self, cpu: Cpu) -> None:
        self.cpu = cpu

    def fire(self, arg: Any) -> None:
        self.cpu._accept(arg)


class _Enter(Fire):
    """``Cpu._enter`` as a :class:`Fire`."""

    __slots__ = ("cpu",)

    def __init__(self, cpu: Cpu) -> None:
        self.cpu = cpu

    def fire(self, arg: Any) -> None:
        self.cpu._enter(arg)


class _HandlerDone(Fire):
    """``Cpu._handler_done`` (a handler's IRET) as a :class:`Fire`."""

    __slots__ = ("cpu",)

    def __init__(self, cpu: Cpu) -> None:
        self.cpu = cpu

    def fire(self, arg: Any) -> None:
        self.cpu._handler_done(arg)


class _PostedWrite(Fire):
    """``Cpu._posted_write`` (a posted write taking effect) as a :class:`Fire`."""

    __slots__ = ("cpu",)

    def __init__(self, cpu: Cpu) -> None:
        self.cpu = cpu

    def fire(self, arg: Any) -> None:
        self.cpu._posted_write(arg)


def _gp_rule(lapic: LocalApic) -> Rule:
    """The rule the Local APIC named for the #GP it just refused an MSR access with."""
    assert lapic.last_gp is not None
    return lapic.last_gp
