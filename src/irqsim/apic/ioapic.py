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
from typing import TYPE_CHECKING

from irqsim.apic.msi_format import DELIVERY_MODE_NAMES
from irqsim.fabric.tlp import Tlp, TlpType
from irqsim.regs import RO, RSVD, RW, F, Register
from irqsim.sim.context import SimContext

if TYPE_CHECKING:
    from irqsim.apic.interconnect import ApicBus

IOAPIC_DEFAULT_BASE = 0xFEC00000
IOAPIC_MMIO_SIZE = 0x1000
IOREGSEL = 0x00
IOWIN = 0x10
IOEOI = 0x40
# The I/O APIC's source-id for interrupt remapping: QEMU q35's pseudo device ff:00.0.
IOAPIC_SOURCE_ID = 0xFF00

IOAPICID = Register("IOAPICID", 0x00, 4, (
    F("reserved_lo", (23, 0), RSVD),
    F("id", (27, 24), RW, "I/O APIC ID"),
    F("reserved_hi", (31, 28), RSVD),
))
IOAPICVER = Register("IOAPICVER", 0x01, 4, (
    F("version", (7, 0), RO, "0x11 (82093AA) or 0x20 (with the EOI register)"),
    F("max_redirection_entry", (23, 16), RO, "number of pins - 1"),
))
IOAPICARB = Register("IOAPICARB", 0x02, 4, (F("arbitration_id", (27, 24), RO),))
IOREDTBL = Register("IOREDTBL", 0x10, 8, (
    F("vector", (7, 0), RW),
    F("delivery_mode", (10, 8), RW, "000 fixed, 001 lowest priority, 010 SMI, 100 NMI, "
                                    "101 INIT, 111 ExtINT; 011 and 110 reserved"),
    F("destination_mode", 11, RW, "0 physical, 1 logical"),
    F("delivery_status", 12, RO, "1 while the message is being sent"),
    F("polarity", 13, RW, "0 active high, 1 active low"),
    F("remote_irr", 14, RO, "level: set on delivery, cleared by EOI"),
    F("trigger_mode", 15, RW, "0 edge, 1 level"),
    F("mask", 16, RW),
    F("reserved", (47, 17), RSVD),
    F("extended_destination", (55, 48), RW, "passed to address bits 11:4 (VT-d remappable "
                                            "format bits, semantics.md B.4)"),
    F("destination", (63, 56), RW, "APIC ID (physical) or logical MDA"),
), reset=0x10000)
REGISTERS = (IOAPICID, IOAPICVER, IOAPICARB, IOREDTBL)

RTE_RESET = IOREDTBL.reset
RTE_WMASK = IOREDTBL.wmask
RTE_RESERVED = IOREDTBL.reserved_mask
DELIVERY_STATUS = 1 << 12
POLARITY = 1 << 13
REMOTE_IRR = 1 << 14
LEVEL = 1 << 15
MASKED = 1 << 16

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
        self.messages = 0
        self.eois = 0
        # Instrumentation: the assertion (its stamps) that made each pin's current request.
        self._meta: list[Tlp | None] = [None] * pins
        self._t_in = [0] * pins
        bus.eoi_listeners.append(self.eoi_broadcast)

    # -- state -----------------------------------------------------------------
    def asserted(self, pin: int) -> bool:
        """The pin's input is asserted (level XOR polarity)."""
        return bool(self.line[pin] ^ (self.rte[pin] >> 13 & 1))

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
                ctx.ledger.in_flight -= 1
                ctx.ledger.drop("no such I/O APIC pin")
            ctx.diag(self.name, "82093AA 2.2 input pins",
                     f"input {pin} does not exist (pins 0-{self.pins - 1})")
            return
        held0 = self.held(pin)
        pol = self.rte[pin] >> 13 & 1
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
        reason = ("INTx Assert seen as deassertion (RTE polarity)" if unit
                  else "INTx deasserted while pending")
        self._settle(pin, held0, unit, meta, reason)

    def _settle(self, pin: int, held0: bool, unit: bool, meta: Tlp | None, reason: str) -> None:
        """Give the pin the request its state calls for, balancing the ledger.

        Interrupts in hand: the incoming one (``unit``) and the one held before
        (``held0``). The pin needs one if it must now be serviced or held.
        """
        led = self.ctx.ledger
        bit = 1 << pin
        rte = self.rte[pin]
        if held0:
            led.in_flight += 1                       # leaves "pending": in hand
        hand = int(unit) + int(held0)
        if self.sched & bit:
            need = 0
        elif rte & LEVEL:
            need = 1 if self.irr & bit and not rte & REMOTE_IRR else 0
        else:
            need = 1 if self.irr & bit else 0
        if need and not held0:
            if unit:
                self._meta[pin] = meta
                self._t_in[pin] = self.ctx.engine.now
            else:
                self._meta[pin] = None               # raised here: no device stamps
                self._t_in[pin] = 0
        if hand < need:
            led.raised += 1
            led.in_flight += 1
        elif hand > need:
            extra = hand - need
            led.in_flight -= extra
            if self.asserted(pin):
                led.merged += extra                  # line already asserted / Remote IRR
            else:
                led.dropped[reason] += extra
        if not need:
            return
        if rte & (LEVEL | MASKED) == LEVEL | MASKED:
            led.in_flight -= 1                       # held: pending in the registers
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
        if rte & LEVEL:
            if not self.irr & bit:
                self.rte[pin] = rte & ~DELIVERY_STATUS
                led.in_flight -= 1
                led.drop("INTx deasserted before I/O APIC service")
                return
            if rte & REMOTE_IRR:
                self.rte[pin] = rte & ~DELIVERY_STATUS
                led.in_flight -= 1
                led.merged += 1
                return
            if rte & MASKED:
                self.rte[pin] = rte & ~DELIVERY_STATUS
                led.in_flight -= 1                   # held until unmasked
                if tracer.on:
                    tracer.emit(ctx.engine.now, self.name, self.name, "ioapic-masked", pin=pin,
                                trigger="level", outcome="held")
                return
            rte |= REMOTE_IRR
            self.rte[pin] = rte
        else:
            self.irr &= ~bit
            if rte & MASKED:
                self.rte[pin] = rte & ~DELIVERY_STATUS
                led.in_flight -= 1
                led.drop("masked edge lost")
                if tracer.on:
                    tracer.emit(ctx.engine.now, self.name, self.name, "ioapic-masked", pin=pin,
                                trigger="edge", outcome="lost")
                return
        self._send(pin, rte)

    def message(self, pin: int) -> tuple[int, int]:
        """The MSI-format (address, data) entry ``pin`` sends (semantics.md B.4)."""
        rte = self.rte[pin]
        addr = (0xFEE00000 | (rte >> 56 & 0xFF) << 12 | (rte >> 48 & 0xFF) << 4
                | (rte >> 11 & 1) << 2)
        level = rte >> 15 & 1
        data = (rte & 0xFF) | (rte >> 8 & 7) << 8 | level << 15 | level << 14
        return addr, data

    def _send(self, pin: int, rte: int) -> None:
        ctx = self.ctx
        now = ctx.engine.now
        addr, data = self.message(pin)
        tlp = Tlp(TlpType.MWR, IOAPIC_SOURCE_ID, addr, data, 4)
        meta = self._meta[pin]
        if meta is not None:
            tlp.t_event = meta.t_event
            tlp.t_sample = meta.t_sample
            tlp.t_send = meta.t_send
            tlp.t_rc = meta.t_rc
            tlp.source = meta.source
        else:
            tlp.t_event = tlp.t_sample = tlp.t_send = now
            tlp.source = f"{self.name}/pin{pin}"
        tlp.t_ioapic = self._t_in[pin]
        tlp.t_ioapic_out = now
        tlp.claim = True
        self._meta[pin] = None
        self.messages += 1
        if ctx.tracer.on:
            ctx.tracer.emit(now, self.name, "APIC bus", "ioapic-send", pin=pin,
                            vector=rte & 0xFF, dest=rte >> 56 & 0xFF,
                            logical=bool(rte >> 11 & 1),
                            mode=DELIVERY_MODE_NAMES.get(rte >> 8 & 7, "reserved"),
                            trigger="level" if rte & LEVEL else "edge", source=tlp.source)
        msg = self.remap(tlp) if self.remap is not None else tlp
        if msg is None:
            self.rte[pin] &= ~DELIVERY_STATUS
            return
        t = ctx.timing
        ctx.engine.after(t.ioapic_to_lapic + t.iommu_passthrough, self._arrive, (pin, msg))

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
                self._settle(pin, False, False, None, "")

    # -- software interface (MMIO) -------------------------------------------------------
    def mmio_read(self, offset: int, size: int) -> int:
        if offset == IOREGSEL:
            return self.ioregsel & ((1 << (8 * size)) - 1)
        if offset == IOWIN:
            if size != 4:
                self.ctx.diag(self.name, "82093AA 3.0 IOWIN is a 32-bit register",
                              f"{size}-byte read of IOWIN returns 0")
                return 0
            return self.read_register(self.ioregsel)
        return 0

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        if offset == IOREGSEL:
            self.ioregsel = value & 0xFF
        elif offset == IOWIN:
            if size != 4:
                self.ctx.diag(self.name, "82093AA 3.0 IOWIN is a 32-bit register",
                              f"{size}-byte write of IOWIN ignored")
                return
            self.write_register(self.ioregsel, value & 0xFFFFFFFF)
        elif offset == IOEOI:
            if self.version < 0x20:
                self.ctx.diag(self.name, "I/O APIC EOI register (version 0x20)",
                              f"EOI register write ignored: version {self.version:#x} has none")
                return
            self.eoi(value & 0xFF)
        else:
            self.ctx.diag(self.name, "82093AA 3.0 I/O APIC memory map",
                          f"write of {value:#x} to offset {offset:#x} (not IOREGSEL, IOWIN or "
                          "EOI) ignored")

    def read_register(self, index: int) -> int:
        """The internal register ``index`` as IOWIN shows it."""
        if index == 0x00:
            return self.id
        if index == 0x01:
            return self.version | (self.pins - 1) << 16
        if index == 0x02:
            return self.id
        n = index - 0x10
        if 0 <= n < 2 * self.pins:
            rte = self.rte[n >> 1]
            return rte >> 32 if n & 1 else rte & 0xFFFFFFFF
        self.ctx.diag(self.name, "82093AA 3.0 register index",
                      f"read of undefined register index {index:#04x} returns 0")
        return 0

    def write_register(self, index: int, value: int) -> None:
        """Write internal register ``index`` through IOWIN (access rules applied)."""
        ctx = self.ctx
        if index == 0x00:
            if value & IOAPICID.reserved_mask:
                ctx.diag(self.name, "82093AA 3.2.1 IOAPICID reserved bits",
                         f"ID write {value:#010x}: only bits 27:24 are writable")
            self.id = value & IOAPICID.field("id").mask
            return
        if index in (0x01, 0x02):
            ctx.diag(self.name, f"82093AA 3.2 {('IOAPICVER', 'IOAPICARB')[index - 1]} is "
                     "read-only", f"write of {value:#x} ignored")
            return
        n = index - 0x10
        if not 0 <= n < 2 * self.pins:
            ctx.diag(self.name, "82093AA 3.0 register index",
                     f"write of {value:#x} to undefined register index {index:#04x} ignored")
            return
        pin = n >> 1
        if n & 1:
            reserved = (RTE_RESERVED >> 32) & value
            if reserved:
                ctx.diag(self.name, "82093AA 3.2.4 IOREDTBL reserved bits 47:32",
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
            ctx.diag(self.name, "82093AA 3.2.4 IOREDTBL reserved bits 31:17",
                     f"RTE {pin} low dword {value:#010x}: reserved bits {reserved:#x} ignored")
        if (value >> 8 & 7) in (3, 6):
            ctx.diag(self.name, "82093AA 3.2.4 IOREDTBL delivery mode",
                     f"RTE {pin}: delivery mode {value >> 8 & 7:03b} is reserved")
        held0 = self.held(pin)
        old = self.rte[pin]
        lo_w = RTE_WMASK & 0xFFFFFFFF
        new = (old & ~lo_w) | (value & lo_w)
        if not new & LEVEL:
            new &= ~REMOTE_IRR       # writing edge clears Remote IRR (QEMU, KVM)
        before = self.line[pin] ^ (old >> 13 & 1)
        after = self.line[pin] ^ (new >> 13 & 1)
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
                            trigger="level" if new & LEVEL else "edge")
        self._settle(pin, held0, False, None, "pending INTx discarded by an RTE write")

    def rte_fields(self, pin: int) -> dict[str, int]:
        """Field view of RTE ``pin`` (for tests and views)."""
        return IOREDTBL.decode(self.rte[pin])
