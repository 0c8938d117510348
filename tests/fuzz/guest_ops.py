"""The guest-operation fuzz harness (issue 14, "Fuzzing and fault testing").

One machine (``build_mixed``: MSI-X, MSI and INTx devices, a switch, two CPUs, one of them
switched to x2APIC) and a table of operations a guest or a device can perform, each with
the domains of its arguments. The hypothesis stateful test (tests/fuzz/test_guest_fuzz.py)
and the long random profile (tests/fuzz/long_fuzz.py, ``make fuzz``) draw from the same
table. After every operation the invariants hold:

* no Python exception escapes a guest access, a device event or an engine run;
* simulated time never goes backwards;
* read-only identity bits never change (config IDs, class, header type, capability chain,
  MSI-X Table Size, LAPIC Version, I/O APIC Version);
* at a quiescent point (the machine ran idle within its budget) the ledger balances
  (``Machine.accounting()["balanced"]``) and nothing is in flight;
* every run ends within its budget (a storm or a never-idle machine is stopped by it).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from irqsim.apic.ioapic import IOAPIC_DEFAULT_BASE
from irqsim.apic.lapic import APIC_BASE_EN, APIC_BASE_EXTD, APIC_DEFAULT_BASE
from irqsim.cpu.cpu import RUNNING
from irqsim.fabric.root_complex import ECAM_BASE
from irqsim.pci.function import PciFunction
from irqsim.pci.msix import MsixCapability
from irqsim.scenarios.mechanisms import build_mixed
from irqsim.sim.budget import Budget, BudgetExceeded
from irqsim.spec.vtd import VTD_BASE

# Small budget: a quiescent run of a fuzzed machine is short unless something storms.
FUZZ_BUDGET = Budget(max_sim_ns=200_000_000, max_events=200_000, storm_limit=500)
U64 = (1 << 64) - 1


# -- argument domains: one definition for hypothesis and for random.Random ---------------------
@dataclass(frozen=True)
class Ints:
    """An integer in [lo, hi], with the edges and a few special values more likely."""

    lo: int
    hi: int
    special: tuple[int, ...] = ()

    def draw(self, rng: random.Random) -> int:
        r = rng.random()
        if r < 0.15:
            return rng.choice((self.lo, self.hi, *self.special))
        return rng.randint(self.lo, self.hi)

    def strategy(self) -> Any:
        from hypothesis import strategies as st
        ints = st.integers(self.lo, self.hi)
        return st.one_of(st.sampled_from((self.lo, self.hi, *self.special)), ints)


@dataclass(frozen=True)
class Pick:
    """One of ``values``."""

    values: tuple[Any, ...]

    def draw(self, rng: random.Random) -> Any:
        return rng.choice(self.values)

    def strategy(self) -> Any:
        from hypothesis import strategies as st
        return st.sampled_from(self.values)


SIZE = Pick((1, 2, 4, 4, 4, 8, 3, 0))
VALUE = Ints(0, 0xFFFFFFFF, (0, 1, 0xFFFFFFFF, 0x80000000, 0xFFFF, 0x100))
VALUE64 = Ints(0, U64, (0, 1, U64, 1 << 32, 0xFF, 0x100, 0x1FF))
WRITE = Pick((False, True))


@dataclass(frozen=True)
class Op:
    """A named operation and the domains of its arguments (after the harness)."""

    name: str
    fn: Callable[..., None]
    args: tuple[Ints | Pick, ...]
    weight: int = 1


class GuestHarness:
    """A booted machine plus the invariant checks; ``do(op, *args)`` runs one operation."""

    def __init__(self) -> None:
        self.ops = 0
        self.quiescent_checks = 0
        self.budget_stops = 0
        self.stop_reasons: Counter[str] = Counter()
        self._build()

    def _build(self) -> None:
        with FUZZ_BUDGET.active():
            m, virtio, evdev, legacy = build_mixed()
        m.boot()
        self.m = m
        self.k = m.kernel
        self.devices: list[PciFunction] = [*virtio, evdev, legacy]
        self.functions = m.rc.functions()
        self.targets = [(f.bus, f.devfn) for f in self.functions] + [(0, 0x1F << 3), (9, 0)]
        # Every BAR region of every function, as (base, size) at boot, for MMIO operations.
        self.windows: list[tuple[int, int]] = []
        for f in self.functions:
            for index, spec in f.bars.items():
                base = f.bar_address(index)
                if base:
                    self.windows.append((base, spec.size))
        self.windows += [(IOAPIC_DEFAULT_BASE, 0x100), (VTD_BASE, 0x1000), (0xFEB00000, 0x1000)]
        # x2APIC on CPU1 (the OS booted both in xAPIC): reach MSRs as well as MMIO.
        cpu1 = m.cpus[1]
        self.section(1, lambda: cpu1.wrmsr(0x1B, cpu1.rdmsr(0x1B) | APIC_BASE_EN
                                            | APIC_BASE_EXTD))
        self.ro = self.read_only()
        self.last_now = m.now
        self.forged = 0              # forged interrupt writes sent (see quiesce)

    # -- plumbing ------------------------------------------------------------------
    def section(self, cpu: int, fn: Callable[[], object]) -> None:
        """Run ``fn`` as software on CPU ``cpu`` (its accesses charged to a section)."""
        def body() -> None:
            fn()
        self.k.run_section(self.m.cpus[cpu], body)

    def read_only(self) -> dict[str, Any]:
        """The identity bits no guest operation may change."""
        out: dict[str, Any] = {}
        for f in self.functions:
            d = f.config.data
            caps = [(off, cid, d[off + 1]) for off, cid in f.config.capabilities()]
            msix = getattr(f, "msix", None)
            size = f.config.read(msix.offset + 2, 2) & 0x7FF if isinstance(
                msix, MsixCapability) else None
            out[f.name] = (bytes(d[0:4]), bytes(d[8:12]), d[0x0E], d[0x34], caps, size)
        out["lapic versions"] = [a.version for a in self.m.lapics]
        out["ioapic version"] = self.m.ioapic.read_register(1)
        return out

    def check(self) -> None:
        """Invariants after every operation."""
        now = self.m.now
        assert now >= self.last_now, f"time went backwards: {now} < {self.last_now}"
        self.last_now = now
        ro = self.read_only()
        assert ro == self.ro, f"read-only bits changed: {self.ro} -> {ro}"

    def do(self, op: Op, *args: Any) -> None:
        self.ops += 1
        if any(c.state != RUNNING for c in self.m.cpus):
            # A forged INIT (an MSI with delivery mode 101b, SDM 10.11.2) left a CPU in
            # wait-for-SIPI: it runs no software, so fuzz on with a fresh machine.
            self.stop_reasons["INIT"] += 1
            self._build()
        op.fn(self, *args)
        self.check()

    # -- operations --------------------------------------------------------------------
    def ecam(self, target: int, offset: int, size: int, value: int, write: bool) -> None:
        bus, devfn = self.targets[target % len(self.targets)]
        addr = ECAM_BASE + (bus << 20 | devfn << 12 | offset)
        cpu = self.m.cpus[0]
        if size not in (1, 2, 4, 8):
            return                      # no instruction makes it (Cpu.read: ValueError)
        if write:
            self.section(0, lambda: cpu.write(addr, size, value & ((1 << 8 * size) - 1)))
        else:
            self.section(0, lambda: cpu.read(addr, size))

    def cf8(self, target: int, offset: int, port: int, size: int, value: int,
            write: bool) -> None:
        bus, devfn = self.targets[target % len(self.targets)]
        cpu = self.m.cpus[0]
        if size not in (1, 2, 4):
            return
        self.section(0, lambda: cpu.outl(0xCF8, 0x80000000 | bus << 16 | devfn << 8
                                         | offset & 0xFC))
        if write:
            self.section(0, lambda: cpu.outl(0xCFC + port, value & ((1 << 8 * size) - 1),
                                             size))
        else:
            self.section(0, lambda: cpu.inl(0xCFC + port, size))

    def mmio(self, window: int, offset: int, size: int, value: int, write: bool) -> None:
        base, span = self.windows[window % len(self.windows)]
        addr = base + offset % span
        cpu = self.m.cpus[0]
        if size not in (1, 2, 4, 8):
            return
        if write:
            self.section(0, lambda: cpu.write(addr, size, value & ((1 << 8 * size) - 1)))
        else:
            self.section(0, lambda: cpu.read(addr, size))

    def lapic_mmio(self, offset: int, size: int, value: int, write: bool) -> None:
        cpu = self.m.cpus[0]
        addr = cpu.apic_base + offset
        if size not in (1, 2, 4, 8):
            return
        if write:
            self.section(0, lambda: cpu.write(addr, size, value & ((1 << 8 * size) - 1)))
        else:
            self.section(0, lambda: cpu.read(addr, size))

    def x2apic_msr(self, index: int, value: int, write: bool) -> None:
        cpu = self.m.cpus[1]
        if write:
            self.section(1, lambda: cpu.wrmsr(index, value))
        else:
            self.section(1, lambda: cpu.rdmsr(index))

    def apic_base(self, cpu_index: int, value: int) -> None:
        cpu = self.m.cpus[cpu_index]
        self.section(cpu_index, lambda: cpu.wrmsr(0x1B, value))

    def dma(self, device: int, address: int, length: int, data: int) -> None:
        dev = self.devices[device % len(self.devices)]
        sent = dev.dma_write(address, (data & ((1 << 8 * length) - 1)).to_bytes(length,
                                                                                "little"))
        if sent is not None and address >> 20 == 0xFEE and length == 4 and not address & 3:
            self.forged += 1

    def event(self, device: int, which: int) -> None:
        dev = self.devices[device % len(self.devices)]
        if hasattr(dev, "complete"):
            dev.complete(which % max(1, len(dev.queues)))  # type: ignore[attr-defined]
        elif hasattr(dev, "n_events"):
            dev.event(which % dev.n_events)  # type: ignore[attr-defined]
        else:
            dev.event(which % 8)  # type: ignore[attr-defined]

    def run(self, ns: int) -> None:
        try:
            self.m.run(until=self.m.now + ns)
        except BudgetExceeded as e:
            self.budget_stops += 1
            self.stop_reasons[e.why] += 1
            self.rebuild()

    def quiesce(self) -> None:
        """Run to idle within the budget; then the books must be exact."""
        try:
            self.m.run()
        except BudgetExceeded as e:
            self.budget_stops += 1        # a storm the guest made: stopped, as it must be
            self.stop_reasons[e.why] += 1
            self.rebuild()
            return
        acc = self.m.accounting()
        self.quiescent_checks += 1
        assert acc["balanced"], f"ledger not balanced at a quiescent point: {acc}"
        # Idle: nothing is in flight (forged interrupt writes are raised at their origin,
        # issue 14 defect 2, so they balance too).
        assert acc["in_flight"] == 0, (
            f"in flight while idle: {acc} ({self.forged} forged interrupt writes)")

    def rebuild(self) -> None:
        """A budget stop leaves the machine mid-storm: fuzz on with a fresh one."""
        self._build()


OFFSET_CFG = Ints(0, 0xFFF, (0x04, 0x06, 0x3C, 0xFFE, 0xFFF, 0x03, 0x40, 0x50, 0x100))
OPS: tuple[Op, ...] = (
    Op("ecam", GuestHarness.ecam, (Ints(0, 31), OFFSET_CFG, SIZE, VALUE, WRITE), 4),
    Op("cf8", GuestHarness.cf8, (Ints(0, 31), Ints(0, 0xFF), Ints(0, 3), SIZE, VALUE, WRITE), 2),
    Op("mmio", GuestHarness.mmio, (Ints(0, 63), Ints(0, 0xFFFF, (0, 0x10, 0x40, 0xC, 0x800)),
                                   SIZE, VALUE, WRITE), 6),
    Op("lapic_mmio", GuestHarness.lapic_mmio,
       (Ints(0, 0xFFF, (0x80, 0xB0, 0xF0, 0x300, 0x310, 0x320, 0x380, 0x3E0)),
        SIZE, VALUE, WRITE), 3),
    Op("x2apic_msr", GuestHarness.x2apic_msr,
       (Ints(0x800, 0x8FF, (0x808, 0x80B, 0x80F, 0x830, 0x832, 0x838, 0x83E, 0x83F)),
        VALUE64, WRITE), 3),
    Op("apic_base", GuestHarness.apic_base,
       (Ints(0, 1), Pick((APIC_DEFAULT_BASE | APIC_BASE_EN, APIC_DEFAULT_BASE,
                          APIC_DEFAULT_BASE | APIC_BASE_EN | APIC_BASE_EXTD,
                          0xFED00000 | APIC_BASE_EN, 1 << 40, APIC_BASE_EXTD))), 1),
    Op("dma", GuestHarness.dma,
       (Ints(0, 4), Pick((0xFEE00000, 0xFEE01000, 0xFEE0000C, 0xFEEFF00C, 0xFEE00002,
                          0x1000, 0x10_0000, 0xFED00000, 0xB0000000)),
        Pick((1, 2, 4, 4, 4, 8)), VALUE), 3),
    Op("event", GuestHarness.event, (Ints(0, 4), Ints(0, 7)), 4),
    Op("run", GuestHarness.run, (Ints(0, 2_000_000, (1, 1000, 100_000)),), 3),
    Op("quiesce", GuestHarness.quiesce, (), 2),
)
WEIGHTED: Sequence[Op] = [op for op in OPS for _ in range(op.weight)]


# Operation sequences (on a fresh harness) that once broke an invariant: replayed by
# tests/fuzz/test_guest_fuzz.py as regression examples.
REGRESSIONS: dict[str, list[tuple[str, list[int]]]] = {
    # MSI-X entry 0's address written 0 by an 8-byte MMIO write; the next message was a
    # memory write to 0 counted in flight for ever (fixed in PciFunction.send_interrupt).
    "msix-address-zero": [("mmio", [55, 0, 8, 0, 1]), ("event", [0, 0]), ("quiesce", [])],
    # Issue 14 defect 1: a 4-byte ECAM write at 0xFFE raised IndexError.
    "ecam-0xffe": [("ecam", [3, 0xFFE, 4, 0xFFFFFFFF, 1]), ("quiesce", [])],
    # Issue 14 defect 5: a DWORD ECAM write at offset 3 changed Command.
    "ecam-offset-3": [("ecam", [3, 3, 4, 0, 1]), ("event", [0, 0]), ("quiesce", [])],
}
OP_BY_NAME = {op.name: op for op in OPS}


def replay(trail: list[tuple[str, list[int]]]) -> GuestHarness:
    """Run ``trail`` on a fresh harness (invariants checked after every operation)."""
    h = GuestHarness()
    for name, args in trail:
        h.do(OP_BY_NAME[name], *args)
    return h
