"""CPU isolation (``isolcpus=[managed_irq,domain,]LIST``; kernel/sched/isolation.c).

The kernel keeps the isolated CPUs in ``Kernel.isolcpus`` and the flags in
``Kernel.isolcpus_flags``. With ``managed_irq`` a managed interrupt's effective CPU is taken
from the housekeeping CPUs of its mask when there is one (kernel/irq/manage.c
irq_do_set_affinity); irqbalance bans every isolated CPU (os/irqbalance.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from irqsim.os.kernel import Kernel


def parse_isolcpus(text: str, ncpus: int) -> tuple[list[int], frozenset[str]]:
    """``isolcpus=`` value: optional flags (``domain``, ``managed_irq``, ``nohz``) then a
    CPU list; no flag means ``domain``. Returns (CPUs, flags)."""
    from irqsim.os.affinity import parse_cpulist
    flags: set[str] = set()
    parts = text.split(",")
    while parts and parts[0] in ("domain", "managed_irq", "nohz"):
        flags.add(parts.pop(0))
    return parse_cpulist(",".join(parts), ncpus), frozenset(flags or {"domain"})


def housekeeping(k: Kernel, mask: list[int]) -> list[int]:
    """``mask`` without the isolated CPUs when isolcpus=managed_irq is set and that leaves
    one; else ``mask``."""
    if not k.isolcpus or "managed_irq" not in k.isolcpus_flags:
        return mask
    hk = [c for c in mask if c not in k.isolcpus]
    return hk or mask
