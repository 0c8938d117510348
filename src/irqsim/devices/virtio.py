"""Modern virtio-pci functions (virtio 1.2, 4.1): virtio-rng, virtio-blk, virtio-net.

Layout as in seed 002: BAR0+BAR1 a 64-bit BAR holding the MSI-X table and PBA,
BAR4+BAR5 a 64-bit prefetchable BAR holding the virtio structures (common
config, ISR, device config, notify) that vendor-specific capabilities point to.
Completing a request writes the used ring by DMA, then signals the queue's
MSI-X vector (or none if the vector is NO_VECTOR, 0xFFFF). Without MSI-X the
device sets ISR bit 0 and asserts INTx (virtio 1.2 4.1.4.5); reading ISR clears
it and deasserts the wire. ``msi_vectors`` adds an MSI capability (an irqsim
extension: virtio-pci defines only MSI-X and INTx): with MSI enabled the queue
vector registers name MSI message numbers.
"""

from __future__ import annotations

from irqsim.pci.config import BarSpec
from irqsim.pci.function import PciFunction
from irqsim.pci.msi import MsiCapability
from irqsim.pci.msix import MsixCapability
from irqsim.sim.context import SimContext
from irqsim.sim.rules import rule
from irqsim.spec.pci import CAP_ID_VENDOR
from irqsim.spec.virtio import (
    CAP_BAR,
    CAP_CFG_TYPE,
    CAP_LEN,
    CAP_LENGTH,
    CAP_OFFSET,
    CFG_COMMON,
    CFG_DEVICE,
    CFG_ISR,
    CFG_NOTIFY,
    COMMON_CFG_SIZE,
    COMMON_CONFIG_GENERATION,
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
    COMMON_QUEUE_NOTIFY_OFF,
    COMMON_QUEUE_SELECT,
    COMMON_QUEUE_SIZE,
    ISR_QUEUE,
    NO_VECTOR,
    VIRTIO_DEVICE_ID_BASE,
    VIRTIO_F_VERSION_1,
    VIRTIO_PCI_CAP_SIZE,
    VIRTIO_PCI_NOTIFY_CAP_MULT,
    VIRTIO_PCI_NOTIFY_CAP_SIZE,
    VIRTIO_VENDOR,
)

R_QUEUE_SELECT = rule(
    "VIRTIO-QUEUE-SELECT", "virtio 1.2 4.1.4.3",
    "queue registers act on queue_select, which must be below num_queues")
R_NO_MSIX_ENTRY = rule("VIRTIO-NO-MSIX-ENTRY", "virtio 1.2 4.1.5.1.2",
                       "a config or queue MSI-X vector must name an existing entry (else the "
                       "device reads back NO_VECTOR)")
R_QUEUE_UNAVAILABLE = rule(
    "VIRTIO-QUEUE-UNAVAILABLE", "virtio 1.2 4.1.4.3",
    "a queue of size 0 is unavailable: no used ring entry is written")

COMMON_OFF, ISR_OFF, DEVICE_OFF, NOTIFY_OFF = 0x0000, 0x1000, 0x2000, 0x3000
NOTIFY_MULTIPLIER = 4
FEATURE_WORDS = 2                       # 64 feature bits: selects 0 and 1
_QUEUE_ADDRS = {COMMON_QUEUE_DESC: "desc", COMMON_QUEUE_DRIVER: "driver",
                COMMON_QUEUE_DEVICE: "device"}
_QUEUE_ADDR_END = COMMON_QUEUE_DEVICE + 8


class Virtqueue:
    """Per-queue registers the common config exposes, and the device's used index."""

    __slots__ = ("desc", "device", "driver", "enable", "msix_vector", "size", "used_idx")

    def __init__(self, size: int) -> None:
        self.size = size
        self.msix_vector = NO_VECTOR
        self.enable = 0
        self.desc = 0
        self.driver = 0
        self.device = 0
        self.used_idx = 0


class CommonConfig:
    """The common configuration structure (MMIO region in BAR4)."""

    def __init__(self, dev: VirtioPciDevice) -> None:
        self.dev = dev
        self.device_feature_select = 0
        self.driver_feature_select = 0
        self.driver_features = 0
        self.msix_config = NO_VECTOR
        self.status = 0
        self.queue_select = 0

    def _q(self) -> Virtqueue | None:
        qs = self.dev.queues
        return qs[self.queue_select] if self.queue_select < len(qs) else None

    def mmio_read(self, offset: int, size: int) -> int:
        base = offset & ~7 if offset >= COMMON_QUEUE_DESC else offset
        q = self._q()
        if offset == COMMON_DEVICE_FEATURE_SELECT:
            return self.device_feature_select
        if offset == COMMON_DEVICE_FEATURE:
            return (self.dev.features >> (32 * self.device_feature_select)) & 0xFFFFFFFF \
                if self.device_feature_select < FEATURE_WORDS else 0
        if offset == COMMON_DRIVER_FEATURE_SELECT:
            return self.driver_feature_select
        if offset == COMMON_DRIVER_FEATURE:
            return (self.driver_features >> (32 * self.driver_feature_select)) & 0xFFFFFFFF \
                if self.driver_feature_select < FEATURE_WORDS else 0
        if offset == COMMON_CONFIG_MSIX_VECTOR:
            return self.msix_config
        if offset == COMMON_NUM_QUEUES:
            return len(self.dev.queues)
        if offset == COMMON_DEVICE_STATUS:
            return self.status
        if offset == COMMON_CONFIG_GENERATION:
            return 0
        if offset == COMMON_QUEUE_SELECT:
            return self.queue_select
        if q is None:
            return 0
        if offset == COMMON_QUEUE_SIZE:
            return q.size
        if offset == COMMON_QUEUE_MSIX_VECTOR:
            return q.msix_vector
        if offset == COMMON_QUEUE_ENABLE:
            return q.enable
        if offset == COMMON_QUEUE_NOTIFY_OFF:
            return self.queue_select
        attr = _QUEUE_ADDRS.get(base)
        if attr is not None:
            val: int = getattr(q, attr)
            return (val >> (8 * (offset - base))) & ((1 << (8 * size)) - 1)
        return 0

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        dev = self.dev
        q = self._q()
        if offset == COMMON_DEVICE_FEATURE_SELECT:
            self.device_feature_select = value
        elif offset == COMMON_DRIVER_FEATURE_SELECT:
            self.driver_feature_select = value
        elif offset == COMMON_DRIVER_FEATURE:
            if self.driver_feature_select >= FEATURE_WORDS:
                return                  # beyond the 64 feature bits the device has
            sh = 32 * self.driver_feature_select
            self.driver_features = (self.driver_features & ~(0xFFFFFFFF << sh)) | (value << sh)
        elif offset == COMMON_CONFIG_MSIX_VECTOR:
            self.msix_config = dev.map_vector(value, "config_msix_vector")
        elif offset == COMMON_DEVICE_STATUS:
            if value == 0:
                dev.reset_virtio()
            else:
                self.status = value & 0xFF
        elif offset == COMMON_QUEUE_SELECT:
            self.queue_select = value & 0xFFFF
        elif q is None:
            dev.ctx.diag(dev.name, R_QUEUE_SELECT,
                         f"queue register write with queue_select={self.queue_select} "
                         f"beyond num_queues={len(dev.queues)} ignored")
        elif offset == COMMON_QUEUE_SIZE:
            q.size = value & 0xFFFF
        elif offset == COMMON_QUEUE_MSIX_VECTOR:
            q.msix_vector = dev.map_vector(value & 0xFFFF, "queue_msix_vector")
        elif offset == COMMON_QUEUE_ENABLE:
            q.enable = value & 1
        elif COMMON_QUEUE_DESC <= offset < _QUEUE_ADDR_END:
            base = offset & ~7
            sh = 8 * (offset - base)
            mask = ((1 << (8 * size)) - 1) << sh
            attr = _QUEUE_ADDRS[base]
            setattr(q, attr, (getattr(q, attr) & ~mask) | ((value << sh) & mask))


class IsrStatus:
    """ISR status byte: read-to-clear (virtio 1.2 4.1.4.5); used with INTx only."""

    def __init__(self, dev: VirtioPciDevice) -> None:
        self.dev = dev

    def mmio_read(self, offset: int, size: int) -> int:
        v = self.dev.isr
        self.dev.isr = 0
        self.dev.isr_read_cleared()
        return v

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        return None


class Notify:
    """Queue notification region: the driver writes the queue index."""

    def __init__(self, dev: VirtioPciDevice) -> None:
        self.dev = dev
        self.kicks = 0

    def mmio_read(self, offset: int, size: int) -> int:
        return 0

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        self.kicks += 1


class DeviceConfig:
    """Device-specific configuration (contents not modelled; reads 0)."""

    def mmio_read(self, offset: int, size: int) -> int:
        return 0

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        return None


class VirtioPciDevice(PciFunction):
    """A modern (1.x) virtio-pci function."""

    VIRTIO_ID = 0
    CLASS = 0x00FF00
    KIND = "virtio"
    QUEUE_NAMES: tuple[str, ...] = ("requestq",)

    def __init__(self, ctx: SimContext, name: str | None = None, queue_size: int = 256,
                 msix_vectors: int | None = None, msi_vectors: int | None = None) -> None:
        """``msix_vectors``: MSI-X table size (default queues + 1; 0: no MSI-X);
        ``msi_vectors``: add an MSI capability (64-bit, per-vector masking) with that many
        messages (a power of two)."""
        n_vec = msix_vectors if msix_vectors is not None else len(self.QUEUE_NAMES) + 1
        super().__init__(
            ctx, name or self.KIND, VIRTIO_VENDOR, VIRTIO_DEVICE_ID_BASE + self.VIRTIO_ID,
            self.CLASS,
            bars=(BarSpec(0, 0x1000, is64=True), BarSpec(4, 0x4000, is64=True,
                                                         prefetchable=True)),
            revision=1, subsystem_vendor=VIRTIO_VENDOR, subsystem=0x1100, interrupt_pin=1)
        self.features = VIRTIO_F_VERSION_1
        self.queues = [Virtqueue(queue_size) for _ in self.QUEUE_NAMES]
        self.isr = 0
        self.common = CommonConfig(self)
        self.notify = Notify(self)
        self.map_region(4, COMMON_OFF, COMMON_CFG_SIZE, self.common)
        self.map_region(4, ISR_OFF, 1, IsrStatus(self))
        self.map_region(4, DEVICE_OFF, 0x100, DeviceConfig())
        self.map_region(4, NOTIFY_OFF, NOTIFY_MULTIPLIER * len(self.queues), self.notify)
        off = 0x40
        for cfg_type, region_off, length in ((CFG_COMMON, COMMON_OFF, COMMON_CFG_SIZE),
                                             (CFG_ISR, ISR_OFF, 1),
                                             (CFG_DEVICE, DEVICE_OFF, 0x100),
                                             (CFG_NOTIFY, NOTIFY_OFF,
                                              NOTIFY_MULTIPLIER * len(self.queues))):
            size = VIRTIO_PCI_NOTIFY_CAP_SIZE if cfg_type == CFG_NOTIFY else VIRTIO_PCI_CAP_SIZE
            self._virtio_cap(off, cfg_type, 4, region_off, length, size)
            off += size
        self.msix = MsixCapability(self, 0x98, n_vec, 0, 0x000, 0, 0x800) if n_vec else None
        self.msi = MsiCapability(self, 0xA4, msi_vectors) if msi_vectors else None
        self.completed = 0

    def _virtio_cap(self, off: int, cfg_type: int, bar: int, offset: int, length: int,
                    size: int) -> None:
        cs = self.config
        cs.add_capability(CAP_ID_VENDOR, off, size)
        cs.hw_write(off + CAP_LEN, 1, size)
        cs.hw_write(off + CAP_CFG_TYPE, 1, cfg_type)
        cs.hw_write(off + CAP_BAR, 1, bar)
        cs.hw_write(off + CAP_OFFSET, 4, offset)
        cs.hw_write(off + CAP_LENGTH, 4, length)
        if cfg_type == CFG_NOTIFY:
            cs.hw_write(off + VIRTIO_PCI_NOTIFY_CAP_MULT.offset, 4, NOTIFY_MULTIPLIER)

    def map_vector(self, vector: int, what: str) -> int:
        """Accept an MSI-X entry (or MSI message) index for a config or queue vector, or
        NO_VECTOR."""
        n = max(self.msix.n if self.msix is not None else 0,
                self.msi.capable if self.msi is not None else 0)
        if vector != NO_VECTOR and vector >= n:
            self.ctx.diag(self.name, R_NO_MSIX_ENTRY,
                          f"{what}: MSI-X entry {vector} does not exist (table size {n}); "
                          "the device reads back NO_VECTOR")
            return NO_VECTOR
        return vector

    def reset_virtio(self) -> None:
        self.common.status = 0
        self.common.msix_config = NO_VECTOR
        for q in self.queues:
            q.msix_vector = NO_VECTOR
            q.enable = 0
            q.used_idx = 0
        self.isr = 0
        self.intx_clear()

    def isr_read_cleared(self) -> None:
        """Reading ISR (read-to-clear) deasserts INTx (virtio 1.2 4.1.4.5.1)."""
        self.intx_clear()

    # -- device behaviour ------------------------------------------------------
    def complete(self, queue: int, desc_id: int | None = None, length: int = 0) -> None:
        """Finish a request on ``queue``: used ring element and index by DMA, then interrupt."""
        q = self.queues[queue]
        now = self.ctx.engine.now
        if self.ctx.tracer.on:
            self.ctx.tracer.emit(now, self.name, self.name, "device-event",
                                 what=f"{self.QUEUE_NAMES[queue]} completion")
        if q.device and not q.size:
            self.ctx.diag(self.name, R_QUEUE_UNAVAILABLE,
                          f"{self.QUEUE_NAMES[queue]} completion: no used ring entry written")
        elif q.device and self.bus_master:
            slot = q.used_idx % q.size
            elem = ((desc_id if desc_id is not None else q.used_idx) & 0xFFFFFFFF) | (
                length << 32)
            self.dma_write(q.device + 4 + 8 * slot, elem.to_bytes(8, "little"), now)
            q.used_idx = (q.used_idx + 1) & 0xFFFF
            self.dma_write(q.device + 2, q.used_idx.to_bytes(2, "little"), now)
        self.completed += 1
        self.isr |= ISR_QUEUE
        msix, msi = self.msix, self.msi
        if msix is not None and msix.enabled:
            if q.msix_vector != NO_VECTOR:
                msix.signal(q.msix_vector, now)
        elif msi is not None and msi.enabled:
            if q.msix_vector != NO_VECTOR:
                msi.signal(min(q.msix_vector, msi.allocated - 1), now)
        else:
            self.raise_intx()

    def raise_intx(self) -> None:
        """Without MSI-X (or MSI): ISR bit 0 is set; assert INTx (virtio 1.2 4.1.4.5)."""
        self.intx_raise(self.ctx.engine.now)


class VirtioRng(VirtioPciDevice):
    VIRTIO_ID = 4
    CLASS = 0x00FF00
    KIND = "virtio-rng"
    QUEUE_NAMES = ("requestq",)


class VirtioBlk(VirtioPciDevice):
    VIRTIO_ID = 2
    CLASS = 0x010000
    KIND = "virtio-blk"
    QUEUE_NAMES = ("requestq",)


class VirtioNet(VirtioPciDevice):
    VIRTIO_ID = 1
    CLASS = 0x020000
    KIND = "virtio-net"
    QUEUE_NAMES = ("receiveq", "transmitq")
