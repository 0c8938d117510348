"""Running a guest image on an irqsim machine: building the unbooted machine, loading the
image, starting CPUs (the BSP at the image's entry, APs at their start-up IPI) and
scheduling their executors on the one clock.

Several CPUs are run by conservative synchronisation: the CPU whose guest clock is furthest
behind runs next, for a quantum of instructions, so an IPI or a shared-memory write never
lands far in another CPU's past (the skew is bounded by the quantum; docs/guest.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unicorn.x86_const import UC_X86_REG_RIP

from irqsim.cpu.cpu import WAIT_FOR_SIPI
from irqsim.guest import GuestError
from irqsim.guest.cpu import GuestCpu
from irqsim.guest.cpuid import CpuFeatures
from irqsim.guest.executor import Executor
from irqsim.guest.loader import Loaded, ap_entry, load_flat, load_multiboot
from irqsim.guest.memory import GuestRam
from irqsim.guest.ports import GuestPlatform
from irqsim.machine import Machine

UP_QUANTUM = 1_000_000          # instructions per emu_start with one CPU running
SMP_QUANTUM = 1_000             # ... with several running (about 0.3 us of guest time)
SKEW_PS = 2_000_000             # a CPU runs at most 2 us ahead of the slowest other one


@dataclass
class GuestOptions:
    """How to run an image (``irqsim run-guest`` options)."""

    cpus: int = 1
    features: CpuFeatures = field(default_factory=CpuFeatures)
    ram_mib: int = 128
    insn_ps: int | None = None      # default: the timing model's guest_insn_ps
    until_ns: int | None = None     # stop the guest at this simulated instant
    max_instructions: int | None = None
    env: str = ""                   # kvm-unit-tests environment (its initrd)
    flat_address: int | None = None  # load a flat binary here instead of an ELF
    exact: bool = False             # a hook per instruction: boundaries after every one
    native: bool = True             # count instructions in C (guest/native.c) when it builds
    vm_exits: bool = False          # run as a KVM guest: I/O APIC MMIO and EOI trap
    pic: bool = False               # the 8259 pair and ISA IRQ lines (Machine(pic=True))
    trace: bool = False


@dataclass
class GuestResult:
    """What a run produced."""

    console: str
    exit_code: int | None
    status: str
    instructions: int
    sim_ns: int
    delivered: int
    warps: int


class GuestRun:
    """A machine running one guest image."""

    def __init__(self, file: str | Path, opts: GuestOptions | None = None,
                 machine: Machine | None = None) -> None:
        self.opts = opts = opts or GuestOptions()
        self.file = str(file)
        if opts.cpus < 1:
            raise GuestError(f"--cpus must be >= 1, got {opts.cpus}")
        f = opts.features
        self.machine = m = machine or Machine(
            cpus=f.options(opts.cpus), cpu_class=GuestCpu, trace=opts.trace, pic=opts.pic)
        if not all(isinstance(c, GuestCpu) for c in m.cpus):
            raise GuestError("the machine's CPUs must be GuestCpu (Machine(cpu_class=GuestCpu))")
        self.features = opts.features
        self.insn_ps = opts.insn_ps or m.ctx.timing.guest_insn_ps
        self.exact = opts.exact
        self.limit_ns = opts.until_ns
        self.ram = GuestRam(opts.ram_mib << 20)
        m.memory = m.rc.memory = self.ram                    # device DMA lands in guest RAM
        self.vm_exits = opts.vm_exits
        self.native = opts.native
        self.platform = GuestPlatform(m, self.ram.size, len(m.cpus), opts.vm_exits)
        self.executors: list[Executor] = []
        self.resume: dict[Executor, int] = {}        # runnable executors -> next RIP
        self.halted: dict[Executor, int] = {}        # halted executors -> RIP after HLT
        self.finished = False
        self.status = ""
        self._cpuid: dict[tuple[int, int], tuple[int, ...]] = {}
        self._cpuid_uc: Any = None
        try:
            data = Path(file).read_bytes()
        except OSError as exc:
            raise GuestError(f"{file}: {exc.strerror}") from None
        if opts.flat_address is not None:
            self.loaded: Loaded = load_flat(self.ram, data, self.file, opts.flat_address)
        else:
            self.loaded = load_multiboot(self.ram, data, self.file, opts.env)
        for cpu in m.cpus:
            assert isinstance(cpu, GuestCpu)
            cpu.platform = self.platform
            ex = Executor(self, cpu)
            self.executors.append(ex)
            if cpu.index == 0:
                self.resume[ex] = self.loaded.entry
            else:
                cpu.state = WAIT_FOR_SIPI               # APs wait for INIT-SIPI-SIPI
                cpu.on_startup = self._startup

    def native_cpuid(self, leaf: int, sub: int) -> tuple[int, int, int, int]:
        """Unicorn's own CPUID answer (before :func:`irqsim.guest.cpuid.fix`), cached."""
        key = (leaf, sub)
        hit = self._cpuid.get(key)
        if hit is None:
            from unicorn import UC_ARCH_X86, UC_MODE_64, Uc
            from unicorn import x86_const as x
            if self._cpuid_uc is None:
                self._cpuid_uc = Uc(UC_ARCH_X86, UC_MODE_64)
                self._cpuid_uc.mem_map(0x1000, 0x1000)
                self._cpuid_uc.mem_write(0x1000, b"\x0f\xa2")
            uc = self._cpuid_uc
            uc.reg_write(x.UC_X86_REG_RAX, leaf)
            uc.reg_write(x.UC_X86_REG_RCX, sub)
            uc.emu_start(0x1000, 0x1002)
            hit = tuple(uc.reg_read(r) & 0xFFFFFFFF for r in (
                x.UC_X86_REG_EAX, x.UC_X86_REG_EBX, x.UC_X86_REG_ECX, x.UC_X86_REG_EDX))
            self._cpuid[key] = hit
        return hit  # type: ignore[return-value]

    # -- CPUs starting and stopping -------------------------------------------------------
    def _startup(self, cpu: object) -> None:
        assert isinstance(cpu, GuestCpu) and cpu.guest is not None
        ex = cpu.guest
        if not self.loaded.multiboot:
            ex.stop("start-up IPI: flat binaries have no AP entry")
            return
        ex.stopped = None
        ex.idle_to(ex.engine.now * 1000)
        self.resume[ex] = ap_entry(self.ram, self.loaded, cpu.index)
        for e in self.executors:                # a new runnable CPU bounds the others
            e.bound = self.bound_ps(e)

    def finish(self, status: str) -> None:
        self.finished = True
        self.status = self.status or status
        for ex in self.executors:
            ex.stop(status)

    def bound_ps(self, ex: Executor) -> int:
        """How far ``ex``'s clock may run ahead (ps): the slowest other runnable CPU's clock
        plus the skew window (conservative synchronisation); unbounded when alone."""
        others = [e.ps for e in self.resume if e is not ex]
        return min(others) + SKEW_PS if others else 1 << 62

    def others_running(self, ex: Executor) -> bool:
        """True when a CPU other than ``ex``'s has code to run."""
        return any(e is not ex for e in self.resume)

    # -- the scheduler ---------------------------------------------------------------------
    def run(self) -> GuestResult:
        """Run until the guest exits, every CPU stops, or the limits are reached."""
        engine = self.machine.ctx.engine
        while not self.finished:
            if self.halted:
                self._wake()
            live = [e for e in self.resume if e.stopped is None or e.stopped == "halt"]
            if not live and not self.halted:
                self.status = self.status or "no CPU left running"
                break
            if live:
                ex = min(live, key=lambda e: e.ps)
                rip = self.resume.pop(ex)
                ex.stopped = None
                # A short quantum while several CPUs run: a CPU spinning on a flag another
                # sets hands over sooner than at the sync bound (fewer wasted instructions).
                # Native mode wakes halted CPUs at once (wake), so they do not count there.
                several = len(live) > 1 or (self.halted and ex.nat is None)
                quantum = SMP_QUANTUM if several else UP_QUANTUM
                ex.halting = False
                ex.bound = self.bound_ps(ex)
                ex.start(rip, quantum)
                self._after(ex)
            else:
                self._idle()
            if self.limit_ns is not None and engine.now >= self.limit_ns:
                self.status = self.status or f"time limit {self.limit_ns} ns reached"
                break
            if self.opts.max_instructions is not None and sum(
                    e.instructions for e in self.executors) >= self.opts.max_instructions:
                self.status = self.status or "instruction limit reached"
                break
        plat = self.platform
        return GuestResult(plat.console.decode("latin-1"), plat.exit_code,
                           self.status or "stopped",
                           sum(e.instructions for e in self.executors), engine.now,
                           sum(e.delivered for e in self.executors),
                           sum(e.warps for e in self.executors))

    def _after(self, ex: Executor) -> None:
        """Where an executor stands after its quantum: runnable, halted or stopped."""
        rip = ex.rd(UC_X86_REG_RIP)             # (the binding's reg_read: several us)
        if self.finished:
            return
        if ex.halting:
            self.halted[ex] = ex.halt_rip
            ex.stopped = None
        elif ex.stopped is None or ex.stopped == "quantum":
            ex.stopped = None
            self.resume[ex] = rip
        elif ex.stopped == "INIT":
            pass                                         # waits for its SIPI
        else:
            self.status = self.status or f"CPU{ex.cpu.index}: {ex.stopped}"
            if ex.cpu.index == 0:
                self.finish(self.status)

    def wake(self, ex: Executor) -> None:
        """An interrupt or NMI reached ``ex`` while another CPU runs: when ``ex`` is halted
        and takes it, it becomes runnable now, at the engine's instant, and bounds the
        running CPUs' clocks from there (conservative synchronisation)."""
        if ex not in self.halted or not ex.wakeable():
            return
        self.resume[ex] = self.halted.pop(ex)
        ex.idle_to(self.machine.ctx.engine.now * 1000)
        ex.attention = True
        for e in self.executors:
            e.bound = self.bound_ps(e)

    def _wake(self) -> None:
        """Halted CPUs that an interrupt, NMI or fault now reaches become runnable, their
        clocks brought to the engine's instant (they were idle until now)."""
        now_ps = self.machine.ctx.engine.now * 1000
        for ex in list(self.halted):
            if (ex.line or ex.nmi_pending or ex.pending_fault is not None) and ex.wakeable():
                self.resume[ex] = self.halted.pop(ex)
                ex.idle_to(now_ps)
                ex.attention = True

    def _idle(self) -> None:
        """Every running CPU is halted: run the engine to its next event and wake the CPUs
        an interrupt or NMI now reaches."""
        engine = self.machine.ctx.engine
        nxt = engine.peek()
        if nxt is None or (self.limit_ns is not None and nxt > self.limit_ns):
            self.status = self.status or "every CPU halted with nothing left to wake them"
            self.finished = True
            return
        engine.run(until=nxt)
        for ex in self.halted:
            ex.idle_to(nxt * 1000)
