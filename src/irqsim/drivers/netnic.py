"""The multi-queue NIC's driver (an ixgbe-shaped NAPI driver) and the socket/application
model it delivers to.

Probe: rings and head write-back words in DMA memory, coalescing registers (fixed or DIM),
EIAM (auto-mask every queue vector), one MSI-X vector per queue pair bound to
``queue_cpus[q]`` plus the misc vector, one NAPI instance per queue, EIMS to unmask.

Hard IRQ (queue q): the vector masked itself; ``napi_schedule``. Poll (NET_RX softirq, on
the CPU that took the interrupt): read the head write-back word (a memory read), reap up to
the weight, charge the per-packet cost, hand the packets to the queue's socket at their own
instants, give the descriptors back (RDT), and under the weight complete and re-enable the
vector (EIMS) when ``napi_complete_done`` says so. With adaptive moderation each completion
feeds Linux DIM; a new profile is programmed by a work item on the same CPU.

Application: one reader thread per queue (pinned to ``app_cpus[q]``), woken when its socket
gets data (the wake-up takes effect at the poll's instant); it pays ``app_wakeup`` and
``app_rx_packet`` per packet. Latency wire-to-socket and wire-to-application are recorded
per packet.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from irqsim.drivers.intel_itr import interval_us, update_itr, vector_rate
from irqsim.net.moderation import Coalesce
from irqsim.net.stats import PacketLatency
from irqsim.os.dim import Dim, Sample
from irqsim.os.irq import IRQ_HANDLED, IRQ_NONE, IrqReturn
from irqsim.os.kernel import PCI_IRQ_INTX, PCI_IRQ_MSI, PCI_IRQ_MSIX
from irqsim.os.softirq import CTX_POLL, SCHED_BIT, Napi
from irqsim.platform.numa import line_transfer_ns
from irqsim.sim.section import TASK
from irqsim.spec.nic import (
    COAL_FRAMES,
    COAL_MODE,
    COAL_USECS,
    EIAM,
    EIMS,
    EITR,
    ICR,
    MODE_ABSOLUTE,
    MODE_INTERVAL,
    NIC_DEVICE,
    NIC_VENDOR,
    RDBA,
    RDHWB,
    RDLEN,
    RDT,
    TCOAL_FRAMES,
    TCOAL_USECS,
    TDHWB,
    TDT,
    queue_reg,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from irqsim.cpu.cpu import Cpu
    from irqsim.devices.netnic import NetNic
    from irqsim.os.kernel import Kernel
    from irqsim.os.pci import PciDev
    from irqsim.sim.section import Section


# ixgbe.h: a frame may need MAX_SKB_FRAGS + 4 descriptors (DESC_NEEDED); the queue is
# stopped when fewer are free after a transmit and woken when twice that are free again
# (TX_WAKE_THRESHOLD), from the TX clean in the NAPI poll.
DESC_NEEDED = 17 + 4
TX_WAKE_THRESHOLD = 2 * DESC_NEEDED
TX_RING_MIN = 64                    # IXGBE_MIN_TXD: a smaller ring could never wake


def done_instants(t0: int, cost: int, n: int) -> NDArray[np.int64]:
    """``t0 + cost * [1, 2, ..., n]``: the instants each of ``n`` packets processed one
    after the other from ``t0`` at ``cost`` each is done (one numpy call when cost > 0)."""
    if cost > 0:
        return np.arange(t0 + cost, t0 + cost * n + 1, cost, dtype=np.int64)
    return t0 + cost * np.arange(1, n + 1, dtype=np.int64)


@dataclass
class NetConfig:
    """What ``ethtool``/sysctl would set: ring size, coalescing, NAPI knobs, placement."""

    queues: int = 8
    queue_cpus: list[int] = field(default_factory=list)
    app_cpus: list[int] | None = None       # None: the queue's CPU
    app_pinned: bool = True                 # False: the reader runs where it is woken
    app_per: str = "queue"                  # "queue": a reader per queue; "flow": per flow
    ring_size: int = 1024
    rx: Coalesce = field(default_factory=lambda: Coalesce(usecs=50, frames=64))
    dim_mode: str = "eqe"                   # DIM profile set when rx.adaptive
    adaptive_algo: str = "dim"              # "dim" (Linux DIM) or "itr" (igb legacy ITR)
    itr_conservative: bool = True           # igb InterruptThrottleRate 3 (the default)
    weight: int = 64
    napi_defer_hard_irqs: int = 0
    gro_flush_timeout_ns: int = 0
    threaded: bool = False                  # /sys/class/net/<if>/threaded (threaded NAPI)
    app: bool = True
    busy_read_us: int = 0                   # net.core.busy_read (all sockets)
    busy_poll_us: list[int] | None = None   # SO_BUSY_POLL per socket (overrides busy_read)
    busy_poll_budget: int = 8               # SO_BUSY_POLL_BUDGET
    pmd: bool = False                       # poll-mode driver: no interrupts, PMD threads
    pmd_stop_ns: int = 0                    # when the PMD threads stop (0: never started)
    tx: Coalesce = field(default_factory=lambda: Coalesce(usecs=64, frames=128))
    echo: bool = False                      # each reader answers every packet (TX path)
    irq_mode: str = "msix"                  # "msix"; "msi" or "intx": one queue, one IRQ
    tx_ring_size: int = 1024                # TX descriptors per queue
    txqueuelen: int = 1000                  # the queue's qdisc limit (packets)
    tx_pps: float = 0                       # a sender thread per queue at this rate (0: none)
    tx_size: int = 64                       # its frame size (bytes)
    tx_batch: int = 32                      # packets per sendmmsg-like call of a sender


@dataclass
class Socket:
    """A receive socket: packets (arrival instants, sizes) queued for its reader."""

    q: int
    cpu: int
    # (arrivals, sizes, the CPU whose poll queued them)
    backlog: deque[tuple[Any, Any, int]] = field(default_factory=deque)
    queued: int = 0
    awake: bool = False
    delivered: int = 0
    delivered_bytes: int = 0
    wakeups: int = 0
    busy_poll_us: int = 0
    busy_polls: int = 0
    busy_loops: int = 0


@dataclass
class QueueState:
    """The driver's per-queue data (ixgbe's q_vector + ring)."""

    q: int
    napi: Napi
    irq: int = -1
    ring: int = 0
    hwb: int = 0
    reaped: int = 0                 # free-running, as the head write-back counts
    pkts: int = 0
    bytes: int = 0
    events: int = 0
    dim: Dim | None = None
    dim_applied: int = 0
    irqs: int = 0
    socket: Socket | None = None
    itr_class: int = 1                      # igb: starts at low latency
    itr_pkts: int = 0                       # packets and bytes since the last interrupt
    itr_bytes: int = 0
    itr_rate: int = 0
    tx_hwb: int = 0
    tx_posted: int = 0
    tx_cleaned: int = 0
    tx_done: int = 0
    qdisc: deque[int] = field(default_factory=deque)   # frame sizes waiting in the qdisc
    tx_stopped: bool = False                # netif_tx_stop_queue: the ring is (nearly) full
    tx_sent: int = 0                        # packets the application handed to the stack
    tx_qdisc_drops: int = 0
    tx_stops: int = 0
    tx_wakes: int = 0
    tx_cleans: list[int] = field(default_factory=list)  # completions cleaned per poll (tests)
    tx_batches: deque[list[int]] = field(default_factory=deque)  # posted [count, bytes] runs
    tx_bytes_done: int = 0
    tx_dim: Dim | None = None               # adaptive-tx: DIM over TX completions
    tx_owed: int = 0                        # frames the sender thread still has to send
    sender_busy: bool = False
    tx_dim_applied: int = 0


class NetDriver:
    """Driver for :class:`irqsim.devices.netnic.NetNic`."""

    # Class attributes (ClassVar: read through the class too, compiled or not).
    name: ClassVar[str] = "ixgbe-sim"
    ids: ClassVar[tuple[tuple[int, int], ...]] = ((NIC_VENDOR, NIC_DEVICE),)

    def __init__(self, cfg: NetConfig, nic: NetNic) -> None:
        self.cfg = cfg
        self.nic = nic          # the RX timestamps the descriptors carry (see reap)
        self.busy_poll_jump = True      # jump over empty busy-poll iterations (_busy_poll)
        self.k: Kernel | None = None
        self.bar = 0
        self.queues: list[QueueState] = []
        self.misc_irq = -1
        self.link_events = 0
        self.remote_pkt_ns: list[int] = []      # per CPU: extra per packet off the NIC's node
        self.xfer_ns: list[list[int]] = []      # [reader CPU][poll CPU]: a line handed over
        self.stack_latency = PacketLatency()
        self.flow_sockets: dict[int, Socket] = {}
        self.app_latency = PacketLatency()

    # -- probe ------------------------------------------------------------------------
    def probe(self, k: Kernel, pdev: PciDev) -> None:
        self.k = k
        cfg = self.cfg
        k.pci_enable_device(pdev)
        k.pci_set_master(pdev)
        self.bar = bar = pdev.bars[0].address
        n = cfg.queues
        if cfg.tx_ring_size < TX_RING_MIN:
            raise ValueError(f"tx_ring_size must be >= {TX_RING_MIN} (IXGBE_MIN_TXD), got "
                             f"{cfg.tx_ring_size}")
        cpus = cfg.queue_cpus or list(range(n))
        legacy = cfg.irq_mode != "msix"
        if legacy:
            if n != 1:
                raise ValueError(f"irq_mode {cfg.irq_mode!r} has one vector: queues must be "
                                 f"1, got {n}")
            flag = PCI_IRQ_MSI if cfg.irq_mode == "msi" else PCI_IRQ_INTX
            k.pci_alloc_irq_vectors(pdev, 1, 1, flag, cpus=[cpus[0]])
        else:
            got = k.pci_alloc_irq_vectors(pdev, n + 1, n + 1, PCI_IRQ_MSIX,
                                          cpus=[cpus[i % len(cpus)] for i in range(n)] + [0])
            assert got == n + 1
        t = k.timing
        node = k.dev_to_node(pdev)
        # Reference 9 / item 30: a CPU on another node than the device reads each packet's
        # DMA-written lines through the remote home agent (seed 003: 70 vs 140 ns).
        self.remote_pkt_ns = [
            t.cacheline_remote_node - t.cacheline_same_node
            if node >= 0 and k.cpu_to_node(c) != node else 0 for c in range(len(k.cpus))]
        ncpu = range(len(k.cpus))
        self.xfer_ns = [[line_transfer_ns(t, k.topology, a, b) for a in ncpu] for b in ncpu]
        for q in range(n):
            ring = k.dma_alloc_node(16 * cfg.ring_size, node)
            hwb = k.dma_alloc_node(64, node, 64)
            napi = k.softirq.netif_napi_add(f"{self.nic.name}-rx-{q}", self.poll, cfg.weight)
            napi.defer_hard_irqs = cfg.napi_defer_hard_irqs
            napi.gro_flush_timeout_ns = cfg.gro_flush_timeout_ns
            napi.threaded = cfg.threaded
            st = QueueState(q, napi, ring=ring, hwb=hwb)
            napi.ctx = st
            if cfg.rx.adaptive and cfg.adaptive_algo == "dim":
                st.dim = Dim()
            if cfg.tx.adaptive:
                st.tx_dim = Dim()
            app_cpu = (cfg.app_cpus or cpus)[q % len(cfg.app_cpus or cpus)]
            if cfg.app:
                st.socket = Socket(q, app_cpu)
                bp = cfg.busy_poll_us[q] if cfg.busy_poll_us else cfg.busy_read_us
                st.socket.busy_poll_us = bp
            self.queues.append(st)
            k.writeq(bar + queue_reg(RDBA, q), ring)
            k.writel(bar + queue_reg(RDLEN, q), cfg.ring_size)
            k.writeq(bar + queue_reg(RDHWB, q), hwb)
            st.tx_hwb = k.dma_alloc_node(64, node, 64)
            k.writeq(bar + queue_reg(TDHWB, q), st.tx_hwb)
            self._program(q)
            if not legacy:
                st.irq = k.pci_request_irq(pdev, q, self.msix_ring,
                                           f"{self.nic.name}-TxRx-{q}", st)
        if legacy:
            self.misc_irq = self.queues[0].irq = k.pci_request_irq(
                pdev, 0, self.intr, self.nic.name, self)
        else:
            self.misc_irq = k.pci_request_irq(pdev, n, self.msix_other, self.nic.name, self)
        k.writel(bar + EIAM.offset, (1 << n) - 1)
        if cfg.pmd:
            return                  # queue interrupts stay masked: start_pmd polls them
        k.writel(bar + EIMS.offset, (1 << n) - 1)
        k.spend(t.napi_poll_base)

    def set_coalesce(self, rx: Coalesce | None = None, tx: Coalesce | None = None) -> None:
        """``ethtool -C``: new settings, written to every queue's registers by software on
        CPU 0 (DIM starts or stops with ``rx.adaptive`` / ``tx.adaptive``)."""
        k = self.k
        assert k is not None
        if rx is not None:
            rx.check()
            self.cfg.rx = rx
            for st in self.queues:
                st.dim = Dim() if rx.adaptive and self.cfg.adaptive_algo == "dim" else None
        if tx is not None:
            tx.check()
            self.cfg.tx = tx
            for st in self.queues:
                st.tx_dim = Dim() if tx.adaptive else None

        def body() -> None:
            for st in self.queues:
                self._program(st.q)
        k.run_on(k.cpus[0], body)

    def _program(self, q: int) -> None:
        """Write queue ``q``'s coalescing registers: the fixed settings, or the DIM profile
        (EQE profiles drive the throttle-like INTERVAL timer, CQE the PACKET timer)."""
        k = self.k
        assert k is not None
        rx = self.cfg.rx
        st = self.queues[q]
        if st.dim is not None:
            usecs, frames = st.dim.profile("rx", self.cfg.dim_mode)
            mode = MODE_INTERVAL if self.cfg.dim_mode == "eqe" else 2
            itr = 0
        elif rx.adaptive:                       # igb: the class's rate as an ITR interval
            st.itr_rate = vector_rate(st.itr_class, conservative=self.cfg.itr_conservative)
            usecs, frames, mode, itr = interval_us(st.itr_rate), 0, MODE_INTERVAL, 0
        else:
            usecs, frames, mode, itr = rx.usecs, rx.frames, rx.mode_code, rx.itr_usecs
            if mode == MODE_ABSOLUTE and usecs == 0:
                mode = MODE_ABSOLUTE
        bar = self.bar
        k.writel(bar + queue_reg(COAL_USECS, q), usecs * 1000)
        k.writel(bar + queue_reg(COAL_FRAMES, q), frames)
        k.writel(bar + queue_reg(COAL_MODE, q), mode)
        k.writel(bar + queue_reg(EITR, q), itr * 1000)
        tx = self.cfg.tx
        tusecs, tframes = (st.tx_dim.profile("tx", self.cfg.dim_mode) if st.tx_dim is not None
                           else (tx.usecs, tx.frames))
        k.writel(bar + queue_reg(TCOAL_USECS, q), tusecs * 1000)
        k.writel(bar + queue_reg(TCOAL_FRAMES, q), tframes)

    # -- interrupt handlers -------------------------------------------------------------
    def msix_ring(self, irq: int, st: QueueState) -> IrqReturn:
        """ixgbe_msix_clean_rings: the vector auto-masked itself; schedule NAPI."""
        k = self.k
        assert k is not None
        st.irqs += 1
        st.events += 1
        k.softirq.napi_schedule(st.napi)
        return IRQ_HANDLED

    def intr(self, irq: int, _: object) -> IrqReturn:
        """The one MSI or INTx handler (ixgbe_intr): read ICR (read-to-clear: a non-posted
        read across the link, which also deasserts INTx); no cause means another device on
        a shared line raised it; a queue cause schedules its NAPI, a link cause is counted."""
        k = self.k
        assert k is not None
        icr = k.readl(self.bar + ICR.offset)
        if not icr:
            return IRQ_NONE
        if icr & ICR.mask("link_change"):
            self.link_events += 1
        for st in self.queues:
            if icr >> st.q & 1:
                self.msix_ring(irq, st)
        return IRQ_HANDLED

    def msix_other(self, irq: int, _: object) -> IrqReturn:
        """The misc vector: read (and so clear) ICR; count link changes."""
        k = self.k
        assert k is not None
        icr = k.readl(self.bar + ICR.offset)
        if icr & ICR.mask("link_change"):
            self.link_events += 1
        return IRQ_HANDLED

    # -- NAPI poll ------------------------------------------------------------------------
    def poll(self, napi: Napi, budget: int) -> int:
        """ixgbe_poll: reap up to ``budget`` received packets; complete under budget."""
        k = self.k
        assert k is not None
        st: QueueState = napi.ctx
        t = k.timing
        sec = k.ctx.sw.current
        assert sec is not None
        if st.tx_posted != st.tx_cleaned:
            self._clean_tx(st)                      # TX first, not bounded by the budget
        head = k.read_mem(st.hwb, 4)                # the device's head write-back
        k.spend(t.napi_poll_base)
        avail = (head - st.reaped) & 0xFFFFFFFF
        n = min(avail, budget)
        if n:
            arrivals, sizes = self.nic.reap(st.q, n)
            t0 = sec.clock
            cost = t.napi_rx_packet + self.remote_pkt_ns[sec.cpu.index]
            done = done_instants(t0, cost, n)
            k.spend(cost * n)
            self.stack_latency.add(done - arrivals)
            st.reaped = (st.reaped + n) & 0xFFFFFFFF
            st.pkts += n
            nbytes = int(np.add.reduce(sizes))
            st.bytes += nbytes
            st.itr_pkts += n
            st.itr_bytes += nbytes
            k.softirq.softnet[sec.cpu.index].processed += n
            if st.socket is not None:
                if self.cfg.app_per == "flow":
                    self._deliver_flows(sec, st, arrivals, sizes, self.nic.last_reaped_flows)
                else:
                    self._deliver(sec, st.socket, arrivals, sizes, t0 + cost * n)
            k.writel(self.bar + queue_reg(RDT, st.q), st.reaped)
        if n < budget:
            st.events += 1
            if self.cfg.rx.adaptive and st.dim is None and not napi.busy_owner:
                self._update_itr(st)
            if st.dim is not None and st.dim.sample(
                    Sample(sec.clock, st.pkts & 0xFFFFFFFF, st.bytes & 0xFFFFFFFF,
                           st.events & 0xFFFF)):
                k.ctx.sw.post(sec, self._dim_work, st)
            if st.tx_dim is not None and st.tx_dim.sample(
                    Sample(sec.clock, st.tx_done & 0xFFFFFFFF, st.tx_bytes_done & 0xFFFFFFFF,
                           st.events & 0xFFFF)):
                k.ctx.sw.post(sec, self._tx_dim_work, st)
            if k.softirq.napi_complete_done(napi, n):
                k.writel(self.bar + EIMS.offset, 1 << st.q)
        return n

    def _update_itr(self, st: QueueState) -> None:
        """igb_set_itr at the end of a poll (before the re-enable): new class from the
        packets and bytes since the last interrupt; EITR rewritten when the rate changes."""
        st.itr_class = update_itr(st.itr_class, st.itr_pkts, st.itr_bytes)
        st.itr_pkts = st.itr_bytes = 0
        rate = vector_rate(st.itr_class, conservative=self.cfg.itr_conservative)
        if rate != st.itr_rate:
            self._program(st.q)

    def _dim_work(self, st: QueueState) -> None:
        """schedule_work(&dim->work): a kworker on this CPU programs the new profile."""
        k = self.k
        assert k is not None
        cpu = k.cpus[st.napi.cpu]

        def work(_: object) -> None:
            self._program(st.q)
            st.dim_applied += 1
            assert st.dim is not None
            st.dim.applied()
        cpu.run(work)

    def _tx_dim_work(self, st: QueueState) -> None:
        """The TX DIM's work item: program the new TX profile (mlx5's tx_dim_work)."""
        k = self.k
        assert k is not None

        def work(_: object) -> None:
            self._program(st.q)
            st.tx_dim_applied += 1
            assert st.tx_dim is not None
            st.tx_dim.applied()
        k.cpus[st.napi.cpu].run(work)

    # -- sockets and readers ----------------------------------------------------------
    def _deliver(self, sec: Section, sock: Socket, arrivals: NDArray[np.int64],
                 sizes: NDArray[np.int64], t_last: int) -> None:
        """Queue the packets on the socket; wake its reader at the poll's instant."""
        sock.backlog.append((arrivals, sizes, sec.cpu.index))
        sock.queued += len(arrivals)
        if not sock.awake:
            sock.awake = True
            k = self.k
            assert k is not None
            here = sec.cpu.index
            if not self.cfg.app_pinned:
                sock.cpu = here                     # wake-affine: the waker's CPU
            if sock.cpu == here:
                k.ctx.sw.post(sec, self._wake, sock)
            else:
                sock.wakeups += 1
                k.smp.wake_up_on(sec.cpu, sock.cpu, self._reader, sock)

    def _deliver_flows(self, sec: Section, st: QueueState, arrivals: NDArray[np.int64],
                       sizes: NDArray[np.int64], flows: NDArray[np.int64]) -> None:
        """A socket and reader per flow: split the batch by flow (order kept per flow)."""
        cpus = self.cfg.app_cpus or self.cfg.queue_cpus or [0]
        assert st.socket is not None
        for f in np.unique(flows).tolist():
            sel = flows == f
            sock = self.flow_sockets.get(f)
            if sock is None:
                sock = self.flow_sockets[f] = Socket(st.q, cpus[f % len(cpus)])
                sock.busy_poll_us = st.socket.busy_poll_us
            a = arrivals[sel]
            self._deliver(sec, sock, a, sizes[sel], int(a[-1]))

    def sockets(self) -> list[Socket]:
        """Every socket (per queue, or per flow)."""
        if self.cfg.app_per == "flow" and not self.cfg.pmd:
            return list(self.flow_sockets.values())
        return [st.socket for st in self.queues if st.socket is not None]

    def _wake(self, sock: Socket) -> None:
        k = self.k
        assert k is not None
        sock.wakeups += 1
        k.cpus[sock.cpu].run(self._reader, sock)

    def _reader(self, sock: Socket) -> None:
        """The application thread: drain the socket; with busy polling (SO_BUSY_POLL or
        net.core.busy_read) spin on the queue's NAPI before sleeping; then sleep."""
        k = self.k
        assert k is not None
        cpu: Cpu = k.cpus[sock.cpu]
        t = k.timing
        k.spend(t.app_wakeup)
        sec = cpu.section
        assert sec is not None
        while True:
            k.ctx.sw.sync(sec)                      # see what was queued by now
            if not sock.backlog and sock.busy_poll_us:
                self._busy_poll(sec, sock)
            if not sock.backlog:
                break
            batch = list(sock.backlog)
            sock.backlog.clear()
            sock.queued = 0
            arr = np.concatenate([b[0] for b in batch])
            sizes = np.concatenate([b[1] for b in batch])
            nbytes = int(np.add.reduce(sizes))
            t0 = sec.clock
            c = t.app_rx_packet
            # Each packet's lines were last written by the CPU whose poll queued it: moving
            # them here costs a line transfer (0 on one core, more across nodes).
            row = self.xfer_ns[sock.cpu]
            xfer = [row[b[2]] for b in batch]
            if any(xfer):
                costs = np.concatenate([np.full(len(b[0]), c + x, dtype=np.int64)
                                        for b, x in zip(batch, xfer, strict=True)])
                done = t0 + np.cumsum(costs)
                self.app_latency.add(done - arr)
                k.spend(int(costs.sum()))
            else:
                self.app_latency.add(done_instants(t0, c, len(arr)) - arr)
                k.spend(c * len(arr))
            sock.delivered += len(arr)
            sock.delivered_bytes += nbytes
            if self.cfg.echo:
                self._xmit(sock.q, sizes.tolist())
        sock.awake = False

    def _xmit(self, q: int, sizes: list[int]) -> None:
        """sendmsg of one packet per size: the stack's cost per packet, the packets
        enqueued on the TX queue's qdisc (beyond ``txqueuelen`` dropped), then qdisc_run."""
        k = self.k
        assert k is not None
        st = self.queues[q]
        k.spend(k.timing.app_tx_packet * len(sizes))
        st.tx_sent += len(sizes)
        room = max(0, self.cfg.txqueuelen - len(st.qdisc))
        if len(sizes) > room:
            st.tx_qdisc_drops += len(sizes) - room
            sizes = sizes[:room]
        st.qdisc.extend(sizes)
        self._qdisc_run(st)

    def _tx_free(self, st: QueueState) -> int:
        return self.cfg.tx_ring_size - ((st.tx_posted - st.tx_cleaned) & 0xFFFFFFFF)

    def _qdisc_run(self, st: QueueState) -> None:
        """qdisc_run -> ndo_start_xmit while the queue runs: as many queued packets as the
        ring has free descriptors, one TDT doorbell (xmit_more batching); fewer than
        DESC_NEEDED free afterwards stops the queue (ixgbe_maybe_stop_tx)."""
        if st.tx_stopped or not st.qdisc:
            return
        k = self.k
        assert k is not None
        sec = k.ctx.sw.current
        if sec is not None:
            # HARD_TX_LOCK: the sender, the NET_TX softirq and other CPUs take the queue in
            # simulated-time order (the section catches up with the engine before it reads
            # the ring state, so no later tail write can overtake this one).
            k.ctx.sw.sync(sec)
            if st.tx_stopped or not st.qdisc:
                return
        n = min(len(st.qdisc), self._tx_free(st))
        if n > 0:
            sizes = [st.qdisc.popleft() for _ in range(n)]
            st.tx_batches.append([n, sum(sizes)])
            self.nic.tx_descriptors(st.q, sizes)
            st.tx_posted = (st.tx_posted + n) & 0xFFFFFFFF
            k.writel(self.bar + queue_reg(TDT, st.q), st.tx_posted)
        if self._tx_free(st) < DESC_NEEDED:
            st.tx_stopped = True
            st.tx_stops += 1

    def _clean_tx(self, st: QueueState) -> int:
        """ixgbe_clean_tx_irq: reap every completed transmit (not bounded by the budget);
        a stopped queue with TX_WAKE_THRESHOLD descriptors free again is woken
        (netif_tx_wake_queue -> __netif_schedule: its qdisc runs in NET_TX on this CPU)."""
        k = self.k
        assert k is not None
        head = k.read_mem(st.tx_hwb, 4)
        done = (head - st.tx_cleaned) & 0xFFFFFFFF
        st.tx_cleans.append(done)
        if done:
            k.spend(k.timing.tx_clean_packet * done)
            st.tx_cleaned = (st.tx_cleaned + done) & 0xFFFFFFFF
            st.tx_done += done
            left = done                             # the cleaned frames' bytes (BQL-like)
            while left and st.tx_batches:
                b = st.tx_batches[0]
                take = min(left, b[0])
                nb = b[1] * take // b[0]
                st.tx_bytes_done += nb
                b[0] -= take
                b[1] -= nb
                left -= take
                if not b[0]:
                    st.tx_batches.popleft()
        if st.tx_stopped and self._tx_free(st) >= TX_WAKE_THRESHOLD:
            st.tx_stopped = False
            st.tx_wakes += 1
            cpu = k.current_cpu
            k.softirq.netif_schedule(cpu, self._qdisc_run, st)
        return done

    # -- sender threads (TX traffic) --------------------------------------------------
    def start_senders(self, start: int, stop: int) -> None:
        """A sender thread per queue on its application CPU: every ``tx_batch / tx_pps``
        seconds from ``start`` to ``stop`` it wakes and sends ``tx_batch`` frames of
        ``tx_size`` bytes on its queue (a UDP sender pinned to the queue's CPU, as XPS
        maps it)."""
        k = self.k
        assert k is not None
        cfg = self.cfg
        if cfg.tx_pps <= 0:
            return
        period = max(1, round(cfg.tx_batch * 1e9 / cfg.tx_pps))
        cpus = cfg.app_cpus or cfg.queue_cpus or list(range(cfg.queues))
        for st in self.queues:
            cpu = k.cpus[cpus[st.q % len(cpus)]]
            t0 = start + st.q * period // max(1, len(self.queues))
            k.ctx.engine.at(t0, self._send_tick, (cpu, st, period, stop))

    def _send_tick(self, arg: tuple[Cpu, QueueState, int, int]) -> None:
        """The application has another batch to send; one thread per queue: if it is still
        busy with earlier batches it sends this one too before sleeping."""
        cpu, st, period, stop = arg
        now = self.nic.ctx.engine.now
        if now >= stop:
            return
        st.tx_owed += self.cfg.tx_batch
        self.nic.ctx.engine.at(now + period, self._send_tick, arg)
        if not st.sender_busy:
            st.sender_busy = True
            cpu.run(self._sender, st)

    def _sender(self, st: QueueState) -> None:
        k = self.k
        assert k is not None
        sec = k.ctx.sw.current
        assert sec is not None
        while st.tx_owed:
            n, st.tx_owed = st.tx_owed, 0
            self._xmit(st.q, [self.cfg.tx_size] * n)
            k.ctx.sw.sync(sec)                      # batches that came due meanwhile
        st.sender_busy = False

    def _busy_poll(self, sec: Section, sock: Socket) -> None:
        """napi_busy_loop (reference section 6): spin up to busy_poll_us while the socket is
        empty; own the NAPI when it is idle and poll it with the busy-poll budget, else just
        check the socket; on the way out release it with one last poll whose completion
        re-enables the IRQ. Empty owned iterations before the next DMA completion are
        jumped over in one step (same instants; an interrupt taken meanwhile delays the
        rest of the jump instead of shifting each later iteration)."""
        k = self.k
        assert k is not None
        st = self.queues[sock.q]
        napi = st.napi
        start = sec.clock
        deadline = start + sock.busy_poll_us * 1000
        owned = False
        sock.busy_polls += 1
        loop = k.timing.busy_poll_loop
        sirq = k.softirq
        cpu = sec.cpu
        k.ctx.sw.sync(sec)
        cpu.set_task_kind(CTX_POLL)                 # the spin is "poll" CPU time
        skip = (self.busy_poll_jump and st.dim is None and not self.cfg.rx.adaptive
                and self.nic.traffic is not None)
        while not sock.backlog and sec.clock < deadline:
            if not owned and not napi.state & SCHED_BIT:
                napi.state = SCHED_BIT
                napi.busy_owner = owned = True
                napi.cpu = cpu.index
            t_read = sec.clock
            got = -1
            if owned:
                sirq.local_bh_disable(cpu)
                got = napi.poll(napi, self.cfg.busy_poll_budget)
                sirq.local_bh_enable(cpu)
            k.spend(loop)
            sock.busy_loops += 1
            if got == 0 and skip and not sock.backlog and st.tx_posted == st.tx_cleaned:
                # An empty owned iteration costs the same each time (head read, poll call,
                # loop): jump over the ones whose head read comes before the next DMA
                # completion (or the deadline) at once, as the PMD does.
                c = sec.clock - t_read
                nxt = self.nic.next_completion(st.q, t_read)
                target = deadline if nxt is None else min(deadline, nxt)
                if c > 0 and target > sec.clock:
                    n = -(-(target - sec.clock) // c)
                    k.spend(n * c)
                    sock.busy_loops += n
                    st.events += n
            k.ctx.sw.sync(sec)
        if owned:
            sirq.local_bh_disable(cpu)              # busy_poll_stop: the last poll
            napi.busy_owner = False
            budget = self.cfg.busy_poll_budget
            if napi.poll(napi, budget) == budget:
                napi.state = 0                      # still busy: hand it to NET_RX
                sirq.napi_schedule(napi, cpu)
            sirq.local_bh_enable(cpu)
        k.ctx.sw.sync(sec)
        cpu.set_task_kind(TASK)
        tp = k.ctx.points.busy_poll
        if tp.on:
            tp(sock, start, sec.clock)

    # -- poll-mode driver (DPDK-like) -------------------------------------------------
    def start_pmd(self, cpus: list[int]) -> None:
        """Start one poll-mode thread per queue on dedicated ``cpus``: no interrupts; each
        loop reads the head, processes up to a burst of 32 at ``pmd_rx_packet`` each (the
        application works in place) and hands the descriptors back. An empty ring is spun
        on analytically: the thread's clock jumps to the first loop boundary at or after
        the next completion (one event instead of one per spin; the same instants)."""
        k = self.k
        assert k is not None
        for st in self.queues:
            cpu = k.cpus[cpus[st.q % len(cpus)]]
            k.ctx.engine.after(0, self._pmd_start, (cpu, st))

    def _pmd_start(self, arg: tuple[Cpu, QueueState]) -> None:
        cpu, st = arg
        cpu.run(self._pmd, st)

    def _pmd(self, st: QueueState) -> None:
        k = self.k
        assert k is not None
        sec = k.ctx.sw.current
        assert sec is not None
        t = k.timing
        stop = self.cfg.pmd_stop_ns
        loop, cost = t.pmd_loop, t.pmd_rx_packet + self.remote_pkt_ns[sec.cpu.index]
        while sec.clock < stop:
            head = k.read_mem(st.hwb, 4)
            n = min((head - st.reaped) & 0xFFFFFFFF, 32)
            if not n:
                nxt = self.nic.next_completion(st.q, sec.clock)
                target = stop if nxt is None else min(stop, nxt)
                spins = max(1, -(-(target - sec.clock) // loop))
                k.spend(spins * loop)
                continue
            arrivals, sizes = self.nic.reap(st.q, n)
            t0 = sec.clock
            k.spend(cost * n + loop)
            self.app_latency.add(done_instants(t0, cost, n) - arrivals)
            st.reaped = (st.reaped + n) & 0xFFFFFFFF
            st.pkts += n
            st.bytes += int(sizes.sum())
            if st.socket is not None:
                st.socket.delivered += n
                st.socket.delivered_bytes += int(sizes.sum())
            k.writel(self.bar + queue_reg(RDT, st.q), st.reaped)

    # -- views ------------------------------------------------------------------------
    def ethtool_c(self) -> str:
        """``ethtool -c``-like settings (with adaptive moderation: queue 0's current DIM
        profile, as ethtool reads the values the driver last programmed)."""
        rx = self.cfg.rx
        usecs, frames, mode = rx.usecs, rx.frames, rx.mode
        st0 = self.queues[0] if self.queues else None
        if rx.adaptive and st0 is not None and st0.dim is not None:
            usecs, frames = st0.dim.profile("rx", self.cfg.dim_mode)
            mode = "interval" if self.cfg.dim_mode == "eqe" else "packet"
        elif rx.adaptive and st0 is not None and st0.itr_rate:
            usecs, frames, mode = interval_us(st0.itr_rate), 0, "interval (igb ITR)"
        tusecs, tframes = (st0.tx_dim.profile("tx", self.cfg.dim_mode)
                           if st0 is not None and st0.tx_dim is not None
                           else (self.cfg.tx.usecs, self.cfg.tx.frames))
        lines = [f"Coalesce parameters for {self.nic.name}:",
                 f"Adaptive RX: {'on' if rx.adaptive else 'off'}  "
                 f"TX: {'on' if self.cfg.tx.adaptive else 'off'}",
                 f"rx-usecs: {usecs}", f"rx-frames: {frames}",
                 "rx-usecs-irq: 0", "rx-frames-irq: 0",
                 f"timer mode: {mode}"
                 + (f" (DIM {self.cfg.dim_mode} profiles)" if rx.adaptive else ""),
                 f"tx-usecs: {tusecs}", f"tx-frames: {tframes}",
                 f"itr-usecs: {rx.itr_usecs}",
                 f"napi-defer-hard-irqs: {self.cfg.napi_defer_hard_irqs}  "
                 f"gro-flush-timeout: {self.cfg.gro_flush_timeout_ns}"]
        if rx.adaptive:
            lines.append("DIM profile per queue: " + " ".join(
                f"q{s.q}={s.dim.profile_ix}" for s in self.queues if s.dim is not None))
        return "\n".join(lines)
