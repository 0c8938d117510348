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

from irqsim.pci.config import CAP_ID_VENDOR, BarSpec
from irqsim.pci.function import PciFunction
from irqsim.pci.msi import MsiCapability
from irqsim.pci.msix import MsixCapability
from irqsim.regs import RO, RW, F, Register
from irqsim.sim.context import SimContext

VIRTIO_VENDOR = 0x1AF4
NO_VECTOR = 0xFFFF
VIRTIO_F_VERSION_1 = 1 << 32

CFG_COMMON, CFG_NOTIFY, CFG_ISR, CFG_DEVICE = 1, 2, 3, 4
COMMON_OFF, ISR_OFF, DEVICE_OFF, NOTIFY_OFF = 0x0000, 0x1000, 0x2000, 0x3000
NOTIFY_MULTIPLIER = 4

# virtio_pci_common_cfg (virtio 1.2, 4.1.4.3), declared as data.
COMMON_CFG: tuple[Register, ...] = (
    Register("device_feature_select", 0x00, 4, (F("select", (31, 0), RW),)),
    Register("device_feature", 0x04, 4, (F("features", (31, 0), RO),)),
    Register("driver_feature_select", 0x08, 4, (F("select", (31, 0), RW),)),
    Register("driver_feature", 0x0C, 4, (F("features", (31, 0), RW),)),
    Register("config_msix_vector", 0x10, 2, (F("vector", (15, 0), RW),)),
    Register("num_queues", 0x12, 2, (F("num", (15, 0), RO),)),
    Register("device_status", 0x14, 1, (F("status", (7, 0), RW),)),
    Register("config_generation", 0x15, 1, (F("generation", (7, 0), RO),)),
    Register("queue_select", 0x16, 2, (F("select", (15, 0), RW),)),
    Register("queue_size", 0x18, 2, (F("size", (15, 0), RW),)),
    Register("queue_msix_vector", 0x1A, 2, (F("vector", (15, 0), RW),)),
    Register("queue_enable", 0x1C, 2, (F("enable", (15, 0), RW),)),
    Register("queue_notify_off", 0x1E, 2, (F("off", (15, 0), RO),)),
    Register("queue_desc", 0x20, 8, (F("addr", (63, 0), RW),)),
    Register("queue_driver", 0x28, 8, (F("addr", (63, 0), RW),)),
    Register("queue_device", 0x30, 8, (F("addr", (63, 0), RW),)),
)
COMMON_BY_OFFSET = {r.offset: r for r in COMMON_CFG}


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
        base = offset & ~7 if offset >= 0x20 else offset
        q = self._q()
        if offset == 0x00:
            return self.device_feature_select
        if offset == 0x04:
            return (self.dev.features >> (32 * self.device_feature_select)) & 0xFFFFFFFF \
                if self.device_feature_select < 2 else 0
        if offset == 0x08:
            return self.driver_feature_select
        if offset == 0x0C:
            return (self.driver_features >> (32 * self.driver_feature_select)) & 0xFFFFFFFF
        if offset == 0x10:
            return self.msix_config
        if offset == 0x12:
            return len(self.dev.queues)
        if offset == 0x14:
            return self.status
        if offset == 0x15:
            return 0
        if offset == 0x16:
            return self.queue_select
        if q is None:
            return 0
        if offset == 0x18:
            return q.size
        if offset == 0x1A:
            return q.msix_vector
        if offset == 0x1C:
            return q.enable
        if offset == 0x1E:
            return self.queue_select
        if base in (0x20, 0x28, 0x30):
            val = {0x20: q.desc, 0x28: q.driver, 0x30: q.device}[base]
            return (val >> (8 * (offset - base))) & ((1 << (8 * size)) - 1)
        return 0

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        dev = self.dev
        q = self._q()
        if offset == 0x00:
            self.device_feature_select = value
        elif offset == 0x08:
            self.driver_feature_select = value
        elif offset == 0x0C:
            sh = 32 * self.driver_feature_select
            self.driver_features = (self.driver_features & ~(0xFFFFFFFF << sh)) | (value << sh)
        elif offset == 0x10:
            self.msix_config = dev.map_vector(value, "config_msix_vector")
        elif offset == 0x14:
            if value == 0:
                dev.reset_virtio()
            else:
                self.status = value & 0xFF
        elif offset == 0x16:
            self.queue_select = value & 0xFFFF
        elif q is None:
            dev.ctx.diag(dev.name, "virtio 1.2 4.1.4.3 queue_select",
                         f"queue register write with queue_select={self.queue_select} "
                         f"beyond num_queues={len(dev.queues)} ignored")
        elif offset == 0x18:
            q.size = value & 0xFFFF
        elif offset == 0x1A:
            q.msix_vector = dev.map_vector(value & 0xFFFF, "queue_msix_vector")
        elif offset == 0x1C:
            q.enable = value & 1
        elif 0x20 <= offset < 0x38:
            base = offset & ~7
            sh = 8 * (offset - base)
            mask = ((1 << (8 * size)) - 1) << sh
            attr = {0x20: "desc", 0x28: "driver", 0x30: "device"}[base]
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
            ctx, name or self.KIND, VIRTIO_VENDOR, 0x1040 + self.VIRTIO_ID, self.CLASS,
            bars=(BarSpec(0, 0x1000, is64=True), BarSpec(4, 0x4000, is64=True,
                                                         prefetchable=True)),
            revision=1, subsystem_vendor=VIRTIO_VENDOR, subsystem=0x1100, interrupt_pin=1)
        self.features = VIRTIO_F_VERSION_1
        self.queues = [Virtqueue(queue_size) for _ in self.QUEUE_NAMES]
        self.isr = 0
        self.common = CommonConfig(self)
        self.notify = Notify(self)
        self.map_region(4, COMMON_OFF, 0x38, self.common)
        self.map_region(4, ISR_OFF, 1, IsrStatus(self))
        self.map_region(4, DEVICE_OFF, 0x100, DeviceConfig())
        self.map_region(4, NOTIFY_OFF, NOTIFY_MULTIPLIER * len(self.queues), self.notify)
        off = 0x40
        for cfg_type, region_off, length in ((CFG_COMMON, COMMON_OFF, 0x38),
                                             (CFG_ISR, ISR_OFF, 1),
                                             (CFG_DEVICE, DEVICE_OFF, 0x100),
                                             (CFG_NOTIFY, NOTIFY_OFF,
                                              NOTIFY_MULTIPLIER * len(self.queues))):
            size = 20 if cfg_type == CFG_NOTIFY else 16
            self._virtio_cap(off, cfg_type, 4, region_off, length, size)
            off += size
        self.msix = MsixCapability(self, 0x98, n_vec, 0, 0x000, 0, 0x800) if n_vec else None
        self.msi = MsiCapability(self, 0xA4, msi_vectors) if msi_vectors else None
        self.completed = 0

    def _virtio_cap(self, off: int, cfg_type: int, bar: int, offset: int, length: int,
                    size: int) -> None:
        cs = self.config
        cs.add_capability(CAP_ID_VENDOR, off, size)
        cs.hw_write(off + 2, 1, size)        # cap_len
        cs.hw_write(off + 3, 1, cfg_type)
        cs.hw_write(off + 4, 1, bar)
        cs.hw_write(off + 8, 4, offset)
        cs.hw_write(off + 12, 4, length)
        if cfg_type == CFG_NOTIFY:
            cs.hw_write(off + 16, 4, NOTIFY_MULTIPLIER)

    def map_vector(self, vector: int, what: str) -> int:
        """Accept an MSI-X entry (or MSI message) index for a config or queue vector, or
        NO_VECTOR."""
        n = max(self.msix.n if self.msix is not None else 0,
                self.msi.capable if self.msi is not None else 0)
        if vector != NO_VECTOR and vector >= n:
            self.ctx.diag(self.name, f"virtio 1.2 4.1.5.1.2 {what}",
                          f"MSI-X entry {vector} does not exist (table size {n}); "
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
        if q.device and self.bus_master:
            slot = q.used_idx % q.size
            elem = ((desc_id if desc_id is not None else q.used_idx) & 0xFFFFFFFF) | (
                length << 32)
            self.dma_write(q.device + 4 + 8 * slot, elem.to_bytes(8, "little"), now)
            q.used_idx = (q.used_idx + 1) & 0xFFFF
            self.dma_write(q.device + 2, q.used_idx.to_bytes(2, "little"), now)
        self.completed += 1
        self.isr |= 1
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
