"""The PC/AT 8259A PIC pair and the board's ISA IRQ lines (Intel 8259A datasheet; QEMU
hw/intc/i8259.c for the behaviour the datasheet leaves to the reader; docs/legacy-pc.md).

Each chip has IRR, ISR and IMR (8 bits each), a vector base (ICW2), its cascade set-up
(ICW3), the modes of ICW4 (auto-EOI, special fully nested) and OCW3's read select, poll
and special mask mode. An input latches into IRR on its rising edge (edge mode) or while
it is high (level mode: ICW1.LTIM, or the chipset's ELCR bit). Priority resolution: the
highest-priority unmasked IRR bit whose priority beats the highest ISR bit raises INT
(IR0 highest, rotated by the rotate commands; special mask mode lets masked ISR bits not
block). The slave's INT drives the master's IR2. INTA: the master resolves its request; for
IR2 the slave resolves its own; the chip sets ISR (not in auto-EOI) and clears IRR (edge)
and answers ICW2 base + IR. A request that went away before the INTA gets IR7 of the chip
asked, without setting ISR (the master's ISR bit 2 is still set for a slave spurious IRQ
15): the spurious IRQ 7 / IRQ 15 of the datasheet.

The pair's INT output is a signal: the board wires it to every Local APIC's LINT0 (virtual
wire through LINT0 as ExtINT, MP spec 3.6.2.2) and to I/O APIC input 0 (virtual wire
through the I/O APIC, an RTE in ExtINT mode); the CPU's INTA then reaches the pair
(:meth:`PicPair.inta`). Accounting: every assertion reaching an IRQ input raises one
interrupt there (pending in IRR, merged if IRR was already set); INTA delivers it; a level
request that falls before its INTA is dropped; ICW1 drops the edge requests it clears; a
level line still high at EOI is a new interrupt raised here (as the I/O APIC does).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from irqsim.fabric.tlp import Tlp, TlpType
from irqsim.sim.accounting import Reason
from irqsim.sim.context import SimContext
from irqsim.sim.rules import rule
from irqsim.spec.i8259 import (
    CASCADE_IR,
    ELCR1,
    ELCR2,
    ELCR_RESERVED,
    ICW1_IC4,
    ICW1_LTIM,
    ICW1_MARK,
    ICW1_SNGL,
    ICW2_BASE,
    ICW4_AEOI,
    ICW4_SFNM,
    ICW4_UPM,
    OCW2_CMD_SHIFT,
    OCW2_LEVEL,
    OCW2_NAMES,
    OCW2_NONSPECIFIC_EOI,
    OCW2_ROTATE_AEOI_CLEAR,
    OCW2_ROTATE_AEOI_SET,
    OCW2_ROTATE_NONSPECIFIC_EOI,
    OCW2_ROTATE_SPECIFIC_EOI,
    OCW2_SET_PRIORITY,
    OCW2_SPECIFIC_EOI,
    OCW3_ESMM,
    OCW3_MARK,
    OCW3_POLL,
    OCW3_RIS,
    OCW3_RR,
    OCW3_SMM,
    OCW_SELECT,
    PIC_MASTER_CMD,
    PIC_MASTER_DATA,
    PIC_PORTS,
    PIC_SLAVE_CMD,
    SPURIOUS_IR,
)

if TYPE_CHECKING:
    from irqsim.apic.ioapic import IoApic

R_ICW4_MODE = rule(
    "PIC-ICW4-MODE", "8259A ICW1 IC4 / ICW4 uPM",
    "an x86 system needs 8086 mode: ICW1.IC4 = 1 and ICW4.uPM = 1 (MCS-80/85 mode is not "
    "modelled)")
R_ICW2_LOW_BITS = rule(
    "PIC-ICW2-LOW-BITS", "8259A ICW2",
    "in 8086 mode ICW2 bits 2:0 are 0: the chip puts the IR number there")
R_VECTOR_RESERVED = rule(
    "PIC-VECTOR-RESERVED", "SDM 6.2 / 8259A ICW2",
    "an ICW2 vector base below 0x20 makes the chip's vectors those of CPU exceptions")
R_NOT_INITIALISED = rule(
    "PIC-NOT-INITIALISED", "8259A Initialization Command Words",
    "an interrupt acknowledge or command reached a chip whose ICW1-ICW4 sequence has not "
    "completed")
R_ICW_SEQUENCE = rule(
    "PIC-ICW-SEQUENCE", "8259A Initialization Command Words",
    "ICW2-ICW4 follow ICW1 on the data port; an OCW2/OCW3 before the sequence ends is out of "
    "order")
R_CASCADE = rule(
    "PIC-CASCADE", "8259A ICW3 / Cascade Mode",
    "the master's ICW3 must mark IR2 as a slave input and the slave's ICW3 ID must be 2 (its "
    "INT drives the master's IR2)")
R_EOI_NOT_IN_SERVICE = rule(
    "PIC-EOI-NOT-IN-SERVICE", "8259A OCW2 EOI",
    "a non-specific EOI with no ISR bit set has nothing to end")
R_ELCR_RESERVED = rule(
    "PIC-ELCR-RESERVED", "PIIX3 / ICH datasheet ELCR",
    "IRQ 0, 1, 2, 8 and 13 are edge only: their ELCR bits are reserved")
R_ACCESS_SIZE = rule(
    "PIC-ACCESS-SIZE", "8259A / PC-AT I/O map",
    "the 8259 and ELCR ports are 8-bit: a wider access is split into byte accesses")


# Not architectural: the label the stamps of an 8259 interrupt carry (an INTA answer has no
# requester). Bus 0xFF as the I/O APICs' (ff:00.x): the OS attributes both alike, latency
# measured at the handler that claims the line (os/irq.py).
PIC_SOURCE_ID = 0xFF80


def _priority(mask: int, add: int) -> int:
    """Priority of the best bit of ``mask`` (0 highest; 8: none), with the lowest priority
    rotated by ``add`` (QEMU get_priority)."""
    if not mask:
        return 8
    p = 0
    while not mask & (1 << ((p + add) & 7)):
        p += 1
    return p


class I8259:
    """One 8259A (``master``: the chip at 0x20; else the slave at 0xA0)."""

    __slots__ = ("aeoi", "base", "ic4", "icw3", "imr", "init_state", "initialised", "irr",
                 "isr", "last_irr", "level_mask", "ltim", "master", "name", "poll",
                 "priority_add", "read_isr", "rotate_aeoi", "sfnm", "single",
                 "special_mask")

    def __init__(self, name: str, master: bool) -> None:
        self.name = name
        self.master = master
        self.irr = self.isr = 0
        self.imr = 0xFF                 # the firmware leaves every line masked
        self.last_irr = 0               # input levels (the edge-sense latch)
        self.level_mask = 0             # ELCR bits of this chip's inputs
        self.base = 0
        self.init_state = 0             # 0: operational; 1-3: expecting ICW2-ICW4
        self.ic4 = self.single = self.ltim = False
        self.icw3 = 0
        self.aeoi = self.rotate_aeoi = self.sfnm = False
        self.priority_add = 0
        self.read_isr = self.poll = self.special_mask = False
        self.initialised = False

    def is_level(self, ir: int) -> bool:
        return self.ltim or bool(self.level_mask >> ir & 1)

    def set_input(self, ir: int, level: int) -> None:
        """Drive input ``ir`` (QEMU pic_set_irq: edge latches on 0->1, level follows)."""
        m = 1 << ir
        if self.is_level(ir):
            if level:
                self.irr |= m
                self.last_irr |= m
            else:
                self.irr &= ~m
                self.last_irr &= ~m
        elif level:
            if not self.last_irr & m:
                self.irr |= m
            self.last_irr |= m
        else:
            self.last_irr &= ~m

    def get_irq(self) -> int:
        """The IR that should interrupt now (priority resolution), or -1."""
        p = _priority(self.irr & ~self.imr, self.priority_add)
        if p == 8:
            return -1
        mask = self.isr
        if self.special_mask:
            mask &= ~self.imr
        if self.sfnm and self.master:
            mask &= ~(1 << CASCADE_IR)
        return (p + self.priority_add) & 7 if p < _priority(mask, self.priority_add) else -1

    def intack(self, ir: int) -> None:
        """INTA for ``ir``: ISR set (rotate instead in auto-EOI), IRR cleared for edge."""
        if self.aeoi:
            if self.rotate_aeoi:
                self.priority_add = (ir + 1) & 7
        else:
            self.isr |= 1 << ir
        if not self.is_level(ir):
            self.irr &= ~(1 << ir)

    def init_reset(self) -> None:
        """ICW1: IMR cleared, IR7 lowest priority, special mask off, IRR read selected, the
        edge-sense latches reset (8259A ICW1; the ELCR is the chipset's and stays)."""
        self.last_irr = 0
        self.irr &= self.level_mask
        self.imr = self.isr = 0
        self.priority_add = 0
        self.read_isr = self.poll = self.special_mask = False
        self.aeoi = self.rotate_aeoi = self.sfnm = False
        self.base = 0


class PicPair:
    """The master/slave 8259A pair, the ELCR, and the pair's INT output."""

    def __init__(self, ctx: SimContext, name: str = "8259") -> None:
        self.ctx = ctx
        self.name = name
        self.master = I8259(f"{name}-master", True)
        self.slave = I8259(f"{name}-slave", False)
        self.elcr = 0
        self.int_level = 0
        # Who sees the INT output (LINT0 of each Local APIC, I/O APIC input 0).
        self.int_listeners: list[Callable[[int], None]] = []
        # Per IRQ 0-15: the sources asserting it (wire-OR), the pending interrupt's id and
        # stamps (not architectural); ``req``: IRR bits that carry a pending interrupt.
        self.sources: list[set[str]] = [set() for _ in range(16)]
        self._iid = [0] * 16
        self._meta: list[Tlp | None] = [None] * 16
        self.req = 0
        self.spurious = [0, 0]          # spurious INTAs answered by master / slave
        self.intas = 0

    # -- state -------------------------------------------------------------------------
    def _chip(self, irq: int) -> tuple[I8259, int]:
        return (self.master, irq) if irq < 8 else (self.slave, irq - 8)

    def irr(self) -> int:
        """IRQ-numbered IRR (16 bits; the master's IR2 is the cascade)."""
        return self.master.irr & ~(1 << CASCADE_IR) | self.slave.irr << 8

    def isr(self) -> int:
        return self.master.isr | self.slave.isr << 8

    def imr(self) -> int:
        return self.master.imr | self.slave.imr << 8

    def pending(self) -> int:
        """Interrupts pending in the IRRs (what Machine.pending counts as ``pic``)."""
        return self.req.bit_count()

    # -- inputs ------------------------------------------------------------------------
    def set_irq(self, irq: int, level: int, source: str = "", t_event: int | None = None) -> None:
        """Source ``source`` drives IRQ ``irq`` (0-15, not 2) to ``level``; the input is
        the OR of its sources. An assertion raises one interrupt here (``t_event``: the
        instant its latency counts from)."""
        if not 0 <= irq < 16 or irq == CASCADE_IR:
            raise ValueError(f"8259 IRQ must be 0-15 and not the cascade (2), got {irq}")
        ctx = self.ctx
        srcs = self.sources[irq]
        was = bool(srcs)
        if level:
            if source in srcs:
                return
            srcs.add(source)
        else:
            if source not in srcs:
                return
            srcs.discard(source)
        on = bool(srcs)
        chip, ir = self._chip(irq)
        bit = 1 << irq
        led = ctx.ledger
        now = ctx.engine.now
        if level:
            iid = led.raise_(source or self.name)
            led.launch(iid, self.name)
            before = chip.irr >> ir & 1
            if was == on:
                chip_irr_after = before         # the wire was already high
            else:
                chip.set_input(ir, 1)
                chip_irr_after = chip.irr >> ir & 1
            if chip_irr_after and not self.req & bit and not (before and chip.is_level(ir)):
                self.req |= bit
                self._iid[irq] = iid
                led.land(iid, self.name)
                self._stamp(irq, iid, source, now if t_event is None else t_event)
            else:
                led.merge(iid, self.name, flying=True)
            latched = bool(chip_irr_after)
        else:
            if was != on:
                chip.set_input(ir, 0)
            latched = bool(chip.irr >> ir & 1)
            if self.req & bit and not latched:
                self.req &= ~bit
                led.drop(Reason.PIC_DEASSERTED, self._iid[irq], self.name)
                self._meta[irq] = None
        if ctx.tracer.on:
            ctx.tracer.emit(now, source or "ISA", self.name, "pic-irq", irq=irq, level=level,
                            latched=latched)
        self._update()

    def _stamp(self, irq: int, iid: int, source: str, t_event: int) -> None:
        points = self.ctx.points
        now = self.ctx.engine.now
        meta = None
        if points.event.on:
            meta = Tlp(TlpType.MSG, PIC_SOURCE_ID, length=0)
            meta.iid = iid
            meta.source = f"{source or self.name}/irq{irq}"
            points.event(iid, t_event, source or self.name)
            if points.send.on:
                points.send(iid, now)
            if points.root_complex.on:
                points.root_complex(iid, now)
            if points.ioapic_out.on:        # a line's interrupt: measured at its claim
                points.ioapic_out(iid, now, "")
        self._meta[irq] = meta

    def _rerequest(self) -> None:
        """Level inputs still high whose interrupt was taken and ended (ISR clear) are a
        new request, raised here (no device event), once unmasked: Linux's XT-PIC flow
        masks and EOIs the line before its handler clears the device, which is no new
        interrupt."""
        led = self.ctx.ledger
        for chip, off in ((self.master, 0), (self.slave, 8)):
            stale = chip.irr & ~chip.isr & ~chip.imr & ~(self.req >> off) & 0xFF
            if off == 0:
                stale &= ~(1 << CASCADE_IR)
            while stale:
                ir = (stale & -stale).bit_length() - 1
                stale &= stale - 1
                if not chip.is_level(ir):
                    continue
                irq = off + ir
                iid = led.raise_(self.name)
                led.launch(iid, self.name)
                led.land(iid, self.name)
                self.req |= 1 << irq
                self._iid[irq] = iid
                self._meta[irq] = None

    def _update(self) -> None:
        """Re-run priority resolution: the slave's INT drives the master's IR2; the master's
        INT goes to the listeners when it changes."""
        self._rerequest()
        slave_int = 1 if self.slave.get_irq() >= 0 else 0
        self.master.set_input(CASCADE_IR, slave_int)
        level = 1 if self.master.get_irq() >= 0 else 0
        if level != self.int_level:
            self.int_level = level
            ctx = self.ctx
            if ctx.tracer.on:
                ctx.tracer.emit(ctx.engine.now, self.name, self.name, "pic-int", level=level)
            for fn in self.int_listeners:
                fn(level)

    # -- INTA --------------------------------------------------------------------------
    def inta(self) -> tuple[int, Tlp | None, int]:
        """The CPU's INTA cycles: (vector, stamps, interrupt id) of the request answered;
        id 0 for a spurious IRQ 7 / 15 (QEMU pic_read_irq)."""
        ctx = self.ctx
        m, s = self.master, self.slave
        self.intas += 1
        irq = m.get_irq()
        line = -1
        if irq >= 0:
            if irq == CASCADE_IR and not m.single:
                if not m.icw3 >> CASCADE_IR & 1 or s.icw3 != CASCADE_IR:
                    ctx.diag(self.name, R_CASCADE,
                             f"master ICW3 {m.icw3:#04x}, slave ID {s.icw3}: the slave is not "
                             "cascaded on IR2")
                ir2 = s.get_irq()
                if ir2 >= 0:
                    s.intack(ir2)
                    line = 8 + ir2
                    vector = s.base + ir2
                else:
                    self.spurious[1] += 1
                    vector = s.base + SPURIOUS_IR
                chip = s
            else:
                line = irq
                vector = m.base + irq
                chip = m
            m.intack(irq)
        else:
            self.spurious[0] += 1
            vector = m.base + SPURIOUS_IR
            chip = m
        if not chip.initialised:
            ctx.diag(self.name, R_NOT_INITIALISED,
                     f"INTA answered by {chip.name} before its ICW sequence: vector "
                     f"{vector:#x}")
        iid = 0
        meta = None
        if line >= 0:
            bit = 1 << line
            if self.req & bit:
                self.req &= ~bit
                iid = self._iid[line]
                meta = self._meta[line]
                self._meta[line] = None
        if ctx.tracer.on:
            ctx.tracer.emit(ctx.engine.now, "CPU", self.name, "pic-inta", vector=vector,
                            irq=line if line >= 0 else (15 if chip is s else 7),
                            spurious=line < 0)
        self._update()
        return vector & 0xFF, meta, iid

    # -- software interface (port I/O) ----------------------------------------------------
    def io_read(self, port: int, size: int) -> int:
        """IN from a PIC or ELCR port (bytes of wider accesses from consecutive ports)."""
        if size != 1:
            self.ctx.diag(self.name, R_ACCESS_SIZE,
                          f"{size}-byte read of port {port:#x}: read as bytes")
        v = 0
        for i in range(size):
            v |= self._read_byte(port + i) << (8 * i)
        return v

    def io_write(self, port: int, size: int, value: int) -> None:
        """OUT to a PIC or ELCR port (a wider access writes consecutive ports)."""
        if size != 1:
            self.ctx.diag(self.name, R_ACCESS_SIZE,
                          f"{size}-byte write of port {port:#x}: written as bytes")
        for i in range(size):
            if port + i in PIC_PORTS:
                self._write_byte(port + i, value >> (8 * i) & 0xFF)

    def _read_byte(self, port: int) -> int:
        if port == ELCR1:
            return self.elcr & 0xFF
        if port == ELCR2:
            return self.elcr >> 8
        if port not in PIC_PORTS:
            return 0xFF
        chip = self.master if port in (PIC_MASTER_CMD, PIC_MASTER_DATA) else self.slave
        if chip.poll:
            chip.poll = False
            ir = chip.get_irq()
            if ir < 0:
                return 0
            self._poll_ack(chip, ir)
            return 0x80 | ir
        if port in (PIC_MASTER_CMD, PIC_SLAVE_CMD):
            return chip.isr if chip.read_isr else chip.irr
        return chip.imr

    def _poll_ack(self, chip: I8259, ir: int) -> None:
        """A poll command answered with ``ir``: acknowledged as an INTA (datasheet "Poll
        Command"); its interrupt is delivered to the polling software."""
        chip.intack(ir)
        irq = ir + (0 if chip.master else 8)
        bit = 1 << irq
        if self.req & bit and irq != CASCADE_IR:
            self.req &= ~bit
            self.ctx.ledger.deliver(self._iid[irq], self.name)
            self._meta[irq] = None
        self._update()

    def _write_byte(self, port: int, val: int) -> None:
        ctx = self.ctx
        if port in (ELCR1, ELCR2):
            shift = 0 if port == ELCR1 else 8
            bits = val << shift
            if bits & ELCR_RESERVED:
                ctx.diag(self.name, R_ELCR_RESERVED,
                         f"ELCR{1 + shift // 8} write {val:#04x} sets reserved bits: ignored")
                bits &= ~ELCR_RESERVED
            self.elcr = (self.elcr & ~(0xFF << shift)) | bits
            self.master.level_mask = self.elcr & 0xFF
            self.slave.level_mask = self.elcr >> 8
            self._update()
            return
        chip = self.master if port in (PIC_MASTER_CMD, PIC_MASTER_DATA) else self.slave
        if port in (PIC_MASTER_CMD, PIC_SLAVE_CMD):
            self._command(chip, val)
        else:
            self._data(chip, val)

    def _command(self, chip: I8259, val: int) -> None:
        ctx = self.ctx
        if val & ICW1_MARK:
            if not val & ICW1_IC4:
                ctx.diag(self.name, R_ICW4_MODE,
                         f"{chip.name} ICW1 {val:#04x} without IC4: no ICW4, MCS-80/85 mode")
            off = 0 if chip.master else 8
            cleared = chip.irr & ~chip.level_mask
            chip.init_reset()
            chip.init_state = 1
            chip.initialised = False
            chip.ic4 = bool(val & ICW1_IC4)
            chip.single = bool(val & ICW1_SNGL)
            chip.ltim = bool(val & ICW1_LTIM)
            self._drop_cleared(cleared, off)
            self._update()
            return
        if chip.init_state:
            ctx.diag(self.name, R_ICW_SEQUENCE,
                     f"{chip.name}: command {val:#04x} while ICW{chip.init_state + 1} is "
                     "expected on the data port")
        if val & OCW_SELECT == OCW3_MARK:               # OCW3
            if val & OCW3_POLL:
                chip.poll = True
            if val & OCW3_RR:
                chip.read_isr = bool(val & OCW3_RIS)
            if val & OCW3_ESMM:
                chip.special_mask = bool(val & OCW3_SMM)
                self._update()
            return
        if val & OCW_SELECT:                            # bits 4:3 = 1x: not a command
            return
        cmd = val >> OCW2_CMD_SHIFT
        ir = val & OCW2_LEVEL
        irq = None
        if cmd in (OCW2_ROTATE_AEOI_CLEAR, OCW2_ROTATE_AEOI_SET):
            chip.rotate_aeoi = cmd == OCW2_ROTATE_AEOI_SET
        elif cmd in (OCW2_NONSPECIFIC_EOI, OCW2_ROTATE_NONSPECIFIC_EOI):
            p = _priority(chip.isr, chip.priority_add)
            if p == 8:
                ctx.diag(self.name, R_EOI_NOT_IN_SERVICE,
                         f"{chip.name}: {OCW2_NAMES[cmd]} with ISR empty")
            else:
                irq = (p + chip.priority_add) & 7
                chip.isr &= ~(1 << irq)
                if cmd == OCW2_ROTATE_NONSPECIFIC_EOI:
                    chip.priority_add = (irq + 1) & 7
        elif cmd == OCW2_SPECIFIC_EOI:
            irq = ir
            chip.isr &= ~(1 << ir)
        elif cmd == OCW2_SET_PRIORITY:
            chip.priority_add = (ir + 1) & 7
        elif cmd == OCW2_ROTATE_SPECIFIC_EOI:
            irq = ir
            chip.isr &= ~(1 << ir)
            chip.priority_add = (ir + 1) & 7
        if ctx.tracer.on:
            ctx.tracer.emit(ctx.engine.now, "CPU", chip.name, "pic-eoi",
                            command=OCW2_NAMES[cmd],
                            **({} if irq is None else {"irq": irq + (0 if chip.master else 8)}))
        self._update()

    def _data(self, chip: I8259, val: int) -> None:
        ctx = self.ctx
        st = chip.init_state
        if st == 0:
            chip.imr = val
            self._update()
        elif st == 1:
            if val & 7:
                ctx.diag(self.name, R_ICW2_LOW_BITS,
                         f"{chip.name} ICW2 {val:#04x}: bits 2:0 must be 0 in 8086 mode")
            chip.base = val & ICW2_BASE
            if chip.base < 0x20:
                ctx.diag(self.name, R_VECTOR_RESERVED,
                         f"{chip.name} ICW2 vector base {chip.base:#04x} overlaps the "
                         "exception vectors 0-31")
            chip.init_state = 0 if chip.single and not chip.ic4 else (3 if chip.single else 2)
            if chip.init_state == 0:
                chip.initialised = True
        elif st == 2:
            chip.icw3 = val if chip.master else val & 7
            chip.init_state = 3 if chip.ic4 else 0
            if chip.init_state == 0:
                chip.initialised = True
        else:
            if not val & ICW4_UPM:
                ctx.diag(self.name, R_ICW4_MODE,
                         f"{chip.name} ICW4 {val:#04x}: uPM = 0 selects MCS-80/85 mode")
            chip.sfnm = bool(val & ICW4_SFNM)
            chip.aeoi = bool(val & ICW4_AEOI)
            chip.init_state = 0
            chip.initialised = True
            self._update()

    def _drop_cleared(self, cleared: int, off: int) -> None:
        led = self.ctx.ledger
        while cleared:
            ir = (cleared & -cleared).bit_length() - 1
            cleared &= cleared - 1
            irq = off + ir
            bit = 1 << irq
            if irq != CASCADE_IR and self.req & bit:
                self.req &= ~bit
                led.drop(Reason.PIC_INIT_RESET, self._iid[irq], self.name)
                self._meta[irq] = None


class IsaIrqLines:
    """The board's ISA IRQ lines 0-15: each drives its 8259 input and the I/O APIC input
    the board wires it to (the MADT's interrupt source overrides describe the wiring,
    e.g. IRQ 0 -> GSI 2). ISA lines are active high; the chipset receives them as a
    serialized IRQ stream (``serirq_frame`` later)."""

    def __init__(self, ctx: SimContext, pic: PicPair | None,
                 ioapic_pins: dict[int, tuple[IoApic, int]]) -> None:
        self.ctx = ctx
        self.pic = pic
        self.ioapic_pins = dict(ioapic_pins)     # ISA IRQ -> (I/O APIC, pin)
        self.level = [0] * 16
        self._iid = [0] * 16

    def set_irq(self, irq: int, level: int, source: str) -> None:
        """``source`` drives ISA IRQ ``irq`` to ``level`` now; the controllers see it one
        serialized-IRQ frame later."""
        if not 0 <= irq < 16 or irq == CASCADE_IR:
            raise ValueError(f"ISA IRQ must be 0-15 and not 2 (the cascade), got {irq}")
        level &= 1
        if level == self.level[irq]:
            return
        self.level[irq] = level
        ctx = self.ctx
        now = ctx.engine.now
        meta: Tlp | None = None
        wired = self.ioapic_pins.get(irq)
        if wired is not None and level:
            led = ctx.ledger
            iid = led.raise_(source)
            led.launch(iid, source)
            meta = Tlp(TlpType.MSG, 0, length=0)
            meta.iid = iid
            meta.source = f"{source}/irq{irq}"
            if ctx.points.event.on:
                ctx.points.event(iid, now, source)
        ctx.engine.after(ctx.timing.serirq_frame, self._arrive,
                         (irq, level, source, now, meta))

    def _arrive(self, arg: tuple[int, int, str, int, Tlp | None]) -> None:
        irq, level, source, t_event, meta = arg
        if meta is not None:
            points = self.ctx.points
            now = self.ctx.engine.now
            if points.send.on:                  # the serialized IRQ frame delivered it
                points.send(meta.iid, now)
            if points.root_complex.on:
                points.root_complex(meta.iid, now)
        if self.pic is not None:
            self.pic.set_irq(irq, level, source, t_event)
        wired = self.ioapic_pins.get(irq)
        if wired is not None:
            io, pin = wired
            io.set_pin(pin, level, meta, unit=meta is not None)
