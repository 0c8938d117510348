"""irqbalance as a periodic policy running in the simulation (reference nic-moderation.md
section 8: irqbalance @cd9212f4, simplified but faithful).

Every ``interval_ns`` (10 s, irqbalance's default) one cycle runs as software on the first
unbanned CPU: it reads each IRQ's count (/proc/interrupts) and each CPU's hardirq + softirq
time (/proc/stat), and from the second cycle on picks IRQs to move off overloaded objects;
then it places the IRQs that need a home and writes ``/proc/irq/N/smp_affinity`` (through
``ProcIrqFs``: real register writes) only where the mask changes. A write that fails with
EIO (a managed IRQ) makes the IRQ's level NONE: never touched again.

The tree is node -> package -> cache domain (the CPUs sharing an L2: SMT siblings) -> CPU,
without the banned CPUs (isolcpus, nohz_full, ``banned``). An IRQ's class comes from its
device's PCI class (network ETH, storage SCSI, display VIDEO; an INTx line of another class
LEGACY, else OTHER); its level is where it is placed: OTHER on a package, LEGACY on a cache
domain, the others on one CPU.
"""

from __future__ import annotations

import errno
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from irqsim.os.manage import cpumask_hex

if TYPE_CHECKING:
    from irqsim.os.kernel import Kernel

# irqbalance's classes (types.h: IRQ_OTHER .. IRQ_10GBETH), higher first when sorting.
OTHER, LEGACY, SCSI, VIDEO, ETH = 0, 1, 2, 3, 4
CLASS_NAMES = {OTHER: "other", LEGACY: "legacy", SCSI: "storage", VIDEO: "video", ETH: "net"}
# Levels (BALANCE_NONE < PACKAGE < CACHE < CORE in irqbalance; here the tree depth).
NODE, PACKAGE, CACHE, CORE, NONE = 0, 1, 2, 3, -1
DEFAULT_INTERVAL_NS = 10_000_000_000


def irq_class(pci_class: int, msi: bool) -> int:
    """irqbalance's class for a device of PCI class code ``pci_class`` (24-bit)."""
    base = pci_class >> 16
    if base == 0x02:
        return ETH
    if base == 0x01:
        return SCSI
    if base == 0x03:
        return VIDEO
    return OTHER if msi else LEGACY


def class_level(cls: int) -> int:
    """OTHER -> package, LEGACY -> cache domain, the others -> core (one CPU)."""
    return PACKAGE if cls == OTHER else CACHE if cls == LEGACY else CORE


@dataclass(eq=False)
class Obj:
    """One topology object: its CPUs, children, load and the IRQs placed on it."""

    level: int
    cpus: list[int]
    children: list[Obj] = field(default_factory=list)
    load: float = 0.0
    irqs: list[IrqInfo] = field(default_factory=list)
    node: int = 0

    @property
    def key(self) -> tuple[int, tuple[int, ...]]:
        return self.level, tuple(self.cpus)


@dataclass(eq=False)
class IrqInfo:
    irq: int
    cls: int
    level: int
    node: int
    count: int = 0
    delta: int = 0
    load: float = 1.0
    home: tuple[int, tuple[int, ...]] | None = None       # the object it is placed on


class IrqBalance:
    """The daemon: ``start`` schedules its cycles on the machine's clock."""

    def __init__(self, kernel: Kernel, interval_ns: int = DEFAULT_INTERVAL_NS,
                 banned: list[int] | None = None, migrate_ratio: int = 0) -> None:
        self.k = kernel
        self.interval_ns = interval_ns
        self.banned = set(banned or []) | set(kernel.isolcpus)
        self.migrate_ratio = migrate_ratio
        self.irqs: dict[int, IrqInfo] = {}
        self.cycles = 0
        self.writes: list[tuple[int, int, str]] = []      # (time, irq, mask) written
        self.moves = 0
        self._cpu_ns: list[int] = []
        self.until: int | None = None
        self._due = 0

    # -- running ------------------------------------------------------------------------
    def start(self, until: int | None = None) -> None:
        """Run a cycle every ``interval_ns`` from now (the first one at once) until ``until``
        (None: while the machine has anything else to do)."""
        self.until = until
        self._due = self.k.ctx.engine.now
        self.k.ctx.engine.at(self._due, self._tick)

    def _tick(self, _: object) -> None:
        engine = self.k.ctx.engine
        cpus = [c for c in range(len(self.k.cpus)) if c not in self.banned] or [0]
        self.k.run_on(self.k.cpus[cpus[0]], self.cycle)
        self._due += self.interval_ns           # a fixed period (irqbalance sleeps it)
        if self.until is None and engine.peek() is None:
            return                  # the machine has gone idle: the daemon stops with it
        if self.until is None or self._due <= self.until:
            engine.at(max(self._due, engine.now), self._tick)

    # -- one cycle ----------------------------------------------------------------------
    def _tree(self) -> tuple[list[list[Obj]], dict[int, Obj]]:
        """Objects per level (node, package, cache, CPU) and CPU -> its CORE object."""
        k = self.k
        topo = k.topology
        allowed = [c for c in range(len(k.cpus)) if c not in self.banned]
        levels: list[list[Obj]] = [[], [], [], []]
        by: list[dict[int, Obj]] = [{}, {}, {}]
        leaf: dict[int, Obj] = {}
        for c in allowed:
            keys = (k.cpu_to_node(c), topo.socket_of(c), topo.core_of(c))
            parent: Obj | None = None
            for lvl, key in enumerate(keys):
                o = by[lvl].get(key)
                if o is None:
                    o = by[lvl][key] = Obj(lvl, [], node=keys[0])
                    levels[lvl].append(o)
                    if parent is not None:
                        parent.children.append(o)
                o.cpus.append(c)
                parent = o
            cpu_obj = Obj(CORE, [c], node=keys[0])
            assert parent is not None
            parent.children.append(cpu_obj)
            levels[CORE].append(cpu_obj)
            leaf[c] = cpu_obj
        return levels, leaf

    def _discover(self) -> None:
        k = self.k
        devs = {p.slot: p for p in k.devices}
        for irq, desc in k.irqs.items():
            if irq in self.irqs or not desc.actions:
                continue
            pdev = devs.get(desc.device)
            pci_class = pdev.class_code if pdev is not None else 0
            cls = irq_class(pci_class, desc.chip.startswith("PCI-MSI"))
            self.irqs[irq] = IrqInfo(irq, cls, class_level(cls), desc.node,
                                     count=sum(desc.counts))

    def cycle(self) -> None:
        """One pass: measure, pick IRQs to move (from the 2nd cycle), place, write."""
        k = self.k
        self.cycles += 1
        self._discover()
        times = [t["hardirq"] + t["softirq"] for t in (c.cpu_time() for c in k.cpus)]
        if not self._cpu_ns:
            self._cpu_ns = [0] * len(times)
        cpu_delta = [a - b for a, b in zip(times, self._cpu_ns, strict=True)]
        self._cpu_ns = times
        for info in self.irqs.values():
            total = sum(k.irqs[info.irq].counts)
            info.delta, info.count = total - info.count, total
        levels, leaf = self._tree()
        objs = {o.key: o for lvl in levels for o in lvl}
        for c, o in leaf.items():
            o.load = cpu_delta[c]
        for lvl in (CACHE, PACKAGE, NODE):
            for o in levels[lvl]:
                o.load = sum(ch.load for ch in o.children)
        pending: list[IrqInfo] = []
        for info in self.irqs.values():
            home = objs.get(info.home) if info.home is not None else None
            if info.level == NONE:
                continue
            if home is None:
                pending.append(info)
            else:
                home.irqs.append(info)
        for objs_at in levels:
            for o in objs_at:
                total = sum(i.delta for i in o.irqs)
                for i in o.irqs:
                    i.load = max(1.0, o.load * i.delta / total) if total else 1.0
        for info in pending:
            info.load = max(1.0, info.load)
        if self.cycles > 1:
            for depth in (CORE, CACHE, PACKAGE, NODE):
                pending += self._overloaded(levels[depth])
        self._place(pending, levels)
        self._write()

    def _overloaded(self, objs: list[Obj]) -> list[IrqInfo]:
        """IRQs to take off the objects of one level (irqbalance migrate_overloaded_irqs)."""
        if len(objs) < 2:
            return []
        loads = [o.load for o in objs]
        low = min(loads)
        moved: list[IrqInfo] = []
        for o in objs:
            if o.load <= low or len(o.irqs) < 2:
                continue
            adj = o.load
            for info in sorted(o.irqs, key=lambda i: (-i.cls, -i.load)):
                lo = info.load
                if info.level == NONE or lo <= 1:
                    continue
                delta = (adj - low) / self.migrate_ratio if self.migrate_ratio else 0
                if low + lo < delta + (adj - lo):
                    o.irqs.remove(info)
                    info.home = None
                    moved.append(info)
                    self.moves += 1
                    adj -= lo
                    low += lo
        return moved

    def _place(self, pending: list[IrqInfo], levels: list[list[Obj]]) -> None:
        """Home each pending IRQ: its device's node (if it has unbanned CPUs) or the least
        loaded node, then the least loaded child (fewer IRQs on a tie) down to its level."""
        if not levels[NODE]:
            return
        for info in sorted(pending, key=lambda i: (-i.cls, -i.load)):
            nodes = [o for o in levels[NODE] if o.node == info.node]
            cur = nodes[0] if nodes else min(levels[NODE], key=lambda o: (o.load, len(o.irqs)))
            cur.load += info.load + 1
            while cur.level < info.level and cur.children:
                cur = min(cur.children, key=lambda o: (o.load, len(o.irqs)))
                cur.load += info.load + 1
            cur.irqs.append(info)
            info.home = cur.key

    def _write(self) -> None:
        k = self.k
        n = len(k.cpus)
        for irq in sorted(self.irqs):
            info = self.irqs[irq]
            if info.home is None or info.level == NONE:
                continue
            cpus = list(info.home[1])
            mask = cpumask_hex(cpus, n)
            if k.procfs.read(f"/proc/irq/{irq}/smp_affinity").strip() == mask:
                continue
            try:
                k.procfs.write(f"/proc/irq/{irq}/smp_affinity", mask)
            except OSError as e:
                if e.errno == errno.EIO:
                    info.level = NONE          # permanent: never tried again
                    info.home = None
                    continue
                if e.errno == errno.EBUSY:     # a move still in flight: next cycle
                    continue
                raise
            self.writes.append((k.ctx.engine.now, irq, mask))

    def stats(self) -> dict[str, object]:
        loads = [float(v) for v in self._cpu_ns]
        return {"cycles": self.cycles, "moves": self.moves, "writes": len(self.writes),
                "banned": sorted(self.banned),
                "cpu_irq_ns_stdev": statistics.pstdev(loads) if loads else 0.0}
