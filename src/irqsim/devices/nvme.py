"""An NVMe-like controller: admin + I/O queue pairs in host memory, MSI-X completion
interrupts with aggregation (NVM Express Base 2.0; registers in ``irqsim.spec.nvme``).

BAR0 holds the controller registers (CAP, VS, CC, CSTS, AQA, ASQ, ACQ) and the doorbells
(DSTRD 0: SQ y tail at 0x1000 + 8y, CQ y head at 0x1004 + 8y); BAR4 the MSI-X table and PBA
(one vector per I/O completion queue plus vector 0 for the admin queue, as QEMU's nvme).

A tail doorbell write makes the controller fetch the new submission entries (a DMA read:
one non-posted round trip, ``device_mmio_read``, modelled as a read of the board's RAM at
the end of it). Admin commands (Create I/O CQ/SQ, Set Features 07h/08h/09h) complete at
once; reads and writes after ``nvme_media_read``. A completion is a 16-byte CQE written by
DMA (posted, so it lands before the interrupt that follows it) with the queue's phase tag.
Interrupts: a CQ created with IEN=0 never interrupts (a polled queue); the admin CQ and a
vector with coalescing disabled (feature 09h CD) interrupt per completion; otherwise the
aggregation of feature 08h applies per vector: with TIME = 0 no delay; else the interrupt
fires when THR+1 entries have accumulated or TIME x 100 us after the first of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from irqsim.fabric.memory import SystemMemory
from irqsim.pci.config import BarSpec
from irqsim.pci.function import PciFunction
from irqsim.pci.msix import MsixCapability
from irqsim.sim.context import SimContext
from irqsim.sim.rules import rule
from irqsim.spec.nvme import (
    ACQ,
    ADMIN_CREATE_IO_CQ,
    ADMIN_CREATE_IO_SQ,
    ADMIN_SET_FEATURES,
    AGGREGATION_TIME_UNIT_NS,
    AQA,
    ASQ,
    CAP,
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
    IO_WRITE,
    NUMBER_OF_QUEUES,
    NVME_CLASS,
    SQE_CDW0,
    SQE_CDW10_OFF,
    SQE_CDW11_OFF,
    SQE_PRP1_OFF,
    SQE_SIZE,
    VS,
)

NVME_VENDOR, NVME_DEVICE = 0x1B36, 0x0010          # QEMU's NVM Express controller IDs
BAR0_SIZE = 0x4000

R_BAD_QUEUE = rule("NVME-DOORBELL-INVALID-QUEUE", "NVMe 2.0 3.1.4.18",
                   "a doorbell write names a queue that does not exist")
R_BAD_OPCODE = rule("NVME-INVALID-OPCODE", "NVMe 2.0 4.2.3 (status 01h)",
                    "a submission entry carries an opcode the controller does not implement")
R_CQ_FULL = rule("NVME-CQ-FULL", "NVMe 2.0 4.2.4",
                 "the controller has a completion to post but the completion queue is full")

STATUS_SUCCESS, STATUS_INVALID_OPCODE, STATUS_INVALID_FIELD = 0x0, 0x1, 0x2


@dataclass(slots=True)
class SubQueue:
    base: int
    size: int
    cqid: int
    head: int = 0
    tail: int = 0


@dataclass(slots=True)
class CompQueue:
    base: int
    size: int
    iv: int
    ien: bool
    tail: int = 0
    head: int = 0
    phase: int = 1


@dataclass(slots=True)
class VectorAgg:
    """Per-vector aggregation state (feature 08h counts per interrupt vector)."""

    count: int = 0
    timer: Any = None
    cd: bool = False                 # coalescing disabled (feature 09h)


@dataclass
class NvmeStats:
    commands: int = 0
    completions: int = 0
    interrupts: int = 0              # vector signals sent to the MSI-X capability
    aggregated: int = 0              # completions that did not signal on their own
    by_cause: dict[str, int] = field(default_factory=lambda: {"immediate": 0, "threshold": 0,
                                                              "time": 0})


class NvmeRegs:
    """BAR0: controller registers and doorbells."""

    def __init__(self, dev: NvmeController) -> None:
        self.dev = dev

    def mmio_read(self, offset: int, size: int) -> int:
        d = self.dev
        vals = {CAP.offset: d.cap, VS.offset: VS.reset, CC.offset: d.cc,
                CSTS.offset: d.csts, AQA.offset: d.aqa, ASQ.offset: d.asq,
                ACQ.offset: d.acq}
        for off, v in vals.items():
            width = 8 if off in (CAP.offset, ASQ.offset, ACQ.offset) else 4
            if off <= offset < off + width:
                return (v >> (8 * (offset - off))) & ((1 << (8 * size)) - 1)
        return 0

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        d = self.dev
        if offset >= DOORBELL_BASE:
            d.doorbell((offset - DOORBELL_BASE) // 4, value & 0xFFFF)
        elif offset == CC.offset:
            d.write_cc(value & CC.wmask)
        elif offset == AQA.offset:
            d.aqa = value & AQA.wmask
        elif ASQ.offset <= offset < ASQ.offset + 8:
            d.asq = _merge(d.asq, offset - ASQ.offset, size, value) & ASQ.wmask
        elif ACQ.offset <= offset < ACQ.offset + 8:
            d.acq = _merge(d.acq, offset - ACQ.offset, size, value) & ACQ.wmask


def _merge(old: int, byte: int, size: int, value: int) -> int:
    mask = ((1 << (8 * size)) - 1) << (8 * byte)
    return (old & ~mask) | ((value << (8 * byte)) & mask)


class NvmeController(PciFunction):
    """An NVMe controller with ``io_queues`` interrupt vectors for I/O completion queues
    (plus vector 0, admin) and room for ``max_queues`` I/O queue pairs (polled ones too)."""

    def __init__(self, ctx: SimContext, memory: SystemMemory, io_queues: int = 8,
                 max_queues: int | None = None, name: str = "nvme0",
                 mqes: int = 1023) -> None:
        super().__init__(ctx, name, NVME_VENDOR, NVME_DEVICE, NVME_CLASS,
                         bars=(BarSpec(0, BAR0_SIZE, is64=True), BarSpec(4, 0x1000, is64=True)),
                         interrupt_pin=1)
        self.memory = memory
        self.max_queues = max_queues if max_queues is not None else io_queues + 4
        self.cap = CAP.encode(mqes=mqes, cqr=1, to=20, dstrd=0, css=1)
        self.cc = 0
        self.csts = 0
        self.aqa = self.asq = self.acq = 0
        self.map_region(0, 0, BAR0_SIZE, NvmeRegs(self))
        self.msix = MsixCapability(self, 0x70, io_queues + 1, 4, 0, 4, 0x800)
        self.sqs: dict[int, SubQueue] = {}
        self.cqs: dict[int, CompQueue] = {}
        self.agg_thr = 0
        self.agg_time = 0
        self.vectors = [VectorAgg() for _ in range(io_queues + 1)]
        self.stats = NvmeStats()
        t = ctx.timing
        self._fetch_ns = t.device_mmio_read
        self._media_ns = t.nvme_media_read
        self._fetching: set[int] = set()

    # -- controller enable ------------------------------------------------------------
    def write_cc(self, value: int) -> None:
        was = self.cc & 1
        self.cc = value
        if value & 1 and not was:
            asqs = AQA.field("asqs").get(self.aqa) + 1
            acqs = AQA.field("acqs").get(self.aqa) + 1
            self.cqs = {0: CompQueue(self.acq, acqs, 0, True)}
            self.sqs = {0: SubQueue(self.asq, asqs, 0)}
            self.csts |= 1                              # RDY
        elif not value & 1 and was:
            self.sqs.clear()
            self.cqs.clear()
            for v in self.vectors:
                if v.timer is not None:
                    self.ctx.engine.cancel(v.timer)
                v.count, v.timer = 0, None
            self.csts &= ~1

    # -- doorbells -------------------------------------------------------------------------
    def doorbell(self, index: int, value: int) -> None:
        qid, is_cq = divmod(index, 2)
        if is_cq:
            cq = self.cqs.get(qid)
            if cq is None:
                self.ctx.diag(self.name, R_BAD_QUEUE, f"CQ {qid} head doorbell: no such CQ")
                return
            cq.head = value % cq.size
            return
        sq = self.sqs.get(qid)
        if sq is None:
            self.ctx.diag(self.name, R_BAD_QUEUE, f"SQ {qid} tail doorbell: no such SQ")
            return
        sq.tail = value % sq.size
        if qid not in self._fetching:
            self._fetching.add(qid)
            self.ctx.engine.after(self._fetch_ns, self._fetch, qid)

    def _fetch(self, qid: int) -> None:
        """The fetched entries arrive (one DMA read round trip after the doorbell)."""
        self._fetching.discard(qid)
        sq = self.sqs.get(qid)
        if sq is None:
            return
        while sq.head != sq.tail:
            raw = self.memory.read_bytes(sq.base + sq.head * SQE_SIZE, SQE_SIZE)
            sq.head = (sq.head + 1) % sq.size
            self._execute(qid, sq, raw)

    def _execute(self, qid: int, sq: SubQueue, raw: bytes) -> None:
        self.stats.commands += 1
        cdw0 = int.from_bytes(raw[0:4], "little")
        opc, cid = SQE_CDW0.field("opc").get(cdw0), SQE_CDW0.field("cid").get(cdw0)
        cdw10 = int.from_bytes(raw[SQE_CDW10_OFF:SQE_CDW10_OFF + 4], "little")
        cdw11 = int.from_bytes(raw[SQE_CDW11_OFF:SQE_CDW11_OFF + 4], "little")
        prp1 = int.from_bytes(raw[SQE_PRP1_OFF:SQE_PRP1_OFF + 8], "little")
        result, status = 0, STATUS_SUCCESS
        if qid == 0:
            if opc == ADMIN_CREATE_IO_CQ:
                q = CREATE_CQ_CDW10.field("qid").get(cdw10)
                size = CREATE_CQ_CDW10.field("qsize").get(cdw10) + 1
                iv = CREATE_CQ_CDW11.field("iv").get(cdw11)
                if not 1 <= q <= self.max_queues or iv >= len(self.vectors):
                    status = STATUS_INVALID_FIELD
                else:
                    self.cqs[q] = CompQueue(prp1, size, iv,
                                            bool(CREATE_CQ_CDW11.field("ien").get(cdw11)))
            elif opc == ADMIN_CREATE_IO_SQ:
                q = CREATE_CQ_CDW10.field("qid").get(cdw10)
                size = CREATE_CQ_CDW10.field("qsize").get(cdw10) + 1
                cqid = CREATE_SQ_CDW11.field("cqid").get(cdw11)
                if cqid not in self.cqs or not 1 <= q <= self.max_queues:
                    status = STATUS_INVALID_FIELD
                else:
                    self.sqs[q] = SubQueue(prp1, size, cqid)
            elif opc == ADMIN_SET_FEATURES:
                result, status = self._set_feature(cdw10 & 0xFF, cdw11)
            else:
                status = STATUS_INVALID_OPCODE
            if status == STATUS_INVALID_OPCODE:
                self.ctx.diag(self.name, R_BAD_OPCODE, f"admin opcode {opc:#04x}")
            self._complete((qid, sq.head, cid, result, status))
            return
        if opc in (IO_READ, IO_WRITE):
            self.ctx.engine.after(self._media_ns, self._complete,
                                  (qid, sq.head, cid, 0, STATUS_SUCCESS))
            return
        self.ctx.diag(self.name, R_BAD_OPCODE, f"I/O opcode {opc:#04x} on SQ {qid}")
        self._complete((qid, sq.head, cid, 0, STATUS_INVALID_OPCODE))

    def _set_feature(self, fid: int, cdw11: int) -> tuple[int, int]:
        if fid == FID_NUMBER_OF_QUEUES:
            n = self.max_queues - 1
            nsq = min(NUMBER_OF_QUEUES.field("nsqr").get(cdw11), n)
            ncq = min(NUMBER_OF_QUEUES.field("ncqr").get(cdw11), n)
            return NUMBER_OF_QUEUES.encode(nsqr=nsq, ncqr=ncq), STATUS_SUCCESS
        if fid == FID_INTERRUPT_COALESCING:
            self.agg_thr = INTERRUPT_COALESCING.field("thr").get(cdw11)
            self.agg_time = INTERRUPT_COALESCING.field("time").get(cdw11)
            return 0, STATUS_SUCCESS
        if fid == FID_INTERRUPT_VECTOR_CONFIG:
            iv = INTERRUPT_VECTOR_CONFIG.field("iv").get(cdw11)
            if iv >= len(self.vectors):
                return 0, STATUS_INVALID_FIELD
            self.vectors[iv].cd = bool(INTERRUPT_VECTOR_CONFIG.field("cd").get(cdw11))
            return 0, STATUS_SUCCESS
        return 0, STATUS_INVALID_FIELD

    # -- completions and interrupts ------------------------------------------------------
    def _complete(self, arg: tuple[int, int, int, int, int]) -> None:
        sqid, sqhd, cid, result, status = arg
        sq = self.sqs.get(sqid)
        cq = self.cqs.get(sq.cqid) if sq is not None else None
        if cq is None:
            return                                   # the queue was deleted meanwhile
        if (cq.tail + 1) % cq.size == cq.head:
            self.ctx.diag(self.name, R_CQ_FULL, f"CQ {sq.cqid if sq else '?'} full: "
                          "completion dropped")
            return
        now = self.ctx.engine.now
        dw3 = cid | cq.phase << 16 | status << 17
        cqe = (result.to_bytes(4, "little") + bytes(4)
               + (sqhd | sqid << 16).to_bytes(4, "little") + dw3.to_bytes(4, "little"))
        self.dma_write(cq.base + cq.tail * CQE_SIZE, cqe, now)
        cq.tail = (cq.tail + 1) % cq.size
        if cq.tail == 0:
            cq.phase ^= 1
        self.stats.completions += 1
        if self.ctx.tracer.on:
            self.ctx.tracer.emit(now, self.name, self.name, "device-event",
                                 what=f"completion on CQ {sq.cqid if sq else '?'}")
        if not cq.ien:
            return
        vec = self.vectors[cq.iv]
        if sq is not None and (sq.cqid == 0 or vec.cd or self.agg_time == 0):
            self._fire(cq.iv, "immediate")
            return
        vec.count += 1
        if vec.count >= self.agg_thr + 1:
            self._fire(cq.iv, "threshold")
        elif vec.timer is None:
            self.stats.aggregated += 1
            vec.timer = self.ctx.engine.after(self.agg_time * AGGREGATION_TIME_UNIT_NS,
                                              self._time_up, cq.iv)
        else:
            self.stats.aggregated += 1

    def _time_up(self, iv: int) -> None:
        self.vectors[iv].timer = None
        if self.vectors[iv].count:
            self._fire(iv, "time")

    def _fire(self, iv: int, cause: str) -> None:
        vec = self.vectors[iv]
        vec.count = 0
        if vec.timer is not None:
            self.ctx.engine.cancel(vec.timer)
            vec.timer = None
        self.stats.interrupts += 1
        self.stats.by_cause[cause] += 1
        if self.msix.enabled:
            self.msix.signal(iv, self.ctx.engine.now)
        else:
            self.intx_raise(self.ctx.engine.now)
