"""Interrupt affinity at run time: the /proc/irq files, managed spreading, isolation.

* ``ProcIrqFs``: ``/proc/irq/N/{smp_affinity, smp_affinity_list, effective_affinity,
  effective_affinity_list, affinity_hint, node}`` and ``/proc/irq/default_smp_affinity``,
  read and written as text in Linux's formats (kernel/irq/proc.c; reference
  nic-moderation.md 7.1): hex bitmaps of nr_cpu_ids bits in 32-bit comma groups, the
  leading group only as wide as needed; range lists. Write errors are ``OSError`` with
  Linux's errno: EIO for a managed IRQ (or one whose chip cannot move), EINVAL for a mask
  with no online CPU or bad syntax, EOVERFLOW / ERANGE for CPUs beyond nr_cpu_ids.
  A write retargets the hardware through the domain stack (``IrqCore.irq_set_affinity``:
  MSI-X masked update, MSI address/data, RTE rewrite), at the writing section's clock.
* ``group_cpus_evenly`` / ``irq_create_affinity_masks``: managed spreading (lib/group_cpus.c;
  reference 7.3), and ``pci_alloc_irq_vectors_affinity`` which gives the queue vectors
  managed masks and the ``pre_vectors`` (admin/misc) the default one.
* Isolation: ``Kernel.isolcpus`` (boot option ``isolcpus=[managed_irq,]LIST``) and
  ``irqaffinity=`` (``Kernel.irq_default_affinity``): a managed IRQ's effective CPU avoids
  isolated CPUs when its mask has a housekeeping CPU (kernel/irq/manage.c
  irq_do_set_affinity); irqbalance never targets them (os/irqbalance.py).
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING

from irqsim.os.isolation import housekeeping  # noqa: F401  (re-exported)
from irqsim.os.manage import cpulist, cpumask_hex
from irqsim.os.pci_irq import PCI_IRQ_MSIX

if TYPE_CHECKING:
    from irqsim.machine import Machine
    from irqsim.os.kernel import Kernel
    from irqsim.os.pci import PciDev

NUMA_NO_NODE = -1


def _err(code: int, what: str) -> OSError:
    return OSError(code, f"{os.strerror(code)}: {what}")


# -- text formats (lib/bitmap.c bitmap_parse, bitmap_parselist; %*pb, %*pbl) ----------------
def parse_cpumask(text: str, nr_cpu_ids: int) -> list[int]:
    """A hex bitmap as written to smp_affinity: comma-separated groups of up to 8 hex digits,
    most significant first (``ff``, ``ff,ffffffff``, ``000000ff``). EINVAL on bad syntax,
    EOVERFLOW when a set bit is beyond ``nr_cpu_ids`` (bitmap_parse)."""
    s = text.strip()
    if not s:
        raise _err(errno.EINVAL, "empty mask")
    groups = s.split(",")
    value = 0
    for g in groups:
        if not g or len(g) > 8 or not re.fullmatch(r"[0-9a-fA-F]+", g):
            raise _err(errno.EINVAL, f"bad hex group {g!r} in {text!r}")
        value = value << 32 | int(g, 16)
    if value >> nr_cpu_ids:
        raise _err(errno.EOVERFLOW, f"mask {text.strip()!r} names CPUs beyond nr_cpu_ids "
                                    f"{nr_cpu_ids}")
    return [c for c in range(nr_cpu_ids) if value >> c & 1]


def parse_cpulist(text: str, nr_cpu_ids: int) -> list[int]:
    """A range list as written to smp_affinity_list (``0-3,8,10-11``, ``0-7:2/4``).
    EINVAL on bad syntax, ERANGE for a CPU beyond ``nr_cpu_ids`` (bitmap_parselist)."""
    s = text.strip()
    out: set[int] = set()
    if not s:
        return []
    for part in s.split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+)(?::(\d+)/(\d+))?)?", part)
        if m is None:
            raise _err(errno.EINVAL, f"bad range {part!r} in {text!r}")
        a = int(m.group(1))
        b = int(m.group(2)) if m.group(2) is not None else a
        used, grp = (int(m.group(3)), int(m.group(4))) if m.group(3) else (1, 1)
        if b < a or grp == 0 or used == 0 or used > grp:
            raise _err(errno.EINVAL, f"bad range {part!r} in {text!r}")
        if b >= nr_cpu_ids:
            raise _err(errno.ERANGE, f"CPU {b} is beyond nr_cpu_ids {nr_cpu_ids}")
        out.update(c for c in range(a, b + 1) if (c - a) % grp < used)
    return sorted(out)


# -- managed spreading (lib/group_cpus.c; kernel/irq/affinity.c) ---------------------------
def _spread_one(mask: set[int], pool: list[int], count: int,
                siblings: Callable[[int], list[int]]) -> None:
    """grp_spread_init_one: the lowest CPU left in ``pool`` then its SMT siblings."""
    while count > 0 and pool:
        cpu = pool.pop(0)
        mask.add(cpu)
        count -= 1
        for sib in siblings(cpu):
            if count <= 0:
                break
            if sib in pool:
                pool.remove(sib)
                mask.add(sib)
                count -= 1


def group_cpus_evenly(groups: int, cpus: Sequence[int], node_of: Callable[[int], int],
                      siblings: Callable[[int], list[int]]) -> list[list[int]]:
    """Spread ``cpus`` into ``groups`` masks, node by node (reference 7.3)."""
    if groups < 1:
        return []
    masks: list[set[int]] = [set() for _ in range(groups)]
    by_node: dict[int, list[int]] = {}
    for c in sorted(cpus):
        by_node.setdefault(node_of(c), []).append(c)
    nodes = sorted(by_node)
    if groups <= len(nodes):
        for k, n in enumerate(nodes):
            masks[k % groups].update(by_node[n])
        return [sorted(m) for m in masks]
    # alloc_nodes_groups: nodes sorted by CPU count ascending (stable: node order on ties).
    order = sorted(nodes, key=lambda n: len(by_node[n]))
    left_groups, left_cpus = groups, sum(len(v) for v in by_node.values())
    ngroups: dict[int, int] = {}
    for n in order:
        nc = len(by_node[n])
        g = max(1, left_groups * nc // left_cpus)
        g = min(g, nc)
        ngroups[n] = g
        left_groups -= g
        left_cpus -= nc
    cur = 0
    for n in order:
        pool = list(by_node[n])
        nc, g = len(pool), ngroups[n]
        extra = nc - g * (nc // g)
        for _ in range(g):
            per = nc // g
            if extra:
                per += 1
                extra -= 1
            if cur >= groups:
                cur = 0
            _spread_one(masks[cur], pool, per, siblings)
            cur += 1
    return [sorted(m) for m in masks]


def irq_create_affinity_masks(nvecs: int, pre: int, post: int, cpus: Sequence[int],
                              default: list[int], node_of: Callable[[int], int],
                              siblings: Callable[[int], list[int]],
                              ) -> list[tuple[list[int], bool]]:
    """(mask, is_managed) per vector: ``pre`` and ``post`` vectors get ``default``
    (unmanaged), the middle ones a managed group each."""
    middle = max(0, nvecs - pre - post)
    spread = group_cpus_evenly(middle, cpus, node_of, siblings) if middle else []
    return ([(list(default), False)] * pre + [(m, True) for m in spread]
            + [(list(default), False)] * min(post, nvecs - pre))


def topology_spread(k: Kernel, nvecs: int, pre: int, post: int = 0,
                    ) -> list[tuple[list[int], bool]]:
    """``irq_create_affinity_masks`` over the kernel's CPUs, nodes and SMT siblings."""
    topo = k.topology
    n = len(k.cpus)

    def siblings(c: int) -> list[int]:
        return [s for s in range(n) if s != c and topo.core_of(s) == topo.core_of(c)]

    return irq_create_affinity_masks(nvecs, pre, post, range(n), irq_default_affinity(k),
                                     k.cpu_to_node, siblings)


def pci_alloc_irq_vectors_affinity(k: Kernel, pdev: PciDev, min_vecs: int, max_vecs: int,
                                   pre_vectors: int = 0, post_vectors: int = 0,
                                   flags: int = PCI_IRQ_MSIX) -> int:
    """``pci_alloc_irq_vectors_affinity(..., PCI_IRQ_AFFINITY, {pre_vectors, post_vectors})``
    for MSI-X: the middle vectors get managed masks spread over the nodes; each one's
    effective CPU is chosen as for a managed IRQ (fewest managed vectors, highest CPU on a
    tie, housekeeping CPUs first under isolcpus=managed_irq). Returns the count."""
    from irqsim.os import pci_irq
    from irqsim.os.msix import msix_table_size
    n = min(max_vecs, msix_table_size(k, pdev)) if pdev.msix_cap is not None else max_vecs
    masks = topology_spread(k, n, pre_vectors, post_vectors)
    count = pci_irq.pci_alloc_irq_vectors(k, pdev, min_vecs, n, flags,
                                          masks=[m for m, _ in masks],
                                          managed=[mg for _, mg in masks])
    return count


def irq_set_affinity_hint(k: Kernel, irq: int, cpus: list[int] | None) -> None:
    """irq_set_affinity_hint: record the driver's hint (/proc/irq/N/affinity_hint) and, as
    Linux's __irq_apply_affinity_hint(..., set=true) does, apply it as the affinity of an
    unmanaged IRQ (None clears the hint)."""
    desc = k.irqs[irq]
    desc.affinity_hint = sorted(set(cpus)) if cpus else None
    if cpus and not desc.managed:
        k.irq.irq_set_affinity(irq, desc.affinity_hint or [])


# -- the kernel-side state the files show ---------------------------------------------------
def irq_default_affinity(k: Kernel) -> list[int]:
    """/proc/irq/default_smp_affinity (``irqaffinity=``; all CPUs by default)."""
    d = k.irq_default_affinity
    return list(range(len(k.cpus))) if d is None else list(d)


class ProcIrqFs:
    """The /proc/irq tree of one kernel, read and written as text."""

    FILES = ("smp_affinity", "smp_affinity_list", "effective_affinity",
             "effective_affinity_list", "affinity_hint", "node")
    WRITABLE = ("smp_affinity", "smp_affinity_list")

    def __init__(self, kernel: Kernel) -> None:
        self.k = kernel

    @property
    def nr_cpu_ids(self) -> int:
        return len(self.k.cpus)

    def _split(self, path: str) -> tuple[int | None, str]:
        parts = path.strip("/").split("/")
        if parts[:2] != ["proc", "irq"]:
            raise _err(errno.ENOENT, path)
        if len(parts) == 3 and parts[2] == "default_smp_affinity":
            return None, parts[2]
        if len(parts) != 4 or not parts[2].isdigit() or parts[3] not in self.FILES:
            raise _err(errno.ENOENT, path)
        irq = int(parts[2])
        if irq not in self.k.irqs:
            raise _err(errno.ENOENT, path)
        return irq, parts[3]

    def read(self, path: str) -> str:
        """The file's content (one line, with its newline), as ``cat`` prints it."""
        irq, name = self._split(path)
        n = self.nr_cpu_ids
        if irq is None:
            return cpumask_hex(irq_default_affinity(self.k), n) + "\n"
        desc = self.k.irqs[irq]
        if name == "node":
            return f"{desc.node}\n"
        if name.startswith("affinity_hint"):
            return cpumask_hex(desc.affinity_hint or [], n) + "\n"
        if name.startswith("effective"):
            cpus = self.k.irq.effective_affinity(irq)
        else:
            cpus = desc.affinity if desc.affinity is not None else irq_default_affinity(self.k)
        text = cpulist(cpus) if name.endswith("_list") else cpumask_hex(cpus, n)
        return text + "\n"

    def write(self, path: str, text: str) -> int:
        """``echo TEXT > path``: returns the bytes written; OSError(errno) like write(2)."""
        irq, name = self._split(path)
        n = self.nr_cpu_ids
        if irq is None:
            cpus = parse_cpumask(text, n)
            if not cpus:
                raise _err(errno.EINVAL, "default_smp_affinity needs an online CPU")
            self.k.irq_default_affinity = cpus
            return len(text)
        if name not in self.WRITABLE:
            raise _err(errno.EACCES, f"{path} is read-only")
        desc = self.k.irqs[irq]
        if desc.managed or desc.data is None:
            # irq_can_set_affinity_usr: managed (or chip without affinity) -> EIO
            raise _err(errno.EIO, f"IRQ {irq} is managed by the kernel"
                       if desc.managed else f"IRQ {irq} cannot be moved")
        cpus = parse_cpulist(text, n) if name.endswith("_list") else parse_cpumask(text, n)
        online = [c for c in cpus if self.k.cpu_online(c)]
        if not online:              # cpumask_intersects(new, cpu_online_mask) fails
            raise _err(errno.EINVAL, f"IRQ {irq}: the mask has no online CPU")
        self.k.irq.irq_set_affinity(irq, cpus)
        return len(text)

    def table(self) -> list[dict[str, str | int]]:
        """Every IRQ's files (for views and the ``irq-affinity`` command)."""
        rows: list[dict[str, str | int]] = []
        for irq in sorted(self.k.irqs):
            desc = self.k.irqs[irq]
            row: dict[str, str | int] = {"irq": irq, "name": desc.name or desc.device,
                                         "managed": int(desc.managed)}
            for f in self.FILES:
                row[f] = self.read(f"/proc/irq/{irq}/{f}").strip()
            rows.append(row)
        return rows


# Run-time changes a command wants applied right after a machine boots (``irqsim
# platform --set``): each callback gets the booted machine.
AFTER_BOOT: ContextVar[tuple[Callable[[Machine], None], ...]] = ContextVar("AFTER_BOOT",
                                                                         default=())
