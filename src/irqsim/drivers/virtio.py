"""The virtio-pci driver (virtio 1.2, 3.1.1 initialization, 4.1.5 PCI specifics).

Finds the virtio structures through vendor capabilities, negotiates features,
sets up split virtqueues in memory, maps queues to MSI-X entries (config vector
NO_VECTOR as in seed 002), and handles used-ring completions. Without enough MSI-X
vectors it falls back, as Linux's vp_find_vqs does, to fewer vectors, then (an
irqsim extension) to MSI, then to INTx with one shared handler that reads ISR.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from irqsim.os.irq import IRQ_HANDLED, IRQ_NONE, IrqReturn
from irqsim.os.kernel import PCI_IRQ_ALL_TYPES
from irqsim.sim.rules import rule
from irqsim.spec.modes import IrqMode
from irqsim.spec.pci import CAP_ID_VENDOR
from irqsim.spec.virtio import (
    CAP_BAR,
    CAP_CFG_TYPE,
    CAP_OFFSET,
    CFG_COMMON,
    CFG_ISR,
    COMMON_CONFIG_MSIX_VECTOR,
    COMMON_DEVICE_FEATURE,
    COMMON_DEVICE_FEATURE_SELECT,
    COMMON_DEVICE_STATUS,
    COMMON_DRIVER_FEATURE,
    COMMON_DRIVER_FEATURE_SELECT,
    COMMON_NUM_QUEUES,
    COMMON_QUEUE_DESC,
    COMMON_QUEUE_DEVICE,
    COMMON_QUEUE_DRIVER,
    COMMON_QUEUE_ENABLE,
    COMMON_QUEUE_MSIX_VECTOR,
    COMMON_QUEUE_SELECT,
    COMMON_QUEUE_SIZE,
    NO_VECTOR,
    STATUS_ACKNOWLEDGE,
    STATUS_DRIVER,
    STATUS_DRIVER_OK,
    STATUS_FEATURES_OK,
    VIRTIO_VENDOR,
)

R_NO_COMMON_CFG = rule(
    "VIRTIO-NO-COMMON-CFG", "virtio 1.2 4.1.4",
    "a virtio PCI device needs a VIRTIO_PCI_CAP_COMMON_CFG capability")
R_QUEUE_VECTOR_REFUSED = rule(
    "VIRTIO-QUEUE-VECTOR-REFUSED", "virtio 1.2 4.1.5.1.2",
    "the device refused a queue's MSI-X vector (queue_msix_vector reads back NO_VECTOR)")

if TYPE_CHECKING:
    from irqsim.os.kernel import Kernel
    from irqsim.os.pci import PciDev

VIRTIO_IDS = {0x1041: "virtio-net", 0x1042: "virtio-blk", 0x1044: "virtio-rng"}
QUEUES = {"virtio-net": ("receiveq", "transmitq"), "virtio-blk": ("requestq",),
          "virtio-rng": ("requestq",)}


@dataclass
class VirtioQueueState:
    index: int
    name: str
    size: int
    used: int
    last_used: int = 0
    processed: int = 0
    order_errors: int = 0


@dataclass
class VirtioDevState:
    """Per-device driver state (what the driver's private struct would hold)."""

    pdev: PciDev
    kind: str
    common: int = 0
    isr: int = 0
    queues: list[VirtioQueueState] = field(default_factory=list)
    irq: int = -1
    mode: IrqMode = IrqMode.NONE
    handled: int = 0
    spurious: int = 0


class VirtioPciDriver:
    """Drives virtio-rng, virtio-blk and virtio-net over MSI-X.

    ``vectors="per-device"`` is seed 002's kernel: one CPU vector per device, every
    queue's MSI-X entry programmed with it (virtio-net RX=entry 0, TX=entry 1).
    ``vectors="per-queue"`` is Linux's virtio_pci: one vector per queue.
    """

    name = "virtio-pci"
    ids = tuple((VIRTIO_VENDOR, d) for d in VIRTIO_IDS)

    def __init__(self, vectors: str = "per-device", process_ns: int = 100,
                 irq_flags: int = PCI_IRQ_ALL_TYPES) -> None:
        """``irq_flags``: the PCI_IRQ_* mechanisms the driver accepts (MSI-X preferred)."""
        if vectors not in ("per-device", "per-queue"):
            raise ValueError(f"vectors must be 'per-device' or 'per-queue', got {vectors!r}")
        self.vectors = vectors
        self.process_ns = process_ns
        self.irq_flags = irq_flags
        self.devices: list[VirtioDevState] = []
        self.kernel: Kernel | None = None

    def probe(self, k: Kernel, pdev: PciDev) -> None:
        self.kernel = k
        kind = VIRTIO_IDS[pdev.device]
        st = VirtioDevState(pdev, kind)
        k.pci_enable_device(pdev)
        k.pci_set_master(pdev)
        caps = self._virtio_caps(k, pdev)
        if CFG_COMMON not in caps:
            k.ctx.diag(pdev.slot, R_NO_COMMON_CFG,
                       "no VIRTIO_PCI_CAP_COMMON_CFG: device not driven")
            return
        bar, off = caps[CFG_COMMON]
        c = st.common = pdev.bars[bar].address + off
        if CFG_ISR in caps:
            ibar, ioff = caps[CFG_ISR]
            st.isr = pdev.bars[ibar].address + ioff
        k.writeb(c + COMMON_DEVICE_STATUS, 0)  # reset
        k.writeb(c + COMMON_DEVICE_STATUS, STATUS_ACKNOWLEDGE)
        k.writeb(c + COMMON_DEVICE_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER)
        k.writel(c + COMMON_DEVICE_FEATURE_SELECT, 1)
        hi = k.readl(c + COMMON_DEVICE_FEATURE)
        k.writel(c + COMMON_DRIVER_FEATURE_SELECT, 1)
        k.writel(c + COMMON_DRIVER_FEATURE, hi & 1)  # VIRTIO_F_VERSION_1
        k.writeb(c + COMMON_DEVICE_STATUS,
                 STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK)
        nq = k.readw(c + COMMON_NUM_QUEUES)
        names = QUEUES[kind][:nq]
        want = 1 if self.vectors == "per-device" else len(names)
        got = k.pci_alloc_irq_vectors(pdev, 1, want, self.irq_flags)
        st.mode = pdev.irq_mode
        per_queue = self.vectors == "per-queue" and got >= len(names)
        if not per_queue:
            st.irq = k.pci_irq_vector(pdev, 0)
            if st.mode == IrqMode.MSIX:
                for q in range(1, len(names)):
                    k.msix_share_entry(pdev, q, st.irq)
        k.writew(c + COMMON_CONFIG_MSIX_VECTOR, NO_VECTOR)  # no config interrupts
        for qi, qname in enumerate(names):
            k.writew(c + COMMON_QUEUE_SELECT, qi)
            size = k.readw(c + COMMON_QUEUE_SIZE)
            desc = k.dma_alloc(16 * size)
            avail = k.dma_alloc(6 + 2 * size)
            used = k.dma_alloc(6 + 8 * size)
            k.writeq(c + COMMON_QUEUE_DESC, desc)
            k.writeq(c + COMMON_QUEUE_DRIVER, avail)
            k.writeq(c + COMMON_QUEUE_DEVICE, used)
            if st.mode != IrqMode.INTX:
                entry = qi if st.mode == IrqMode.MSIX or per_queue else 0
                k.writew(c + COMMON_QUEUE_MSIX_VECTOR, entry)
                if k.readw(c + COMMON_QUEUE_MSIX_VECTOR) == NO_VECTOR:
                    k.ctx.diag(pdev.slot, R_QUEUE_VECTOR_REFUSED,
                               f"queue {qi} vector {entry} refused by the device (NO_VECTOR)")
            k.writew(c + COMMON_QUEUE_ENABLE, 1)
            st.queues.append(VirtioQueueState(qi, qname, size, used))
        k.writeb(c + COMMON_DEVICE_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK
                 | STATUS_DRIVER_OK)
        if st.mode == IrqMode.INTX:
            k.pci_request_irq(pdev, 0, self.intx_interrupt, f"{kind}", st)
        elif not per_queue:
            k.pci_request_irq(pdev, 0, self.interrupt, f"{kind}", st)
        else:
            for qi, qname in enumerate(names):
                k.pci_request_irq(pdev, qi, self.queue_interrupt, f"{kind}-{qname}", (st, qi))
        k.trace_sw("Driver", "PCIe Device", "Enable device interrupts (DRIVER_OK)")
        self.devices.append(st)

    def _virtio_caps(self, k: Kernel, pdev: PciDev) -> dict[int, tuple[int, int]]:
        out: dict[int, tuple[int, int]] = {}
        for off, cid in pdev.caps:
            if cid == CAP_ID_VENDOR:
                cfg_type = k.cfg_read(pdev.bus, pdev.devfn, off + CAP_CFG_TYPE, 1)
                bar = k.cfg_read(pdev.bus, pdev.devfn, off + CAP_BAR, 1)
                offset = k.cfg_read(pdev.bus, pdev.devfn, off + CAP_OFFSET, 4)
                out.setdefault(cfg_type, (bar, offset))
        return out

    # -- interrupt handlers -------------------------------------------------------
    def interrupt(self, irq: int, st: Any) -> IrqReturn:
        """One vector for the whole device: poll every queue's used ring."""
        done = 0
        for q in st.queues:
            done += self._drain(st, q)
        if done:
            st.handled += 1
            return IRQ_HANDLED
        st.spurious += 1
        return IRQ_NONE

    def intx_interrupt(self, irq: int, st: Any) -> IrqReturn:
        """INTx (Linux vp_interrupt): read ISR (read-to-clear deasserts); 0 means not ours."""
        k = self.kernel
        assert k is not None
        isr = k.readb(st.isr)
        if not isr:
            st.spurious += 1
            return IRQ_NONE
        for q in st.queues:
            self._drain(st, q)
        st.handled += 1
        return IRQ_HANDLED

    def queue_interrupt(self, irq: int, arg: Any) -> IrqReturn:
        st, qi = arg
        return IRQ_HANDLED if self._drain(st, st.queues[qi]) else IRQ_NONE

    def _drain(self, st: VirtioDevState, q: VirtioQueueState) -> int:
        k = self.kernel
        assert k is not None
        idx = k.read_mem(q.used + 2, 2)
        n = (idx - q.last_used) & 0xFFFF
        for i in range(n):
            slot = (q.last_used + i) % q.size
            elem_id = k.read_mem(q.used + 4 + 8 * slot, 4)
            if elem_id != ((q.processed + i) & 0xFFFFFFFF):
                q.order_errors += 1   # the index was visible before the element
        if n:
            k.spend(self.process_ns * n)
            if k.ctx.tracer.on:
                k.trace_sw("Driver", "Driver", f"Process {n} used buffer(s) of {q.name}")
        q.last_used = idx
        q.processed += n
        return n
