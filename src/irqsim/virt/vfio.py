"""An assigned device, VFIO style: the host binds vfio-pci to it, allocates its MSI-X vectors
and forwards each interrupt to the guest vector KVM routes it to (vfio_msihandler -> eventfd
-> irqfd -> kvm_set_msi; reference/vtd-posted.md 7.5 step 2).

Without VT-d posting every device interrupt runs this host handler on the CPU its host vector
targets; with VT-d posting (an IRTE in posted format) the remapping unit posts it into the
vCPU's PID and no host code runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from irqsim.os.irq import IRQ_HANDLED, IrqReturn
from irqsim.os.kernel import PCI_IRQ_MSIX

if TYPE_CHECKING:
    from irqsim.os.kernel import Kernel
    from irqsim.os.pci import PciDev
    from irqsim.virt.kvm import Kvm
    from irqsim.virt.vmx import Vcpu


class VfioPci:
    """vfio-pci bound to (vendor, device) ``ids``: ``vectors`` MSI-X vectors whose host
    IRQs are affine to ``host_cpus``; ``routes[entry] = (vcpu, guest vector)``."""

    name = "vfio-pci"

    def __init__(self, ids: tuple[tuple[int, int], ...], vectors: int,
                 host_cpus: list[int] | None = None) -> None:
        self.ids = ids
        self.vectors = vectors
        self.host_cpus = host_cpus
        self.kernel: Kernel | None = None
        self.kvm: Kvm | None = None
        self.pdev: PciDev | None = None
        self.irqs: list[int] = []
        self.routes: dict[int, tuple[Vcpu, int]] = {}
        self.forwarded = 0

    def probe(self, k: Kernel, pdev: PciDev) -> None:
        self.kernel = k
        self.pdev = pdev
        k.pci_enable_device(pdev)
        k.pci_set_master(pdev)
        n = k.pci_alloc_irq_vectors(pdev, self.vectors, self.vectors, PCI_IRQ_MSIX,
                                    self.host_cpus)
        for i in range(n):
            irq = k.pci_irq_vector(pdev, i)
            self.irqs.append(irq)
            k.request_irq(irq, self.handler, 0, f"vfio-msix[{i}]({pdev.slot})", i)

    def route(self, kvm: Kvm, entry: int, vcpu: Vcpu, guest_vector: int,
              posted: bool = False) -> bool:
        """KVM_IRQFD + the guest's MSI-X programming: entry ``entry`` -> ``guest_vector`` on
        ``vcpu``; ``posted``: KVM also asks for VT-d posting (irq bypass, vmx_pi_update_irte).
        Returns whether the entry's IRTE is now posted."""
        if not 16 <= guest_vector <= 255:
            raise ValueError(f"guest vector must be 16-255 (0-15 are reserved, SDM 10.5.2), "
                             f"got {guest_vector}")
        if not 0 <= entry < len(self.irqs):
            raise ValueError(f"MSI-X entry {entry} not allocated ({len(self.irqs)} vectors)")
        self.kvm = kvm
        self.routes[entry] = (vcpu, guest_vector)
        return posted and kvm.update_pi_irte(self.irqs[entry], vcpu, guest_vector)

    def unpost(self, entry: int) -> None:
        """KVM stops posting entry ``entry`` (the route no longer targets one vCPU, or the
        irqfd goes away): the IRTE goes back to remapped format, the host vector's handler
        forwards again (irq_set_vcpu_affinity(irq, NULL))."""
        k = self.kernel
        assert k is not None
        k.irq_set_vcpu_affinity(self.irqs[entry], None)

    def handler(self, irq: int, dev_id: Any) -> IrqReturn:
        """vfio_msihandler: signal the irqfd; KVM delivers to the routed vCPU."""
        k = self.kernel
        assert k is not None
        k.spend(k.timing.vfio_irqfd_inject)
        route = self.routes.get(dev_id)
        if route is None or self.kvm is None:
            return IRQ_HANDLED                       # no guest listens (eventfd not wired)
        cpu = k.current_cpu
        meta = cpu.frames[-1].meta if cpu.frames else None
        self.forwarded += 1
        self.kvm.deliver(route[0], route[1], meta.iid if meta is not None else 0)
        return IRQ_HANDLED


class VfioPciDriver:
    """The vfio-pci driver itself: binds devices by ``driver_override`` (Linux's way to hand
    a VF to vfio-pci) and makes a :class:`VfioPci` for each, ``vectors`` MSI-X vectors with
    host IRQs affine to ``host_cpus``; ``devices[slot]`` is the bound device."""

    name = "vfio-pci"
    ids: tuple[tuple[int, int], ...] = ()      # matched by driver_override only

    def __init__(self, vectors: int, host_cpus: list[int] | None = None) -> None:
        self.vectors = vectors
        self.host_cpus = host_cpus
        self.devices: dict[str, VfioPci] = {}

    def probe(self, k: Kernel, pdev: PciDev) -> None:
        dev = VfioPci(((pdev.vendor, pdev.device),), self.vectors, self.host_cpus)
        dev.probe(k, pdev)
        self.devices[pdev.slot] = dev
