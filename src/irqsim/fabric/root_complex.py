"""The root complex: root ports, configuration access (ECAM and 0xCF8/0xCFC),
CPU memory routing, the upstream path that steers 0xFEExxxxx writes to the
interrupt path through the IOMMU (seed 003 "Root Complex Processing"), and the
INTx router: each root port's four (collapsed, swizzled) virtual wires map to
I/O APIC inputs through a routing table keyed (bus, device, pin) -- the role
ACPI _PRT plays -- and every input is the OR of the wires routed to it
(seed 004 "The Root Complex tracks the assertion state of all four virtual
wires for each downstream port").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Protocol

from irqsim.apic.interconnect import ApicBus
from irqsim.apic.ioapic import IoApic
from irqsim.fabric.link import Link
from irqsim.fabric.memory import SystemMemory
from irqsim.fabric.tlp import INTX_NAMES, MWR, Tlp, intx_decode
from irqsim.iommu.vtd import Iommu
from irqsim.pci.bridge import R_MESSAGE_NOT_MODELLED, R_UNSUPPORTED_REQUEST, PciBridge
from irqsim.pci.express import (
    DEFAULT_ROOT_PORT_LINK,
    LinkSpec,
    make_integrated,
    train,
    watch_retrain,
)
from irqsim.pci.function import MmioRegion, PciFunction
from irqsim.sim.accounting import Reason
from irqsim.sim.context import SimContext
from irqsim.sim.engine import Fire
from irqsim.sim.rules import rule
from irqsim.sim.trace import FixedShapes, shape
from irqsim.spec.ioapic import IOAPIC_MMIO_SIZE
from irqsim.spec.msi import MSI_WINDOW, MSI_WINDOW_SHIFT
from irqsim.spec.vtd import VTD_BASE

if TYPE_CHECKING:
    from irqsim.platform.numa import NumaInfo  # data the board hands over

# Trace events of the hot path (irqsim.sim.trace: kind and field names, once).
_T_INTERRUPT_WRITE: Final = shape("interrupt-write", "address", "data", "source")

R_ECAM_UNALIGNED = rule(
    "PCI-ECAM-UNALIGNED", "PCIe 7.2.2",
    "an ECAM access must be naturally aligned")
R_CONFIG_DATA_SPAN = rule(
    "PCI-CONFIG-DATA-SPAN", "PCI 3.2.2.3.2",
    "a CONFIG_DATA (0xCFC-0xCFF) access must stay within the DWORD")
R_MSI_NOT_DWORD = rule(
    "MSI-NOT-DWORD", "SDM 11.11",
    "an interrupt message is a DWORD write; other writes to 0xFEExxxxx are Unsupported Requests")
R_INTX_NO_ROUTE = rule(
    "PCI-INTX-NO-ROUTE", "ACPI _PRT",
    "an INTx message needs a _PRT route to an I/O APIC input")

ECAM_BASE = 0xB0000000
ECAM_SIZE = 256 << 20
CONFIG_ADDRESS = 0xCF8
CONFIG_DATA = 0xCFC


class IoPortDevice(Protocol):
    """A chipset block decoding I/O ports (8-bit registers: the 8259 pair, the ELCR)."""

    def io_read(self, port: int, size: int) -> int: ...

    def io_write(self, port: int, size: int, value: int) -> None: ...


class RootPort(PciBridge):
    """A PCI Express root port: a bridge whose upstream side is the root complex."""

    def __init__(self, ctx: SimContext, name: str, rc: RootComplex,
                 link: LinkSpec | None = DEFAULT_ROOT_PORT_LINK) -> None:
        super().__init__(ctx, name, vendor=0x8086, device=0x7001, link=link)
        self.rc = rc

    def forward_up(self, tlp: Tlp) -> None:
        self.rc.receive(tlp)


class RootComplex:
    """Host bridge and bus 0."""

    def __init__(self, ctx: SimContext, memory: SystemMemory, iommu: Iommu,
                 apic_bus: ApicBus) -> None:
        self.ctx = ctx
        self._tp_rc = ctx.points.root_complex
        self.memory = memory
        self.iommu = iommu
        self.apic_bus = apic_bus
        # interrupt-write events, one fixed shape per message source (trace.FixedShapes)
        self._t_interrupt_write = FixedShapes(_T_INTERRUPT_WRITE, "PCIe Bus", "IOMMU")
        # Bound once: every interrupt message. Its entry is the whole of its event.
        self._deliver_msi: Fire | None = _DeliverMsi(apic_bus) if ctx.engine.fires else None
        self.bus0: dict[int, PciFunction] = {}
        self.cf8 = 0
        self.extra_mmio: list[tuple[int, int, MmioRegion]] = [(VTD_BASE, 0x1000, iommu)]
        self.interrupt_writes = 0
        self.memory_writes = 0
        self.intx_messages = 0
        self.ioapic: IoApic | None = None           # the first I/O APIC (GSI base 0)
        self.ioapics: list[IoApic] = []
        # INTx routing (the _PRT role): (bus, device, pin 1-4) -> global system interrupt.
        self.intx_routes: dict[tuple[int, int, int], int] = {}
        # PCI interrupt lines are active low (PCI 2.2.6): an idle input sits at 1.
        self.intx_active_low = True
        self._gsi_sources: dict[int, set[tuple[int, int, int]]] = {}
        self._lapic_delay = (ctx.timing.root_complex + ctx.timing.iommu_passthrough
                             + ctx.timing.msg_to_lapic)
        iommu.send = self._iommu_message
        # NUMA (set by the board when it has several nodes): RAM accesses are priced by the
        # distance to their home node, an interrupt message to a CPU on another node than
        # its device pays msi_hop_remote_node. ``source_node``: device name -> node.
        self.numa: NumaInfo | None = None
        self.source_node: dict[str, int] = {}
        # Legacy I/O ports the chipset decodes besides 0xCF8/0xCFC (the 8259 pair and its
        # ELCR: docs/legacy-pc.md): port -> the block with io_read/io_write.
        self.io_ports: dict[int, IoPortDevice] = {}
        # Conventional PCI INTx# pins (docs/legacy-pc.md): a pin change also goes to the
        # 8259 input the PIRQ router gives it, if the board has one.
        self.pirq_listener: Callable[[tuple[int, int, int], bool, Tlp], None] | None = None

    def _mem_cost(self, base: int, addr: int) -> int:
        """``base`` scaled by the NUMA distance from the accessing CPU to ``addr``."""
        numa = self.numa
        cur = self.ctx.sw.current
        if numa is None or cur is None:
            return base
        return numa.mem_cost(base, cur.cpu.index, addr)

    def _remote_hop(self, tlp: Tlp, msg: Tlp) -> int:
        """Extra delay of an interrupt message whose target CPU is on another node than the
        device that sent it (physical destination: address bits 19:12, and 63:40 for a
        remapped x2APIC ID; a logical destination finds no node and pays nothing)."""
        numa = self.numa
        assert numa is not None
        src = self.source_node.get(tlp.source.partition("/")[0])
        addr = msg.address          # destination 19:12, extended (remapped x2APIC) 63:40
        dst = numa.apic_node.get((addr >> 12) & 0xFF | (addr >> 32) & 0x7FFFFF00)
        if src is None or dst is None or src == dst:
            return 0
        return self.ctx.timing.msi_hop_remote_node

    # -- topology -----------------------------------------------------------
    def add_root_port(self, device: int, name: str | None = None,
                      link: LinkSpec | None = DEFAULT_ROOT_PORT_LINK) -> RootPort:
        port = RootPort(self.ctx, name or f"RootPort{device}", self, link)
        port.devfn = device << 3
        self.bus0[port.devfn] = port
        return port

    def add_integrated(self, fn: PciFunction, devfn: int) -> None:
        """Put ``fn`` on bus 0 at ``devfn`` as a root-complex integrated endpoint (PCIe
        1.3.2.3): no root port above it; its TLPs go straight to the root complex."""
        if devfn in self.bus0:
            raise ValueError(f"00:{devfn >> 3:02x}.{devfn & 7} is taken by "
                             f"{self.bus0[devfn].name}")
        fn.parent = None
        fn.devfn = devfn
        self.bus0[devfn] = fn
        make_integrated(fn.config)
        fn.link = Link(self.ctx, _Receive(self) if self.ctx.engine.fires else self.receive,
                       f"{fn.name}->Root Complex")

    def connect(self, port: PciBridge, fn: PciFunction, devfn: int = 0) -> None:
        """Attach ``fn`` below ``port`` with a link carrying its TLPs upstream, trained to
        the fastest speed and widest width both ends' LnkCap allow (written to both LnkSta;
        a conventional PCI function without the capability gets the default link's costs)."""
        port.attach(fn, devfn)
        fn.link = Link(self.ctx, _Upstream(port) if self.ctx.engine.fires
                       else port.receive_upstream, f"{fn.name}->{port.name}",
                       train(port.config, fn.config))
        watch_retrain(port, fn)

    def functions(self) -> list[PciFunction]:
        """Every function in the hierarchy (depth first)."""
        out: list[PciFunction] = []

        def walk(fn: PciFunction) -> None:
            out.append(fn)
            if isinstance(fn, PciBridge):
                for c in fn.children:
                    walk(c)

        for devfn in sorted(self.bus0):
            walk(self.bus0[devfn])
        return out

    def _iommu_message(self, msg: Tlp, delay: int) -> None:
        """A message the remapping unit generates (fault event, posted notification): on
        the APIC bus ``delay`` + ``msg_to_lapic`` later."""
        self.ctx.engine.after(delay + self.ctx.timing.msg_to_lapic,
                              self.apic_bus.deliver_msi_last, msg)    # its whole event

    def attach_ioapic(self, ioapic: IoApic) -> None:
        """Map ``ioapic`` at its base address and put its messages through the IOMMU (the
        first one attached is ``ioapic``; several serve disjoint GSI ranges)."""
        for io in self.ioapics:
            if io.gsi_base < ioapic.gsi_base + ioapic.pins and \
                    ioapic.gsi_base < io.gsi_base + io.pins:
                raise ValueError(f"{ioapic.name} GSIs {ioapic.gsi_base}-"
                                 f"{ioapic.gsi_base + ioapic.pins - 1} overlap {io.name}'s")
            if io.base == ioapic.base:
                raise ValueError(f"{ioapic.name} at {ioapic.base:#x} overlaps {io.name}")
        if self.ioapic is None:
            self.ioapic = ioapic
        self.ioapics.append(ioapic)
        self.extra_mmio.append((ioapic.base, IOAPIC_MMIO_SIZE, ioapic))
        ioapic.remap = self.iommu.interrupt_request
        ioapic.remap_unit = self.iommu

    def route_intx(self, bus: int, device: int, pin: int, gsi: int) -> None:
        """Route virtual wire ``pin`` (1-4) of the port at (``bus``, ``device``) to ``gsi``."""
        if not 1 <= pin <= 4:
            raise ValueError(f"INTx pin must be 1-4 (INTA-INTD), got {pin}")
        io = self.ioapic_for(gsi)
        if io is None:
            raise ValueError(f"GSI {gsi} is not an input of any I/O APIC")
        self.intx_routes[(bus, device, pin)] = gsi
        if gsi not in self._gsi_sources:
            self._gsi_sources[gsi] = set()
            io.line[gsi - io.gsi_base] = int(self.intx_active_low)   # idle level

    def ioapic_for(self, gsi: int) -> IoApic | None:
        """The I/O APIC whose inputs include ``gsi``."""
        for io in self.ioapics:
            if io.gsi_base <= gsi < io.gsi_base + io.pins:
                return io
        return None

    def gsi_asserted(self, gsi: int) -> bool:
        """Whether any virtual wire routed to ``gsi`` is asserted."""
        return bool(self._gsi_sources.get(gsi))

    # -- configuration ------------------------------------------------------
    def config_target(self, bus: int, devfn: int) -> PciFunction | None:
        if bus == 0:
            return self.bus0.get(devfn)
        for fn in self.bus0.values():
            if isinstance(fn, PciBridge) and fn.secondary_bus <= bus <= fn.subordinate_bus \
                    and fn.secondary_bus != 0:
                return fn.route_config(bus, devfn)
        return None

    def config_read(self, bus: int, devfn: int, offset: int, size: int) -> int:
        fn = self.config_target(bus, devfn)
        if fn is None:
            return (1 << (8 * size)) - 1   # master abort: all ones
        return fn.config_read(offset, size)

    def config_write(self, bus: int, devfn: int, offset: int, size: int, value: int) -> None:
        fn = self.config_target(bus, devfn)
        if fn is not None:
            fn.capture_bus(bus)
            fn.config_write(offset, size, value)

    def _ecam_undefined(self, what: str, offset: int, size: int) -> bool:
        """An ECAM access must be 1, 2 or 4 bytes and naturally aligned (so it never leaves
        the function's 4 KiB, PCIe Base 7.2.2); any other is undefined: irqsim drops it
        (a read returns all ones of its width) with a diagnostic."""
        if size in (1, 2, 4) and not offset & (size - 1):
            return False
        self.ctx.diag("Root Complex", R_ECAM_UNALIGNED,
                      f"{size}-byte ECAM {what} at function offset {offset:#x} is undefined: "
                      + ("dropped, reads all ones" if what == "read" else "dropped"))
        return True

    # -- CPU side ---------------------------------------------------------------
    def cpu_read(self, addr: int, size: int) -> tuple[int, int]:
        t = self.ctx.timing
        if ECAM_BASE <= addr < ECAM_BASE + ECAM_SIZE:
            off = addr - ECAM_BASE
            if self._ecam_undefined("read", off & 0xFFF, size):
                return (1 << (8 * max(size, 0))) - 1, t.config_access
            return self.config_read(off >> 20, (off >> 12) & 0xFF, off & 0xFFF, size), \
                t.config_access
        if self.memory.contains(addr):
            return self.memory.read(addr, size), (
                t.memory_read if self.numa is None else self._mem_cost(t.memory_read, addr))
        hit = self._decode(addr)
        if hit is None:
            self.ctx.diag("Root Complex", R_UNSUPPORTED_REQUEST,
                          f"read of unclaimed address {addr:#x} returns all ones")
            return (1 << (8 * size)) - 1, t.device_mmio_read
        region, off = hit
        return region.mmio_read(off, size), t.device_mmio_read

    def write_cost(self, addr: int) -> int:
        """What a CPU write to ``addr`` costs the software (as ``cpu_write`` returns)."""
        t = self.ctx.timing
        if ECAM_BASE <= addr < ECAM_BASE + ECAM_SIZE:
            return t.config_access
        if self.memory.contains(addr):
            return t.memory_write if self.numa is None else self._mem_cost(t.memory_write, addr)
        return t.device_mmio_write

    def io_write_cost(self, port: int) -> int:
        """What a port write costs the software (as ``io_write`` returns)."""
        if port in self.io_ports:
            return self.ctx.timing.legacy_port_io
        return self.ctx.timing.config_access

    def cpu_write(self, addr: int, size: int, value: int) -> int:
        t = self.ctx.timing
        if ECAM_BASE <= addr < ECAM_BASE + ECAM_SIZE:
            off = addr - ECAM_BASE
            if self._ecam_undefined("write", off & 0xFFF, size):
                return t.config_access
            self.config_write(off >> 20, (off >> 12) & 0xFF, off & 0xFFF, size, value)
            return t.config_access
        if self.memory.contains(addr):
            self.memory.write(addr, size, value)
            return t.memory_write if self.numa is None else self._mem_cost(t.memory_write, addr)
        hit = self._decode(addr)
        if hit is None:
            self.ctx.diag("Root Complex", R_UNSUPPORTED_REQUEST,
                          f"write of {value:#x} to unclaimed address {addr:#x} dropped")
            return t.device_mmio_write
        region, off = hit
        region.mmio_write(off, size, value)
        return t.device_mmio_write

    def _decode(self, addr: int) -> tuple[MmioRegion, int] | None:
        for base, size, region in self.extra_mmio:
            if base <= addr < base + size:
                return region, addr - base
        for fn in self.bus0.values():
            hit = fn.route_memory(addr) if isinstance(fn, PciBridge) else fn.decode(addr)
            if hit is not None:
                return hit
        return None

    def map_io(self, ports: tuple[int, ...], dev: IoPortDevice) -> None:
        """Decode ``ports`` to ``dev`` (a chipset legacy block)."""
        for p in ports:
            self.io_ports[p] = dev

    def io_read(self, port: int, size: int) -> tuple[int, int]:
        """Configuration mechanism #1 (PCI Local Bus 3.0 3.2.2.3.2); legacy ports."""
        dev = self.io_ports.get(port)
        if dev is not None:
            return dev.io_read(port, size), self.ctx.timing.legacy_port_io
        cost = self.ctx.timing.config_access
        if port == CONFIG_ADDRESS and size == 4:
            return self.cf8, cost
        if CONFIG_DATA <= port < CONFIG_DATA + 4:
            if not self.cf8 >> 31 or self._cfc_crossing("read", port, size):
                return (1 << (8 * size)) - 1, cost
            bus, devfn, reg = (self.cf8 >> 16) & 0xFF, (self.cf8 >> 8) & 0xFF, self.cf8 & 0xFC
            return self.config_read(bus, devfn, reg + (port - CONFIG_DATA), size), cost
        return (1 << (8 * size)) - 1, cost

    def io_write(self, port: int, size: int, value: int) -> int:
        dev = self.io_ports.get(port)
        if dev is not None:
            dev.io_write(port, size, value)
            return self.ctx.timing.legacy_port_io
        cost = self.ctx.timing.config_access
        if port == CONFIG_ADDRESS and size == 4:
            self.cf8 = value & 0x80FFFFFC
        elif (CONFIG_DATA <= port < CONFIG_DATA + 4 and self.cf8 >> 31
              and not self._cfc_crossing("write", port, size)):
            bus, devfn, reg = (self.cf8 >> 16) & 0xFF, (self.cf8 >> 8) & 0xFF, self.cf8 & 0xFC
            self.config_write(bus, devfn, reg + (port - CONFIG_DATA), size, value)
        return cost

    def _cfc_crossing(self, what: str, port: int, size: int) -> bool:
        """CONFIG_DATA takes byte, word or DWORD accesses within its 4 ports (byte enables of
        one DWORD, PCI Local Bus 3.0 3.2.2.3.2); one running past 0xCFF is dropped."""
        if size in (1, 2, 4) and port - CONFIG_DATA + size <= 4:
            return False
        self.ctx.diag("Root Complex", R_CONFIG_DATA_SPAN,
                      f"{size}-byte {what} at port {port:#x} runs past 0xCFF: dropped")
        return True

    # -- upstream (device side) -------------------------------------------------
    def receive(self, tlp: Tlp) -> None:
        """A TLP reaches the root complex from a root port (as the last step of its arrival
        event: the delivery to the APIC bus may be folded into it, Engine.ahead)."""
        ctx = self.ctx
        now = ctx.engine.now
        tp = self._tp_rc
        if tp.on and tlp.iid:
            tp(tlp.iid, now)
        if tlp.kind != MWR:
            self.receive_message(tlp)
            return
        addr = tlp.address
        if addr >> MSI_WINDOW_SHIFT == MSI_WINDOW:
            if tlp.length != 4 or addr & 3:
                # An interrupt message is one aligned DWORD write (PCI 6.8, SDM 11.11.1); the
                # root complex does not decode another size as an interrupt: dropped.
                ctx.diag("Root Complex", R_MSI_NOT_DWORD,
                         f"{tlp.length}-byte write to {addr:#x} from {tlp.requester:#06x} is "
                         "not an interrupt message: dropped (Unsupported Request)")
                return
            self.interrupt_writes += 1
            tracer = ctx.tracer
            if tracer.on:
                tracer.put0(self._t_interrupt_write.of2(tlp.source, addr, tlp.data), now)
            iommu = self.iommu
            msg = iommu.interrupt_request(tlp)
            if msg is not None:                     # iommu.delay: 0 with remapping off
                t = now + self._lapic_delay + iommu.delay
                if self.numa is not None:
                    t += self._remote_hop(tlp, msg)
                engine = ctx.engine
                if engine.fold_at(t):
                    # Folded: this is the last step of the TLP's arrival (an event of its own
                    # or folded at the end of one); the delivery would be the engine's next
                    # entry.
                    self.apic_bus.deliver_msi_last(msg)
                else:                                       # (t > now)
                    f = self._deliver_msi
                    if f is not None:
                        engine.push_fire(t, f, msg)
                    else:
                        engine.push(t, self.apic_bus.deliver_msi_last, msg)
            return
        self.memory_writes += 1
        if self.memory.contains(addr):
            self.memory.write(addr, tlp.length, tlp.data)
            if ctx.tracer.on:
                ctx.tracer.emit(now, "PCIe Bus", "Memory", "dma-write", address=addr,
                                length=tlp.length, source=tlp.source)
        else:
            ctx.diag("Root Complex", R_UNSUPPORTED_REQUEST,
                     f"upstream write to unclaimed address {addr:#x} dropped")

    def receive_message(self, tlp: Tlp) -> None:
        """An INTx message from a root port: route its wire to an I/O APIC input."""
        ctx = self.ctx
        if not tlp.is_intx:
            ctx.diag("Root Complex", R_MESSAGE_NOT_MODELLED,
                     f"message {tlp.code:#04x} from {tlp.requester:#06x} not modelled: dropped")
            return
        self.intx_messages += 1
        t = ctx.timing
        self._route_intx(tlp, t.root_complex + t.rc_to_ioapic)

    def intx_pin(self, tlp: Tlp) -> None:
        """A conventional PCI function's INTx# pin changed (``tlp`` names the function,
        pin and level as an Assert/Deassert code; nothing travels on a link): the chipset's
        PIRQ router takes it to its I/O APIC input (the _PRT route) ``pirq_route`` later,
        and to the 8259 input it is steered to, if any (docs/legacy-pc.md)."""
        if self.pirq_listener is not None:
            pin, is_assert = intx_decode(tlp.code)
            key = (tlp.requester >> 8, (tlp.requester >> 3) & 0x1F, pin)
            self.pirq_listener(key, is_assert, tlp)
        self._route_intx(tlp, self.ctx.timing.pirq_route)

    def _route_intx(self, tlp: Tlp, delay: int) -> None:
        ctx = self.ctx
        pin, is_assert = intx_decode(tlp.code)
        key = (tlp.requester >> 8, (tlp.requester >> 3) & 0x1F, pin)
        gsi = self.intx_routes.get(key)
        now = ctx.engine.now
        io = self.ioapic if gsi is None else self.ioapic_for(gsi)
        if gsi is None or io is None:
            if is_assert:
                ctx.ledger.drop(Reason.INTX_NOT_ROUTED, tlp.iid, "Root Complex", flying=True)
            ctx.diag("Root Complex", R_INTX_NO_ROUTE,
                     f"{INTX_NAMES[tlp.code]} from {key[0]:02x}:{key[1]:02x} has no route to "
                     "an I/O APIC input")
            return
        sources = self._gsi_sources[gsi]
        io.redeliveries[gsi - io.gsi_base] = 0      # a wire moved: progress
        was = bool(sources)
        if is_assert:
            sources.add(key)
        else:
            sources.discard(key)
        now_on = bool(sources)
        if ctx.tracer.on:
            ctx.tracer.emit(now, "PCIe Bus", "Root Complex", INTX_NAMES[tlp.code], gsi=gsi,
                            shared=len(sources), source=tlp.source)
        if was == now_on:
            if is_assert:                        # the input is already asserted
                ctx.ledger.merge(tlp.iid, "Root Complex", flying=True)
            return
        level = int(now_on) ^ int(self.intx_active_low)
        ctx.engine.at(now + delay, self._drive_ioapic,
                      (io, gsi - io.gsi_base, level, tlp if is_assert else None))

    def _drive_ioapic(self, arg: tuple[IoApic, int, int, Tlp | None]) -> None:
        io, pin, level, meta = arg
        io.set_pin(pin, level, meta, unit=meta is not None)


class _DeliverMsi(Fire):
    """``ApicBus.deliver_msi_last`` as a :class:`~irqsim.sim.engine.Fire` (compiled engine)."""

    __slots__ = ("bus",)

    def __init__(self, bus: ApicBus) -> None:
        self.bus = bus

    def fire(self, arg: Any) -> None:
        self.bus.deliver_msi_last(arg)


class _Receive(Fire):
    """``RootComplex.receive`` as a link's :class:`~irqsim.sim.engine.Fire` receiver."""

    __slots__ = ("rc",)

    def __init__(self, rc: RootComplex) -> None:
        self.rc = rc

    def fire(self, arg: Any) -> None:
        self.rc.receive(arg)


class _Upstream(Fire):
    """``PciBridge.receive_upstream`` as a link's :class:`~irqsim.sim.engine.Fire` receiver."""

    __slots__ = ("port",)

    def __init__(self, port: PciBridge) -> None:
        self.port = port

    def fire(self, arg: Any) -> None:
        self.port.receive_upstream(arg)
