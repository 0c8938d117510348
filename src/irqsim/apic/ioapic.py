"""The I/O APIC (Intel 82093AA datasheet; semantics.md B; seed 003 "I/O APIC").

Software reaches it through two memory-mapped registers: IOREGSEL (base+0x00,
the index of an internal register) and IOWIN (base+0x10, a 32-bit window on
it), plus the EOI register (base+0x40, version 0x20 only). Internal registers:
0x00 ID (bits 27:24), 0x01 version, 0x02 arbitration ID, 0x10+2n / 0x11+2n the
low / high dword of redirection table entry n.

Each input pin carries an electrical level; the RTE's polarity decides whether
that level is "asserted" (``asserted = level XOR polarity``, semantics.md F:
irqsim models the physical pin). Edge pins deliver on 0->1 only, and an edge
that finds the entry masked is lost. Level pins keep IRR while asserted; a
delivery sets Remote IRR, which coalesces further assertions until an EOI
(broadcast by a LAPIC, or written to the EOI register) with the entry's vector
clears it; a line still asserted then is delivered again; a masked level line
is delivered when unmasked (B.3). A delivery is an MSI-format write to the
LAPICs (B.4), passed through the IOMMU seam like device MSIs.

Accounting (docs/intx.md): an assertion that reaches an input becomes the pin's
request, or is merged when the line is already asserted or Remote IRR is set;
a request held by a masked level entry is *pending* (level, IRR set, Remote IRR
clear, masked); a re-delivery at EOI is an interrupt raised here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from irqsim.fabric.tlp import Tlp, TlpType
from irqsim.sim.accounting import Reason
from irqsim.sim.context import SimContext
from irqsim.sim.rules import rule
from irqsim.spec.ioapic import (
    IOAPIC_DEFAULT_BASE,
    IOAPIC_VERSION_EOI,
    IOAPICID,
    IOAPICVER,
    IOEOI,
    IOREDTBL,
    IOREGSEL,
    IOWIN,
    REG_ARBITRATION,
    REG_ID,
    REG_REDTBL,
    REG_VERSION,
    RESERVED_DELIVERY_MODES,
    RTE_DELIVERY_STATUS,
    RTE_DEST_SHIFT,
    RTE_EXT_DEST_SHIFT,
    RTE_LEVEL,
    RTE_LOGICAL,
    RTE_MASKED,
    RTE_MODE_SHIFT,
    RTE_POLARITY,
    RTE_POLARITY_SHIFT,
    RTE_REMOTE_IRR,
    RTE_RESERVED,
    RTE_RESET,
    RTE_VECTOR,
    RTE_WMASK,
)
from irqsim.spec.modes import TriggerMode
from irqsim.spec.msi import DELIVERY_MODE_NAMES, msi_address, msi_data

R_NO_PIN = rule(
    "IOAPIC-NO-PIN", "82093AA 2.2",
    "an interrupt input must be one of the I/O APIC's pins")
R_IOWIN_SIZE = rule("IOAPIC-IOWIN-SIZE", "82093AA 3.0", "IOWIN is a 32-bit register")
R_NO_EOI_REGISTER = rule(
    "IOAPIC-NO-EOI-REGISTER", "I/O APIC version 0x20",
    "only I/O APICs of version 0x20 and later have the EOI register")
R_BAD_OFFSET = rule(
    "IOAPIC-BAD-OFFSET", "82093AA 3.0",
    "the I/O APIC decodes only IOREGSEL, IOWIN (and EOI)")
R_BAD_INDEX = rule("IOAPIC-BAD-INDEX", "82093AA 3.0", "IOREGSEL must select a defined register")
R_ID_RESERVED = rule("IOAPIC-ID-RESERVED", "82093AA 3.2.1", "only IOAPICID bits 27:24 are writable")
R_READ_ONLY = rule("IOAPIC-READ-ONLY", "82093AA 3.2", "IOAPICVER and IOAPICARB are read-only")
R_RTE_RESERVED_HIGH = rule(
    "IOAPIC-RTE-RESERVED-HIGH", "82093AA 3.2.4",
    "IOREDTBL bits 47:32 are reserved")
R_RTE_RESERVED_LOW = rule(
    "IOAPIC-RTE-RESERVED-LOW", "82093AA 3.2.4",
    "IOREDTBL bits 31:17 are reserved")
R_RTE_DELIVERY_MODE = rule(
    "IOAPIC-RTE-DELIVERY-MODE", "82093AA 3.2.4",
    "an RTE's delivery mode must not be a reserved encoding")

if TYPE_CHECKING:
    from irqsim.apic.interconnect import ApicBus

# The I/O APIC's source-id for interrupt remapping: QEMU q35's pseudo device ff:00.0.
IOAPIC_SOURCE_ID = 0xFF00
DELIVERY_STATUS = RTE_DELIVERY_STATUS
POLARITY = RTE_POLARITY
REMOTE_IRR = RTE_REMOTE_IRR
LEVEL = RTE_LEVEL
TRIGGER_LABELS = (TriggerMode.EDGE.label, TriggerMode.LEVEL.label)     # by bool(rte & LEVEL)
MASKED = RTE_MASKED

Remap = Callable[[Tlp], "Tlp | None"]


class IoApic:
    """One I/O APIC with ``pins`` inputs (24 by default: max redirection entry 23)."""

    def __init__(self, ctx: SimContext, bus: ApicBus, name: str = "IOAPIC0",
                 base: int = IOAPIC_DEFAULT_BASE, pins: int = 24, version: int = 0x20,
                 apic_id: int = 0, gsi_base: int = 0) -> None:
        if not 1 <= pins <= 240:
            raise ValueError(f"an I/O APIC has 1-240 pins, got {pins}")
        if version not in (0x11, 0x20):
            raise ValueError(f"I/O APIC version must be 0x11 or 0x20, got {version:#x}")
        self.ctx = ctx
        self.bus = bus
        self.name = name
        self.base = base
        self.pins = pins
        self.version = version
        self.gsi_base = gsi_base
        self.ioregsel = 0
        self.id = (apic_id & 0xF) << 24
        self.rte = [RTE_RESET] * pins
        self.line = [0] * pins          # electrical input levels
        self.irr = 0                    # level: asserted; edge: edge latched, not yet serviced
        self.sched = 0                  # pins whose service (RTE lookup) is under way
        self.remap: Remap | None = None  # the IOMMU's interrupt_request, if wired
        self.remap_unit: Any = None      # that IOMMU (its ``delay``: the remapping cost)
        # Requester ID of the messages it sends (interrupt remapping validates it; the
        # board's DMAR table declares it in the I/O APIC's device scope).
        self.source_id = IOAPIC_SOURCE_ID
        self.messages = 0
        self.eois = 0
        # Per pin: level re-deliveries at EOI since the input or a wire routed to it last
        # changed -- a line that storms without progress (the run watchdog reads it).
        self.redeliveries = [0] * pins
        # Not architectural: the assertion that made each pin's current request (its trace
        # label) and the interrupt id (Ledger.raise_) the request carries.
        self._meta: list[Tlp | None] = [None] * pins
        self._iid = [0] * pins
        bus.eoi_listeners.append(self.eoi_broadcast)

    # -- state -----------------------------------------------------------------
    def asserted(self, pin: int) -> bool:
        """The pin's input is asserted (level XOR polarity)."""
        return bool(self.line[pin] ^ (self.rte[pin] >> RTE_POLARITY_SHIFT & 1))

    def held(self, pin: int) -> bool:
        """A level request held pending: IRR set, Remote IRR clear, masked (not in service)."""
        rte = self.rte[pin]
        return (rte & (LEVEL | REMOTE_IRR | MASKED) == LEVEL | MASKED
                and bool(self.irr >> pin & 1) and not self.sched >> pin & 1)

    def pending(self) -> int:
        """Number of held level requests (what Machine.pending counts for this I/O APIC)."""
        return sum(1 for p in range(self.pins) if self.held(p))

    # -- inputs ------------------------------------------------------------------
    def set_pin(self, pin: int, level: int, meta: Tlp | None = None, unit: bool = False) -> None:
        """Drive input ``pin`` to electrical ``level``.

        ``unit``: the caller hands over one in-flight interrupt (the assertion that raised
        this input); ``meta`` carries its stamps (instrumentation).
        """
        if not 0 <= pin < self.pins:
            ctx = self.ctx
            if unit:
                ctx.ledger.drop(Reason.IOAPIC_NO_PIN, meta.iid if meta is not None else 0,
                                self.name, flying=True)
            ctx.diag(self.name, R_NO_PIN,
                     f"input {pin} does not exist (pins 0-{self.pins - 1})")
            return
        held0 = self.held(pin)
        self.redeliveries[pin] = 0
        pol = self.rte[pin] >> RTE_POLARITY_SHIFT & 1
        before = self.line[pin] ^ pol
        self.line[pin] = level & 1
        after = (level & 1) ^ pol
        bit = 1 << pin
        if self.rte[pin] & LEVEL:
            self.irr = self.irr | bit if after else self.irr & ~bit
        elif after and not before:
            self.irr |= bit
        ctx = self.ctx
        if ctx.tracer.on:
            ctx.tracer.emit(ctx.engine.now, "Root Complex", self.name, "ioapic-input", pin=pin,
                            level=level & 1, asserted=bool(after),
                            source=meta.source if meta is not None else "")
        reason = Reason.INTX_POLARITY if unit else Reason.INTX_DEASSERTED_PENDING
        self._settle(pin, held0, unit, meta, reason)

    def _settle(self, pin: int, held0: bool, unit: bool, meta: Tlp | None,
                reason: Reason | None) -> None:
        """Give the pin the request its state calls for, balancing the ledger.

        Interrupts in hand: the incoming one (``unit``) and the one held before
        (``held0``). The pin needs one if it must now be serviced or held.
        """
        led = self.ctx.ledger
        name = self.name
        bit = 1 << pin
        rte = self.rte[pin]
        hand: list[int] = []                         # ids of the interrupts in hand
        if unit:
            hand.append(meta.iid if meta is not None else 0)
        if held0:
            led.launch(self._iid[pin], name)         # leaves "pending": in hand
            hand.append(self._iid[pin])
        if self.sched & bit:
            need = 0
        elif rte & LEVEL:
            need = 1 if self.irr & bit and not rte & REMOTE_IRR else 0
        else:
            need = 1 if self.irr & bit else 0
        if need and not held0:
            self._meta[pin] = meta if unit else None  # None: raised here, no device event
            tp = self.ctx.points.ioapic_in
            if unit and meta is not None and tp.on:
                tp(meta.iid, self.ctx.engine.now)
        if len(hand) < need:
            iid = led.raise_(name)                   # raised here: the level is still on
            led.launch(iid, name)
            hand.append(iid)
        keep = hand.pop() if need else 0             # the held one, else the incoming one
        if hand:
            merged = self.asserted(pin)              # line already asserted / Remote IRR
            for iid in hand:
                if merged or reason is None:
                    led.merge(iid, name, flying=True)
                else:
                    led.drop(reason, iid, name, flying=True)
        if not need:
            return
        self._iid[pin] = keep
        if rte & (LEVEL | MASKED) == LEVEL | MASKED:
            led.land(keep, name)                     # held: pending in the registers
            return
        self.sched |= bit
        self.rte[pin] = rte | DELIVERY_STATUS
        self.ctx.engine.after(self.ctx.timing.ioapic_processing, self._service, pin)

    def _service(self, pin: int) -> None:
        """RTE lookup after the processing time: mask check, Remote IRR, message."""
        ctx = self.ctx
        led = ctx.ledger
        bit = 1 << pin
        self.sched &= ~bit
        rte = self.rte[pin]
        tracer = ctx.tracer
        iid = self._iid[pin]
        if rte & LEVEL:
            if not self.irr & bit:
                self.rte[pin] = rte & ~DELIVERY_STATUS
                led.drop(Reason.INTX_DEASSERTED_SERVICE, iid, self.name, flying=True)
                return
            if rte & REMOTE_IRR:
                self.rte[pin] = rte & ~DELIVERY_STATUS
                led.merge(iid, self.name, flying=True)
                return
            if rte & MASKED:
                self.rte[pin] = rte & ~DELIVERY_STATUS
                led.land(iid, self.name)             # held until unmasked
                if tracer.on:
                    tracer.emit(ctx.engine.now, self.name, self.name, "ioapic-masked", pin=pin,
                                trigger=TriggerMode.LEVEL.label, outcome="held")
                return
            rte |= REMOTE_IRR
            self.rte[pin] = rte
        else:
            self.irr &= ~bit
            if rte & MASKED:
                self.rte[pin] = rte & ~DELIVERY_STATUS
                led.drop(Reason.MASKED_EDGE, iid, self.name, flying=True)
                if tracer.on:
                    tracer.emit(ctx.engine.now, self.name, self.name, "ioapic-masked", pin=pin,
                                trigger=TriggerMode.EDGE.label, outcome="lost")
                return
        self._send(pin, rte)

    def message(self, pin: int) -> tuple[int, int]:
        """The MSI-format (address, data) entry ``pin`` sends (semantics.md B.4)."""
        rte = self.rte[pin]
        return (msi_address(rte >> RTE_DEST_SHIFT, bool(rte & RTE_LOGICAL),
                            ext_dest=rte >> RTE_EXT_DEST_SHIFT),
                msi_data(rte & RTE_VECTOR, rte >> RTE_MODE_SHIFT & 7, bool(rte & RTE_LEVEL)))

    def _send(self, pin: int, rte: int) -> None:
        ctx = self.ctx
        now = ctx.engine.now
        addr, data = self.message(pin)
        tlp = Tlp(TlpType.MWR, self.source_id, addr, data, 4)
        meta = self._meta[pin]
        tlp.source = meta.source if meta is not None else f"{self.name}/pin{pin}"
        tlp.iid = self._iid[pin]
        tp = ctx.points.ioapic_out
        if tp.on:
            tp(tlp.iid, now, "" if meta is not None else tlp.source)
        self._meta[pin] = None
        self.messages += 1
        if ctx.tracer.on:
            ctx.tracer.emit(now, self.name, "APIC bus", "ioapic-send", pin=pin,
                            vector=rte & 0xFF, dest=rte >> 56 & 0xFF,
                            logical=bool(rte >> 11 & 1),
                            mode=DELIVERY_MODE_NAMES.get(rte >> RTE_MODE_SHIFT & 7, "reserved"),
                            trigger=TRIGGER_LABELS[bool(rte & LEVEL)], source=tlp.source)
        msg = self.remap(tlp) if self.remap is not None else tlp
        if msg is None:
            self.rte[pin] &= ~DELIVERY_STATUS
            return
        t = ctx.timing
        delay = t.ioapic_to_lapic + t.iommu_passthrough
        if self.remap_unit is not None:             # the unit's stages (0: remapping off)
            delay += self.remap_unit.delay
        ctx.engine.after(delay, self._arrive, (pin, msg))

    def _arrive(self, arg: tuple[int, Tlp]) -> None:
        pin, msg = arg
        self.rte[pin] &= ~DELIVERY_STATUS
        self.bus.deliver_msi(msg)

    # -- EOI ---------------------------------------------------------------------
    def eoi_broadcast(self, vector: int) -> None:
        """A LAPIC's level-triggered EOI message; it reaches us after ``ioapic_eoi``."""
        self.ctx.engine.after(self.ctx.timing.ioapic_eoi, self.eoi, vector)

    def eoi(self, vector: int) -> None:
        """Clear Remote IRR of every level entry with ``vector``; re-deliver if still asserted."""
        self.eois += 1
        tracer = self.ctx.tracer
        for pin in range(self.pins):
            rte = self.rte[pin]
            if rte & 0xFF == vector and rte & (LEVEL | REMOTE_IRR) == LEVEL | REMOTE_IRR:
                self.rte[pin] = rte & ~REMOTE_IRR
                if tracer.on:
                    tracer.emit(self.ctx.engine.now, self.name, self.name, "ioapic-eoi",
                                pin=pin, vector=vector, asserted=bool(self.irr >> pin & 1))
                self._settle(pin, False, False, None, None)
                if self.irr >> pin & 1:
                    self.redeliveries[pin] += 1

    # -- software interface (MMIO) -------------------------------------------------------
    def mmio_read(self, offset: int, size: int) -> int:
        if offset == IOREGSEL:
            return self.ioregsel & ((1 << (8 * size)) - 1)
        if offset == IOWIN:
            if size != 4:
                self.ctx.diag(self.name, R_IOWIN_SIZE,
                              f"{size}-byte read of IOWIN returns 0")
                return 0
            return self.read_register(self.ioregsel)
        return 0

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        if offset == IOREGSEL:
            self.ioregsel = value & 0xFF
        elif offset == IOWIN:
            if size != 4:
                self.ctx.diag(self.name, R_IOWIN_SIZE,
                              f"{size}-byte write of IOWIN ignored")
                return
            self.write_register(self.ioregsel, value & 0xFFFFFFFF)
        elif offset == IOEOI:
            if self.version < IOAPIC_VERSION_EOI:
                self.ctx.diag(self.name, R_NO_EOI_REGISTER,
                              f"EOI register write ignored: version {self.version:#x} has none")
                return
            self.eoi(value & 0xFF)
        else:
            self.ctx.diag(self.name, R_BAD_OFFSET,
                          f"write of {value:#x} to offset {offset:#x} (not IOREGSEL, IOWIN or "
                          "EOI) ignored")

    def read_register(self, index: int) -> int:
        """The internal register ``index`` as IOWIN shows it."""
        if index == REG_ID:
            return self.id
        if index == REG_VERSION:
            return IOAPICVER.encode(version=self.version, max_redirection_entry=self.pins - 1)
        if index == REG_ARBITRATION:
            return self.id
        n = index - REG_REDTBL
        if 0 <= n < 2 * self.pins:
            rte = self.rte[n >> 1]
            return rte >> 32 if n & 1 else rte & 0xFFFFFFFF
        self.ctx.diag(self.name, R_BAD_INDEX,
                      f"read of undefined register index {index:#04x} returns 0")
        return 0

    def write_register(self, index: int, value: int) -> None:
        """Write internal register ``index`` through IOWIN (access rules applied)."""
        ctx = self.ctx
        if index == REG_ID:
            if value & IOAPICID.reserved_mask:
                ctx.diag(self.name, R_ID_RESERVED,
                         f"ID write {value:#010x}: only bits 27:24 are writable")
            self.id = value & IOAPICID.field("id").mask
            return
        if index in (REG_VERSION, REG_ARBITRATION):
            ctx.diag(self.name, R_READ_ONLY, f"{('IOAPICVER', 'IOAPICARB')[index - 1]} is "
                     f"read-only: write of {value:#x} ignored")
            return
        n = index - REG_REDTBL
        if not 0 <= n < 2 * self.pins:
            ctx.diag(self.name, R_BAD_INDEX,
                     f"write of {value:#x} to undefined register index {index:#04x} ignored")
            return
        pin = n >> 1
        if n & 1:
            reserved = (RTE_RESERVED >> 32) & value
            if reserved:
                ctx.diag(self.name, R_RTE_RESERVED_HIGH,
                         f"RTE {pin} high dword {value:#010x}: reserved bits {reserved:#x} "
                         "ignored")
            hi_w = RTE_WMASK >> 32
            self.rte[pin] = (self.rte[pin] & ~(hi_w << 32)) | ((value & hi_w) << 32)
            return
        self._write_low(pin, value)

    def _write_low(self, pin: int, value: int) -> None:
        ctx = self.ctx
        reserved = RTE_RESERVED & 0xFFFFFFFF & value
        if reserved:
            ctx.diag(self.name, R_RTE_RESERVED_LOW,
                     f"RTE {pin} low dword {value:#010x}: reserved bits {reserved:#x} ignored")
        if (value >> RTE_MODE_SHIFT & 7) in RESERVED_DELIVERY_MODES:
            ctx.diag(self.name, R_RTE_DELIVERY_MODE,
                     f"RTE {pin}: delivery mode {value >> RTE_MODE_SHIFT & 7:03b} is reserved")
        held0 = self.held(pin)
        old = self.rte[pin]
        lo_w = RTE_WMASK & 0xFFFFFFFF
        new = (old & ~lo_w) | (value & lo_w)
        if not new & LEVEL:
            new &= ~REMOTE_IRR       # writing edge clears Remote IRR (QEMU, KVM)
        before = self.line[pin] ^ (old >> RTE_POLARITY_SHIFT & 1)
        after = self.line[pin] ^ (new >> RTE_POLARITY_SHIFT & 1)
        self.rte[pin] = new
        bit = 1 << pin
        if new & LEVEL:
            self.irr = self.irr | bit if after else self.irr & ~bit
        elif old & LEVEL:
            self.irr &= ~bit
        elif after and not before:
            self.irr |= bit
        if ctx.tracer.on:
            ctx.tracer.emit(ctx.engine.now, "OS", self.name, "ioapic-rte", pin=pin,
                            vector=new & 0xFF, masked=bool(new & MASKED),
                            trigger=TRIGGER_LABELS[bool(new & LEVEL)])
        self._settle(pin, held0, False, None, Reason.INTX_DISCARDED_RTE)

    def rte_fields(self, pin: int) -> dict[str, int]:
        """Field view of RTE ``pin`` (for tests and views)."""
        return IOREDTBL.decode(self.rte[pin])
