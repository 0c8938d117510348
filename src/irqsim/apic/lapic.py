"""Local APIC in xAPIC mode (Intel SDM vol. 3 ch. 11; semantics.md A.1-A.9).

IRR, ISR and TMR are 256-bit integers (bit v = vector v); the 32-bit registers
software reads are slices of them. Acceptance, PPR and EOI follow A.4-A.7.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from irqsim.regs import RO, RSVD, RW, WO, F, Register
from irqsim.sim.context import SimContext

if TYPE_CHECKING:
    from irqsim.apic.interconnect import ApicBus
    from irqsim.fabric.tlp import Tlp

APIC_DEFAULT_BASE = 0xFEE00000

# ESR bits (SDM 11.5.3)
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

LVT_NAMES = ("CMCI", "Timer", "Thermal", "PerfMon", "LINT0", "LINT1", "Error")
LVT_OFFSETS = (0x2F0, 0x320, 0x330, 0x340, 0x350, 0x360, 0x370)
LVT_WRITE_MASKS = (0x000117FF, 0x000710FF, 0x000117FF, 0x000117FF, 0x0001F7FF, 0x0001F7FF,
                   0x000110FF)

# Register map declared as data: offset -> (name, access).
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
    *(_R(f"LVT_{n}", o, 4, (F("vector", (7, 0), RW), F("mask", 16, RW)), reset=LVT_MASK)
      for n, o in zip(LVT_NAMES, LVT_OFFSETS, strict=True)),
    _R("TMICT", 0x380, 4, (F("count", (31, 0), RW),)),
    _R("TMCCT", 0x390, 4, (F("count", (31, 0), RO),)),
    _R("TDCR", 0x3E0, 4, (F("divide", (3, 0), RW),)),
)}
_ = RSVD


class CpuPort(Protocol):
    """What the LAPIC needs from its core: the INTR line."""

    def intr(self) -> None: ...


class LocalApic:
    """One Local APIC (xAPIC register file; x2APIC is the APIC issue's work)."""

    __slots__ = ("_lvt", "apic_id", "bus", "cpu", "ctx", "dfr", "esr", "esr_hidden", "icr_hi",
                 "icr_lo", "irr", "irr_meta", "isr", "isr_meta", "ldr", "name", "svr", "tdcr",
                 "tmict", "tmr", "tpr", "version")

    def __init__(self, ctx: SimContext, apic_id: int, name: str | None = None) -> None:
        self.ctx = ctx
        self.apic_id = apic_id
        self.name = name or f"LAPIC{apic_id}"
        self.version = 0x00050014
        self.cpu: CpuPort | None = None
        self.bus: ApicBus | None = None
        self.irr_meta: list[Tlp | None] = [None] * 256
        self.isr_meta: list[Tlp | None] = [None] * 256
        self.reset()

    def reset(self) -> None:
        """Power-up state (semantics.md A.3)."""
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

    # -- priorities --------------------------------------------------------
    @property
    def ppr(self) -> int:
        """Processor priority (SDM 11.8.3.1, semantics.md A.5)."""
        isrv = self.isr.bit_length() - 1 if self.isr else 0
        if (self.tpr & 0xF0) >= (isrv & 0xF0):
            return self.tpr & 0xFF
        return isrv & 0xF0

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
                ctx.diag(self.name, "SDM 11.5.3 ESR Receive Illegal Vector",
                         f"vector {vector} (0-15 are reserved) dropped")
            else:
                ctx.ledger.drop("apic software-disabled")
            return False
        bit = 1 << vector
        tracer = ctx.tracer
        if self.irr & bit:
            ctx.ledger.merged += 1
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
        self.isr_meta[v] = self.irr_meta[v]
        self.irr_meta[v] = None
        return v

    def eoi(self) -> int:
        """Clear the highest ISR bit (A.7); broadcast level EOIs; returns the vector or -1."""
        isr = self.isr
        if not isr:
            return -1
        v = isr.bit_length() - 1
        self.isr = isr & ~(1 << v)
        self.isr_meta[v] = None
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
        lvt = self._lvt[6]
        if not lvt & LVT_MASK:
            self.ctx.ledger.raised += 1
            self.accept_fixed(lvt & 0xFF, False)

    # -- logical destination ---------------------------------------------
    def matches_logical(self, mda: int) -> bool:
        """Logical destination match, flat or cluster model (SDM 11.6.2.2)."""
        if mda == 0xFF:
            return True
        ldr = self.ldr >> 24
        if self.dfr >> 28 == 0xF:           # flat
            return bool(ldr & mda)
        return (ldr >> 4) == (mda >> 4) and bool(ldr & mda & 0xF)  # cluster

    # -- register file (xAPIC MMIO) ---------------------------------------
    def mmio_read(self, offset: int, size: int = 4) -> int:
        """Read a register; reads inside a 16-byte slot see its low 32 bits."""
        reg = offset & 0xFF0
        val = self._read32(reg)
        if val is None:
            self._illegal_register(offset, "read")
            return 0
        shift = 8 * (offset & 3)
        return (val >> shift) & ((1 << (8 * size)) - 1) if offset & 0xC == 0 else 0

    def _read32(self, reg: int) -> int | None:
        if reg == 0x020:
            return (self.apic_id & 0xFF) << 24
        if reg == 0x030:
            return self.version
        if reg == 0x080:
            return self.tpr
        if reg == 0x090:
            return self.tpr
        if reg == 0x0A0:
            return self.ppr
        if reg == 0x0B0:
            return 0
        if reg == 0x0C0:
            return 0
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
            return self.icr_lo
        if reg == 0x310:
            return self.icr_hi
        if reg in LVT_OFFSETS:
            if reg == 0x2F0 and (self.version >> 16) & 0xFF < 6:
                return None
            return self._lvt[LVT_OFFSETS.index(reg)]
        if reg == 0x380:
            return self.tmict
        if reg == 0x390:
            return 0
        if reg == 0x3E0:
            return self.tdcr
        return None

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        """Write a register (only aligned 32-bit writes take effect, as KVM)."""
        if size != 4 or offset & 0xF:
            self.ctx.diag(self.name, "SDM 11.4.1 APIC registers are 32-bit aligned",
                          f"{size}-byte write at offset {offset:#x} ignored")
            return
        reg = offset
        v = value & 0xFFFFFFFF
        if reg == 0x020:
            self.apic_id = v >> 24
        elif reg == 0x080:
            self.tpr = v & 0xFF
            self._priority_changed()
        elif reg == 0x0B0:
            self.eoi()
        elif reg == 0x0D0:
            self.ldr = v & 0xFF000000
        elif reg == 0x0E0:
            self.dfr = v | 0x0FFFFFFF
        elif reg == 0x0F0:
            mask = 0x3FF | (SVR_SUPPRESS_EOI_BROADCAST if self.version >> 24 & 1 else 0)
            self.svr = v & mask
            if not self.svr & SVR_ENABLE:
                self._lvt = [x | LVT_MASK for x in self._lvt]
            self._priority_changed()
        elif reg == 0x280:
            self.esr = self.esr_hidden
            self.esr_hidden = 0
        elif reg == 0x300:
            self.icr_lo = v & 0x000CDFFF
            if self.bus is not None:
                self.bus.send_ipi(self, self.icr_lo, self.icr_hi >> 24)
        elif reg == 0x310:
            self.icr_hi = v & 0xFF000000
        elif reg in LVT_OFFSETS:
            i = LVT_OFFSETS.index(reg)
            if i == 0 and (self.version >> 16) & 0xFF < 6:
                self._illegal_register(offset, "write")
                return
            val = v & LVT_WRITE_MASKS[i]
            if not self.svr & SVR_ENABLE:
                val |= LVT_MASK
            self._lvt[i] = val
        elif reg == 0x380:
            self.tmict = v
        elif reg == 0x3E0:
            self.tdcr = v & 0xB
        elif self._read32(reg) is None:
            self._illegal_register(offset, "write")
        else:
            self.ctx.diag(self.name, f"SDM 11.4.1 {APIC_REGISTERS[reg].name} is read-only",
                          f"write of {v:#x} ignored")

    def lvt(self, name: str) -> int:
        return self._lvt[LVT_NAMES.index(name)]

    def _illegal_register(self, offset: int, what: str) -> None:
        self._error(ESR_ILLEGAL_REGISTER)
        self.ctx.diag(self.name, "SDM 11.5.3 ESR Illegal Register Address",
                      f"{what} of undefined APIC register offset {offset:#x}")

    def _priority_changed(self) -> None:
        if self.cpu is not None and self.deliverable() >= 0:
            self.cpu.intr()
