"""Running an experiment: a built-in scenario with its parameters, or a machine built from
the file's generic description (topology, platform, devices, kernel, workloads)."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from irqsim.cpu.topology import Topology
from irqsim.devices.dumped import CAUSE_REGISTER_SIZE, DumpedFunction
from irqsim.devices.isa import IsaIrqDevice
from irqsim.devices.legacy import LegacyIntxDevice
from irqsim.devices.msi_device import MsiEventDevice
from irqsim.devices.netnic import NetNic
from irqsim.devices.nic import MultiQueueNic
from irqsim.devices.nvme import NvmeController
from irqsim.devices.sriov_nic import SriovNic
from irqsim.devices.virtio import VirtioBlk, VirtioNet, VirtioPciDevice, VirtioRng
from irqsim.experiments.loader import Experiment, ExperimentError
from irqsim.experiments.schema import (
    DumpDevice,
    ExperimentFile,
    IpiWorkload,
    IsaDeviceSpec,
    LegacyDevice,
    MqNicDevice,
    MsiEventDeviceSpec,
    NicDevice,
    NvmeDevice,
    PitWorkload,
    PlatformSection,
    RequestsWorkload,
    RtcWorkload,
    SriovNicDevice,
    TrafficWorkload,
    VirtioDevice,
    scenario_knobs,
)
from irqsim.machine import PLATFORM, IoApicOptions, Machine
from irqsim.os.affinity import AFTER_BOOT
from irqsim.os.irqbalance import IrqBalance
from irqsim.pci.bridge import PciBridge
from irqsim.pci.function import PciFunction
from irqsim.scenarios import ScenarioOptions, ScenarioResult, load_all
from irqsim.scenarios.workload import PoissonSource
from irqsim.sim.budget import Budget
from irqsim.sim.timing import timing_defaults
from irqsim.sim.trace import TraceOption

MQ_NIC_IDS = ((0x8086, 0x1572),)
VIRTIO = {"virtio-net": VirtioNet, "virtio-blk": VirtioBlk, "virtio-rng": VirtioRng}
APIC_MODES = {"auto": None, "xapic": False, "x2apic": True}


def budget_of(exp: Experiment) -> Budget:
    """The run budget the file's ``[run]`` section sets."""
    r = exp.spec.run
    return Budget(max_sim_ns=r.max_sim_ns, max_events=r.max_events)


def scenario_options(exp: Experiment, trace: TraceOption = False) -> ScenarioOptions:
    """The demo options a level-1 file stands for."""
    p = exp.params
    assert p is not None
    return ScenarioOptions(p.requests, p.mean_gap_ns, exp.spec.run.seed, trace=trace,
                           knobs=scenario_knobs(p))


def expected_span(exp: Experiment) -> float:
    """About how much simulated time the run needs (for the budget check and the ETA)."""
    from irqsim.scenarios import expected_span_ns
    if exp.params is not None:
        return expected_span_ns(exp.params.name, scenario_options(exp))
    if exp.spec.run.duration_ns:
        return float(exp.spec.run.duration_ns)
    return max((_workload_span(w) for w in exp.spec.workloads), default=0.0)


def _workload_span(w: Any) -> float:
    if isinstance(w, TrafficWorkload):
        return float(w.start_ns + w.duration_ns)
    if isinstance(w, PitWorkload):
        return w.start_ns + w.ticks * 1e9 / w.hz
    if isinstance(w, RtcWorkload):
        return w.start_ns + w.interrupts * 1e9 / w.hz
    n = w.requests if isinstance(w, RequestsWorkload) else w.count
    return float(w.start_ns + n * w.gap_ns)


def run_experiment(exp: Experiment, trace: TraceOption = False) -> ScenarioResult:
    """Build, boot and run ``exp`` (under the file's timing model and ``[platform]`` boot
    options); the caller makes the run budget active."""
    spec = exp.spec
    with timing_defaults(spec.timing_model()), platform_applied(spec.platform) as report:
        try:
            if exp.params is not None:
                res = load_all()[exp.params.name][1](scenario_options(exp, trace))
            else:
                res = _run_machine(exp, spec, trace)
        except OSError as e:            # a boot option the machine refuses (isolcpus=)
            raise ExperimentError([f"{exp.base_dir}: cannot build the machine: "
                                   f"{e.strerror}"]) from None
        except ValueError as e:
            if exp.params is not None:
                raise
            raise ExperimentError([f"{exp.base_dir}: cannot build the machine: {e}"]
                                  ) from None
    if report.used:
        res.notes += report.notes()
        res.extra["platform"] = report.as_dict()
    return res


@dataclass
class PlatformReport:
    """What the ``[platform]`` run-time settings did: each /proc/irq write and its error,
    irqbalance's figures (of the last machine booted)."""

    used: bool = False
    writes: list[dict[str, Any]] = field(default_factory=list)
    balancer: IrqBalance | None = None

    def notes(self) -> list[str]:
        out = [f"platform: echo {w['value']} > {w['path']}"
               + (f": {w['error']}" if w["error"] else "") for w in self.writes]
        if self.balancer is not None:
            st = self.balancer.stats()
            out.append(f"platform: irqbalance every {self.balancer.interval_ns} ns: "
                       f"{st['cycles']} cycles, {st['moves']} moves")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"writes": self.writes,
                "irqbalance": self.balancer.stats() if self.balancer is not None else None}


@contextmanager
def platform_applied(p: PlatformSection) -> Iterator[PlatformReport]:
    """Inside the block, every machine built takes ``p``'s boot options (PLATFORM) and,
    right after boot, its /proc/irq writes and irqbalance (AFTER_BOOT)."""
    report = PlatformReport(used=bool(p.smp_affinity_list or p.irqbalance_ns))
    hooks = AFTER_BOOT.get()
    if p.smp_affinity_list or p.irqbalance_ns:
        def after_boot(m: Machine) -> None:
            k = m.kernel
            report.writes.clear()
            for irq, cpus in p.smp_affinity_list.items():
                row: dict[str, Any] = {"path": f"/proc/irq/{irq}/smp_affinity_list",
                                       "value": cpus, "error": None}
                report.writes.append(row)

                def echo(row: dict[str, Any] = row) -> None:
                    try:
                        k.procfs.write(row["path"], row["value"] + "\n")
                    except OSError as e:        # what `echo` prints: write error: ...
                        row["error"] = f"write error: {e.strerror}"
                k.run_on(m.cpus[0], echo)
            if p.irqbalance_ns:
                report.balancer = IrqBalance(k, interval_ns=p.irqbalance_ns)
                report.balancer.start()
        hooks = (*hooks, after_boot)
    t1 = PLATFORM.set({**PLATFORM.get(), **p.boot_options()})
    t2 = AFTER_BOOT.set(hooks)
    try:
        yield report
    finally:
        AFTER_BOOT.reset(t2)
        PLATFORM.reset(t1)


def _run_machine(exp: Experiment, spec: ExperimentFile, trace: TraceOption) -> ScenarioResult:
    mach = spec.machine
    t = mach.topology if mach else None
    k = mach.kernel if mach else None
    kw: dict[str, Any] = {}
    if k is not None:
        kw = {"first_vector": k.first_vector, "last_vector": k.last_vector,
              "tick_hz": k.tick_hz, "timer_mode": k.timer_mode,
              "directed_eoi": k.directed_eoi}
    topo = Topology(t.sockets, t.cores, t.threads, nodes=t.nodes) if t else None
    board: type[Machine] = Machine
    if spec.vms:
        from irqsim.virt.board import VirtMachine
        board = VirtMachine
    ioapics = [IoApicOptions(**io.model_dump()) for io in spec.platform.ioapics] or None
    plat = spec.platform
    m = board(ncpus=t.ncpus if t else None, topology=topo, trace=trace, ioapics=ioapics,
              timing=spec.timing_model(), x2apic=APIC_MODES[t.apic_mode] if t else None,
              pic=plat.pic, noapic=plat.noapic, timer_8259=plat.timer_8259, **kw)
    ports = _switches(m, spec)
    devices, problems = _devices(m, exp, ports)
    drivers = _drivers(m, spec, devices)
    m.boot()
    by_name = dict(zip(spec.device_names(), spec.devices, strict=True))
    for f in _all(devices):
        d = by_name.get(f.name)
        if isinstance(f, SriovNic) and isinstance(d, SriovNicDevice):   # sriov_numvfs
            pdev = next(p for p in m.kernel.devices if p.slot == f"0000:{f.bdf}")
            m.kernel.sriov_numvfs(pdev, d.num_vfs)
        elif isinstance(f, NetNic) and isinstance(d, NicDevice):   # sysctls, ethtool -X
            d.settings().apply(m, f)
    if k is not None and k.affinity:
        _affinity(m, k.affinity, devices)
    _isa_drivers(m)
    if spec.vms:
        _start_vms(m, spec, drivers)
    rng = random.Random(spec.run.seed)
    runs: list[Any] = []
    notes = _workloads(m, spec, devices, rng, drivers, runs)
    if spec.run.duration_ns:
        m.run(until=m.now + spec.run.duration_ns)
    else:
        m.run()
    names = list(devices)
    focus = spec.run.focus_device or (names[0] if names else m.cpus[0].name)
    notes += [f"{p.slot} {_fn_name(m, p.slot)}: {p.irq_mode} ({len(p.irqs)} IRQ(s))"
              for p in m.kernel.devices if not p.is_bridge]
    notes += [f"dump problem: {p}" for p in problems]
    title = spec.run.title or spec.description or f"Experiment {exp.base_dir.name}"
    extra = _extras(m, drivers, runs)
    if runs:                                    # nic-10g's network text, per NIC
        from irqsim.views.netviews import text_blocks
        nets = extra.get("networks") or {runs[0].nic.name: extra["network"]}
        for r in runs:
            notes += [f"{r.nic.name}:", *text_blocks(r, nets[r.nic.name])]
    return ScenarioResult(m, title, focus, notes=notes, extra=extra)


def _extras(m: Machine, drivers: dict[str, Any], runs: list[Any]) -> dict[str, Any]:
    """The NIC's network summary (throughput, CPU, packet latency; as nic-10g) and the
    NVMe report (as the nvme scenario) of the first of each."""
    from irqsim.net.setup import summary
    from irqsim.scenarios.nvme import nvme_report
    extra: dict[str, Any] = {}
    if runs:
        extra["network"] = summary(runs[0])
        extra["ethtool_S"] = runs[0].nic.counters()
    if len(runs) > 1:                           # several NICs: each one's report by name
        extra["networks"] = {r.nic.name: summary(r) for r in runs}
    kvm = getattr(m, "kvm", None)
    if kvm is not None:
        probe = getattr(m, "guest_latency", None)
        lat = probe.summary() if probe is not None else {}
        extra["vcpus"] = kvm.states()
        extra["guest_latency_ns"] = lat
        extra["vm_exits"] = {v.name: v.exit_counts() for v in kvm.vcpus}
        extra["vm_interrupts"] = {v.name: {"guest_irqs": sum(v.guest_irqs.values()),
                                           "interrupt_exits": v.interrupt_exits(),
                                           "posted_notifications": v.posted_notifications}
                                  for v in kvm.vcpus}
    for fn, drv in drivers.items():
        if drv.__class__.__name__ == "NvmeDriver" and drv.pdev is not None:
            extra["nvme"] = nvme_report(m, m_dev(m, fn), drv)
            break
    return extra


def m_dev(m: Machine, name: str) -> Any:
    """Device ``name`` of ``m``."""
    return next(d for d in m.devices if d.name == name)


def _affinity(m: Machine, affinity: dict[str, list[int]],
              devices: dict[str, list[PciFunction]]) -> None:
    """Retarget every IRQ of each named device, as software on CPU 0 right after boot
    (Linux's irq_set_affinity: MSI-X masked update, MSI message, RTE rewrite)."""
    k = m.kernel
    for name, cpus in affinity.items():
        if name not in devices:
            raise ExperimentError([f"machine.kernel.affinity: no device called {name!r} "
                                   f"(devices: {', '.join(devices)})"])
        slots = {f"0000:{fn.bdf}" for fn in devices[name]}
        for pdev in k.devices:
            if pdev.slot in slots:
                for irq in pdev.irqs:
                    k.run_on(m.cpus[0], partial(k.irq_set_affinity, irq, cpus))


def _fn_name(m: Machine, slot: str) -> str:
    for fn in m.rc.functions():
        if f"0000:{fn.bdf}" == slot:
            return fn.name
    return "?"


def _switches(m: Machine, spec: ExperimentFile) -> dict[str, list[PciBridge]]:
    ports: dict[str, list[PciBridge]] = {}
    for sw in spec.platform.switches:
        below = None if sw.port == "root" else _port(ports, sw.port)
        ports[sw.name] = list(m.add_switch(sw.ports, port=below, name=sw.name).downstream)
    return ports


def _port(ports: dict[str, list[PciBridge]], ref: str) -> PciBridge | None:
    if ref == "root":
        return None
    sw, _, n = ref.rpartition(".")
    return ports[sw][int(n)]


def _devices(m: Machine, exp: Experiment, ports: dict[str, list[PciBridge]],
             ) -> tuple[dict[str, list[PciFunction]], list[str]]:
    """Add every device; by name, the functions each entry produced (a dump: several)."""
    from irqsim.scenarios.dumps import load_devices
    out: dict[str, list[PciFunction]] = {}
    problems: list[str] = []
    for d, dname in zip(exp.spec.devices, exp.spec.device_names(), strict=True):
        fn: PciFunction
        if isinstance(d, DumpDevice):
            devs, probs = load_devices(m, [exp.base_dir / d.file])
            problems += probs
            for dd in devs:
                out.setdefault(dd.name, []).append(dd)
            if len(devs) > 1:                   # a multi-function dump: also by file stem
                out.setdefault(dname, []).extend(devs)
            continue
        name = dname
        if isinstance(d, VirtioDevice):
            fn = VIRTIO[d.model](m.ctx, name=name, queue_size=d.queue_size,
                                 msix_vectors=d.msix_vectors, msi_vectors=d.msi_vectors)
        elif isinstance(d, MqNicDevice):
            fn = MultiQueueNic(m.ctx, d.queues, name=name)
        elif isinstance(d, NicDevice):
            fn = NetNic(m.ctx, m.memory, d.queues, name=name, numa_node=d.node)
        elif isinstance(d, NvmeDevice):
            fn = NvmeController(m.ctx, m.memory, io_queues=d.io_queues or len(m.cpus),
                                name=name)
        elif isinstance(d, SriovNicDevice):
            fn = SriovNic(m.ctx, name=name, total_vfs=d.total_vfs)
        elif isinstance(d, MsiEventDeviceSpec):
            fn = MsiEventDevice(m.ctx, name, events=d.events, addr64=d.addr64,
                                masking=d.masking, pin=d.pin)
        elif isinstance(d, IsaDeviceSpec):
            m.add_isa(IsaIrqDevice(m.ctx, name, d.irq, d.data_port))
            continue
        else:
            assert isinstance(d, LegacyDevice)
            if d.conventional:                  # bus 0, a physical INTx# pin
                fn = LegacyIntxDevice(m.ctx, name, pin=d.pin, express=False)
                m.add_conventional(fn, d.slot, gsi=d.gsi, isa_irq=d.isa_irq)
                out.setdefault(name, []).append(fn)
                continue
            fn = LegacyIntxDevice(m.ctx, name, pin=d.pin)
        m.add_device(fn, _port(ports, d.port), node=d.node)
        out.setdefault(name, []).append(fn)
    return out, problems


def _drivers(m: Machine, spec: ExperimentFile, devices: dict[str, list[PciFunction]],
             ) -> dict[str, Any]:
    """Register the drivers the devices need; by device name, the per-device drivers
    (the NIC's and the NVMe controller's)."""
    from irqsim.drivers.generic import GenericDriver
    from irqsim.drivers.legacy import LegacyIntxDriver
    from irqsim.drivers.msi_device import MsiEventDriver
    from irqsim.drivers.netnic import NetDriver
    from irqsim.drivers.nvme import NvmeDriver
    from irqsim.drivers.virtio import VirtioPciDriver
    from irqsim.scenarios.mechanisms import MECHANISMS
    from irqsim.virt.vfio import VfioPci
    k = spec.machine.kernel if spec.machine else None
    fns = _all(devices)
    if any(isinstance(f, VirtioPciDevice) for f in fns):
        m.kernel.register_driver(VirtioPciDriver(
            vectors=k.virtio_vectors if k else "per-device",
            irq_flags=MECHANISMS[k.irq_mechanism if k else "msix"]))
    events = [f.n_events for f in fns if isinstance(f, MsiEventDevice)]
    if events:
        m.kernel.register_driver(MsiEventDriver(events=max(events)))
    if any(isinstance(f, LegacyIntxDevice) for f in fns):
        m.kernel.register_driver(LegacyIntxDriver())
    nics = [f for f in fns if isinstance(f, MultiQueueNic)]
    assigned = {a.device: a for vm in spec.vms for a in vm.assign}
    per_device: dict[str, Any] = {}
    if nics:
        host = GenericDriver(MQ_NIC_IDS, max_vectors=max(f.msix.n for f in nics))
        by_fn: dict[PciFunction, Any] = {}
        for f in nics:
            if f.name in assigned:
                per_device[f.name] = by_fn[f] = VfioPci(
                    MQ_NIC_IDS, f.msix.n, host_cpus=list(assigned[f.name].host_cpus))
        m.kernel.register_driver(_ByFunction(MQ_NIC_IDS, by_fn, host) if by_fn else host)
    dumped = [f for f in fns if isinstance(f, DumpedFunction)]
    if dumped:
        ids = tuple({(d.config.read(0, 2), d.config.read(2, 2)) for d in dumped})
        causes = {(d.config.read(0, 2), d.config.read(2, 2)):
                  (d.cause_bar, d.bars[d.cause_bar].size - CAUSE_REGISTER_SIZE)
                  for d in dumped if d.cause_bar is not None}
        m.kernel.register_driver(GenericDriver(ids, cause_registers=causes))
    names = dict(zip(spec.device_names(), spec.devices, strict=True))
    net: dict[PciFunction, Any] = {}
    for fn in fns:
        d = names.get(fn.name)
        if isinstance(fn, NetNic) and isinstance(d, NicDevice):
            per_device[fn.name] = net[fn] = NetDriver(d.settings().net_config(len(m.cpus)),
                                                      fn)
        elif isinstance(fn, NvmeController) and isinstance(d, NvmeDevice):
            per_device[fn.name] = NvmeDriver(
                io_queues=d.io_queues, poll_queues=d.poll_queues, depth=d.depth,
                aggregation=(d.aggregation_thr, d.aggregation_time)
                if d.aggregation_thr or d.aggregation_time else None)
    if net:                                     # a NetDriver instance per NIC
        m.kernel.register_driver(_ByFunction(NetDriver.ids, net, None))
    for drv in per_device.values():
        if not isinstance(drv, VfioPci | NetDriver):    # those probe through _ByFunction
            m.kernel.register_driver(drv)
    if any(isinstance(f, SriovNic) for f in fns):
        m.kernel.register_driver(GenericDriver(ids=((0x8086, 0x10C9), (0x8086, 0x10CA)),
                                               max_vectors=3))
    return per_device


class _ByFunction:
    """One PCI driver entry for a (vendor, device) whose functions each need their own
    driver instance (a VM's vfio-pci, a NIC's NetDriver): it probes each function with its
    instance (by requester ID), the others with ``host`` (Linux: driver_override), or
    leaves them unbound when there is none."""

    name = "vfio-pci|host"

    def __init__(self, ids: tuple[tuple[int, int], ...], by_fn: dict[PciFunction, Any],
                 host: Any | None) -> None:
        self.ids = ids
        self.by_fn = by_fn
        self.host = host

    def probe(self, k: Any, pdev: Any) -> None:
        rid = pdev.bus << 8 | pdev.devfn            # bus numbers exist from enumeration on
        drv = next((d for f, d in self.by_fn.items() if f.requester_id == rid), self.host)
        if drv is None:
            return
        pdev.driver = drv
        drv.probe(k, pdev)


def _isa_drivers(m: Machine) -> None:
    """request_irq for each ISA device: a handler that reads its data port (legacy-pc's
    i8042/rtc0 drivers)."""
    from irqsim.scenarios.legacy import port_reader
    k = m.kernel
    for dev in m.isa_devices:
        if isinstance(dev, IsaIrqDevice):
            k.run_on(m.cpus[0], partial(k.request_irq, dev.irq, port_reader(k, dev.ports[0]),
                                        0, dev.name))


def _start_vms(m: Machine, spec: ExperimentFile, drivers: dict[str, Any]) -> None:
    """KVM, each VM's vCPUs (pinned), each assigned device's routes (queue q -> guest
    vector base + q on vCPU vcpus[q]; posted as asked), then KVM_RUN on every vCPU."""
    from irqsim.virt.board import VirtMachine
    assert isinstance(m, VirtMachine)
    kvm = m.start_kvm(apicv=spec.vms[0].apicv)
    started = []
    for vm in spec.vms:
        vcpus = [kvm.create_vcpu(vm.name, i, v.cpu, halt_when_idle=v.halt_when_idle)
                 for i, v in enumerate(vm.vcpus)]
        for a in vm.assign:
            vfio = drivers[a.device]
            for q in range(len(vfio.irqs)):
                target = a.vcpus[q % len(a.vcpus)] if a.vcpus else q % len(vcpus)
                vfio.route(kvm, q, vcpus[target], a.guest_vector_base + q, posted=a.posted)
        started += vcpus
    for v in started:
        kvm.start(v)
    m.run(until=m.now + 10_000)                 # the vCPUs enter the guest
    end = m.now + max((_workload_span(w) for w in spec.workloads), default=0.0)
    for v, vs in zip(started, [vs for vm in spec.vms for vs in vm.vcpus], strict=True):
        if vs.preempt_every_ns:
            for t in range(m.now + vs.preempt_every_ns, int(end), vs.preempt_every_ns):
                m.engine.at(t, lambda _, v=v, ns=vs.preempt_ns: kvm.preempt(v, ns))


def _all(devices: dict[str, list[PciFunction]]) -> list[PciFunction]:
    """Every function once, in the order added."""
    seen: dict[int, PciFunction] = {}
    for fs in devices.values():
        for f in fs:
            seen.setdefault(id(f), f)
    return list(seen.values())


def _queues(m: Machine, fn: PciFunction, drv: Any = None) -> list[Callable[[], None]]:
    """One action per queue of ``fn``: what a request on that queue does."""
    if isinstance(fn, NvmeController) and drv is not None:
        return [partial(drv.issue, c) for c in range(len(m.cpus))]
    if isinstance(fn, SriovNic):
        return [partial(vf.event, q) for vf in fn.vfs for q in range(2)]
    if isinstance(fn, VirtioPciDevice):
        return [partial(fn.complete, q) for q in range(len(fn.queues))]
    if isinstance(fn, MsiEventDevice):
        return [partial(fn.event, e) for e in range(fn.n_events)]
    if isinstance(fn, LegacyIntxDevice):
        return [partial(fn.event, 0)]
    if isinstance(fn, DumpedFunction | MultiQueueNic):
        pdev = next((p for p in m.kernel.devices if p.slot == f"0000:{fn.bdf}"), None)
        if pdev is None or not pdev.irqs:
            return []
        if isinstance(fn, MultiQueueNic):           # the queues that got a vector
            return [partial(fn.rx, q) for q in range(len(pdev.irqs))]
        if pdev.irq_mode == "intx" and fn.cause_bar is None:
            return []
        return [partial(fn.raise_vector, k) for k in range(len(pdev.irqs))]
    return []


def _workloads(m: Machine, spec: ExperimentFile, devices: dict[str, list[PciFunction]],
               rng: random.Random, drivers: dict[str, Any], runs: list[Any]) -> list[str]:
    notes: list[str] = []
    isa = {d.name: d for d in m.isa_devices if isinstance(d, IsaIrqDevice)}
    for i, w in enumerate(spec.workloads):
        start = m.now + w.start_ns
        if isinstance(w, PitWorkload):
            _pit(m, w, start)
        elif isinstance(w, RtcWorkload):
            _rtc(m, w, start)
        elif isinstance(w, RequestsWorkload) and (w.device in isa or w.device == "*"):
            for dev in ([isa[w.device]] if w.device in isa else list(isa.values())):
                PoissonSource(m.engine, partial(dev.event, 0), w.requests, w.gap_ns, rng,
                              start=start)
            if w.device == "*" and devices:
                _requests(m, i, w, devices, rng, drivers, start, notes)
        elif isinstance(w, TrafficWorkload):
            runs.append(_traffic(m, w, devices[w.device][0], drivers[w.device], start,
                                 spec.run.seed))
        elif isinstance(w, RequestsWorkload):
            _requests(m, i, w, devices, rng, drivers, start, notes)
        else:
            PoissonSource(m.engine, partial(_ipi, m, w, rng), w.count, w.gap_ns, rng,
                          start=start)
    return notes


def _requests(m: Machine, i: int, w: RequestsWorkload, devices: dict[str, list[PciFunction]],
              rng: random.Random, drivers: dict[str, Any], start: int,
              notes: list[str]) -> None:
    """Poisson requests on the queues of ``w.device`` (every PCI device for '*')."""
    targets = _all(devices) if w.device == "*" else devices.get(w.device, [])
    if not targets:
        names = [*devices, *(d.name for d in m.isa_devices)]
        raise ExperimentError([f"workloads[{i}].device: no device called "
                               f"{w.device!r} (devices: {', '.join(names)})"])
    for fn in targets:
        acts = _queues(m, fn, drivers.get(fn.name))
        chosen = range(len(acts)) if w.queues == "all" else w.queues
        for q in chosen:
            if not 0 <= q < len(acts):
                raise ExperimentError([f"workloads[{i}].queues: {fn.name} has no "
                                       f"queue {q} (it has {len(acts)})"])
            PoissonSource(m.engine, acts[q], w.requests, w.gap_ns, rng, start=start)
        if not acts:
            notes.append(f"{fn.name}: no interrupt set up, no requests raised")


def _rtc(m: Machine, w: RtcWorkload, start: int) -> None:
    """rtc-cmos at ``start``, on CPU 0: IRQ 8 requested, the periodic rate set and PIE
    enabled; the ``interrupts``-th interrupt disables it."""
    from irqsim.scenarios.legacy import RtcTicks
    k = m.kernel
    ticks = RtcTicks(k, w.interrupts)

    def setup() -> None:
        k.request_irq(8, ticks.handler, 0, "rtc0")
        ticks.enable(w.hz)
    m.engine.at(max(start, m.now), lambda _: k.run_on(m.cpus[0], setup))


def _pit(m: Machine, w: PitWorkload, start: int) -> None:
    """The OS's timer at ``start``, on CPU 0: IRQ 0 requested, the PIT programmed periodic
    (LATCH(hz)); the ``ticks``-th interrupt shuts it down."""
    from irqsim.os.i8253 import pit_latch
    from irqsim.scenarios.legacy import PitTicks
    k = m.kernel
    ticks = PitTicks(k, w.ticks)
    pit = k.pit
    assert pit is not None

    def setup() -> None:
        k.request_irq(0, ticks.handler, 0, "timer")
        pit.set_periodic(pit_latch(w.hz))
    m.engine.at(max(start, m.now), lambda _: k.run_on(m.cpus[0], setup))


def _traffic(m: Machine, w: TrafficWorkload, nic: Any, drv: Any, start: int, seed: int,
             ) -> Any:
    """Connect ``w``'s packets to the NIC (as net.setup.build_net): CPU time snapshots
    over the traffic window, each queue's first fire scheduled."""
    from irqsim.net.setup import NetRun
    from irqsim.net.traffic import Traffic, make_flows
    from irqsim.scenarios.net import TrafficSettings
    t = TrafficSettings(**{f.name: getattr(w, f.name)
                           for f in dataclasses.fields(TrafficSettings)})
    tr = Traffic(make_flows(t.flows, size=t.frame_size, seed=seed), gbps=t.link_gbps,
                 pattern=t.pattern, pps=t.pps or None, burst=t.burst, start_ns=start,
                 stop_ns=start + w.duration_ns, seed=seed)
    nic.connect(tr)
    run = NetRun(m, nic, drv, tr, start + w.duration_ns)
    m.engine.at(start, lambda _: run.extra.__setitem__("cpu0", m.cpu_time()))
    m.engine.at(start + w.duration_ns, lambda _: run.extra.__setitem__("cpu1", m.cpu_time()))
    for q in nic.queues:
        nic._schedule(q)
    cfg = drv.cfg
    if cfg.pmd:                                 # as build_net: PMD threads, no interrupts
        cfg.pmd_stop_ns = start + w.duration_ns + 1_000_000
        drv.start_pmd(cfg.app_cpus or cfg.queue_cpus or list(range(cfg.queues)))
    return run


def _ipi(m: Machine, w: IpiWorkload, rng: random.Random) -> None:
    smp = m.kernel.smp
    n = len(m.cpus)
    src = rng.randrange(n) if w.src == "random" else w.src
    dst = rng.randrange(n) if w.dst == "random" else w.dst
    if dst == src and n > 1:
        dst = (src + 1) % n
    if w.type == "reschedule":
        smp.send_reschedule(src, dst)
    elif w.type == "call-single":
        smp.call_function_single(src, dst)
    elif w.type == "call-many":
        smp.call_function_many(src, [c for c in range(n) if c != src])
    elif w.type == "tlb":
        smp.flush_tlb_others(src)
    else:
        smp.send_nmi(src, [dst])
