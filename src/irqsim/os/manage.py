"""The generic IRQ layer (Linux kernel/irq/irqdesc.c, manage.c, spurious.c, proc.c).

``IrqCore`` owns the descriptor table (IRQ number -> ``IrqDesc``), the per-CPU dispatch
tables the IDT gate reads, the vector matrix and the domains: the VECTOR domain at the root,
the parent the device domains get (``msi_parent``: the interrupt-remapping slot, see
os/irqdomain.py) and one IO-APIC domain per MADT I/O APIC. ``request_irq``/``free_irq``,
``disable_irq``/``enable_irq`` and ``irq_set_affinity`` act through the descriptor's
domain stack; every hardware effect is a real access made by the calling software section.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from irqsim.os.intx import ioapic_probe
from irqsim.os.io_apic import IoApicDomain
from irqsim.os.irq import (
    IRQF_SHARED,
    CpuCounts,
    Handler,
    IrqAction,
    IrqDesc,
    IrqGate,
    VectorTable,
)
from irqsim.os.irqdomain import AllocInfo, IrqData, IrqDomain
from irqsim.os.matrix import IrqMatrix
from irqsim.os.vector import VectorDomain
from irqsim.sim.rules import rule

R_NOBODY_CARED = rule(
    "OS-IRQ-NOBODY-CARED", "Linux note_interrupt",
    "an IRQ that no handler claims is disabled (nobody cared)")

if TYPE_CHECKING:
    from irqsim.os.kernel import Kernel

FIRST_DYNAMIC_IRQ = 24


def cpumask_hex(cpus: list[int], nbits: int) -> str:
    """A CPU mask as /proc/irq/N/smp_affinity prints it (``%*pb``: 32-bit groups, commas)."""
    mask = 0
    for c in cpus:
        mask |= 1 << c
    groups = []
    bits = nbits
    while True:
        width = min(bits, 32)
        groups.append(f"{mask & 0xFFFFFFFF:0{(width + 3) // 4}x}")
        mask >>= 32
        bits -= 32
        if bits <= 0:
            break
    return ",".join(reversed(groups))


class IrqCore:
    """Descriptors, dispatch tables, the vector matrix and the domain hierarchy."""

    def __init__(self, kernel: Kernel, first_vector: int, last_vector: int) -> None:
        self.k = kernel
        n = len(kernel.cpus)
        self.irqs: dict[int, IrqDesc] = {}
        # Per CPU: vector -> descriptor (Linux's vector_irq); the IDT's device-vector gate.
        self.vector_irq: list[VectorTable] = [VectorTable() for _ in range(n)]
        self.gate = IrqGate(kernel, self.vector_irq)
        self.matrix = IrqMatrix(n, first_vector, last_vector)
        self.vector_domain = VectorDomain(kernel, self.matrix)
        # The parent of the PCI-MSI(-X) and IO-APIC domains: an interrupt-remapping domain
        # goes here (Linux: the IR domain from irq_remapping_get_irq_domain), today none.
        self.msi_parent: IrqDomain = self.vector_domain
        self.ioapic_domains: list[IoApicDomain] | None = None
        self.intx_users: dict[int, set[str]] = {}       # GSI -> PCI slots sharing it
        self.next_irq = FIRST_DYNAMIC_IRQ

    def set_msi_parent(self, domain: IrqDomain) -> None:
        """Install ``domain`` (an interrupt-remapping domain whose parent is the VECTOR
        domain) between the PCI-MSI/MSI-X and IO-APIC domains and VECTOR. Device domains
        take their parent when their IRQs are allocated, so this must come first."""
        if self.irqs or self.ioapic_domains:
            raise OSError("set_msi_parent: IRQs already allocated through the old parent")
        self.msi_parent = domain

    # -- descriptors -------------------------------------------------------------------
    def alloc_desc(self, irq: int | None, chip: str, hwirq: int, device: str,
                   trigger: str = "edge", affinity: list[int] | None = None) -> IrqDesc:
        """A new descriptor (``irq`` None: the next dynamic number), not yet routed."""
        if irq is None:
            irq = self.next_irq
            self.next_irq += 1
        desc = IrqDesc(irq, chip, hwirq, 0, 0, CpuCounts(len(self.k.cpus)), device=device,
                       trigger=trigger)
        if affinity is None and self.k.irq_default_affinity is not None:
            affinity = list(self.k.irq_default_affinity)     # irqaffinity= (desc_smp_init)
        desc.affinity = affinity
        self.irqs[irq] = desc
        return desc

    def domain_alloc(self, domain: IrqDomain, descs: list[IrqDesc], hwirq: int,
                     info: AllocInfo) -> list[IrqData]:
        """irq_domain_alloc_irqs: build each descriptor's stack; drop them on failure."""
        try:
            datas = domain.alloc(descs, hwirq, info)
        except OSError:
            for desc in descs:
                del self.irqs[desc.irq]
            raise
        for desc, d in zip(descs, datas, strict=True):
            self._bind(desc, d)
        return datas

    def _bind(self, desc: IrqDesc, d: IrqData) -> None:
        desc.data = d
        chip = d.chip
        desc.chip_mask = lambda masked: (chip.irq_mask if masked else chip.irq_unmask)(d)
        desc.activated = True
        self.update_eoi(desc)

    def update_eoi(self, desc: IrqDesc) -> None:
        """Give the gate an EOI hook only while some level needs one (hot path)."""
        d = desc.data
        if d is None or not d.chip.needs_eoi(d):
            desc.chip_eoi = None
            return

        def eoi() -> None:
            d.chip.irq_eoi(d)
            self.update_eoi(desc)
        desc.chip_eoi = eoi

    def free_desc(self, desc: IrqDesc) -> None:
        """irq_domain_free_irqs: tear down the stack and forget the descriptor."""
        if desc.actions:
            raise OSError(f"IRQ {desc.irq} still has handlers ({desc.name}); free_irq first")
        d = desc.data
        if d is not None:
            d.domain.free(d)
        del self.irqs[desc.irq]

    # -- I/O APICs (from the MADT) ---------------------------------------------------------
    def ioapic_for_gsi(self, gsi: int) -> IoApicDomain | None:
        """The IO-APIC domain whose GSI range holds ``gsi`` (probed on first use)."""
        if self.ioapic_domains is None:
            self.ioapic_domains = []
            for entry in self.k.acpi.madt.ioapics:
                info = ioapic_probe(self.k, entry.address, entry.gsi_base, entry.id)
                if info is not None:
                    self.ioapic_domains.append(IoApicDomain(self.k, info, self.msi_parent))
        for dom in self.ioapic_domains:
            if dom.info.gsi_base <= gsi < dom.info.gsi_base + dom.info.pins:
                return dom
        return None

    # -- the driver API ------------------------------------------------------------------
    def request_irq(self, irq: int, handler: Handler, flags: int, name: str,
                    dev_id: Any = None, slot: str = "") -> None:
        """Attach ``handler``; the first one activates the stack (after a free_irq) and
        unmasks the source (irq_startup)."""
        desc = self.irqs.get(irq)
        if desc is None:
            raise OSError(f"request_irq: IRQ {irq} does not exist")
        if desc.actions and not (flags & IRQF_SHARED and
                                 all(a.flags & IRQF_SHARED for a in desc.actions)):
            raise OSError(f"request_irq: IRQ {irq} is busy and not shared")
        self.k.trace_sw("Driver", "Driver", f"Register ISR handler for IRQ {irq}")
        desc.actions.append(IrqAction(handler, flags, name, dev_id, slot))
        if len(desc.actions) > 1:
            return
        if not desc.activated and desc.data is not None:
            desc.data.domain.activate(desc.data)
            desc.activated = True
            self.update_eoi(desc)
        if desc.masked and not desc.disabled:
            if desc.chip_mask is not None:
                desc.chip_mask(False)
            desc.masked = False

    def free_irq(self, irq: int, dev_id: Any = None) -> str:
        """Remove the handler registered with ``dev_id``; the last one masks the source and
        releases its vector (irq_shutdown, x86_vector_deactivate). Returns its name."""
        desc = self.irqs.get(irq)
        if desc is None:
            raise OSError(f"free_irq: IRQ {irq} does not exist")
        action = next((a for a in desc.actions if a.dev_id is dev_id or a.dev_id == dev_id),
                      None)
        if action is None:
            raise OSError(f"free_irq: IRQ {irq} has no handler for dev_id {dev_id!r}")
        desc.actions.remove(action)
        self.k.trace_sw("Driver", "Driver", f"Free ISR handler for IRQ {irq}")
        if desc.actions:
            return action.name
        if desc.chip_mask is not None and not desc.masked:
            desc.chip_mask(True)
        desc.masked = True
        d = desc.data
        if d is not None and desc.activated and self._releasable(d):
            d.domain.deactivate(d)
            desc.activated = False
            self.update_eoi(desc)
        return action.name

    @staticmethod
    def _releasable(d: IrqData) -> bool:
        """A vector of a multi-message MSI block stays with its block until it is freed."""
        root = d.root()
        return getattr(root.chip_data, "block", 1) == 1

    def disable_irq(self, irq: int) -> None:
        """Mask the IRQ's source (I/O APIC entry, MSI mask bit, MSI-X entry)."""
        desc = self.irqs[irq]
        if desc.chip_mask is not None and not desc.masked:
            desc.chip_mask(True)
        desc.masked = True

    def enable_irq(self, irq: int) -> None:
        """Unmask the IRQ's source (a pending MSI/MSI-X message or a level line then fires)."""
        desc = self.irqs[irq]
        if desc.chip_mask is not None and desc.masked:
            desc.chip_mask(False)
        desc.masked = False

    def irq_set_affinity(self, irq: int, cpus: list[int]) -> list[int]:
        """Set the IRQ's affinity mask and retarget the hardware through the domain stack
        (MSI-X masked update, MSI address/data, RTE rewrite). Returns the effective
        affinity."""
        desc = self.irqs.get(irq)
        if desc is None:
            raise OSError(f"irq_set_affinity: IRQ {irq} does not exist")
        n = len(self.k.cpus)
        mask = sorted(set(cpus))
        if not mask or not all(0 <= c < n for c in mask):
            raise OSError(f"irq_set_affinity: invalid CPU mask {cpus} (EINVAL)")
        d = desc.data
        if d is None:
            raise OSError(f"irq_set_affinity: IRQ {irq} has no irq chip")
        self.k.trace_sw("OS", "OS", f"Set IRQ {irq} affinity to CPUs {mask}")
        if desc.activated:
            # irq_do_set_affinity: the chip gets the online CPUs of the mask
            d.chip.irq_set_affinity(d, [c for c in mask if self.k.cpu_online(c)] or mask)
            self.update_eoi(desc)
        desc.affinity = mask
        return self.effective_affinity(irq)

    def effective_affinity(self, irq: int) -> list[int]:
        desc = self.irqs[irq]
        return [desc.cpu] if desc.activated else []

    def note_interrupt(self, desc: IrqDesc, handled: bool) -> None:
        """Linux's note_interrupt: count unhandled interrupts; disable a line nobody claims."""
        k = self.k
        now = k.ctx.engine.now
        if not handled:
            desc.unhandled += 1
            if now - desc.last_unhandled > k.unhandled_age_ns:
                desc.window_unhandled = 1
            else:
                desc.window_unhandled += 1
            desc.last_unhandled = now
        desc.window_count += 1
        if desc.window_count < k.spurious_window:
            return
        desc.window_count = 0
        if desc.window_unhandled >= k.spurious_threshold:
            k.ctx.diag("OS", R_NOBODY_CARED,
                       f"irq {desc.irq}: nobody cared ({desc.window_unhandled} of the last "
                       f"{k.spurious_window} interrupts unhandled); handlers: "
                       f"{desc.name or 'none'}; Disabling IRQ #{desc.irq}")
            desc.disabled = "nobody cared"
            if desc.chip_mask is not None and not desc.masked:
                desc.chip_mask(True)
            desc.masked = True
        desc.window_unhandled = 0

    # -- /proc ------------------------------------------------------------------------------
    def interrupt_rows(self) -> list[dict[str, Any]]:
        """Rows for /proc/interrupts: one per IRQ with per-CPU counts."""
        rows = []
        for irq in sorted(self.irqs):
            d = self.irqs[irq]
            if d.device == "ISA" and not d.actions and not any(d.counts):
                continue        # a legacy IRQ nobody requested: Linux skips it too
            rows.append({"irq": irq, "counts": list(d.counts), "chip": d.chip,
                         "hwirq": d.hwirq, "name": d.name, "vector": d.vector, "cpu": d.cpu,
                         "device": d.device, "unhandled": d.unhandled, "trigger": d.trigger,
                         "disabled": d.disabled})
        return rows

    def proc_irq(self, irq: int) -> dict[str, str]:
        """/proc/irq/N/: smp_affinity, smp_affinity_list, effective_affinity(_list)."""
        desc = self.irqs[irq]
        n = len(self.k.cpus)
        aff = desc.affinity if desc.affinity is not None else self.vector_domain.reachable(None)
        eff = self.effective_affinity(irq)
        return {"smp_affinity": cpumask_hex(aff, n),
                "smp_affinity_list": cpulist(aff),
                "effective_affinity": cpumask_hex(eff, n),
                "effective_affinity_list": cpulist(eff)}


def cpulist(cpus: list[int]) -> str:
    """``%*pbl``: ranges like "0-3,6"."""
    out: list[str] = []
    s = sorted(cpus)
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[j] + 1:
            j += 1
        out.append(str(s[i]) if i == j else f"{s[i]}-{s[j]}")
        i = j + 1
    return ",".join(out)
