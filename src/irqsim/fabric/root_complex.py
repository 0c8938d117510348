"""The root complex: root ports, configuration access (ECAM and 0xCF8/0xCFC),
CPU memory routing, and the upstream path that steers 0xFEExxxxx writes to
the interrupt path through the IOMMU (seed 003 "Root Complex Processing").
"""

from __future__ import annotations

from irqsim.apic.interconnect import ApicBus
from irqsim.fabric.link import Link
from irqsim.fabric.memory import SystemMemory
from irqsim.fabric.tlp import Tlp, TlpType
from irqsim.iommu.vtd import VTD_BASE, Iommu
from irqsim.pci.bridge import PciBridge
from irqsim.pci.function import MmioRegion, PciFunction
from irqsim.sim.context import SimContext

ECAM_BASE = 0xB0000000
ECAM_SIZE = 256 << 20
CONFIG_ADDRESS = 0xCF8
CONFIG_DATA = 0xCFC


class RootPort(PciBridge):
    """A PCI Express root port: a bridge whose upstream side is the root complex."""

    def __init__(self, ctx: SimContext, name: str, rc: RootComplex) -> None:
        super().__init__(ctx, name, vendor=0x8086, device=0x7001)
        self.rc = rc

    def forward_up(self, tlp: Tlp) -> None:
        self.rc.receive(tlp)


class RootComplex:
    """Host bridge and bus 0."""

    def __init__(self, ctx: SimContext, memory: SystemMemory, iommu: Iommu,
                 apic_bus: ApicBus) -> None:
        self.ctx = ctx
        self.memory = memory
        self.iommu = iommu
        self.apic_bus = apic_bus
        self.bus0: dict[int, PciFunction] = {}
        self.cf8 = 0
        self.extra_mmio: list[tuple[int, int, MmioRegion]] = [(VTD_BASE, 0x1000, iommu)]
        self.interrupt_writes = 0
        self.memory_writes = 0
        self._lapic_delay = (ctx.timing.root_complex + ctx.timing.iommu_passthrough
                             + ctx.timing.msg_to_lapic)

    # -- topology -----------------------------------------------------------
    def add_root_port(self, device: int, name: str | None = None) -> RootPort:
        port = RootPort(self.ctx, name or f"RootPort{device}", self)
        port.devfn = device << 3
        self.bus0[port.devfn] = port
        return port

    def connect(self, port: PciBridge, fn: PciFunction, devfn: int = 0) -> None:
        """Attach ``fn`` below ``port`` with a link carrying its TLPs upstream."""
        port.attach(fn, devfn)
        fn.link = Link(self.ctx, port.receive_upstream, f"{fn.name}->{port.name}")

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
            fn.config_write(offset, size, value)

    # -- CPU side ---------------------------------------------------------------
    def cpu_read(self, addr: int, size: int) -> tuple[int, int]:
        t = self.ctx.timing
        if ECAM_BASE <= addr < ECAM_BASE + ECAM_SIZE:
            off = addr - ECAM_BASE
            return self.config_read(off >> 20, (off >> 12) & 0xFF, off & 0xFFF, size), \
                t.config_access
        if self.memory.contains(addr):
            return self.memory.read(addr, size), t.memory_read
        hit = self._decode(addr)
        if hit is None:
            self.ctx.diag("Root Complex", "PCIe 2.3.1 Unsupported Request",
                          f"read of unclaimed address {addr:#x} returns all ones")
            return (1 << (8 * size)) - 1, t.device_mmio_read
        region, off = hit
        return region.mmio_read(off, size), t.device_mmio_read

    def cpu_write(self, addr: int, size: int, value: int) -> int:
        t = self.ctx.timing
        if ECAM_BASE <= addr < ECAM_BASE + ECAM_SIZE:
            off = addr - ECAM_BASE
            self.config_write(off >> 20, (off >> 12) & 0xFF, off & 0xFFF, size, value)
            return t.config_access
        if self.memory.contains(addr):
            self.memory.write(addr, size, value)
            return t.memory_write
        hit = self._decode(addr)
        if hit is None:
            self.ctx.diag("Root Complex", "PCIe 2.3.1 Unsupported Request",
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

    def io_read(self, port: int, size: int) -> tuple[int, int]:
        """Configuration mechanism #1 (PCI Local Bus 3.0 3.2.2.3.2)."""
        cost = self.ctx.timing.config_access
        if port == CONFIG_ADDRESS and size == 4:
            return self.cf8, cost
        if CONFIG_DATA <= port < CONFIG_DATA + 4:
            if not self.cf8 >> 31:
                return (1 << (8 * size)) - 1, cost
            bus, devfn, reg = (self.cf8 >> 16) & 0xFF, (self.cf8 >> 8) & 0xFF, self.cf8 & 0xFC
            return self.config_read(bus, devfn, reg + (port - CONFIG_DATA), size), cost
        return (1 << (8 * size)) - 1, cost

    def io_write(self, port: int, size: int, value: int) -> int:
        cost = self.ctx.timing.config_access
        if port == CONFIG_ADDRESS and size == 4:
            self.cf8 = value & 0x80FFFFFC
        elif CONFIG_DATA <= port < CONFIG_DATA + 4 and self.cf8 >> 31:
            bus, devfn, reg = (self.cf8 >> 16) & 0xFF, (self.cf8 >> 8) & 0xFF, self.cf8 & 0xFC
            self.config_write(bus, devfn, reg + (port - CONFIG_DATA), size, value)
        return cost

    # -- upstream (device side) -------------------------------------------------
    def receive(self, tlp: Tlp) -> None:
        """A TLP reaches the root complex from a root port."""
        ctx = self.ctx
        now = ctx.engine.now
        tlp.t_rc = now
        if tlp.kind != TlpType.MWR:
            self.receive_message(tlp)
            return
        addr = tlp.address
        if addr >> 20 == 0xFEE:
            self.interrupt_writes += 1
            if ctx.tracer.on:
                ctx.tracer.emit(now, "PCIe Bus", "IOMMU", "interrupt-write", address=addr,
                                data=tlp.data, source=tlp.source)
            msg = self.iommu.interrupt_request(tlp)
            if msg is not None:
                ctx.engine.at(now + self._lapic_delay, self.apic_bus.deliver_msi, msg)
            return
        self.memory_writes += 1
        if self.memory.contains(addr):
            self.memory.write(addr, tlp.length, tlp.data)
            if ctx.tracer.on:
                ctx.tracer.emit(now, "PCIe Bus", "Memory", "dma-write", address=addr,
                                length=tlp.length, source=tlp.source)
        else:
            ctx.diag("Root Complex", "PCIe 2.3.1 Unsupported Request",
                     f"upstream write to unclaimed address {addr:#x} dropped")

    def receive_message(self, tlp: Tlp) -> None:
        """INTx messages (the INTx issue routes them to the I/O APIC)."""
        self.ctx.diag("Root Complex", "PCIe 2.2.8.1 INTx messages",
                      f"message {tlp.code:#04x} from {tlp.requester:#06x} has no INTx router")
