"""The VT-d remapping unit on the interrupt path (Intel VT-d ch. 5, 6.5.2, 7, 9.10-9.12, 10.4;
reference/vtd-posted.md).

Registers are declared in :mod:`irqsim.spec.vtd`; the MMIO dispatch is derived from the
declarations (each register's bytes, write and write-1-to-clear masks). The unit:

* GCMD/GSTS: persistent commands (TE, QIE, IRE, CFI) are mirrored in GSTS, one-shot ones
  (SRTP, SFL, WBF, SIRTP) set their status bit; a command completes ``cmd_delay_ns`` after
  the write. SIRTP latches IRTA (base, S, EIME); writing IRTA alone changes nothing.
* The invalidation queue (IQA/IQH/IQT): IEC invalidate descriptors (global, index/mask) and
  invalidation wait descriptors (status write, ICS.IWC); a bad descriptor sets FSTS.IQE.
* The interrupt entry cache (IEC) keeps decoded IRTEs by index until invalidated: a changed
  IRTE takes effect only after an IEC invalidation (``iec=False``: read memory every time).
* ``interrupt_request`` is the seam the root complex and the I/O APIC call: with GSTS.IRES
  clear it returns the request unchanged (today's fast path); otherwise it decodes the request
  (reference 6), reads the IRTE from system memory at that instant, validates it, and returns
  the remapped APIC message, a posted-interrupt notification, or None (blocked: a fault with
  its reason, recorded unless FPD qualifies it, and a ledger drop with a named Reason).
* Faults are recorded in the FRCD registers at CAP.FRO (primary fault logging, overflow) and
  signalled by the fault-event MSI (FEADDR/FEDATA) when FECTL.IM is clear.
* Posted format: the 64-byte descriptor at PDA is updated in memory as one atomic RMW
  (PIR[VV] = 1; notify = ON == 0 and (SN == 0 or URG); ON = 1 if notify) and the notification
  (NV to NDST, physical, fixed, edge) is a new interrupt the unit sends.

``delay`` is the remapping cost of the last request (the root complex adds it); with IRES
clear nothing of this runs per interrupt.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from irqsim.fabric.memory import SystemMemory
from irqsim.fabric.tlp import MWR, Tlp, TlpType, bdf_str
from irqsim.sim.accounting import Reason
from irqsim.sim.context import SimContext
from irqsim.sim.rules import rule
from irqsim.spec.msi import ADDR_REMAPPABLE, MSI_ADDRESS_REMAPPABLE, msi_address, msi_data
from irqsim.spec.regs import Register
from irqsim.spec.vtd import (
    CAP,
    CAP_PI,
    ECAP,
    ECAP_EIM,
    FAULT_QUALIFIED,
    FAULT_TEXT,
    FEADDR,
    FECTL,
    FECTL_IM,
    FECTL_IP,
    FEDATA,
    FEUADDR,
    FR_COMPAT_BLOCKED,
    FR_INDEX_RANGE,
    FR_IRTE_RESERVED,
    FR_NOT_PRESENT,
    FR_PID_READ,
    FR_READ_FAILED,
    FR_REQUEST_RESERVED,
    FR_SID,
    FRCD_F,
    FRCD_INDEX_SHIFT,
    FRCD_SIZE,
    FSTS,
    FSTS_FRI_SHIFT,
    FSTS_IQE,
    FSTS_PFO,
    FSTS_PPF,
    GCMD,
    GCMD_CFI,
    GCMD_IRE,
    GCMD_QIE,
    GCMD_SIRTP,
    GCMD_TE,
    GSTS,
    GSTS_CFIS,
    GSTS_IRES,
    GSTS_IRTPS,
    GSTS_QIES,
    GSTS_TES,
    ICS,
    ICS_IWC,
    IEC_DESC,
    INV_CONTEXT,
    INV_DESC_SIZE,
    INV_DEVTLB,
    INV_IEC,
    INV_IOTLB,
    INV_WAIT,
    INV_WAIT_DESC,
    IQ_INDEX_SHIFT,
    IQA,
    IQA_BASE,
    IQA_QS,
    IQH,
    IQT,
    IRTA,
    IRTA_BASE,
    IRTA_EIME,
    IRTA_S,
    IRTE_FPD,
    IRTE_HIGH,
    IRTE_HIGH_RESERVED,
    IRTE_IM,
    IRTE_LOW,
    IRTE_LOW_RESERVED,
    IRTE_P,
    IRTE_POSTED_HIGH,
    IRTE_POSTED_HIGH_RESERVED,
    IRTE_POSTED_LOW,
    IRTE_POSTED_LOW_RESERVED,
    IRTE_SIZE,
    IRTE_URG,
    IRTE_XAPIC_DST_RESERVED,
    PID_NDST,
    PID_NV,
    PID_ON,
    PID_SIZE,
    PID_SN,
    REGISTERS,
    SQ_MASKS,
    SVT_BUS,
    SVT_NONE,
    SVT_SID,
    VTD_BASE,
    VTD_MMIO_SIZE,
)

__all__ = ["FAULT_REASONS", "REMAPPED_WIDE", "Iommu", "IommuOptions"]

REMAPPED_WIDE = 1 << 63          # apic/interconnect.REMAPPED_WIDE_SHIFT: 32-bit destination

R_IRE_NO_TABLE = rule("VTD-IRE-WITHOUT-TABLE", "VT-d 10.4.4 GCMD.IRE",
                      "interrupt remapping enabled before a table pointer was set (SIRTP)")
R_EIME_UNSUPPORTED = rule("VTD-EIME-UNSUPPORTED", "VT-d 10.4.29 IRTA.EIME",
                          "x2APIC mode requested on a unit without ECAP.EIM")
R_QI_DISABLE_BUSY = rule("VTD-QI-DISABLE-BUSY", "VT-d 6.5.2 queued invalidation",
                         "queued invalidation disabled while descriptors are pending")
R_IQ_ERROR = rule("VTD-IQ-ERROR", "VT-d 6.5.2.10 invalidation queue error",
                  "an invalid descriptor stopped the invalidation queue (FSTS.IQE)")
R_FAULT = rule("VTD-IR-FAULT", "VT-d 7.1.3 interrupt-remapping fault",
               "an interrupt request was blocked by the remapping unit")
R_RO_WRITE = rule("VTD-RO-WRITE", "VT-d 10.4 register access",
                  "a write to a read-only VT-d register is ignored")
R_UNDEFINED_OFFSET = rule("VTD-UNDEFINED-OFFSET", "VT-d 10.4 register map",
                          "an access to an offset no VT-d register occupies")

FAULT_REASONS: dict[int, Reason] = {
    FR_REQUEST_RESERVED: Reason.VTD_REQUEST_RESERVED, FR_INDEX_RANGE: Reason.VTD_INDEX_RANGE,
    FR_NOT_PRESENT: Reason.VTD_NOT_PRESENT, FR_READ_FAILED: Reason.VTD_READ_FAILED,
    FR_IRTE_RESERVED: Reason.VTD_IRTE_RESERVED, FR_COMPAT_BLOCKED: Reason.VTD_COMPAT_BLOCKED,
    FR_SID: Reason.VTD_SID, FR_PID_READ: Reason.VTD_PID_READ,
}
_MASK64 = (1 << 64) - 1

# IRTE fields as the unit reads them (derived from the declarations).
_V, _DM, _RH, _TM, _DLM, _DST = (IRTE_LOW.field(n) for n in ("v", "dm", "rh", "tm", "dlm", "dst"))
_VV, _PDA_L = IRTE_POSTED_LOW.field("vv"), IRTE_POSTED_LOW.field("pda_l")
_PDA_H = IRTE_POSTED_HIGH.field("pda_h")
_SID, _SQ, _SVT = (IRTE_HIGH.field(n) for n in ("sid", "sq", "svt"))
_XAPIC_DST_SHIFT = 8                       # xAPIC mode: the APIC ID is DST[15:8] (bits 47:40)
# Remappable request: handle and SHV bits (VT-d 5.1.2.2), from the declaration.
_HANDLE = MSI_ADDRESS_REMAPPABLE.field("handle")
_HANDLE15 = MSI_ADDRESS_REMAPPABLE.field("handle_15")
_SHV: Final = MSI_ADDRESS_REMAPPABLE.mask("shv")
_H_SHIFT: Final = _HANDLE.lsb                                     # ints for the hot path
_H_MASK: Final = (1 << _HANDLE.width) - 1
_H15_SHIFT: Final = _HANDLE15.lsb


def _byte_table(regs: tuple[Register, ...]) -> dict[int, Register]:
    """Offset of every byte -> the register holding it (the MMIO dispatch)."""
    out: dict[int, Register] = {}
    for r in regs:
        for b in range(r.size):
            out[r.offset + b] = r
    return out


_BY_BYTE = _byte_table(REGISTERS)


@dataclass(frozen=True, slots=True)
class IommuOptions:
    """What the board's remapping unit is: register ``base``, CAP.PI (``pi``), ECAP.EIM
    (``eim``), ``nfr`` fault-recording registers, an interrupt entry cache (``iec``),
    GCMD completion time (``cmd_delay_ns``), and the DMAR x2APIC opt-out flag."""

    base: int = VTD_BASE
    pi: bool = True
    eim: bool = True
    nfr: int = 8
    iec: bool = True
    cmd_delay_ns: int = 0
    x2apic_opt_out: bool = False


class Iommu:
    """One VT-d remapping unit (a DRHD): its register block at ``base`` and the remapping
    hardware. ``pi``/``eim``: CAP.PI and ECAP.EIM; ``nfr``: fault-recording registers;
    ``iec``: model the interrupt entry cache; ``cmd_delay_ns``: GCMD completion time."""

    name = "IOMMU"

    def __init__(self, ctx: SimContext, memory: SystemMemory | None = None,
                 base: int = VTD_BASE, *, pi: bool = True, eim: bool = True, nfr: int = 8,
                 iec: bool = True, mhmv: int = 0xF, cmd_delay_ns: int = 0,
                 fro: int = 0x20) -> None:
        if not 1 <= nfr <= 256:
            raise ValueError(f"VT-d: 1-256 fault-recording registers, got {nfr}")
        if fro * 16 < 0x100 or fro * 16 + nfr * FRCD_SIZE > VTD_MMIO_SIZE:
            raise ValueError(f"VT-d: fault records at {fro * 16:#x} do not fit the page")
        self.ctx = ctx
        self.memory = memory if memory is not None else SystemMemory()
        self.base = base
        self.cap = CAP.encode(fro=fro, nfr=nfr - 1, pi=int(pi))
        self.ecap = ECAP.encode(qi=1, ir=1, eim=int(eim), mhmv=mhmv)
        self.frcd_offset = fro * 16
        self.frcd: list[list[int]] = [[0, 0] for _ in range(nfr)]   # [low, high] qwords
        self.next_fr = 0
        self.gsts = 0
        self.regs: dict[Register, int] = {r: r.reset for r in REGISTERS}
        self.cmd_delay_ns = cmd_delay_ns
        # Latched by SIRTP (what lookups use).
        self.irt_base = 0
        self.irt_entries = 0
        self.eime = False
        self.iec: dict[int, tuple[int, int]] | None = {} if iec else None
        # The IEC's decoded remapped entries: index -> (address, data, SID mask, SID wanted).
        self._xlate: dict[int, tuple[int, int, int, int]] = {}
        t = ctx.timing
        self._hit_delay = t.ir_decode + t.ir_iec_hit
        self.iec_hits = 0
        self.iec_misses = 0
        self.iec_invalidations = 0
        self.requests = 0
        self.remapped = 0
        self.posted = 0
        self.notifications = 0
        self.fault_events = 0
        self.faults: Counter[int] = Counter()          # fault reason -> requests blocked
        self.delay = 0                                  # remapping ns of the last request
        # Who carries a message the unit generates (fault event, posted notification) to
        # the APIC bus: set by the root complex. (message, ns until it arrives).
        self.send: Callable[[Tlp, int], None] | None = None
        # Posted interrupts waiting in PIRs: descriptor address -> {vector: interrupt id}.
        self.posted_pids: dict[int, dict[int, int]] = {}

    # -- state ------------------------------------------------------------------------
    @property
    def remapping_enabled(self) -> bool:
        return bool(self.gsts & GSTS_IRES)

    @property
    def pi(self) -> bool:
        return bool(self.cap & CAP_PI)

    def reg(self, r: Register) -> int:
        """Current value of register ``r`` as software reads it."""
        if r is CAP:
            return self.cap
        if r is ECAP:
            return self.ecap
        if r is GCMD:
            return 0
        if r is GSTS:
            return self.gsts
        if r is FSTS:
            return self._fsts()
        return self.regs[r]

    def _fsts(self) -> int:
        v = self.regs[FSTS] & ~FSTS_PPF
        if any(rec[1] & (FRCD_F >> 64) for rec in self.frcd):
            v |= FSTS_PPF
        return v

    # -- MMIO (derived from the declarations) ----------------------------------------------
    def mmio_read(self, offset: int, size: int) -> int:
        if self.frcd_offset <= offset < self.frcd_offset + len(self.frcd) * FRCD_SIZE:
            i, b = divmod(offset - self.frcd_offset, FRCD_SIZE)
            lo, hi = self.frcd[i]
            return ((hi << 64 | lo) >> (8 * b)) & ((1 << (8 * size)) - 1)
        r = _BY_BYTE.get(offset)
        if r is None:
            return 0
        return (self.reg(r) >> (8 * (offset - r.offset))) & ((1 << (8 * size)) - 1)

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        if self.frcd_offset <= offset < self.frcd_offset + len(self.frcd) * FRCD_SIZE:
            self._frcd_write(offset - self.frcd_offset, size, value)
            return
        r = _BY_BYTE.get(offset)
        if r is None:
            self.ctx.diag(self.name, R_UNDEFINED_OFFSET,
                          f"write of {value:#x} to offset {offset:#x} ignored")
            return
        shift = 8 * (offset - r.offset)
        span = (((1 << (8 * size)) - 1) << shift) & ((1 << (8 * r.size)) - 1)
        v = (value << shift) & span
        if r is GCMD:
            self._command(v)
            return
        if r in (CAP, ECAP, GSTS):
            if v:
                self.ctx.diag(self.name, R_RO_WRITE, f"write of {value:#x} to {r.name} ignored")
            return
        old = self.regs[r]
        w = r.wmask & span
        new = (old & ~w) | (v & w)
        new &= ~(v & r.w1cmask)
        self.regs[r] = new
        if r is FECTL and old & FECTL_IM and not new & FECTL_IM and new & FECTL_IP:
            self.regs[FECTL] = new & ~FECTL_IP          # unmasked with one pending: send it
            self._fault_event_msi()
        elif r is IQT and self.gsts & GSTS_QIES:
            self._process_queue()

    def _frcd_write(self, off: int, size: int, value: int) -> None:
        """FRCD: only F (bit 127) is writable, write 1 to clear."""
        i, b = divmod(off, FRCD_SIZE)
        v = (value << (8 * b)) & ((1 << 128) - 1)
        if v & FRCD_F:
            self.frcd[i][1] &= ~(FRCD_F >> 64)

    # -- GCMD ------------------------------------------------------------------------------
    def _command(self, v: int) -> None:
        """A GCMD write: persistent bits give the wanted state, one-shot bits a command;
        the status follows ``cmd_delay_ns`` later."""
        if self.cmd_delay_ns:
            self.ctx.engine.after(self.cmd_delay_ns, self._complete, v)
        else:
            self._complete(v)

    def _complete(self, v: int) -> None:
        g = self.gsts
        if v & GCMD_SIRTP:
            irta = self.regs[IRTA]
            self.irt_base = irta & IRTA_BASE
            self.irt_entries = 2 << (irta & IRTA_S)
            self.eime = bool(irta & IRTA_EIME)
            if self.eime and not self.ecap & ECAP_EIM:
                self.ctx.diag(self.name, R_EIME_UNSUPPORTED,
                              "IRTA.EIME = 1 but ECAP.EIM = 0: x2APIC mode taken as xAPIC")
                self.eime = False
            g |= GSTS_IRTPS
        if v & GCMD_QIE and not g & GSTS_QIES:
            self.regs[IQH] = 0
            g |= GSTS_QIES
        elif not v & GCMD_QIE and g & GSTS_QIES:
            if self.regs[IQH] != self.regs[IQT]:
                self.ctx.diag(self.name, R_QI_DISABLE_BUSY,
                              "GCMD.QIE cleared with IQH != IQT: descriptors left unprocessed")
            g &= ~GSTS_QIES
        if v & GCMD_IRE and not g & GSTS_IRES:
            if g & GSTS_IRTPS:
                g |= GSTS_IRES
            else:
                self.ctx.diag(self.name, R_IRE_NO_TABLE,
                              "GCMD.IRE ignored: no interrupt remapping table pointer latched")
        elif not v & GCMD_IRE:
            g &= ~GSTS_IRES
            self.delay = 0
        g = g | GSTS_CFIS if v & GCMD_CFI else g & ~GSTS_CFIS
        g = g | GSTS_TES if v & GCMD_TE else g & ~GSTS_TES
        self.gsts = g

    # -- invalidation queue ---------------------------------------------------------------
    def _process_queue(self) -> None:
        """Run descriptors from IQH to IQT (each at once; a wait descriptor's fence is
        trivially met)."""
        if self.regs[FSTS] & FSTS_IQE:
            return
        iqa = self.regs[IQA]
        base = iqa & IQA_BASE
        size = 256 << (iqa & IQA_QS)
        head = self.regs[IQH] >> IQ_INDEX_SHIFT
        tail = self.regs[IQT] >> IQ_INDEX_SHIFT
        mem = self.memory
        while head != tail:
            addr = base + INV_DESC_SIZE * head
            if tail >= size or not mem.contains(addr):
                self._queue_error(f"descriptor {head} at {addr:#x} is outside the queue or "
                                  "memory")
                break
            d = mem.read(addr, INV_DESC_SIZE)
            kind = d & 0xF
            if kind == INV_IEC:
                if d & IEC_DESC.reserved_mask:
                    self._queue_error(f"IEC descriptor {d:#034x} has reserved bits set")
                    break
                self._invalidate_iec(d)
            elif kind == INV_WAIT:
                if d & INV_WAIT_DESC.reserved_mask:
                    self._queue_error(f"wait descriptor {d:#034x} has reserved bits set")
                    break
                f = INV_WAIT_DESC.decode(d)
                if f["sw"]:
                    mem.write(f["status_address"] << 2, 4, f["status_data"])
                if f["if_"]:
                    self.regs[ICS] |= ICS_IWC
            elif kind not in (INV_CONTEXT, INV_IOTLB, INV_DEVTLB):
                self._queue_error(f"descriptor type {kind} is not supported")
                break
            head = (head + 1) % size
        self.regs[IQH] = head << IQ_INDEX_SHIFT

    def _queue_error(self, why: str) -> None:
        quiet = not self._fsts() & (FSTS_PPF | FSTS_PFO)
        self.regs[FSTS] |= FSTS_IQE
        self.ctx.diag(self.name, R_IQ_ERROR, why)
        if quiet:
            self._fault_interrupt()

    def _invalidate_iec(self, d: int) -> None:
        self.iec_invalidations += 1
        iec = self.iec
        if iec is None:
            return
        f = IEC_DESC.decode(d)
        if not f["g"]:
            iec.clear()
            self._xlate.clear()
            return
        im = f["im"]
        if im > (self.ecap >> ECAP.field("mhmv").lsb & 0xF):
            self._queue_error(f"IEC index mask {im} exceeds ECAP.MHMV")
            return
        key = f["iidx"] >> im
        for idx in [i for i in iec if i >> im == key]:
            del iec[idx]
            self._xlate.pop(idx, None)

    # -- faults ------------------------------------------------------------------------------
    def _fault(self, fr: int, tlp: Tlp, index: int, fpd: bool) -> None:
        """Block ``tlp`` for fault reason ``fr``; record it unless FPD qualifies it."""
        ctx = self.ctx
        self.faults[fr] += 1
        ctx.ledger.drop(FAULT_REASONS[fr], tlp.iid, self.name, flying=True)
        recorded = not (fpd and fr in FAULT_QUALIFIED)
        ctx.diag(self.name, R_FAULT,
                 f"[INTR-REMAP] Request device [{bdf_str(tlp.requester)}] fault index "
                 f"{index:#x} [fault reason {fr:#04x}] {FAULT_TEXT[fr]}"
                 + ("" if recorded else " (FPD set: not recorded)"))
        if ctx.tracer.on:
            ctx.tracer.emit(ctx.engine.now, self.name, self.name, "ir-result", outcome="blocked",
                            reason=fr, index=index, sid=bdf_str(tlp.requester),
                            recorded=recorded, source=tlp.source)
        if recorded:
            self.delay += ctx.timing.ir_fault_record
            self._record(fr, tlp.requester, index)

    def _record(self, fr: int, sid: int, index: int) -> None:
        """Primary fault logging (VT-d 7.3.1; reference 5.2): a full next record sets PFO
        (PPF is then set: no new event); a record written while no fault condition was
        outstanding (PPF, PFO, IQE clear) raises the fault event."""
        fsts = self.regs[FSTS]
        if fsts & FSTS_PFO:
            return
        i = self.next_fr
        if self.frcd[i][1] & (FRCD_F >> 64):
            self.regs[FSTS] = fsts | FSTS_PFO
            return
        now = self._fsts()
        quiet = not now & (FSTS_PPF | FSTS_PFO | FSTS_IQE)
        self.frcd[i] = [(index & 0xFFFF) << FRCD_INDEX_SHIFT,
                        (sid & 0xFFFF) | fr << 32 | FRCD_F >> 64]
        if not now & FSTS_PPF:                  # FRI: the first pending record (VT-d 10.4.9)
            self.regs[FSTS] = (fsts & ~(0xFF << FSTS_FRI_SHIFT)) | i << FSTS_FRI_SHIFT
        self.next_fr = (i + 1) % len(self.frcd)
        if quiet:
            self._fault_interrupt()

    def _fault_interrupt(self) -> None:
        """The fault event (VT-d 7.3.2): with FECTL.IM set only IP is set (the MSI goes when
        IM is cleared); else the MSI is sent now."""
        fectl = self.regs[FECTL]
        if fectl & FECTL_IM:
            self.regs[FECTL] = fectl | FECTL_IP
            return
        self._fault_event_msi()

    def _fault_event_msi(self) -> None:
        """Send the fault-event interrupt (FEADDR/FEUADDR, FEDATA): not subject to remapping."""
        self.fault_events += 1
        addr = self.regs[FEUADDR] << 32 | self.regs[FEADDR]
        tlp = Tlp(TlpType.MWR, 0, addr, self.regs[FEDATA] & 0xFFFF, 4)
        tlp.source = "DMAR fault event"
        self._emit(tlp)

    def _emit(self, tlp: Tlp) -> None:
        """A message the unit generates itself: a new interrupt, sent to the APIC bus."""
        led = self.ctx.ledger
        tlp.iid = led.raise_(self.name)
        led.launch(tlp.iid, self.name)
        if self.send is None:
            led.drop(Reason.NO_DESTINATION, tlp.iid, self.name, flying=True)
            return
        self.send(tlp, self.delay)

    # -- the interrupt path -----------------------------------------------------------------
    def interrupt_request(self, tlp: Tlp) -> Tlp | None:
        """Process an interrupt write; return the message to deliver (a remapped request is
        rewritten in place into its APIC message; a posted one returns the notification, a
        new interrupt), or None if blocked or posted silently (VT-d 5.1.4; reference 6).
        ``delay`` holds the remapping cost (0 while remapping is off)."""
        self.requests += 1
        if not self.gsts & GSTS_IRES:
            return tlp
        x = self._xlate
        if x and not self.ctx.tracer.on:
            # Common case: a remappable request hitting a cached remapped entry.
            addr = tlp.address
            if addr & ADDR_REMAPPABLE and not addr >> 32:
                index = (addr >> _H15_SHIFT & 1) << 15 | (addr >> _H_SHIFT & _H_MASK)
                if addr & _SHV:
                    data = tlp.data
                    index = -1 if data >> 16 else index + data
                e = x.get(index)
                if e is not None and tlp.requester & e[2] == e[3]:
                    self.iec_hits += 1
                    self.remapped += 1
                    self.delay = self._hit_delay
                    tlp.address, tlp.data = e[0], e[1]
                    return tlp
        return self._remap(tlp)

    def _remap(self, tlp: Tlp) -> Tlp | None:
        ctx = self.ctx
        t = ctx.timing
        self.delay = t.ir_decode
        addr, data = tlp.address, tlp.data
        if addr >> 32:
            self._fault(FR_REQUEST_RESERVED, tlp, 0, False)
            return None
        if not addr & ADDR_REMAPPABLE:
            if self.eime or not self.gsts & GSTS_CFIS:
                self._fault(FR_COMPAT_BLOCKED, tlp, 0, False)
                return None
            if ctx.tracer.on:
                ctx.tracer.emit(ctx.engine.now, self.name, self.name, "ir-compat",
                                address=addr, source=tlp.source)
            return tlp
        shv = addr & _SHV
        index = _HANDLE15.get(addr) << 15 | _HANDLE.get(addr)
        if shv:
            index += data & 0xFFFF
        if ctx.tracer.on:
            ctx.tracer.emit(ctx.engine.now, self.name, self.name, "ir-lookup", index=index,
                            sid=bdf_str(tlp.requester), source=tlp.source)
        if index >= self.irt_entries:
            self._fault(FR_INDEX_RANGE, tlp, index, False)
            return None
        entry = self._irte(index)
        if entry is None:
            self._fault(FR_READ_FAILED, tlp, index, False)
            return None
        lo, hi = entry
        fpd = bool(lo & IRTE_FPD)
        if not lo & IRTE_P:
            self._fault(FR_NOT_PRESENT, tlp, index, fpd)
            return None
        posted = bool(lo & IRTE_IM)
        if posted:
            bad = (not self.pi or lo & IRTE_POSTED_LOW_RESERVED
                   or hi & IRTE_POSTED_HIGH_RESERVED)
        else:
            bad = (lo & IRTE_LOW_RESERVED or hi & IRTE_HIGH_RESERVED
                   or (not self.eime and lo & IRTE_XAPIC_DST_RESERVED))
        if bad:
            self._fault(FR_IRTE_RESERVED, tlp, index, fpd)
            return None
        if not _sid_ok(hi, tlp.requester):
            self._fault(FR_SID, tlp, index, fpd)
            return None
        if shv and data >> 16:
            self._fault(FR_REQUEST_RESERVED, tlp, index, fpd)
            return None
        if posted:
            return self._post(tlp, index, lo, hi, fpd)
        self.remapped += 1
        dst = _DST.get(lo)
        if not self.eime:
            dst = dst >> _XAPIC_DST_SHIFT & 0xFF
        v = _V.get(lo)
        tm = _TM.get(lo)
        out = tlp                                   # the write becomes the APIC message
        out.address = (msi_address(dst & 0xFF, bool(_DM.get(lo)), bool(_RH.get(lo)))
                       | ((dst & 0x7FFFFF00) << 32 | REMAPPED_WIDE if self.eime else 0))
        out.data = msi_data(v, _DLM.get(lo), bool(tm))
        if self.iec is not None and index in self.iec:
            svt = _SVT.get(hi)
            if svt in (SVT_NONE, SVT_SID):
                m = SQ_MASKS[_SQ.get(hi)] if svt == SVT_SID else 0
                self._xlate[index] = (out.address, out.data, m, _SID.get(hi) & m)
        if ctx.tracer.on:
            ctx.tracer.emit(ctx.engine.now, self.name, self.name, "ir-result",
                            outcome="remapped", index=index, vector=v, dest=dst,
                            source=tlp.source)
        return out

    def _irte(self, index: int) -> tuple[int, int] | None:
        """The IRTE at ``index``: from the IEC, else read from memory now (None: unreadable)."""
        iec = self.iec
        t = self.ctx.timing
        if iec is not None:
            e = iec.get(index)
            if e is not None:
                self.iec_hits += 1
                self.delay += t.ir_iec_hit
                return e
        addr = self.irt_base + IRTE_SIZE * index
        self.iec_misses += 1
        self.delay += t.ir_iec_miss
        if not self.memory.contains(addr + IRTE_SIZE - 1):
            return None
        raw = self.memory.read(addr, IRTE_SIZE)
        e = (raw & _MASK64, raw >> 64)
        if iec is not None and e[0] & IRTE_P:
            iec[index] = e
        return e

    def _post(self, tlp: Tlp, index: int, lo: int, hi: int, fpd: bool) -> Tlp | None:
        """Posted-format hit (VT-d 5.2.3; reference 7.2): atomic PIR/ON update in memory,
        then the notification if one is due."""
        ctx = self.ctx
        pda = _PDA_H.get(hi) << 32 | _PDA_L.get(lo) << 6
        mem = self.memory
        if not mem.contains(pda + PID_SIZE - 1):
            self._fault(FR_PID_READ, tlp, index, fpd)
            return None
        self.delay += ctx.timing.ir_pid_update
        self.posted += 1
        vv = _VV.get(lo)
        pid = mem.read(pda, PID_SIZE)
        urgent = bool(lo & IRTE_URG)
        notify = not pid & PID_ON and (not pid & PID_SN or urgent)
        already = bool(pid >> vv & 1)
        pid |= 1 << vv
        if notify:
            pid |= PID_ON
        mem.write(pda, PID_SIZE, pid)                 # one atomic read-modify-write
        led = ctx.ledger
        if already:
            led.merge(tlp.iid, self.name, flying=True)
        else:
            led.post(tlp.iid, self.name)              # pending in the PIR
            self.posted_pids.setdefault(pda, {})[vv] = tlp.iid
        ndst = PID_NDST.get(pid)
        nv = PID_NV.get(pid)
        if ctx.tracer.on:
            ctx.tracer.emit(ctx.engine.now, self.name, self.name, "ir-result",
                            outcome="posted", index=index, vector=vv, pid=pda,
                            notify=notify, merged=already, source=tlp.source)
        if not notify:
            return None
        self.notifications += 1
        dest = ndst if self.eime else ndst >> 8 & 0xFF
        out = Tlp(MWR, tlp.requester,
                  msi_address(dest & 0xFF) | ((dest & 0x7FFFFF00) << 32 | REMAPPED_WIDE
                                              if self.eime else 0),
                  msi_data(nv), 4)
        out.source = tlp.source
        led_iid = led.raise_(self.name)
        led.launch(led_iid, self.name)
        out.iid = led_iid
        return out

    # -- posted interrupts: what the CPU side and the books read ----------------------------
    def pir_pending(self) -> int:
        """PIR bits set in every descriptor the unit has posted to (read from memory)."""
        mem = self.memory
        return sum((mem.read(pda, 32)).bit_count() for pda in self.posted_pids)

    def take_posted(self, pda: int, vector: int) -> int:
        """The interrupt id posted to ``vector`` of the descriptor at ``pda`` (0 if none):
        what the CPU side settles when it moves that PIR bit to the vIRR."""
        return self.posted_pids.get(pda, {}).pop(vector, 0)

    # -- views -------------------------------------------------------------------------------
    def fault_records(self) -> list[dict[str, int]]:
        """Valid fault records (F = 1): index, reason, source-id, FI index."""
        out = []
        for i, (lo, hi) in enumerate(self.frcd):
            if hi & (FRCD_F >> 64):
                out.append({"record": i, "reason": hi >> 32 & 0xFF, "sid": hi & 0xFFFF,
                            "index": lo >> FRCD_INDEX_SHIFT & 0xFFFF})
        return out


def _sid_ok(hi: int, sid: int) -> bool:
    """Source-id validation (VT-d 9.10 SVT/SQ/SID; reference 3.3)."""
    svt = _SVT.get(hi)
    if svt == SVT_NONE:
        return True
    want = _SID.get(hi)
    if svt == SVT_SID:
        m = SQ_MASKS[_SQ.get(hi)]
        return sid & m == want & m
    if svt == SVT_BUS:
        return want >> 8 <= sid >> 8 <= want & 0xFF
    return False


