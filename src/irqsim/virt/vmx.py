"""A vCPU: its VMCS controls and what the CPU does while it runs in VMX non-root mode.

Hardware behaviour (Intel SDM vol. 3C):

* VM entry (26.2.1.1 control checks; 26.6.2 event injection from the VM-entry
  interruption-information field; 29.2.1 evaluation of pending virtual interrupts) and VM exit
  (27.2.2: with "acknowledge interrupt on exit" the LAPIC is acknowledged and the vector goes
  in the exit information).
* An external interrupt in non-root mode (25.2): the notification vector with "process posted
  interrupts" is processed without an exit (29.6: ack, clear ON, EOI, PIR -> VIRR, RVI);
  anything else is an external-interrupt VM exit.
* Virtual-interrupt delivery (29.2.2) when RVI[7:4] > VPPR[7:4], guest IF = 1 and
  interrupt-window exiting is 0; EOI virtualization (29.1.2) with the EOI-exit bitmap;
  interrupt-window exiting (25.2) when guest IF becomes 1.

The guest is modelled as far as interrupts need it: it runs (a busy loop, or HLT when idle
with ``halt_when_idle``), takes an interrupt through its IDT (IF = 0), runs its handler, writes
EOI to its local APIC and IRETs. Its progress stops while the CPU is in root mode.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from irqsim.apic.lapic import CpuPort
from irqsim.sim.rules import rule
from irqsim.spec.vmx import (
    ENTRY_INTR_VALID,
    EXIT_ACK_INTR,
    EXIT_APIC_ACCESS,
    EXIT_EOI_INDUCED,
    EXIT_EXTERNAL_INTERRUPT,
    EXIT_HLT,
    EXIT_INTERRUPT_WINDOW,
    EXIT_REASONS,
    PIN_EXT_INT_EXITING,
    PIN_POSTED,
    POSTED_INTR_VECTOR,
    PROC2_VID,
    PROC_HLT_EXITING,
    PROC_INTR_WINDOW,
)
from irqsim.virt.vapic import VirtualApic

if TYPE_CHECKING:
    from irqsim.cpu.cpu import Cpu
    from irqsim.virt.kvm import Kvm
    from irqsim.virt.pid import PostedDescriptor

R_ENTRY_CONTROLS = rule(
    "VMX-ENTRY-PI-CONTROLS", "SDM 26.2.1.1",
    "'process posted interrupts' needs external-interrupt exiting, acknowledge interrupt on "
    "exit and virtual-interrupt delivery; VM entry fails otherwise")
R_EXTINT_NOT_EXITING = rule(
    "VMX-EXTINT-NOT-EXITING", "SDM 25.2",
    "with external-interrupt exiting clear a host interrupt would go to the guest's IDT "
    "(not modelled): the interrupt stays pending in the LAPIC")

# vCPU states (KVM's view: the one running, loaded in root mode, scheduled out, halted).
GUEST, ROOT, PREEMPTED, BLOCKED, OFF = "guest", "root", "preempted", "blocked", "off"
# Exits that an interrupt on its way to the guest costs (exits per interrupt).
INTERRUPT_EXITS = (EXIT_EXTERNAL_INTERRUPT, EXIT_APIC_ACCESS, EXIT_EOI_INDUCED,
                   EXIT_INTERRUPT_WINDOW)


class GuestPin(CpuPort):
    """What the LAPIC's INTR output reaches while its CPU runs a vCPU in non-root mode: the
    vCPU's recognition logic (SDM 25.2, 29.6); everything else (NMI, INIT, IF, TSC) is the
    CPU's. Rewiring ``lapic.cpu`` at entry and exit keeps root mode's INTR path untouched."""

    __slots__ = ("cpu", "vcpu")

    def __init__(self, cpu: Cpu, vcpu: Vcpu) -> None:
        self.cpu = cpu
        self.vcpu = vcpu

    def intr(self) -> None:
        self.vcpu.intr()

    def intr_last(self) -> None:
        self.vcpu.intr()

    def nmi(self) -> None:
        self.cpu.nmi()

    def smi(self) -> None:
        self.cpu.smi()

    def init_signal(self) -> None:
        self.cpu.init_signal()

    def sipi(self, vector: int) -> None:
        self.cpu.sipi(vector)

    def intr_enabled(self) -> bool:
        return self.cpu.if_flag

    @property
    def if_flag(self) -> bool:
        return self.cpu.if_flag

    @if_flag.setter
    def if_flag(self, value: bool) -> None:
        self.cpu.if_flag = value

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cpu, name)


class Vcpu:
    """One virtual CPU: VMCS controls, virtual-APIC page, PID, guest state and counters."""

    def __init__(self, kvm: Kvm, vm: str, index: int, cpu: Cpu, apicv: bool,
                 pid: PostedDescriptor | None, halt_when_idle: bool = False,
                 handler_ns: int | None = None) -> None:
        self.kvm = kvm
        self.ctx = ctx = kvm.ctx
        self.vm = vm
        self.index = index
        self.name = f"{vm}/vCPU{index}"
        self.cpu = cpu
        self.pin_port = GuestPin(cpu, self)
        self.pid = pid
        self.vapic = VirtualApic()
        # VMCS controls as KVM sets them (vmx.c): external-interrupt exiting, ack on exit,
        # HLT exiting always; with APICv, virtual-interrupt delivery and posted interrupts.
        self.pin = PIN_EXT_INT_EXITING | (PIN_POSTED if apicv else 0)
        self.proc = PROC_HLT_EXITING
        self.proc2 = PROC2_VID if apicv else 0
        self.exit_ctls = EXIT_ACK_INTR
        self.pinv = POSTED_INTR_VECTOR
        self.eoi_exit_bitmap = 0
        self.entry_intr_info = 0
        self.exit_info = 0
        # Guest state.
        self.guest_if = True
        self.in_handler = -1
        self.halt_when_idle = halt_when_idle
        t = ctx.timing
        self.handler_ns = t.handler_base if handler_ns is None else handler_ns
        self.state = OFF
        self.in_guest_mode = False      # KVM's vcpu->mode == IN_GUEST_MODE (set pre-entry)
        self._step: Any = None          # engine handle of the guest's next step
        self._step_due = 0
        self._step_fn: Any = None
        self._paused: tuple[int, Any] | None = None
        self._recog: Any = None
        self._busy_until = 0            # posted-interrupt processing holds the guest
        self._cur_iid = 0
        # Counters.
        self.exits: Counter[int] = Counter()
        self.guest_irqs: Counter[int] = Counter()
        self.posted_notifications = 0
        self.guest_ns = 0
        self.transition_ns = 0
        self._t_in = 0

    @property
    def apicv(self) -> bool:
        return bool(self.proc2 & PROC2_VID)

    @property
    def posted(self) -> bool:
        return bool(self.pin & PIN_POSTED)

    def interrupt_exits(self) -> int:
        """VM exits an interrupt on its way to a guest can cost (SDM exit reasons 1, 7, 44,
        45)."""
        return sum(self.exits[r] for r in INTERRUPT_EXITS)

    def exit_counts(self) -> dict[str, int]:
        return {EXIT_REASONS[r]: n for r, n in sorted(self.exits.items())}

    # -- VM entry / exit (hardware) --------------------------------------------------------
    def entry_checks(self) -> bool:
        """SDM 26.2.1.1: posted-interrupt processing needs ext-int exiting, ack on exit and
        virtual-interrupt delivery."""
        if self.pin & PIN_POSTED and not (self.pin & PIN_EXT_INT_EXITING
                                          and self.exit_ctls & EXIT_ACK_INTR
                                          and self.proc2 & PROC2_VID):
            self.ctx.diag(self.cpu.name, R_ENTRY_CONTROLS,
                          f"{self.name}: VM entry failed (invalid control field)")
            return False
        return True

    def enter(self) -> bool:
        """VM entry completes: the CPU runs the guest from now (the entry's cost was spent
        by the software that issued it). False if the control checks fail."""
        cpu = self.cpu
        cpu.if_flag = True              # host IRQs: taken by exits while the guest runs
        if not self.entry_checks():
            self.state = ROOT
            self.in_guest_mode = False
            return False
        now = self.ctx.engine.now
        self.state = GUEST
        self._t_in = now
        cpu.vcpu = self
        cpu.lapic.cpu = self.pin_port
        tr = self.ctx.tracer
        if tr.on:
            tr.emit(now, cpu.name, self.name, "vm-entry", rvi=self.vapic.rvi,
                    svi=self.vapic.svi)
        info = self.entry_intr_info
        if info & ENTRY_INTR_VALID:
            # SDM 26.6.2: the event is delivered through the guest IDT as the entry ends.
            self.entry_intr_info = 0
            self._take(info & 0xFF, self._cur_iid, self.ctx.timing.event_injection)
        elif self._paused is not None:
            ns, fn = self._paused
            self._paused = None
            self._run_step(ns, fn)
        elif self.proc & PROC_INTR_WINDOW and self.guest_if:
            self._exit(EXIT_INTERRUPT_WINDOW)
            return True
        else:
            self._evaluate()
            self._idle()
        if self.state == GUEST and cpu.lapic.deliverable() >= 0:
            self.intr()                 # held while host IRQs were off before the entry
        return True

    def inject(self, vector: int, iid: int) -> None:
        """KVM writes the VM-entry interruption-information field: external interrupt
        ``vector``, valid (SDM 24.8.3)."""
        self.entry_intr_info = vector & 0xFF | ENTRY_INTR_VALID
        self._cur_iid = iid

    def _exit(self, reason: int, vector: int = -1, meta: Any = None) -> None:
        """VM exit for ``reason``: the guest stops; the host's handling starts after the
        exit's cost."""
        engine = self.ctx.engine
        now = engine.now
        self._pause()
        if self._recog is not None:
            engine.cancel(self._recog)
            self._recog = None
        self.guest_ns += now - self._t_in
        self.exits[reason] += 1
        self.state = ROOT
        self.cpu.vcpu = None
        self.cpu.lapic.cpu = self.cpu
        self.cpu.if_flag = False        # host IRQs stay off until KVM has handled the exit
        cost = self.ctx.timing.vm_exit
        self.transition_ns += cost
        tr = self.ctx.tracer
        if tr.on:
            why = EXIT_REASONS.get(reason, str(reason))
            if vector >= 0:
                tr.emit(now, self.cpu.name, self.name, "vm-exit", reason=why, vector=vector)
            else:
                tr.emit(now, self.cpu.name, self.name, "vm-exit", reason=why)
        engine.after(cost, self.kvm.handle_exit, (self, reason, vector, meta))

    # -- the guest's steps (they advance only in non-root mode) ---------------------------
    def _run_step(self, ns: int, fn: Any) -> None:
        engine = self.ctx.engine
        if self.state != GUEST:
            self._paused = (ns, fn)
            return
        start = max(engine.now, self._busy_until)
        self._step_due = start + ns
        self._step_fn = fn
        self._step = engine.at(self._step_due, self._do_step)

    def _do_step(self, _: object) -> None:
        fn = self._step_fn
        self._step = self._step_fn = None
        fn()

    def _pause(self) -> None:
        if self._step is not None:
            engine = self.ctx.engine
            engine.cancel(self._step)
            self._paused = (max(0, self._step_due - max(engine.now, self._busy_until)),
                            self._step_fn)
            self._step = self._step_fn = None

    def _idle(self) -> None:
        """Nothing to run: the guest spins, or executes HLT (an exit with HLT exiting)."""
        if self.state == GUEST and self._step is None and self.guest_if \
                and self.halt_when_idle and self.proc & PROC_HLT_EXITING:
            self._exit(EXIT_HLT)

    # -- external interrupts in non-root mode (SDM 25.2, 29.6) ----------------------------
    def intr(self) -> None:
        """The physical LAPIC asserts INTR while this vCPU runs: recognised after the
        LAPIC's delivery time."""
        if self._recog is None:
            self._recog = self.ctx.engine.after(self.ctx.timing.lapic_delivery,
                                                self._recognize)

    def _recognize(self, _: object) -> None:
        self._recog = None
        if self.state != GUEST:
            return
        engine = self.ctx.engine
        if engine.now < self._busy_until:        # posted processing is uninterruptible
            self._recog = engine.at(self._busy_until, self._recognize)
            return
        lapic = self.cpu.lapic
        v = lapic.deliverable()
        if v < 0:
            return
        if self.pin & PIN_POSTED and v == self.pinv:
            self._posted_processing()
            return
        if not self.pin & PIN_EXT_INT_EXITING:
            self.ctx.diag(self.cpu.name, R_EXTINT_NOT_EXITING, f"vector {v:#x} held")
            return
        meta = None
        if self.exit_ctls & EXIT_ACK_INTR:
            v = lapic.inta()
            meta = self._acked(v)
            self.exit_info = v | 1 << 31
        self._exit(EXIT_EXTERNAL_INTERRUPT, v, meta)

    def _acked(self, v: int) -> Any:
        """The LAPIC moved ``v`` to ISR: the physical interrupt is taken (ledger delivery)."""
        cpu = self.cpu
        meta = cpu.lapic.isr_meta[v] if 0 <= v <= 0xFF else None
        iid = meta.iid if meta is not None else 0
        self.ctx.ledger.deliver(iid, cpu.name)
        tp = self.ctx.points.accept
        if tp.on and iid:
            tp(iid, cpu.index, self.ctx.engine.now)
        return meta

    def _posted_processing(self) -> None:
        """SDM 29.6, uninterruptible, no VM exit: acknowledge the LAPIC and clear PID.ON,
        EOI the notification vector, move PIR into VIRR, raise RVI, evaluate."""
        ctx = self.ctx
        t = ctx.timing
        lapic = self.cpu.lapic
        v = lapic.inta()
        self._acked(v)
        self.posted_notifications += 1
        pid = self.pid
        assert pid is not None
        pid.clear_on()                               # 1: ON := 0 (locked, memory)
        lapic.eoi()                                  # 2: EOI, the notification retires
        bits = pid.take_pir()                        # 3: VIRR |= PIR, PIR := 0
        for iid in self.vapic.merge_pir(bits, pid.take):   # 4: RVI := max(RVI, PIR high)
            ctx.ledger.merge(iid, self.name)
        cost = (t.posted_intr_processing + 2 * t.memory_read + 2 * t.memory_write)
        self._busy_until = ctx.engine.now + cost
        if self._step is not None:                   # the guest is held meanwhile
            self._step_due += cost
            ctx.engine.cancel(self._step)
            self._step = ctx.engine.at(self._step_due, self._do_step)
        tr = self.ctx.tracer
        if tr.on:
            tr.emit(ctx.engine.now, self.cpu.name, self.name, "posted-processing",
                    pir=f"{bits:#x}", rvi=self.vapic.rvi)
        ctx.engine.at(self._busy_until, self._after_posted)

    def _after_posted(self, _: object) -> None:
        if self.state != GUEST:
            return
        self._evaluate()                             # 5-6: evaluate and deliver
        if self.cpu.lapic.deliverable() >= 0:
            self.intr()

    # -- virtual interrupts (SDM 29.2) ------------------------------------------------------
    def _evaluate(self) -> None:
        """Deliver the pending virtual interrupt if it is recognised and the guest can take it
        (IF = 1, interrupt-window exiting 0; SDM 29.2.2)."""
        if self.state != GUEST or not self.apicv or not self.guest_if \
                or self.proc & PROC_INTR_WINDOW or self._step is not None:
            return
        vapic = self.vapic
        if not vapic.recognizable():
            return
        v, iid = vapic.deliver()
        tr = self.ctx.tracer
        if tr.on:
            tr.emit(self.ctx.engine.now, self.cpu.name, self.name, "virtual-delivery",
                    vector=v, svi=vapic.svi, rvi=vapic.rvi)
        self._take(v, iid, self.ctx.timing.virtual_intr_delivery)

    def _take(self, vector: int, iid: int, delay: int) -> None:
        """The guest takes ``vector`` through its IDT (IF := 0); its handler starts after
        the guest's dispatch."""
        t = self.ctx.timing
        self.guest_if = False
        self.in_handler = vector
        self.guest_irqs[vector] += 1
        self._cur_iid = iid
        self.ctx.ledger.deliver(iid, self.name)
        self._run_step(delay + t.context_save + t.handler_dispatch, self._handler_entry)

    def _handler_entry(self) -> None:
        kvm = self.kvm
        iid = self._cur_iid
        if kvm.guest_entry.on:
            kvm.guest_entry(iid, self.name, self.ctx.engine.now)
        tr = self.ctx.tracer
        if tr.on:
            tr.emit(self.ctx.engine.now, self.cpu.name, self.name, "guest-handler",
                    vector=self.in_handler)
        self._run_step(self.handler_ns, self._guest_eoi)

    def _guest_eoi(self) -> None:
        """The guest writes EOI to its local APIC."""
        t = self.ctx.timing
        if self.apicv:
            v = self.vapic.virtual_eoi()             # EOI virtualization, no exit
            tr = self.ctx.tracer
            if tr.on:
                tr.emit(self.ctx.engine.now, self.cpu.name, self.name, "virtual-eoi",
                        vector=v, svi=self.vapic.svi, ppr=self.vapic.ppr)
            self._run_step(t.context_restore, self._iret)
            if self.eoi_exit_bitmap >> v & 1:
                self._exit(EXIT_EOI_INDUCED, v)      # trap-like: after the EOI
        else:
            self._run_step(t.context_restore, self._iret)
            self._exit(EXIT_APIC_ACCESS)             # KVM emulates the EOI write

    def _iret(self) -> None:
        self.guest_if = True
        self.in_handler = -1
        if self.proc & PROC_INTR_WINDOW:
            self._exit(EXIT_INTERRUPT_WINDOW)        # SDM 25.2: the window opened
            return
        self._evaluate()
        self._idle()

    # -- KVM's view ------------------------------------------------------------------------
    def guest_ns_now(self) -> int:
        """Time spent in non-root mode up to now."""
        extra = self.ctx.engine.now - self._t_in if self.state == GUEST else 0
        return self.guest_ns + extra

    def has_events(self) -> bool:
        """kvm_vcpu_has_events as far as interrupts go: an injectable or recognisable vIRR
        vector, or posted requests (PID.ON)."""
        vapic = self.vapic
        if self.apicv:
            return vapic.recognizable() or (self.pid is not None and self.pid.on)
        return vapic.injectable() >= 0
