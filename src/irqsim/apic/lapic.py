"""Local APIC: xAPIC (MMIO) and x2APIC (MSR) register files (Intel SDM vol. 3 ch. 10/11;
semantics.md A.1-A.12).

IRR, ISR and TMR are 256-bit integers (bit v = vector v); the 32-bit registers software reads
are slices of them. Acceptance, PPR and EOI follow A.4-A.7. The register map, with each mode's
access rule, is declared once in :mod:`irqsim.spec.lapic`; the MMIO/MSR dispatch
(:func:`register_table`: offset -> :class:`ApicReg` with its masks and actions) derives from
it at import time. Guest misuse never raises: an
illegal xAPIC access sets ESR bit 7, an illegal x2APIC access returns #GP to the CPU (the
``msr_*`` methods return ``GP``/False and name the rule in ``last_gp``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Final, NamedTuple, Protocol

from irqsim.apic.timer import ApicTimer, divisor
from irqsim.sim.accounting import Reason
from irqsim.sim.compiled import mypyc_attr
from irqsim.sim.context import SimContext
from irqsim.sim.rules import Rule, rule
from irqsim.sim.trace import FixedShapes, shape
from irqsim.spec.cpu import (
    APIC_BASE_ADDR,
    APIC_BASE_BSP,
    APIC_BASE_EN,
    APIC_BASE_EXTD,
    APIC_BASE_RESERVED,
    APIC_DEFAULT_BASE,
    IA32_APIC_BASE,
    MAXPHYADDR,
    MSR_APIC_BASE,
    MSR_TSC_DEADLINE,
    X2APIC_MSR_BASE,
)
from irqsim.spec.lapic import (
    APIC_ACCESS,
    APIC_DFR,
    APIC_EOI,
    APIC_REGISTERS,
    APIC_SVR,
    APIC_VERSION,
    ESR_ILLEGAL_REGISTER,
    ESR_RECV_ACCEPT,
    ESR_RECV_CHECKSUM,
    ESR_RECV_ILLEGAL_VECTOR,
    ESR_REDIRECTABLE_IPI,
    ESR_SEND_ACCEPT,
    ESR_SEND_CHECKSUM,
    ESR_SEND_ILLEGAL_VECTOR,
    FEATURE_BITS,
    FEATURE_REGISTER,
    ICR_DELIVERY_STATUS,
    ICR_SHORTHAND_SELF,
    ICR_WRITABLE,
    LVT_CMCI,
    LVT_DELIVERY_STATUS,
    LVT_ERROR,
    LVT_LEVEL,
    LVT_LINT0,
    LVT_LINT1,
    LVT_MASK,
    LVT_MODE_SHIFT,
    LVT_NAMES,
    LVT_OFFSETS,
    LVT_PERF,
    LVT_REMOTE_IRR,
    LVT_THERMAL,
    LVT_TIMER,
    LVT_TIMER_MODE_SHIFT,
    LVT_VECTOR,
    MODE_DISABLED,
    MODE_NAMES,
    MODE_X2APIC,
    MODE_XAPIC,
    MSR_X2APIC_EOI,
    SVR_ENABLE,
    SVR_FOCUS_DISABLE,
    SVR_SUPPRESS_EOI_BROADCAST,
    SVR_VECTOR,
    X2APIC_REGISTERS,
    X2APIC_WRITE_ZERO,
    x2apic_msr,
)
from irqsim.spec.msi import DM_EXTINT

# Trace events of the hot path (irqsim.sim.trace: kind and field names, once).
_T_IRR_MERGED: Final = shape("irr-merged", "vector")
_T_IRR_SET: Final = shape("irr-set", "vector", "ppr", "level", "if_flag")
_T_EOI: Final = shape("eoi", "vector")
# An interrupt message delivered to this LAPIC (apic/interconnect.py emits it).
T_MSI_DELIVER: Final = shape("msi-deliver", "vector", "dest", "source")

R_HW_DISABLED = rule(
    "LAPIC-HW-DISABLED", "SDM 10.4.3",
    "a hardware-disabled APIC (IA32_APIC_BASE.EN=0) accepts no interrupts")
R_RECEIVE_ILLEGAL_VECTOR = rule(
    "LAPIC-RECEIVE-ILLEGAL-VECTOR", "SDM 10.5.3",
    "vectors 0-15 are illegal: one received sets ESR Receive Illegal Vector")
R_LVT_DELIVERY_MODE = rule(
    "LAPIC-LVT-DELIVERY-MODE", "SDM 10.5.1",
    "an LVT entry's delivery mode must be one the model delivers (ExtINT needs an 8259; reserved "
    "modes are invalid)")
R_MMIO_UNALIGNED = rule(
    "LAPIC-MMIO-UNALIGNED", "SDM 10.4.1",
    "APIC registers are 32-bit aligned and accessed as DWORDs")
R_TIMER_MODE_RESERVED = rule(
    "LAPIC-TIMER-MODE-RESERVED", "SDM 10.5.1",
    "LVT Timer mode 11b is reserved")
R_ILLEGAL_REGISTER = rule(
    "LAPIC-ILLEGAL-REGISTER", "SDM 10.5.3",
    "an access to an undefined APIC register sets ESR Illegal Register Address")
R_APIC_BASE_RESERVED = rule(
    "LAPIC-APIC-BASE-RESERVED", "SDM 10.4.4",
    "a WRMSR to IA32_APIC_BASE with a reserved bit set raises #GP")
R_X2APIC_UNSUPPORTED = rule(
    "LAPIC-X2APIC-UNSUPPORTED", "SDM 10.12.1",
    "setting IA32_APIC_BASE.EXTD needs CPUID.01H:ECX.x2APIC")
R_INVALID_STATE = rule(
    "LAPIC-INVALID-STATE", "SDM 10.12.5",
    "EN=0 with EXTD=1 is an invalid APIC state")
R_X2APIC_TO_XAPIC = rule(
    "LAPIC-X2APIC-TO-XAPIC", "SDM 10.12.5",
    "x2APIC -> xAPIC must go through the disabled state")
R_DISABLED_TO_X2APIC = rule(
    "LAPIC-DISABLED-TO-X2APIC", "SDM 10.12.5",
    "disabled -> x2APIC must go through xAPIC")
R_READ_ONLY = rule("LAPIC-READ-ONLY", "SDM 10.4.1",
                   "a write to a read-only APIC register is ignored")
R_MMIO_NOT_DECODED = rule("LAPIC-MMIO-NOT-DECODED", "SDM 10.4.3/10.12.2",
                          "the APIC MMIO page is not decoded when the APIC is disabled or in "
                          "x2APIC mode")
R_X2APIC_RDMSR_INVALID = rule("LAPIC-X2APIC-RDMSR-INVALID", "SDM 10.12.1.2",
                              "RDMSR of a write-only or undefined x2APIC MSR raises #GP")
R_X2APIC_WRMSR_UNDEFINED = rule("LAPIC-X2APIC-WRMSR-UNDEFINED", "SDM 10.12.1.2",
                                "WRMSR of an undefined x2APIC MSR raises #GP")
R_X2APIC_WRMSR_READ_ONLY = rule("LAPIC-X2APIC-WRMSR-READ-ONLY", "SDM 10.12.1.2",
                                "WRMSR of a read-only x2APIC MSR raises #GP")
R_X2APIC_WRMSR_RESERVED = rule("LAPIC-X2APIC-WRMSR-RESERVED", "SDM 10.12.1.2",
                               "WRMSR of an x2APIC MSR with reserved bits set raises #GP")
R_X2APIC_WRMSR_NONZERO = rule("LAPIC-X2APIC-WRMSR-NONZERO", "SDM 10.12.1.2",
                              "WRMSR of a nonzero value to an x2APIC MSR that takes only 0 "
                              "(EOI, SELF IPI reserved bits) raises #GP")
R_X2APIC_MSR_DISABLED = rule(
    "LAPIC-X2APIC-MSR-DISABLED", "SDM 10.12.1.2",
    "x2APIC MSRs raise #GP unless IA32_APIC_BASE.EXTD=1")

if TYPE_CHECKING:
    from irqsim.apic.interconnect import ApicBus
    from irqsim.fabric.tlp import Tlp

__all__ = [
    "APIC_ACCESS", "APIC_BASE_BSP", "APIC_BASE_EN", "APIC_BASE_EXTD", "APIC_BASE_RESERVED",
    "APIC_DEFAULT_BASE", "APIC_REGISTERS", "ESR_ILLEGAL_REGISTER", "ESR_RECV_ACCEPT",
    "ESR_RECV_CHECKSUM", "ESR_RECV_ILLEGAL_VECTOR", "ESR_REDIRECTABLE_IPI", "ESR_SEND_ACCEPT",
    "ESR_SEND_CHECKSUM", "ESR_SEND_ILLEGAL_VECTOR", "GP", "IA32_APIC_BASE",
    "ICR_DELIVERY_STATUS", "ICR_WRITABLE", "LVT_CMCI", "LVT_DELIVERY_STATUS", "LVT_ERROR",
    "LVT_LEVEL", "LVT_LINT0", "LVT_LINT1", "LVT_MASK", "LVT_NAMES", "LVT_OFFSETS", "LVT_PERF",
    "LVT_REMOTE_IRR", "LVT_THERMAL", "LVT_TIMER", "MAXPHYADDR", "MODE_DISABLED", "MODE_NAMES",
    "MODE_X2APIC", "MODE_XAPIC", "MSR_APIC_BASE", "MSR_TSC_DEADLINE", "SVR_ENABLE",
    "SVR_FOCUS_DISABLE", "SVR_SUPPRESS_EOI_BROADCAST", "X2APIC_MSR_BASE", "X2APIC_REGISTERS",
    "ApicReg", "CpuPort", "LocalApic", "register_access", "x2apic_msr",
]

GP = -1                      # msr_read's "#GP" result
_PAGE_BITS = ((1 << 52) - 1) & ~0xFFF     # the APIC page bits any MAXPHYADDR (<= 52) can hold
_ALL64 = (1 << 64) - 1
_NO_META: Final[tuple[None, ...]] = (None,) * 256     # irr_meta / isr_meta after a reset


def register_access(offset: int, x2apic: bool, cmci: bool = False) -> str:
    """Access rule of the register at xAPIC ``offset`` in one mode ("" = invalid)."""
    if offset == FEATURE_REGISTER["cmci"] and not cmci:
        return ""
    acc = APIC_ACCESS.get(offset)
    return "" if acc is None else acc[x2apic]


class ApicReg(NamedTuple):
    """One register as the MMIO/MSR dispatch sees it, derived from its declaration."""

    name: str
    xapic: str              # access rule in xAPIC mode ("" = not a register)
    x2apic: str             # access rule in x2APIC mode
    wmask: int              # xAPIC: bits a write changes (RW and WO fields)
    x2wmask: int            # x2APIC: bits a WRMSR changes
    x2reserved: int         # x2APIC: bits whose setting #GPs (63:size included)
    write_zero: bool        # x2APIC: any non-zero WRMSR #GPs (EOI, ESR)
    get: Callable[[LocalApic], int]
    put: Callable[[LocalApic, int], None] | None    # value already masked


class ExtIntController(Protocol):
    """An 8259-compatible controller: it answers the INTA cycles of an ExtINT (SDM 10.5.1)."""

    def inta(self) -> tuple[int, Tlp | None, int]:
        """(vector, stamps, interrupt id; 0 for a spurious IRQ 7/15)."""
        ...


@mypyc_attr(allow_interpreted_subclasses=True)
class CpuPort:
    """What the LAPIC needs from its core: INTR and the NMI/INIT/SIPI/SMI pins. The core
    (:class:`irqsim.cpu.cpu.Cpu`) and a vCPU's pin (:class:`irqsim.virt.vmx.GuestPin`)
    subclass it, so the compiled LAPIC calls the core's methods natively (issue 12)."""

    __slots__ = ()

    def intr_enabled(self) -> bool:
        """EFLAGS.IF, traced with each IRR set (can the core take INTR now)."""
        raise NotImplementedError

    def intr(self) -> None:
        raise NotImplementedError

    def intr_last(self) -> None:
        """``intr`` as the very last step of an event (the acceptance may be folded)."""
        raise NotImplementedError

    def nmi(self) -> None:
        raise NotImplementedError

    def smi(self) -> None:
        raise NotImplementedError

    def init_signal(self) -> None:
        raise NotImplementedError

    def sipi(self, vector: int) -> None:
        raise NotImplementedError


class LocalApic:
    """One Local APIC in disabled, xAPIC or x2APIC mode (IA32_APIC_BASE decides)."""

    __slots__ = ("_ipi_pending", "_lvt", "_regs", "_t_eoi", "_t_irr_merged", "_t_irr_set",
                 "_tp_eoi", "_tp_irr", "_tsc_deadline", "_version", "apic_id", "base_msr",
                 "base_reserved", "bus", "core_key", "cpu",
                 "ctx", "dfr", "esr",
                 "esr_hidden", "extint", "extint_iid", "extint_meta", "extint_msg",
                 "hw_enabled", "icr_hi", "icr_lo", "initial_id", "irr", "irr_meta",
                 "isr", "isr_meta", "last_gp", "ldr", "lint0_level", "mmio_on", "name", "pic",
                 "socket_key", "svr", "t_msi_deliver", "tdcr", "timer", "tmict", "tmr", "tpr",
                 "x2apic", "x2apic_capable")

    def __init__(self, ctx: SimContext, apic_id: int, name: str | None = None, *,
                 bsp: bool = False, cmci: bool = False, x2apic_capable: bool = True,
                 tsc_deadline: bool = True, directed_eoi: bool = False,
                 maxphyaddr: int = MAXPHYADDR) -> None:
        if not 0 <= apic_id <= 0xFFFFFFFF:
            raise ValueError(f"APIC ID must fit in 32 bits, got {apic_id}")
        if not 36 <= maxphyaddr <= 52:
            raise ValueError(f"MAXPHYADDR must be 36-52 bits, got {maxphyaddr}")
        # IA32_APIC_BASE bits MAXPHYADDR-1:12 hold the page; the bits above are reserved
        # (SDM 10.4.4). The declaration is for MAXPHYADDR 46; this CPU's width decides.
        page = ((1 << maxphyaddr) - 1) & ~0xFFF
        self.base_reserved = (APIC_BASE_RESERVED | APIC_BASE_ADDR) & ~page
        self.ctx = ctx
        self._tp_eoi = ctx.points.eoi
        self._tp_irr = ctx.points.irr_set
        self.initial_id = apic_id
        self.apic_id = apic_id & 0xFF       # xAPIC mode shows the low 8 bits (SDM 10.12.5)
        self.name = name or f"LAPIC{apic_id}"
        # trace shapes bound to this LAPIC as source and destination (Tracer.put1 etc.)
        self._t_irr_merged = _T_IRR_MERGED.bind(self.name, self.name)
        # irr-set by its last two values, level and IF: [2 * level + if_flag]
        self._t_irr_set = tuple(_T_IRR_SET.bind(self.name, self.name, lv, f)
                                for lv in (False, True) for f in (False, True))
        self._t_eoi = _T_EOI.bind(self.name, self.name)
        self.t_msi_deliver = FixedShapes(T_MSI_DELIVER, "IOMMU", self.name)  # per source
        self._tsc_deadline = tsc_deadline
        self.version = APIC_REGISTERS[APIC_VERSION].encode(
            version=0x14, max_lvt=6 if cmci else 5, eoi_broadcast_suppression=int(directed_eoi))
        self.cpu: CpuPort | None = None
        self.bus: ApicBus | None = None
        self.x2apic_capable = x2apic_capable
        # The message of each vector pending in IRR / in service in ISR, by vector (a slot is
        # meaningful only while its IRR / ISR bit is set: the registers are the truth).
        self.irr_meta: list[Tlp | None] = [None] * 256
        self.isr_meta: list[Tlp | None] = [None] * 256
        self.base_msr = APIC_DEFAULT_BASE | APIC_BASE_EN | (APIC_BASE_BSP if bsp else 0)
        self.hw_enabled = True
        self.x2apic = False
        self.mmio_on = True
        self.core_key = apic_id
        self.socket_key = 0
        self.last_gp: Rule | None = None
        self._ipi_pending = 0
        # ExtINT (docs/legacy-pc.md): the 8259 pair that answers an ExtINT INTA (None: no
        # 8259 on the board), the level its INT output drives on LINT0, and whether the core
        # is asked for an ExtINT INTA (LINT0 in ExtINT mode, or an ExtINT message latched).
        self.pic: ExtIntController | None = None
        self.lint0_level = 0
        self.extint = False
        self.extint_msg = False
        self.extint_meta: Tlp | None = None
        self.extint_iid = 0
        self.timer = ApicTimer(self)
        self.reset()

    def reset(self) -> None:
        """Power-up register state (semantics.md A.3); ID and IA32_APIC_BASE are kept."""
        self.tpr = 0
        self.svr = APIC_REGISTERS[APIC_SVR].reset
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
        self._lvt = [APIC_REGISTERS[o].reset for o in LVT_OFFSETS]
        self.irr_meta[:] = _NO_META
        self.isr_meta[:] = _NO_META
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
    def version(self) -> int:
        """The Version register (max LVT entry and EOI-broadcast suppression are features)."""
        return self._version

    @version.setter
    def version(self, value: int) -> None:
        self._version = value
        self._regs = register_table(value >> 16 & 0xFF >= 6, bool(value >> 24 & 1),
                                    self._tsc_deadline)

    @property
    def tsc_deadline(self) -> bool:
        """TSC-deadline timer mode supported (CPUID.01H:ECX[24]): LVT Timer bit 18 exists."""
        return self._tsc_deadline

    @tsc_deadline.setter
    def tsc_deadline(self, value: bool) -> None:
        self._tsc_deadline = value
        self.version = self._version

    @property
    def has_cmci(self) -> bool:
        return (self.version >> 16) & 0xFF >= 6

    @property
    def base_address(self) -> int:
        """Physical address of the xAPIC MMIO page."""
        return self.base_msr & _PAGE_BITS

    def access(self, offset: int, x2apic: bool | None = None) -> str:
        """Access rule of a register in ``x2apic`` mode (default: the current one)."""
        return register_access(offset, self.x2apic if x2apic is None else x2apic,
                               self.has_cmci)

    def set_base(self, value: int) -> bool:
        """WRMSR IA32_APIC_BASE: legal transitions only (A.2); False means #GP."""
        if value < 0 or value >> 64 or value & self.base_reserved:
            return self._gp(R_APIC_BASE_RESERVED,
                            f"write {value:#x} sets reserved bits")
        en = bool(value & APIC_BASE_EN)
        extd = bool(value & APIC_BASE_EXTD)
        if extd and not self.x2apic_capable:
            return self._gp(R_X2APIC_UNSUPPORTED,
                            "x2APIC enable on a processor without x2APIC")
        if extd and not en:
            return self._gp(R_INVALID_STATE,
                            f"write {value:#x} selects the invalid state")
        old = self.mode
        new = MODE_DISABLED if not en else (MODE_X2APIC if extd else MODE_XAPIC)
        if old == MODE_X2APIC and new == MODE_XAPIC:
            return self._gp(R_X2APIC_TO_XAPIC,
                            "direct x2APIC to xAPIC transition")
        if old == MODE_DISABLED and new == MODE_X2APIC:
            return self._gp(R_DISABLED_TO_X2APIC,
                            "direct disabled to x2APIC transition")
        self.base_msr = (value & ~APIC_BASE_BSP) | (self.base_msr & APIC_BASE_BSP)
        if new != old:
            self._mode_change(old, new)
        return True

    def _mode_change(self, old: int, new: int) -> None:
        ctx = self.ctx
        if new == MODE_DISABLED:
            pending = self.irr.bit_count()
            self._drop_irr(Reason.APIC_HW_DISABLED)
            if pending:
                ctx.diag(self.name, R_HW_DISABLED,
                         f"{pending} interrupt(s) pending in IRR lost: APIC hardware-disabled")
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
        if self.pic is not None:
            self._extint_update()

    def init_reset(self) -> None:
        """INIT: registers back to power-up values; ID and APIC base kept (SDM 10.4.7.3)."""
        self._drop_irr(Reason.INIT_RESET)
        ldr = self.ldr
        self.reset()
        if self.x2apic:
            self.ldr = ldr
        if self.bus is not None:
            self.bus.apic_changed(self, self.apic_id)

    def _drop_irr(self, reason: Reason) -> None:
        """Every interrupt pending in IRR is lost for ``reason``."""
        irr, v = self.irr, 0
        while irr:
            if irr & 1:
                meta = self.irr_meta[v]
                self.ctx.ledger.drop(reason, meta.iid if meta is not None else 0, self.name)
            irr >>= 1
            v += 1

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
    def accept_fixed(self, vector: int, level: bool, meta: Tlp | None = None,
                     last: bool = False) -> bool:
        """Accept a fixed/lowest-priority interrupt into IRR (A.4). False if not accepted.
        ``last``: the caller's event ends with this call (INTR may then fold the acceptance,
        ``Cpu.intr_last``)."""
        ctx = self.ctx
        if not self.svr & SVR_ENABLE or vector < 16:
            if vector < 16:
                self._error(ESR_RECV_ILLEGAL_VECTOR)
                ctx.ledger.drop(Reason.ILLEGAL_VECTOR, meta.iid if meta is not None else 0,
                                self.name)
                ctx.diag(self.name, R_RECEIVE_ILLEGAL_VECTOR,
                         f"vector {vector} (0-15 are reserved) dropped")
            else:
                ctx.ledger.drop(Reason.APIC_SW_DISABLED, meta.iid if meta is not None else 0,
                                self.name)
            return False
        bit = 1 << vector
        tracer = ctx.tracer
        if self.irr & bit:
            ctx.ledger.merge(meta.iid if meta is not None else 0, self.name)
            # TMR[V] := trigger mode at every acceptance, merges included (A.4), so a level
            # message merging into a pending edge one still gets its EOI broadcast.
            if level:
                self.tmr |= bit
            elif self.tmr:
                self.tmr &= ~bit
            if tracer.on:
                tracer.put1(self._t_irr_merged, ctx.engine.now, vector)
            return True
        self.irr |= bit
        if level:
            self.tmr |= bit
        elif self.tmr:
            self.tmr &= ~bit
        self.irr_meta[vector] = meta
        if meta is not None and self._tp_irr.on:
            self._tp_irr(meta.iid, ctx.engine.now)
        cpu = self.cpu
        if tracer.on:
            flag = cpu is None or cpu.intr_enabled()
            tracer.put2(self._t_irr_set[2 * level + flag], ctx.engine.now, vector, self.ppr)
        if cpu is not None:
            # (vector class) > (PPR class): self.ppr's class, inlined
            pcls = self.tpr & 0xF0
            isr = self.isr
            if isr and (isr.bit_length() - 1) & 0xF0 > pcls:
                pcls = (isr.bit_length() - 1) & 0xF0
            if vector & 0xF0 > pcls:
                if last:
                    cpu.intr_last()
                else:
                    cpu.intr()
        return True

    def inta(self) -> int:
        """Interrupt acknowledge: highest deliverable IRR vector moves to ISR; else spurious."""
        v = self.deliverable()
        if v < 0:
            if self.extint:
                return self._extint_inta()
            return self.svr & SVR_VECTOR | 0x100  # 0x100 flags "spurious" to the core
        bit = 1 << v
        self.irr &= ~bit
        self.isr |= bit
        meta = self.irr_meta
        self.isr_meta[v] = meta[v]
        meta[v] = None
        return v

    # -- ExtINT: the 8259 through LINT0 or an ExtINT message ---------------------------
    def _lint0_extint(self) -> bool:
        """LINT0 passes the 8259's INT to the core: unmasked ExtINT entry, or the APIC
        hardware-disabled (semantics.md A.8; QEMU apic_accept_pic_intr)."""
        lvt = self._lvt[LVT_LINT0]
        return not self.hw_enabled or (not lvt & LVT_MASK
                                       and (lvt >> LVT_MODE_SHIFT) & 7 == DM_EXTINT)

    def lint0_input(self, level: int) -> None:
        """The 8259's INT output drives LINT0 to ``level``. In ExtINT mode the core is asked
        for an INTA (level-sensitive, SDM 10.5.1); a request that falls before the core
        starts its acknowledge cycle is withdrawn, one that falls after it is answered
        with the 8259's spurious vector."""
        self.lint0_level = level
        self._extint_update()

    def _extint_update(self) -> None:
        want = self.extint_msg or (bool(self.lint0_level) and self._lint0_extint())
        cpu = self.cpu
        if want and not self.extint:
            self.extint = True
            ctx = self.ctx
            if ctx.tracer.on:
                ctx.tracer.emit(ctx.engine.now, "8259", self.name, "extint",
                                via="message" if self.extint_msg else "LINT0")
            if cpu is not None:
                cpu.intr()
        elif not want and self.extint and (getattr(cpu, "_accept_entry", None) is None
                                           or self.deliverable() >= 0):
            # Withdrawn unless the core's pending acknowledge cycle is the 8259's (no
            # vector of its own to take first).
            self.extint = False

    def extint_message(self) -> None:
        """An ExtINT-mode message (an I/O APIC RTE or an MSI in ExtINT mode) arrives: the
        core does an INTA to the 8259 (SDM 10.11.2 ExtINT)."""
        self.extint_msg = True
        self._extint_update()

    def _extint_inta(self) -> int:
        """The core's INTA goes to the 8259 (no IRR, ISR or EOI here): its vector | 0x200."""
        self.extint_msg = False
        pic = self.pic
        if pic is None:
            self.extint = False
            return self.svr & SVR_VECTOR | 0x100
        v, self.extint_meta, self.extint_iid = pic.inta()
        self.extint = bool(self.lint0_level) and self._lint0_extint()
        return v | 0x200

    def eoi(self) -> int:
        """Clear the highest ISR bit (A.7); broadcast level EOIs; returns the vector or -1."""
        isr = self.isr
        if not isr:
            return -1
        v = isr.bit_length() - 1
        self.isr = isr & ~(1 << v)
        self.isr_meta[v] = None
        ctx = self.ctx
        if self._tp_eoi.on:
            self._tp_eoi(self.name, v, ctx.engine.now)
        if ctx.tracer.on:
            ctx.tracer.put1(self._t_eoi, ctx.engine.now, v)
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
            if lvt & LVT_VECTOR < 16:       # an illegal error vector cannot be delivered
                self.esr_hidden |= ESR_RECV_ILLEGAL_VECTOR
                return
            self.ctx.ledger.raise_(self.name)
            self.accept_fixed(lvt & LVT_VECTOR, False)

    def local_interrupt(self, index: int) -> bool:
        """A local source (timer, LINT pin, thermal, ...) fires through its LVT entry."""
        lvt = self._lvt[index]
        if lvt & LVT_MASK or not self.hw_enabled:
            return False
        ctx = self.ctx
        iid = ctx.ledger.raise_(self.name)
        mode = 0 if index in (LVT_TIMER, LVT_ERROR) else (lvt >> LVT_MODE_SHIFT) & 7
        cpu = self.cpu
        if mode == 0:
            level = index in (LVT_LINT0, LVT_LINT1) and bool(lvt & LVT_LEVEL)
            return self.accept_fixed(lvt & LVT_VECTOR, level)
        if mode == 4 and cpu is not None and hasattr(cpu, "nmi"):
            cpu.nmi()
            return True
        if mode in (2, 5) and cpu is not None and hasattr(cpu, "smi"):
            ctx.ledger.deliver(iid, self.name)
            if mode == 2:
                cpu.smi()
            else:
                cpu.init_signal()
            return True
        ctx.ledger.drop(Reason.LVT_MODE, iid, self.name)
        ctx.diag(self.name, R_LVT_DELIVERY_MODE,
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
        return self._regs[reg].get(self)

    # -- xAPIC MMIO ------------------------------------------------------------
    def mmio_read(self, offset: int, size: int = 4) -> int:
        """Read a register; reads inside a 16-byte slot see its low 32 bits (A.1)."""
        if not self.mmio_on:
            return self._not_decoded(offset, "read", (1 << (8 * size)) - 1)
        r = self._regs.get(offset & 0xFF0)
        if r is None or not r.xapic:
            self._illegal_register(offset, "read")
            return 0
        if offset & 0xC or r.xapic == "WO":
            return 0
        return (r.get(self) >> (8 * (offset & 3))) & ((1 << (8 * size)) - 1)

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        """Write a register (only aligned 32-bit writes take effect, as KVM)."""
        if not self.mmio_on:
            self._not_decoded(offset, "write", 0)
            return
        if size != 4 or offset & 0xF:
            self.ctx.diag(self.name, R_MMIO_UNALIGNED,
                          f"{size}-byte write at offset {offset:#x} ignored")
            return
        if offset == APIC_EOI:                 # hot path
            self.eoi()
            return
        r = self._regs.get(offset)
        if r is None or not r.xapic:
            self._illegal_register(offset, "write")
        elif r.put is None or r.xapic == "RO":
            self.ctx.diag(self.name, R_READ_ONLY,
                          f"{r.name} is read-only: write of {value & 0xFFFFFFFF:#x} ignored")
        else:
            r.put(self, value & r.wmask)

    def _not_decoded(self, offset: int, what: str, result: int) -> int:
        self.ctx.diag(self.name, R_MMIO_NOT_DECODED,
                      f"{what} at offset {offset:#x} in {MODE_NAMES[self.mode]} mode "
                      f"(reads all-ones, writes dropped)")
        return result

    # -- x2APIC MSRs -----------------------------------------------------------
    def _msr_reg(self, index: int) -> ApicReg | None:
        r = self._regs.get((index - X2APIC_MSR_BASE) << 4) if index >= X2APIC_MSR_BASE else None
        return r if r is not None and r.x2apic else None

    def msr_read(self, index: int) -> int:
        """RDMSR of an x2APIC MSR (0x800-0x8FF); returns GP (-1) for #GP (A.12)."""
        if not self.x2apic:
            self._gp(R_X2APIC_MSR_DISABLED,
                     f"RDMSR {index:#x} in {MODE_NAMES[self.mode]} mode")
            return GP
        r = self._msr_reg(index)
        if r is None or r.x2apic == "WO":
            what = "write-only" if r is not None else "not an x2APIC register"
            self._gp(R_X2APIC_RDMSR_INVALID, f"RDMSR {index:#x} faults: {what}")
            return GP
        return r.get(self)

    def msr_write(self, index: int, value: int) -> bool:
        """WRMSR of an x2APIC MSR; False means #GP (A.12)."""
        if index == MSR_X2APIC_EOI and self.x2apic and not value:     # hot path
            self.eoi()
            return True
        if not self.x2apic:
            return self._gp(R_X2APIC_MSR_DISABLED,
                            f"WRMSR {index:#x} in {MODE_NAMES[self.mode]} mode")
        r = self._msr_reg(index)
        if r is None:
            return self._gp(R_X2APIC_WRMSR_UNDEFINED,
                            f"WRMSR {index:#x} faults: not an x2APIC register")
        if r.x2apic == "RO" or r.put is None:
            return self._gp(R_X2APIC_WRMSR_READ_ONLY,
                            f"WRMSR {index:#x} faults: {r.name} is read-only")
        reserved = r.x2reserved
        if value < 0 or value >> 64 or value & reserved:      # bits 64 and up: reserved too
            return self._gp(R_X2APIC_WRMSR_RESERVED,
                            f"WRMSR {index:#x}: value {value:#x} has reserved bits "
                            f"{(value & reserved) | (value >> 64 << 64):#x}")
        if r.write_zero and value:
            return self._gp(R_X2APIC_WRMSR_NONZERO,
                            f"WRMSR {index:#x}: {r.name} write must be 0, value {value:#x}")
        r.put(self, value & r.x2wmask)
        return True

    def x2_reserved(self, offset: int) -> int:
        """Bits of an x2APIC write to ``offset`` that are reserved (setting any is #GP)."""
        return self._regs[offset].x2reserved

    # -- register actions (value already masked by the declaration) --------------
    def _put_id(self, v: int) -> None:
        self.set_id(v >> 24)

    def _put_eoi(self, v: int) -> None:
        self.eoi()

    def _put_tpr(self, v: int) -> None:
        self.tpr = v
        self._priority_changed()

    def _put_ldr(self, v: int) -> None:
        self.ldr = v
        if self.bus is not None:
            self.bus.apic_changed(self, self.apic_id)

    def _put_esr(self, v: int) -> None:
        self.esr = self.esr_hidden
        self.esr_hidden = 0

    def _put_icr(self, v: int) -> None:
        self.icr_lo = v & 0xFFFFFFFF
        if self.x2apic:
            self.icr_hi = v >> 32
        if self.bus is not None:
            self.bus.send_ipi(self, self.icr_lo,
                              self.icr_hi if self.x2apic else self.icr_hi >> 24)

    def _put_tmict(self, v: int) -> None:
        self.tmict = v
        self.timer.on_tmict(self._now())

    def _put_tdcr(self, v: int) -> None:
        self.tdcr = v
        self.timer.on_tdcr(self._now())

    def _put_self_ipi(self, v: int) -> None:
        if self.bus is not None:
            self.bus.send_ipi(self, v | ICR_SHORTHAND_SELF, 0)

    def _get_icr(self) -> int:
        if self.x2apic:
            return self.icr_hi << 32 | self.icr_lo
        return self.icr_lo | (ICR_DELIVERY_STATUS if self._ipi_pending else 0)

    def _svr_write(self, v: int) -> None:
        self.svr = v
        if not v & SVR_ENABLE:
            self._lvt = [x | LVT_MASK for x in self._lvt]
            self.timer.rearm(self._now())
            if self.pic is not None:
                self._extint_update()
        self._priority_changed()

    def _lvt_write(self, i: int, v: int) -> None:
        """LVT write: only the entry's writable bits; forced masked while SVR disabled (A.8)."""
        old = self._lvt[i]
        val = v | (old & LVT_REMOTE_IRR)
        if not self.svr & SVR_ENABLE:
            val |= LVT_MASK
        self._lvt[i] = val
        if i == LVT_TIMER:
            if (val >> LVT_TIMER_MODE_SHIFT) & 3 == 3:
                self.ctx.diag(self.name, R_TIMER_MODE_RESERVED,
                              "the timer behaves as one-shot")
            self.timer.on_lvt(old, val, self._now())
        elif i == LVT_LINT0 and self.pic is not None:
            self._extint_update()

    def lvt(self, name: str) -> int:
        """Value of the LVT entry ``name`` (one of LVT_NAMES)."""
        return self._lvt[LVT_NAMES.index(name)]

    @property
    def divide(self) -> int:
        """Timer divide value from TDCR."""
        return divisor(self.tdcr)

    def _illegal_register(self, offset: int, what: str) -> None:
        self._error(ESR_ILLEGAL_REGISTER)
        self.ctx.diag(self.name, R_ILLEGAL_REGISTER,
                      f"{what} of undefined APIC register offset {offset:#x}")

    def _gp(self, rule: Rule, message: str) -> bool:
        """Record why the access faults (the CPU raises #GP); returns False."""
        self.last_gp = rule
        self.ctx.diag(self.name, rule, f"#GP: {message}")
        return False

    def _priority_changed(self) -> None:
        if self.cpu is not None and self.deliverable() >= 0:
            self.cpu.intr()


def _bank(which: str, i: int) -> Callable[[LocalApic], int]:
    """Getter of 32-bit slice ``i`` of the 256-bit IRR, ISR or TMR."""
    shift = 32 * i
    return lambda a: (getattr(a, which) >> shift) & 0xFFFFFFFF


def _lvt_get(i: int) -> Callable[[LocalApic], int]:
    return lambda a: a._lvt[i]


def _lvt_put(i: int) -> Callable[[LocalApic, int], None]:
    return lambda a, v: a._lvt_write(i, v)


def _zero(a: LocalApic) -> int:
    return 0


_DFR_ONES = APIC_REGISTERS[APIC_DFR].romask & APIC_REGISTERS[APIC_DFR].reset

# Per-register actions, by declared name: (read, write). A write receives the value already
# masked to the register's writable bits in the current mode.
_ACTIONS: dict[str, tuple[Callable[[LocalApic], int],
                          Callable[[LocalApic, int], None] | None]] = {
    "ID": (lambda a: a.apic_id if a.x2apic else (a.apic_id & 0xFF) << 24, LocalApic._put_id),
    "Version": (lambda a: a.version, None),
    "TPR": (lambda a: a.tpr, LocalApic._put_tpr),
    "APR": (lambda a: a.apr, None),
    "PPR": (lambda a: a.ppr, None),
    "EOI": (_zero, LocalApic._put_eoi),
    "RRD": (_zero, None),
    "LDR": (lambda a: a.ldr, LocalApic._put_ldr),
    "DFR": (lambda a: a.dfr, lambda a, v: setattr(a, "dfr", v | _DFR_ONES)),
    "SVR": (lambda a: a.svr, LocalApic._svr_write),
    **{f"{w}{i}": (_bank(w.lower(), i), None) for w in ("ISR", "TMR", "IRR") for i in range(8)},
    "ESR": (lambda a: a.esr, LocalApic._put_esr),
    "ICR_LOW": (LocalApic._get_icr, LocalApic._put_icr),
    "ICR": (LocalApic._get_icr, LocalApic._put_icr),
    "ICR_HIGH": (lambda a: a.icr_hi, lambda a, v: setattr(a, "icr_hi", v)),
    **{f"LVT_{n}": (_lvt_get(i), _lvt_put(i)) for i, n in enumerate(LVT_NAMES)},
    "TMICT": (lambda a: a.tmict, LocalApic._put_tmict),
    "TMCCT": (lambda a: a.timer.current(a._now()), None),
    "TDCR": (lambda a: a.tdcr, LocalApic._put_tdcr),
    "SELF_IPI": (_zero, LocalApic._put_self_ipi),
}


@cache
def register_table(cmci: bool = False, directed_eoi: bool = False,
                   tsc_deadline: bool = True) -> dict[int, ApicReg]:
    """The dispatch table (xAPIC offset -> ApicReg) of a LAPIC with these features, derived
    from the declarations in :mod:`irqsim.spec.lapic`; shared by every LAPIC alike."""
    present = {"cmci": cmci, "directed_eoi": directed_eoi, "tsc_deadline": tsc_deadline}
    absent_bits: dict[int, int] = {}
    for feature, (off, bits) in FEATURE_BITS.items():
        if not present[feature]:
            absent_bits[off] = absent_bits.get(off, 0) | bits
    table: dict[int, ApicReg] = {}
    for off, (xa, x2) in APIC_ACCESS.items():
        if off == FEATURE_REGISTER["cmci"] and not cmci:
            xa = x2 = ""
        xreg, x2reg = APIC_REGISTERS[off], X2APIC_REGISTERS[off]
        gone = absent_bits.get(off, 0)
        write_zero = off in X2APIC_WRITE_ZERO
        x2res = (x2reg.reserved_mask | gone | (_ALL64 ^ ((1 << (8 * x2reg.size)) - 1))
                 if not write_zero else _ALL64 ^ 0xFFFFFFFF)
        get, put = _ACTIONS[xreg.name]              # the actions serve both modes
        table[off] = ApicReg(xreg.name, xa, x2, xreg.wmask & ~gone, x2reg.wmask & ~gone,
                             x2res, write_zero, get, put)
    return table
