"""A machine with a hypervisor: :class:`VirtMachine` adds KVM and counts the virtual
interrupts held in PIDs and virtual-APIC pages as pending (so the books balance)."""

from __future__ import annotations

from typing import Any

from irqsim.machine import Machine
from irqsim.sim.stats import Histogram
from irqsim.virt.kvm import Kvm


class VirtMachine(Machine):
    """:class:`~irqsim.machine.Machine` plus ``kvm`` (created by :meth:`start_kvm` after
    boot: KVM installs its vector handlers in the OS's IDT)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.kvm: Kvm | None = None
        self.guest_latency: GuestLatency | None = None

    def start_kvm(self, apicv: bool = True) -> Kvm:
        """Load KVM (call after boot)."""
        self.kvm = Kvm(self.kernel, self.memory, apicv=apicv,
                       posted_ids=self.iommu.take_posted)
        self.guest_latency = GuestLatency(self, self.kvm)
        return self.kvm

    def pending(self) -> dict[str, int]:
        out = super().pending()
        if self.kvm is not None:
            out.update(self.kvm.pending())
        return out


class GuestLatency:
    """A probe: device event to the guest's handler entry, per interrupt (it follows a
    virtual interrupt back to the host interrupt it continues)."""

    def __init__(self, m: Machine, kvm: Kvm) -> None:
        self.kvm = kvm
        self.t_event: dict[int, int] = {}
        self.hist = Histogram()
        m.ctx.points.event.subscribe(self._event)
        m.ctx.points.settled.subscribe(self._settled)
        kvm.guest_entry.subscribe(self._entry)

    def _event(self, iid: int, t: int, device: str) -> None:
        self.t_event[iid] = t

    def _entry(self, iid: int, vcpu: str, t: int) -> None:
        origin = self.kvm.origin.pop(iid, iid)
        t0 = self.t_event.pop(origin, None)
        if t0 is not None:
            self.hist.add(t - t0)

    def _settled(self, iid: int) -> None:
        origin = self.kvm.origin.pop(iid, 0)
        self.t_event.pop(origin or iid, None)

    def summary(self) -> dict[str, int]:
        h = self.hist
        return {"count": h.n, "min": h.min if h.n else 0, "median": h.percentile(50),
                "p99": h.percentile(99), "max": h.max if h.n else 0}
