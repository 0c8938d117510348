"""The x86 VECTOR domain (Linux arch/x86/kernel/apic/vector.c), the root of every hierarchy.

Each IRQ's ``ApicData`` (Linux struct apic_chip_data) names the CPU and vector its messages
target. Allocation asks the vector matrix for the CPU of the affinity mask with the most free
vectors; the CPU's dispatch table (``Kernel.vector_irq``, Linux's vector_irq) then maps the
vector to the descriptor. ``irq_set_affinity`` keeps the current target if the new mask allows it;
otherwise it assigns a vector on the best CPU of the new mask, and the old (CPU, vector)
stays mapped until the first interrupt arrives on the new target (irq_complete_move). Then a
cleanup runs on the old CPU one jiffy later (Linux 6.3+ vector_cleanup timer): if the old
vector is still set in that LAPIC's IRR or ISR the cleanup is re-armed, else the mapping is
removed and the vector returns to the matrix. A second move while one is in progress fails
with EBUSY, as in Linux.

Without interrupt remapping a message's destination is an 8-bit APIC ID (SDM 11.11.1;
0xFF is broadcast), so CPUs whose APIC ID exceeds 0xFE are not reachable (``reachable``);
an IR domain between the device domains and this one lifts that limit.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from irqsim.os.irqdomain import AllocInfo, IrqChip, IrqData, IrqDomain
from irqsim.os.isolation import housekeeping
from irqsim.os.matrix import IrqMatrix, VectorSpaceExhausted
from irqsim.sim.rules import rule
from irqsim.spec.lapic import APIC_IRR, APIC_ISR
from irqsim.spec.msi import msi_address, msi_data

R_MSI_DEST_8BIT = rule(
    "OS-MSI-DEST-8BIT", "SDM 11.11.1",
    "a compatibility-format MSI destination ID is 8 bits")

if TYPE_CHECKING:
    from irqsim.os.irq import IrqDesc
    from irqsim.os.kernel import Kernel

JIFFY_NS = 1_000_000                # HZ=1000


@dataclass(slots=True)
class ApicData:
    """Where an IRQ's messages go (Linux struct apic_chip_data)."""

    cpu: int
    vector: int                      # 0: deactivated (no vector assigned)
    block: int = 1                   # vectors this data owns in the matrix (multi-MSI head)
    stale: list[tuple[int, int]] = field(default_factory=list)   # mapped until cleanup
    move_in_progress: bool = False


class VectorDomain(IrqDomain, IrqChip):
    """x86_vector_domain and its chip (lapic_controller, "APIC")."""

    name = "VECTOR"
    cleanup_delay_ns = JIFFY_NS

    def __init__(self, kernel: Kernel, matrix: IrqMatrix) -> None:
        super().__init__(None)
        self.k = kernel
        self.matrix = matrix
        self.dest_id_limit = 0xFE          # compatibility-format destination (no IR)
        self.cleanups = 0                  # old vectors released
        self.cleanup_retries = 0           # cleanups re-armed: the old vector was pending

    # -- targets ---------------------------------------------------------------------
    def reachable(self, cpus: list[int] | None, who: str = "") -> list[int]:
        """CPUs of ``cpus`` (None: all) a message can target; all reachable ones if none
        of ``cpus`` is (with a diagnostic naming the rule)."""
        k = self.k
        n = len(k.cpus)
        wanted = list(range(n)) if cpus is None else list(cpus)
        ok = [c for c in wanted if 0 <= c < n and k.apic_ids[c] <= self.dest_id_limit]
        if cpus is not None and len(ok) != len(wanted):
            k.ctx.diag(who or "OS", R_MSI_DEST_8BIT,
                       f"CPUs {sorted(set(wanted) - set(ok))} cannot be targeted by a "
                       "compatibility-format interrupt; using the others")
        if not ok:
            ok = [c for c in range(n) if k.apic_ids[c] <= self.dest_id_limit]
        return ok

    # -- domain ----------------------------------------------------------------------
    def alloc(self, descs: list[IrqDesc], hwirq: int, info: AllocInfo) -> list[IrqData]:
        """Assign a vector to each of ``descs`` (one aligned block if ``info.contiguous``)
        and map it in the target CPU's dispatch table. Raises OSError when the matrix
        cannot."""
        got: list[ApicData] = []
        try:
            if info.contiguous:
                mask = self.reachable(info.affinity[0], info.who)
                cpu, first = self.matrix.alloc(mask, count=info.block, align=info.block)
                got = [ApicData(cpu, first + i, info.block if i == 0 else 0)
                       for i in range(len(descs))]
            else:
                for i in range(len(descs)):
                    mask = self.reachable(info.affinity[i], info.who)
                    if descs[i].managed:
                        cpu, v = self.matrix.alloc_managed(housekeeping(self.k, mask))
                    else:
                        cpu, v = self._alloc_near(mask, descs[i].node)
                    got.append(ApicData(cpu, v))
        except VectorSpaceExhausted as e:
            for d, a in zip(descs, got, strict=False):
                self.matrix.free(a.cpu, a.vector, a.block)
                if d.managed:
                    self.matrix.managed[a.cpu] -= 1
            raise OSError(f"{info.who}: {e}") from None
        out = []
        for i, (desc, a) in enumerate(zip(descs, got, strict=True)):
            self._install(desc, a.cpu, a.vector)
            out.append(IrqData(desc.irq, hwirq + i, self, self, None, a))
        return out

    def _alloc_near(self, mask: list[int], node: int) -> tuple[int, int]:
        """assign_irq_vector_any_locked: the mask's CPUs on the device's node first, then
        the whole mask (reference 7.2)."""
        if node >= 0:
            near = [c for c in mask if self.k.cpu_to_node(c) == node]
            if near and len(near) != len(mask):
                try:
                    return self.matrix.alloc(near)
                except VectorSpaceExhausted:
                    pass
        return self.matrix.alloc(mask)

    def free(self, d: IrqData) -> None:
        self.deactivate(d)
        a: ApicData = d.chip_data
        a.block = 0

    def activate(self, d: IrqData) -> None:
        """Assign a vector again after ``deactivate`` (request_irq after free_irq)."""
        a: ApicData = d.chip_data
        if a.vector:
            return
        desc = self.k.irqs[d.irq]
        try:
            mask = self.reachable(desc.affinity, desc.device)
            if desc.managed:
                a.cpu, a.vector = self.matrix.alloc_managed(housekeeping(self.k, mask))
            else:
                a.cpu, a.vector = self._alloc_near(mask, desc.node)
        except VectorSpaceExhausted as e:
            raise OSError(f"IRQ {d.irq}: {e}") from None
        a.block = 1
        self._install(desc, a.cpu, a.vector)

    def deactivate(self, d: IrqData) -> None:
        """Unmap and release the vector (and any not yet cleaned up after a move)."""
        a: ApicData = d.chip_data
        if not a.vector:
            return
        for cpu, v in a.stale:
            self._uninstall(d.irq, cpu, v)
            self.matrix.free(cpu, v)
        a.stale.clear()
        a.move_in_progress = False
        self._uninstall(d.irq, a.cpu, a.vector)
        if a.block:
            self.matrix.free(a.cpu, a.vector, a.block)
        desc = self.k.irqs.get(d.irq)
        if desc is not None and desc.managed:
            self.matrix.managed[a.cpu] -= 1
        a.vector = 0

    def _install(self, desc: IrqDesc, cpu: int, vector: int) -> None:
        self.k.vector_irq[cpu][vector] = desc
        desc.cpu, desc.vector = cpu, vector

    def _uninstall(self, irq: int, cpu: int, vector: int) -> None:
        table = self.k.vector_irq[cpu]
        desc = table.get(vector)
        if desc is not None and desc.irq == irq:
            del table[vector]

    # -- chip ------------------------------------------------------------------------
    def irq_compose_msi_msg(self, d: IrqData) -> tuple[int, int]:
        """Compatibility-format Message Address (destination APIC ID) and Data (vector)."""
        a: ApicData = d.chip_data
        return msi_address(self.k.apic_ids[a.cpu]), msi_data(a.vector)

    def irq_set_affinity(self, d: IrqData, cpus: list[int]) -> bool:
        """Move to the best CPU of ``cpus`` unless the current one is in it."""
        return self._move(d, cpus, transit=False)

    def move_with_transit(self, d: IrqData, cpus: list[int]) -> bool:
        """As ``irq_set_affinity``, but the new vector is also mapped on the OLD CPU until
        cleanup, so a non-maskable MSI can switch vector first and destination second
        (Linux msi_set_affinity). False if no vector is free on both CPUs."""
        return self._move(d, cpus, transit=True)

    def _move(self, d: IrqData, cpus: list[int], transit: bool) -> bool:
        a: ApicData = d.chip_data
        desc = self.k.irqs[d.irq]
        mask = self.reachable(cpus, desc.device)
        if not a.vector or a.cpu in mask:
            return False
        if a.block > 1 or (a.block == 0 and a.vector):
            raise OSError(f"IRQ {d.irq}: a multi-message MSI block cannot move alone")
        if a.move_in_progress:
            raise OSError(errno.EBUSY,
                          f"IRQ {d.irq}: a previous affinity change is not complete (EBUSY)")
        old_cpu, old_vector = a.cpu, a.vector
        if transit:
            new_cpu = self.matrix.find_best_cpu(mask)[0]
            v = self.matrix.alloc_on_both(new_cpu, old_cpu)
            if v is None:
                return False
            self._install(desc, old_cpu, v)         # (old CPU, new vector): transit
            a.stale.append((old_cpu, v))
        else:
            try:
                new_cpu, v = self.matrix.alloc(mask)
            except VectorSpaceExhausted as e:
                raise OSError(f"IRQ {d.irq}: {e}") from None
        a.stale.append((old_cpu, old_vector))
        self._install(desc, new_cpu, v)
        a.cpu, a.vector = new_cpu, v
        a.move_in_progress = True
        return True

    def needs_eoi(self, d: IrqData) -> bool:
        a: ApicData = d.chip_data
        return a.move_in_progress

    def irq_eoi(self, d: IrqData) -> None:
        """irq_complete_move: the first interrupt taken on the new target schedules the
        old vectors' cleanup on their CPUs."""
        a: ApicData = d.chip_data
        if not a.move_in_progress or self.k.current_cpu.index != a.cpu:
            return
        a.move_in_progress = False
        stale, a.stale = a.stale, []
        t = self.k.current_cpu.clock + self.cleanup_delay_ns     # a jiffy after this instant
        for cpu, v in stale:
            self.k.ctx.engine.at(t, self._cleanup, (d.irq, cpu, v))

    def _cleanup(self, arg: tuple[int, int, int]) -> None:
        """__vector_cleanup, as software on the old CPU: release ``v`` unless that LAPIC
        still holds it in IRR or ISR (then try again a jiffy later)."""
        irq, cpu_index, v = arg
        k = self.k
        cpu = k.cpus[cpu_index]
        reg = 0x10 * (v >> 5)

        def body() -> None:
            bits = k.apic_read(cpu, APIC_IRR + reg) | k.apic_read(cpu, APIC_ISR + reg)
            if bits >> (v & 31) & 1:
                self.cleanup_retries += 1
                k.ctx.engine.at(cpu.clock + self.cleanup_delay_ns, self._cleanup, arg)
                return
            self._uninstall(irq, cpu_index, v)
            self.matrix.free(cpu_index, v)
            self.cleanups += 1
        k.run_on(cpu, body)
