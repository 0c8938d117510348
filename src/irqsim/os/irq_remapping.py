"""Interrupt remapping, the Linux way (drivers/iommu/intel/irq_remapping.c, dmar.c).

At boot (``intel_irq_remap_init``) the kernel finds the remapping unit in the DMAR table,
reads CAP/ECAP, allocates the interrupt remapping table (65,536 entries, 1 MiB, size-aligned)
and an invalidation queue page, and enables remapping in Linux's order (reference
vtd-posted.md 2.2): queued invalidation on, IRTA (base, EIME, S), SIRTP, a global IEC
invalidation, IRE, then CFI only if asked. It prints the lines Linux prints (``DMAR-IR: ...``)
to ``Kernel.dmesg``, requests the fault interrupt (``dmar0``, whose handler logs and clears
the fault records) and installs ``IrRemapDomain`` as ``IrqCore.msi_parent``.

The domain allocates one IRTE per IRQ (a power-of-two aligned block for multi-message MSI,
sub-handle = message number), writes it (remapped format: vector, destination, fixed,
physical, edge; source-id = the function's BDF or the I/O APIC's DMAR scope, SVT = 01) and
composes remappable messages (handle, SHV = 1, sub-handle). Every IRTE change is a 16-byte
write followed by an index IEC invalidation and a wait descriptor through the queue
(modify_irte + qi_flush_iec). An affinity change rewrites the IRTE only: the device keeps its
message. ``irq_set_vcpu_affinity`` switches an IRTE to posted format and back
(intel_ir_set_vcpu_affinity). With x2APIC (EIME) the VECTOR domain's 8-bit limit goes.

Kernel option ``intremap`` (Linux's ``intremap=``): "off" (default here), "on", "nosid" (no
source-id validation), "nopost" (no posted interrupts); ``intremap_cfi``: allow
compatibility-format interrupts (CFI).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from irqsim.fabric.tlp import bdf_str
from irqsim.os.irq import IRQ_HANDLED, IrqReturn
from irqsim.os.irqdomain import AllocInfo, IrqChip, IrqData, IrqDomain
from irqsim.platform.acpi import DMAR_SCOPE_IOAPIC, DMAR_X2APIC_OPT_OUT
from irqsim.sim.rules import rule
from irqsim.spec.msi import MSI_ADDRESS_REMAPPABLE, msi_address, msi_data
from irqsim.spec.vtd import (
    CAP,
    CAP_PI,
    ECAP,
    ECAP_EIM,
    ECAP_IR,
    ECAP_QI,
    FAULT_TEXT,
    FEADDR,
    FECTL,
    FEDATA,
    FEUADDR,
    FRCD_SIZE,
    FSTS,
    FSTS_PFO,
    FSTS_PPF,
    GCMD,
    GCMD_CFI,
    GCMD_IRE,
    GCMD_PERSISTENT,
    GCMD_QIE,
    GCMD_SIRTP,
    GSTS,
    GSTS_CFIS,
    GSTS_IRES,
    GSTS_IRTPS,
    GSTS_QIES,
    IEC_DESC,
    INV_DESC_SIZE,
    INV_WAIT_DESC,
    IQ_INDEX_SHIFT,
    IQA,
    IQT,
    IRTA,
    IRTE_HIGH,
    IRTE_LOW,
    IRTE_POSTED_HIGH,
    IRTE_POSTED_LOW,
    IRTE_SIZE,
    SVT_NONE,
    SVT_SID,
    VER,
)

if TYPE_CHECKING:
    from irqsim.os.irq import IrqDesc
    from irqsim.os.kernel import Kernel

INTR_REMAP_TABLE_ENTRIES = 65536          # Linux: INTR_REMAP_TABLE_REG_SIZE 0xf (S = 15)
QI_LENGTH = 256                           # descriptors in one 4 KiB queue page (QS = 0)
QI_IN_USE, QI_DONE = 1, 2                 # wait-descriptor status values (Linux dmar.c)
GSTS_POLLS = 1000                         # GSTS reads before a command is given up
IRQ_REMAP_XAPIC_MODE, IRQ_REMAP_X2APIC_MODE = "xapic", "x2apic"

R_CMD_TIMEOUT = rule("VTD-OS-CMD-TIMEOUT", "VT-d 10.4.4 GSTS follows GCMD",
                     "the remapping unit's status did not follow a command")
R_NO_IR = rule("VTD-OS-NO-IR", "VT-d 10.4.3 ECAP.IR",
               "the DMAR unit cannot remap interrupts: remapping stays off")
R_QI_TIMEOUT = rule("VTD-OS-QI-TIMEOUT", "VT-d 6.5.2.8 invalidation wait descriptor",
                    "an invalidation wait descriptor's status write did not arrive")


# -- the DMAR table ----------------------------------------------------------------------
def dmar_units(k: Kernel) -> list[Any]:
    """The DRHDs of the DMAR table (empty without one)."""
    dmar = k.acpi.dmar
    return list(dmar.drhds) if dmar is not None else []


@dataclass(slots=True)
class IrteData:
    """Per IRQ (Linux struct intel_ir_data / irq_2_iommu): the IRTE index, the sub-handle,
    the entry as written, and the block size for a block's head (0 for its other members)."""

    index: int
    sub_handle: int
    sid: int
    svt: int
    block: int = 1
    lo: int = 0
    hi: int = 0
    posted: bool = False


class IntelIr:
    """One remapping unit as the kernel drives it (struct intel_iommu's IR part)."""

    def __init__(self, k: Kernel, drhd: Any, seq: int) -> None:
        self.k = k
        self.reg = drhd.address
        self.seq = seq
        self.name = f"dmar{seq}"
        self.drhd = drhd
        self.cap = 0
        self.ecap = 0
        self.gcmd = 0                            # shadow of the persistent GCMD bits
        self.table = 0
        self.used: set[int] = set()
        self.free_from = 0              # every IRTE below it is in use (alloc_irte's start)
        self.shadow: dict[int, tuple[int, int]] = {}    # what the kernel last wrote per entry
        self.qi_base = 0
        self.qi_tail = 0
        self.qi_status = 0
        self.eim = False
        self.fault_irq = 0
        self.faults_logged = 0

    # -- register access -------------------------------------------------------------------
    def readl(self, off: int) -> int:
        return self.k.readl(self.reg + off)

    def readq(self, off: int) -> int:
        return self.readl(off) | self.readl(off + 4) << 32

    def writel(self, off: int, v: int) -> None:
        self.k.writel(self.reg + off, v)

    def writeq(self, off: int, v: int) -> None:
        self.k.writeq(self.reg + off, v)

    def command(self, bit: int, status: int, on: bool) -> bool:
        """Set (or clear) a persistent command, or issue a one-shot one, and wait for GSTS
        (Linux IOMMU_WAIT_OP). False if the status never followed."""
        persistent = bit & GCMD_PERSISTENT
        if persistent:
            self.gcmd = self.gcmd | bit if on else self.gcmd & ~bit
            self.writel(GCMD.offset, self.gcmd)
        else:
            self.writel(GCMD.offset, self.gcmd | bit)
        for _ in range(GSTS_POLLS):
            if bool(self.readl(GSTS.offset) & status) == on:
                return True
        self.k.ctx.diag("OS", R_CMD_TIMEOUT, f"DMAR: {self.name}: GSTS bit {status:#x} did not "
                        f"become {int(on)}")
        return False

    # -- the invalidation queue -------------------------------------------------------------
    def qi_enable(self) -> bool:
        """dmar_enable_qi: queue page, IQT = 0, IQA, QIE."""
        k = self.k
        self.qi_base = k.dma_alloc(QI_LENGTH * INV_DESC_SIZE, 4096)
        self.qi_status = k.dma_alloc(4, 4)
        self.qi_tail = 0
        self.writeq(IQT.offset, 0)
        self.writeq(IQA.offset, self.qi_base)          # QS = 0: 256 descriptors
        return self.command(GCMD_QIE, GSTS_QIES, True)

    def qi_submit(self, desc: int) -> None:
        """qi_submit_sync: ``desc`` and a wait descriptor (status write), IQT, then poll."""
        k = self.k
        wait = INV_WAIT_DESC.encode(type=5, sw=1, fn=1, status_data=QI_DONE,
                                    status_address=self.qi_status >> 2)
        k.current_cpu.write(self.qi_status, 4, QI_IN_USE)
        for d in (desc, wait):
            a = self.qi_base + INV_DESC_SIZE * self.qi_tail
            k.current_cpu.write(a, 8, d & (1 << 64) - 1)
            k.current_cpu.write(a + 8, 8, d >> 64)
            self.qi_tail = (self.qi_tail + 1) % QI_LENGTH
        self.writel(IQT.offset, self.qi_tail << IQ_INDEX_SHIFT)
        for _ in range(GSTS_POLLS):
            if k.current_cpu.read(self.qi_status, 4) == QI_DONE:
                return
        k.ctx.diag("OS", R_QI_TIMEOUT, f"DMAR: {self.name}: queued invalidation timed out")

    def flush_iec(self, index: int | None = None, mask: int = 0) -> None:
        """qi_flush_iec: global (``index`` None) or 2^``mask`` entries from ``index``."""
        if index is None:
            desc = IEC_DESC.encode(type=4, g=0)
        else:
            desc = IEC_DESC.encode(type=4, g=1, im=mask, iidx=index)
        self.qi_submit(desc)

    # -- the table ---------------------------------------------------------------------------
    def alloc_irte(self, count: int) -> int:
        """alloc_irte: ``count`` (a power of two) free entries, aligned to ``count``."""
        n = 1 << (count - 1).bit_length()
        used = self.used
        # The first aligned free block, as a scan from 0 finds it; every entry below
        # ``free_from`` is in use, so no block starting below it can be free (linear, not
        # quadratic, in the entries allocated: 100,000 vectors at boot, issue 12 scale).
        for base in range(self.free_from - self.free_from % n, INTR_REMAP_TABLE_ENTRIES, n):
            if all(base + i not in used for i in range(n)):
                used.update(range(base, base + n))
                low = self.free_from
                while low in used:
                    low += 1
                self.free_from = low
                return base
        raise OSError(f"DMAR: {self.name}: no {n} free interrupt remapping table entries")

    def free_irte(self, index: int, count: int) -> None:
        n = 1 << (count - 1).bit_length()
        for i in range(index, index + n):
            self.write_irte(i, 0, 0, flush=False)
            self.used.discard(i)
        self.free_from = min(self.free_from, index)
        self.flush_iec(index, (n - 1).bit_length())

    def write_irte(self, index: int, lo: int, hi: int, flush: bool = True) -> None:
        """modify_irte: the entry's changed qwords, high before low, then the IEC
        invalidation. Linux stores all 16 bytes with one CMPXCHG16B; irqsim's CPU stores at
        most 8, so only the qwords that differ from what the kernel wrote last are stored: a
        retarget or a switch to or from posted format (descriptor below 4 GiB) changes the
        low qword alone, one atomic store; a new entry becomes present with its low qword,
        written last."""
        cpu = self.k.current_cpu
        a = self.table + IRTE_SIZE * index
        old_lo, old_hi = self.shadow.get(index, (-1, -1))
        if hi != old_hi:
            cpu.write(a + 8, 8, hi)
        if lo != old_lo:
            cpu.write(a, 8, lo)
        self.shadow[index] = (lo, hi)
        if flush:
            self.flush_iec(index, 0)


class IrRemapDomain(IrqDomain, IrqChip):
    """Linux's INTEL-IR domain and its chip (intel_ir_chip), between the device domains
    (PCI-MSI/MSI-X, IO-APIC) and VECTOR."""

    name = "INTEL-IR"
    chip_prefix = "IR-"
    remapping = True

    def __init__(self, k: Kernel, unit: IntelIr, parent: IrqDomain) -> None:
        super().__init__(parent)
        self.k = k
        self.unit = unit
        self.sid_check = k.intremap != "nosid"

    # -- entries -------------------------------------------------------------------------
    def _irte(self, irq: int, data: IrteData) -> tuple[int, int]:
        """The remapped-format entry for ``irq``'s current vector and CPU."""
        desc = self.k.irqs[irq]
        aid = self.k.apic_ids[desc.cpu]
        dst = aid if self.unit.eim else (aid & 0xFF) << 8
        lo = IRTE_LOW.encode(p=1, v=desc.vector, dst=dst)
        hi = IRTE_HIGH.encode(sid=data.sid, sq=0, svt=data.svt)
        return lo, hi

    def _program(self, d: IrqData) -> None:
        data: IrteData = d.chip_data
        data.lo, data.hi = self._irte(d.irq, data)
        data.posted = False
        self.k.trace_sw("OS", "IOMMU", f"Write IRTE {self._entry(d)}: vector "
                                       f"{self.k.irqs[d.irq].vector:#x}, APIC ID "
                                       f"{self.k.apic_ids[self.k.irqs[d.irq].cpu]}, SID "
                                       f"{bdf_str(data.sid)}; invalidate IEC entry")
        self.unit.write_irte(self._entry(d), data.lo, data.hi)

    def alloc(self, descs: list[IrqDesc], hwirq: int, info: AllocInfo) -> list[IrqData]:
        """A vector per IRQ from VECTOR, then IRTEs: one block (sub-handles 0..n-1) for a
        multi-message MSI, else one entry each; each entry written and invalidated."""
        assert self.parent is not None
        # Each IRQ of a multi-message MSI gets a vector of its own (its IRTE names it), so
        # the block can be spread and moved one IRQ at a time, as in Linux.
        vinfo = info
        if info.contiguous:
            vinfo = AllocInfo(info.affinity, pdev=info.pdev, who=info.who, level=info.level,
                              active_low=info.active_low, devid=info.devid)
        parents = self.parent.alloc(descs, hwirq, vinfo)
        unit = self.unit
        if info.pdev is not None:
            sid = info.pdev.bus << 8 | info.pdev.devfn
        else:
            sid = self.ioapic_sid(info.devid)
        svt = SVT_SID if self.sid_check and sid >= 0 else SVT_NONE
        sid = max(sid, 0)
        out: list[IrqData] = []
        if info.contiguous:
            base = unit.alloc_irte(info.block)
            subs = [(base, i, info.block if i == 0 else 0) for i in range(len(descs))]
        else:
            subs = [(unit.alloc_irte(1), 0, 1) for _ in descs]
        for desc, p, (index, sub, block) in zip(descs, parents, subs, strict=True):
            d = IrqData(desc.irq, hwirq + len(out), self, self, p,
                        IrteData(index, sub, sid, svt, block))
            self._program(d)
            out.append(d)
        return out

    def ioapic_sid(self, ioapic_id: int | None) -> int:
        """The I/O APIC's source-id from the DRHD's device scope (-1: not declared)."""
        for s in self.unit.drhd.scopes:
            if s.type == DMAR_SCOPE_IOAPIC and s.enumeration_id == ioapic_id:
                return int(s.sid)
        return -1

    def _entry(self, d: IrqData) -> int:
        data: IrteData = d.chip_data
        return data.index + data.sub_handle

    def free(self, d: IrqData) -> None:
        data: IrteData = d.chip_data
        if data.block:
            self.unit.free_irte(data.index, data.block)
        if d.parent is not None:
            d.parent.domain.free(d.parent)

    def activate(self, d: IrqData) -> None:
        super().activate(d)
        data: IrteData = d.chip_data
        data.lo, data.hi = self._irte(d.irq, data)
        self.unit.write_irte(self._entry(d), data.lo, data.hi)

    def deactivate(self, d: IrqData) -> None:
        """intel_irq_remapping_deactivate: the entry cleared (P = 0) and invalidated."""
        self.unit.write_irte(self._entry(d), 0, 0)
        super().deactivate(d)

    # -- chip ----------------------------------------------------------------------------
    def irq_compose_msi_msg(self, d: IrqData) -> tuple[int, int]:
        """Remappable format: handle in address bits 19:5 and 2, SHV = 1, data = sub-handle
        (Linux fill_msi_msg)."""
        data: IrteData = d.chip_data
        h = data.index
        addr = MSI_ADDRESS_REMAPPABLE.encode(handle=h & 0x7FFF, handle_15=h >> 15 & 1, shv=1,
                                             interrupt_format=1)
        return addr, data.sub_handle

    def irq_set_affinity(self, d: IrqData, cpus: list[int]) -> bool:
        """The parent moves the vector; the IRTE is rewritten and invalidated. The device's
        message does not change, so the levels above have nothing to do (False)."""
        assert d.parent is not None
        if not d.parent.chip.irq_set_affinity(d.parent, cpus):
            return False
        data: IrteData = d.chip_data
        if not data.posted:
            data.lo, data.hi = self._irte(d.irq, data)
            self.k.trace_sw("OS", "IOMMU", f"Retarget IRQ {d.irq}: rewrite IRTE "
                                           f"{self._entry(d)}, invalidate")
            self.unit.write_irte(self._entry(d), data.lo, data.hi)
        return False

    def irq_set_vcpu_affinity(self, d: IrqData, target: tuple[int, int, bool] | None) -> None:
        """intel_ir_set_vcpu_affinity: ``target`` = (descriptor address, virtual vector,
        urgent) makes the IRTE posted; None restores the remapped entry."""
        data: IrteData = d.chip_data
        if target is None:
            data.lo, data.hi = self._irte(d.irq, data)
            data.posted = False
        else:
            if not self.unit.cap & CAP_PI or self.k.intremap == "nopost":
                raise OSError(f"IRQ {d.irq}: posted interrupts not available (ENODEV)")
            pda, vv, urgent = target
            if pda & 63:
                raise OSError(f"IRQ {d.irq}: descriptor {pda:#x} is not 64-byte aligned")
            data.lo = IRTE_POSTED_LOW.encode(p=1, urg=int(urgent), im=1, vv=vv,
                                             pda_l=pda >> 6 & 0x3FFFFFF)
            data.hi = IRTE_POSTED_HIGH.encode(sid=data.sid, svt=data.svt, pda_h=pda >> 32)
            data.posted = True
        self.unit.write_irte(self._entry(d), data.lo, data.hi)


# -- boot ---------------------------------------------------------------------------------
def intel_irq_remap_init(k: Kernel) -> IrRemapDomain | None:
    """Detect, enable and install interrupt remapping (None: off or not possible)."""
    if k.intremap == "off":
        return None
    units = dmar_units(k)
    if not units:
        return None
    dmar = k.acpi.dmar
    assert dmar is not None
    k.printk(f"DMAR: Host address width {dmar.host_address_width + 1}")
    unit = IntelIr(k, units[0], 0)
    k.printk(f"DMAR: DRHD base: {unit.reg:#016x} flags: {int(unit.drhd.include_pci_all):#x}")
    ver = unit.readl(VER.offset)
    unit.cap = unit.readq(CAP.offset)
    unit.ecap = unit.readq(ECAP.offset)
    k.printk(f"DMAR: {unit.name}: reg_base_addr {unit.reg:x} ver {ver >> 4 & 0xF}:{ver & 0xF} "
             f"cap {unit.cap:x} ecap {unit.ecap:x}")
    if not unit.ecap & ECAP_IR or not unit.ecap & ECAP_QI:
        k.ctx.diag("OS", R_NO_IR, f"DMAR: {unit.name}: ECAP {unit.ecap:#x} has no IR/QI")
        return None
    for s in unit.drhd.scopes:
        if s.type == DMAR_SCOPE_IOAPIC:
            k.printk(f"DMAR-IR: IOAPIC id {s.enumeration_id} under DRHD base  "
                     f"{unit.reg:#x} IOMMU {unit.seq}")
    want_x2 = k.x2apic_mode
    if want_x2 and dmar.flags & DMAR_X2APIC_OPT_OUT:
        k.printk("DMAR-IR: x2apic is disabled because BIOS sets x2apic opt out bit.")
        want_x2 = False                 # remapping in xAPIC mode: 8-bit destinations
    unit.eim = bool(want_x2 and unit.ecap & ECAP_EIM)
    k.printk("DMAR-IR: Queued invalidation will be enabled to support x2apic and "
             "Intr-remapping.")
    if not unit.qi_enable():
        k.printk("DMAR-IR: Failed to enable irq remapping. You are vulnerable to "
                 "irq-injection attacks.")
        return None
    unit.table = k.dma_alloc(INTR_REMAP_TABLE_ENTRIES * IRTE_SIZE,
                             INTR_REMAP_TABLE_ENTRIES * IRTE_SIZE)
    s = INTR_REMAP_TABLE_ENTRIES.bit_length() - 2
    k.trace_sw("OS", "IOMMU", f"IRTA = {unit.table:#x}, S = {s}, EIME = {int(unit.eim)}; SIRTP")
    unit.writeq(IRTA.offset, IRTA.encode(ira=unit.table >> 12, eime=int(unit.eim), s=s))
    ok = unit.command(GCMD_SIRTP, GSTS_IRTPS, True)
    unit.flush_iec()                                      # SIRTP does not flush the IEC
    ok = ok and unit.command(GCMD_IRE, GSTS_IRES, True)
    if k.intremap_cfi:
        ok = ok and unit.command(GCMD_CFI, GSTS_CFIS, True)
    elif unit.readl(GSTS.offset) & GSTS_CFIS:
        ok = ok and unit.command(GCMD_CFI, GSTS_CFIS, False)
    if not ok:
        k.printk("DMAR-IR: Failed to enable irq remapping. You are vulnerable to "
                 "irq-injection attacks.")
        return None
    k.printk(f"DMAR-IR: Enabled IRQ remapping in "
             f"{IRQ_REMAP_X2APIC_MODE if unit.eim else IRQ_REMAP_XAPIC_MODE} mode")
    core = k.irq
    dom = IrRemapDomain(k, unit, core.vector_domain)
    if unit.eim:
        core.vector_domain.dest_id_limit = 0xFFFFFFFE    # 32-bit destinations
    core.set_msi_parent(dom)
    k.ir_domain = dom
    dmar_set_interrupt(k, unit)
    return dom


def dmar_set_interrupt(k: Kernel, unit: IntelIr) -> None:
    """dmar_set_interrupt: an IRQ "dmar0" on CPU 0 for the fault event (compatibility-format
    MSI in FEADDR/FEDATA, not remapped), then FECTL unmasked."""
    core = k.irq
    desc = core.alloc_desc(None, "DMAR-MSI", unit.seq, unit.name, affinity=[0])
    core.domain_alloc(core.vector_domain, [desc], unit.seq, AllocInfo([[0]], who=unit.name))
    aid = k.apic_ids[desc.cpu]
    unit.writel(FEDATA.offset, msi_data(desc.vector))
    unit.writel(FEADDR.offset, msi_address(aid & 0xFF))
    unit.writel(FEUADDR.offset, aid & 0xFFFFFF00)
    unit.fault_irq = desc.irq
    k.request_irq(desc.irq, lambda irq, dev: dmar_fault(k, unit), 0, unit.name)
    unit.writel(FECTL.offset, 0)


def dmar_fault(k: Kernel, unit: IntelIr) -> IrqReturn:
    """dmar_fault: read FSTS, log and clear every valid record from FRI on, clear PFO."""
    fsts = unit.readl(FSTS.offset)
    if fsts:
        k.printk(f"DMAR: DRHD: handling fault status reg {fsts:x}")
    cap = CAP.decode(unit.cap)
    nfr, fro = cap["nfr"] + 1, cap["fro"] * 16
    i = FSTS.field("fri").get(fsts)
    if fsts & FSTS_PPF:
        for _ in range(nfr):
            off = fro + FRCD_SIZE * i
            hi = unit.readl(off + 12)
            if not hi >> 31:
                break
            high = unit.readq(off + 8)
            fr = high >> 32 & 0xFF
            sid = high & 0xFFFF
            index = unit.readq(off) >> 48
            k.printk(f"DMAR: [INTR-REMAP] Request device [{bdf_str(sid)}] fault index "
                     f"{index:#x} [fault reason {fr:#04x}] {FAULT_TEXT.get(fr, 'Unknown')}")
            unit.faults_logged += 1
            unit.writel(off + 12, 1 << 31)             # clear F
            i = (i + 1) % nfr
    unit.writel(FSTS.offset, FSTS_PFO | FSTS.mask("iqe") | FSTS.mask("ice") | FSTS.mask("ite"))
    return IRQ_HANDLED
