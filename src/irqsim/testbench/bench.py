"""The test bench: a machine built from options and programmed by hand (docs/testbench.md).

:class:`TestBench` builds the board (CPUs with their APIC IDs and CPUID features, I/O
APICs, the IOMMU slot, MAXPHYADDR) without booting the OS, places declared devices at
chosen bus/device/function numbers, installs Python interrupt and exception handlers in
per-CPU IDTs, records every message devices emit and every interrupt CPUs take (by
subscribing to trace points), runs until idle or for a time, forges upstream writes, and
resets the platform. Faults are raised as :class:`Fault` unless a handler takes them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from irqsim.apic.ioapic import IoApic
from irqsim.apic.lapic import LocalApic
from irqsim.apic.timer import TIMER_PERIODIC
from irqsim.cpu.cpu import Cpu, Gate
from irqsim.cpu.cpu import Fault as CpuFault
from irqsim.cpu.cpuid import Cpuid
from irqsim.cpu.topology import Topology
from irqsim.fabric.root_complex import RootPort
from irqsim.fabric.tlp import INTX_NAMES, Tlp, TlpType
from irqsim.machine import (
    MMIO32_WINDOW,
    CpuOptions,
    IoApicOptions,
    IommuOptions,
    Machine,
)
from irqsim.pci.bridge import PciBridge
from irqsim.pci.function import PciFunction
from irqsim.sim.context import Diagnostic
from irqsim.sim.rules import rule
from irqsim.sim.timing import TimingModel
from irqsim.spec.cpu import MAXPHYADDR, X2APIC_MSR_BASE
from irqsim.spec.pci import (
    BAR0,
    CMD_BUS_MASTER,
    CMD_MEMORY_SPACE,
    COMMAND,
    HEADER_TYPE,
    MEMORY_BASE,
    MEMORY_LIMIT,
    PRIMARY_BUS,
    SECONDARY_BUS,
    SUBORDINATE_BUS,
)
from irqsim.testbench.device import BenchFunction, Device, DeviceSpec

__all__ = ["Code", "Fault", "Message", "RunSummary", "Taken", "TestBench"]

R_EXCEPTION_VECTOR = rule("CPU-INTERRUPT-ON-EXCEPTION-VECTOR", "SDM 6.3",
                          "an external interrupt arrives on a vector reserved for "
                          "exceptions (0-31)")
EOI_OFFSET = 0xB0                   # LAPIC EOI register (xAPIC offset; x2APIC MSR 0x80B)
BUS_WINDOW = 16 << 20               # MMIO the bench's firmware gives each bus


class Fault(Exception):
    """An architectural fault (e.g. #GP) raised by an access no exception handler took."""

    def __init__(self, fault: CpuFault, cpu: int) -> None:
        self.vector = fault.vector
        self.name = fault.name
        self.error_code = fault.error_code
        self.rule_id: str = fault.rule_id or fault.rule      # the id (else the citation)
        self.time = fault.time
        self.cpu = cpu
        self.fault = fault
        super().__init__(f"{fault.name} on CPU{cpu} at {fault.time} ns: {fault.message} "
                         f"({self.rule_id})")


@dataclass(frozen=True, slots=True)
class Message:
    """One TLP a device put on its link: ``kind`` is "MWr" (memory write; ``interrupt``
    when it is an MSI) or the INTx message name ("Assert_INTA" ...)."""

    time: int
    device: str
    kind: str
    requester: int
    address: int = 0
    data: int = 0
    length: int = 0
    interrupt: bool = False
    iid: int = 0


@dataclass(frozen=True, slots=True)
class Taken:
    """An interrupt a CPU took: its handler was entered at ``time`` (``iid`` 0: no message,
    e.g. an IPI or LVT interrupt)."""

    time: int
    cpu: int
    vector: int
    iid: int = 0


@dataclass(slots=True)
class RunSummary:
    """What one :meth:`TestBench.run` did."""

    start: int
    end: int
    events: int
    idle: bool                      # it stopped because only periodic timers remained
    taken: list[Taken] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    faults: list[CpuFault] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    accounting: dict[str, Any] = field(default_factory=dict)

    @property
    def vectors(self) -> list[tuple[int, int]]:
        """(cpu, vector) of every interrupt taken, in order."""
        return [(t.cpu, t.vector) for t in self.taken]


class Code:
    """Software running on one CPU: a handler body (``vector`` >= 0) or a task.

    Every access happens at the section's clock and is charged to it; ``spend(ns)`` is
    pure computation."""

    __slots__ = ("cpu", "eoi_done", "fault", "spurious", "vector")

    def __init__(self, cpu: Cpu, vector: int = -1, spurious: bool = False,
                 fault: CpuFault | None = None) -> None:
        self.cpu = cpu
        self.vector = vector
        self.spurious = spurious
        self.fault = fault
        self.eoi_done = False

    @property
    def now(self) -> int:
        """The instant this code has reached."""
        return self.cpu.clock

    def spend(self, ns: int) -> None:
        self.cpu.spend(ns)

    def read(self, addr: int, size: int = 4) -> int:
        return self.cpu.read(addr, size)

    def write(self, addr: int, value: int, size: int = 4) -> None:
        self.cpu.write(addr, size, value)

    def rdmsr(self, msr: int) -> int:
        return self.cpu.rdmsr(msr)

    def wrmsr(self, msr: int, value: int) -> bool:
        return self.cpu.wrmsr(msr, value)

    def apic_read(self, reg: int) -> int:
        """LAPIC register ``reg`` (xAPIC offset): MMIO in xAPIC mode, RDMSR in x2APIC."""
        cpu = self.cpu
        if cpu.lapic.x2apic:
            return cpu.rdmsr(X2APIC_MSR_BASE + (reg >> 4))
        return cpu.read(cpu.apic_base + reg)

    def apic_write(self, reg: int, value: int) -> None:
        """LAPIC register ``reg`` (xAPIC offset): MMIO in xAPIC mode, WRMSR in x2APIC (the
        ICR is one 64-bit WRMSR there: pass ``dest << 32 | low``)."""
        cpu = self.cpu
        if cpu.lapic.x2apic:
            cpu.wrmsr(X2APIC_MSR_BASE + (reg >> 4), value)
        else:
            cpu.write(cpu.apic_base + reg, 4, value)

    def eoi(self) -> None:
        """Write the LAPIC's EOI register (SDM 10.8.5)."""
        self.eoi_done = True
        self.apic_write(EOI_OFFSET, 0)

    def inb(self, port: int) -> int:
        """IN (byte) from I/O port ``port``."""
        return self.cpu.inl(port, 1)

    def outb(self, port: int, value: int) -> None:
        """OUT (byte) to I/O port ``port``."""
        self.cpu.outl(port, value, 1)

    def cli(self) -> None:
        self.cpu.cli()

    def sti(self) -> None:
        self.cpu.sti()


Handler = Callable[[Code], None]
NMI_VECTOR = 2


def _nothing(code: Code) -> None:
    """The default NMI handler: the NMI is taken (and seen by probes), nothing runs."""

ExceptionHandler = Callable[[Code, CpuFault], None]


class _InterruptGate(Gate):
    """An IDT entry running a test's handler (the :class:`~irqsim.cpu.cpu.Gate` protocol:
    ``enter`` runs the body in the handler's section, ``exit`` is the epilogue)."""

    __slots__ = ("eoi", "fn")

    def __init__(self, fn: Handler, eoi: bool) -> None:
        self.fn = fn
        self.eoi = eoi

    def enter(self, cpu: Cpu, vector: int, spurious: bool) -> int:
        code = Code(cpu, vector, spurious)
        self.fn(code)
        if self.eoi and not spurious and not code.eoi_done:
            code.eoi()              # a spurious interrupt needs no EOI (SDM 10.9)
        return 0

    def exit(self, cpu: Cpu, vector: int, spurious: bool) -> int:
        return 0


class _ExceptionGate(Gate):
    """An exception vector: the test's handler takes the fault, or it is raised."""

    __slots__ = ("fn",)

    def __init__(self, fn: ExceptionHandler | None) -> None:
        self.fn = fn

    def exception(self, cpu: Cpu, fault: CpuFault) -> int:
        if self.fn is None:
            raise Fault(fault, cpu.index)
        self.fn(Code(cpu, fault.vector, fault=fault), fault)
        return 0

    def enter(self, cpu: Cpu, vector: int, spurious: bool) -> int:
        # An external interrupt on vectors 0-31 (SDM 6.3): no handler body; acknowledged.
        cpu.ctx.diag(cpu.name, R_EXCEPTION_VECTOR,
                     f"external interrupt on exception vector {vector}: acknowledged")
        if not spurious:
            Code(cpu, vector).eoi()
        return 0

    def exit(self, cpu: Cpu, vector: int, spurious: bool) -> int:
        return 0


def parse_bdf(bdf: str | tuple[int, int, int]) -> tuple[int, int, int]:
    """"BB:DD.F" (hex, as lspci prints) or (bus, device, function)."""
    if isinstance(bdf, tuple):
        b, d, f = bdf
    else:
        try:
            bus, rest = bdf.split(":")
            dev, fn = rest.split(".")
            b, d, f = int(bus, 16), int(dev, 16), int(fn)
        except ValueError:
            raise ValueError(f"bus/device/function {bdf!r} is not BB:DD.F") from None
    if not (0 <= b <= 255 and 0 <= d <= 31 and 0 <= f <= 7):
        raise ValueError(f"bus/device/function {bdf!r} out of range")
    return b, d, f


class TestBench:
    """A machine for hand-written interrupt tests (docs/testbench.md).

    ``cpus``: a count (APIC IDs 0..n-1, or the first n of ``topology``; every feature) or
    one :class:`CpuOptions` per CPU (default: every CPU of ``topology``, else one);
    ``topology``: sockets x cores x threads, which numbers the APIC IDs and CPUID 0BH;
    ``ioapics``: :class:`IoApicOptions` (default one, 24 pins at 0xFEC00000); ``iommu``:
    :class:`IommuOptions`; ``maxphyaddr``; ``timing``; ``trace`` (record the structured
    trace); ``pic``: the board has the 8259 pair and ISA IRQ lines (``machine.pic``,
    ``machine.isa_irq``; docs/legacy-pc.md). The ledger is the debugging one: the first
    impossible step raises."""

    __test__ = False                # not a pytest test class

    def __init__(self, cpus: int | Sequence[CpuOptions] | None = None,
                 ioapics: Sequence[IoApicOptions] | None = None,
                 iommu: IommuOptions | None = None, maxphyaddr: int = MAXPHYADDR,
                 timing: TimingModel | None = None, trace: bool = False,
                 topology: Topology | None = None, pic: bool = False) -> None:
        if cpus is None:
            ids = topology.ids() if topology is not None else [0]
            cpus = [CpuOptions(i) for i in ids]
        elif isinstance(cpus, int):
            cpus = [CpuOptions(i) for i in (topology.ids()[:cpus] if topology is not None
                                            else range(cpus))]
        self.cpu_options = list(cpus)
        self.topology = topology
        self.ioapic_options = list(ioapics) if ioapics is not None else None
        self.iommu_options = iommu
        self.maxphyaddr = maxphyaddr
        self.timing = timing
        self.trace = trace
        self.pic = pic
        self.devices: list[Device] = []
        self.taken: list[Taken] = []
        self.messages: list[Message] = []
        self._gates: list[tuple[int | None, int, Any]] = []     # (cpu, vector, gate)
        self._message_probes: list[Callable[[Message], None]] = []
        self._interrupt_probes: list[Callable[[Taken], None]] = []
        self._build(0)

    # -- building -----------------------------------------------------------------
    def _build(self, start_ns: int) -> None:
        m = self.machine = Machine(cpus=self.cpu_options, ioapics=self.ioapic_options,
                                   iommu=self.iommu_options, maxphyaddr=self.maxphyaddr,
                                   timing=self.timing, trace=self.trace, latency=False,
                                   ledger_debug=True, start_ns=start_ns,
                                   topology=self.topology, pic=self.pic)
        for cpu in m.cpus:              # one IDT per CPU; exceptions raise until handled
            cpu.idt = [None] * 256
            for v in range(32):
                cpu.idt[v] = _ExceptionGate(None)
            cpu.idt[NMI_VECTOR] = _InterruptGate(_nothing, eoi=False)     # NMIs: no EOI
        self._ports: dict[int, RootPort] = {}
        self._mmio: dict[int, int] = {}             # bus -> next free MMIO address
        self._mark_seen()
        points = m.ctx.points
        points.upstream.subscribe(self._on_upstream)
        points.handler_entry.subscribe(self._on_entry)

    def _mark_seen(self) -> None:
        """What a run's summary reports starts here (a setup's untimed accesses between
        runs count in the next run's summary)."""
        self._seen_taken, self._seen_messages = len(self.taken), len(self.messages)
        self._seen_diag = len(self.machine.ctx.diagnostics)
        self._seen_faults = [len(c.faults) for c in self.machine.cpus]

    @property
    def cpus(self) -> list[Cpu]:
        return self.machine.cpus

    @property
    def lapics(self) -> list[LocalApic]:
        return self.machine.lapics

    @property
    def ioapics(self) -> list[IoApic]:
        return self.machine.ioapics

    @property
    def now(self) -> int:
        return self.machine.now

    def cpuid(self, cpu: int, leaf: int, subleaf: int = 0) -> tuple[int, int, int, int]:
        """CPUID leaf ``leaf`` (sub-leaf ``subleaf``) on CPU ``cpu``: (EAX, EBX, ECX, EDX)."""
        return self.cpuid_of(cpu).leaf(leaf, subleaf)

    def cpuid_of(self, cpu: int) -> Cpuid:
        """The CPUID data of CPU ``cpu`` (index)."""
        return self.machine.cpuid(cpu)

    def add_device(self, spec: DeviceSpec, at: str | tuple[int, int, int] = "00:03.0",
                   firmware: bool = True) -> Device:
        """Place a function built from ``spec`` at bus/device/function ``at``: on bus 0 a
        root-complex integrated endpoint, else below a root port whose secondary bus is that
        bus. ``firmware``: assign its BARs, enable Memory Space and Bus Master on it and on
        its root port (with the port's window and bus numbers), as firmware leaves a device
        before the OS runs; False leaves everything at reset for the test to program."""
        b, d, f = parse_bdf(at)
        if any(x.bdf == f"{b:02x}:{d:02x}.{f}" for x in self.devices):
            raise ValueError(f"{at} is taken")
        dev = Device(spec, b, d, f, firmware)
        self._attach(dev)
        self.devices.append(dev)
        return dev

    def _attach(self, dev: Device) -> None:
        m = self.machine
        fn = BenchFunction(m.ctx, dev.spec)
        dev.fn = fn
        if dev.bus == 0:
            m.add_integrated(fn, dev.device, dev.function)
        else:
            port = self._ports.get(dev.bus)
            if port is None:
                port = self._ports[dev.bus] = m.add_root_port()
                # Bus numbers are what enumeration programs: firmware's job (PCI-PCI 1.2 3.2.5)
                port.config_write(PRIMARY_BUS.offset, 1, 0)
                port.config_write(SECONDARY_BUS.offset, 1, dev.bus)
                port.config_write(SUBORDINATE_BUS.offset, 1, dev.bus)
            m.add_device(fn, port)
            fn.devfn = dev.device << 3 | dev.function
        for block in dev.blocks:
            fn.add_block(*block)
        self._multifunction(dev)
        if dev.firmware:
            self._firmware(dev, fn)

    def _multifunction(self, dev: Device) -> None:
        """Header Type bit 7 (PCI 6.2.1) set on every function of a device that has more
        than one, so enumeration software probes functions 1-7."""
        ctx = self.machine.ctx
        same = {id(d): d for d in [*self.devices, dev]
                if (d.bus, d.device) == (dev.bus, dev.device) and hasattr(d, "fn")
                and d.fn.ctx is ctx}.values()
        if len(same) > 1:
            for d in same:
                cs = d.fn.config
                cs.hw_write(HEADER_TYPE.offset, 1, cs.read(HEADER_TYPE.offset, 1) | 0x80)

    def _firmware(self, dev: Device, fn: PciFunction) -> None:
        """BARs from the bus's MMIO window; Memory Space and Bus Master on."""
        bus = dev.bus
        win0 = MMIO32_WINDOW[0] + bus * BUS_WINDOW
        cur = self._mmio.get(bus, win0)
        for spec in sorted(fn.bars.values(), key=lambda s: -s.size):
            cur = (cur + spec.size - 1) // spec.size * spec.size
            if cur + spec.size > win0 + BUS_WINDOW:
                raise ValueError(f"{dev.name}: BARs do not fit the bench's "
                                 f"{BUS_WINDOW >> 20} MiB window of bus {bus}")
            off = BAR0 + 4 * spec.index
            fn.config_write(off, 4, cur & 0xFFFFFFFF)
            if spec.is64:
                fn.config_write(off + 4, 4, cur >> 32)
            cur += spec.size
        self._mmio[bus] = cur
        fn.config_write(COMMAND.offset, 2, fn.config_read(COMMAND.offset, 2)
                        | CMD_MEMORY_SPACE | CMD_BUS_MASTER)
        port = self._ports.get(bus)
        if port is not None:
            port.config_write(MEMORY_BASE.offset, 2, (win0 >> 16) & 0xFFF0)
            port.config_write(MEMORY_LIMIT.offset, 2, ((win0 + BUS_WINDOW - 1) >> 16) & 0xFFF0)
            port.config_write(COMMAND.offset, 2, port.config_read(COMMAND.offset, 2)
                              | CMD_MEMORY_SPACE | CMD_BUS_MASTER)

    def route_intx(self, bus: int, device: int, pin: int, gsi: int) -> None:
        """Wire INTx ``pin`` (1-4) of (``bus``, ``device``) on bus 0 to I/O APIC input
        ``gsi`` (the board's _PRT; the default is GSI 16 + (device - 1 + pin - 1) mod 8)."""
        self.machine.route_intx(bus, device, pin, gsi)

    # -- handlers ---------------------------------------------------------------------
    def _cpu_list(self, cpu: int | None) -> list[Cpu]:
        return list(self.cpus) if cpu is None else [self.cpus[cpu]]

    def handle(self, vector: int, fn: Handler, cpu: int | None = None,
               eoi: bool = True) -> None:
        """Install ``fn(code)`` as the IDT entry for ``vector`` (32-255, or 2 for NMI) on
        CPU ``cpu`` (None: every CPU). It runs in the handler's section after the dispatch
        cost; ``eoi``: write the EOI register when ``fn`` returns unless it did
        (``code.eoi()``). An NMI handler never EOIs (SDM 10.8.5: NMI needs no EOI)."""
        if not (32 <= vector <= 255 or vector == NMI_VECTOR):
            raise ValueError(f"interrupt vectors are 32-255 (or 2, NMI), got {vector}")
        self._install(cpu, vector, _InterruptGate(fn, eoi and vector != NMI_VECTOR))

    def handle_exception(self, vector: int, fn: ExceptionHandler,
                         cpu: int | None = None) -> None:
        """Install ``fn(code, fault)`` for exception ``vector`` (0-31, e.g. 13 #GP): a fault
        is then delivered through the IDT to it (it runs inside the faulting code, which
        goes on after the faulting instruction) instead of raising :class:`Fault`."""
        if not 0 <= vector <= 31:
            raise ValueError(f"exception vectors are 0-31, got {vector}")
        self._install(cpu, vector, _ExceptionGate(fn))

    def _install(self, cpu: int | None, vector: int, gate: Any) -> None:
        self._gates.append((cpu, vector, gate))
        for c in self._cpu_list(cpu):
            c.idt[vector] = gate

    # -- observation ------------------------------------------------------------------
    def on_message(self, fn: Callable[[Message], None]) -> None:
        """Call ``fn(message)`` for every TLP a device puts on its link."""
        self._message_probes.append(fn)

    def on_interrupt(self, fn: Callable[[Taken], None]) -> None:
        """Call ``fn(taken)`` whenever a CPU enters an interrupt's handler."""
        self._interrupt_probes.append(fn)

    def _on_upstream(self, fn: PciFunction, tlp: Tlp, t: int) -> None:
        if isinstance(fn, PciBridge):
            return                  # a switch port passing a device's TLP on
        self._message(fn.name, tlp, t)

    def _message(self, source: str, tlp: Tlp, t: int) -> None:
        if tlp.kind == TlpType.MWR:
            msg = Message(t, source, "MWr", tlp.requester, tlp.address, tlp.data, tlp.length,
                          tlp.is_interrupt, tlp.iid)
        else:
            msg = Message(t, source, INTX_NAMES.get(tlp.code, f"Msg{tlp.code:#04x}"),
                          tlp.requester, iid=tlp.iid)
        self.messages.append(msg)
        for p in self._message_probes:
            p(msg)

    def _on_entry(self, iid: int, cpu: int, t: int, vector: int) -> None:
        taken = Taken(t, cpu, vector, iid)
        self.taken.append(taken)
        for p in self._interrupt_probes:
            p(taken)

    # -- software ---------------------------------------------------------------------
    def run_on(self, cpu: int, fn: Callable[[Code], object]) -> int:
        """Run ``fn(code)`` as a task on CPU ``cpu`` on the engine's clock (each access at
        its instant); returns when it ends, with the CPU time it took (ns)."""
        c = self.cpus[cpu]
        return c.run(lambda _: fn(Code(c))).busy

    def code(self, cpu: int = 0) -> Code:
        """Untimed access from the top level on CPU ``cpu`` (at ``now``, no cost)."""
        return Code(self.cpus[cpu])

    # -- running ----------------------------------------------------------------------
    def _only_periodic(self) -> bool:
        """Nothing is due but armed periodic LAPIC timers' next expiries."""
        periodic = {a.timer.handle for a in self.lapics
                    if a.timer.handle is not None and a.timer.mode == TIMER_PERIODIC}
        return self.machine.ctx.engine.live_handles() <= periodic

    def run(self, ns: int | None = None, max_events: int = 10_000_000) -> RunSummary:
        """Run for ``ns`` of simulated time, or (None) until the machine is idle: nothing
        left to happen but armed periodic LAPIC timers' expiries (one-shot and TSC-deadline
        timers expire first). Stops after ``max_events`` events (``idle`` False). The
        summary covers what happened since the previous run (or reset), untimed set-up
        accesses in between included."""
        m = self.machine
        ctx = m.ctx
        engine = ctx.engine
        start, events = engine.now, engine.events_run
        ntaken, nmsg, ndiag = self._seen_taken, self._seen_messages, self._seen_diag
        nfaults = self._seen_faults
        idle = False
        if ns is not None:
            if ns < 0:
                raise ValueError(f"cannot run for a negative time: {ns}")
            engine.run(until=start + ns, max_events=max_events)
        else:
            left = max_events
            while left > 0:
                armed = sum(1 for a in self.lapics if a.timer.handle is not None)
                if not armed:
                    if engine.peek() is None:
                        idle = True
                        break
                    engine.run(max_events=left)         # no timer: run it out
                else:
                    # At least ``lb`` entries are not timer expiries: the machine cannot be
                    # idle before ``lb`` more events have run (each consumes at most one).
                    lb = engine.live_lower_bound() - armed
                    if lb <= 0:
                        if self._only_periodic():
                            idle = True
                            break
                        lb = 1
                    engine.run(max_events=min(lb, left))
                left = max_events - (engine.events_run - events)
            else:
                idle = self._only_periodic()
        faults = [f for c, n in zip(self.cpus, nfaults, strict=True) for f in c.faults[n:]]
        self._mark_seen()
        return RunSummary(start, engine.now, engine.events_run - events, idle,
                          self.taken[ntaken:], self.messages[nmsg:], faults,
                          ctx.diagnostics[ndiag:], m.accounting())

    # -- forging ----------------------------------------------------------------------
    def forge(self, address: int, data: int, requester: int, via: Device | None = None,
              length: int = 4) -> int:
        """Put a raw memory write upstream as a device would: ``data`` (``length`` bytes)
        to ``address`` with ``requester`` as its requester ID. ``via``: the device whose
        link it leaves on (bridges above it apply their rules); None: it enters the root
        complex directly. A write to the interrupt window is an interrupt the ledger
        raises here (it ends delivered or dropped with a reason). Returns its id (0 if it
        is not an interrupt)."""
        m = self.machine
        now = m.now
        tlp = Tlp(TlpType.MWR, requester & 0xFFFF, address, data, length)
        tlp.source = "forged"
        if via is not None:
            tlp.source = f"{via.name}/forged"
            via.fn.send_upstream(tlp, now)
            return tlp.iid
        if tlp.is_interrupt:
            led = m.ctx.ledger
            tlp.iid = led.raise_("forged")
            led.launch(tlp.iid, "forged")
        self._message("forged", tlp, now)
        m.engine.at(now, m.rc.receive, tlp)
        return tlp.iid

    # -- reset ------------------------------------------------------------------------
    def reset(self, keep_time: bool = True) -> dict[str, Any]:
        """Platform reset: new CPUs, LAPICs (xAPIC mode, APIC base 0xFEE00000, IRR/ISR
        clear), I/O APICs (RTEs masked) and devices (config space at reset, or as the
        bench's firmware leaves them), built from the same options at the same places.
        Installed handlers and probes stay (they are the test's). ``keep_time``: the clock
        goes on from now, else it restarts at 0. The ledger starts afresh: returns the old
        machine's accounting (what was pending or in flight is lost with it)."""
        old = self.machine
        report = old.accounting()
        self._build(old.now if keep_time else 0)
        for dev in self.devices:
            self._attach(dev)
        for cpu, vector, gate in self._gates:
            for c in self._cpu_list(cpu):
                c.idt[vector] = gate
        return report

    def accounting(self) -> dict[str, Any]:
        return self.machine.accounting()

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return self.machine.ctx.diagnostics

    def rule_ids(self) -> list[str]:
        """The id (or, until every site has one, the citation) of each diagnostic."""
        return [d.rule_id or d.rule for d in self.machine.ctx.diagnostics]
