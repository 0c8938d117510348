"""The PC/AT real-time clock: a Motorola MC146818A (datasheet, "Address Map", "Registers",
"Interrupts", "Update Cycle"; Intel PCH datasheets, "Real Time Clock" for ports 70h-73h).

The chip has 14 clock registers and CMOS RAM behind an index port (70h, whose bit 7 is the
chipset's NMI disable) and a data port (71h); PCH RTCs have an upper 128-byte bank at
72h/73h. Registers 00h-09h hold time, alarm and date in BCD or binary (register B's DM),
hours in 24- or 12-hour form (bit 7 = PM). Register A selects the divider and the periodic
rate, B the interrupt enables and modes, C holds the flags (reading it clears them and
drops the IRQ), D the valid-RAM bit. The clock's IRQ output is ISA IRQ 8.
"""

from __future__ import annotations

from irqsim.spec.regs import RO, RSVD, RW, F, Register

RTC_INDEX = 0x70
RTC_DATA = 0x71
RTC_UPPER_INDEX = 0x72
RTC_UPPER_DATA = 0x73
RTC_PORTS = (RTC_INDEX, RTC_DATA, RTC_UPPER_INDEX, RTC_UPPER_DATA)
RTC_IRQ = 8
NMI_DISABLE = 0x80                  # port 70h bit 7 (PCH NMI_EN: 1 disables NMI sources)
RTC_INDEX_MASK = 0x7F
TIME_BASE_HZ = 32_768               # the divider's input (DV = 010)
UPDATE_PERIOD_NS = 1_000_000_000
T_BUC_NS = 244_000                  # UIP rises this long before an update cycle begins
T_UC_NS = 1_984_000                 # an update cycle (32.768 kHz time base)
FIRST_UPDATE_NS = 500_000_000       # after the divider leaves reset, the first update

SECONDS, SECONDS_ALARM, MINUTES, MINUTES_ALARM, HOURS, HOURS_ALARM = 0, 1, 2, 3, 4, 5
DAY_OF_WEEK, DAY_OF_MONTH, MONTH, YEAR = 6, 7, 8, 9
REG_A, REG_B, REG_C, REG_D = 0x0A, 0x0B, 0x0C, 0x0D
CENTURY = 0x32                      # the CMOS byte ACPI's FADT names for the century
TIME_REGISTERS = range(0, 10)
ALARM_DONT_CARE = 0xC0              # an alarm byte 0xC0-0xFF matches every value
HOUR_PM = 0x80                      # 12-hour mode: bit 7 of the hours (and hours alarm)

REGISTER_A = Register("REG_A", REG_A, 1, (
    F("rs", (3, 0), RW, "rate select: the periodic interrupt rate (0: none)"),
    F("dv", (6, 4), RW, "divider: 010 = 32.768 kHz time base; 11x = divider held in reset"),
    F("uip", 7, RO, "update in progress: an update cycle begins within 244 us or is on"),
), reset=0x26, doc="Register A (divider and rate; firmware leaves 26h: 32.768 kHz, 1024 Hz)")
REGISTER_B = Register("REG_B", REG_B, 1, (
    F("dse", 0, RW, "daylight saving enable"),
    F("hour24", 1, RW, "1: 24-hour mode (0: 12-hour, bit 7 of hours = PM)"),
    F("dm", 2, RW, "data mode: 1 binary, 0 BCD"),
    F("sqwe", 3, RW, "square-wave output enable"),
    F("uie", 4, RW, "update-ended interrupt enable"),
    F("aie", 5, RW, "alarm interrupt enable"),
    F("pie", 6, RW, "periodic interrupt enable"),
    F("set", 7, RW, "1: updates inhibited while software sets the time"),
), reset=0x02, doc="Register B (modes and interrupt enables)")
REGISTER_C = Register("REG_C", REG_C, 1, (
    F("reserved", (3, 0), RSVD, "0"),
    F("uf", 4, RO, "an update cycle ended"),
    F("af", 5, RO, "the time matched the alarm"),
    F("pf", 6, RO, "a periodic interval passed"),
    F("irqf", 7, RO, "IRQ asserted: (PF and PIE) or (AF and AIE) or (UF and UIE)"),
), doc="Register C (interrupt flags; reading it clears every flag and drops the IRQ)")
REGISTER_D = Register("REG_D", REG_D, 1, (
    F("reserved", (6, 0), RSVD, "0"),
    F("vrt", 7, RO, "valid RAM and time: the battery held"),
), reset=0x80, doc="Register D (valid RAM and time)")

A_RS = REGISTER_A.mask("rs")
A_DV = REGISTER_A.mask("dv")
A_DV_SHIFT = REGISTER_A.field("dv").lsb
A_UIP = REGISTER_A.mask("uip")
DV_32K = 0b010
B_HOUR24 = REGISTER_B.mask("hour24")
B_DM = REGISTER_B.mask("dm")
B_UIE = REGISTER_B.mask("uie")
B_AIE = REGISTER_B.mask("aie")
B_PIE = REGISTER_B.mask("pie")
B_SET = REGISTER_B.mask("set")
C_UF = REGISTER_C.mask("uf")
C_AF = REGISTER_C.mask("af")
C_PF = REGISTER_C.mask("pf")
C_IRQF = REGISTER_C.mask("irqf")
D_VRT = REGISTER_D.mask("vrt")


def periodic_ticks(rs: int) -> int:
    """The periodic interval in 32.768 kHz ticks for rate select ``rs`` (0: none; 1 and 2
    give 256 and 128 Hz, as 8 and 9 do: datasheet table "Periodic Interrupt Rate")."""
    if rs == 0:
        return 0
    if rs <= 2:
        rs += 7
    return 1 << (rs - 1)
