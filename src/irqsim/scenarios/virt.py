"""Virtual machines with an assigned NIC (issue 10; docs/virt.md).

* ``vm-posted``: a VM with two vCPUs and an assigned two-queue NIC whose MSI-X vectors
  target the guest, delivered with posted interrupts; vCPU0 runs and is preempted now and
  then (SN = 1), vCPU1 halts when idle (blocked: NV = 0xF1, woken by its interrupts).
* The builders of ``irqsim compare-virt``: one NIC workload delivered to bare metal, to a VM
  without APICv (VM exit + injection), and to a VM with posted interrupts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, ClassVar

from pydantic import Field

from irqsim.devices.nic import MultiQueueNic
from irqsim.drivers.generic import GenericDriver
from irqsim.machine import Machine
from irqsim.scenarios import ScenarioOptions, ScenarioResult, builtin, knobs_of, register
from irqsim.scenarios.workload import PoissonSource
from irqsim.sim.timing import TimingModel
from irqsim.sim.trace import TraceOption
from irqsim.virt.board import VirtMachine
from irqsim.virt.kvm import Kvm
from irqsim.virt.vfio import VfioPci
from irqsim.virt.vmx import Vcpu

_ = builtin                         # the default demo's scenarios are listed first
NIC_IDS = ((0x8086, 0x1572),)
GUEST_VECTORS = (0x41, 0x42)        # the guest driver's vectors for queue 0 and 1
PATHS = ("bare", "vm_exit", "apicv", "posted")


@dataclass
class VirtSpec:
    """One NIC queue's workload: ``requests`` packets at mean gap ``mean_gap_ns``."""

    requests: int = 400
    mean_gap_ns: float = 20_000.0
    seed: int = 1


@dataclass
class VirtRun:
    """A built machine and its virtual parts (``kvm`` is None on bare metal); ``base_ns``:
    host CPU time and guest time spent before the workload (boot, first entries)."""

    machine: VirtMachine
    nic: MultiQueueNic
    kvm: Kvm | None
    vcpus: list[Vcpu]
    vfio: VfioPci | None
    base_root_ns: int = 0
    base_guest_ns: int = 0

    def root_ns(self) -> int:
        """Host CPU time so far: hardirq + softirq + task of every CPU, plus the VM exits'
        hardware time."""
        host = sum(t["hardirq"] + t["softirq"] + t["task"] for t in self.machine.cpu_time())
        return host + sum(v.transition_ns for v in self.vcpus)

    def guest_ns(self) -> int:
        return sum(v.guest_ns_now() for v in self.vcpus)

    def mark(self) -> None:
        """The workload starts: CPU time from now on is the workload's."""
        self.base_root_ns = self.root_ns()
        self.base_guest_ns = self.guest_ns()


def build_path(path: str, trace: TraceOption = False, timing: TimingModel | None = None,
               ) -> VirtRun:
    """compare-virt's machine for ``path``: 2 CPUs and a one-queue NIC, interrupt remapping
    on. Bare: a host driver on CPU1. VM paths: a VM with vCPU0 on CPU0 and vCPU1 on CPU1,
    both running (busy); the NIC's host vector is affine to CPU0, its guest vector targets
    vCPU1: ``vm_exit`` without APICv, ``apicv`` with CPU-side posting only, ``posted`` with
    the IRTE in posted format (VT-d posted interrupts)."""
    if path not in PATHS:
        raise ValueError(f"path must be one of {PATHS}, got {path!r}")
    m = VirtMachine(ncpus=2, trace=trace, timing=timing, intremap=True)
    nic = MultiQueueNic(m.ctx, 1, name="nic0")
    m.add_device(nic)
    if path == "bare":
        m.kernel.register_driver(GenericDriver(NIC_IDS, max_vectors=1, handler_ns=0))
        m.boot()
        return VirtRun(m, nic, None, [], None)
    vfio = VfioPci(NIC_IDS, 1, host_cpus=[0])
    m.kernel.register_driver(vfio)
    m.boot()
    kvm = m.start_kvm(apicv=path in ("apicv", "posted"))
    vcpus = [kvm.create_vcpu("vm0", i, i) for i in range(2)]
    vfio.route(kvm, 0, vcpus[1], GUEST_VECTORS[0], posted=path == "posted")
    for v in vcpus:
        kvm.start(v)
    m.run(until=m.now + 10_000)
    return VirtRun(m, nic, kvm, vcpus, vfio)


def run_path(path: str, spec: VirtSpec, timing: TimingModel | None = None) -> VirtRun:
    """Build ``path``'s machine, run the workload to the end."""
    r = build_path(path, timing=timing)
    r.mark()
    rng = random.Random(spec.seed)
    PoissonSource(r.machine.engine, lambda: r.nic.rx(0), spec.requests, spec.mean_gap_ns, rng)
    r.machine.run()
    return r


def summarize(r: VirtRun) -> dict[str, Any]:
    """Latency (device event to handler entry: the host's on bare metal, the guest's in a
    VM), VM exits per interrupt and CPU time in root mode."""
    m = r.machine
    root = r.root_ns() - r.base_root_ns
    if r.kvm is None:
        rec = m.recorder.summary() if m.recorder else {}
        s: dict[str, Any] = rec.get(r.nic.name, {})
        lat: dict[str, int] = {k: int(s.get(k, 0)) for k in ("count", "median", "p99", "min",
                                                              "max")}
        exits = 0
        delivered = int(lat["count"])
        by_reason: dict[str, int] = {}
    else:
        assert m.guest_latency is not None
        lat = m.guest_latency.summary()
        exits = sum(v.interrupt_exits() for v in r.vcpus)
        delivered = sum(sum(v.guest_irqs.values()) for v in r.vcpus)
        by_reason = {}
        for v in r.vcpus:
            for k, n in v.exit_counts().items():
                by_reason[k] = by_reason.get(k, 0) + n
    acc = m.accounting()
    return {
        "interrupts": delivered,
        "median_ns": lat["median"], "p99_ns": lat["p99"], "min_ns": lat["min"],
        "max_ns": lat["max"],
        "exits_per_interrupt": round(exits / delivered, 3) if delivered else 0.0,
        "exits": by_reason,
        "root_ns": root,
        "root_ns_per_interrupt": round(root / delivered) if delivered else 0,
        "guest_ns": r.guest_ns() - r.base_guest_ns,
        "accounting_balanced": acc["balanced"],
    }


# -- vm-posted --------------------------------------------------------------------------------
def build_vm_posted(trace: TraceOption = False, timing: TimingModel | None = None,
                    ledger_debug: bool = False, apicv: bool = True, posted: bool = True,
                    halt_when_idle: bool = True) -> VirtRun:
    """3 CPUs: CPU0 host, vCPU0 on CPU1 (busy), vCPU1 on CPU2 (halts when idle); the NIC's
    two queues' host vectors on CPU0, guest vectors 0x41 on vCPU0 and 0x42 on vCPU1
    (``apicv``/``posted``: APICv and VT-d posted format, as compare-virt's paths)."""
    m = VirtMachine(ncpus=3, trace=trace, timing=timing, ledger_debug=ledger_debug,
                    intremap=True)
    nic = MultiQueueNic(m.ctx, 2, name="nic0")
    m.add_device(nic)
    vfio = VfioPci(NIC_IDS, 2, host_cpus=[0])
    m.kernel.register_driver(vfio)
    m.boot()
    kvm = m.start_kvm(apicv=apicv)
    vcpus = [kvm.create_vcpu("vm0", 0, 1),
             kvm.create_vcpu("vm0", 1, 2, halt_when_idle=halt_when_idle)]
    for q in range(2):
        vfio.route(kvm, q, vcpus[q], GUEST_VECTORS[q], posted=posted)
    for v in vcpus:
        kvm.start(v)
    m.run(until=m.now + 10_000)
    return VirtRun(m, nic, kvm, vcpus, vfio)


def _preempt(arg: tuple[Kvm, Vcpu, int]) -> None:
    kvm, vcpu, ns = arg
    kvm.preempt(vcpu, ns)


@dataclass
class VmPostedKnobs:
    """``apicv``: APICv (CPU-side posting); ``posted``: the IRTEs in posted format (VT-d
    posted interrupts; needs APICv; off: remapped to the host, then injected); the host
    scheduler preempts vCPU0 for ``preempt_ns`` every ``preempt_every`` requests' time (0:
    never); ``halt_when_idle``: vCPU1 blocks when idle (else it spins)."""

    HELP: ClassVar[dict[str, str]] = {
        "apicv": "KVM enable_apicv (CPU-side posting)",
        "posted": "IRTEs in posted format (VT-d posted interrupts; needs apicv)",
        "preempt_ns": "the host takes vCPU0's CPU for this long",
        "preempt_every": "every N requests' time (0: never)",
        "halt_when_idle": "vCPU1 blocks when idle (else it spins in the guest)"}

    apicv: bool = True
    posted: bool = True
    preempt_ns: Annotated[int, Field(ge=0, le=10**9)] = 30_000
    preempt_every: Annotated[int, Field(ge=0, le=1_000_000)] = 20
    halt_when_idle: bool = True

    def __post_init__(self) -> None:
        if self.posted and not self.apicv:
            raise ValueError("posted interrupts need apicv = true")


@register("vm-posted", "A VM with an assigned 2-queue NIC (VFIO) and posted interrupts: "
                       "vCPU0 running and preempted now and then, vCPU1 blocked when idle",
          span=lambda o: o.requests * o.mean_gap_ns + 20_000, knobs=VmPostedKnobs)
def vm_posted(opts: ScenarioOptions) -> ScenarioResult:
    k = knobs_of(opts, VmPostedKnobs)
    r = build_vm_posted(trace=opts.trace, apicv=k.apicv, posted=k.posted,
                        halt_when_idle=k.halt_when_idle)
    m = r.machine
    kvm = r.kvm
    assert kvm is not None
    rng = random.Random(opts.seed)
    for q in range(2):
        PoissonSource(m.engine, partial(r.nic.rx, q), opts.requests, opts.mean_gap_ns, rng)
    # The host scheduler takes CPU1 from vCPU0 for 30 us every ~20 requests' time.
    span = int(opts.requests * opts.mean_gap_ns)
    every = int(k.preempt_every * opts.mean_gap_ns)
    if every and k.preempt_ns:
        for t in range(m.now + every, m.now + span, every):
            m.engine.at(t, _preempt, (kvm, r.vcpus[0], k.preempt_ns))
    m.run()
    notes = [f"{v.name} on CPU{v.cpu.index}: {sum(v.guest_irqs.values())} guest interrupts, "
             f"{v.posted_notifications} notifications processed in non-root mode, "
             f"exits {v.exit_counts()}, state {v.state}" for v in r.vcpus]
    lat = m.guest_latency.summary() if m.guest_latency else {}
    notes.append(f"device event to guest handler entry: median {lat.get('median', 0)} ns, "
                 f"p99 {lat.get('p99', 0)} ns over {lat.get('count', 0)} interrupts")
    how = "Posted interrupts" if k.posted else \
        "APICv interrupts (no posted IRTE)" if k.apicv else "Injected interrupts (no APICv)"
    return ScenarioResult(m, f"{how} to a VM with an assigned NIC", "nic0",
                          notes=notes, extra={"vcpus": kvm.states()})


def machine_of(r: VirtRun) -> Machine:
    return r.machine
