"""SR-IOV: a physical function and its virtual functions, each with its own MSI-X vectors
(issue 16; docs/sriov.md)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import partial

from irqsim.devices.sriov_nic import SriovNic
from irqsim.drivers.generic import GenericDriver
from irqsim.machine import Machine
from irqsim.scenarios import ScenarioOptions, ScenarioResult, knobs_of, register
from irqsim.scenarios.workload import PoissonSource
from irqsim.sim.timing import TimingModel
from irqsim.sim.trace import TraceOption
from irqsim.virt.board import VirtMachine
from irqsim.virt.kvm import Kvm
from irqsim.virt.vfio import VfioPciDriver
from irqsim.virt.vmx import Vcpu


@dataclass
class SriovKnobs:
    """The number of VFs the OS enables (sriov_numvfs) and the CPUs."""

    num_vfs: int = 4
    cpus: int = 4


@register("sriov", "SR-IOV: an 82576-style NIC enables 4 VFs (sriov_numvfs), each probed with "
          "its own 3 MSI-X vectors; events on every VF queue", knobs=SriovKnobs)
def sriov(opts: ScenarioOptions) -> ScenarioResult:
    k = knobs_of(opts, SriovKnobs)
    m = Machine(k.cpus, trace=opts.trace)
    pf = SriovNic(m.ctx)
    m.add_device(pf)
    m.kernel.register_driver(GenericDriver(ids=((0x8086, 0x10C9), (0x8086, 0x10CA)),
                                           max_vectors=3))
    m.boot()
    pdev = next(p for p in m.kernel.devices if (p.vendor, p.device) == (0x8086, 0x10C9))
    m.kernel.sriov_numvfs(pdev, k.num_vfs)
    rng = random.Random(opts.seed)
    for vf in pf.vfs:
        for q in range(2):                           # RX and TX vectors; 2 is the mailbox
            PoissonSource(m.engine, partial(vf.event, q), opts.requests, opts.mean_gap_ns,
                          rng)
    m.run()
    return ScenarioResult(m, f"SR-IOV: {len(pf.vfs)} VFs of {pf.name}, each with its own "
                          "MSI-X vectors", pf.vfs[0].name if pf.vfs else pf.name,
                          extra={"vfs": [vf.bdf for vf in pf.vfs]})


# -- sriov-vm: VFs assigned to a VM, posted interrupts (seed 004) -----------------------------
GUEST_VECTOR_BASE = 0x41        # the guest driver's vectors: VF j's RX -> 0x41 + 2j, TX + 1


@dataclass
class SriovVmKnobs:
    """VFs the OS enables, how many of them the VM gets (the rest stay with the host's VF
    driver), and whether their IRTEs are posted (False: VFIO forwards through the host)."""

    num_vfs: int = 4
    assigned: int = 2
    posted: bool = True


def build_sriov_vm(k: SriovVmKnobs, trace: TraceOption = False,
                   timing: TimingModel | None = None,
                   ledger_debug: bool = False) -> tuple[VirtMachine, SriovNic, Kvm, list[Vcpu],
                                                        VfioPciDriver]:
    """4 CPUs: CPU0-1 the host (the PF's and host VFs' vectors), vCPU0 on CPU2 and vCPU1 on
    CPU3 (both running). The PF enables ``k.num_vfs`` VFs with driver autoprobe off; VFs
    0..assigned-1 go to vfio-pci (driver_override) and the VM, the others to the host's VF
    driver. Each assigned VF's RX vector targets vCPU0 and its TX vector vCPU1, posted through
    VT-d when ``k.posted``."""
    if not 0 <= k.assigned <= k.num_vfs <= 8:
        raise ValueError(f"need 0 <= assigned ({k.assigned}) <= num_vfs ({k.num_vfs}) <= 8")
    m = VirtMachine(ncpus=4, trace=trace, timing=timing, ledger_debug=ledger_debug,
                    intremap=True)
    pf = SriovNic(m.ctx)
    m.add_device(pf)
    vfio = VfioPciDriver(vectors=3, host_cpus=[0, 1])
    m.kernel.register_driver(vfio)
    m.kernel.register_driver(GenericDriver(ids=((0x8086, 0x10C9), (0x8086, 0x10CA)),
                                           max_vectors=3))
    m.boot()
    pdev = next(p for p in m.kernel.devices if (p.vendor, p.device) == (0x8086, 0x10C9))
    m.kernel.sriov_drivers_autoprobe(pdev, False)
    m.kernel.sriov_numvfs(pdev, k.num_vfs)
    assert pdev.sriov is not None
    for i, vf in enumerate(pdev.sriov.vfs):
        if i < k.assigned:
            vf.driver_override = "vfio-pci"
        m.kernel.pci_bind(vf)
    # The host's own vectors (PF, host VFs) to CPUs 0-1 (echo 3 > /proc/irq/N/smp_affinity),
    # as one does for a VM with pinned vCPUs: the guest's CPUs take no host interrupt.
    for p in [pdev, *pdev.sriov.vfs[k.assigned:]]:
        for irq in p.irqs:
            m.kernel.irq_set_affinity(irq, [0, 1])
    kvm = m.start_kvm(apicv=True)
    vcpus = [kvm.create_vcpu("vm0", 0, 2), kvm.create_vcpu("vm0", 1, 3)]
    for j, vf in enumerate(pdev.sriov.vfs[:k.assigned]):
        dev = vfio.devices[vf.slot]
        for q in range(2):                       # RX -> vCPU0, TX -> vCPU1
            dev.route(kvm, q, vcpus[q], GUEST_VECTOR_BASE + 2 * j + q, posted=k.posted)
    for v in vcpus:
        kvm.start(v)
    m.run(until=m.now + 10_000)
    return m, pf, kvm, vcpus, vfio


@register("sriov-vm", "SR-IOV with a VM: an 82576-style NIC enables 4 VFs; 2 are assigned "
          "to a VM (vfio-pci) and post their MSI-X interrupts into its vCPUs through VT-d, "
          "2 stay with the host", knobs=SriovVmKnobs,
          span=lambda o: o.requests * o.mean_gap_ns + 20_000)
def sriov_vm(opts: ScenarioOptions) -> ScenarioResult:
    k = knobs_of(opts, SriovVmKnobs)
    m, pf, kvm, vcpus, vfio = build_sriov_vm(k, trace=opts.trace)
    rng = random.Random(opts.seed)
    for vf in pf.vfs:
        for q in range(2):                           # RX and TX vectors; 2 is the mailbox
            PoissonSource(m.engine, partial(vf.event, q), opts.requests, opts.mean_gap_ns,
                          rng)
    m.run()
    assigned = {vf.name for vf in pf.vfs[:k.assigned]}
    notes = [f"{vf.name} at {vf.bdf}: "
             + ("assigned to vm0 (vfio-pci), RX -> vCPU0, TX -> vCPU1"
                + (", posted IRTEs" if k.posted else ", forwarded by the host")
                if vf.name in assigned else "host VF driver") for vf in pf.vfs]
    notes += [f"{v.name} on CPU{v.cpu.index}: {sum(v.guest_irqs.values())} guest interrupts, "
              f"{v.posted_notifications} notifications processed in non-root mode, "
              f"exits {v.exit_counts()}, state {v.state}" for v in vcpus]
    fwd = sum(d.forwarded for d in vfio.devices.values())
    notes.append(f"vfio-pci host handler forwards: {fwd}")
    lat = m.guest_latency.summary() if m.guest_latency else {}
    notes.append(f"device event to guest handler entry: median {lat.get('median', 0)} ns, "
                 f"p99 {lat.get('p99', 0)} ns over {lat.get('count', 0)} interrupts")
    focus = pf.vfs[k.assigned].name if k.assigned < len(pf.vfs) else pf.name
    return ScenarioResult(m, f"SR-IOV: {len(pf.vfs)} VFs of {pf.name}, {k.assigned} assigned "
                          "to a VM with posted interrupts", focus, notes=notes,
                          extra={"vcpus": kvm.states(),
                                 "assigned": [vf.bdf for vf in pf.vfs[:k.assigned]]})
