"""Local APIC registers: xAPIC MMIO offsets and x2APIC MSRs with each mode's access rule
(Intel SDM vol. 3 10.4.1 Table 10-1, 10.12.1.2 Table 10-6; semantics.md A.1, A.8, A.12).

Each register is declared once; the per-mode access rules, reserved bits, LVT layouts and the
ICR come from here, and the Local APIC's MMIO/MSR dispatch is derived from them.
"""

from __future__ import annotations

from typing import Final

from irqsim.spec.cpu import X2APIC_MSR_BASE
from irqsim.spec.regs import RO, RW, WO, F, Register

MODE_DISABLED, MODE_XAPIC, MODE_X2APIC = 0, 1, 2
MODE_NAMES = {0: "disabled", 1: "xAPIC", 2: "x2APIC"}

LVT_NAMES = ("CMCI", "Timer", "Thermal", "PerfMon", "LINT0", "LINT1", "Error")
LVT_OFFSETS = (0x2F0, 0x320, 0x330, 0x340, 0x350, 0x360, 0x370)
LVT_CMCI, LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR = range(7)


def _lvt(name: str, offset: int) -> Register:
    """An LVT entry declared with the fields its kind has (SDM Figure 10-8; A.8)."""
    fields = [F("vector", (7, 0), RW)]
    if name not in ("Timer", "Error"):
        fields.append(F("delivery_mode", (10, 8), RW))
    fields.append(F("delivery_status", 12, RO))
    if name in ("LINT0", "LINT1"):
        fields += [F("polarity", 13, RW), F("remote_irr", 14, RO), F("trigger_mode", 15, RW)]
    fields.append(F("mask", 16, RW))
    if name == "Timer":
        fields.append(F("timer_mode", (18, 17), RW, "00 one-shot, 01 periodic, 10 TSC-deadline"))
    return Register(f"LVT_{name}", offset, 4, tuple(fields), reset=1 << 16)


_ICR_LOW_FIELDS = (
    F("vector", (7, 0), RW), F("delivery_mode", (10, 8), RW), F("destination_mode", 11, RW),
    F("delivery_status", 12, RO), F("level", 14, RW), F("trigger_mode", 15, RW),
    F("shorthand", (19, 18), RW, "00 none, 01 self, 10 all incl. self, 11 all excl. self"))

# Register map declared as data: offset -> declaration (xAPIC view, SDM Table 10-1).
_R = Register
APIC_REGISTERS: dict[int, Register] = {r.offset: r for r in (
    _R("ID", 0x020, 4, (F("id", (31, 24), RW),)),
    _R("Version", 0x030, 4, (F("version", (7, 0), RO), F("max_lvt", (23, 16), RO),
                             F("eoi_broadcast_suppression", 24, RO))),
    _R("TPR", 0x080, 4, (F("subclass", (3, 0), RW), F("class", (7, 4), RW))),
    _R("APR", 0x090, 4, (F("apr", (7, 0), RO),)),
    _R("PPR", 0x0A0, 4, (F("ppr", (7, 0), RO),)),
    _R("EOI", 0x0B0, 4, (F("eoi", (31, 0), WO),)),
    _R("RRD", 0x0C0, 4, (F("rrd", (31, 0), RO),)),
    _R("LDR", 0x0D0, 4, (F("logical_id", (31, 24), RW),)),
    _R("DFR", 0x0E0, 4, (F("model", (31, 28), RW), F("ones", (27, 0), RO)), reset=0xFFFFFFFF),
    _R("SVR", 0x0F0, 4, (F("vector", (7, 0), RW), F("apic_enable", 8, RW),
                         F("focus_disable", 9, RW), F("eoi_broadcast_suppression", 12, RW)),
       reset=0xFF),
    *(_R(f"ISR{i}", 0x100 + 0x10 * i, 4, (F("bits", (31, 0), RO),)) for i in range(8)),
    *(_R(f"TMR{i}", 0x180 + 0x10 * i, 4, (F("bits", (31, 0), RO),)) for i in range(8)),
    *(_R(f"IRR{i}", 0x200 + 0x10 * i, 4, (F("bits", (31, 0), RO),)) for i in range(8)),
    _R("ESR", 0x280, 4, (
        F("send_checksum", 0, RW), F("receive_checksum", 1, RW), F("send_accept", 2, RW),
        F("receive_accept", 3, RW), F("redirectable_ipi", 4, RW),
        F("send_illegal_vector", 5, RW), F("receive_illegal_vector", 6, RW),
        F("illegal_register", 7, RW)),
       doc="a write latches the hidden error bits into the register (SDM 10.5.3)"),
    _R("ICR_LOW", 0x300, 4, _ICR_LOW_FIELDS),
    _R("ICR_HIGH", 0x310, 4, (F("destination", (31, 24), RW),)),
    *(_lvt(n, o) for n, o in zip(LVT_NAMES, LVT_OFFSETS, strict=True)),
    _R("TMICT", 0x380, 4, (F("count", (31, 0), RW),)),
    _R("TMCCT", 0x390, 4, (F("count", (31, 0), RO),)),
    _R("TDCR", 0x3E0, 4, (F("divide_lo", (1, 0), RW), F("divide_hi", 3, RW))),
    _R("SELF_IPI", 0x3F0, 4, (F("vector", (7, 0), WO),)),
)}

# Where the x2APIC view differs (SDM 10.12.1.2, Table 10-6): offset -> declaration.
X2APIC_REGISTERS: dict[int, Register] = {**APIC_REGISTERS, **{r.offset: r for r in (
    _R("ID", 0x020, 4, (F("x2apic_id", (31, 0), RO),)),
    _R("LDR", 0x0D0, 4, (F("logical_id", (15, 0), RO), F("cluster", (31, 16), RO))),
    _R("ICR", 0x300, 8, (*_ICR_LOW_FIELDS, F("destination", (63, 32), RW))),
)}}

# Access rule per mode (semantics.md A.1 table; KUT get_x2apic_reg_semantics):
# "RW", "RO", "WO", or "" = not a register in that mode (xAPIC: ESR bit 7; x2APIC: #GP).
APIC_ACCESS: dict[int, tuple[str, str]] = {
    0x020: ("RW", "RO"), 0x030: ("RO", "RO"), 0x080: ("RW", "RW"), 0x090: ("RO", ""),
    0x0A0: ("RO", "RO"), 0x0B0: ("WO", "WO"), 0x0C0: ("RO", ""), 0x0D0: ("RW", "RO"),
    0x0E0: ("RW", ""), 0x0F0: ("RW", "RW"),
    **{0x100 + 0x10 * i: ("RO", "RO") for i in range(24)},
    0x280: ("RW", "RW"), 0x2F0: ("RW", "RW"), 0x300: ("RW", "RW"), 0x310: ("RW", ""),
    **{o: ("RW", "RW") for o in LVT_OFFSETS[1:]},
    0x380: ("RW", "RW"), 0x390: ("RO", "RO"), 0x3E0: ("RW", "RW"), 0x3F0: ("", "WO"),
}
# x2APIC registers whose WRMSR must write 0 (non-zero #GPs, SDM 10.12.1.2).
X2APIC_WRITE_ZERO = frozenset({0x0B0, 0x280})
# Bits (or registers) that exist only with a CPU/APIC feature: without it they are reserved.
FEATURE_REGISTER = {"cmci": 0x2F0}      # LVT CMCI: Version max LVT entry >= 6
_TM = APIC_REGISTERS[0x320].field("timer_mode")
FEATURE_BITS = {
    "directed_eoi": (0x0F0, APIC_REGISTERS[0x0F0].mask("eoi_broadcast_suppression")),
    "tsc_deadline": (0x320, 1 << (_TM.lsb + 1)),        # LVT Timer mode 10b (TSC-deadline)
}


def _offset(name: str) -> int:
    return next(o for o, r in APIC_REGISTERS.items() if r.name == name)


def x2apic_msr(offset: int) -> int:
    """x2APIC MSR index of the register at xAPIC ``offset`` (0x800 + offset >> 4)."""
    return X2APIC_MSR_BASE + (offset >> 4)


# Derived constants (free at run time).
APIC_ID, APIC_VERSION, APIC_TPR, APIC_LDR, APIC_DFR, APIC_SVR, APIC_ESR = (
    _offset(n) for n in ("ID", "Version", "TPR", "LDR", "DFR", "SVR", "ESR"))
APIC_ICR, APIC_ICR2, APIC_TMICT, APIC_TMCCT, APIC_TDCR, APIC_SELF_IPI = (
    _offset(n) for n in ("ICR_LOW", "ICR_HIGH", "TMICT", "TMCCT", "TDCR", "SELF_IPI"))
APIC_ISR, APIC_TMR, APIC_IRR = _offset("ISR0"), _offset("TMR0"), _offset("IRR0")
APIC_EOI: Final = _offset("EOI")        # Final: a C constant on the compiled EOI path
MSR_X2APIC_EOI: Final = x2apic_msr(APIC_EOI)
MSR_X2APIC_ICR = x2apic_msr(APIC_ICR)

_ESR = APIC_REGISTERS[APIC_ESR]
ESR_SEND_CHECKSUM = _ESR.mask("send_checksum")
ESR_RECV_CHECKSUM = _ESR.mask("receive_checksum")
ESR_SEND_ACCEPT = _ESR.mask("send_accept")
ESR_RECV_ACCEPT = _ESR.mask("receive_accept")
ESR_REDIRECTABLE_IPI = _ESR.mask("redirectable_ipi")
ESR_SEND_ILLEGAL_VECTOR = _ESR.mask("send_illegal_vector")
ESR_RECV_ILLEGAL_VECTOR: Final = _ESR.mask("receive_illegal_vector")
ESR_ILLEGAL_REGISTER = _ESR.mask("illegal_register")

_SVR = APIC_REGISTERS[APIC_SVR]
SVR_VECTOR: Final = _SVR.mask("vector")
SVR_ENABLE: Final = _SVR.mask("apic_enable")
SVR_FOCUS_DISABLE = _SVR.mask("focus_disable")
SVR_SUPPRESS_EOI_BROADCAST: Final = _SVR.mask("eoi_broadcast_suppression")

_LINT0 = APIC_REGISTERS[LVT_OFFSETS[LVT_LINT0]]
LVT_VECTOR: Final = _LINT0.mask("vector")
LVT_MODE_SHIFT = _LINT0.field("delivery_mode").lsb
LVT_DELIVERY_STATUS = _LINT0.mask("delivery_status")
LVT_REMOTE_IRR = _LINT0.mask("remote_irr")
LVT_LEVEL: Final = _LINT0.mask("trigger_mode")
LVT_MASK: Final = _LINT0.mask("mask")
_TIMER_MODE = APIC_REGISTERS[LVT_OFFSETS[LVT_TIMER]].field("timer_mode")
LVT_TIMER_MODE_SHIFT = _TIMER_MODE.lsb
LVT_TIMER_MODE = _TIMER_MODE.mask
LVT_WMASK = tuple(APIC_REGISTERS[o].wmask for o in LVT_OFFSETS)
LVT_INDEX = {o: i for i, o in enumerate(LVT_OFFSETS)}

_ICR = X2APIC_REGISTERS[APIC_ICR]
ICR_VECTOR = _ICR.mask("vector")
ICR_MODE_SHIFT = _ICR.field("delivery_mode").lsb
ICR_LOGICAL = _ICR.mask("destination_mode")
ICR_DELIVERY_STATUS = _ICR.mask("delivery_status")
ICR_LEVEL_ASSERT = _ICR.mask("level")
ICR_TRIGGER_LEVEL = _ICR.mask("trigger_mode")
ICR_SHORTHAND_SHIFT = _ICR.field("shorthand").lsb
ICR_SHORTHAND_SELF, ICR_SHORTHAND_ALL, ICR_SHORTHAND_OTHERS = (
    n << ICR_SHORTHAND_SHIFT for n in (1, 2, 3))
ICR_WRITABLE = APIC_REGISTERS[APIC_ICR].wmask
ICR_DEST_SHIFT = APIC_REGISTERS[APIC_ICR2].field("destination").lsb
X2APIC_ICR_DEST_SHIFT = _ICR.field("destination").lsb
