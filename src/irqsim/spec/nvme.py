"""NVMe controller registers, queue entries and the commands irqsim uses (NVM Express Base
Specification 2.0: 3.1.3 controller registers, 4.1 SQ entry, 4.2 CQ entry, 5.4 Create
I/O CQ, 5.5 Create I/O SQ, 5.27.1.7 Number of Queues, 5.27.1.8 Interrupt Coalescing,
5.27.1.9 Interrupt Vector Configuration). Behaviour-free, as the rest of ``irqsim.spec``.
"""

from __future__ import annotations

from irqsim.spec.regs import RO, RSVD, RW, F, Register

NVME_CLASS = 0x010802             # mass storage, non-volatile memory, NVM Express

CAP = Register("CAP", 0x00, 8, (
    F("mqes", (15, 0), RO, "maximum queue entries supported, 0's based"),
    F("cqr", 16, RO, "contiguous queues required"),
    F("ams", (18, 17), RO),
    F("to", (31, 24), RO, "ready timeout, 500 ms units"),
    F("dstrd", (35, 32), RO, "doorbell stride: 2^(2+DSTRD) bytes"),
    F("nssrs", 36, RO),
    F("css", (44, 37), RO, "command sets supported (bit 0: NVM)"),
    F("mpsmin", (51, 48), RO),
    F("mpsmax", (55, 52), RO),
))
VS = Register("VS", 0x08, 4, (F("ter", (7, 0), RO), F("mnr", (15, 8), RO),
                              F("mjr", (31, 16), RO)), reset=0x00020000)
INTMS = Register("INTMS", 0x0C, 4, (F("ivms", (31, 0), RW, "pin/MSI only"),))
INTMC = Register("INTMC", 0x10, 4, (F("ivmc", (31, 0), RW, "pin/MSI only"),))
CC = Register("CC", 0x14, 4, (
    F("en", 0, RW, "enable"),
    F("css", (6, 4), RW),
    F("mps", (10, 7), RW),
    F("ams", (13, 11), RW),
    F("shn", (15, 14), RW),
    F("iosqes", (19, 16), RW, "I/O SQ entry size, 2^n (6: 64 bytes)"),
    F("iocqes", (23, 20), RW, "I/O CQ entry size, 2^n (4: 16 bytes)"),
    F("rsvd", (31, 24), RSVD),
))
CSTS = Register("CSTS", 0x1C, 4, (F("rdy", 0, RO), F("cfs", 1, RO), F("shst", (3, 2), RO)))
AQA = Register("AQA", 0x24, 4, (
    F("asqs", (11, 0), RW, "admin SQ size, 0's based"),
    F("acqs", (27, 16), RW, "admin CQ size, 0's based"),
))
ASQ = Register("ASQ", 0x28, 8, (F("asqb", (63, 12), RW),))
ACQ = Register("ACQ", 0x30, 8, (F("acqb", (63, 12), RW),))
DOORBELL_BASE = 0x1000            # SQ y tail at 0x1000 + 2y*stride, CQ y head at +(2y+1)*stride

SQE_SIZE = 64
CQE_SIZE = 16

# Submission queue entry (4.1): CDW0 = opcode [7:0], CID [31:16]; PRP1 at bytes 24-31;
# CDW10 at byte 40, CDW11 at 44.
SQE_CDW0 = Register("SQE CDW0", 0, 4, (F("opc", (7, 0)), F("fuse", (9, 8)),
                                       F("psdt", (15, 14)), F("cid", (31, 16))))
SQE_PRP1_OFF, SQE_CDW10_OFF, SQE_CDW11_OFF, SQE_CDW12_OFF = 24, 40, 44, 48
# Completion queue entry (4.2): DW0 result, DW2 SQ head + SQ id, DW3 CID, phase, status.
CQE_DW2 = Register("CQE DW2", 8, 4, (F("sqhd", (15, 0), RO), F("sqid", (31, 16), RO)))
CQE_DW3 = Register("CQE DW3", 12, 4, (F("cid", (15, 0), RO), F("p", 16, RO, "phase tag"),
                                      F("sf", (31, 17), RO, "status field")))

# Admin opcodes (5.x) and the NVM I/O opcodes (NVM Command Set 3.3).
ADMIN_CREATE_IO_SQ = 0x01
ADMIN_CREATE_IO_CQ = 0x05
ADMIN_SET_FEATURES = 0x09
IO_WRITE = 0x01
IO_READ = 0x02

# Create I/O CQ CDW10/CDW11 (5.4): QSIZE 0's based, QID; IV, IEN, PC.
CREATE_CQ_CDW10 = Register("Create I/O CQ CDW10", 40, 4, (F("qid", (15, 0)),
                                                          F("qsize", (31, 16))))
CREATE_CQ_CDW11 = Register("Create I/O CQ CDW11", 44, 4, (F("pc", 0), F("ien", 1),
                                                          F("iv", (31, 16))))
CREATE_SQ_CDW11 = Register("Create I/O SQ CDW11", 44, 4, (F("pc", 0), F("qprio", (2, 1)),
                                                          F("cqid", (31, 16))))

# Set Features feature identifiers and their CDW11 layouts (5.27.1).
FID_NUMBER_OF_QUEUES = 0x07
FID_INTERRUPT_COALESCING = 0x08
FID_INTERRUPT_VECTOR_CONFIG = 0x09
NUMBER_OF_QUEUES = Register("Number of Queues", 44, 4, (F("nsqr", (15, 0)),
                                                        F("ncqr", (31, 16))))
INTERRUPT_COALESCING = Register("Interrupt Coalescing", 44, 4, (
    F("thr", (7, 0), RW, "aggregation threshold: entries per interrupt, 0's based"),
    F("time", (15, 8), RW, "aggregation time, 100 us units (0: no delay)"),
))
INTERRUPT_VECTOR_CONFIG = Register("Interrupt Vector Configuration", 44, 4, (
    F("iv", (15, 0), RW), F("cd", 16, RW, "coalescing disable for this vector"),
))
AGGREGATION_TIME_UNIT_NS = 100_000
