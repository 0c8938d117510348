"""Intel VT-d remapping hardware registers and interrupt-remapping structures (VT-d 10.4,
9.10-9.12; reference/vtd-posted.md sections 2-3). Offsets are from the DRHD MMIO base.

The IOMMU model reads GCMD/GSTS/IRTA; the rest is declared for interrupt remapping.
"""

from __future__ import annotations

from typing import Final

from irqsim.spec.regs import RO, RSVD, RW, RW1C, WO, F, Register

VTD_BASE = 0xFED90000
VTD_MMIO_SIZE = 0x1000

VER = Register("Version", 0x00, 4, (
    F("min", (3, 0), RO, "minor version"), F("max", (7, 4), RO, "major version"),
), reset=0x10)
CAP = Register("Capability", 0x08, 8, (
    F("fro", (33, 24), RO, "fault-recording register offset / 16"),
    F("nfr", (47, 40), RO, "number of fault-recording registers - 1"),
    F("pi", 59, RO, "posted interrupts supported"),
))
ECAP = Register("Extended Capability", 0x10, 8, (
    F("qi", 1, RO, "queued invalidation"),
    F("ir", 3, RO, "interrupt remapping"),
    F("eim", 4, RO, "extended interrupt mode (x2APIC)"),
    F("mhmv", (23, 20), RO, "maximum handle mask value"),
))
GCMD = Register("Global Command", 0x18, 4, (
    F("cfi", 23, WO, "compatibility format interrupt (persistent)"),
    F("sirtp", 24, WO, "set interrupt remap table pointer (one-shot)"),
    F("ire", 25, WO, "interrupt remapping enable (persistent)"),
    F("qie", 26, WO, "queued invalidation enable (persistent)"),
    F("wbf", 27, WO, "write buffer flush (one-shot)"),
    F("sfl", 29, WO, "set fault log (one-shot)"),
    F("srtp", 30, WO, "set root table pointer (one-shot)"),
    F("te", 31, WO, "translation enable (persistent)"),
), doc="reads as 0")
GSTS = Register("Global Status", 0x1C, 4, (
    F("cfis", 23, RO), F("irtps", 24, RO), F("ires", 25, RO), F("qies", 26, RO),
    F("wbfs", 27, RO), F("fls", 29, RO), F("rtps", 30, RO), F("tes", 31, RO)))
FSTS = Register("Fault Status", 0x34, 4, (
    F("pfo", 0, RW1C, "primary fault overflow"), F("ppf", 1, RO, "primary pending fault"),
    F("iqe", 4, RW1C), F("ice", 5, RW1C), F("ite", 6, RW1C),
    F("fri", (15, 8), RO, "fault record index")))
FECTL = Register("Fault Event Control", 0x38, 4, (
    F("ip", 30, RO, "interrupt pending"), F("im", 31, RW, "interrupt mask")), reset=1 << 31)
FEDATA = Register("Fault Event Data", 0x3C, 4, (F("data", (15, 0), RW),))
FEADDR = Register("Fault Event Address", 0x40, 4, (
    F("zero", (1, 0), RO), F("address", (31, 2), RW)))
FEUADDR = Register("Fault Event Upper Address", 0x44, 4, (F("address", (31, 0), RW),))
IQH = Register("Invalidation Queue Head", 0x80, 8, (F("qh", (18, 4), RO),))
IQT = Register("Invalidation Queue Tail", 0x88, 8, (F("qt", (18, 4), RW),))
IQA = Register("Invalidation Queue Address", 0x90, 8, (
    F("qs", (2, 0), RW), F("iqa", (63, 12), RW)))
ICS = Register("Invalidation Completion Status", 0x9C, 4, (
    F("iwc", 0, RW1C, "invalidation wait descriptor complete"),))
IRTA = Register("Interrupt Remapping Table Address", 0xB8, 8, (
    F("s", (3, 0), RW, "table size: 2^(S+1) entries"),
    F("reserved", (10, 4), RSVD),
    F("eime", 11, RW, "extended interrupt mode enable (x2APIC)"),
    F("ira", (63, 12), RW, "table base"),
))
REGISTERS = (VER, CAP, ECAP, GCMD, GSTS, FSTS, FECTL, FEDATA, FEADDR, FEUADDR, IQH, IQT, IQA, ICS,
             IRTA)

# Derived GCMD/GSTS bits (the status bit of each command has the same position).
GCMD_CFI, GCMD_SIRTP, GCMD_IRE, GCMD_QIE = (GCMD.mask(n) for n in ("cfi", "sirtp", "ire",
                                                                   "qie"))
GSTS_CFIS: Final = GSTS.mask("cfis")
GSTS_IRTPS: Final = GSTS.mask("irtps")
GSTS_IRES: Final = GSTS.mask("ires")
GSTS_QIES: Final = GSTS.mask("qies")

# Interrupt Remapping Table Entry, remapped format (IM = 0), low 64 bits (VT-d 9.10).
IRTE_LOW = Register("IRTE (remapped) low", 0x0, 8, (
    F("p", 0, RW, "present"), F("fpd", 1, RW, "fault processing disable"),
    F("dm", 2, RW, "0 physical, 1 logical"), F("rh", 3, RW, "redirection hint"),
    F("tm", 4, RW, "0 edge, 1 level"), F("dlm", (7, 5), RW, "delivery mode"),
    F("avail", (11, 8), RW, "software use"), F("reserved", (14, 12), RSVD),
    F("im", 15, RW, "0 remapped, 1 posted"), F("v", (23, 16), RW, "vector"),
    F("reserved_hi", (31, 24), RSVD),
    F("dst", (63, 32), RW, "x2APIC: APIC ID; xAPIC: APIC ID in bits 47:40"),
))
IRTE_HIGH = Register("IRTE high", 0x8, 8, (
    F("sid", (15, 0), RW, "source-id"), F("sq", (17, 16), RW, "source-id qualifier"),
    F("svt", (19, 18), RW, "source validation type"), F("reserved", (63, 20), RSVD),
))
# Interrupt Remapping Table Entry, posted format (IM = 1), low 64 bits (VT-d 9.11); the high
# qword is IRTE_POSTED_HIGH (SID/SQ/SVT as in the remapped format, PDA[63:32] on top).
IRTE_POSTED_LOW = Register("IRTE (posted) low", 0x0, 8, (
    F("p", 0, RW, "present"), F("fpd", 1, RW, "fault processing disable"),
    F("reserved", (7, 2), RSVD), F("avail", (11, 8), RW, "software use"),
    F("reserved2", (13, 12), RSVD), F("urg", 14, RW, "urgent: notify even if PID.SN = 1"),
    F("im", 15, RW, "1 = posted"), F("vv", (23, 16), RW, "virtual vector posted into PIR"),
    F("reserved3", (37, 24), RSVD), F("pda_l", (63, 38), RW, "descriptor address [31:6]"),
))
IRTE_POSTED_HIGH = Register("IRTE (posted) high", 0x8, 8, (
    F("sid", (15, 0), RW, "source-id"), F("sq", (17, 16), RW, "source-id qualifier"),
    F("svt", (19, 18), RW, "source validation type"), F("reserved", (31, 20), RSVD),
    F("pda_h", (63, 32), RW, "descriptor address [63:32]"),
))
IRTE_SIZE = 16

# Posted-interrupt descriptor: 64 bytes, 64-byte aligned, in memory (VT-d 9.12; Intel SDM
# vol. 3 29.6; reference/vtd-posted.md 7.1). Written by the remapping unit (PIR, ON) and
# by the CPU and the hypervisor (ON, SN, NV, NDST).
PID = Register("Posted-Interrupt Descriptor", 0x0, 64, (
    F("pir", (255, 0), RW, "posted-interrupt requests, one bit per vector"),
    F("on", 256, RW, "outstanding notification"),
    F("sn", 257, RW, "suppress notification (VT-d only; the CPU ignores it)"),
    F("reserved", (271, 258), RSVD),
    F("nv", (279, 272), RW, "notification vector"),
    F("reserved2", (287, 280), RSVD),
    F("ndst", (319, 288), RW, "notification destination: x2APIC ID; xAPIC ID in bits 15:8"),
    F("reserved3", (511, 320), RSVD),
))
PID_SIZE = 64
PID_ALIGN = 64

# Fault recording register (128 bits) at CAP.FRO * 16 + 16 * i (VT-d 10.4.14; reference 5.2).
FRCD = Register("Fault Recording", 0x0, 16, (
    F("fi", (63, 12), RO, "fault info; for interrupt-remapping faults FI[63:48] = index"),
    F("sid", (79, 64), RO, "source-id of the faulting request"),
    F("fr", (103, 96), RO, "fault reason"),
    F("t", 126, RO, "type (undefined for interrupt-remapping faults)"),
    F("f", 127, RW1C, "fault: the record is valid"),
))
FRCD_SIZE = 16
FRCD_F = FRCD.mask("f")
FRCD_INDEX_SHIFT = 48                    # FI[63:48] holds the interrupt index

# Invalidation queue descriptors, 128 bits each (VT-d 6.5.2; reference 2.3).
INV_DESC_SIZE = 16
INV_IEC = 4                              # interrupt entry cache invalidate descriptor
INV_WAIT = 5                             # invalidation wait descriptor
INV_CONTEXT, INV_IOTLB, INV_DEVTLB = 1, 2, 3    # accepted, no interrupt effect (DMA side)
IEC_DESC = Register("Interrupt Entry Cache Invalidate Descriptor", 0x0, 16, (
    F("type", (3, 0), RW, "4"),
    F("g", 4, RW, "granularity: 0 global, 1 index-selective"),
    F("reserved", (26, 5), RSVD),
    F("im", (31, 27), RW, "index mask: 2^IM entries from IIDX"),
    F("iidx", (47, 32), RW, "interrupt index"),
    F("reserved2", (127, 48), RSVD),
))
INV_WAIT_DESC = Register("Invalidation Wait Descriptor", 0x0, 16, (
    F("type", (3, 0), RW, "5"),
    F("if_", 4, RW, "interrupt flag: set ICS.IWC when complete"),
    F("sw", 5, RW, "status write: write STATUS DATA to STATUS ADDRESS"),
    F("fn", 6, RW, "fence: later descriptors wait for this one"),
    F("reserved", (31, 7), RSVD),
    F("status_data", (63, 32), RW),
    F("reserved2", (65, 64), RSVD),
    F("status_address", (127, 66), RW, "dword-aligned address [63:2]"),
))

# Fault reasons of interrupt remapping (VT-d 7.1.3 table; reference 5.1).
FR_REQUEST_RESERVED = 0x20   # reserved field set in the interrupt request
FR_INDEX_RANGE = 0x21        # index beyond the table size
FR_NOT_PRESENT = 0x22        # IRTE.P = 0 (qualified: FPD suppresses recording)
FR_READ_FAILED = 0x23        # IRTE could not be read
FR_IRTE_RESERVED = 0x24      # present IRTE with a reserved field set (qualified)
FR_COMPAT_BLOCKED = 0x25     # compatibility-format interrupt blocked
FR_SID = 0x26                # source-id verification failed (qualified)
FR_PID_READ = 0x27           # posted-interrupt descriptor read failed (qualified)
FAULT_QUALIFIED = frozenset((FR_NOT_PRESENT, FR_IRTE_RESERVED, FR_SID, FR_PID_READ))
# What Linux prints for each (drivers/iommu/intel/dmar.c irq_remap_fault_reasons).
FAULT_TEXT = {
    FR_REQUEST_RESERVED: "Detected reserved fields in the decoded interrupt-remapped request",
    FR_INDEX_RANGE: "Interrupt index exceeded the interrupt-remapping table size",
    FR_NOT_PRESENT: "Present field in the IRTE entry is clear",
    FR_READ_FAILED: "Error accessing interrupt-remapping table pointed by IRTA_REG",
    FR_IRTE_RESERVED: "Detected reserved fields in the IRTE entry",
    FR_COMPAT_BLOCKED: "Blocked a compatibility format interrupt request",
    FR_SID: "Blocked an interrupt request due to source-id verification failure",
    FR_PID_READ: "Posted-interrupt descriptor read failed",
}

# Derived constants the unit and the OS use (free at run time).
ECAP_QI, ECAP_IR, ECAP_EIM = (ECAP.mask(n) for n in ("qi", "ir", "eim"))
CAP_PI = CAP.mask("pi")
GCMD_TE = GCMD.mask("te")
GSTS_TES = GSTS.mask("tes")
GCMD_ONE_SHOT = GCMD.mask("srtp") | GCMD.mask("sfl") | GCMD.mask("wbf") | GCMD_SIRTP
GCMD_PERSISTENT = GCMD_TE | GCMD_QIE | GCMD_IRE | GCMD_CFI
FSTS_PFO, FSTS_PPF, FSTS_IQE = (FSTS.mask(n) for n in ("pfo", "ppf", "iqe"))
FSTS_FRI_SHIFT = FSTS.field("fri").lsb
FECTL_IM, FECTL_IP = FECTL.mask("im"), FECTL.mask("ip")
ICS_IWC = ICS.mask("iwc")
IRTA_EIME = IRTA.mask("eime")
IRTA_S = IRTA.mask("s")
IRTA_BASE = IRTA.mask("ira")
IQA_BASE, IQA_QS = IQA.mask("iqa"), IQA.mask("qs")
IQ_INDEX_SHIFT = IQT.field("qt").lsb      # IQH/IQT hold the descriptor index << 4
IRTE_P, IRTE_FPD, IRTE_IM = (IRTE_LOW.mask(n) for n in ("p", "fpd", "im"))
IRTE_URG = IRTE_POSTED_LOW.mask("urg")
# Reserved bits of each IRTE format, per qword (mode-dependent DST bits added by the unit).
IRTE_LOW_RESERVED = IRTE_LOW.mask("reserved") | IRTE_LOW.mask("reserved_hi")
IRTE_HIGH_RESERVED = IRTE_HIGH.mask("reserved")
IRTE_XAPIC_DST_RESERVED = 0xFFFF_00FF << 32   # DST bits 39:32 and 63:48 in xAPIC mode
IRTE_POSTED_LOW_RESERVED = (IRTE_POSTED_LOW.mask("reserved") | IRTE_POSTED_LOW.mask("reserved2")
                            | IRTE_POSTED_LOW.mask("reserved3"))
IRTE_POSTED_HIGH_RESERVED = IRTE_POSTED_HIGH.mask("reserved")
SVT_NONE, SVT_SID, SVT_BUS, SVT_RESERVED = 0, 1, 2, 3
SQ_MASKS = (0xFFFF, 0xFFFB, 0xFFF9, 0xFFF8)   # SVT=01: compared bits of the SID per SQ
PID_ON, PID_SN = PID.mask("on"), PID.mask("sn")
PID_NV, PID_NDST = PID.field("nv"), PID.field("ndst")
