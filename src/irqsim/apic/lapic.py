"""Local APIC: xAPIC (MMIO) and x2APIC (MSR) register files (Intel SDM vol. 3 ch. 10/11;
semantics.md A.1-A.12).

IRR, ISR and TMR are 256-bit integers (bit v = vector v); the 32-bit registers software reads
are slices of them. Acceptance, PPR and EOI follow A.4-A.7. The register map, with each mode's
access rule, is declared as data (``APIC_REGISTERS``, ``X2APIC_REGISTERS``, ``APIC_ACCESS``);
the access checks and the tests' access matrix derive from it. Guest misuse never raises: an
illegal xAPIC access sets ESR bit 7, an illegal x2APIC access returns #GP to the CPU (the
``msr_*`` methods return ``GP``/False and name the rule in ``last_gp``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from irqsim.apic.timer import ApicTimer, divisor
from irqsim.regs import RO, RW, WO, F, Register
from irqsim.sim.context import SimContext

if TYPE_CHECKING:
    from irqsim.apic.interconnect import ApicBus
    from irqsim.fabric.tlp import Tlp

APIC_DEFAULT_BASE = 0xFEE00000
MSR_APIC_BASE = 0x1B
MSR_TSC_DEADLINE = 0x6E0
X2APIC_MSR_BASE = 0x800
APIC_BASE_BSP = 1 << 8
APIC_BASE_EXTD = 1 << 10
APIC_BASE_EN = 1 << 11
MAXPHYADDR = 46
MODE_DISABLED, MODE_XAPIC, MODE_X2APIC = 0, 1, 2
MODE_NAMES = {0: "disabled", 1: "xAPIC", 2: "x2APIC"}
GP = -1                      # msr_read's "#GP" result

# ESR bits (SDM 10.5.3)
ESR_SEND_CHECKSUM = 1 << 0
ESR_RECV_CHECKSUM = 1 << 1
ESR_SEND_ACCEPT = 1 << 2
ESR_RECV_ACCEPT = 1 << 3
ESR_REDIRECTABLE_IPI = 1 << 4
ESR_SEND_ILLEGAL_VECTOR = 1 << 5
ESR_RECV_ILLEGAL_VECTOR = 1 << 6
ESR_ILLEGAL_REGISTER = 1 << 7

SVR_ENABLE = 1 << 8
SVR_FOCUS_DISABLE = 1 << 9
SVR_SUPPRESS_EOI_BROADCAST = 1 << 12
LVT_MASK = 1 << 16
LVT_DELIVERY_STATUS = 1 << 12
LVT_REMOTE_IRR = 1 << 14
LVT_LEVEL = 1 << 15

LVT_NAMES = ("CMCI", "Timer", "Thermal", "PerfMon", "LINT0", "LINT1", "Error")
LVT_OFFSETS = (0x2F0, 0x320, 0x330, 0x340, 0x350, 0x360, 0x370)
LVT_CMCI, LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR = range(7)
LVT_WRITE_MASKS = (0x000117FF, 0x000710FF, 0x000117FF, 0x000117FF, 0x0001F7FF, 0x0001F7FF,
                   0x000110FF)
_LVT_INDEX = {o: i for i, o in enumerate(LVT_OFFSETS)}
ICR_WRITABLE = 0x000CCFFF    # vector, mode, dest mode, level, trigger, shorthand
ICR_DELIVERY_STATUS = 1 << 12


def _lvt(name: str, offset: int) -> Register:
    """An LVT entry declared with the fields its kind has (semantics.md A.8 write masks)."""
    fields = [F("vector", (7, 0), RW)]
    if name not in ("Timer", "Error"):
        fields.append(F("delivery_mode", (10, 8), RW))
    fields.append(F("delivery_status", 12, RO))
    if name in ("LINT0", "LINT1"):
        fields += [F("polarity", 13, RW), F("remote_irr", 14, RO), F("trigger_mode", 15, RW)]
    fields.append(F("mask", 16, RW))
    if name == "Timer":
        fields.append(F("timer_mode", (18, 17), RW, "00 one-shot, 01 periodic, 10 TSC-deadline"))
    return Register(f"LVT_{name}", offset, 4, tuple(fields), reset=LVT_MASK)


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
    _R("ESR", 0x280, 4, (F("errors", (7, 0), RW),)),
    _R("ICR_LOW", 0x300, 4, (F("vector", (7, 0), RW), F("delivery_mode", (10, 8), RW),
                             F("destination_mode", 11, RW), F("delivery_status", 12, RO),
                             F("level", 14, RW), F("trigger_mode", 15, RW),
                             F("shorthand", (19, 18), RW))),
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
    _R("ICR", 0x300, 8, (F("vector", (7, 0), RW), F("delivery_mode", (10, 8), RW),
                         F("destination_mode", 11, RW), F("delivery_status", 12, RO),
                         F("level", 14, RW), F("trigger_mode", 15, RW),
                         F("shorthand", (19, 18), RW), F("destination", (63, 32), RW))),
)}}

# Access rule per mode (semantics.md A.1 table; KUT get_x2apic_reg_semantics):
# "RW", "RO", "WO", or "" = not a register in that mode (xAPIC: ESR bit 7; x2APIC: #GP).
# CMCI (0x2F0) is RW in both modes only when the Version register's max LVT entry is >= 6.
APIC_ACCESS: dict[int, tuple[str, str]] = {
    0x020: ("RW", "RO"), 0x030: ("RO", "RO"), 0x080: ("RW", "RW"), 0x090: ("RO", ""),
    0x0A0: ("RO", "RO"), 0x0B0: ("WO", "WO"), 0x0C0: ("RO", ""), 0x0D0: ("RW", "RO"),
    0x0E0: ("RW", ""), 0x0F0: ("RW", "RW"),
    **{0x100 + 0x10 * i: ("RO", "RO") for i in range(24)},
    0x280: ("RW", "RW"), 0x2F0: ("RW", "RW"), 0x300: ("RW", "RW"), 0x310: ("RW", ""),
    **{o: ("RW", "RW") for o in LVT_OFFSETS[1:]},
    0x380: ("RW", "RW"), 0x390: ("RO", "RO"), 0x3E0: ("RW", "RW"), 0x3F0: ("", "WO"),
}


_X2_RESERVED = {o: r.reserved_mask | (((1 << 64) - 1) ^ ((1 << (8 * r.size)) - 1))
                for o, r in X2APIC_REGISTERS.items()}


def register_access(offset: int, x2apic: bool, cmci: bool = False) -> str:
    """Access rule of the register at xAPIC ``offset`` in one mode ("" = invalid)."""
    if offset == 0x2F0 and not cmci:
        return ""
    acc = APIC_ACCESS.get(offset)
    return "" if acc is None else acc[x2apic]


def x2apic_msr(offset: int) -> int:
    """x2APIC MSR index of the register at xAPIC ``offset`` (0x800 + offset >> 4)."""
    return X2APIC_MSR_BASE + (offset >> 4)


IA32_APIC_BASE = Register("IA32_APIC_BASE", MSR_APIC_BASE, 8, (
    F("bsp", 8, RO, "bootstrap processor"),
    F("extd", 10, RW, "x2APIC mode enable"),
    F("en", 11, RW, "APIC global enable"),
    F("base", (MAXPHYADDR - 1, 12), RW, "APIC page base"),
), reset=APIC_DEFAULT_BASE | APIC_BASE_EN)
APIC_BASE_RESERVED = IA32_APIC_BASE.reserved_mask & ~APIC_BASE_BSP


class CpuPort(Protocol):
    """What the LAPIC needs from its core: INTR and the NMI/INIT/SIPI/SMI pins."""

    def intr(self) -> None: ...


class LocalApic:
    """One Local APIC in disabled, xAPIC or x2APIC mode (IA32_APIC_BASE decides)."""

    __slots__ = ("_ipi_pending", "_lvt", "apic_id", "base_msr", "bus", "core_key", "cpu", "ctx",
                 "dfr", "esr", "esr_hidden", "hw_enabled", "icr_hi", "icr_lo", "initial_id",
                 "irr", "irr_meta", "isr", "isr_meta", "last_gp", "ldr", "mmio_on", "name",
                 "socket_key", "svr", "tdcr", "timer", "tmict", "tmr", "tpr", "tsc_deadline",
                 "version", "x2apic", "x2apic_capable")

    def __init__(self, ctx: SimContext, apic_id: int, name: str | None = None, *,
                 bsp: bool = False, cmci: bool = False, x2apic_capable: bool = True,
                 tsc_deadline: bool = True, directed_eoi: bool = False) -> None:
        if not 0 <= apic_id <= 0xFFFFFFFF:
            raise ValueError(f"APIC ID must fit in 32 bits, got {apic_id}")
        self.ctx = ctx
        self.initial_id = apic_id
        self.apic_id = apic_id & 0xFF       # xAPIC mode shows the low 8 bits (SDM 10.12.5)
        self.name = name or f"LAPIC{apic_id}"
        self.version = 0x14 | (6 if cmci else 5) << 16 | (int(directed_eoi) << 24)
        self.cpu: CpuPort | None = None
        self.bus: ApicBus | None = None
        self.x2apic_capable = x2apic_capable
        self.tsc_deadline = tsc_deadline
        self.irr_meta: dict[int, Tlp | None] = {}
        self.isr_meta: dict[int, Tlp | None] = {}
        self.base_msr = APIC_DEFAULT_BASE | APIC_BASE_EN | (APIC_BASE_BSP if bsp else 0)
        self.hw_enabled = True
        self.x2apic = False
        self.mmio_on = True
        self.core_key = apic_id
        self.socket_key = 0
        self.last_gp = ""
        self._ipi_pending = 0
        self.timer = ApicTimer(self)
        self.reset()

    def reset(self) -> None:
        """Power-up register state (semantics.md A.3); ID and IA32_APIC_BASE are kept."""
        self.tpr = 0
        self.svr = 0xFF
        self.irr = 0
        self.isr = 0
        self.tmr = 0
        self.esr = 0
        self.esr_hidden = 0
        self.ldr = 0
        self.dfr = 0xFFFFFFFF
        self.icr_lo = 0
        self.icr_hi = 0
        self.tmict = 0
        self.tdcr = 0
        self._lvt = [LVT_MASK] * 7
        self.irr_meta.clear()
        self.isr_meta.clear()
        self.timer.stop()
        self.timer.deadline = 0
        self.timer.tick = 2 * self.ctx.timing.apic_bus_cycle_ns

    # -- mode ------------------------------------------------------------------
    @property
    def mode(self) -> int:
        """MODE_DISABLED, MODE_XAPIC or MODE_X2APIC."""
        if not self.hw_enabled:
            return MODE_DISABLED
        return MODE_X2APIC if self.x2apic else MODE_XAPIC

    @property
    def has_cmci(self) -> bool:
        return (self.version >> 16) & 0xFF >= 6

    @property
    def base_address(self) -> int:
        """Physical address of the xAPIC MMIO page."""
        return self.base_msr & IA32_APIC_BASE.field("base").mask

    def access(self, offset: int, x2apic: bool | None = None) -> str:
        """Access rule of a register in ``x2apic`` mode (default: the current one)."""
        return register_access(offset, self.x2apic if x2apic is None else x2apic,
                               self.has_cmci)

    def set_base(self, value: int) -> bool:
        """WRMSR IA32_APIC_BASE: legal transitions only (A.2); False means #GP."""
        if value < 0 or value >> 64 or value & APIC_BASE_RESERVED:
            return self._gp("SDM 10.4.4 IA32_APIC_BASE reserved bit set",
                            f"write {value:#x} sets reserved bits")
        en = bool(value & APIC_BASE_EN)
        extd = bool(value & APIC_BASE_EXTD)
        if extd and not self.x2apic_capable:
            return self._gp("SDM 10.12.1 EXTD needs CPUID.01H:ECX.x2APIC",
                            "x2APIC enable on a processor without x2APIC")
        if extd and not en:
            return self._gp("SDM 10.12.5 invalid APIC state (EN=0, EXTD=1)",
                            f"write {value:#x} selects the invalid state")
        old = self.mode
        new = MODE_DISABLED if not en else (MODE_X2APIC if extd else MODE_XAPIC)
        if old == MODE_X2APIC and new == MODE_XAPIC:
            return self._gp("SDM 10.12.5 x2APIC -> xAPIC must go through disabled",
                            "direct x2APIC to xAPIC transition")
        if old == MODE_DISABLED and new == MODE_X2APIC:
            return self._gp("SDM 10.12.5 disabled -> x2APIC must go through xAPIC",
                            "direct disabled to x2APIC transition")
        self.base_msr = (value & ~APIC_BASE_BSP) | (self.base_msr & APIC_BASE_BSP)
        if new != old:
            self._mode_change(old, new)
        return True

    def _mode_change(self, old: int, new: int) -> None:
        ctx = self.ctx
        if new == MODE_DISABLED:
            pending = self.irr.bit_count()
            for _ in range(pending):
                ctx.ledger.drop("apic hardware-disabled")
            self.reset()
        self.hw_enabled = new != MODE_DISABLED
        self.x2apic = new == MODE_X2APIC
        self.mmio_on = new == MODE_XAPIC
        old_id = self.apic_id
        if new == MODE_X2APIC:
            self.apic_id = self.initial_id
            x = self.initial_id
            self.ldr = ((x >> 4) << 16) | (1 << (x & 0xF))
        elif old == MODE_DISABLED and new == MODE_XAPIC:
            self.apic_id = self.initial_id & 0xFF
        if ctx.tracer.on:
            ctx.tracer.emit(ctx.engine.now, self.name, self.name, "apic-mode",
                            mode=MODE_NAMES[new], was=MODE_NAMES[old])
        if self.bus is not None:
            self.bus.apic_changed(self, old_id)

    def init_reset(self) -> None:
        """INIT: registers back to power-up values; ID and APIC base kept (SDM 10.4.7.3)."""
        for _ in range(self.irr.bit_count()):
            self.ctx.ledger.drop("INIT reset")
        ldr = self.ldr
        self.reset()
        if self.x2apic:
            self.ldr = ldr
        if self.bus is not None:
            self.bus.apic_changed(self, self.apic_id)

    def set_id(self, new_id: int) -> None:
        """Change the APIC ID (xAPIC ID write) and re-index the bus."""
        old = self.apic_id
        self.apic_id = new_id
        if self.bus is not None and new_id != old:
            self.bus.apic_changed(self, old)

    # -- priorities --------------------------------------------------------
    @property
    def ppr(self) -> int:
        """Processor priority (SDM 10.8.3.1, semantics.md A.5)."""
        isrv = self.isr.bit_length() - 1 if self.isr else 0
        if (self.tpr & 0xF0) >= (isrv & 0xF0):
            return self.tpr & 0xFF
        return isrv & 0xF0

    @property
    def apr(self) -> int:
        """Arbitration priority (SDM 10.8.3.1, literally: max(TPR AND ISRV, IRRV) classes)."""
        tpr = self.tpr >> 4 & 0xF
        isrv = (self.isr.bit_length() - 1 if self.isr else 0) >> 4
        irrv = (self.irr.bit_length() - 1 if self.irr else 0) >> 4
        if tpr >= irrv and tpr > isrv:
            return self.tpr & 0xFF
        return max(tpr & isrv, irrv) << 4

    @property
    def software_enabled(self) -> bool:
        return bool(self.svr & SVR_ENABLE)

    def deliverable(self) -> int:
        """Highest IRR vector whose class is above the PPR class, else -1 (A.6)."""
        irr = self.irr
        if not irr or not self.svr & SVR_ENABLE:
            return -1
        v = irr.bit_length() - 1
        isr = self.isr
        pcls = self.tpr & 0xF0
        if isr:
            icls = (isr.bit_length() - 1) & 0xF0
            if icls > pcls:
                pcls = icls
        return v if (v & 0xF0) > pcls else -1

    # -- message side ------------------------------------------------------
    def accept_fixed(self, vector: int, level: bool, meta: Tlp | None = None) -> bool:
        """Accept a fixed/lowest-priority interrupt into IRR (A.4). False if not accepted."""
        ctx = self.ctx
        if not self.svr & SVR_ENABLE or vector < 16:
            if vector < 16:
                self._error(ESR_RECV_ILLEGAL_VECTOR)
                ctx.ledger.drop("illegal vector")
                ctx.diag(self.name, "SDM 10.5.3 ESR Receive Illegal Vector",
                         f"vector {vector} (0-15 are reserved) dropped")
            else:
                ctx.ledger.drop("apic software-disabled")
            return False
        bit = 1 << vector
        tracer = ctx.tracer
        if self.irr & bit:
            ctx.ledger.merged += 1
            # TMR[V] := trigger mode at every acceptance, merges included (A.4), so a level
            # message merging into a pending edge one still gets its EOI broadcast.
            if level:
                self.tmr |= bit
            elif self.tmr:
                self.tmr &= ~bit
            if tracer.on:
                tracer.emit(ctx.engine.now, self.name, self.name, "irr-merged", vector=vector)
            return True
        self.irr |= bit
        if level:
            self.tmr |= bit
        elif self.tmr:
            self.tmr &= ~bit
        self.irr_meta[vector] = meta
        if tracer.on:
            tracer.emit(ctx.engine.now, self.name, self.name, "irr-set", vector=vector,
                        ppr=self.ppr, level=level)
        cpu = self.cpu
        if cpu is not None and (vector & 0xF0) > (self.ppr & 0xF0):
            cpu.intr()
        return True

    def inta(self) -> int:
        """Interrupt acknowledge: highest deliverable IRR vector moves to ISR; else spurious."""
        v = self.deliverable()
        if v < 0:
            return self.svr & 0xFF | 0x100  # 0x100 flags "spurious" to the core
        bit = 1 << v
        self.irr &= ~bit
        self.isr |= bit
        self.isr_meta[v] = self.irr_meta.pop(v, None)
        return v

    def eoi(self) -> int:
        """Clear the highest ISR bit (A.7); broadcast level EOIs; returns the vector or -1."""
        isr = self.isr
        if not isr:
            return -1
        v = isr.bit_length() - 1
        self.isr = isr & ~(1 << v)
        self.isr_meta.pop(v, None)
        ctx = self.ctx
        if ctx.tracer.on:
            ctx.tracer.emit(ctx.engine.now, self.name, self.name, "eoi", vector=v)
        if self.tmr and self.tmr >> v & 1 and not self.svr & SVR_SUPPRESS_EOI_BROADCAST \
                and self.bus:
            self.bus.eoi_broadcast(v)
        if self.irr and self.cpu is not None and self.deliverable() >= 0:
            self.cpu.intr()
        return v

    def _error(self, bit: int) -> None:
        """Latch an error in the hidden ESR; raise the LVT Error interrupt if unmasked."""
        self.esr_hidden |= bit
        lvt = self._lvt[LVT_ERROR]
        if not lvt & LVT_MASK and self.hw_enabled:
            if lvt & 0xFF < 16:             # an illegal error vector cannot be delivered
                self.esr_hidden |= ESR_RECV_ILLEGAL_VECTOR
                return
            self.ctx.ledger.raised += 1
            self.accept_fixed(lvt & 0xFF, False)

    def local_interrupt(self, index: int) -> bool:
        """A local source (timer, LINT pin, thermal, ...) fires through its LVT entry."""
        lvt = self._lvt[index]
        if lvt & LVT_MASK or not self.hw_enabled:
            return False
        ctx = self.ctx
        ctx.ledger.raised += 1
        mode = 0 if index in (LVT_TIMER, LVT_ERROR) else (lvt >> 8) & 7
        cpu = self.cpu
        if mode == 0:
            level = index in (LVT_LINT0, LVT_LINT1) and bool(lvt & LVT_LEVEL)
            return self.accept_fixed(lvt & 0xFF, level)
        if mode == 4 and cpu is not None and hasattr(cpu, "nmi"):
            cpu.nmi()
            return True
        if mode in (2, 5) and cpu is not None and hasattr(cpu, "smi"):
            ctx.ledger.delivered += 1
            if mode == 2:
                cpu.smi()
            else:
                cpu.init_signal()
            return True
        ctx.ledger.drop("LVT delivery mode not modelled")
        ctx.diag(self.name, "SDM 10.5.1 LVT delivery mode",
                 f"LVT {LVT_NAMES[index]} delivery mode {mode:03b} (ExtINT needs an 8259; "
                 f"reserved modes are invalid) not delivered")
        return False

    def lint(self, pin: int, level: bool = True) -> bool:
        """Assert (edge) the LINT0/LINT1 pin: deliver through its LVT entry."""
        if pin not in (0, 1):
            raise ValueError(f"LINT pin must be 0 or 1, got {pin}")
        return self.local_interrupt(LVT_LINT0 + pin) if level else False

    # -- logical destination ---------------------------------------------
    def matches_logical(self, mda: int) -> bool:
        """Logical destination match: xAPIC flat/cluster or x2APIC cluster (SDM 10.6.2.2)."""
        if self.x2apic:
            if mda == 0xFFFFFFFF:
                return True
            ldr = self.ldr
            return (ldr >> 16) == (mda >> 16) and bool(ldr & mda & 0xFFFF)
        if mda == 0xFF:
            return True
        ldr = self.ldr >> 24
        if self.dfr >> 28 == 0xF:           # flat
            return bool(ldr & mda)
        return (ldr >> 4) == (mda >> 4) and bool(ldr & mda & 0xF)  # cluster

    # -- register values -----------------------------------------------------
    def _now(self) -> int:
        """Now: software accesses reach the LAPIC at their own instant (the engine's clock)."""
        return self.ctx.engine.now

    def _value(self, reg: int) -> int:
        """Current value of the register at ``reg`` as the current mode shows it."""
        if reg == 0x020:
            return self.apic_id if self.x2apic else (self.apic_id & 0xFF) << 24
        if reg == 0x030:
            return self.version
        if reg == 0x080:
            return self.tpr
        if reg == 0x090:
            return self.apr
        if reg == 0x0A0:
            return self.ppr
        if reg == 0x0D0:
            return self.ldr
        if reg == 0x0E0:
            return self.dfr
        if reg == 0x0F0:
            return self.svr
        if 0x100 <= reg < 0x280:
            bank = (reg - 0x100) >> 4
            src = (self.isr, self.tmr, self.irr)[bank >> 3]
            return (src >> (32 * (bank & 7))) & 0xFFFFFFFF
        if reg == 0x280:
            return self.esr
        if reg == 0x300:
            if self.x2apic:
                return self.icr_hi << 32 | self.icr_lo
            return self.icr_lo | (ICR_DELIVERY_STATUS if self._ipi_pending else 0)
        if reg == 0x310:
            return self.icr_hi
        i = _LVT_INDEX.get(reg)
        if i is not None:
            return self._lvt[i]
        if reg == 0x380:
            return self.tmict
        if reg == 0x390:
            return self.timer.current(self._now())
        if reg == 0x3E0:
            return self.tdcr
        return 0                            # EOI, RRD, SELF_IPI

    # -- xAPIC MMIO ------------------------------------------------------------
    def mmio_read(self, offset: int, size: int = 4) -> int:
        """Read a register; reads inside a 16-byte slot see its low 32 bits (A.1)."""
        if not self.mmio_on:
            return self._not_decoded(offset, "read", (1 << (8 * size)) - 1)
        reg = offset & 0xFF0
        acc = register_access(reg, False, self.has_cmci)
        if not acc:
            self._illegal_register(offset, "read")
            return 0
        val = self._value(reg) if acc != "WO" else 0
        shift = 8 * (offset & 3)
        return (val >> shift) & ((1 << (8 * size)) - 1) if offset & 0xC == 0 else 0

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        """Write a register (only aligned 32-bit writes take effect, as KVM)."""
        if not self.mmio_on:
            self._not_decoded(offset, "write", 0)
            return
        if size != 4 or offset & 0xF:
            self.ctx.diag(self.name, "SDM 10.4.1 APIC registers are 32-bit aligned",
                          f"{size}-byte write at offset {offset:#x} ignored")
            return
        if offset == 0x0B0:
            self.eoi()
            return
        acc = register_access(offset, False, self.has_cmci)
        if not acc:
            self._illegal_register(offset, "write")
        elif acc == "RO":
            self.ctx.diag(self.name, f"SDM 10.4.1 {APIC_REGISTERS[offset].name} is read-only",
                          f"write of {value & 0xFFFFFFFF:#x} ignored")
        else:
            self._write(offset, value & 0xFFFFFFFF)

    def _not_decoded(self, offset: int, what: str, result: int) -> int:
        self.ctx.diag(self.name, "SDM 10.4.3/10.12.2 APIC MMIO page not decoded when the APIC "
                      "is disabled or in x2APIC mode",
                      f"{what} at offset {offset:#x} in {MODE_NAMES[self.mode]} mode "
                      f"(reads all-ones, writes dropped)")
        return result

    # -- x2APIC MSRs -----------------------------------------------------------
    def msr_read(self, index: int) -> int:
        """RDMSR of an x2APIC MSR (0x800-0x8FF); returns GP (-1) for #GP (A.12)."""
        if not self.x2apic:
            self._gp("SDM 10.12.1.2 x2APIC MSRs #GP unless IA32_APIC_BASE.EXTD=1",
                     f"RDMSR {index:#x} in {MODE_NAMES[self.mode]} mode")
            return GP
        off = (index - X2APIC_MSR_BASE) << 4
        acc = register_access(off, True, self.has_cmci) if 0 <= off < 0x1000 else ""
        if acc in ("", "WO"):
            what = "write-only" if acc else "not an x2APIC register"
            self._gp(f"SDM 10.12.1.2 RDMSR {index:#x}: {what}", f"RDMSR {index:#x} faults")
            return GP
        return self._value(off)

    def msr_write(self, index: int, value: int) -> bool:
        """WRMSR of an x2APIC MSR; False means #GP (A.12)."""
        if index == 0x80B and self.x2apic and not value:
            self.eoi()
            return True
        if not self.x2apic:
            return self._gp("SDM 10.12.1.2 x2APIC MSRs #GP unless IA32_APIC_BASE.EXTD=1",
                            f"WRMSR {index:#x} in {MODE_NAMES[self.mode]} mode")
        off = (index - X2APIC_MSR_BASE) << 4
        acc = register_access(off, True, self.has_cmci) if 0 <= off < 0x1000 else ""
        if not acc:
            return self._gp(f"SDM 10.12.1.2 WRMSR {index:#x}: not an x2APIC register",
                            f"WRMSR {index:#x} faults")
        if acc == "RO":
            return self._gp(f"SDM 10.12.1.2 WRMSR {index:#x}: "
                            f"{X2APIC_REGISTERS[off].name} is read-only",
                            f"WRMSR {index:#x} faults")
        reserved = self.x2_reserved(off)
        if value < 0 or value & reserved:
            return self._gp(f"SDM 10.12.1.2 WRMSR {index:#x}: reserved bits set",
                            f"value {value:#x} has reserved bits {value & reserved:#x}")
        if off in (0x0B0, 0x280) and value:
            return self._gp(f"SDM 10.12.1.2 WRMSR {index:#x}: "
                            f"{X2APIC_REGISTERS[off].name} write must be 0",
                            f"value {value:#x}")
        self._write(off, value)
        return True

    def x2_reserved(self, offset: int) -> int:
        """Bits of an x2APIC write to ``offset`` that are reserved (setting any is #GP)."""
        mask = _X2_RESERVED[offset]
        if offset == 0x0F0 and not self.version >> 24 & 1:
            mask |= SVR_SUPPRESS_EOI_BROADCAST
        if offset == LVT_OFFSETS[LVT_TIMER] and not self.tsc_deadline:
            mask |= 1 << 18
        if offset in (0x0B0, 0x280):
            mask = ((1 << 64) - 1) ^ 0xFFFFFFFF
        return mask

    # -- register writes (access already checked) --------------------------------
    def _write(self, reg: int, v: int) -> None:
        if reg == 0x020:
            self.set_id(v >> 24)
        elif reg == 0x080:
            self.tpr = v & 0xFF
            self._priority_changed()
        elif reg == 0x0B0:
            self.eoi()
        elif reg == 0x0D0:
            self.ldr = v & 0xFF000000
            if self.bus is not None:
                self.bus.apic_changed(self, self.apic_id)
        elif reg == 0x0E0:
            self.dfr = v | 0x0FFFFFFF
        elif reg == 0x0F0:
            self._svr_write(v)
        elif reg == 0x280:
            self.esr = self.esr_hidden
            self.esr_hidden = 0
        elif reg == 0x300:
            self.icr_lo = v & ICR_WRITABLE
            if self.x2apic:
                self.icr_hi = v >> 32
            if self.bus is not None:
                self.bus.send_ipi(self, self.icr_lo,
                                  self.icr_hi if self.x2apic else self.icr_hi >> 24)
        elif reg == 0x310:
            self.icr_hi = v & 0xFF000000
        elif reg in _LVT_INDEX:
            self._lvt_write(_LVT_INDEX[reg], v)
        elif reg == 0x380:
            self.tmict = v
            self.timer.on_tmict(self._now())
        elif reg == 0x3E0:
            self.tdcr = v & 0xB
            self.timer.on_tdcr(self._now())
        elif reg == 0x3F0 and self.bus is not None:
            self.bus.send_ipi(self, (v & 0xFF) | 1 << 18, 0)

    def _svr_write(self, v: int) -> None:
        mask = 0x3FF | (SVR_SUPPRESS_EOI_BROADCAST if self.version >> 24 & 1 else 0)
        self.svr = v & mask
        if not self.svr & SVR_ENABLE:
            self._lvt = [x | LVT_MASK for x in self._lvt]
            self.timer.rearm(self._now())
        self._priority_changed()

    def _lvt_write(self, i: int, v: int) -> None:
        """LVT write: only the entry's writable bits; forced masked while SVR disabled (A.8)."""
        wmask = LVT_WRITE_MASKS[i] & ~(LVT_DELIVERY_STATUS | LVT_REMOTE_IRR)
        if i == LVT_TIMER and not self.tsc_deadline:
            wmask &= ~(1 << 18)
        old = self._lvt[i]
        val = (v & wmask) | (old & LVT_REMOTE_IRR)
        if not self.svr & SVR_ENABLE:
            val |= LVT_MASK
        self._lvt[i] = val
        if i == LVT_TIMER:
            if (val >> 17) & 3 == 3:
                self.ctx.diag(self.name, "SDM 10.5.1 LVT Timer mode 11b is reserved",
                              "the timer behaves as one-shot")
            self.timer.on_lvt(old, val, self._now())

    def lvt(self, name: str) -> int:
        """Value of the LVT entry ``name`` (one of LVT_NAMES)."""
        return self._lvt[LVT_NAMES.index(name)]

    @property
    def divide(self) -> int:
        """Timer divide value from TDCR."""
        return divisor(self.tdcr)

    def _illegal_register(self, offset: int, what: str) -> None:
        self._error(ESR_ILLEGAL_REGISTER)
        self.ctx.diag(self.name, "SDM 10.5.3 ESR Illegal Register Address",
                      f"{what} of undefined APIC register offset {offset:#x}")

    def _gp(self, rule: str, message: str) -> bool:
        """Record why the access faults (the CPU raises #GP); returns False."""
        self.last_gp = rule
        self.ctx.diag(self.name, rule, f"#GP: {message}")
        return False

    def _priority_changed(self) -> None:
        if self.cpu is not None and self.deliverable() >= 0:
            self.cpu.intr()
