"""virtio-pci structures (virtio 1.2, 4.1.4): the vendor capability that locates each
structure, the common configuration structure, ISR status and device status bits.

Offsets of the common configuration registers are derived from :data:`COMMON_CFG` (the one
declaration) as ``COMMON_<NAME>`` constants, used by the device model and the driver.
"""

from __future__ import annotations

from irqsim.spec.regs import RO, RW, F, Register

VIRTIO_VENDOR = 0x1AF4
VIRTIO_DEVICE_ID_BASE = 0x1040          # modern device ID = 0x1040 + virtio device type
NO_VECTOR = 0xFFFF                      # VIRTIO_MSI_NO_VECTOR
VIRTIO_F_VERSION_1 = 1 << 32

# virtio_pci_cap (4.1.4): a vendor-specific capability (ID 09h) per structure.
CFG_COMMON, CFG_NOTIFY, CFG_ISR, CFG_DEVICE = 1, 2, 3, 4
VIRTIO_PCI_CAP: tuple[Register, ...] = (
    Register("cap_len", 0x02, 1, (F("len", (7, 0), RO),)),
    Register("cfg_type", 0x03, 1, (F("type", (7, 0), RO),)),
    Register("bar", 0x04, 1, (F("bar", (7, 0), RO),)),
    Register("offset", 0x08, 4, (F("offset", (31, 0), RO),)),
    Register("length", 0x0C, 4, (F("length", (31, 0), RO),)),
)
VIRTIO_PCI_NOTIFY_CAP_MULT = Register("notify_off_multiplier", 0x10, 4, (
    F("multiplier", (31, 0), RO),))
CAP_LEN, CAP_CFG_TYPE, CAP_BAR, CAP_OFFSET, CAP_LENGTH = (r.offset for r in VIRTIO_PCI_CAP)
VIRTIO_PCI_CAP_SIZE = 16
VIRTIO_PCI_NOTIFY_CAP_SIZE = 20

# virtio_pci_common_cfg (virtio 1.2, 4.1.4.3).
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
    Register("queue_enable", 0x1C, 2, (F("enable", (0, 0), RW),)),
    Register("queue_notify_off", 0x1E, 2, (F("off", (15, 0), RO),)),
    Register("queue_desc", 0x20, 8, (F("addr", (63, 0), RW),)),
    Register("queue_driver", 0x28, 8, (F("addr", (63, 0), RW),)),
    Register("queue_device", 0x30, 8, (F("addr", (63, 0), RW),)),
)
COMMON_BY_OFFSET = {r.offset: r for r in COMMON_CFG}
COMMON_BY_NAME = {r.name: r for r in COMMON_CFG}
COMMON_CFG_SIZE = max(r.offset + r.size for r in COMMON_CFG)            # 0x38
(COMMON_DEVICE_FEATURE_SELECT, COMMON_DEVICE_FEATURE, COMMON_DRIVER_FEATURE_SELECT,
 COMMON_DRIVER_FEATURE, COMMON_CONFIG_MSIX_VECTOR, COMMON_NUM_QUEUES, COMMON_DEVICE_STATUS,
 COMMON_CONFIG_GENERATION, COMMON_QUEUE_SELECT, COMMON_QUEUE_SIZE, COMMON_QUEUE_MSIX_VECTOR,
 COMMON_QUEUE_ENABLE, COMMON_QUEUE_NOTIFY_OFF, COMMON_QUEUE_DESC, COMMON_QUEUE_DRIVER,
 COMMON_QUEUE_DEVICE) = (r.offset for r in COMMON_CFG)

# device_status bits (virtio 1.2, 2.1)
STATUS_ACKNOWLEDGE, STATUS_DRIVER, STATUS_DRIVER_OK, STATUS_FEATURES_OK = 1, 2, 4, 8
STATUS_NEEDS_RESET, STATUS_FAILED = 64, 128

# ISR status (4.1.4.5): read clears.
ISR_STATUS = Register("ISR status", 0x00, 1, (
    F("queue_interrupt", 0, RO), F("config_interrupt", 1, RO)))
ISR_QUEUE = ISR_STATUS.mask("queue_interrupt")
