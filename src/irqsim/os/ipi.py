"""Kernel uses of inter-processor interrupts (seed 003 "Common Kernel IPI Uses").

Reschedule (``smp_send_reschedule``), call-function single and many
(``smp_call_function_single`` / ``smp_call_function_many``), TLB shootdown
(``flush_tlb_mm_range`` -> ``on_each_cpu_cond_mask(..., wait=true)``) and NMI. The OS reaches
the hardware only by writing the ICR through the CPU's LAPIC access path: two MMIO writes
(ICR2, then ICR) in xAPIC mode, one WRMSR of the 64-bit ICR in x2APIC mode. A request with
``wait`` completes when every target has run its function and released the request (Linux's
csd unlock), which is the acknowledgement the sender spins for.

Multi-target sends follow Linux's choices: the all-but-self shorthand when the targets are
every other online CPU (``apic_use_ipi_shorthand``), otherwise one ICR write per target CPU
(physical destination, as x2apic_phys / xAPIC physical), or one per logical cluster when
``ipi_dest == "cluster"`` in x2APIC mode (x2apic_cluster).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from irqsim.os.vectors import (
    CALL_FUNCTION_SINGLE_VECTOR,
    CALL_FUNCTION_VECTOR,
    RESCHEDULE_VECTOR,
)
from irqsim.spec.lapic import (
    ICR_LEVEL_ASSERT,
    ICR_LOGICAL,
    ICR_SHORTHAND_OTHERS,
)
from irqsim.spec.msi import DM_FIXED, DM_INIT, DM_NMI, DM_STARTUP

if TYPE_CHECKING:
    from irqsim.cpu.cpu import Cpu
    from irqsim.os.kernel import Kernel
    from irqsim.sim.section import Section


CallFunc = Callable[[int], None]


@dataclass(eq=False)
class CallRequest:
    """One cross-CPU request (Linux's call_single_data for each target, with one record)."""

    kind: str
    src: int
    targets: list[int]
    func: CallFunc | None
    wait: bool
    t_start: int
    t_sent: int = 0
    t_done: int = -1
    acks: dict[int, int] = field(default_factory=dict)
    icr_writes: int = 0
    sender_ns: int = 0
    on_done: Callable[[CallRequest], None] | None = None
    waiter: Section | None = None      # the sender's section, spinning until the acks

    @property
    def done(self) -> bool:
        return self.t_done >= 0

    @property
    def latency(self) -> int:
        """From the sender's call to the last acknowledgement (-1 while pending)."""
        return self.t_done - self.t_start if self.done else -1

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "src": self.src, "targets": len(self.targets),
                "icr_writes": self.icr_writes, "t_start": self.t_start, "t_sent": self.t_sent,
                "t_done": self.t_done, "latency_ns": self.latency,
                "sender_ns": self.sender_ns}


class SmpOps:
    """The kernel's IPI layer: per-CPU call queues, senders, and the system-vector bodies."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.queues: dict[int, list[CallRequest]] = {}
        self.requests: list[CallRequest] = []
        self.shorthand = True
        self.dest_mode = "physical"        # or "cluster" (x2APIC logical clusters)
        self.tick_handlers: list[Callable[[Cpu], None]] = []
        self.reschedules = 0
        # Tasks woken onto another CPU (ttwu_queue_wakelist): started there when its
        # reschedule IPI arrives, after the IPI handler returns.
        self.wakelist: dict[int, list[tuple[Callable[[Any], Any], Any]]] = {}

    # -- the ICR, through the CPU's LAPIC access path ------------------------------
    def write_icr(self, cpu: Cpu, low: int, dest: int) -> None:
        """Send one IPI from ``cpu``: x2APIC one WRMSR, xAPIC wait-idle + ICR2 + ICR."""
        k = self.kernel
        if k.x2apic_mode:
            cpu.wrmsr(0x830, (dest & 0xFFFFFFFF) << 32 | low)
            return
        base = k.lapic_base
        if cpu.read(base + 0x300) & (1 << 12):      # __xapic_wait_icr_idle
            cpu.spend(k.timing.ipi_icr_idle_wait)
        cpu.write(base + 0x310, 4, (dest & 0xFF) << 24)
        cpu.write(base + 0x300, 4, low)

    def send_mask(self, cpu: Cpu, targets: list[int], vector: int, mode: int = DM_FIXED) -> int:
        """IPI ``vector`` from ``cpu`` to CPU indexes ``targets``; returns ICR writes."""
        k = self.kernel
        low = vector | mode << 8 | ICR_LEVEL_ASSERT
        others = len(k.cpus) - 1
        if self.shorthand and len(targets) == others > 1 and cpu.index not in targets:
            self.write_icr(cpu, low | ICR_SHORTHAND_OTHERS, 0)
            return 1
        ids = k.apic_ids
        if self.dest_mode == "cluster" and k.x2apic_mode:
            clusters: dict[int, int] = {}
            for t in targets:
                x = ids[t]
                clusters[x >> 4] = clusters.get(x >> 4, 0) | 1 << (x & 0xF)
            for c, bits in clusters.items():
                self.write_icr(cpu, low | ICR_LOGICAL, c << 16 | bits)
            return len(clusters)
        for t in targets:
            self.write_icr(cpu, low, ids[t])
        return len(targets)

    # -- public operations (each runs as a software section on the sending CPU) -----
    def send_reschedule(self, src: int, dst: int) -> None:
        """smp_send_reschedule: wake ``dst`` to run its scheduler (RES on the target)."""
        k = self.kernel
        k.run_section(k.cpus[src], lambda: self.send_mask(k.cpus[src], [dst],
                                                             RESCHEDULE_VECTOR))

    def call_function_single(self, src: int, dst: int, func: CallFunc | None = None,
                             wait: bool = True,
                             on_done: Callable[[CallRequest], None] | None = None
                             ) -> CallRequest:
        """smp_call_function_single: run ``func(dst)`` on ``dst`` (CAL on the target)."""
        return self._call("call-single", src, [dst], func, wait, on_done)

    def call_function_many(self, src: int, dsts: list[int], func: CallFunc | None = None,
                           wait: bool = True,
                           on_done: Callable[[CallRequest], None] | None = None
                           ) -> CallRequest:
        """smp_call_function_many: run ``func(cpu)`` on every CPU of ``dsts`` but ``src``."""
        return self._call("call-many", src, dsts, func, wait, on_done)

    def flush_tlb_others(self, src: int, dsts: list[int] | None = None,
                         on_done: Callable[[CallRequest], None] | None = None
                         ) -> CallRequest:
        """TLB shootdown from ``src``: IPI the other CPUs of the mm (default: all), flush
        locally, then wait for every target's acknowledgement (TLB and CAL on targets)."""
        k = self.kernel
        if dsts is None:
            dsts = [i for i in range(len(k.cpus)) if i != src]
        flush = k.timing.tlb_flush_local

        def flush_tlb_func(cpu: int) -> None:
            k.count_system("TLB", cpu, "TLB shootdowns")
            k.cpus[cpu].spend(flush)
        return self._call("tlb-shootdown", src, dsts, flush_tlb_func, True, on_done,
                          local=lambda: k.cpus[src].spend(flush))

    def send_nmi(self, src: int, dsts: list[int]) -> None:
        """NMI IPIs (e.g. a backtrace request or panic stop), one per target."""
        k = self.kernel
        k.run_section(k.cpus[src], lambda: self.send_mask(k.cpus[src], dsts, 0, DM_NMI))

    def start_ap(self, src: int, dst: int, start_page: int = 0x9A) -> None:
        """INIT, then two start-up IPIs (SDM 8.4.4.1 MP initialization; delays elided)."""
        k = self.kernel
        cpu = k.cpus[src]
        aid = k.apic_ids[dst]

        def body() -> None:
            self.write_icr(cpu, DM_INIT << 8 | ICR_LEVEL_ASSERT, aid)
            self.write_icr(cpu, DM_STARTUP << 8 | start_page, aid)
            self.write_icr(cpu, DM_STARTUP << 8 | start_page, aid)
        k.run_section(cpu, body)

    # -- the request machinery --------------------------------------------------------
    def _call(self, kind: str, src: int, dsts: list[int], func: CallFunc | None, wait: bool,
              on_done: Callable[[CallRequest], None] | None,
              local: Callable[[], None] | None = None) -> CallRequest:
        k = self.kernel
        cpu = k.cpus[src]
        targets = [d for d in dsts if d != src]
        req = CallRequest(kind, src, targets, func, wait, cpu.clock, on_done=on_done)
        self.requests.append(req)

        def body() -> None:
            sec = cpu.section
            assert sec is not None
            busy0 = sec.busy
            req.t_start = cpu.clock
            for t in targets:
                self.queues.setdefault(t, []).append(req)
            if targets:
                vec = CALL_FUNCTION_SINGLE_VECTOR if len(targets) == 1 else CALL_FUNCTION_VECTOR
                req.icr_writes = self.send_mask(cpu, targets, vec)
            req.t_sent = cpu.clock
            if local is not None:
                local()
            req.sender_ns = sec.busy - busy0
            if not targets:
                self._complete(req, cpu.clock)
            elif wait and not req.done:
                req.waiter = sec        # csd_lock_wait: spin until every target released it
                k.ctx.sw.block(sec)
        k.run_on(cpu, body)
        return req

    def _run_queue(self, cpu: Cpu) -> None:
        """CALL_FUNCTION / CALL_FUNCTION_SINGLE body: run and release queued requests."""
        q = self.queues.pop(cpu.index, None)
        if not q:
            return
        for req in q:
            if req.func is not None:
                req.func(cpu.index)
            req.acks[cpu.index] = cpu.clock
            if len(req.acks) == len(req.targets):
                self._complete(req, max(req.acks.values()))

    def _complete(self, req: CallRequest, t: int) -> None:
        engine = self.kernel.ctx.engine
        engine.at(max(t, engine.now), self._finish, req)

    def _finish(self, req: CallRequest) -> None:
        k = self.kernel
        req.t_done = k.ctx.engine.now
        if req.waiter is not None:
            k.ctx.sw.wake(req.waiter)
            req.waiter = None
        if req.on_done is not None:
            req.on_done(req)

    # -- system-vector bodies ----------------------------------------------------------
    def on_call_function(self, cpu: Cpu) -> None:
        self._run_queue(cpu)

    def on_reschedule(self, cpu: Cpu) -> None:
        self.reschedules += 1
        woken = self.wakelist.pop(cpu.index, None)
        if woken:
            eng = self.kernel.ctx.engine
            for body, arg in woken:
                eng.at(cpu.clock, self._start_woken, (cpu, body, arg))

    def wake_up_on(self, src: Cpu, dst: int, body: Callable[[Any], Any], arg: Any) -> None:
        """try_to_wake_up of a task that runs on CPU ``dst``, from software on ``src``:
        queue it on ``dst``'s wake list and send the reschedule IPI (run in ``src``'s
        section)."""
        self.wakelist.setdefault(dst, []).append((body, arg))
        self.send_mask(src, [dst], RESCHEDULE_VECTOR)

    def _start_woken(self, arg: tuple[Cpu, Callable[[Any], Any], Any]) -> None:
        cpu, body, a = arg
        cpu.run(body, a)

    def on_local_timer(self, cpu: Cpu) -> None:
        self.kernel.timer_tick(cpu)
        for h in self.tick_handlers:
            h(cpu)

    def on_error(self, cpu: Cpu) -> None:
        k = self.kernel
        k.apic_write(cpu, 0x280, 0)
        esr = k.apic_read(cpu, 0x280)
        k.apic_errors.append((cpu.index, k.ctx.engine.now, esr))

    # -- reporting ------------------------------------------------------------------------
    def summary(self) -> list[dict[str, Any]]:
        """Per kind: count, targets, mean/max latency and ICR writes of finished requests."""
        out: dict[str, dict[str, Any]] = {}
        for r in self.requests:
            if not r.done:
                continue
            s = out.setdefault(r.kind, {"kind": r.kind, "count": 0, "targets": 0,
                                        "latency_sum": 0, "latency_max": 0, "icr_writes": 0})
            s["count"] += 1
            s["targets"] += len(r.targets)
            s["latency_sum"] += r.latency
            s["latency_max"] = max(s["latency_max"], r.latency)
            s["icr_writes"] += r.icr_writes
        rows = []
        for s in out.values():
            rows.append({"kind": s["kind"], "count": s["count"],
                         "targets_mean": s["targets"] / s["count"],
                         "latency_mean_ns": s["latency_sum"] // s["count"],
                         "latency_max_ns": s["latency_max"], "icr_writes": s["icr_writes"]})
        return rows
