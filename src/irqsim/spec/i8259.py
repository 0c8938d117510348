"""The 8259A programmable interrupt controller pair of the PC/AT (Intel 8259A datasheet,
order 231468; PIIX/ICH datasheets for the ELCR).

Two chips: the master at I/O ports 0x20/0x21, the slave at 0xA0/0xA1, cascaded on the
master's IR2. Each chip has one command port (A0 = 0: ICW1, OCW2, OCW3; reads IRR or ISR)
and one data port (A0 = 1: ICW2-ICW4 during initialisation, then OCW1 = IMR). A write to
the command port with bit 4 set is ICW1; with bits 4:3 = 00 it is OCW2, with 01 it is OCW3
(datasheet "Programming the 8259A"). The edge/level control registers (ELCR, ports
0x4D0/0x4D1) are the chipset's: bit n = 1 makes IRQ n level-sensitive.
"""

from __future__ import annotations

from irqsim.spec.regs import RSVD, RW, WO, F, Register

PIC_MASTER_CMD = 0x20
PIC_MASTER_DATA = 0x21
PIC_SLAVE_CMD = 0xA0
PIC_SLAVE_DATA = 0xA1
ELCR1 = 0x4D0                       # IRQ 0-7
ELCR2 = 0x4D1                       # IRQ 8-15
PIC_PORTS = (PIC_MASTER_CMD, PIC_MASTER_DATA, PIC_SLAVE_CMD, PIC_SLAVE_DATA, ELCR1, ELCR2)
CASCADE_IR = 2                      # the master input the slave's INT drives (PC/AT)
SPURIOUS_IR = 7                     # the IR a chip answers when its request went away

ICW1 = Register("ICW1", 0, 1, (
    F("ic4", 0, WO, "1: ICW4 follows"),
    F("sngl", 1, WO, "1: single 8259A, no ICW3"),
    F("adi", 2, WO, "call address interval (MCS-80/85 only)"),
    F("ltim", 3, WO, "1: level-triggered mode for every input"),
    F("icw1", 4, WO, "1 marks ICW1 on the command port"),
    F("a7_a5", (7, 5), WO, "vector address bits (MCS-80/85 only)"),
), doc="Initialization Command Word 1 (command port)")
ICW2 = Register("ICW2", 1, 1, (
    F("a10_a8", (2, 0), RSVD, "MCS-80/85 address bits; 0 in 8086 mode"),
    F("t7_t3", (7, 3), WO, "vector base: the INTA vector is T7-T3 and the IR number"),
), doc="Initialization Command Word 2 (data port)")
ICW3_MASTER = Register("ICW3_MASTER", 1, 1, (
    F("slaves", (7, 0), WO, "bit n = 1: a slave is on IRn"),
), doc="ICW3 of a master: which inputs have slaves")
ICW3_SLAVE = Register("ICW3_SLAVE", 1, 1, (
    F("id", (2, 0), WO, "the master input this slave is on (its cascade ID)"),
    F("reserved", (7, 3), RSVD),
), doc="ICW3 of a slave: its ID")
ICW4 = Register("ICW4", 1, 1, (
    F("upm", 0, WO, "1: 8086/8088 mode (0: MCS-80/85)"),
    F("aeoi", 1, WO, "1: automatic EOI at the end of the INTA sequence"),
    F("ms", 2, WO, "buffered mode: 1 master, 0 slave"),
    F("buf", 3, WO, "1: buffered mode"),
    F("sfnm", 4, WO, "1: special fully nested mode"),
    F("reserved", (7, 5), RSVD),
), doc="Initialization Command Word 4 (data port)")
OCW1 = Register("OCW1", 1, 1, (
    F("imr", (7, 0), RW, "interrupt mask: bit n = 1 masks IRn"),
), doc="Operation Command Word 1: the IMR (data port, reads back)")
OCW2 = Register("OCW2", 0, 1, (
    F("level", (2, 0), WO, "the IR level a specific command acts on"),
    F("ocw2", (4, 3), WO, "00 marks OCW2 on the command port"),
    F("eoi", 5, WO, "end of interrupt"),
    F("sl", 6, WO, "specific: act on level L2-L0"),
    F("r", 7, WO, "rotate priorities"),
), doc="Operation Command Word 2 (command port): EOI and rotation")
OCW3 = Register("OCW3", 0, 1, (
    F("ris", 0, WO, "with RR: 1 reads ISR, 0 reads IRR"),
    F("rr", 1, WO, "1: RIS selects the register a command-port read returns"),
    F("p", 2, WO, "1: poll command"),
    F("ocw3", (4, 3), WO, "01 marks OCW3 on the command port"),
    F("smm", 5, WO, "with ESMM: 1 sets, 0 resets special mask mode"),
    F("esmm", 6, WO, "1: SMM is significant"),
    F("reserved", 7, RSVD, "0"),
), doc="Operation Command Word 3 (command port): register read, poll, special mask")
ELCR = Register("ELCR", 0, 2, (
    F("level", (15, 0), RW, "bit n = 1: IRQ n is level-sensitive (0: edge)"),
), doc="Edge/Level Control Registers 1 and 2 (ports 0x4D0, 0x4D1; PIIX/ICH)")

ICW1_IC4 = ICW1.mask("ic4")
ICW1_SNGL = ICW1.mask("sngl")
ICW1_LTIM = ICW1.mask("ltim")
ICW1_MARK = ICW1.mask("icw1")
ICW2_BASE = ICW2.mask("t7_t3")
ICW4_UPM = ICW4.mask("upm")
ICW4_AEOI = ICW4.mask("aeoi")
ICW4_SFNM = ICW4.mask("sfnm")
OCW_SELECT = OCW2.mask("ocw2")          # bits 4:3: 00 OCW2, 01 OCW3
OCW3_MARK = 1 << OCW3.field("ocw3").lsb
OCW3_RIS = OCW3.mask("ris")
OCW3_RR = OCW3.mask("rr")
OCW3_POLL = OCW3.mask("p")
OCW3_SMM = OCW3.mask("smm")
OCW3_ESMM = OCW3.mask("esmm")
OCW2_LEVEL = OCW2.mask("level")
OCW2_CMD_SHIFT = OCW2.field("eoi").lsb  # R, SL, EOI as a 3-bit command

# OCW2 commands (R SL EOI), datasheet table "Operation Command Word 2".
OCW2_ROTATE_AEOI_CLEAR = 0b000
OCW2_NONSPECIFIC_EOI = 0b001
OCW2_NOP = 0b010
OCW2_SPECIFIC_EOI = 0b011
OCW2_ROTATE_AEOI_SET = 0b100
OCW2_ROTATE_NONSPECIFIC_EOI = 0b101
OCW2_SET_PRIORITY = 0b110
OCW2_ROTATE_SPECIFIC_EOI = 0b111
OCW2_NAMES = {0: "clear rotate in AEOI", 1: "non-specific EOI", 2: "no operation",
              3: "specific EOI", 4: "set rotate in AEOI", 5: "rotate on non-specific EOI",
              6: "set priority", 7: "rotate on specific EOI"}

# PIIX3/ICH: IRQ 0, 1, 2, 8 and 13 are edge only; their ELCR bits are reserved (read 0).
ELCR_RESERVED = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 8) | (1 << 13)
