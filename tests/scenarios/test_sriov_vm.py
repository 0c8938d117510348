"""SR-IOV VFs assigned to a VM with posted interrupts, the seed-004 story end to end: a PF
enables VFs (PCIe 9.3.3.3.1 VF Enable), two go to vfio-pci through driver_override and the
VM, their MSI-X vectors remapped by VT-d in posted format (VT-d 9.11, 5.2.3;
reference/vtd-posted.md 7.5), delivered into the guest without VM exits; the host keeps the
other VFs; every interrupt is accounted for."""

from __future__ import annotations

import random
from functools import partial

from irqsim.scenarios import ScenarioOptions
from irqsim.scenarios.sriov import SriovVmKnobs, build_sriov_vm, sriov_vm
from irqsim.scenarios.workload import PoissonSource

EVENTS = 6


def _run(posted: bool) -> tuple:
    m, pf, kvm, vcpus, vfio = build_sriov_vm(SriovVmKnobs(posted=posted), ledger_debug=True)
    rng = random.Random(3)
    for vf in pf.vfs:
        for q in range(2):
            PoissonSource(m.engine, partial(vf.event, q), EVENTS, 8_000.0, rng)
    m.run()
    return m, pf, kvm, vcpus, vfio


def test_assigned_vfs_post_into_the_guest_without_exits() -> None:
    """Posted IRTEs: the remapping unit posts each assigned VF's RX/TX interrupt into the
    vCPU's PID; running vCPUs take them with no exit and no host handler; the host's VFs
    stay on host CPUs 0-1; the debug ledger follows every interrupt id."""
    m, pf, _kvm, vcpus, vfio = _run(posted=True)
    assigned = {vf.bdf for vf in pf.vfs[:2]}
    assert {s.removeprefix("0000:") for s in vfio.devices} == assigned
    host = [p for p in m.kernel.devices if p.physfn is not None and p.driver is not None
            and p.driver.name != "vfio-pci"]
    assert len(host) == 2
    assert all(m.kernel.irqs[i].cpu in (0, 1) for p in host for i in p.irqs)
    assert all(v.exits == {} for v in vcpus)
    assert sum(d.forwarded for d in vfio.devices.values()) == 0
    guest = sum(sum(v.guest_irqs.values()) for v in vcpus)
    acc = m.accounting()
    assert acc["balanced"], acc
    assert m.iommu.posted == 2 * 2 * EVENTS          # every assigned VF event was posted
    # each posted interrupt reaches the guest or merges into a PIR bit already set
    assert 2 * 2 * EVENTS - acc["merged"] <= guest <= 2 * 2 * EVENTS
    assert sum(vcpus[0].guest_irqs.values()) and sum(vcpus[1].guest_irqs.values())
    assert not m.ctx.diagnostics


def test_without_posting_vfio_forwards_through_the_host() -> None:
    """Remapped (not posted) IRTEs: every assigned VF interrupt runs vfio-pci's host handler
    on CPU 0-1, which KVM turns into a virtual interrupt for the vCPU."""
    m, _pf, _kvm, _vcpus, vfio = _run(posted=False)
    assert m.iommu.posted == 0
    assert sum(d.forwarded for d in vfio.devices.values()) > 0
    assert m.accounting()["balanced"]


def test_sriov_vm_scenario() -> None:
    """`irqsim demo --scenario sriov-vm`: balanced, no rule broken, both vCPUs in the guest."""
    res = sriov_vm(ScenarioOptions(requests=10, mean_gap_ns=10_000.0, trace=False))
    assert res.machine.accounting()["balanced"] and not res.machine.ctx.diagnostics
    assert res.extra["vcpus"] == {"vm0/vCPU0": "guest", "vm0/vCPU1": "guest"}
    assert res.extra["assigned"] == ["01:10.0", "01:10.2"]
