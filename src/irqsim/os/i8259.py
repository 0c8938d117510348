"""The legacy PIC in the OS (Linux arch/x86/kernel/i8259.c, the legacy parts of
apic/io_apic.c and apic/apic.c; docs/legacy-pc.md).

Boot, when the MADT says the board is PC-AT compatible (``Madt.pcat_compat``, ACPI 6.5
5.2.12 flag PCAT_COMPAT): ``init_8259A`` (every line masked, ICW1-ICW4 with the vectors
0x30-0x3F, ISA_IRQ_VECTOR), one descriptor per legacy IRQ on the 8259 (chip ``XT-PIC``,
Linux's i8259A_chip with handle_level_irq, vector 0x30 + IRQ on every CPU). Then, unless
``noapic``: the IO-APIC takes legacy IRQs 0-15 over (each moved to its GSI, the MADT's
source overrides applied: IRQ 0 -> GSI 2; its 8259 line stays masked), as Linux's
setup_IO_APIC does. With ``noapic`` every legacy IRQ stays on the 8259, the BSP's LINT0 is
ExtINT (virtual wire, setup_local_APIC) and PCI INTx lines use the _PRT's PIC-mode routes
(ISA IRQs made level in the ELCR, as acpi_register_gsi_pic does). ``timer_8259`` keeps IRQ 0
on the 8259 in APIC mode through one of the virtual wires check_timer() falls back to:
"lint0" (LINT0 ExtINT) or "ioapic-pin0" (the I/O APIC's pin 0 in ExtINT mode).

The XT-PIC flow (handle_level_irq with mask_and_ack_8259A): the line is masked in the IMR
and EOId (specific EOI; for a slave line also the master's IR2) before the handlers run and
unmasked after; no Local APIC EOI. A line that arrives while masked in the cached mask is
checked in the ISR (i8259A_irq_real): not in service means a spurious IRQ 7/15, counted in
the ERR row (irq_err_count) and left masked when it has no handler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from irqsim.cpu.cpu import Gate
from irqsim.os.irq import IRQ_NONE, IRQF_SHARED, IrqAction, IrqDesc
from irqsim.os.irqdomain import AllocInfo
from irqsim.spec.i8259 import (
    CASCADE_IR,
    ELCR1,
    ELCR2,
    ELCR_RESERVED,
    PIC_MASTER_CMD,
    PIC_MASTER_DATA,
    PIC_SLAVE_CMD,
    PIC_SLAVE_DATA,
)

if TYPE_CHECKING:
    from irqsim.cpu.cpu import Cpu
    from irqsim.os.kernel import Kernel

ISA_IRQ_VECTOR_BASE = 0x30          # ISA_IRQ_VECTOR(0): (FIRST_EXTERNAL_VECTOR + 16) & ~15
LEGACY_IRQS = 16
XT_PIC = "XT-PIC"
TIMER_8259_OPTIONS = ("", "lint0", "ioapic-pin0")
# ICW words Linux's init_8259A writes (8086 mode, cascade on IR2, normal EOI).
ICW1_INIT = 0x11                    # ICW1: edge, cascade, ICW4 needed
ICW4_8086 = 0x01
OCW3_READ_ISR = 0x0B
OCW3_READ_IRR = 0x0A
EOI_SPECIFIC = 0x60


def isa_vector(irq: int) -> int:
    """ISA_IRQ_VECTOR(irq)."""
    return ISA_IRQ_VECTOR_BASE + irq


class Legacy8259:
    """Linux's legacy_pic for the 8259A pair: the cached mask and the chip operations, each
    a real port access made by the calling CPU."""

    def __init__(self, k: Kernel) -> None:
        self.k = k
        self.cached_mask = 0xFFFF
        self.spurious_irqs = 0          # irq_err_count's 8259 share
        self.spurious_seen = 0          # printk-once mask (spurious_irq_mask)

    def outb(self, value: int, port: int) -> None:
        self.k.current_cpu.outl(port, value & 0xFF, 1)

    def inb(self, port: int) -> int:
        return self.k.current_cpu.inl(port, 1)

    def init(self, auto_eoi: bool = False) -> None:
        """init_8259A: mask both, ICW1-ICW4 to each chip, restore the cached masks."""
        k = self.k
        k.trace_sw("OS", "8259", "init_8259A: ICW1-ICW4 (vectors 0x30/0x38, cascade IR2)")
        self.outb(0xFF, PIC_MASTER_DATA)
        self.outb(0xFF, PIC_SLAVE_DATA)
        icw4 = ICW4_8086 | (0x02 if auto_eoi else 0)
        self.outb(ICW1_INIT, PIC_MASTER_CMD)
        self.outb(isa_vector(0), PIC_MASTER_DATA)
        self.outb(1 << CASCADE_IR, PIC_MASTER_DATA)
        self.outb(icw4, PIC_MASTER_DATA)
        self.outb(ICW1_INIT, PIC_SLAVE_CMD)
        self.outb(isa_vector(8), PIC_SLAVE_DATA)
        self.outb(CASCADE_IR, PIC_SLAVE_DATA)
        self.outb(icw4, PIC_SLAVE_DATA)
        self.outb(self.cached_mask & 0xFF, PIC_MASTER_DATA)
        self.outb(self.cached_mask >> 8, PIC_SLAVE_DATA)

    def _write_mask(self, irq: int) -> None:
        if irq & 8:
            self.outb(self.cached_mask >> 8, PIC_SLAVE_DATA)
        else:
            self.outb(self.cached_mask & 0xFF, PIC_MASTER_DATA)

    def mask(self, irq: int) -> None:
        """disable_8259A_irq."""
        self.cached_mask |= 1 << irq
        self._write_mask(irq)

    def unmask(self, irq: int) -> None:
        """enable_8259A_irq."""
        self.cached_mask &= ~(1 << irq)
        self._write_mask(irq)

    def irq_real(self, irq: int) -> bool:
        """i8259A_irq_real: is ``irq`` in service (OCW3 read ISR, then back to IRR)?"""
        cmd = PIC_SLAVE_CMD if irq & 8 else PIC_MASTER_CMD
        self.outb(OCW3_READ_ISR, cmd)
        real = bool(self.inb(cmd) >> (irq & 7) & 1)
        self.outb(OCW3_READ_IRR, cmd)
        return real

    def mask_and_ack(self, irq: int, cpu: Cpu) -> bool:
        """mask_and_ack_8259A; returns False when the interrupt was spurious."""
        bit = 1 << irq
        real = True
        if self.cached_mask & bit:
            real = self.irq_real(irq)
            if not real:
                self.spurious_seen |= bit
                self.spurious_irqs += 1
                self.k.count_system("ERR", cpu.index, "")
        self.cached_mask |= bit
        if irq & 8:
            self.inb(PIC_SLAVE_DATA)                        # the dummy read Linux keeps
            self.outb(self.cached_mask >> 8, PIC_SLAVE_DATA)
            self.outb(EOI_SPECIFIC + (irq & 7), PIC_SLAVE_CMD)
            self.outb(EOI_SPECIFIC + CASCADE_IR, PIC_MASTER_CMD)
        else:
            self.inb(PIC_MASTER_DATA)
            self.outb(self.cached_mask & 0xFF, PIC_MASTER_DATA)
            self.outb(EOI_SPECIFIC + irq, PIC_MASTER_CMD)
        return real

    def set_level(self, irq: int) -> None:
        """elcr_set_level_irq: make ISA IRQ ``irq`` level-sensitive in the ELCR."""
        if (1 << irq) & ELCR_RESERVED:
            return
        port = ELCR2 if irq & 8 else ELCR1
        v = self.inb(port)
        self.outb(v | 1 << (irq & 7), port)


class XtPicGate(Gate):
    """The IDT entry of the ISA vectors 0x30-0x3F (common_interrupt -> handle_level_irq of
    an XT-PIC descriptor): mask and ack at the 8259, run the handlers, unmask; no Local
    APIC EOI (an ExtINT interrupt is not in the LAPIC's ISR). A vector whose IRQ moved to
    the IO-APIC goes to the ordinary device gate."""

    __slots__ = ("k", "pic")

    def __init__(self, k: Kernel, pic: Legacy8259) -> None:
        self.k = k
        self.pic = pic

    def _desc(self, cpu: Cpu, vector: int) -> IrqDesc | None:
        return self.k.irq.vector_irq[cpu.index].get(vector)

    def enter(self, cpu: Cpu, vector: int, spurious: bool) -> int:
        k = self.k
        desc = self._desc(cpu, vector)
        if spurious or desc is None or desc.chip != XT_PIC:
            return k.irq.gate.enter(cpu, vector, spurious)
        self.pic.mask_and_ack(desc.irq, cpu)
        if not desc.actions or desc.disabled:
            desc.masked = True          # IRQS_PENDING: stays masked
            return k.timing.handler_base
        cost = k.irq.gate.enter(cpu, vector, False)
        if not desc.disabled:           # cond_unmask_irq
            cpu.spend(cost)
            cost = 0
            self.pic.unmask(desc.irq)
            desc.masked = False
        return cost

    def exit(self, cpu: Cpu, vector: int, spurious: bool) -> int:
        desc = self._desc(cpu, vector)
        if spurious or desc is None or desc.chip != XT_PIC:
            return self.k.irq.gate.exit(cpu, vector, spurious)
        return 0


def legacy_init(k: Kernel) -> None:
    """init_ISA_irqs + setup_IO_APIC's legacy part, on the BSP (module docstring)."""
    pic = k.pic8259
    assert pic is not None
    pic.init()
    core = k.irq
    madt = k.acpi.madt
    ioapic = not k.noapic and bool(madt.ioapics)
    matrix = core.matrix
    for irq in range(LEGACY_IRQS):
        matrix.assign_system(isa_vector(irq))               # lapic_assign_legacy_vector
    gate = XtPicGate(k, pic)
    for irq in range(LEGACY_IRQS):
        k.idt[isa_vector(irq)] = gate
    for irq in range(LEGACY_IRQS):
        if irq == CASCADE_IR:
            continue
        gsi = irq
        o = next((o for o in madt.overrides if o.source == irq and o.bus == 0), None)
        if o is not None:
            gsi = o.gsi
        keep = not ioapic or (irq == 0 and k.timer_8259)
        dom = None if keep else core.ioapic_for_gsi(gsi)
        if dom is None:
            _xt_pic_desc(k, irq)
            continue
        level, low = (False, False) if o is None else _isa_flags(o.flags)
        mask = core.vector_domain.reachable(None, "I/O APIC")
        desc = core.alloc_desc(irq, dom.name, gsi - dom.info.gsi_base, "ISA",
                               trigger="fasteoi" if level else "edge", affinity=mask)
        core.domain_alloc(dom, [desc], gsi - dom.info.gsi_base,
                          AllocInfo([mask], who="I/O APIC", level=level, active_low=low))
    if not ioapic:
        # The cascade: irq2 with no_action (Linux requests it when no I/O APIC is used).
        desc = _xt_pic_desc(k, CASCADE_IR)
        desc.actions.append(IrqAction(lambda _irq, _dev: IRQ_NONE, IRQF_SHARED, "cascade", None))
        pic.unmask(CASCADE_IR)
        desc.masked = False
    elif k.timer_8259:
        pic.unmask(CASCADE_IR)          # the master passes IRQ 0 only; the slave stays masked
        if k.timer_8259 == "ioapic-pin0":
            _extint_pin0(k)


def _isa_flags(flags: int) -> tuple[bool, bool]:
    """(level, active_low) of an ISA override: "conforms" is ISA's edge / active high."""
    trig, pol = flags & 0xC, flags & 0x3
    return trig == 0xC, pol == 0x3


def _xt_pic_desc(k: Kernel, irq: int) -> IrqDesc:
    """A legacy IRQ on the 8259: chip XT-PIC, vector ISA_IRQ_VECTOR(irq) on every CPU."""
    core = k.irq
    desc = core.alloc_desc(irq, XT_PIC, irq, "ISA", trigger="")
    desc.vector = isa_vector(irq)
    desc.cpu = 0
    desc.activated = True
    pic = k.pic8259
    assert pic is not None

    def chip_mask(masked: bool, irq: int = irq) -> None:
        if masked:
            pic.mask(irq)
        else:
            pic.unmask(irq)
    desc.chip_mask = chip_mask
    for table in core.vector_irq:
        table[desc.vector] = desc
    return desc


def _extint_pin0(k: Kernel) -> None:
    """check_timer's fallback: I/O APIC pin 0 as ExtINT, edge, to the BSP, unmasked; the
    8259's IRQ 0 unmasked (the virtual wire through the I/O APIC, MP spec 3.6.2.2)."""
    from irqsim.os.intx import ioapic_write
    dom = k.irq.ioapic_for_gsi(0)
    if dom is None:
        return
    k.trace_sw("OS", "IOAPIC0", "Program RTE 0: ExtINT, edge, APIC ID of the BSP (virtual "
                                "wire through the I/O APIC)")
    ioapic_write(k, dom.info.base, 0x11, (k.apic_ids[0] & 0xFF) << 24)
    ioapic_write(k, dom.info.base, 0x10, 7 << 8)
