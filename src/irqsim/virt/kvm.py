"""The host hypervisor, Linux/KVM style (arch/x86/kvm/vmx/{vmx,posted_intr}.c, lapic.c;
reference/vtd-posted.md 7.3-7.5).

Everything here is host software running in sections on the vCPU's physical CPU (or on the
CPU whose handler delivers an interrupt): its memory accesses to the posted-interrupt
descriptor are real locked accesses, its IPIs go through the LAPIC's ICR.

* Exit handling: after every VM exit, ``kvm_exit_handling`` of software, the handler for the
  reason (EOI emulation, interrupt window, HLT -> block), then the pre-entry work and VM entry.
* Pre-entry (vcpu_enter_guest): host IRQs off, ``vcpu->mode = IN_GUEST_MODE``; with APICv,
  PIR -> vIRR if ON is set (vmx_sync_pir_to_irr); without, inject the highest vIRR vector
  through the VM-entry interruption-information field, or arm interrupt-window exiting while
  the guest cannot take it.
* Delivery to a vCPU (kvm_set_msi -> __apic_accept_irq): with APICv, post into the PID and
  IPI the notification vector 0xF2 to a vCPU in guest mode (vmx_deliver_posted_interrupt),
  else wake it; without APICv, set vIRR and kick (reschedule IPI -> external-interrupt exit).
* The PID state machine: load (NDST, SN = 0, NV = 0xF2, ON if PIR is not empty), put when
  preempted (SN = 1), put when blocking (NV = 0xF1, join the pCPU's wakeup list, self-IPI
  0xF1 if ON is already set), and the 0xF1 handler (pi_wakeup_handler).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from irqsim.os.idt import SystemGate
from irqsim.os.vectors import RESCHEDULE_VECTOR
from irqsim.sim.probe import TracePoint
from irqsim.sim.section import Section
from irqsim.spec.vmx import (
    ENTRY_INTR_VALID,
    EXIT_ACK_INTR,
    EXIT_APIC_ACCESS,
    EXIT_EXTERNAL_INTERRUPT,
    EXIT_HLT,
    EXIT_INTERRUPT_WINDOW,
    POSTED_INTR_VECTOR,
    POSTED_INTR_WAKEUP_VECTOR,
    PROC_INTR_WINDOW,
)
from irqsim.virt.pid import NDST_MASK, NV_MASK, NV_SHIFT, ON, SN, PostedDescriptor, ndst_for
from irqsim.virt.vmx import BLOCKED, GUEST, OFF, PREEMPTED, ROOT, Vcpu

if TYPE_CHECKING:
    from irqsim.cpu.cpu import Cpu
    from irqsim.fabric.memory import SystemMemory
    from irqsim.os.kernel import Kernel

# What the host does after handling an exit.
ENTER, BLOCK, PREEMPT = "enter", "block", "preempt"


class Kvm:
    """The hypervisor of one host: its vCPUs, per-pCPU wakeup lists and vector handlers."""

    def __init__(self, kernel: Kernel, memory: SystemMemory, apicv: bool = True,
                 posted_ids: Callable[[int, int], int] | None = None) -> None:
        """``posted_ids``: the remapping unit's ``take_posted`` (the ledger id of a PIR bit it
        set), so the CPU side settles what the unit posted."""
        self.kernel = kernel
        self.ctx = kernel.ctx
        self.memory = memory
        self.apicv = apicv
        self.posted_ids = posted_ids
        self.vcpus: list[Vcpu] = []
        self.wakeup_list: dict[int, list[Vcpu]] = {}
        # virtual interrupt id -> the host interrupt it continues (VFIO, for latency).
        self.origin: dict[int, int] = {}
        self.guest_entry = TracePoint("guest_entry", ("iid", "vcpu", "t"),
                                      "a guest enters the handler of its interrupt ``iid``")
        self._preempt: dict[Vcpu, int] = {}
        idt = kernel.idt
        idt[POSTED_INTR_VECTOR] = SystemGate(kernel, "PIN", "Posted-interrupt notification event")
        idt[POSTED_INTR_WAKEUP_VECTOR] = SystemGate(kernel, "PIW", "Posted-interrupt wakeup event",
                                                    self._pi_wakeup_handler)

    # -- set-up -----------------------------------------------------------------------------
    def create_vcpu(self, vm: str, index: int, cpu: int, halt_when_idle: bool = False,
                    handler_ns: int | None = None) -> Vcpu:
        """A vCPU pinned to physical CPU ``cpu`` (one vCPU per CPU: the host scheduler is not
        modelled beyond preemption); with APICv it gets a PID in memory."""
        if not 0 <= cpu < len(self.kernel.cpus):
            raise ValueError(f"no CPU {cpu} (the machine has {len(self.kernel.cpus)})")
        if any(v.cpu.index == cpu for v in self.vcpus):
            raise ValueError(f"CPU {cpu} already runs a vCPU")
        pid = PostedDescriptor(self.memory, self.kernel.dma_alloc(64, 64)) if self.apicv \
            else None
        if pid is not None:
            pid.external = self.posted_ids
        v = Vcpu(self, vm, index, self.kernel.cpus[cpu], self.apicv, pid, halt_when_idle,
                 handler_ns)
        self.vcpus.append(v)
        return v

    def start(self, vcpu: Vcpu) -> None:
        """KVM_RUN: load the vCPU on its CPU and enter the guest."""
        self._run_then_enter(vcpu, self._load_and_prepare)

    # -- sections on the vCPU's CPU -----------------------------------------------------------
    def _run_then_enter(self, vcpu: Vcpu, body: Callable[[Vcpu], str]) -> None:
        result: list[str] = []

        def run(_: object) -> None:
            result.append(body(vcpu))

        def done(_: Section) -> None:
            self.ctx.engine.after(0, self._next, (vcpu, result[0] if result else ENTER))

        vcpu.cpu.run(run, then=done)

    def _next(self, arg: tuple[Vcpu, str]) -> None:
        vcpu, what = arg
        if what == ENTER:
            vcpu.enter()
        elif what == PREEMPT:
            ns = self._preempt.pop(vcpu, 0)

            def reload(_: Section) -> None:
                self.ctx.engine.after(
                    0, lambda _: self._run_then_enter(vcpu, self._load_and_prepare))

            # Another host task runs on the CPU; the vCPU is loaded again when it ends.
            vcpu.cpu.run(lambda _: vcpu.cpu.spend(ns), then=reload)

    def handle_exit(self, arg: tuple[Vcpu, int, int, Any]) -> None:
        """The VM exit's cost is spent: the host runs (event callback)."""
        vcpu, reason, vector, meta = arg
        cpu = vcpu.cpu
        vcpu.in_guest_mode = False
        cpu.if_flag = True
        go = None
        if reason == EXIT_EXTERNAL_INTERRUPT and vcpu.exit_ctls & EXIT_ACK_INTR \
                and vector >= 0:
            go = cpu.dispatch_acked(vector, meta)   # handle_external_interrupt_irqoff
        if cpu.lapic.deliverable() >= 0:
            cpu.intr()                               # host IRQs on: pending ones are taken
        self._run_then_enter(vcpu, lambda v: self._exit_body(v, reason))
        if go is not None:
            go()                                     # last: the handler runs, KVM after it

    def _exit_body(self, vcpu: Vcpu, reason: int) -> str:
        cpu = vcpu.cpu
        cpu.spend(self.ctx.timing.kvm_exit_handling)
        if reason == EXIT_APIC_ACCESS:
            vcpu.vapic.emulated_eoi()               # apic_set_eoi
        elif reason == EXIT_INTERRUPT_WINDOW:
            vcpu.proc &= ~PROC_INTR_WINDOW
        elif reason == EXIT_HLT and not vcpu.has_events():
            return self._block(vcpu)
        if vcpu in self._preempt:
            return self._put_preempted(vcpu)
        return self._prepare_entry(vcpu)

    def _load_and_prepare(self, vcpu: Vcpu) -> str:
        self._load(vcpu)
        return self._prepare_entry(vcpu)

    def _prepare_entry(self, vcpu: Vcpu) -> str:
        """vcpu_enter_guest: IRQs off, IN_GUEST_MODE, sync PIR or inject, VM entry cost."""
        cpu = vcpu.cpu
        t = self.ctx.timing
        cpu.cli()
        vcpu.in_guest_mode = True
        vcpu.state = ROOT
        if vcpu.apicv:
            self._sync_pir_to_irr(vcpu, cpu)
        else:
            vapic = vcpu.vapic
            if not vcpu.entry_intr_info & ENTRY_INTR_VALID and vapic.injectable() >= 0:
                if vcpu.guest_if:
                    v, iid = vapic.ack_highest()
                    vcpu.inject(v, iid)
                else:
                    vcpu.proc |= PROC_INTR_WINDOW  # enable_irq_window
        cpu.spend(t.vm_entry)
        return ENTER

    def _sync_pir_to_irr(self, vcpu: Vcpu, cpu: Cpu) -> None:
        """vmx_sync_pir_to_irr: if ON, clear it and move the PIR into vIRR (xchg per word);
        VM entry itself never reads the PIR (SDM 29.6; reference 7.3)."""
        pid = vcpu.pid
        assert pid is not None
        if not cpu.read(pid.ctrl_addr, 8) & ON:
            return
        cpu.locked(pid.ctrl_addr, 8, lambda c: c & ~ON)
        bits = 0
        for w in range(4):
            bits |= cpu.locked(pid.addr + 8 * w, 8, lambda _: 0) << (64 * w)
        for iid in vcpu.vapic.merge_pir(bits, pid.take):
            self.ctx.ledger.merge(iid, vcpu.name)
        if self.ctx.tracer.on:
            self.ctx.tracer.emit(cpu.clock, cpu.name, vcpu.name, "sync-pir", pir=f"{bits:#x}",
                                 rvi=vcpu.vapic.rvi)

    # -- the PID state machine (posted_intr.c) --------------------------------------------
    def _load(self, vcpu: Vcpu) -> None:
        """vmx_vcpu_pi_load: NDST = this CPU, SN = 0, NV = 0xF2 in one cmpxchg; leave the
        wakeup list; ON if the PIR is not empty."""
        pid = vcpu.pid
        cpu = vcpu.cpu
        for lst in self.wakeup_list.values():
            if vcpu in lst:
                lst.remove(vcpu)
        vcpu.state = ROOT
        if pid is None:
            return
        ndst = ndst_for(cpu.lapic.apic_id, self.kernel.x2apic_mode)
        cpu.locked(pid.ctrl_addr, 8, lambda c: (c & ~(SN | NV_MASK | NDST_MASK))
                   | POSTED_INTR_VECTOR << NV_SHIFT | ndst << 32)
        pir = 0
        for w in range(4):
            pir |= cpu.read(pid.addr + 8 * w, 8)
        if pir:
            cpu.locked(pid.ctrl_addr, 8, lambda c: c | ON)

    def _put_preempted(self, vcpu: Vcpu) -> str:
        """vmx_vcpu_pi_put for a preempted vCPU: SN = 1 (postings stay in the PIR)."""
        pid = vcpu.pid
        cpu = vcpu.cpu
        if pid is not None:
            cpu.locked(pid.ctrl_addr, 8, lambda c: c | SN)
        vcpu.state = PREEMPTED
        vcpu.in_guest_mode = False
        return PREEMPT

    def _block(self, vcpu: Vcpu) -> str:
        """pi_enable_wakeup_handler: NV = 0xF1, join the wakeup list of this CPU; if ON is
        already set, a self-IPI 0xF1 makes sure the vCPU is woken."""
        cpu = vcpu.cpu
        vcpu.state = BLOCKED
        vcpu.in_guest_mode = False
        pid = vcpu.pid
        if pid is None:
            return BLOCK
        self.wakeup_list.setdefault(cpu.index, []).append(vcpu)
        old = cpu.locked(pid.ctrl_addr, 8, lambda c: (c & ~NV_MASK)
                         | POSTED_INTR_WAKEUP_VECTOR << NV_SHIFT)
        if old & ON:
            self.kernel.smp.send_mask(cpu, [cpu.index], POSTED_INTR_WAKEUP_VECTOR)
        return BLOCK

    def _pi_wakeup_handler(self, cpu: Cpu) -> None:
        """The 0xF1 handler: wake every vCPU on this CPU's wakeup list whose ON is set."""
        for vcpu in list(self.wakeup_list.get(cpu.index, [])):
            pid = vcpu.pid
            assert pid is not None
            if cpu.read(pid.ctrl_addr, 8) & ON:
                self.wake(vcpu)

    def wake(self, vcpu: Vcpu) -> None:
        """kvm_vcpu_wake_up: a blocked vCPU's thread runs again after the wakeup latency."""
        if vcpu.state != BLOCKED:
            return
        vcpu.state = OFF            # runnable, not yet loaded
        self.ctx.engine.after(self.ctx.timing.vcpu_wakeup,
                              lambda _: self._run_then_enter(vcpu, self._load_and_prepare))

    def preempt(self, vcpu: Vcpu, ns: int, by: int = 0) -> None:
        """The host scheduler puts another task on the vCPU's CPU for ``ns``: CPU ``by``
        sends it a reschedule IPI (an external-interrupt exit if the vCPU is in the guest)."""
        self._preempt[vcpu] = ns
        self.kernel.smp.send_reschedule(by, vcpu.cpu.index)

    # -- delivering an interrupt to a vCPU (lapic.c, vmx.c) ---------------------------------
    def deliver(self, vcpu: Vcpu, vector: int, origin: int = 0) -> int:
        """kvm_apic_set_irq from host software (runs in the caller's section): a virtual
        interrupt for ``vector``. Returns its ledger id."""
        led = self.ctx.ledger
        viid = led.raise_("KVM")
        if origin:
            self.origin[viid] = origin
        if vcpu.apicv:
            self._deliver_posted(vcpu, vector, viid)
        else:
            self._deliver_emulated(vcpu, vector, viid)
        return viid

    def _deliver_posted(self, vcpu: Vcpu, vector: int, viid: int) -> None:
        """vmx_deliver_posted_interrupt: PIR bit (locked), ON (locked); notify a vCPU in guest
        mode with 0xF2, else wake it (KVM's CPU-side posting ignores SN)."""
        cpu = self.kernel.current_cpu
        pid = vcpu.pid
        assert pid is not None
        bit = 1 << (vector & 63)
        old = cpu.locked(pid.pir_word_addr(vector), 8, lambda w: w | bit)
        if old & bit:
            self.ctx.ledger.merge(viid, "KVM")
            return
        pid.meta[vector] = viid
        if cpu.locked(pid.ctrl_addr, 8, lambda c: c | ON) & ON:
            return                                  # a notification is already outstanding
        if vcpu.in_guest_mode:
            self.kernel.smp.send_mask(cpu, [vcpu.cpu.index], POSTED_INTR_VECTOR)
        else:
            self.wake(vcpu)

    def _deliver_emulated(self, vcpu: Vcpu, vector: int, viid: int) -> None:
        """kvm_lapic_set_irr + KVM_REQ_EVENT + kvm_vcpu_kick."""
        cpu = self.kernel.current_cpu
        cpu.spend(self.ctx.timing.memory_write)     # the vIRR write in the APIC page
        if not vcpu.vapic.set_irr(vector, viid):
            self.ctx.ledger.merge(viid, "KVM")
            return
        if vcpu.state == BLOCKED:
            self.wake(vcpu)
        elif vcpu.in_guest_mode and vcpu.cpu is not cpu:
            self.kernel.smp.send_mask(cpu, [vcpu.cpu.index], RESCHEDULE_VECTOR)

    # -- VT-d posted interrupts (vmx_pi_update_irte) ---------------------------------------
    def update_pi_irte(self, irq: int, vcpu: Vcpu, vector: int) -> bool:
        """An irqfd route for host IRQ ``irq`` targets exactly one vCPU (fixed delivery): with
        APICv and a remapping unit that posts, KVM switches its IRTE to posted format
        (irq_set_vcpu_affinity: the vCPU's PID, ``vector``), so the unit posts into the PID and
        notifies NV -> NDST with no host code. False when that is not possible (the route
        stays on the host vector)."""
        pid = vcpu.pid
        if pid is None or not vcpu.apicv:
            return False
        try:
            self.kernel.irq_set_vcpu_affinity(irq, (pid.addr, vector, False))
        except OSError:
            return False
        return True

    # -- accounting -------------------------------------------------------------------------
    def pending(self) -> dict[str, int]:
        """Virtual interrupts held: PIR bits (read from memory), vIRR bits, events waiting in
        the VM-entry interruption-information field."""
        pir = virr = inject = 0
        for v in self.vcpus:
            if v.pid is not None:
                pir += v.pid.pir().bit_count()
            virr += v.vapic.irr.bit_count()
            inject += 1 if v.entry_intr_info & ENTRY_INTR_VALID else 0
        return {"pir": pir, "virr": virr, "inject": inject}

    def states(self) -> dict[str, str]:
        return {v.name: v.state for v in self.vcpus}


__all__ = ["BLOCKED", "GUEST", "PREEMPTED", "ROOT", "Kvm"]
