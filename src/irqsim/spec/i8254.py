"""The 8254 programmable interval timer of the PC/AT (Intel 82C54 datasheet, order 231244;
Intel PCH datasheets, "8254 Timers" and "NMI Status and Control" for port 61h).

Three 16-bit down counters clocked at 1.193182 MHz (14.31818 MHz / 12). Counter 0's OUT is
ISA IRQ 0 (the system timer), counter 1's the DRAM refresh request, counter 2's the speaker
and NMI_SC bit 5; counter 2's GATE is NMI_SC bit 0, the others' gates are tied high. Each
counter has a data port (40h-42h); 43h takes the control word, the counter latch command
and the read-back command. A counter is programmed with a control word (its mode, how the
data port is accessed, binary or BCD) and then an initial count; OUT's waveform follows the
mode (datasheet "Modes of Operation").
"""

from __future__ import annotations

from irqsim.spec.regs import RO, RSVD, RW, WO, F, Register

PIT_CH0 = 0x40
PIT_CH1 = 0x41
PIT_CH2 = 0x42
PIT_MODE = 0x43
NMI_SC = 0x61                       # NMI Status and Control (PC/AT port B)
PIT_PORTS = (PIT_CH0, PIT_CH1, PIT_CH2, PIT_MODE, NMI_SC)
PIT_TICK_RATE = 1_193_182           # Hz: Linux's PIT_TICK_RATE (include/linux/timex.h)
REFRESH_TOGGLE_NS = 15_085          # NMI_SC.REF_TOGGLE flips every 15.085 us (PCH datasheet)

CONTROL = Register("CONTROL", 3, 1, (
    F("bcd", 0, WO, "1: the count is four BCD decades (0: 16-bit binary)"),
    F("mode", (3, 1), WO, "counter mode 0-5 (6 and 7 are modes 2 and 3)"),
    F("rw", (5, 4), WO, "00: counter latch command; 01: LSB only; 10: MSB only; "
                        "11: LSB then MSB"),
    F("sc", (7, 6), WO, "the counter programmed (0-2); 11: read-back command"),
), doc="Control word register (port 43h, write-only)")

READ_BACK = Register("READ_BACK", 3, 1, (
    F("reserved", 0, RSVD, "0"),
    F("cnt0", 1, WO, "1: select counter 0"),
    F("cnt1", 2, WO, "1: select counter 1"),
    F("cnt2", 3, WO, "1: select counter 2"),
    F("status_n", 4, WO, "0: latch the selected counters' status"),
    F("count_n", 5, WO, "0: latch the selected counters' count"),
    F("sc", (7, 6), WO, "11 marks the read-back command"),
), doc="Read-back command (port 43h with SC = 11)")

STATUS = Register("STATUS", 0, 1, (
    F("bcd", 0, RO, "the control word's BCD"),
    F("mode", (3, 1), RO, "the control word's mode"),
    F("rw", (5, 4), RO, "the control word's RW"),
    F("null_count", 6, RO, "1: the last count written is not yet loaded into the counter"),
    F("output", 7, RO, "the state of OUT"),
), doc="Status byte a read-back command latches (read from the counter's data port)")

NMI_SC_REG = Register("NMI_SC", NMI_SC, 1, (
    F("tim_cnt2_en", 0, RW, "counter 2's GATE"),
    F("spkr_dat_en", 1, RW, "1: counter 2's OUT drives the speaker"),
    F("pci_serr_en", 2, RW, "1: SERR# NMI sources disabled"),
    F("iochk_nmi_en", 3, RW, "1: IOCHK# NMI sources disabled"),
    F("ref_toggle", 4, RO, "toggles with every DRAM refresh request (counter 1)"),
    F("tmr2_out_sts", 5, RO, "the state of counter 2's OUT"),
    F("iochk_nmi_sts", 6, RO, "an IOCHK# NMI is pending"),
    F("serr_nmi_sts", 7, RO, "a SERR# NMI is pending"),
), doc="NMI Status and Control (port 61h, PC/AT port B)")

CONTROL_BCD = CONTROL.mask("bcd")
CONTROL_MODE = CONTROL.mask("mode")
CONTROL_RW = CONTROL.mask("rw")
CONTROL_MODE_SHIFT = CONTROL.field("mode").lsb
CONTROL_RW_SHIFT = CONTROL.field("rw").lsb
CONTROL_SC_SHIFT = CONTROL.field("sc").lsb
SC_READ_BACK = 3
RW_LATCH, RW_LSB, RW_MSB, RW_WORD = 0, 1, 2, 3
READ_BACK_COUNTERS = READ_BACK.mask("cnt0") | READ_BACK.mask("cnt1") | READ_BACK.mask("cnt2")
READ_BACK_CNT_SHIFT = READ_BACK.field("cnt0").lsb
READ_BACK_STATUS_N = READ_BACK.mask("status_n")
READ_BACK_COUNT_N = READ_BACK.mask("count_n")
STATUS_NULL_COUNT = STATUS.mask("null_count")
STATUS_OUTPUT = STATUS.mask("output")
NMI_SC_WRITABLE = NMI_SC_REG.wmask
NMI_SC_GATE2 = NMI_SC_REG.mask("tim_cnt2_en")
NMI_SC_REF_TOGGLE = NMI_SC_REG.mask("ref_toggle")
NMI_SC_OUT2 = NMI_SC_REG.mask("tmr2_out_sts")

MODE_NAMES = ("interrupt on terminal count", "hardware retriggerable one-shot",
              "rate generator", "square wave", "software triggered strobe",
              "hardware triggered strobe")

