"""The multi-queue NIC's register block (BAR0), declared once (an irqsim device, shaped like
Intel's 82599/igb register files: per-queue ring registers, EIMS/EIMC interrupt mask
set/clear with auto-mask, per-vector throttle (EITR) and coalescing registers; ethtool's
``struct ethtool_coalesce`` fields as the per-queue coalescing registers).

Offsets of per-queue registers are ``base + QUEUE_STRIDE * queue``.
"""

from __future__ import annotations

from irqsim.spec.regs import RO, RW, RW1C, WO, F, Register

NIC_VENDOR, NIC_DEVICE = 0x8086, 0x10FB          # an 82599-like 10 GbE function
NIC_CLASS = 0x020000                             # network controller, Ethernet
NIC_BAR_SIZE = 0x10000
MSIX_TABLE_OFF = 0x8000
MSIX_PBA_OFF = 0xA000
QUEUE_STRIDE = 0x80
MAX_QUEUES = 64

# Global registers.
CTRL = Register("CTRL", 0x0000, 4, (F("reset", 26, WO), F("link_up", 1, RW)))
ICR = Register("ICR", 0x0800, 4, (F("rtxq", (15, 0), RW1C,
                                     "queue-pair causes (82599 EICR RTxQ), MSI/INTx mode"),
                                   F("link_change", 20, RW1C), F("other", 31, RW1C)))
NIC_MSI_CAP = 0x50                               # MSI capability when the NIC has one
EIMS = Register("EIMS", 0x0880, 4, (F("vectors", (31, 0), WO,
                                       "write 1: unmask that vector's cause"),))
EIMC = Register("EIMC", 0x0888, 4, (F("vectors", (31, 0), WO,
                                       "write 1: mask that vector's cause"),))
EIAM = Register("EIAM", 0x0890, 4, (F("vectors", (31, 0), RW,
                                       "1: the vector masks itself when it fires"),))
EIMS_STATUS = Register("EIMS_STATUS", 0x0898, 4, (F("vectors", (31, 0), RO),))

# Per-queue registers (base + QUEUE_STRIDE * q).
RDBA = Register("RDBA", 0x1000, 8, (F("addr", (63, 0), RW),))
RDLEN = Register("RDLEN", 0x1008, 4, (F("descriptors", (15, 0), RW),))
RDH = Register("RDH", 0x1010, 4, (F("head", (31, 0), RO),))
RDT = Register("RDT", 0x1014, 4, (F("tail", (31, 0), RW),))
RDHWB = Register("RDHWB", 0x1018, 8, (F("addr", (63, 0), RW,
                                         "head write-back address in host memory"),))
# Coalescing per queue vector (ethtool_coalesce): usecs in ns here, frames, timer mode,
# and the ITR minimum gap between interrupts (ns; 0 = off).
COAL_USECS = Register("COAL_USECS", 0x1020, 4, (F("ns", (31, 0), RW),))
COAL_FRAMES = Register("COAL_FRAMES", 0x1024, 4, (F("frames", (31, 0), RW),))
COAL_MODE = Register("COAL_MODE", 0x1028, 4, (F("mode", (1, 0), RW,
                                                 "0 none, 1 absolute, 2 packet, 3 interval"),))
EITR = Register("EITR", 0x102C, 4, (F("interval_ns", (31, 0), RW),))

# The queue pair's transmit side: tail (free-running count of descriptors posted), head
# write-back address, and the TX coalescing values (same timer mode as RX).
TDT = Register("TDT", 0x1030, 4, (F("tail", (31, 0), RW),))
TDHWB = Register("TDHWB", 0x1038, 8, (F("addr", (63, 0), RW,
                                         "TX head write-back address in host memory"),))
TCOAL_USECS = Register("TCOAL_USECS", 0x1034, 4, (F("ns", (31, 0), RW),))
TCOAL_FRAMES = Register("TCOAL_FRAMES", 0x1040, 4, (F("frames", (31, 0), RW),))

GLOBAL_REGS = (CTRL, ICR, EIMS, EIMC, EIAM, EIMS_STATUS)
QUEUE_REGS = (RDBA, RDLEN, RDH, RDT, RDHWB, COAL_USECS, COAL_FRAMES, COAL_MODE, EITR, TDT,
              TCOAL_USECS, TDHWB, TCOAL_FRAMES)

# The four timer variants (reference 3.2), as COAL_MODE encodes them.
MODE_NONE, MODE_ABSOLUTE, MODE_PACKET, MODE_INTERVAL = 0, 1, 2, 3
MODE_NAMES = {MODE_NONE: "none", MODE_ABSOLUTE: "absolute", MODE_PACKET: "packet",
              MODE_INTERVAL: "interval"}


def queue_reg(reg: Register, q: int) -> int:
    """BAR0 offset of queue ``q``'s copy of ``reg``."""
    return reg.offset + QUEUE_STRIDE * q
