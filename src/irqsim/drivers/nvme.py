"""The NVMe driver (Linux drivers/nvme/host/pci.c, shaped): controller enable, admin queue,
``pci_alloc_irq_vectors_affinity`` with ``pre_vectors = 1`` (vector 0 admin, unmanaged; the
I/O vectors managed and spread over the NUMA nodes), one interrupt-driven I/O queue pair
per vector, optional polled queue pairs (IEN = 0), Set Features 08h (aggregation) and 09h
(per-vector coalescing disable), and blk-mq's CPU -> queue map from the vectors' managed
masks (blk_mq_pci_map_queues).

Requests: ``submit`` runs on the issuing CPU (SQE stores, tail doorbell, ``nvme_sw_submit``);
the completion handler (``nvme_irq``) reads CQEs while their phase tag matches — RAM reads
priced by NUMA distance — charges ``nvme_sw_complete`` per request plus a cache-line
transfer when the issuing CPU is another one, and writes the CQ head doorbell. A polled
request's issuer spins (a POLL-context section) on its CQ until the entry appears.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from irqsim.cpu.cpu import POLL
from irqsim.os.affinity import pci_alloc_irq_vectors_affinity
from irqsim.os.irq import IRQ_HANDLED, IRQ_NONE, IrqReturn
from irqsim.platform.numa import line_transfer_ns
from irqsim.spec.nvme import (
    ACQ,
    ADMIN_CREATE_IO_CQ,
    ADMIN_CREATE_IO_SQ,
    ADMIN_SET_FEATURES,
    AQA,
    ASQ,
    CC,
    CQE_SIZE,
    CREATE_CQ_CDW10,
    CREATE_CQ_CDW11,
    CREATE_SQ_CDW11,
    CSTS,
    DOORBELL_BASE,
    FID_INTERRUPT_COALESCING,
    FID_INTERRUPT_VECTOR_CONFIG,
    FID_NUMBER_OF_QUEUES,
    INTERRUPT_COALESCING,
    INTERRUPT_VECTOR_CONFIG,
    IO_READ,
    NUMBER_OF_QUEUES,
    SQE_CDW10_OFF,
    SQE_CDW11_OFF,
    SQE_PRP1_OFF,
    SQE_SIZE,
)

if TYPE_CHECKING:
    from irqsim.cpu.cpu import Cpu
    from irqsim.os.kernel import Kernel
    from irqsim.os.pci import PciDev

ADMIN_DEPTH = 32


@dataclass
class Request:
    qid: int
    cid: int
    cpu: int
    t_submit: int
    polled: bool
    t_done: int = -1
    on_done: Callable[[Request], None] | None = None


@dataclass
class QueuePair:
    qid: int
    depth: int
    sq: int
    cq: int
    irq: int = 0                   # 0: polled (no interrupt)
    sq_tail: int = 0
    cq_head: int = 0
    phase: int = 1
    next_cid: int = 0
    inflight: dict[int, Request] = field(default_factory=dict)
    completed: int = 0
    lock_word: int = 0             # the spinlocks' cache line (sq_lock, cq_poll_lock)
    sq_owner: Any = None           # the section holding sq_lock (None: free)
    cq_owner: Any = None           # the section holding cq_poll_lock


class NvmeDriver:
    """Binds NVMe controllers; ``io_queues`` None: one interrupt-driven queue per CPU."""

    name = "nvme"
    ids = ((0x1B36, 0x0010),)

    def __init__(self, io_queues: int | None = None, poll_queues: int = 0, depth: int = 64,
                 aggregation: tuple[int, int] | None = None,
                 coalescing_disabled: tuple[int, ...] = ()) -> None:
        """``aggregation``: (THR, TIME) for Set Features 08h (entries 0's based, 100 us
        units); ``coalescing_disabled``: vectors given CD through feature 09h."""
        self.io_queues = io_queues
        self.poll_queues = poll_queues
        self.depth = depth
        self.aggregation = aggregation
        self.coalescing_disabled = coalescing_disabled
        self.k: Kernel | None = None
        self.pdev: PciDev | None = None
        self.bar = 0
        self.queues: dict[int, QueuePair] = {}
        self.cpu_queue: list[int] = []          # blk-mq map: CPU -> interrupt-driven qid
        self.cpu_poll_queue: list[int] = []     # CPU -> polled qid
        self.admin_done: dict[int, int] = {}    # cid -> DW0 result
        self.latencies: dict[str, list[int]] = {"irq": [], "poll": []}
        self.irq_calls = 0
        self.empty_irqs = 0

    # -- probe ---------------------------------------------------------------------------
    def probe(self, k: Kernel, pdev: PciDev) -> None:
        self.k, self.pdev = k, pdev
        k.pci_enable_device(pdev)
        k.pci_set_master(pdev)
        self.bar = pdev.bars[0].address
        node = k.dev_to_node(pdev)
        admin = QueuePair(0, ADMIN_DEPTH, k.dma_alloc_node(ADMIN_DEPTH * SQE_SIZE, node),
                          k.dma_alloc_node(ADMIN_DEPTH * CQE_SIZE, node),
                          lock_word=k.dma_alloc_node(64, node, 64))
        self.queues[0] = admin
        k.writel(self.bar + CC.offset, 0)
        k.writel(self.bar + AQA.offset, AQA.encode(asqs=ADMIN_DEPTH - 1,
                                                    acqs=ADMIN_DEPTH - 1))
        k.writeq(self.bar + ASQ.offset, admin.sq)
        k.writeq(self.bar + ACQ.offset, admin.cq)
        k.writel(self.bar + CC.offset, CC.encode(en=1, iosqes=6, iocqes=4))
        while not k.readl(self.bar + CSTS.offset) & 1:
            pass
        ncpu = len(k.cpus)
        want = self.io_queues if self.io_queues is not None else ncpu
        nvec = pci_alloc_irq_vectors_affinity(k, pdev, 1, want + 1, pre_vectors=1)
        k.request_irq(k.pci_irq_vector(pdev, 0), self._irq, 0, "nvme0q0", 0)
        n_io = nvec - 1
        total = n_io + self.poll_queues
        res = self._admin(ADMIN_SET_FEATURES, cdw10=FID_NUMBER_OF_QUEUES,
                          cdw11=NUMBER_OF_QUEUES.encode(nsqr=total - 1, ncqr=total - 1))
        total = min(total, NUMBER_OF_QUEUES.field("nsqr").get(res) + 1)
        for qid in range(1, total + 1):
            polled = qid > n_io
            q = QueuePair(qid, self.depth, k.dma_alloc_node(self.depth * SQE_SIZE, node),
                          k.dma_alloc_node(self.depth * CQE_SIZE, node),
                          lock_word=k.dma_alloc_node(64, node, 64))
            self._admin(ADMIN_CREATE_IO_CQ, prp1=q.cq,
                        cdw10=CREATE_CQ_CDW10.encode(qid=qid, qsize=self.depth - 1),
                        cdw11=CREATE_CQ_CDW11.encode(pc=1, ien=0 if polled else 1,
                                                     iv=0 if polled else qid))
            self._admin(ADMIN_CREATE_IO_SQ, prp1=q.sq,
                        cdw10=CREATE_CQ_CDW10.encode(qid=qid, qsize=self.depth - 1),
                        cdw11=CREATE_SQ_CDW11.encode(pc=1, cqid=qid))
            self.queues[qid] = q
            if not polled:
                q.irq = k.pci_irq_vector(pdev, qid)
                k.request_irq(q.irq, self._irq, 0, f"nvme0q{qid}", qid)
        if self.aggregation is not None:
            thr, time = self.aggregation
            self._admin(ADMIN_SET_FEATURES, cdw10=FID_INTERRUPT_COALESCING,
                        cdw11=INTERRUPT_COALESCING.encode(thr=thr, time=time))
        for iv in self.coalescing_disabled:
            self._admin(ADMIN_SET_FEATURES, cdw10=FID_INTERRUPT_VECTOR_CONFIG,
                        cdw11=INTERRUPT_VECTOR_CONFIG.encode(iv=iv, cd=1))
        # blk_mq_pci_map_queues: each CPU of vector i's managed mask uses queue i.
        self.cpu_queue = [1] * ncpu
        for qid in range(1, n_io + 1):
            for c in k.irqs[self.queues[qid].irq].affinity or []:
                self.cpu_queue[c] = qid
        polled_ids = list(range(n_io + 1, total + 1))
        self.cpu_poll_queue = [polled_ids[c % len(polled_ids)] if polled_ids else 0
                               for c in range(ncpu)]

    # -- locks: a queue shared by CPUs is serialised in simulated time ----------------
    def _lock(self, q: QueuePair, which: str) -> None:
        """spin_lock: while another section holds it, spin reading the lock's cache line
        (each read lets the engine run the holder); the check-and-take is one step."""
        k = self.k
        assert k is not None
        me = k.ctx.sw.current
        cpu = k.current_cpu
        while getattr(q, which) not in (None, me):
            cpu.read(q.lock_word, 8)
        setattr(q, which, me)

    @staticmethod
    def _unlock(q: QueuePair, which: str) -> None:
        setattr(q, which, None)

    # -- submission ----------------------------------------------------------------------
    def _sqe(self, q: QueuePair, opc: int, cid: int, prp1: int = 0, cdw10: int = 0,
             cdw11: int = 0) -> None:
        """Store one 64-byte SQE at the tail and ring the tail doorbell."""
        k = self.k
        assert k is not None
        self._lock(q, "sq_owner")           # nvme_queue->sq_lock
        raw = bytearray(SQE_SIZE)
        raw[0:4] = (opc | cid << 16).to_bytes(4, "little")
        raw[SQE_PRP1_OFF:SQE_PRP1_OFF + 8] = prp1.to_bytes(8, "little")
        raw[SQE_CDW10_OFF:SQE_CDW10_OFF + 4] = cdw10.to_bytes(4, "little")
        raw[SQE_CDW11_OFF:SQE_CDW11_OFF + 4] = cdw11.to_bytes(4, "little")
        addr = q.sq + q.sq_tail * SQE_SIZE
        cpu = k.current_cpu
        for off in range(0, SQE_SIZE, 8):
            cpu.write(addr + off, 8, int.from_bytes(raw[off:off + 8], "little"))
        q.sq_tail = (q.sq_tail + 1) % q.depth
        k.writel(self.bar + DOORBELL_BASE + 8 * q.qid, q.sq_tail)
        self._unlock(q, "sq_owner")

    def _admin(self, opc: int, prp1: int = 0, cdw10: int = 0, cdw11: int = 0) -> int:
        """An admin command, waited for (the admin vector's handler records it; the wait
        polls CSTS so the engine runs meanwhile). Returns DW0 of its completion."""
        q = self.queues[0]
        cid = q.next_cid
        q.next_cid = (cid + 1) & 0xFFFF
        self._sqe(q, opc, cid, prp1, cdw10, cdw11)
        k = self.k
        assert k is not None
        for _ in range(100_000):
            if cid in self.admin_done:
                return self.admin_done.pop(cid)
            k.readl(self.bar + CSTS.offset)
        raise OSError(f"nvme: admin command {opc:#x} (cid {cid}) timed out")

    def submit(self, cpu: int, polled: bool = False,
               on_done: Callable[[Request], None] | None = None) -> Request:
        """Issue a read from CPU ``cpu`` (call from software running on it): on its
        blk-mq queue, or its polled queue (then spin until it completes)."""
        k = self.k
        assert k is not None
        qid = self.cpu_poll_queue[cpu] if polled else self.cpu_queue[cpu]
        if polled and not qid:
            raise OSError("nvme: no polled queues (poll_queues=0)")
        q = self.queues[qid]
        cpu_ = k.current_cpu
        while len(q.inflight) >= q.depth - 1:       # no free tag: wait for a completion
            cpu_.read(q.lock_word, 8)
        cid = q.next_cid
        q.next_cid = (cid + 1) & 0xFFFF
        req = Request(qid, cid, cpu, k.current_cpu.clock, polled, on_done=on_done)
        q.inflight[cid] = req
        k.spend(k.timing.nvme_sw_submit)
        self._sqe(q, IO_READ, cid)
        if polled:
            while req.t_done < 0:
                self._lock(q, "cq_owner")       # nvme_poll: cq_poll_lock
                self._reap(q, k.cpus[cpu])
                self._unlock(q, "cq_owner")
        return req

    def issue(self, cpu: int, polled: bool = False) -> None:
        """Start a request as a new section on CPU ``cpu`` (a task; a polled one spins in
        POLL context)."""
        k = self.k
        assert k is not None
        c = k.cpus[cpu]
        c.run(lambda _: self.submit(cpu, polled), kind=POLL if polled else "task")

    # -- completion ----------------------------------------------------------------------
    def _reap(self, q: QueuePair, cpu: Cpu) -> int:
        """Consume the CQEs whose phase matches; returns how many (nvme_process_cq)."""
        k = self.k
        assert k is not None
        n = 0
        while True:
            addr = q.cq + q.cq_head * CQE_SIZE
            dw3 = cpu.read(addr + 12, 4)
            if (dw3 >> 16) & 1 != q.phase:
                break
            cid = dw3 & 0xFFFF
            if q.qid == 0:
                self.admin_done[cid] = cpu.read(addr, 4)
            else:
                req = q.inflight.pop(cid, None)
                if req is not None:
                    k.spend(k.timing.nvme_sw_complete)
                    if req.cpu != cpu.index:
                        k.spend(line_transfer_ns(k.timing, k.topology, cpu.index, req.cpu))
                    req.t_done = cpu.clock
                    self.latencies["poll" if req.polled else "irq"].append(
                        req.t_done - req.t_submit)
                    q.completed += 1
                    if req.on_done is not None:
                        req.on_done(req)
            q.cq_head = (q.cq_head + 1) % q.depth
            if q.cq_head == 0:
                q.phase ^= 1
            n += 1
        if n:
            k.writel(self.bar + DOORBELL_BASE + 8 * q.qid + 4, q.cq_head)
        return n

    def _irq(self, irq: int, dev_id: Any) -> IrqReturn:
        k = self.k
        assert k is not None
        self.irq_calls += 1
        n = self._reap(self.queues[int(dev_id)], k.current_cpu)
        if not n:
            self.empty_irqs += 1
        return IRQ_HANDLED if n else IRQ_NONE
