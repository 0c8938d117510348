"""The simulated operating system: boot, PCI enumeration, IRQ management, drivers.

It touches hardware only the way a kernel does: configuration reads/writes
through ECAM, MMIO reads/writes (readl/writel), LAPIC registers, memory. Each
access runs on a simulated CPU and is charged to it from the timing model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from irqsim.os.idt import DeviceGates, ExceptionGate, NmiGate, SpuriousGate, SystemGate
from irqsim.os.intx import IoApicInfo, enable_directed_eoi, intx_route, intx_setup
from irqsim.os.ipi import SmpOps
from irqsim.os.irq import IRQF_SHARED, Handler, IrqAction, IrqDesc, IrqGate
from irqsim.os.msi import msi_mask, msi_setup, msi_vec_count
from irqsim.os.msix import msix_mask_entry, msix_setup, msix_table_size, write_entry
from irqsim.os.pci import Enumerator, PciDev
from irqsim.os.vectors import (
    CALL_FUNCTION_SINGLE_VECTOR,
    CALL_FUNCTION_VECTOR,
    ERROR_APIC_VECTOR,
    LOCAL_TIMER_VECTOR,
    RESCHEDULE_VECTOR,
    SPURIOUS_APIC_VECTOR,
    VectorAllocator,
    VectorSpaceExhausted,
)
from irqsim.sim.context import SimContext
from irqsim.spec.cpu import APIC_BASE_EN, APIC_BASE_EXTD, MSR_APIC_BASE, MSR_TSC_DEADLINE

if TYPE_CHECKING:
    from irqsim.cpu.cpu import Cpu, Fault

PCI_IRQ_INTX = 1 << 0
PCI_IRQ_MSI = 1 << 1
PCI_IRQ_MSIX = 1 << 2
PCI_IRQ_ALL_TYPES = PCI_IRQ_INTX | PCI_IRQ_MSI | PCI_IRQ_MSIX
FIRST_DYNAMIC_IRQ = 24
APIC_DIVISOR = 16                 # Linux programs TDCR for divide-by-16 (TDCR = 0x3)
SYSTEM_ROWS = (("NMI", "Non-maskable interrupts"), ("LOC", "Local timer interrupts"),
               ("RES", "Rescheduling interrupts"), ("CAL", "Function call interrupts"),
               ("TLB", "TLB shootdowns"))


@dataclass(slots=True)
class Firmware:
    """What ACPI (MCFG, MADT) and the memory map tell the OS."""

    ecam_base: int = 0xB0000000
    apic_base: int = 0xFEE00000
    mmio32_base: int = 0xC0000000
    mmio32_limit: int = 0xFEBFFFFF
    mmio64_base: int = 0x8_0000_0000
    dma_base: int = 0x0100_0000
    # MADT: the I/O APIC; _PRT: (bus, device, pin 1-4) -> GSI for PCI INTx, whose lines
    # are level-triggered, active low (ACPI). directed_eoi: use suppress-EOI-broadcast.
    ioapic_base: int | None = 0xFEC00000
    prt: dict[tuple[int, int, int], int] = field(default_factory=dict)
    intx_trigger: str = "level"
    intx_polarity: str = "low"
    directed_eoi: bool = False


class PciDriver(Protocol):
    """A driver: matched by (vendor, device), probed with the PciDev."""

    name: str
    ids: tuple[tuple[int, int], ...]

    def probe(self, kernel: Kernel, pdev: PciDev) -> None: ...


class Kernel:
    """The OS instance running on the simulated CPUs."""

    # Shared INTx lines: "until-claimed" (seed 004) or "all" (Linux runs every handler).
    irq_chain = "until-claimed"
    # note_interrupt ("nobody cared"): Linux disables a line when 99,900 of 100,000
    # interrupts went unhandled; irqsim keeps the ratio over a 1,000-interrupt window.
    # An unhandled interrupt more than 100 ms after the previous one restarts the count.
    spurious_window = 1000
    spurious_threshold = 999
    unhandled_age_ns = 100_000_000
    ioapic_info: IoApicInfo | None = None

    def __init__(self, ctx: SimContext, cpus: list[Cpu], firmware: Firmware | None = None,
                 first_vector: int = 0x20, last_vector: int = 0xDF,
                 x2apic: bool | None = None, tick_hz: int = 0,
                 timer_mode: str = "periodic", madt_ids: list[int] | None = None) -> None:
        """Boot options: ``x2apic`` (None: only when a MADT APIC ID needs more than 8 bits),
        ``tick_hz`` (0: no local timer tick) with ``timer_mode`` "periodic" or
        "tsc-deadline"."""
        if timer_mode not in ("periodic", "tsc-deadline"):
            raise ValueError(f"timer_mode must be 'periodic' or 'tsc-deadline', got "
                             f"{timer_mode!r}")
        if tick_hz < 0:
            raise ValueError(f"tick_hz must be >= 0, got {tick_hz}")
        self.ctx = ctx
        self.timing = ctx.timing
        self.cpus = cpus
        self.firmware = firmware or Firmware()
        self.vectors = VectorAllocator(len(cpus), first_vector, last_vector)
        self.irqs: dict[int, IrqDesc] = {}
        self.next_irq = FIRST_DYNAMIC_IRQ
        self.gates = [IrqGate(self) for _ in cpus]
        self.apic_ids: list[int] = [0] * len(cpus)
        self.devices: list[PciDev] = []
        self.drivers: list[PciDriver] = []
        self.bound: dict[str, Any] = {}
        self.spurious = [0] * len(cpus)
        self.unexpected = [0] * len(cpus)
        # Per-CPU counts of system interrupts, named as Linux's /proc/interrupts names them
        # (LOC, RES, CAL, TLB, NMI, SPU, ...): name -> (counts, description).
        self.system_counters: dict[str, tuple[list[int], str]] = {
            "SPU": (self.spurious, "Spurious interrupts")}
        self._dma_cursor = self.firmware.dma_base
        self.boot_ns = 0
        # Local APIC mode, timer tick and the IPI layer (docs/lapic.md, docs/ipi.md).
        self.madt_ids = list(madt_ids) if madt_ids is not None else list(range(len(cpus)))
        self.x2apic_option = x2apic
        self.x2apic_mode = False
        self.tick_hz = tick_hz
        self.timer_mode = timer_mode
        self.ticks = [0] * len(cpus)
        self.exceptions: list[tuple[int, Fault]] = []
        self.apic_errors: list[tuple[int, int, int]] = []
        self.smp = SmpOps(self)
        self.idt = self._build_idt()

    # -- the CPU software runs on now ---------------------------------------------
    @property
    def current_cpu(self) -> Cpu:
        """The CPU whose software section runs now (the BSP outside any section)."""
        cur = self.ctx.sw.current
        return cur.cpu if cur is not None else self.cpus[0]  # type: ignore[no-any-return]

    def spend(self, ns: int) -> None:
        """The code running now computes for ``ns`` (charged to its section)."""
        cur = self.ctx.sw.current
        if cur is not None:
            cur.clock += ns
            cur.busy += ns

    # -- tracing of software steps ----------------------------------------------
    def trace_sw(self, src: str, dst: str, label: str, reply: bool = False) -> None:
        """Record a software step (for sequence diagrams) at the software's instant."""
        tr = self.ctx.tracer
        if tr.on:
            tr.emit(self.current_cpu.clock, src, dst, "sw", label=label, reply=reply)

    # -- accessors (run on current_cpu, cost charged to it) ------------------------
    def cfg_read(self, bus: int, devfn: int, offset: int, size: int) -> int:
        addr = self.firmware.ecam_base + (bus << 20 | devfn << 12 | offset)
        return self.current_cpu.read(addr, size)

    def cfg_write(self, bus: int, devfn: int, offset: int, size: int, value: int) -> None:
        addr = self.firmware.ecam_base + (bus << 20 | devfn << 12 | offset)
        self.current_cpu.write(addr, size, value)

    def readl(self, addr: int) -> int:
        return self.current_cpu.read(addr, 4)

    def writel(self, addr: int, value: int) -> None:
        self.current_cpu.write(addr, 4, value)

    def readw(self, addr: int) -> int:
        return self.current_cpu.read(addr, 2)

    def writew(self, addr: int, value: int) -> None:
        self.current_cpu.write(addr, 2, value)

    def readb(self, addr: int) -> int:
        return self.current_cpu.read(addr, 1)

    def writeb(self, addr: int, value: int) -> None:
        self.current_cpu.write(addr, 1, value)

    def writeq(self, addr: int, value: int) -> None:
        self.current_cpu.write(addr, 4, value & 0xFFFFFFFF)
        self.current_cpu.write(addr + 4, 4, value >> 32)

    def read_mem(self, addr: int, size: int) -> int:
        return self.current_cpu.read(addr, size)

    def dma_alloc(self, size: int, align: int = 4096) -> int:
        """Physical memory for rings and buffers (a bump allocator)."""
        addr = (self._dma_cursor + align - 1) // align * align
        self._dma_cursor = addr + size
        return addr

    # -- boot ---------------------------------------------------------------------
    def run_on(self, cpu: Cpu, fn: Callable[[], object]) -> int:
        """Run ``fn`` as software on ``cpu`` (inline in its running section, else as a task
        section: see ``Cpu.run``); returns the CPU time it has spent so far in ns (all of
        it when the call returns with the section over)."""
        sec = cpu.section
        if sec is not None:
            busy = sec.busy
            fn()
            return sec.busy - busy
        return cpu.run(lambda _: fn()).busy

    def boot(self) -> int:
        """Bring up the LAPICs, enumerate PCI, probe drivers, each on its CPU's clock (called
        from the top level: it returns with the boot over). Returns boot time in ns."""
        t0 = self.ctx.engine.now
        for i, cpu in enumerate(self.cpus):
            self.run_on(cpu, lambda i=i, cpu=cpu: self._lapic_init(i, cpu))
        if self.firmware.directed_eoi:
            for cpu in self.cpus:
                self.run_on(cpu, lambda: enable_directed_eoi(self))
        self.run_on(self.cpus[0], self._pci_init)
        self.boot_ns = self.ctx.engine.now - t0
        return self.boot_ns

    def _lapic_init(self, i: int, cpu: Cpu) -> None:
        """Per-CPU APIC bring-up, in Linux's order (setup_local_APIC, x2apic_enable)."""
        if i == 0:
            self.x2apic_mode = (self.x2apic_option if self.x2apic_option is not None
                                else any(x > 0xFE for x in self.madt_ids))
            if len(self.cpus) > 1 or self.tick_hz:
                for name, text in SYSTEM_ROWS:
                    self.system_counters.setdefault(name, ([0] * len(self.cpus), text))
        if self.x2apic_mode:
            base = cpu.rdmsr(MSR_APIC_BASE)
            if not base & APIC_BASE_EXTD:
                cpu.wrmsr(MSR_APIC_BASE, base | APIC_BASE_EN | APIC_BASE_EXTD)
            self.apic_ids[i] = cpu.rdmsr(0x802)
        else:
            self.apic_ids[i] = cpu.read(cpu.apic_base + 0x20) >> 24
        self.apic_write(cpu, 0x80, 0)                               # TPR 0
        self.apic_write(cpu, 0xF0, 0x100 | SPURIOUS_APIC_VECTOR)    # SVR: software enable
        self.apic_write(cpu, 0x350, 0x10700)                        # LINT0: ExtINT, masked
        self.apic_write(cpu, 0x360, 0x400 | (0 if i == 0 else 0x10000))  # LINT1: NMI (BSP)
        self.apic_write(cpu, 0x370, ERROR_APIC_VECTOR)              # LVT Error
        self.apic_write(cpu, 0x280, 0)                              # clear ESR
        for v in range(0xE0, 0x100):                # system vectors
            self.vectors.reserve(i, v)
        for v in range(0, self.vectors.first):
            self.vectors.reserve(i, v)
        cpu.idt = self.idt                          # lidt: one table for every CPU
        if self.tick_hz:
            self._timer_init(cpu)

    def _pci_init(self) -> None:
        self.devices = Enumerator(self).run()
        for pdev in self.devices:
            if pdev.is_bridge:
                continue
            for drv in self.drivers:
                if (pdev.vendor, pdev.device) in drv.ids:
                    pdev.driver = drv
                    drv.probe(self, pdev)
                    break

    def register_driver(self, driver: PciDriver) -> None:
        self.drivers.append(driver)

    # -- Linux-shaped PCI API -----------------------------------------------------
    def pci_enable_device(self, pdev: PciDev) -> None:
        """Memory Space Enable, and the INTx line from the _PRT (Linux's dev->irq)."""
        cmd = self.cfg_read(pdev.bus, pdev.devfn, 0x04, 2)
        self.cfg_write(pdev.bus, pdev.devfn, 0x04, 2, cmd | 0x2)
        pdev.irq = intx_route(self, pdev)

    def pci_set_master(self, pdev: PciDev) -> None:
        cmd = self.cfg_read(pdev.bus, pdev.devfn, 0x04, 2)
        self.cfg_write(pdev.bus, pdev.devfn, 0x04, 2, cmd | 0x4)

    def pci_alloc_irq_vectors(self, pdev: PciDev, min_vecs: int, max_vecs: int,
                              flags: int = PCI_IRQ_ALL_TYPES,
                              cpus: list[int] | None = None) -> int:
        """Allocate between ``min_vecs`` and ``max_vecs`` vectors; returns the count.

        As Linux's pci_alloc_irq_vectors: MSI-X first, then MSI, then INTx (only when
        ``min_vecs`` is 1 and the device has a routed line), each only if ``flags``
        allows it. MSI blocks are contiguous, power-of-two sized and aligned. Raises
        OSError (like -EINVAL / -ENOSPC) when nothing can provide ``min_vecs``.
        """
        if min_vecs < 1 or max_vecs < min_vecs:
            raise OSError(f"pci_alloc_irq_vectors: invalid range min={min_vecs} "
                          f"max={max_vecs}")
        if pdev.irq_mode != "none":
            raise OSError(f"{pdev.slot}: interrupts already allocated ({pdev.irq_mode})")
        why: list[str] = []
        if flags & PCI_IRQ_MSIX:
            if pdev.msix_cap is None:
                why.append("no MSI-X capability")
            else:
                self.trace_sw("OS", "PCI Config Space", "Read MSI-X capability structure")
                n = msix_table_size(self, pdev)
                self.trace_sw("PCI Config Space", "OS", f"Capability details (table size {n})",
                              reply=True)
                count = min(max_vecs, n)
                if count >= min_vecs:
                    self.trace_sw("Driver", "OS", f"Request {count} interrupt vector(s)")
                    try:
                        entries = self._alloc_vectors(pdev, count, "PCI-MSIX", cpus)
                    except OSError as e:
                        why.append(f"MSI-X: {e}")
                    else:
                        self.trace_sw("OS", "Driver", "Return allocated vectors", reply=True)
                        msix_setup(self, pdev, entries)
                        for irq, (idx, _, _) in zip(pdev.irqs, entries, strict=True):
                            d = self.irqs[irq]
                            d.masked = False
                            d.chip_mask = (lambda m, i=idx: msix_mask_entry(self, pdev, i, m))
                        return count
                else:
                    why.append(f"MSI-X table size {n} < {min_vecs}")
        if flags & PCI_IRQ_MSI:
            if pdev.msi_cap is None:
                why.append("no MSI capability")
            else:
                count = self._msi_alloc(pdev, min_vecs, max_vecs, cpus, why)
                if count:
                    return count
        if flags & PCI_IRQ_INTX:
            if min_vecs != 1:
                why.append(f"INTx provides 1 vector, {min_vecs} required")
            elif not pdev.irq:
                why.append("no INTx line (no pin or no _PRT route)")
            else:
                self.trace_sw("Driver", "OS", "Request legacy INTx")
                intx_setup(self, pdev, cpus)
                return 1
        raise OSError(f"{pdev.slot}: no interrupt mechanism allowed by flags {flags:#x} "
                      f"can provide {min_vecs} vector(s): {'; '.join(why)}")

    def _msi_alloc(self, pdev: PciDev, min_vecs: int, max_vecs: int,
                   cpus: list[int] | None, why: list[str]) -> int:
        """MSI: a power-of-two, aligned block on one CPU (one Message Address)."""
        self.trace_sw("OS", "PCI Config Space", "Read MSI capability")
        cap = msi_vec_count(self, pdev)
        count = min(max_vecs, cap)
        if count < min_vecs:
            why.append(f"MSI capable of {cap} < {min_vecs}")
            return 0
        block = 1 << (count - 1).bit_length()
        if block != count:
            self.ctx.diag("OS", "Linux msi_capability_init: power-of-two MSI block",
                          f"{pdev.slot}: {count} MSI vectors requested; the block and "
                          f"Multiple Message Enable are rounded up to {block}, messages "
                          f"{count}-{block - 1} have no IRQ")
        online = self.irq_target_cpus(cpus, pdev.slot)
        try:
            cpu, first = self.vectors.alloc(online, count=block, align=block)
        except VectorSpaceExhausted as e:
            why.append(f"MSI: {e}")
            return 0
        self.trace_sw("Driver", "OS", f"Request {count} MSI vector(s): block {first:#x}-"
                                      f"{first + block - 1:#x} on CPU{cpu}")
        for i in range(count):
            irq = self.next_irq
            self.next_irq += 1
            desc = IrqDesc(irq, f"PCI-MSI-{pdev.slot}", i, cpu, first + i,
                           [0] * len(self.cpus), device=pdev.slot)
            desc.chip_mask = (lambda m, i=i: self._msi_mask_irq(pdev, i, m))
            self.irqs[irq] = desc
            self.gates[cpu].per_vector[first + i] = desc
            pdev.irqs.append(irq)
        msi_setup(self, pdev, block, cpu, first)
        return count

    def _msi_mask_irq(self, pdev: PciDev, index: int, masked: bool) -> None:
        msi_mask(self, pdev, index, masked)

    def _alloc_vectors(self, pdev: PciDev, count: int, chip: str,
                       cpus: list[int] | None) -> list[tuple[int, int, int]]:
        online = self.irq_target_cpus(None, pdev.slot)
        wanted = self.irq_target_cpus(cpus, pdev.slot) if cpus else None
        got: list[tuple[int, int]] = []
        for i in range(count):
            allowed = [wanted[i % len(wanted)]] if wanted else online
            try:
                got.append(self.vectors.alloc(allowed))
            except VectorSpaceExhausted as e:
                for cpu, vector in got:
                    self.vectors.free(cpu, vector)
                raise OSError(f"{pdev.slot}: {e}") from None
        entries = []
        for i, (cpu, vector) in enumerate(got):
            irq = self.next_irq
            self.next_irq += 1
            self.trace_sw("OS", "OS", f"Allocate vector {vector:#x} on CPU{cpu} (IRQ {irq})")
            desc = IrqDesc(irq, f"{chip}-{pdev.slot}", i, cpu, vector, [0] * len(self.cpus),
                           device=pdev.slot)
            self.irqs[irq] = desc
            self.gates[cpu].per_vector[vector] = desc
            pdev.irqs.append(irq)
            entries.append((i, cpu, vector))
        return entries

    def irq_target_cpus(self, cpus: list[int] | None, who: str = "") -> list[int]:
        """CPUs a device interrupt can target: without interrupt remapping a message carries
        an 8-bit APIC ID (SDM 11.11.1; 0xFF is broadcast), so CPUs with IDs above 254 are
        left out, as Linux does without IR."""
        wanted = list(range(len(self.cpus))) if cpus is None else list(cpus)
        ok = [c for c in wanted if 0 <= c < len(self.cpus) and self.apic_ids[c] <= 0xFE]
        if cpus is not None and len(ok) != len(wanted):
            self.ctx.diag(who or "OS", "SDM 11.11.1 MSI destination ID is 8 bits",
                          f"CPUs {sorted(set(wanted) - set(ok))} cannot be targeted by a "
                          "compatibility-format interrupt; using the others")
        if not ok:
            ok = [c for c in range(len(self.cpus)) if self.apic_ids[c] <= 0xFE]
        return ok

    def pci_irq_vector(self, pdev: PciDev, nr: int) -> int:
        """Linux IRQ number of the device's ``nr``-th vector."""
        if not 0 <= nr < len(pdev.irqs):
            raise OSError(f"{pdev.slot}: no vector {nr} (has {len(pdev.irqs)})")
        return pdev.irqs[nr]

    def msix_share_entry(self, pdev: PciDev, entry: int, irq: int) -> None:
        """Program MSI-X ``entry`` with the same message as ``irq`` (seed 002's kernel)."""
        desc = self.irqs[irq]
        n = msix_table_size(self, pdev)
        if entry >= n:
            raise OSError(f"{pdev.slot}: MSI-X entry {entry} beyond table size {n}")
        from irqsim.os.msix import MSIX_FLAGS_MASKALL, msix_table_base
        cap = pdev.msix_cap
        assert cap is not None
        ctrl = self.cfg_read(pdev.bus, pdev.devfn, cap + 2, 2)
        self.cfg_write(pdev.bus, pdev.devfn, cap + 2, 2, ctrl | MSIX_FLAGS_MASKALL)
        write_entry(self, msix_table_base(self, pdev), entry, self.apic_ids[desc.cpu],
                    desc.vector)
        self.cfg_write(pdev.bus, pdev.devfn, cap + 2, 2, ctrl)

    def request_irq(self, irq: int, handler: Handler, flags: int, name: str,
                    dev_id: Any = None, slot: str = "") -> None:
        """Attach ``handler`` to ``irq`` (shared lines need IRQF_SHARED on every action)."""
        desc = self.irqs.get(irq)
        if desc is None:
            raise OSError(f"request_irq: IRQ {irq} does not exist")
        if desc.actions and not (flags & IRQF_SHARED and
                                 all(a.flags & IRQF_SHARED for a in desc.actions)):
            raise OSError(f"request_irq: IRQ {irq} is busy and not shared")
        self.trace_sw("Driver", "Driver", f"Register ISR handler for IRQ {irq}")
        desc.actions.append(IrqAction(handler, flags, name, dev_id, slot))
        if len(desc.actions) == 1 and desc.masked and not desc.disabled:
            if desc.chip_mask is not None:
                desc.chip_mask(False)                   # irq_startup: unmask the source
            desc.masked = False

    def pci_request_irq(self, pdev: PciDev, nr: int, handler: Handler, name: str,
                        dev_id: Any = None, flags: int = 0) -> int:
        """request_irq for the device's ``nr``-th vector; INTx lines are requested shared
        (Linux's pci_request_irq). Returns the IRQ."""
        irq = self.pci_irq_vector(pdev, nr)
        if pdev.irq_mode == "intx":
            flags |= IRQF_SHARED
        self.request_irq(irq, handler, flags, name, dev_id, slot=pdev.slot)
        return irq

    def disable_irq(self, irq: int) -> None:
        """Mask the IRQ's source (I/O APIC entry, MSI mask bit, MSI-X entry)."""
        desc = self.irqs[irq]
        if desc.chip_mask is not None and not desc.masked:
            desc.chip_mask(True)
        desc.masked = True

    def enable_irq(self, irq: int) -> None:
        """Unmask the IRQ's source (a pending MSI/MSI-X message or a level line then fires)."""
        desc = self.irqs[irq]
        if desc.chip_mask is not None and desc.masked:
            desc.chip_mask(False)
        desc.masked = False

    def note_interrupt(self, desc: IrqDesc, handled: bool) -> None:
        """Linux's note_interrupt: count unhandled interrupts; disable a line nobody claims."""
        now = self.ctx.engine.now
        if not handled:
            desc.unhandled += 1
            if now - desc.last_unhandled > self.unhandled_age_ns:
                desc.window_unhandled = 1
            else:
                desc.window_unhandled += 1
            desc.last_unhandled = now
        desc.window_count += 1
        if desc.window_count < self.spurious_window:
            return
        desc.window_count = 0
        if desc.window_unhandled >= self.spurious_threshold:
            self.ctx.diag("OS", "Linux note_interrupt: nobody cared",
                          f"irq {desc.irq}: nobody cared ({desc.window_unhandled} of the last "
                          f"{self.spurious_window} interrupts unhandled); handlers: "
                          f"{desc.name or 'none'}; Disabling IRQ #{desc.irq}")
            desc.disabled = "nobody cared"
            if desc.chip_mask is not None and not desc.masked:
                desc.chip_mask(True)
            desc.masked = True
        desc.window_unhandled = 0

    def count_system(self, name: str, cpu: int, description: str = "") -> None:
        """Count one system interrupt ``name`` (e.g. "LOC") on ``cpu``."""
        entry = self.system_counters.get(name)
        if entry is None:
            entry = self.system_counters[name] = ([0] * len(self.cpus), description or name)
        entry[0][cpu] += 1

    # -- Local APIC access, IDT, timer tick (docs/lapic.md) -------------------------------
    def apic_read(self, cpu: Cpu, reg: int) -> int:
        """Read LAPIC register ``reg`` (xAPIC offset): MMIO, or RDMSR in x2APIC mode."""
        if self.x2apic_mode:
            return cpu.rdmsr(0x800 + (reg >> 4))
        return cpu.read(cpu.apic_base + reg)

    def apic_write(self, cpu: Cpu, reg: int, value: int) -> None:
        """Write LAPIC register ``reg`` (xAPIC offset): MMIO, or WRMSR in x2APIC mode."""
        if self.x2apic_mode:
            cpu.wrmsr(0x800 + (reg >> 4), value)
        else:
            cpu.write(cpu.apic_base + reg, 4, value)

    def apic_eoi(self, cpu: Cpu) -> None:
        """Acknowledge the LAPIC (EOI register write)."""
        if self.x2apic_mode:
            cpu.wrmsr(0x80B, 0)
        else:
            cpu.write(cpu.apic_base + 0xB0, 4, 0)

    def run_section(self, cpu: Cpu, fn: Callable[[], object]) -> int:
        """Same as ``run_on`` (kept for callers of the earlier API)."""
        return self.run_on(cpu, fn)

    def _build_idt(self) -> list[Any]:
        """The shared IDT: exceptions, device vectors, Linux's system vectors."""
        exc = ExceptionGate(self)
        dev = DeviceGates(self.gates)
        idt: list[Any] = [exc] * 32 + [dev] * 224
        self.nmi_gate = NmiGate(self)
        idt[2] = self.nmi_gate
        smp = self.smp
        idt[LOCAL_TIMER_VECTOR] = SystemGate(self, "LOC", "Local timer interrupts",
                                             smp.on_local_timer)
        idt[RESCHEDULE_VECTOR] = SystemGate(self, "RES", "Rescheduling interrupts",
                                            smp.on_reschedule)
        idt[CALL_FUNCTION_VECTOR] = SystemGate(self, "CAL", "Function call interrupts",
                                               smp.on_call_function)
        idt[CALL_FUNCTION_SINGLE_VECTOR] = SystemGate(self, "CAL", "Function call interrupts",
                                                      smp.on_call_function)
        idt[ERROR_APIC_VECTOR] = SystemGate(self, "ERR", "APIC errors", smp.on_error)
        idt[SPURIOUS_APIC_VECTOR] = SpuriousGate(self)
        return idt

    def _timer_init(self, cpu: Cpu) -> None:
        """Program the LAPIC timer for a ``tick_hz`` tick on LOCAL_TIMER_VECTOR."""
        period_ns = 1_000_000_000 // self.tick_hz
        if self.timer_mode == "tsc-deadline":
            self.apic_write(cpu, 0x320, LOCAL_TIMER_VECTOR | 2 << 17)
            cpu.wrmsr(MSR_TSC_DEADLINE, cpu.rdtsc() + period_ns * self.timing.tsc_khz
                      // 1_000_000)
            return
        self.apic_write(cpu, 0x3E0, 0x3)                            # divide by 16
        self.apic_write(cpu, 0x320, LOCAL_TIMER_VECTOR | 1 << 17)   # periodic
        count = max(1, period_ns // (self.timing.apic_bus_cycle_ns * APIC_DIVISOR))
        self.apic_write(cpu, 0x380, count)

    def timer_tick(self, cpu: Cpu) -> None:
        """The local timer interrupt's work: count the tick, re-arm a TSC deadline."""
        self.ticks[cpu.index] += 1
        if self.timer_mode == "tsc-deadline" and self.tick_hz:
            period = 1_000_000_000 // self.tick_hz * self.timing.tsc_khz // 1_000_000
            cpu.wrmsr(MSR_TSC_DEADLINE, cpu.rdtsc() + period)

    # -- views ----------------------------------------------------------------------
    def interrupt_rows(self) -> list[dict[str, Any]]:
        """Rows for /proc/interrupts: one per IRQ with per-CPU counts."""
        rows = []
        for irq in sorted(self.irqs):
            d = self.irqs[irq]
            rows.append({"irq": irq, "counts": list(d.counts), "chip": d.chip,
                         "hwirq": d.hwirq, "name": d.name, "vector": d.vector, "cpu": d.cpu,
                         "device": d.device, "unhandled": d.unhandled, "trigger": d.trigger,
                         "disabled": d.disabled})
        return rows
