"""The board: builds and wires the hardware blocks and the OS into one machine."""

from __future__ import annotations

from typing import Any

from irqsim.apic.interconnect import ApicBus
from irqsim.apic.lapic import LocalApic
from irqsim.cpu.cpu import Cpu
from irqsim.fabric.memory import SystemMemory
from irqsim.fabric.root_complex import RootComplex, RootPort
from irqsim.iommu.vtd import Iommu
from irqsim.os.kernel import Kernel
from irqsim.pci.function import PciFunction
from irqsim.pci.msix import MsixCapability
from irqsim.sim.context import SimContext
from irqsim.sim.stats import LatencyRecorder
from irqsim.sim.timing import TimingModel
from irqsim.sim.trace import Tracer


class Machine:
    """CPUs with Local APICs, a root complex with root ports, an IOMMU, memory, an OS."""

    def __init__(self, ncpus: int = 1, apic_ids: list[int] | None = None,
                 timing: TimingModel | None = None, trace: bool = False,
                 latency: bool = True, first_vector: int = 0x20,
                 last_vector: int = 0xDF) -> None:
        if ncpus < 1:
            raise ValueError(f"ncpus must be >= 1, got {ncpus}")
        ids = apic_ids if apic_ids is not None else list(range(ncpus))
        if len(ids) != ncpus or len(set(ids)) != ncpus:
            raise ValueError(f"apic_ids must be {ncpus} distinct IDs, got {ids}")
        self.ctx = ctx = SimContext(timing=timing or TimingModel(), tracer=Tracer(on=trace))
        self.memory = SystemMemory()
        self.apic_bus = ApicBus(ctx)
        self.iommu = Iommu(ctx)
        self.rc = RootComplex(ctx, self.memory, self.iommu, self.apic_bus)
        self.recorder = LatencyRecorder() if latency else None
        self.lapics: list[LocalApic] = []
        self.cpus: list[Cpu] = []
        for i, aid in enumerate(ids):
            lapic = LocalApic(ctx, aid)
            self.apic_bus.add(lapic)
            cpu = Cpu(ctx, i, lapic, self.rc)
            cpu.recorder = self.recorder
            self.lapics.append(lapic)
            self.cpus.append(cpu)
        self.kernel = Kernel(ctx, self.cpus, first_vector=first_vector, last_vector=last_vector)
        self.devices: list[PciFunction] = []
        self._next_port = 1

    @property
    def engine(self) -> Any:
        return self.ctx.engine

    @property
    def now(self) -> int:
        return self.ctx.engine.now

    # -- building -----------------------------------------------------------------
    def add_root_port(self) -> RootPort:
        port = self.rc.add_root_port(self._next_port)
        self._next_port += 1
        return port

    def add_device(self, fn: PciFunction, port: RootPort | None = None) -> PciFunction:
        """Attach an endpoint below ``port`` (a new root port if None)."""
        port = port or self.add_root_port()
        self.rc.connect(port, fn)
        self.devices.append(fn)
        return fn

    def device(self, name: str) -> PciFunction:
        for d in self.devices:
            if d.name == name:
                return d
        raise KeyError(f"no device named {name!r}")

    # -- running --------------------------------------------------------------------
    def boot(self) -> int:
        """Run the OS's boot on the CPUs and advance time by its cost."""
        cost = self.kernel.boot()
        self.ctx.engine.run(until=self.ctx.engine.now + cost)
        return cost

    def run(self, until: int | None = None) -> int:
        return self.ctx.engine.run(until=until)

    # -- accounting -------------------------------------------------------------------
    def pending(self) -> dict[str, int]:
        """Interrupts held pending in architectural state: PBA bits and IRR bits."""
        pba = 0
        for d in self.devices:
            cap = getattr(d, "msix", None)
            if isinstance(cap, MsixCapability):
                pba += bin(cap.pba).count("1")
        irr = sum(bin(a.irr).count("1") for a in self.lapics)
        return {"pba": pba, "irr": irr}

    def accounting(self) -> dict[str, Any]:
        """The ledger plus pending state; ``balanced`` proves nothing was lost."""
        led = self.ctx.ledger
        pend = self.pending()
        dropped = sum(led.dropped.values())
        in_service = sum(1 for c in self.cpus for f in c.frames if not f.spurious)
        total = led.delivered + led.merged + dropped + pend["pba"] + pend["irr"] + led.in_flight
        return {**led.as_dict(), "pending": pend, "in_service": in_service,
                "accounted": total, "balanced": total == led.raised}
