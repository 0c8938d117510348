"""The simulated operating system: it composes boot, the PCI core, the IRQ core and SMP.

``Kernel`` holds the access primitives (configuration reads/writes through the MCFG's ECAM
window, readl/writel, LAPIC registers), boot (LAPIC bring-up from the MADT, PCI
enumeration, driver probe), and the Linux-named entry points drivers call, which hand off to
the IRQ core (os/manage.py: descriptors and the domain hierarchy), the PCI interrupt API
(os/pci_irq.py) and the IPI layer (os/ipi.py). It reads the platform only from the board's
ACPI tables (platform/acpi.py). Each access runs on a simulated CPU and is charged to it
from the timing model.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from irqsim.cpu.topology import Topology
from irqsim.os import pci_irq
from irqsim.os.apic import lapic_timer_tick, setup_local_apic
from irqsim.os.i8253 import PitClockevent
from irqsim.os.i8259 import TIMER_8259_OPTIONS, Legacy8259, legacy_init
from irqsim.os.idt import ExceptionGate, NmiGate, SpuriousGate, SystemGate
from irqsim.os.intx import enable_directed_eoi, intx_route
from irqsim.os.ipi import SmpOps
from irqsim.os.irq import ApicEoi, Handler, IrqDesc
from irqsim.os.irq_remapping import IrRemapDomain, intel_irq_remap_init
from irqsim.os.manage import IrqCore
from irqsim.os.pci import Enumerator, PciDev
from irqsim.os.pci_irq import (  # noqa: F401  (re-exported: drivers import them from here)
    PCI_IRQ_ALL_TYPES,
    PCI_IRQ_INTX,
    PCI_IRQ_MSI,
    PCI_IRQ_MSIX,
)
from irqsim.os.rtc import RtcCmos
from irqsim.os.softirq import Softirqs
from irqsim.os.vectors import (
    CALL_FUNCTION_SINGLE_VECTOR,
    CALL_FUNCTION_VECTOR,
    ERROR_APIC_VECTOR,
    LOCAL_TIMER_VECTOR,
    RESCHEDULE_VECTOR,
    SPURIOUS_APIC_VECTOR,
)
from irqsim.platform.acpi import NMI_ALL_PROCESSORS, AcpiTables
from irqsim.sim.context import SimContext

if TYPE_CHECKING:
    from irqsim.cpu.cpu import Cpu, Fault

INTREMAP_OPTIONS = ("off", "on", "nosid", "nopost")


class PciDriver(Protocol):
    """A driver: matched by (vendor, device), probed with the PciDev."""

    @property
    def name(self) -> str: ...

    @property
    def ids(self) -> tuple[tuple[int, int], ...]: ...

    def probe(self, kernel: Kernel, pdev: PciDev) -> None: ...


class Kernel:
    """The OS instance running on the simulated CPUs."""

    # Shared INTx lines: "until-claimed" (seed 004) or "all" (Linux runs every handler).
    irq_chain = "until-claimed"
    # note_interrupt ("nobody cared"): Linux disables a line when 99,900 of 100,000
    # interrupts went unhandled; irqsim keeps the ratio over a window of interrupts
    # (``spurious_window``, 1,000 by default: IrqGate.SPURIOUS_WINDOW).
    # An unhandled interrupt more than 100 ms after the previous one restarts the count.
    spurious_threshold = 999
    unhandled_age_ns = 100_000_000

    def __init__(self, ctx: SimContext, cpus: list[Cpu], acpi: AcpiTables,
                 first_vector: int = 0x20, last_vector: int = 0xDF,
                 x2apic: bool | None = None, tick_hz: int = 0,
                 timer_mode: str = "periodic", directed_eoi: bool = False,
                 intremap: str = "off", intremap_cfi: bool = False,
                 topology: Topology | None = None, noapic: bool = False,
                 timer_8259: str = "") -> None:
        """``acpi``: the board's firmware tables. Boot options: ``x2apic`` (None: only when
        a MADT APIC ID needs more than 8 bits), ``tick_hz`` (0: no local timer tick) with
        ``timer_mode`` "periodic" or "tsc-deadline", ``directed_eoi`` (use
        suppress-EOI-broadcast when the LAPIC advertises it), ``intremap`` ("off", "on",
        "nosid", "nopost": Linux's intremap=, os/irq_remapping.py) and ``intremap_cfi``
        (let compatibility-format interrupts bypass remapping). Legacy PIC options
        (os/i8259.py, docs/legacy-pc.md): ``noapic`` keeps legacy IRQs on the 8259,
        ``timer_8259`` ("lint0" or "ioapic-pin0") keeps IRQ 0 there through a virtual wire."""
        if timer_mode not in ("periodic", "tsc-deadline"):
            raise ValueError(f"timer_mode must be 'periodic' or 'tsc-deadline', got "
                             f"{timer_mode!r}")
        if intremap not in INTREMAP_OPTIONS:
            raise ValueError(f"intremap must be one of {', '.join(INTREMAP_OPTIONS)}, got "
                             f"{intremap!r}")
        if timer_8259 not in TIMER_8259_OPTIONS:
            raise ValueError(f"timer_8259 must be one of {TIMER_8259_OPTIONS}, got "
                             f"{timer_8259!r}")
        if tick_hz < 0:
            raise ValueError(f"tick_hz must be >= 0, got {tick_hz}")
        self.ctx = ctx
        self.timing = ctx.timing
        self.spend = ctx.sw.charge          # type: ignore[method-assign]  # see spend()
        # The APIC driver's EOI path (x2apic_mode, lapic_base; Linux's apic->eoi).
        self.eoi = ApicEoi(False, acpi.madt.lapic_address)
        self.cpus = cpus
        self.acpi = acpi
        # Parsed from the tables at boot (acpi_boot_init).
        self.ecam_base = 0
        self.madt_ids: list[int] = []
        self.lapic_base = acpi.madt.lapic_address      # the xAPIC page, as the MADT says
        self.lint_nmi: list[set[int]] = []
        self.directed_eoi = directed_eoi
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
        self._dma_cursor = acpi.resources.dma_base
        self._node_cursor: dict[int, int] = {}
        self.boot_ns = 0
        # Local APIC mode, timer tick and the IPI layer (docs/lapic.md, docs/ipi.md).
        self.x2apic_option = x2apic
        self.x2apic_mode = False
        self.tick_hz = tick_hz
        self.timer_mode = timer_mode
        self.ticks = [0] * len(cpus)
        self.exceptions: list[tuple[int, Fault]] = []
        self.apic_errors: list[tuple[int, int, int]] = []
        self.smp = SmpOps(self)
        # The IRQ core: descriptors, per-CPU dispatch tables, vector matrix, domains.
        self.irq = IrqCore(self, first_vector, last_vector)
        self.irqs: dict[int, IrqDesc] = self.irq.irqs
        self.vector_irq = self.irq.vector_irq
        self.vectors = self.irq.matrix
        self.idt = self._build_idt()
        # Interrupt remapping (os/irq_remapping.py) and the kernel log lines it prints.
        self.intremap = intremap
        self.intremap_cfi = intremap_cfi
        self.ir_domain: Any = None
        self.dmesg: list[str] = []
        # Softirqs and NAPI (os/softirq.py): every CPU's irq_exit runs pending softirqs.
        self.softirq = Softirqs(self)
        # Platform half (docs/affinity.md): CPUID topology (SMT siblings, packages), boot
        # options isolcpus= and irqaffinity=, the /proc/irq tree.
        self.topology = topology or Topology.flat(len(cpus))
        self.isolcpus: list[int] = []
        self.isolcpus_flags: frozenset[str] = frozenset()
        self.irq_default_affinity: list[int] | None = None
        from irqsim.os.affinity import ProcIrqFs
        self.procfs = ProcIrqFs(self)
        # The legacy PIC (os/i8259.py): present when the MADT says PC-AT compatible.
        self.noapic = noapic
        self.timer_8259 = timer_8259
        self.pic8259: Legacy8259 | None = Legacy8259(self) if acpi.madt.pcat_compat else None
        # The PIT's clockevent (os/i8253.py): a PC-AT compatible board has the 8254 too.
        self.pit: PitClockevent | None = PitClockevent(self) if acpi.madt.pcat_compat else None
        self.rtc: RtcCmos | None = RtcCmos(self) if acpi.madt.pcat_compat else None

    def cpu_online(self, cpu: int) -> bool:
        """Whether CPU ``cpu`` runs (a CPU sent INIT waits for a start-up IPI: offline)."""
        return self.cpus[cpu].state == "running"

    # -- NUMA as the firmware reports it (SRAT, _PXM) --------------------------------
    def cpu_to_node(self, cpu: int) -> int:
        """NUMA node of CPU ``cpu`` (0 without an SRAT)."""
        numa = self.acpi.numa
        return numa.cpu_node[cpu] if numa is not None else 0

    def dev_to_node(self, pdev: PciDev) -> int:
        """The device's node: its root port's _PXM (-1 without an SRAT)."""
        numa = self.acpi.numa
        if numa is None:
            return -1
        top = pdev
        while top.parent is not None:
            top = top.parent
        return int(numa.port_node.get(top.devfn >> 3, -1)) if top.bus == 0 else -1

    # -- the CPU software runs on now ---------------------------------------------
    @property
    def current_cpu(self) -> Cpu:
        """The CPU whose software section runs now (the BSP outside any section)."""
        cur = self.ctx.sw.current
        return cur.cpu if cur is not None else self.cpus[0]

    def spend(self, ns: int) -> None:
        """The code running now computes for ``ns`` (charged to its section).

        Each kernel binds this to :meth:`Software.charge` of its machine, so a driver's
        call goes straight to the (compiled) section code."""
        self.ctx.sw.charge(ns)

    def acpi_boot_init(self) -> None:
        """Parse MCFG and MADT (Linux acpi_boot_init, pci_mmcfg_init); the _PRT and
        interrupt source overrides are read when a device's line is looked up."""
        acpi = self.acpi
        if not acpi.mcfg:
            raise ValueError("ACPI: no MCFG allocation (no ECAM window)")
        self.ecam_base = acpi.mcfg[0].base
        lapics = [e for e in acpi.madt.lapics if e.enabled]
        if len(lapics) != len(self.cpus):
            raise ValueError(f"ACPI MADT lists {len(lapics)} enabled processors, the board "
                             f"has {len(self.cpus)} CPUs")
        self.madt_ids = [e.apic_id for e in lapics]
        self.lapic_base = acpi.madt.lapic_address      # register_lapic_address
        uids = [e.uid for e in lapics]
        self.lint_nmi = [{n.lint for n in acpi.madt.nmis
                          if n.uid in (uid, NMI_ALL_PROCESSORS)} for uid in uids]

    def printk(self, line: str) -> None:
        """A kernel log line (``dmesg``), stamped at the running section's instant."""
        t = self.current_cpu.clock
        self.dmesg.append(f"[{t // 1_000_000_000:5d}.{t // 1000 % 1_000_000:06d}] {line}")

    # -- tracing of software steps ----------------------------------------------
    def trace_sw(self, src: str, dst: str, label: str, reply: bool = False) -> None:
        """Record a software step (for sequence diagrams) at the software's instant."""
        tr = self.ctx.tracer
        if tr.on:
            tr.emit(self.current_cpu.clock, src, dst, "sw", label=label, reply=reply)

    # -- accessors (run on current_cpu, cost charged to it) ------------------------
    def cfg_read(self, bus: int, devfn: int, offset: int, size: int) -> int:
        addr = self.ecam_base + (bus << 20 | devfn << 12 | offset)
        return self.current_cpu.read(addr, size)

    def cfg_write(self, bus: int, devfn: int, offset: int, size: int, value: int) -> None:
        addr = self.ecam_base + (bus << 20 | devfn << 12 | offset)
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

    def dma_alloc_node(self, size: int, node: int, align: int = 4096) -> int:
        """Memory on NUMA node ``node`` (the SRAT range's bump allocator; node 0 or no
        SRAT: ``dma_alloc``)."""
        numa = self.acpi.numa
        if numa is None or node <= 0:
            return self.dma_alloc(size, align)
        base, span, _ = numa.memory[node]
        cur = self._node_cursor.get(node, base)
        addr = (cur + align - 1) // align * align
        if addr + size > base + span:
            raise OSError(f"node {node}: out of DMA memory")
        self._node_cursor[node] = addr + size
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
        self.acpi_boot_init()
        t0 = self.ctx.engine.now
        for i, cpu in enumerate(self.cpus):
            self.run_on(cpu, partial(self._lapic_init, i, cpu))
        if self.pic8259 is not None:
            self.run_on(self.cpus[0], lambda: legacy_init(self))
        if self.directed_eoi:
            for cpu in self.cpus:
                self.run_on(cpu, lambda: enable_directed_eoi(self))
        if self.intremap != "off":
            self.run_on(self.cpus[0], lambda: intel_irq_remap_init(self))
        self.run_on(self.cpus[0], self._pci_init)
        self.boot_ns = self.ctx.engine.now - t0
        return self.boot_ns

    def _lapic_init(self, i: int, cpu: Cpu) -> None:
        """Per-CPU APIC bring-up (os/apic.py setup_local_apic)."""
        setup_local_apic(self, i, cpu)

    def timer_tick(self, cpu: Cpu) -> None:
        """The local timer interrupt's work (os/apic.py)."""
        lapic_timer_tick(self, cpu)

    def _pci_init(self) -> None:
        self.devices = Enumerator(self).run()
        for pdev in self.devices:
            if not pdev.is_bridge:
                self.probe_driver(pdev)

    def probe_driver(self, pdev: PciDev) -> None:
        """Bind the first driver whose ids match (Linux pci_bus_match + probe); with
        ``pdev.driver_override`` set, only the driver of that name (pci_match_device)."""
        override = pdev.driver_override
        for drv in self.drivers:
            if (drv.name == override if override is not None
                    else (pdev.vendor, pdev.device) in drv.ids):
                pdev.driver = drv
                drv.probe(self, pdev)
                break

    def pci_read_caps(self, pdev: PciDev) -> None:
        """Walk the capability list of a function added after enumeration (a VF)."""
        Enumerator(self).read_caps(pdev)

    def sriov_drivers_autoprobe(self, pdev: PciDev, on: bool) -> None:
        """Write /sys/bus/pci/devices/<pf>/sriov_drivers_autoprobe: with 0, VFs enabled
        later are added without a driver (to be bound with :meth:`pci_bind`, e.g. to
        vfio-pci through ``driver_override``)."""
        if pdev.sriov is None:
            raise OSError(19, f"{pdev.slot}: no SR-IOV capability")           # ENODEV
        pdev.sriov.drivers_autoprobe = on

    def pci_bind(self, pdev: PciDev) -> bool:
        """Write the device to /sys/bus/pci/drivers_probe: bind a driver now (honouring
        ``driver_override``); returns whether one bound."""
        if pdev.driver is None:
            self.run_on(self.cpus[0], lambda: self.probe_driver(pdev))
        return pdev.driver is not None

    def sriov_numvfs(self, pdev: PciDev, n: int) -> int:
        """Write /sys/bus/pci/devices/<pf>/sriov_numvfs: 0 removes the VFs; n > 0 enables n
        (EBUSY if some are already on, as Linux). Returns the number of VFs now enabled."""
        from irqsim.os.iov import pci_disable_sriov, pci_enable_sriov
        cpu = self.cpus[0]
        if n == 0:
            self.run_on(cpu, lambda: pci_disable_sriov(self, pdev))
        else:
            self.run_on(cpu, lambda: pci_enable_sriov(self, pdev, n))
        return pdev.sriov.num_vfs if pdev.sriov is not None else 0

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
        """MSI-X, then MSI, then INTx vectors for ``pdev`` (os/pci_irq.py)."""
        return pci_irq.pci_alloc_irq_vectors(self, pdev, min_vecs, max_vecs, flags, cpus)

    def pci_free_irq_vectors(self, pdev: PciDev) -> None:
        """Release what pci_alloc_irq_vectors allocated (os/pci_irq.py)."""
        pci_irq.pci_free_irq_vectors(self, pdev)

    def pci_irq_vector(self, pdev: PciDev, nr: int) -> int:
        """Linux IRQ number of the device's ``nr``-th vector."""
        return pci_irq.pci_irq_vector(pdev, nr)

    def msix_share_entry(self, pdev: PciDev, entry: int, irq: int) -> None:
        """Program MSI-X ``entry`` with the same message as ``irq`` (seed 002's kernel)."""
        pci_irq.msix_share_entry(self, pdev, entry, irq)

    def pci_request_irq(self, pdev: PciDev, nr: int, handler: Handler, name: str,
                        dev_id: Any = None, flags: int = 0) -> int:
        """request_irq for the device's ``nr``-th vector (INTx shared). Returns the IRQ."""
        return pci_irq.pci_request_irq(self, pdev, nr, handler, name, dev_id, flags)

    def request_irq(self, irq: int, handler: Handler, flags: int, name: str,
                    dev_id: Any = None, slot: str = "") -> None:
        """Attach ``handler`` to ``irq`` (shared lines need IRQF_SHARED on every action)."""
        self.irq.request_irq(irq, handler, flags, name, dev_id, slot)

    def free_irq(self, irq: int, dev_id: Any = None) -> str:
        """Remove ``dev_id``'s handler; the last one masks the source, frees the vector."""
        return self.irq.free_irq(irq, dev_id)

    def disable_irq(self, irq: int) -> None:
        """Mask the IRQ's source (I/O APIC entry, MSI mask bit, MSI-X entry)."""
        self.irq.disable_irq(irq)

    def enable_irq(self, irq: int) -> None:
        """Unmask the IRQ's source (a pending MSI/MSI-X message or a level line then fires)."""
        self.irq.enable_irq(irq)

    def irq_set_affinity(self, irq: int, cpus: list[int]) -> list[int]:
        """Retarget ``irq`` to CPUs ``cpus``; returns the effective affinity."""
        return self.irq.irq_set_affinity(irq, cpus)

    def irq_set_vcpu_affinity(self, irq: int, target: tuple[int, int, bool] | None) -> None:
        """Post ``irq`` to a vCPU: ``target`` = (posted-interrupt descriptor address, virtual
        vector, urgent), or None to remap it to its host vector again (Linux
        irq_set_vcpu_affinity -> intel_ir_set_vcpu_affinity). Needs interrupt remapping."""
        desc = self.irqs.get(irq)
        d = desc.data if desc is not None else None
        while d is not None and not getattr(d.domain, "remapping", False):
            d = d.parent
        if d is None:
            raise OSError(f"irq_set_vcpu_affinity: IRQ {irq} is not remapped (ENODEV)")
        dom = d.domain
        assert isinstance(dom, IrRemapDomain)
        self.run_on(self.current_cpu, lambda: dom.irq_set_vcpu_affinity(d, target))

    def note_interrupt(self, desc: IrqDesc, handled: bool) -> None:
        """Linux's note_interrupt (os/manage.py)."""
        self.irq.note_interrupt(desc, handled)

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
        return cpu.read(self.lapic_base + reg)

    def apic_write(self, cpu: Cpu, reg: int, value: int) -> None:
        """Write LAPIC register ``reg`` (xAPIC offset): MMIO, or WRMSR in x2APIC mode."""
        if self.x2apic_mode:
            cpu.wrmsr(0x800 + (reg >> 4), value)
        else:
            cpu.write(self.lapic_base + reg, 4, value)

    def apic_eoi(self, cpu: Cpu) -> None:
        """Acknowledge the LAPIC (EOI register write)."""
        self.eoi.write(cpu)

    @property
    def spurious_window(self) -> int:
        """Interrupts per note_interrupt window (kept by the device gate, which counts)."""
        return self.irq.gate.spurious_window

    @spurious_window.setter
    def spurious_window(self, n: int) -> None:
        self.irq.gate.spurious_window = n

    @property
    def x2apic_mode(self) -> bool:
        """Whether the kernel drives its LAPICs in x2APIC mode (MSRs) or xAPIC (MMIO)."""
        return self.eoi.x2apic

    @x2apic_mode.setter
    def x2apic_mode(self, on: bool) -> None:
        self.eoi.x2apic = bool(on)

    @property
    def lapic_base(self) -> int:
        """The xAPIC register page's physical address (the MADT's, or as relocated)."""
        return self.eoi.base

    @lapic_base.setter
    def lapic_base(self, base: int) -> None:
        self.eoi.base = base

    def run_section(self, cpu: Cpu, fn: Callable[[], object]) -> int:
        """Same as ``run_on`` (kept for callers of the earlier API)."""
        return self.run_on(cpu, fn)

    def _build_idt(self) -> list[Any]:
        """The shared IDT: exceptions, device vectors, Linux's system vectors."""
        exc = ExceptionGate(self)
        dev = self.irq.gate
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

    # -- views ----------------------------------------------------------------------
    def interrupt_rows(self) -> list[dict[str, Any]]:
        """Rows for /proc/interrupts: one per IRQ with per-CPU counts."""
        return self.irq.interrupt_rows()

    def proc_irq(self, irq: int) -> dict[str, str]:
        """/proc/irq/N/ files: smp_affinity, effective_affinity (and their _list forms)."""
        return self.irq.proc_irq(irq)
