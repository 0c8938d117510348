"""The board: builds and wires the hardware blocks and the OS into one machine."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
from typing import Any

from irqsim.apic.i8259 import IsaIrqLines, PicPair
from irqsim.apic.interconnect import ApicBus
from irqsim.apic.ioapic import IoApic
from irqsim.apic.lapic import APIC_DEFAULT_BASE, LocalApic
from irqsim.cpu.cpu import Cpu
from irqsim.cpu.cpuid import Cpuid
from irqsim.cpu.idle import CSTATE_TABLES, NO_TIMER, CState, IdleCpu
from irqsim.cpu.topology import Topology
from irqsim.devices.i8254 import Pit8254
from irqsim.devices.mc146818 import Rtc
from irqsim.fabric.memory import SystemMemory
from irqsim.fabric.root_complex import ECAM_BASE, ECAM_SIZE, RootComplex, RootPort
from irqsim.fabric.switch import Switch
from irqsim.fabric.tlp import Tlp
from irqsim.iommu.vtd import Iommu, IommuOptions
from irqsim.os.affinity import AFTER_BOOT
from irqsim.os.isolation import parse_isolcpus
from irqsim.os.kernel import Kernel
from irqsim.pci.bridge import PciBridge
from irqsim.pci.express import (
    DEFAULT_LINK,
    DEFAULT_ROOT_PORT_LINK,
    LinkSpec,
    link_capability,
    set_link_capability,
)
from irqsim.pci.function import PciFunction
from irqsim.pci.msi import MsiCapability
from irqsim.pci.msix import MsixCapability
from irqsim.platform.acpi import (
    DMAR_INTR_REMAP,
    DMAR_SCOPE_IOAPIC,
    DMAR_X2APIC_OPT_OUT,
    NMI_ALL_PROCESSORS,
    AcpiTables,
    Dmar,
    DmarDeviceScope,
    DmarDrhd,
    HostBridgeResources,
    Madt,
    MadtIntSrcOverride,
    MadtIoApic,
    MadtLapicNmi,
    MadtLocalApic,
    McfgAllocation,
)
from irqsim.platform.numa import NumaInfo
from irqsim.sim import budget as _budget
from irqsim.sim.accounting import DebugLedger, Ledger
from irqsim.sim.context import SimContext
from irqsim.sim.rules import rule
from irqsim.sim.stats import LatencyRecorder
from irqsim.sim.timing import TimingModel, default_timing
from irqsim.sim.trace import Tracer
from irqsim.spec.cpu import MAXPHYADDR
from irqsim.spec.i8259 import PIC_PORTS
from irqsim.spec.ioapic import IOAPIC_DEFAULT_BASE, IOREDTBL

R_PENDING_MASKED_AT_IDLE = rule(
    "MSIX-PENDING-MASKED-AT-IDLE", "PCIe 6.1.4.5",
    "an MSI-X vector masked with its Pending bit set is delivered only when unmasked")

# The board's address map as its firmware reports it (host bridge _CRS windows, e820 RAM).
MMIO32_WINDOW = (0xC0000000, 0xFEBFFFFF)      # below the I/O APIC and LAPIC pages
MMIO64_BASE = 0x8_0000_0000
DMA_RAM_BASE = 0x0100_0000                    # RAM the OS hands out for rings and buffers


@dataclass(frozen=True, slots=True)
class CpuOptions:
    """One logical processor: its (initial x2)APIC ID and the features CPUID reports."""

    apic_id: int
    x2apic: bool = True             # CPUID.01H:ECX[21]; without it EXTD=1 raises #GP
    tsc_deadline: bool = True       # CPUID.01H:ECX[24]; without it LVT Timer bit 18 is reserved
    arat: bool = True               # CPUID.06H:EAX[2] (reported only: C-states not modelled)


@dataclass(frozen=True, slots=True)
class IoApicOptions:
    """One I/O APIC: its ID (bits 27:24 of IOAPICID), MMIO base, first GSI, input pins and
    version (0x11: no EOI register; 0x20: EOI register, 82093AA / ICH)."""

    id: int = 0
    base: int = IOAPIC_DEFAULT_BASE
    gsi_base: int = 0
    pins: int = 24
    version: int = 0x20


class Machine:
    """CPUs with Local APICs, a root complex with root ports, an IOMMU, memory, an OS."""

    def __init__(self, ncpus: int | None = None, apic_ids: list[int] | None = None,
                 timing: TimingModel | None = None, trace: bool | Tracer = False,
                 latency: bool = True, first_vector: int = 0x20,
                 last_vector: int = 0xDF, topology: Topology | None = None,
                 x2apic: bool | None = None, tick_hz: int = 0,
                 timer_mode: str = "periodic", cmci: bool = False,
                 directed_eoi: bool = False, ledger_debug: bool = False,
                 cpus: Sequence[CpuOptions] | None = None,
                 ioapics: Sequence[IoApicOptions] | None = None,
                 iommu: IommuOptions | None = None, maxphyaddr: int = MAXPHYADDR,
                 start_ns: int = 0, cpu_class: type[Cpu] = Cpu,
                 intremap: bool | str | None = None, intremap_cfi: bool | None = None,
                 cstates: str | tuple[CState, ...] | None = None,
                 pm_qos_ns: int | None = None, isolcpus: str | None = None,
                 pic: bool = False, isa_ioapic: dict[int, int] | None = None,
                 noapic: bool = False, timer_8259: str = "",
                 pcie_link: LinkSpec | None = None) -> None:
        """``ncpus`` CPUs (default: all of ``topology``, else 1) with APIC IDs from
        ``apic_ids`` or the topology; ``x2apic``/``tick_hz``/``timer_mode`` are boot options
        of the OS (None: x2APIC when an ID does not fit xAPIC's 8 bits); ``directed_eoi``:
        the LAPICs advertise suppress-EOI-broadcast and the OS uses it. ``trace``: record
        the trace (or this :class:`Tracer`, with its own bounds and sink). ``ledger_debug``:
        follow every interrupt id and raise :class:`LedgerError` where the books break.
        ``cpu_class``: the processor model (a subclass of :class:`Cpu`, e.g. the guest
        front-end's, which runs real x86 code). ``intremap``: the OS's interrupt remapping
        (False/"off", True/"on", "nosid", "nopost"; docs/vtd.md), ``intremap_cfi``: let
        compatibility-format interrupts bypass it.

        Board options (the test bench's; docs/testbench.md): ``cpus`` gives each CPU's
        APIC ID and features (it replaces ``ncpus``/``apic_ids``), ``ioapics`` the I/O
        APICs (default: one, ID 0 at 0xFEC00000, GSIs 0-23), ``iommu`` the VT-d unit's
        options (base, capabilities; the DMAR table describes it), ``maxphyaddr`` the
        physical address width, ``start_ns`` the engine's clock at power-on. Building does
        not boot: the kernel exists but runs only when :meth:`boot` is called.
        ``cstates``: idle CPUs enter C-states (a table name of cpu/idle.py CSTATE_TABLES:
        "skx", "icx", "spr", "hsw"; "poll" for idle=poll; or a table) chosen by the governor
        under the PM-QoS limit ``pm_qos_ns``; None: no idle states (nothing on the interrupt
        path); C-states need the default ``cpu_class``. ``isolcpus``: the boot option's
        value (``[managed_irq,domain,]LIST``). Defaults for ``cstates``/``pm_qos_ns``/
        ``isolcpus`` (and ``intremap``/``intremap_cfi``/``iommu``: off/False/the default unit)
        come from :data:`PLATFORM` when a command set them (``irqsim platform``, experiment
        files' ``[platform]``).

        Legacy platform (docs/legacy-pc.md): ``pic`` adds the 8259A pair (ports 0x20/0x21,
        0xA0/0xA1, ELCR 0x4D0/0x4D1), the 8254 PIT (``pit``: ports 0x40-0x43 and 0x61,
        counter 0 on ISA IRQ 0) and the MC146818 RTC (``rtc``: ports 0x70-0x73, IRQ 8), the
        pair's INT output wired to every LAPIC's LINT0 and to
        input 0 of the I/O APIC with GSI 0, and the ISA IRQ lines (``isa_irq``), each
        wired to its 8259 input and to the I/O APIC input ``isa_ioapic`` gives (ISA IRQ ->
        GSI; default IRQ 0 -> GSI 2, the others identity, as the MADT overrides say).
        ``noapic`` / ``timer_8259`` are the OS's boot options (os/i8259.py).
        ``pcie_link``: every root port, switch port and added device is built with this
        maximum link (LnkCap) instead of its own (docs/timing.md "Links")."""
        plat = PLATFORM.get()
        self.pcie_link = pcie_link if pcie_link is not None else plat.get("pcie_link")
        intremap = intremap if intremap is not None else plat.get("intremap", False)
        intremap_cfi = intremap_cfi if intremap_cfi is not None else \
            bool(plat.get("intremap_cfi", False))
        iommu = iommu if iommu is not None else plat.get("iommu")
        cstates = cstates if cstates is not None else plat.get("cstates")
        qos: int = pm_qos_ns if pm_qos_ns is not None else int(plat.get("pm_qos_ns", NO_TIMER))
        isolcpus = isolcpus if isolcpus is not None else plat.get("isolcpus")
        opt = intremap if isinstance(intremap, str) else ("on" if intremap else "off")
        table = None
        if cstates is not None:
            if cpu_class is not Cpu:
                raise ValueError("cstates: C-states model the default Cpu, not "
                                 f"{cpu_class.__name__}")
            if isinstance(cstates, str):
                if cstates not in CSTATE_TABLES:
                    raise ValueError(f"cstates must be one of {sorted(CSTATE_TABLES)}, got "
                                     f"{cstates!r}")
                table = CSTATE_TABLES[cstates]
            else:
                table = tuple(cstates)
        if cpus is not None:
            if not cpus:
                raise ValueError("cpus must list at least one CPU")
            if (ncpus is not None and ncpus != len(cpus)) or apic_ids is not None:
                raise ValueError("give either cpus or ncpus/apic_ids, not both")
            ncpus, apic_ids = len(cpus), [c.apic_id for c in cpus]
            if topology is None:
                topology = Topology.flat(max(max(apic_ids) + 1, len(cpus)))
        if topology is None:
            n = 1 if ncpus is None else ncpus
            topology = Topology.flat(max(n, 1))
        n = topology.ncpus if ncpus is None else ncpus
        if n < 1:
            raise ValueError(f"ncpus must be >= 1, got {n}")
        if n > topology.ncpus:
            raise ValueError(f"ncpus {n} exceeds the topology's {topology.ncpus} CPUs")
        ids = apic_ids if apic_ids is not None else topology.ids()[:n]
        if len(ids) != n or len(set(ids)) != n:
            raise ValueError(f"apic_ids must be {n} distinct IDs, got {ids}")
        self.topology = topology
        tracer = trace if isinstance(trace, Tracer) else Tracer(on=trace)
        self.ctx = ctx = SimContext(timing=timing or default_timing(), tracer=tracer,
                                    ledger=DebugLedger() if ledger_debug else Ledger())
        if start_ns:
            ctx.engine.now = start_ns
        self.maxphyaddr = maxphyaddr
        self.memory = SystemMemory()
        self.apic_bus = ApicBus(ctx)
        self.iommu_options = io_opts = iommu or IommuOptions()
        self.iommu = Iommu(ctx, self.memory, io_opts.base, pi=io_opts.pi, eim=io_opts.eim,
                           nfr=io_opts.nfr, iec=io_opts.iec, cmd_delay_ns=io_opts.cmd_delay_ns)
        self.rc = RootComplex(ctx, self.memory, self.iommu, self.apic_bus)
        self.rc.extra_mmio[0] = (self.iommu_options.base, 0x1000, self.iommu)
        # The chipset I/O APIC at 0xFEC00000, GSIs 0-23 (PCI INTx lines use 16-23), or the
        # ones asked for; ``ioapic`` is the first.
        self.ioapics = [IoApic(ctx, self.apic_bus, name=f"IOAPIC{i}", base=o.base,
                               pins=o.pins, version=o.version, apic_id=o.id,
                               gsi_base=o.gsi_base)
                        for i, o in enumerate(ioapics or [IoApicOptions()])]
        self.ioapic = self.ioapics[0]
        for i, io in enumerate(self.ioapics):
            io.source_id += i          # ff:00.0, ff:00.1, ...: each declared in the DMAR
            self.rc.attach_ioapic(io)
        # A probe on the trace points, not part of the hardware.
        self.recorder = LatencyRecorder(ctx.points) if latency else None
        self.lapics: list[LocalApic] = []
        self.cpus: list[Cpu] = []
        idt: list[Any] = [None] * 256      # until the OS loads its own table
        core_key = topology.core_key
        socket_key = topology.socket_key
        opts = list(cpus) if cpus is not None else [CpuOptions(aid) for aid in ids]
        self.cpu_options = opts
        for i, aid in enumerate(ids):
            o = opts[i]
            lapic = LocalApic(ctx, aid, bsp=i == 0, cmci=cmci, directed_eoi=directed_eoi,
                              x2apic_capable=o.x2apic, tsc_deadline=o.tsc_deadline,
                              maxphyaddr=maxphyaddr)
            lapic.core_key = core_key(aid)
            lapic.socket_key = socket_key(aid)
            self.apic_bus.add(lapic)
            cpu = (cpu_class(ctx, i, lapic, self.rc, idt) if table is None
                   else IdleCpu(ctx, i, lapic, self.rc, idt, table, qos))
            self.lapics.append(lapic)
            self.cpus.append(cpu)
        self.pic: PicPair | None = None
        self.isa: IsaIrqLines | None = None
        self.isa_gsi: dict[int, int] = {}
        if pic:
            self._build_legacy(isa_ioapic)
        self.acpi = self._build_acpi(list(ids))
        # NUMA (topology.nodes > 1): the SRAT/SLIT the firmware reports, which the root
        # complex prices RAM accesses and interrupt hops with (docs/performance-platform.md).
        self.numa: NumaInfo | None = None
        if topology.nodes > 1:
            self.numa = NumaInfo.build(topology, list(ids), self.memory.size, ctx.timing)
            self.acpi.numa = self.numa
            self.rc.numa = self.numa
            self.apic_bus.node_of_apic = self.numa.apic_node
        self.kernel = Kernel(ctx, self.cpus, self.acpi, first_vector=first_vector,
                             last_vector=last_vector, x2apic=x2apic, tick_hz=tick_hz,
                             timer_mode=timer_mode, directed_eoi=directed_eoi,
                             intremap=opt, intremap_cfi=intremap_cfi,
                             topology=topology, noapic=noapic, timer_8259=timer_8259)
        if isolcpus:
            self.kernel.isolcpus, self.kernel.isolcpus_flags = parse_isolcpus(isolcpus, n)
        self.devices: list[PciFunction] = []
        self.switches: list[Switch] = []
        self.isa_devices: list[Any] = []
        # The PC/AT's 8254 (ports 40h-43h, 61h; counter 0 on ISA IRQ 0) and MC146818 RTC
        # (ports 70h-73h, ISA IRQ 8) come with the 8259.
        self.pit: Pit8254 | None = None
        self.rtc: Rtc | None = None
        if self.pic is not None:
            self.pit = self.add_isa(Pit8254(self.ctx))
            self.rtc = self.add_isa(Rtc(self.ctx))
        watch = RUN_PROGRESS.get()
        if watch is not None:
            watch(self)
        self._next_port = 1
        self.port_node: dict[str, int] = {}      # root port name -> NUMA node
        self.budget = _budget.current()      # the command's run budget (None: unbounded)

    def _build_legacy(self, isa_ioapic: dict[int, int] | None) -> None:
        """The 8259 pair, its INT output's two virtual wires, the ISA IRQ lines."""
        p = self.pic = PicPair(self.ctx)
        self.rc.map_io(PIC_PORTS, p)
        for a in self.lapics:
            a.pic = p
            p.int_listeners.append(a.lint0_input)
        io0 = self.rc.ioapic_for(0)
        if io0 is not None:
            p.int_listeners.append(partial(_pic_int_to_pin0, io0))
        wiring = isa_ioapic if isa_ioapic is not None else {
            irq: (2 if irq == 0 else irq) for irq in range(16) if irq != 2}
        pins = {}
        for irq, gsi in wiring.items():
            io = self.rc.ioapic_for(gsi)
            if io is None:
                raise ValueError(f"ISA IRQ {irq}: GSI {gsi} is not an input of any I/O APIC")
            pins[irq] = (io, gsi - io.gsi_base)
        self.isa_gsi = dict(wiring)
        self.isa = IsaIrqLines(self.ctx, p, pins)
        self.rc.pirq_listener = self._pirq

    def _pirq(self, key: tuple[int, int, int], asserted: bool, tlp: Tlp) -> None:
        """A conventional PCI pin seen by the PIRQ router: to the 8259 input it steers the
        pin to (the routes the _PRT reports in PIC mode)."""
        irq = self.acpi.prt_pic.get(key)
        if irq is None or self.pic is None:
            return
        t = self.ctx.engine.now
        self.ctx.engine.after(self.ctx.timing.pirq_route, self._pirq_arrive,
                              (irq, int(asserted), tlp.source, t))

    def _pirq_arrive(self, arg: tuple[int, int, str, int]) -> None:
        irq, level, source, t = arg
        assert self.pic is not None
        self.pic.set_irq(irq, level, source, t)

    def isa_irq(self, irq: int, level: int, source: str = "ISA") -> None:
        """Drive ISA IRQ line ``irq`` (needs ``pic``): its 8259 input and I/O APIC input."""
        if self.isa is None:
            raise ValueError("isa_irq: the board has no ISA IRQ lines (Machine(pic=True))")
        self.isa.set_irq(irq, level, source)

    def add_isa(self, dev: Any) -> Any:
        """Put an ISA device (devices/isa.py) on the board: its I/O ports decoded, its IRQ
        line wired."""
        if self.isa is None:
            raise ValueError("add_isa: the board has no ISA IRQ lines (Machine(pic=True))")
        dev.attach(self.isa)
        if dev.ports:
            self.rc.map_io(dev.ports, dev)
        self.isa_devices.append(dev)
        return dev

    def add_conventional(self, fn: PciFunction, device: int, gsi: int | None = None,
                         isa_irq: int | None = None) -> PciFunction:
        """A conventional PCI function on bus 0 at ``device`` with a physical INTx# pin:
        the board wires it to I/O APIC input ``gsi`` (default: as a root port's, _PRT) and,
        with an 8259, steers it to ISA IRQ ``isa_irq`` (the _PRT's PIC-mode route). Its
        registers (the regions mapped so far) sit across a 33 MHz bus: a read also waits
        ``pci33_read``."""
        if gsi is not None:
            for pin in range(1, 5):
                self.route_intx(0, device, pin, gsi)
        self.add_integrated(fn, device)
        fn.intx_pin_wire = self.rc.intx_pin
        for regions in fn.regions.values():         # its registers are across the 33 MHz bus
            regions[:] = [(off, size, ConventionalRegion(self.ctx, r))
                          for off, size, r in regions]
        if isa_irq is not None:
            for pin in range(1, 5):
                self.acpi.prt_pic[(0, device, pin)] = isa_irq
        return fn

    def _build_acpi(self, ids: list[int]) -> AcpiTables:
        """The firmware tables describing what was built: MCFG (the root complex's ECAM
        window), MADT (LAPICs with their APIC IDs, the I/O APICs, LINT1 as NMI on every
        processor), the host bridge resources; the _PRT grows as root ports are wired."""
        madt = Madt(APIC_DEFAULT_BASE,
                    lapics=[MadtLocalApic(i, aid) for i, aid in enumerate(ids)],
                    ioapics=[MadtIoApic(io.id >> 24, io.base, io.gsi_base)
                             for io in self.ioapics],
                    nmis=[MadtLapicNmi(NMI_ALL_PROCESSORS, 1)])
        if self.pic is not None:
            madt.pcat_compat = True
            madt.overrides = [MadtIntSrcOverride(irq, gsi) for irq, gsi in
                              sorted(self.isa_gsi.items()) if irq != gsi]
        scopes = tuple(DmarDeviceScope(DMAR_SCOPE_IOAPIC, io.id >> 24, io.source_id >> 8,
                                       ((io.source_id >> 3 & 0x1F, io.source_id & 7),))
                       for io in self.ioapics)
        dmar = Dmar(45, DMAR_INTR_REMAP | (DMAR_X2APIC_OPT_OUT
                                           if self.iommu_options.x2apic_opt_out else 0),
                    (DmarDrhd(self.iommu.base, scopes=scopes),))
        return AcpiTables(
            mcfg=[McfgAllocation(ECAM_BASE, 0, 0, (ECAM_SIZE >> 20) - 1)],
            madt=madt,
            resources=HostBridgeResources(*MMIO32_WINDOW, mmio64_base=MMIO64_BASE,
                                          dma_base=DMA_RAM_BASE),
            dmar=dmar)

    def cpuid(self, cpu: int) -> Cpuid:
        """CPUID of CPU ``cpu`` (index), from its options, the topology and MAXPHYADDR."""
        o = self.cpu_options[cpu]
        topo = self.topology
        return Cpuid(o.apic_id, x2apic=o.x2apic, tsc_deadline=o.tsc_deadline, arat=o.arat,
                     maxphyaddr=self.maxphyaddr, thread_bits=topo.tbits, core_bits=topo.cbits,
                     threads=topo.threads, cores=topo.cores)

    @property
    def engine(self) -> Any:
        return self.ctx.engine

    @property
    def now(self) -> int:
        return self.ctx.engine.now

    # -- building -----------------------------------------------------------------
    def add_root_port(self, node: int = 0) -> RootPort:
        """A root port on bus 0 (on NUMA node ``node``: its _PXM); its INTA-INTD wires are
        routed to GSIs 16-23."""
        while self._next_port << 3 in self.rc.bus0:     # an integrated endpoint is there
            self._next_port += 1
        port = self.rc.add_root_port(self._next_port,
                                     link=self.pcie_link or DEFAULT_ROOT_PORT_LINK)
        self.port_node[port.name] = node
        if self.numa is not None:
            if not 0 <= node < self.numa.nodes:
                raise ValueError(f"node {node} is not one of the {self.numa.nodes} NUMA nodes")
            self.numa.port_node[self._next_port] = node
        for pin in range(1, 5):
            self.route_intx(0, self._next_port, pin, intx_gsi(self._next_port, pin))
        self._next_port += 1
        return port

    def route_intx(self, bus: int, device: int, pin: int, gsi: int) -> None:
        """Wire (bus, device, pin) to I/O APIC input ``gsi`` and describe it in the _PRT."""
        self.rc.route_intx(bus, device, pin, gsi)
        self.acpi.prt[(bus, device, pin)] = gsi

    def add_integrated(self, fn: PciFunction, device: int, function: int = 0) -> PciFunction:
        """Put ``fn`` on bus 0 at ``device``.``function`` as a root-complex integrated
        endpoint (PCIe 1.3.2.3); its INTx pins are routed like a root port's (_PRT)."""
        if not 0 <= device < 32 or not 0 <= function < 8:
            raise ValueError(f"device {device} / function {function} out of range")
        self.rc.add_integrated(fn, device << 3 | function)
        for pin in range(1, 5):
            if (0, device, pin) not in self.rc.intx_routes:
                self.route_intx(0, device, pin, intx_gsi(device, pin))
        self.devices.append(fn)
        return fn

    def add_switch(self, ports: int = 4, port: PciBridge | None = None,
                   name: str | None = None) -> Switch:
        """A switch with ``ports`` downstream ports below ``port`` (a new root port if None)."""
        port = port or self.add_root_port()
        sw = Switch(self.ctx, name or f"Switch{len(self.switches)}", ports,
                    link=self.pcie_link or DEFAULT_LINK)
        self.rc.connect(port, sw.upstream)
        for dp in sw.downstream:            # below the same root port: the same node
            self.port_node[dp.name] = self.port_node.get(port.name, 0)
        self.switches.append(sw)
        return sw

    def add_device(self, fn: PciFunction, port: PciBridge | None = None,
                   node: int = 0) -> PciFunction:
        """Attach an endpoint below ``port`` (a root or switch downstream port; a new root
        port on NUMA node ``node`` if None)."""
        if port is None:
            port = self.add_root_port(node)
        else:
            node = self.port_node.get(port.name, node)
        if self.pcie_link is not None and link_capability(fn.config) is not None:
            set_link_capability(fn.config, self.pcie_link)     # the capability's own offset
        self.rc.connect(port, fn)
        self.devices.append(fn)
        self.rc.source_node[fn.name] = node
        return fn

    def use_directed_eoi(self) -> None:
        """Advertise suppress-EOI-broadcast (LVR bit 24) and have the OS use it: level EOIs
        then go to the I/O APIC's EOI register instead of the broadcast (SDM 10.8.5). Same
        as ``Machine(directed_eoi=True)``; call it before ``boot``."""
        for a in self.lapics:
            a.version |= 1 << 24
        self.kernel.directed_eoi = True             # boot option

    def device(self, name: str) -> PciFunction:
        """The endpoint called ``name``."""
        for d in self.devices:
            if d.name == name:
                return d
        raise KeyError(f"no device named {name!r}")

    def nmi_button(self, cpu: int = 0) -> None:
        """Assert the LINT1 pin of ``cpu``'s LAPIC (the board's NMI line)."""
        self.lapics[cpu].lint(1)

    # -- running --------------------------------------------------------------------
    def boot(self) -> int:
        """Run the OS's boot on the CPUs; returns with the boot over (its duration in ns).
        Then the run-time changes a command asked for (``AFTER_BOOT``) are applied."""
        ns = self.kernel.boot()
        for hook in AFTER_BOOT.get():
            hook(self)
        return ns

    def run(self, until: int | None = None) -> int:
        """Run the engine until idle or ``until``; within the machine's budget if it has one
        (BudgetExceeded if the run breaks it). Returns events run."""
        engine = self.ctx.engine
        n = (self.budget.run(self, until) if self.budget is not None
             else engine.run(until=until))
        if until is None and engine.peek() is None:
            self._idle_checks()
        return n

    def _idle_checks(self) -> None:
        """The machine went idle: say what can now never be delivered (counted as pending)."""
        for d in self.devices:
            cap = getattr(d, "msix", None)
            if isinstance(cap, MsixCapability) and cap.pba:
                k = [i for i in range(cap.n) if cap.pba >> i & 1]
                self.ctx.diag(d.name, R_PENDING_MASKED_AT_IDLE,
                              f"the machine went idle with MSI-X entries {k} pending (PBA) "
                              "under a mask nobody clears: never delivered")

    def cpu_time(self) -> list[dict[str, int]]:
        """Per CPU: simulated ns in hardirq, softirq, task and idle context (each CPU's
        four add up to the simulated time), as /proc/stat splits a CPU's time."""
        return [c.cpu_time() for c in self.cpus]

    def cstate_residency(self) -> list[dict[str, int]]:
        """Per CPU: ns spent in each idle state (empty without C-states)."""
        return [c.cstate_residency() if isinstance(c, IdleCpu) else {} for c in self.cpus]

    # -- accounting -------------------------------------------------------------------
    def mechanism_pending(self) -> dict[str, int]:
        """Pending MSI bits, held INTx conditions, held I/O APIC level requests."""
        msi = intx = 0
        for fn in self.rc.functions():
            cap = getattr(fn, "msi", None)
            if isinstance(cap, MsiCapability):
                msi += cap.pending_bits.bit_count()
            if fn.intx_held:
                intx += 1
        out = {"msi": msi, "intx": intx, "ioapic": sum(io.pending() for io in self.ioapics)}
        if self.pic is not None:
            out["pic"] = self.pic.pending()
        return out

    def pending(self) -> dict[str, int]:
        """Interrupts held pending in architectural state: PBA bits (of every function in
        the hierarchy: SR-IOV VFs included) and IRR bits."""
        pba = 0
        for d in self.rc.functions():
            cap = getattr(d, "msix", None)
            if isinstance(cap, MsixCapability):
                pba += bin(cap.pba).count("1")
        irr = sum(a.irr.bit_count() for a in self.lapics)
        nmi = sum(1 for c in self.cpus if c.nmi_latched)
        out = {"pba": pba, "irr": irr, "nmi": nmi, **self.mechanism_pending()}
        if self.iommu.posted_pids:          # posted interrupts waiting in descriptors' PIRs
            out["pir"] = self.iommu.pir_pending()
        return out

    def accounting(self) -> dict[str, Any]:
        """The ledger plus pending state; ``balanced`` proves nothing was lost."""
        led = self.ctx.ledger
        pend = self.pending()
        dropped = sum(led.dropped.values())
        in_service = sum(1 for c in self.cpus for f in c.frames if not f.spurious)
        total = led.delivered + led.merged + dropped + sum(pend.values()) + led.in_flight
        return {**led.as_dict(), "pending": pend, "in_service": in_service,
                "accounted": total, "balanced": total == led.raised and led.counters_ok()}


RTE_MASKED = IOREDTBL.mask("mask")

# Platform boot options a command sets for every machine it builds (``irqsim platform``,
# experiment files): "cstates", "pm_qos_ns", "isolcpus", "intremap", "intremap_cfi",
# "iommu" (an IommuOptions), "pcie_link" (a LinkSpec) -- the Machine arguments' defaults.
PLATFORM: ContextVar[dict[str, Any]] = ContextVar("PLATFORM", default={})  # noqa: B039

# Who wants to watch the machines built in this context (the CLI's progress line: it reads
# their clock and ledger from another thread, so a run is the same watched or not).
RUN_PROGRESS: ContextVar[Callable[[Machine], None] | None] = ContextVar("RUN_PROGRESS",
                                                                      default=None)


class ConventionalRegion:
    """A conventional PCI function's register block seen from the CPU: a read (non-posted)
    also waits for the 33 MHz bus, charged to the software section that makes it; writes
    are posted."""

    __slots__ = ("ctx", "inner")

    def __init__(self, ctx: SimContext, inner: Any) -> None:
        self.ctx = ctx
        self.inner = inner

    def mmio_read(self, offset: int, size: int) -> int:
        sec = self.ctx.sw.current
        if sec is not None:
            ns = self.ctx.timing.pci33_read
            sec.clock += ns
            sec.busy += ns
        return int(self.inner.mmio_read(offset, size))

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        self.inner.mmio_write(offset, size, value)


def _pic_int_to_pin0(io: IoApic, level: int) -> None:
    """The 8259's INT output on I/O APIC input 0. It is a signal, not an interrupt of its
    own: while the entry is masked the input only follows the level (an edge on a masked
    entry is lost anyway, 82093AA 3.2.4), so nothing is counted; unmasked (ExtINT), it is
    an input like any other."""
    if io.rte[0] & RTE_MASKED:
        io.line[0] = level
    else:
        io.set_pin(0, level)


def intx_gsi(device: int, pin: int) -> int:
    """Board INTx routing: root port ``device``'s pin 1-4 -> GSI 16-23, rotated by device."""
    return 16 + (device - 1 + pin - 1) % 8
