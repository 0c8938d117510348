"""Softirqs (kernel/softirq.c) and NAPI (net/core/dev.c) on the engine clock.

``raise_softirq(cpu, nr)`` marks ``nr`` pending on ``cpu``. Where it runs:

* raised in a hard IRQ: at the last IRET (irq_exit -> invoke_softirq) the CPU starts a
  SOFTIRQ section (``Cpu.start_soft``): interrupts preempt it, the interrupted task waits;
* raised while the softirq section runs: the same section loops (``__do_softirq`` restarts
  up to ``MAX_SOFTIRQ_RESTART`` times within ``MAX_SOFTIRQ_TIME``), then wakes ksoftirqd;
* raised from task context: ksoftirqd (a kernel thread, a task whose time counts as softirq);
* raised from an event outside any software (an hrtimer expiry) on an idle or task CPU: the
  timer interrupt's irq_exit runs it at once.

NAPI (reference section 5): ``napi_schedule`` from the hard IRQ appends the instance to the
CPU's poll list and raises NET_RX; ``net_rx_action`` polls instances round-robin with their
weight (64) under ``netdev_budget`` (300 packets) and ``netdev_budget_usecs`` (2 jiffies),
counts ``time_squeeze`` and re-raises when either runs out; ``napi_complete_done`` honours
``napi_defer_hard_irqs``/``gro_flush_timeout`` and busy-poll ownership. A threaded instance
(``Napi.threaded``) is polled by its kthread instead of NET_RX. NET_TX runs the
qdiscs ``netif_schedule`` put on the CPU's output queue (a TX queue woken after cleaning).

``/proc/softirqs`` rows and ``/proc/net/softnet_stat`` counters are kept per CPU.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from irqsim.cpu.cpu import POLL
from irqsim.sim.rules import rule
from irqsim.sim.section import SOFTIRQ, Section

if TYPE_CHECKING:
    from irqsim.cpu.cpu import Cpu
    from irqsim.os.kernel import Kernel

# include/linux/interrupt.h softirq numbers and /proc/softirqs names.
HI, TIMER, NET_TX, NET_RX, BLOCK, IRQ_POLL, TASKLET, SCHED, HRTIMER, RCU = range(10)
SOFTIRQ_NAMES = ("HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "IRQ_POLL", "TASKLET", "SCHED",
                 "HRTIMER", "RCU")
MAX_SOFTIRQ_RESTART = 10
MAX_SOFTIRQ_TIME_NS = 2_000_000         # 2 ms (kernel/softirq.c)
HZ = 1000
JIFFY_NS = 1_000_000_000 // HZ

# The CPU-accounting context names the OS uses. POLL is cpu/cpu.py's: a section of kind POLL
# counts there (NVMe polled I/O does), and a network reader's busy-poll spin switches its task
# section to it for the spin (Cpu.set_task_kind; docs/networking.md).
CTX_SOFTIRQ = SOFTIRQ
CTX_POLL = POLL          # the CPU-time context busy polling counts under (cpu/cpu.py)

R_NAPI_WEIGHT = rule("NAPI-POLL-OVER-WEIGHT", "Documentation/networking/napi.rst",
                     "a NAPI poll handles at most its weight of RX packets")

# NAPI state bits (NAPI_STATE_*).
SCHED_BIT, MISSED_BIT = 1, 2


@dataclass
class Napi:
    """One NAPI instance (struct napi_struct): the driver's poll and its state."""

    name: str
    poll: Callable[[Napi, int], int]
    weight: int = 64
    defer_hard_irqs: int = 0
    gro_flush_timeout_ns: int = 0
    state: int = 0
    cpu: int = -1
    defer_count: int = 0
    timer: int | None = None
    busy_owner: bool = False
    napi_id: int = 0
    polls: int = 0
    packets: int = 0
    timer_polls: int = 0
    misses: int = 0
    threaded: bool = False   # /sys/class/net/<if>/threaded: polled by a kthread, not NET_RX
    thread_awake: bool = False
    ctx: Any = None          # the driver's per-queue data


@dataclass
class SoftnetStat:
    """One CPU's /proc/net/softnet_stat counters."""

    processed: int = 0
    dropped: int = 0
    time_squeeze: int = 0


@dataclass
class SoftirqCpu:
    pending: int = 0
    ksoftirqd: bool = False
    ksoftirqd_wakes: int = 0    # times ksoftirqd/N was woken (wakeup_softirqd)
    bh_disabled: int = 0
    poll_list: deque[Napi] = field(default_factory=deque)
    # softnet_data.output_queue: qdiscs to run in NET_TX (each a callable and its argument)
    output_queue: deque[tuple[Callable[[Any], None], Any]] = field(default_factory=deque)


# The net.core sysctls' defaults: packets and microseconds per NET_RX softirq run.
NETDEV_BUDGET: Final = 300
NETDEV_BUDGET_USECS: Final = 2 * JIFFY_NS // 1000       # 2 jiffies


class Softirqs:
    """The softirq core and NAPI for one kernel."""

    netdev_budget = NETDEV_BUDGET
    netdev_budget_usecs = NETDEV_BUDGET_USECS

    def __init__(self, kernel: Kernel) -> None:
        self.k = kernel
        self.ctx = kernel.ctx
        n = len(kernel.cpus)
        self.cpus = [SoftirqCpu() for _ in range(n)]
        self.counts = [[0] * n for _ in SOFTIRQ_NAMES]
        self.softnet = [SoftnetStat() for _ in range(n)]
        self.handlers: dict[int, Callable[[Cpu], None]] = {NET_RX: self.net_rx_action,
                                                            NET_TX: self.net_tx_action}
        self.napis: list[Napi] = []
        t = kernel.timing
        self.entry_ns = t.softirq_entry
        self.rx_action_ns = t.net_rx_action_base
        for cpu in kernel.cpus:
            cpu.irq_exit_hook = self._irq_exit

    # -- softirq core -----------------------------------------------------------------
    def open_softirq(self, nr: int, handler: Callable[[Cpu], None]) -> None:
        self.handlers[nr] = handler

    def raise_softirq(self, cpu: Cpu, nr: int) -> None:
        """Mark ``nr`` pending on ``cpu`` and make sure something will run it."""
        sc = self.cpus[cpu.index]
        sc.pending |= 1 << nr
        cpu.softirq_pending = True
        if cpu.frames or cpu.soft is not None or sc.ksoftirqd:
            return                  # irq_exit, the running loop or ksoftirqd picks it up
        cur = self.ctx.sw.current
        if cur is not None and cur.cpu is cpu:
            if not sc.bh_disabled:
                self._wake_ksoftirqd(cpu)       # else local_bh_enable runs it
        else:
            cpu.start_soft(self._do_softirq, self._soft_done)

    def local_bh_disable(self, cpu: Cpu) -> None:
        """Enter a bottom-half-disabled region in task context."""
        self.cpus[cpu.index].bh_disabled += 1

    def local_bh_enable(self, cpu: Cpu) -> None:
        """Leave it: softirqs raised meanwhile run now, inline in the task (do_softirq on
        the task's stack; their time is the task's here — Linux with
        IRQ_TIME_ACCOUNTING counts it as softirq); what is left goes to ksoftirqd."""
        sc = self.cpus[cpu.index]
        sc.bh_disabled -= 1
        if sc.bh_disabled or not sc.pending or sc.ksoftirqd:
            return
        sec = self.ctx.sw.current
        if sec is None or sec.cpu is not cpu or cpu.frames or cpu.soft is not None:
            return
        if self._run_pending(cpu, sec):
            self._wake_ksoftirqd(cpu)

    def _irq_exit(self, cpu: Cpu) -> None:
        """The CPU's last IRET found softirqs pending (invoke_softirq); with ksoftirqd
        awake the thread runs them and the interrupted software just goes on."""
        if self.cpus[cpu.index].ksoftirqd:
            cpu.soft_done()
            return
        cpu.start_soft(self._do_softirq, self._soft_done)

    def _run_pending(self, cpu: Cpu, sec: Section) -> bool:
        """__do_softirq's loop on ``sec``; True when softirqs are still pending at the end
        (the caller wakes ksoftirqd)."""
        sc = self.cpus[cpu.index]
        start = sec.clock
        restart = MAX_SOFTIRQ_RESTART
        sec.clock += self.entry_ns
        sec.busy += self.entry_ns
        while True:
            pending = sc.pending
            sc.pending = 0
            cpu.softirq_pending = False
            nr = 0
            while pending:
                if pending & 1:
                    self.counts[nr][cpu.index] += 1
                    h = self.handlers.get(nr)
                    if h is not None:
                        h(cpu)
                pending >>= 1
                nr += 1
            if not sc.pending:
                return False
            restart -= 1
            if sec.clock - start >= MAX_SOFTIRQ_TIME_NS or restart <= 0:
                cpu.softirq_pending = True
                return True

    def _do_softirq(self, sec: Section) -> None:
        cpu = sec.cpu
        if self._run_pending(cpu, sec):
            self._wake_ksoftirqd(cpu)

    def _soft_done(self, sec: Section) -> None:
        cpu = sec.cpu
        sc = self.cpus[cpu.index]
        if sc.pending and not sc.ksoftirqd:
            cpu.soft = None
            cpu.start_soft(self._do_softirq, self._soft_done)
            return
        cpu.soft_done()

    def _wake_ksoftirqd(self, cpu: Cpu) -> None:
        sc = self.cpus[cpu.index]
        if sc.ksoftirqd:
            return
        sc.ksoftirqd = True
        sc.ksoftirqd_wakes += 1
        # wake_up_process: the thread becomes runnable now (software running on this CPU
        # keeps it until it ends or is preempted: the wake-up is an event at its instant).
        self.ctx.engine.at(max(cpu.clock, self.ctx.engine.now), self._ksoftirqd_start, cpu)

    def _ksoftirqd_start(self, cpu: Cpu) -> None:
        cpu.run(self._ksoftirqd, cpu, kind=SOFTIRQ)

    def _ksoftirqd(self, cpu: Cpu) -> None:
        """ksoftirqd/N: run what is pending until nothing is, then sleep."""
        sc = self.cpus[cpu.index]
        sec = cpu.section
        assert sec is not None
        while sc.pending:
            self._run_pending(cpu, sec)
        sc.ksoftirqd = False
        cpu.softirq_pending = False

    # -- NAPI ---------------------------------------------------------------------------
    def netif_napi_add(self, name: str, poll: Callable[[Napi, int], int], weight: int = 64,
                       ctx: Any = None) -> Napi:
        napi = Napi(name, poll, weight, ctx=ctx, napi_id=len(self.napis) + 1)
        self.napis.append(napi)
        return napi

    def napi_schedule(self, napi: Napi, cpu: Cpu | None = None) -> bool:
        """Put ``napi`` on the poll list of the CPU running now (hard IRQ); False when it
        was already scheduled (MISSED is set: the owner polls once more)."""
        if napi.state & SCHED_BIT:
            napi.state |= MISSED_BIT
            napi.misses += 1
            return False
        cpu = cpu or self.k.current_cpu
        napi.state = SCHED_BIT
        napi.cpu = cpu.index
        if napi.threaded:
            self._wake_napi_thread(napi, cpu)
            return True
        self.cpus[cpu.index].poll_list.append(napi)
        self.raise_softirq(cpu, NET_RX)
        return True

    # -- threaded NAPI (napi_threaded_poll) ------------------------------------------------
    def _wake_napi_thread(self, napi: Napi, cpu: Cpu) -> None:
        """Wake the instance's kthread ``napi/<dev>-<id>`` on ``cpu`` (the CPU that
        scheduled it: wake-affine); it becomes runnable at the waker's instant."""
        if napi.thread_awake:
            return
        napi.thread_awake = True
        self.ctx.engine.at(max(cpu.clock, self.ctx.engine.now), self._napi_thread_start,
                           (napi, cpu))

    def _napi_thread_start(self, arg: tuple[Napi, Cpu]) -> None:
        napi, cpu = arg
        cpu.run(self._napi_thread, napi)

    def _napi_thread(self, napi: Napi) -> None:
        """napi_threaded_poll: poll with the weight while the instance stays scheduled
        (bottom halves disabled around each poll, as the kthread does), then sleep. No
        netdev_budget or NET_RX softirq: the kthread is a task (its time is task time)."""
        cpu = self.k.cpus[napi.cpu]
        sec = cpu.section
        assert sec is not None
        while napi.state & SCHED_BIT:
            self.local_bh_disable(cpu)
            work = napi.poll(napi, napi.weight)
            napi.polls += 1
            napi.packets += work
            self.local_bh_enable(cpu)
            self.ctx.sw.sync(sec)
        napi.thread_awake = False

    def net_rx_action(self, cpu: Cpu) -> None:
        """The NET_RX softirq: poll the CPU's instances under the budget and time limit."""
        sc = self.cpus[cpu.index]
        sec = self.ctx.sw.current
        assert sec is not None
        sec.clock += self.rx_action_ns
        sec.busy += self.rx_action_ns
        budget = self.netdev_budget
        time_limit = (sec.clock // JIFFY_NS + self.netdev_budget_usecs * 1000 // JIFFY_NS
                      ) * JIFFY_NS
        plist = sc.poll_list
        stat = self.softnet[cpu.index]
        while plist:
            napi = plist.popleft()
            work = 0
            if napi.state & SCHED_BIT:
                work = napi.poll(napi, napi.weight)
                napi.polls += 1
                napi.packets += work
                if work > napi.weight:
                    self.ctx.diag(napi.name, R_NAPI_WEIGHT,
                                  f"poll handled {work} > weight {napi.weight}")
                if work == napi.weight and napi.state & SCHED_BIT:
                    plist.append(napi)          # used its whole weight: stays scheduled
            budget -= work
            if plist and (budget <= 0 or sec.clock >= time_limit):
                stat.time_squeeze += 1
                self.raise_softirq(cpu, NET_RX)
                break

    def netif_schedule(self, cpu: Cpu, run: Callable[[Any], None], arg: Any) -> None:
        """__netif_schedule: put a device queue's qdisc on this CPU's output queue and raise
        NET_TX (a driver waking a stopped TX queue after cleaning descriptors does this);
        ``run(arg)`` is its qdisc_run."""
        self.cpus[cpu.index].output_queue.append((run, arg))
        self.raise_softirq(cpu, NET_TX)

    def net_tx_action(self, cpu: Cpu) -> None:
        """The NET_TX softirq: run every qdisc scheduled on this CPU (qdisc_run: dequeue
        into the driver's ring; a qdisc that still has packets reschedules itself)."""
        oq = self.cpus[cpu.index].output_queue
        for _ in range(len(oq)):
            run, arg = oq.popleft()
            run(arg)

    def napi_complete_done(self, napi: Napi, work: int) -> bool:
        """The poll finished under its weight: clear SCHED; False when the IRQ must stay
        masked (busy-poll owns it, deferral armed a timer, or MISSED re-scheduled it)."""
        if napi.busy_owner:
            return False
        timeout = 0
        if work > 0:
            napi.defer_count = napi.defer_hard_irqs
        ret = True
        if napi.defer_count > 0:
            napi.defer_count -= 1
            timeout = napi.gro_flush_timeout_ns
            if timeout:
                ret = False
        missed = napi.state & MISSED_BIT
        napi.state = 0
        if missed:
            self.napi_schedule(napi, self.k.cpus[napi.cpu])
            return False
        if timeout:
            eng = self.ctx.engine
            t = self.ctx.sw.current.clock if self.ctx.sw.current is not None else eng.now
            if napi.timer is not None:
                eng.cancel(napi.timer)
            napi.timer = eng.at(t + timeout, self._napi_watchdog, napi)
        return ret

    def _napi_watchdog(self, napi: Napi) -> None:
        """The gro_flush_timeout hrtimer: schedule the instance from timer context."""
        napi.timer = None
        if napi.state & SCHED_BIT:
            return
        napi.timer_polls += 1
        napi.state = SCHED_BIT
        cpu = self.k.cpus[napi.cpu]
        if napi.threaded:
            self._wake_napi_thread(napi, cpu)
            return
        self.cpus[napi.cpu].poll_list.append(napi)
        self.raise_softirq(cpu, NET_RX)

    # -- views --------------------------------------------------------------------------
    def proc_softirqs(self) -> str:
        """/proc/softirqs."""
        n = len(self.k.cpus)
        out = ["           " + "".join(f"CPU{i:<8d}" for i in range(n)).rstrip()]
        for nr, name in enumerate(SOFTIRQ_NAMES):
            out.append(f"{name + ':':>11s}" + "".join(f"{c:11d}" for c in self.counts[nr]))
        return "\n".join(out)

    def softnet_stat(self) -> list[str]:
        """/proc/net/softnet_stat lines (processed, dropped, time_squeeze, zeros...,
        cpu index), hex as the kernel prints them."""
        out = []
        for i, s in enumerate(self.softnet):
            vals = [s.processed, s.dropped, s.time_squeeze] + [0] * 10 + [i]
            out.append(" ".join(f"{v & 0xFFFFFFFF:08x}" for v in vals))
        return out
