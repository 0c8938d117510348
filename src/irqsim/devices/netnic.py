"""A multi-queue Ethernet NIC: RSS, descriptor rings in host memory, per-queue interrupt
moderation with auto-mask, one MSI-X vector per queue pair plus a misc vector.

Registers are declared in :mod:`irqsim.spec.nic`. Receive path, per packet (batched: see
:mod:`irqsim.net.traffic`):

1. the frame's last bit arrives at instant ``a``; RSS picks its queue (Toeplitz over the
   flow's tuple, indirection table);
2. the packet and its descriptor are DMA-written by ``a + nic_rx_dma`` (the completion) if
   the ring has a free descriptor (head - tail < ring size), else it is dropped (missed);
3. the queue's moderation (:func:`irqsim.net.moderation.fire_time`) decides when the vector
   fires; when it fires the device writes the head index to the write-back address (a posted
   DMA write on the link, so it lands before the interrupt message behind it), masks the
   vector itself if EIAM says so (auto-mask) and signals its MSI-X entry. The driver
   re-enables it by writing EIMS.

Completions are materialised lazily: the head write-back word in host memory is brought up
to date whenever software reads its page (a memory watch) or the device fires, with the
value the per-packet DMA writes would have left there by that instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from irqsim.net.moderation import fire_time
from irqsim.net.rss import Packet, Rss
from irqsim.pci.config import BarSpec
from irqsim.pci.function import PciFunction
from irqsim.pci.msi import MsiCapability
from irqsim.pci.msix import MsixCapability
from irqsim.sim.context import SimContext
from irqsim.sim.rules import rule
from irqsim.spec.nic import (
    COAL_FRAMES,
    COAL_MODE,
    COAL_USECS,
    CTRL,
    EIAM,
    EIMC,
    EIMS,
    EIMS_STATUS,
    EITR,
    ICR,
    MAX_QUEUES,
    MODE_ABSOLUTE,
    MODE_NONE,
    MODE_PACKET,
    MSIX_PBA_OFF,
    MSIX_TABLE_OFF,
    NIC_BAR_SIZE,
    NIC_CLASS,
    NIC_DEVICE,
    NIC_MSI_CAP,
    NIC_VENDOR,
    QUEUE_STRIDE,
    RDBA,
    RDH,
    RDHWB,
    RDLEN,
    RDT,
    TCOAL_FRAMES,
    TCOAL_USECS,
    TDHWB,
    TDT,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from irqsim.fabric.memory import SystemMemory
    from irqsim.net.traffic import Traffic

R_RING_FULL = rule("NIC-RX-RING-FULL", "82599 datasheet 7.1 (RX missed packets)",
                   "a packet arrives while every RX descriptor is owned by the device")
R_TAIL = rule("NIC-RDT-BEYOND-RING", "82599 datasheet 8.2.3.8 RDT",
              "the driver moved the tail past descriptors it has not reaped")

ICR_LINK = ICR.mask("link_change")
ICR_RTXQ = ICR.mask("rtxq")
_Q0 = RDBA.offset
_QEND = _Q0 + QUEUE_STRIDE * MAX_QUEUES


@dataclass
class RxQueue:
    """One receive queue's device state."""

    index: int
    arrivals: Any = None                    # QueueArrivals
    rdba: int = 0
    size: int = 0
    hwb: int = 0
    head: int = 0                           # absolute: packets written to the ring
    tail: int = 0                           # absolute: descriptors handed back (RDT)
    reaped: int = 0                         # absolute: descriptors the driver has read
    synced: int = -1                        # completions materialised up to this instant
    usecs_ns: int = 0
    frames: int = 1
    mode: int = MODE_ABSOLUTE
    itr_ns: int = 0
    last_fire: int = -(1 << 62)
    fire_handle: int | None = None
    # per-packet mode's incremental moderation state (see NetNic.per_packet)
    pp_n: int = 0
    pp_first: int = 0
    pp_lastc: int = 0
    # transmit side of the pair: completions (instants the frame left the wire, write-back
    # done), posted/completed counts, head write-back, TX coalescing
    txc: Any = None                         # QueueArrivals of completion instants
    tx_tail: int = 0
    tx_head: int = 0
    tx_synced: int = -1
    tx_hwb: int = 0
    tx_usecs_ns: int = 0
    tx_frames: int = 0
    pp_tx_n: int = 0
    pp_tx_first: int = 0
    pp_tx_lastc: int = 0
    masked: bool = True
    stats: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("rx_packets", "rx_bytes", "rx_missed", "interrupts", "unmasks", "tx_packets",
         "tx_bytes"), 0))


class NetNic(PciFunction):
    """``queues`` RX/TX queue pairs; MSI-X entries 0..queues-1 for the pairs and entry
    ``queues`` for link/misc causes."""

    def __init__(self, ctx: SimContext, memory: SystemMemory, queues: int = 8,
                 name: str = "eth0", numa_node: int = 0, rss: Rss | None = None,
                 per_packet: bool = False, msi: bool = False) -> None:
        """``per_packet``: every completion is an engine event and moderation is the
        incremental state machine a device runs (counters, timers restarted per the mode);
        the reference the batched (analytic) path is tested against, for low rates.
        ``msi``: the function also has an MSI capability (one message). With MSI-X off the
        NIC signals every cause (queue pairs as ICR RTxQ bits, link) through that one MSI
        message, or with MSI off too through its INTx pin, asserted while ICR holds a cause
        (82599 datasheet 7.3.1: legacy and MSI modes report causes in EICR)."""
        if not 1 <= queues <= MAX_QUEUES:
            raise ValueError(f"queues must be 1..{MAX_QUEUES}, got {queues}")
        super().__init__(ctx, name, NIC_VENDOR, NIC_DEVICE, NIC_CLASS,
                         bars=(BarSpec(0, NIC_BAR_SIZE, is64=True),), interrupt_pin=1)
        self.nq = queues
        self.numa_node = numa_node
        self.memory = memory
        self.msix = MsixCapability(self, 0x70, queues + 1, 0, MSIX_TABLE_OFF, 0, MSIX_PBA_OFF)
        self.msi = MsiCapability(self, NIC_MSI_CAP, 1) if msi else None
        self.map_region(0, 0, MSIX_TABLE_OFF, _Regs(self))
        self.rss = rss or Rss(queues)
        self.queues = [RxQueue(i) for i in range(queues)]
        self.eiam = 0
        self.icr = 0
        self.link_up = True
        self.traffic: Traffic | None = None
        self.flow_queue: NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self.flow_size: NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self.dma_ns = ctx.timing.nic_rx_dma
        self.per_packet = per_packet
        self.last_reaped_flows: NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self.tx_free = 0.0                       # the instant the transmit wire is free
        self.gbps = 10.0
        self._tx_stage: list[list[int]] = [[] for _ in range(queues)]
        from irqsim.net.traffic import QueueArrivals
        for rq in self.queues:
            rq.txc = QueueArrivals()

    # -- traffic ---------------------------------------------------------------------
    def connect(self, traffic: Traffic) -> None:
        """Plug the port into ``traffic``: each flow's queue comes from RSS."""
        from irqsim.net.traffic import QueueArrivals
        self.traffic = traffic
        qs = []
        for f in traffic.flows:
            _, q = self.rss.classify(Packet(f.src, f.dst, f.proto, f.sport, f.dport))
            qs.append(q)
        self.flow_queue = np.array(qs, dtype=np.int64)
        self.flow_size = np.array([f.size for f in traffic.flows], dtype=np.int64)
        for rq in self.queues:
            rq.arrivals = QueueArrivals()
        self.gbps = traffic.gbps
        traffic.attach(self)
        if self.per_packet:
            traffic.generate_until(traffic.stop)

    def set_rxfh(self, equal: int | None = None, weights: list[int] | None = None,
                  key: bytes | None = None) -> None:
        """``ethtool -X``: rewrite the indirection table (``equal N`` or ``weight ...``)
        and/or the key; flows then hash to their new queues (packets already generated
        keep theirs, as packets already in a ring do)."""
        if equal is not None:
            self.rss.equal(equal)
        if weights is not None:
            self.rss.weight(weights)
        if key is not None:
            self.rss.set_key(key)
        if self.traffic is not None:
            self.flow_queue = np.array(
                [self.rss.classify(Packet(f.src, f.dst, f.proto, f.sport, f.dport))[1]
                 for f in self.traffic.flows], dtype=np.int64)

    def receive_batch(self, times: NDArray[np.int64], flows: NDArray[np.int32]) -> None:
        """Frames from the wire (instants of their last bit), split by RSS queue."""
        fq = self.flow_queue[flows]
        # Grouped by queue in one stable sort (each queue's frames keep their order), so
        # each queue takes a slice instead of a boolean selection of the whole batch.
        order = np.argsort(fq.astype(np.uint8) if self.nq < 256 else fq, kind="stable")
        ends = np.cumsum(np.bincount(fq, minlength=self.nq)).tolist()
        times, flows = times[order], flows[order]
        sizes = self.flow_size[flows]
        flows64 = flows.astype(np.int64)
        for q in self.queues:
            i = q.index
            a, b = (ends[i - 1] if i else 0), ends[i]
            keep = min(q.reaped, q.arrivals.index_after(q.last_fire - self.dma_ns))
            q.arrivals.append(times[a:b], sizes[a:b], keep, flows64[a:b])
            if self.per_packet:
                at = self.ctx.engine.at
                for t in (times[a:b] + self.dma_ns).tolist():
                    at(t, self._pp_complete, q)

    def _need(self, q: RxQueue, upto_t: int | None = None, count_from: int = 0,
              n: int = 0) -> None:
        """Generate traffic until the queue knows every arrival before ``upto_t`` or has
        ``n`` arrivals from absolute index ``count_from``."""
        tr = self.traffic
        if tr is None:
            return
        if upto_t is not None:
            tr.generate_until(upto_t)
        while n and len(q.arrivals) - count_from < n and not tr.done:
            tr.generate_until(tr.gen_t)

    # -- the ring --------------------------------------------------------------------
    def sync(self, q: RxQueue, t: int) -> None:
        """Materialise DMA completions up to instant ``t``: head moves over the packets
        whose completion is due (ring space permitting, the rest are missed) and the head
        write-back word in memory shows it."""
        if q.arrivals is None or t <= q.synced:
            return
        self._need(q, t - self.dma_ns + 1)
        arr = q.arrivals
        upto = arr.base + int(arr.times.searchsorted(t - self.dma_ns, "right"))
        new = upto - q.head
        if new > 0:
            space = q.size - (q.head - q.tail) if q.size else 0
            acc = min(new, max(space, 0))
            if acc < new:
                arr.delete(q.head + acc, upto)
                q.stats["rx_missed"] += new - acc
                self.ctx.diag(self.name, R_RING_FULL,
                              f"queue {q.index}: {new - acc} packet(s) missed")
            if acc:
                q.stats["rx_packets"] += acc
                q.head += acc
        q.synced = t
        if q.hwb:
            self.memory.write(q.hwb, 4, q.head & 0xFFFFFFFF)

    def _watch(self, q: RxQueue) -> None:
        self.sync(q, self.ctx.engine.now)

    def _tx_watch(self, q: RxQueue) -> None:
        self.tx_sync(q, self.ctx.engine.now)

    def reap(self, qi: int, n: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """The ``n`` descriptors after the driver's last reaped one: each packet's arrival
        instant (the RX hardware timestamp the descriptor carries) and size. The driver
        hands them back with RDT afterwards."""
        q = self.queues[qi]
        start = q.reaped
        n = max(0, min(n, q.head - start))
        q.reaped = start + n
        self.last_reaped_flows = q.arrivals.flows_of(start, start + n)
        times, sizes = q.arrivals.slice(start, start + n)
        q.stats["rx_bytes"] += int(np.add.reduce(sizes))    # sizes.sum() minus its wrapper
        return times, sizes

    # -- transmit -------------------------------------------------------------------
    def tx_descriptors(self, qi: int, sizes: list[int]) -> None:
        """The frame sizes of descriptors the driver wrote to queue ``qi``'s TX ring (what
        the device reads when the tail moves)."""
        self._tx_stage[qi].extend(sizes)

    def _tx_tail(self, q: RxQueue, value: int) -> None:
        """TDT: transmit the newly posted descriptors back to back on the port's wire
        (after a descriptor + data fetch of ``nic_rx_dma``); each completes when its last
        bit has left."""
        new = (value - q.tx_tail) & 0xFFFFFFFF
        stage = self._tx_stage[q.index]
        sizes, self._tx_stage[q.index] = stage[:new], stage[new:]
        if len(sizes) < new:
            sizes += [64] * (new - len(sizes))
        q.tx_tail += new
        now = self.ctx.engine.now
        t = float(max(now + self.dma_ns, self.tx_free))
        done = []
        for sz in sizes:
            t += (sz + 20) * 8 / self.gbps
            done.append(int(t))
        self.tx_free = t
        if done:
            arr = np.array(done, dtype=np.int64)
            keep = min(q.tx_head, q.txc.index_after(q.last_fire))
            q.txc.append(arr, np.array(sizes, dtype=np.int64), keep)
            q.stats["tx_packets"] += len(done)
            q.stats["tx_bytes"] += sum(sizes)
            if self.per_packet:
                for c in done:
                    self.ctx.engine.at(c, self._pp_tx_complete, q)
            else:
                self._schedule(q)

    def tx_sync(self, q: RxQueue, t: int) -> None:
        """Materialise TX completions up to ``t`` into the TX head write-back word."""
        if t <= q.tx_synced:
            return
        q.tx_head = q.txc.index_after(t)
        q.tx_synced = t
        if q.tx_hwb:
            self.memory.write(q.tx_hwb, 4, q.tx_head & 0xFFFFFFFF)

    def _pp_tx_complete(self, q: RxQueue) -> None:
        now = self.ctx.engine.now
        q.pp_tx_n += 1
        if q.pp_tx_n == 1:
            q.pp_tx_first = now
        q.pp_tx_lastc = now
        self._schedule(q)

    def next_completion(self, qi: int, after: int) -> int | None:
        """When the next packet's DMA completes after instant ``after`` (None: the traffic
        has ended). Used by pollers that spin on an empty ring, to skip the identical
        empty iterations in one step."""
        q = self.queues[qi]
        i = q.arrivals.index_after(after - self.dma_ns)
        self._need(q, count_from=i, n=1)
        times, _ = q.arrivals.slice(i, i + 1)
        return int(times[0]) + self.dma_ns if len(times) else None

    # -- moderation ------------------------------------------------------------------
    def _pp_complete(self, q: RxQueue) -> None:
        """Per-packet mode: one completion now."""
        now = self.ctx.engine.now
        self.sync(q, now)
        q.pp_n += 1
        if q.pp_n == 1:
            q.pp_first = now
        q.pp_lastc = now
        self._schedule(q)

    def _pp_due(self, q: RxQueue) -> int | None:
        """Per-packet mode: when the counters and timers say the vector fires (the earlier
        of the RX and TX decisions)."""
        rx = self._pp_dir(q, q.pp_n, q.pp_first, q.pp_lastc, q.usecs_ns, q.frames)
        tx = self._pp_dir(q, q.pp_tx_n, q.pp_tx_first, q.pp_tx_lastc, q.tx_usecs_ns,
                          q.tx_frames) if q.tx_usecs_ns or q.tx_frames else None
        due = rx if tx is None else tx if rx is None else min(rx, tx)
        if due is None:
            return None
        if q.itr_ns:
            due = max(due, q.last_fire + q.itr_ns)
        return max(due, self.ctx.engine.now)

    def _pp_dir(self, q: RxQueue, n: int, first: int, lastc: int, usecs: int,
                frames: int) -> int | None:
        if not n:
            return None
        now = self.ctx.engine.now
        if frames > 0 and n >= frames:
            return now
        if q.mode == MODE_NONE or (usecs == 0 and frames <= 1):
            return first
        if usecs == 0:
            return None
        if q.mode == MODE_ABSOLUTE:
            return first + usecs
        if q.mode == MODE_PACKET:
            return lastc + usecs
        return max(first, q.last_fire + usecs)

    def _schedule(self, q: RxQueue) -> None:
        """(Re)compute when the unmasked queue fires next and schedule it."""
        eng = self.ctx.engine
        if self.per_packet:
            if q.fire_handle is not None:
                eng.cancel(q.fire_handle)
                q.fire_handle = None
            due = None if q.masked else self._pp_due(q)
            if due is not None:
                q.fire_handle = eng.at(due, self._fire, q)
            return
        if q.fire_handle is not None:
            eng.cancel(q.fire_handle)
            q.fire_handle = None
        if q.masked:
            return
        t = None
        if q.arrivals is not None:                  # None: no receive traffic plugged in
            dma = self.dma_ns
            start = q.arrivals.index_after(q.last_fire - dma)

            def comps(n: int) -> list[int]:
                self._need(q, count_from=start, n=n)
                times, _ = q.arrivals.slice(start, start + n)
                return (times + dma).tolist()

            def nth(i: int) -> int | None:
                self._need(q, count_from=start, n=i + 1)
                return q.arrivals.at(start + i, dma)

            t = fire_time(q.mode, q.usecs_ns, q.frames, q.itr_ns, q.last_fire, comps,
                          eng.now, nth)
        if q.tx_usecs_ns or q.tx_frames:
            tstart = q.txc.index_after(q.last_fire)

            def tx_comps(n: int) -> list[int]:
                times, _ = q.txc.slice(tstart, tstart + n)
                return list(times.tolist())

            def tx_nth(i: int) -> int | None:
                return q.txc.at(tstart + i, 0)

            tt = fire_time(q.mode, q.tx_usecs_ns, q.tx_frames, q.itr_ns, q.last_fire,
                           tx_comps, eng.now, tx_nth)
            if tt is not None and (t is None or tt < t):
                t = tt
        if t is not None:
            q.fire_handle = eng.at(t, self._fire, q)

    def _fire(self, q: RxQueue) -> None:
        q.fire_handle = None
        now = self.ctx.engine.now
        self.sync(q, now)
        q.last_fire = now
        q.pp_n = q.pp_tx_n = 0
        q.stats["interrupts"] += 1
        if q.hwb and self.bus_master:
            self.dma_write(q.hwb, (q.head & 0xFFFFFFFF).to_bytes(4, "little"), now)
        if q.tx_hwb and self.bus_master:
            self.tx_sync(q, now)
            self.dma_write(q.tx_hwb, (q.tx_head & 0xFFFFFFFF).to_bytes(4, "little"), now)
        if self.eiam >> q.index & 1:
            q.masked = True
        if self.ctx.tracer.on:
            self.ctx.tracer.emit(now, self.name, self.name, "device-event",
                                 what=f"rx queue {q.index} interrupt (head {q.head})")
        self._signal(q.index, (1 << q.index) & ICR_RTXQ, now)
        if not q.masked:
            self._schedule(q)

    def _signal(self, entry: int, cause: int, now: int | None = None) -> None:
        """Raise MSI-X entry ``entry``; with MSI-X off, record ``cause`` in ICR and raise
        the MSI message or assert INTx (the wire stays asserted until ICR is read)."""
        if self.msix_on:
            self.msix.signal(entry, now)
            return
        self.icr |= cause
        if self.msi is not None and self.msi_on:
            self.msi.signal(0, now)
        elif not self.intx_status:
            self.intx_raise(now)

    def link_change(self, up: bool) -> None:
        """Link state changed: ICR cause and the misc vector."""
        self.link_up = up
        self.icr |= ICR_LINK
        self._signal(self.nq, ICR_LINK)

    # -- register file --------------------------------------------------------------
    def reg_read(self, off: int) -> int:
        if off == CTRL.offset:
            return int(self.link_up) << 1
        if off == ICR.offset:
            v, self.icr = self.icr, 0               # read-to-clear, as Intel ICRs are
            if self.intx_status:
                self.intx_clear()                   # no cause left: deassert INTx
            return v
        if off == EIAM.offset:
            return self.eiam
        if off == EIMS_STATUS.offset:
            return sum(1 << q.index for q in self.queues if not q.masked)
        if _Q0 <= off < _Q0 + QUEUE_STRIDE * self.nq:
            q = self.queues[(off - _Q0) // QUEUE_STRIDE]
            r = (off - _Q0) % QUEUE_STRIDE + _Q0
            if r == RDH.offset:
                self.sync(q, self.ctx.engine.now)
                return q.head % q.size if q.size else 0
            if r == RDT.offset:
                return q.tail & 0xFFFFFFFF
            return {RDLEN.offset: q.size, COAL_USECS.offset: q.usecs_ns,
                    COAL_FRAMES.offset: q.frames, COAL_MODE.offset: q.mode,
                    EITR.offset: q.itr_ns, RDBA.offset: q.rdba & 0xFFFFFFFF,
                    RDBA.offset + 4: q.rdba >> 32, RDHWB.offset: q.hwb & 0xFFFFFFFF,
                    RDHWB.offset + 4: q.hwb >> 32}.get(r, 0)
        return 0

    def reg_write(self, off: int, value: int) -> None:
        if off == EIMS.offset:
            for q in self.queues:
                if value >> q.index & 1 and q.masked:
                    q.masked = False
                    q.stats["unmasks"] += 1
                    self._schedule(q)
            return
        if off == EIMC.offset:
            for q in self.queues:
                if value >> q.index & 1:
                    q.masked = True
                    self._schedule(q)
            return
        if off == EIAM.offset:
            self.eiam = value
            return
        if off == CTRL.offset:
            self.link_up = bool(value & 2)
            return
        if not _Q0 <= off < _Q0 + QUEUE_STRIDE * self.nq:
            return
        q = self.queues[(off - _Q0) // QUEUE_STRIDE]
        r = (off - _Q0) % QUEUE_STRIDE + _Q0
        if r == RDT.offset:
            self._tail(q, value)
        elif r == TDT.offset:
            self._tx_tail(q, value)
        elif r in (TDHWB.offset, TDHWB.offset + 4):
            q.tx_hwb = (q.tx_hwb & ~0xFFFFFFFF) | value if r == TDHWB.offset else \
                (q.tx_hwb & 0xFFFFFFFF) | value << 32
            if q.tx_hwb:
                self.memory.watch(q.tx_hwb, 4, partial(self._tx_watch, q))
        elif r in (TCOAL_USECS.offset, TCOAL_FRAMES.offset):
            if r == TCOAL_USECS.offset:
                q.tx_usecs_ns = value
            else:
                q.tx_frames = value
            self._schedule(q)
        elif r == RDLEN.offset:
            q.size = value & 0xFFFF
        elif r == RDBA.offset:
            q.rdba = (q.rdba & ~0xFFFFFFFF) | value
        elif r == RDBA.offset + 4:
            q.rdba = (q.rdba & 0xFFFFFFFF) | value << 32
        elif r in (RDHWB.offset, RDHWB.offset + 4):
            q.hwb = (q.hwb & ~0xFFFFFFFF) | value if r == RDHWB.offset else \
                (q.hwb & 0xFFFFFFFF) | value << 32
            if q.hwb:
                self.memory.watch(q.hwb, 4, partial(self._watch, q))
        elif r in (COAL_USECS.offset, COAL_FRAMES.offset, COAL_MODE.offset, EITR.offset):
            if r == COAL_USECS.offset:
                q.usecs_ns = value
            elif r == COAL_FRAMES.offset:
                q.frames = value
            elif r == COAL_MODE.offset:
                q.mode = value & 3
            else:
                q.itr_ns = value
            self._schedule(q)

    def _tail(self, q: RxQueue, value: int) -> None:
        """RDT: the driver hands descriptors back. irqsim's RDT is a free-running 32-bit
        count of descriptors returned (not an index mod ring size): free descriptors =
        size - (head - tail)."""
        self.sync(q, self.ctx.engine.now)
        new = q.tail + ((value - q.tail) & 0xFFFFFFFF)
        if new > q.reaped:
            self.ctx.diag(self.name, R_TAIL, f"queue {q.index}: tail {value} beyond the "
                          f"{q.reaped} descriptors reaped")
            return
        q.tail = new

    def held(self) -> tuple[int, int]:
        """Packets the port holds: (arrived but not yet written to a ring — DMA not
        materialised, e.g. a frames-only threshold that the last packets never reach —,
        written to a ring but not yet reaped by the driver)."""
        dev = sum(len(q.arrivals) - q.head for q in self.queues if q.arrivals is not None)
        ring = sum(q.head - q.reaped for q in self.queues)
        return dev, ring

    def counters(self) -> dict[str, int]:
        """``ethtool -S``: per-queue and total counters."""
        out: dict[str, int] = {}
        for q in self.queues:
            for k, v in q.stats.items():
                d = "tx" if k.startswith("tx_") else "rx"
                out[f"{d}_queue_{q.index}_{k.removeprefix('rx_').removeprefix('tx_')}"] = v
        for k in ("rx_packets", "rx_bytes", "rx_missed", "interrupts", "tx_packets",
                  "tx_bytes"):
            out[k] = sum(q.stats[k] for q in self.queues)
        return out


class _Regs:
    """BAR0's register file below the MSI-X table (DWORD accesses)."""

    __slots__ = ("nic",)

    def __init__(self, nic: NetNic) -> None:
        self.nic = nic

    def mmio_read(self, offset: int, size: int) -> int:
        return self.nic.reg_read(offset)

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        self.nic.reg_write(offset, value)
