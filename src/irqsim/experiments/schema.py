"""The experiment file format, version 1, as pydantic models (docs/experiments.md).

A file either names a built-in scenario (``[scenario]``, with the scenario's parameters) or
describes a machine generically (``[machine]``, ``[platform]``, ``[[devices]]``,
``[[workloads]]``); both may set ``[timing]`` (any :class:`TimingModel` field) and ``[run]``
(seed and run budget). Every section is its own model with ``extra="forbid"``: a misspelt
key is an error, and a new feature adds a field or a section here.
"""

from __future__ import annotations

import dataclasses
import itertools
import typing
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    create_model,
    field_validator,
    model_validator,
)

from irqsim.sim.timing import TimingModel

FORMAT_VERSION = 1
MAX_SEED = 2**63 - 1


class Section(BaseModel):
    """A section of the file: unknown keys are errors, values are not coerced across types."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


# -- level 1: a built-in scenario --------------------------------------------------------------
class ScenarioParams(Section):
    """What every built-in scenario understands (``irqsim demo``'s options)."""

    name: str
    requests: int = Field(200, ge=1, le=1_000_000)
    mean_gap_ns: Annotated[float, Field(gt=0, le=1e15)] = 20_000.0


@cache
def scenario_params_model(name: str) -> type[ScenarioParams]:
    """The parameter model of built-in scenario ``name``: the common fields plus the fields
    of the knobs dataclass it registered (their types and defaults)."""
    from irqsim.scenarios import KNOBS, load_all
    load_all()
    knobs = KNOBS.get(name)
    if knobs is None:
        return ScenarioParams
    hints = typing.get_type_hints(knobs, include_extras=True)
    helps: dict[str, str] = getattr(knobs, "HELP", {})
    fields: dict[str, Any] = {
        f.name: (Annotated[hints[f.name], Field(description=helps.get(f.name))],
                 knob_default(f)) for f in dataclasses.fields(knobs)}
    return create_model(f"Params_{name.replace('-', '_')}", __base__=ScenarioParams,
                        **fields)


def knob_default(f: dataclasses.Field[Any]) -> Any:
    """A knob's default value (its ``default_factory``'s product for a list)."""
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def scenario_knobs(params: ScenarioParams) -> Any:
    """The scenario's knobs dataclass filled from ``params`` (None: it declares none)."""
    from irqsim.scenarios import KNOBS
    knobs = KNOBS.get(params.name)
    if knobs is None:
        return None
    return knobs(**{f.name: getattr(params, f.name) for f in dataclasses.fields(knobs)})


# -- level 2: a machine described generically -------------------------------------------------
class TopologySection(Section):
    """Sockets x cores x SMT threads; APIC IDs follow CPUID leaf 0Bh (docs/lapic.md)."""

    sockets: int = Field(1, ge=1, le=16)
    cores: int = Field(1, ge=1, le=128)
    threads: int = Field(1, ge=1, le=4)
    nodes: int = Field(1, ge=1, le=64, description="NUMA nodes (whole sockets or equal "
                       "splits of each socket; SRAT/SLIT as the firmware reports them)")
    ncpus: int | None = Field(None, ge=1, description="CPUs used (default: all)")
    apic_mode: Literal["auto", "xapic", "x2apic"] = "auto"

    @model_validator(mode="after")
    def _fits(self) -> TopologySection:
        from irqsim.cpu.topology import Topology
        if self.ncpus is not None and self.ncpus > self.sockets * self.cores * self.threads:
            raise ValueError(f"ncpus {self.ncpus} exceeds sockets x cores x threads = "
                             f"{self.sockets * self.cores * self.threads}")
        Topology(self.sockets, self.cores, self.threads, nodes=self.nodes)
        return self


class KernelSection(Section):
    """The OS's boot options and driver policies that exist today."""

    first_vector: int = Field(0x20, ge=0x20, le=0xFE)
    last_vector: int = Field(0xDF, ge=0x20, le=0xFE)
    tick_hz: int = Field(0, ge=0, le=10_000)
    timer_mode: Literal["periodic", "tsc-deadline"] = "periodic"
    directed_eoi: bool = False
    virtio_vectors: Literal["per-device", "per-queue"] = "per-device"
    irq_mechanism: Literal["msix", "msi", "intx"] = Field(
        "msix", description="best mechanism drivers may use (MSI-X, else MSI, else INTx)")
    affinity: dict[str, list[Annotated[int, Field(ge=0)]]] = Field(
        {}, description="device name -> CPUs: every IRQ of the device, set after boot")

    @model_validator(mode="after")
    def _range(self) -> KernelSection:
        if self.first_vector > self.last_vector:
            raise ValueError(f"first_vector {self.first_vector} > last_vector "
                             f"{self.last_vector}")
        return self


class MachineSection(Section):
    topology: TopologySection = TopologySection()
    kernel: KernelSection = KernelSection()


class SwitchSpec(Section):
    """A PCIe switch below a new root port (or below another switch's downstream port)."""

    name: str
    ports: int = Field(4, ge=1, le=32)
    port: str = Field("root", description="'root' or SWITCH.N (downstream port N)")


class VtdSection(Section):
    """The board's VT-d unit (the test bench's IommuOptions): CAP.PI, ECAP.EIM, fault
    recording registers, the interrupt entry cache, GCMD completion time, the DMAR's
    x2APIC opt-out flag."""

    pi: bool = True
    eim: bool = True
    nfr: int = Field(8, ge=1, le=256)
    iec: bool = True
    cmd_delay_ns: int = Field(0, ge=0, le=10**9)
    x2apic_opt_out: bool = False


class IoApicSpec(Section):
    """An I/O APIC of the board (the test bench's IoApicOptions): IOAPICID, MMIO base, first
    GSI, input pins, version (0x11: no EOI register; 0x20: EOI register)."""

    id: int = Field(0, ge=0, le=15)
    base: int = Field(0xFEC00000, ge=0xFEC00000, le=0xFEDFF000, multiple_of=0x1000)
    gsi_base: int = Field(0, ge=0, le=1024)
    pins: int = Field(24, ge=1, le=240)
    version: Literal[0x11, 0x20] = 0x20


CStateTable = Literal["skx", "icx", "spr", "hsw", "poll"]


class PlatformSection(Section):
    """The board and the boot options of every machine the file runs (a built-in
    scenario's machines too): ``irqsim platform``'s settings, remapping, the VT-d unit;
    ``switches`` (a described machine only)."""

    iommu: Literal["passthrough"] = "passthrough"
    intremap: Literal["off", "on", "nosid", "nopost"] | None = Field(
        None, description="the kernel's intremap= (default: the scenario's own, else off)")
    intremap_cfi: bool | None = Field(
        None, description="compatibility-format interrupts bypass remapping")
    vtd: VtdSection | None = None
    cstates: CStateTable | None = Field(
        None, description="idle states (cpu/idle.py table; poll = idle=poll)")
    pm_qos_ns: int | None = Field(None, ge=0, le=10**12, description="PM-QoS latency limit")
    isolcpus: str | None = Field(None, description="isolcpus= ([managed_irq,domain,]LIST)")
    irqbalance_ns: int | None = Field(None, ge=1000, le=10**12,
                                      description="run irqbalance with this period")
    smp_affinity_list: dict[str, str] = Field(
        {}, description="IRQ number -> CPU list, written to /proc/irq/N/ after boot")
    pcie_gen: Literal[1, 2, 3, 4, 5, 6] | None = Field(
        None, description="every PCIe link's maximum generation (LnkCap; with pcie_width)")
    pcie_width: Literal[1, 2, 4, 8, 12, 16, 32] | None = Field(
        None, description="every PCIe link's maximum width in lanes (with pcie_gen)")
    switches: list[SwitchSpec] = []
    ioapics: list[IoApicSpec] = Field([], description="the board's I/O APICs (a described "
                                      "machine; default: one, ID 0, GSIs 0-23)")
    pic: bool = Field(False, description="the PC/AT legacy block: the 8259 pair, the 8254 "
                      "PIT and ISA IRQ lines (a described machine; docs/legacy-pc.md)")
    noapic: bool = Field(False, description="the kernel's noapic: legacy IRQs and PCI "
                         "lines on the 8259 (needs pic)")
    timer_8259: Literal["", "lint0", "ioapic-pin0"] = Field(
        "", description="keep IRQ 0 on the 8259 in APIC mode through this virtual wire "
        "(needs pic)")

    @model_validator(mode="after")
    def _legacy(self) -> PlatformSection:
        if (self.noapic or self.timer_8259) and not self.pic:
            raise ValueError("noapic and timer_8259 need pic = true (the 8259)")
        return self

    @field_validator("ioapics")
    @classmethod
    def _ioapics(cls, v: list[IoApicSpec]) -> list[IoApicSpec]:
        if not v:
            return v
        for what in ("id", "base"):
            vals = [getattr(io, what) for io in v]
            if len(set(vals)) != len(vals):
                raise ValueError(f"two I/O APICs with the same {what}")
        spans = sorted((io.gsi_base, io.gsi_base + io.pins) for io in v)
        if any(a[1] > b[0] for a, b in itertools.pairwise(spans)):
            raise ValueError(f"GSI ranges overlap: {spans}")
        if not any(lo <= 16 and hi >= 24 for lo, hi in spans):
            raise ValueError("one I/O APIC must take GSIs 16-23 (the board's PCI INTx lines)")
        return v

    @field_validator("isolcpus")
    @classmethod
    def _isolcpus(cls, v: str | None) -> str | None:
        from irqsim.os.isolation import parse_isolcpus
        if v is not None:
            try:
                parse_isolcpus(v, 1 << 16)
            except OSError as e:
                raise ValueError(e.strerror) from None
        return v

    @field_validator("smp_affinity_list")
    @classmethod
    def _affinity(cls, v: dict[str, str]) -> dict[str, str]:
        from irqsim.os.affinity import parse_cpulist
        for irq, cpus in v.items():
            if not irq.isdigit():
                raise ValueError(f"{irq!r} is not an IRQ number")
            try:
                parse_cpulist(cpus, 1 << 16)
            except OSError as e:
                raise ValueError(f"IRQ {irq}: {e.strerror}") from None
        return v

    def boot_options(self) -> dict[str, Any]:
        """What the file sets, as :data:`irqsim.machine.PLATFORM` entries."""
        from irqsim.iommu.vtd import IommuOptions
        out: dict[str, Any] = {k: getattr(self, k) for k in
                               ("intremap", "intremap_cfi", "cstates", "pm_qos_ns", "isolcpus")
                               if getattr(self, k) is not None}
        if self.vtd is not None:
            out["iommu"] = IommuOptions(**self.vtd.model_dump())
        if self.pcie_gen is not None or self.pcie_width is not None:
            from irqsim.pci.express import LinkSpec
            out["pcie_link"] = LinkSpec(self.pcie_gen or 3, self.pcie_width or 1)
        return out


class DeviceBase(Section):
    name: str | None = None
    port: str = Field("root", description="'root' (a new root port) or SWITCH.N")
    node: int = Field(0, ge=0, le=63, description="NUMA node of the new root port "
                      "(port = 'root')")


class VirtioDevice(DeviceBase):
    model: Literal["virtio-net", "virtio-blk", "virtio-rng"]
    queue_size: int = Field(256, ge=1, le=32768)
    msix_vectors: int | None = Field(None, ge=0, le=2048)
    msi_vectors: int | None = Field(None, ge=1, le=32)


class MsiEventDeviceSpec(DeviceBase):
    model: Literal["msi-event"]
    events: int = Field(4, ge=1, le=32)
    addr64: bool = True
    masking: bool = True
    pin: int = Field(1, ge=1, le=4)


class LegacyDevice(DeviceBase):
    """An INTx-only function: behind a PCIe root port (Assert/Deassert_INTx messages), or
    ``conventional``: on bus 0 at ``slot`` with a physical INTx# pin wired to I/O APIC
    input ``gsi`` (default: the _PRT's) and, with an 8259 (``platform.pic``), steered to
    ISA IRQ ``isa_irq`` (docs/legacy-pc.md)."""

    model: Literal["legacy-intx"]
    pin: int = Field(1, ge=1, le=4)
    conventional: bool = False
    slot: int = Field(5, ge=1, le=31, description="bus-0 device number (conventional)")
    gsi: int | None = Field(None, ge=0, le=1023, description="I/O APIC input (conventional)")
    isa_irq: int | None = Field(None, ge=3, le=15, description="PIC-mode steering "
                                "(conventional, needs platform.pic)")

    @model_validator(mode="after")
    def _conventional(self) -> LegacyDevice:
        if not self.conventional and (self.gsi is not None or self.isa_irq is not None):
            raise ValueError("gsi and isa_irq are for a conventional = true function")
        return self


class IsaDeviceSpec(Section):
    """An ISA device on IRQ ``irq`` (devices/isa.py): a request raises its line, the
    driver's handler reads I/O port ``data_port``, which drops it (needs platform.pic)."""

    model: Literal["isa"]
    name: str | None = None
    irq: int = Field(ge=1, le=15)
    data_port: int = Field(0x60, ge=0, le=0xFFFF)

    @field_validator("irq")
    @classmethod
    def _irq(cls, v: int) -> int:
        if v == 2:
            raise ValueError("IRQ 2 is the 8259 cascade")
        if v == 8:
            raise ValueError("IRQ 8 is the RTC's (a kind = \"rtc\" workload drives it)")
        return v


class MqNicDevice(DeviceBase):
    """The minimal multi-queue NIC (devices/nic.py): one MSI-X vector per queue, driven by
    the generic driver (one vector per CPU, at most ``queues``)."""

    model: Literal["mq-nic"]
    queues: int = Field(4, ge=1, le=2048)


def _dataclass_fields(dc: type) -> dict[str, Any]:
    """A dataclass's fields as pydantic field definitions (type with its constraints,
    default)."""
    hints = typing.get_type_hints(dc, include_extras=True)
    helps: dict[str, str] = getattr(dc, "HELP", {})
    return {f.name: (Annotated[hints[f.name], Field(description=helps.get(f.name))],
                     knob_default(f)) for f in dataclasses.fields(dc)}


def _nic_base() -> type[DeviceBase]:
    from irqsim.scenarios.net import NicSettings
    return create_model("NicBase", __base__=DeviceBase, **_dataclass_fields(NicSettings))


class NicDevice(_nic_base()):  # type: ignore[misc]
    """The 10 GbE multi-queue NIC of ``nic-10g`` (devices/netnic.py) with its driver (NAPI,
    moderation, DIM, RSS, busy polling): the fields are nic-10g's NIC knobs; traffic comes
    from a ``kind = "traffic"`` workload."""

    model: Literal["nic"]

    @model_validator(mode="after")
    def _combination(self) -> NicDevice:
        self.settings()
        return self

    def settings(self) -> Any:
        """The :class:`~irqsim.scenarios.net.NicSettings` these fields give."""
        from irqsim.scenarios.net import NicSettings
        return NicSettings(**{f.name: getattr(self, f.name)
                              for f in dataclasses.fields(NicSettings)})


class NvmeDevice(DeviceBase):
    """An NVMe controller (devices/nvme.py) and its driver: ``io_queues`` interrupt-driven
    queues (default: one per CPU), ``poll_queues`` polled ones, Set Features 08h
    aggregation (``aggregation_thr``: entries - 1, ``aggregation_time``: 100 us units; both
    0: none). A requests workload's queue i is a read issued from CPU i."""

    model: Literal["nvme"]
    io_queues: int | None = Field(None, ge=1, le=256)
    poll_queues: int = Field(0, ge=0, le=64)
    depth: int = Field(64, ge=2, le=4096)
    aggregation_thr: int = Field(0, ge=0, le=255)
    aggregation_time: int = Field(0, ge=0, le=255)


class SriovNicDevice(DeviceBase):
    """An SR-IOV NIC (82576-style, devices/sriov_nic.py): the OS writes ``num_vfs`` to
    sriov_numvfs after boot; each VF gets 3 MSI-X vectors. A requests workload's queues
    are the VFs' RX and TX vectors (VF i: queues 2i and 2i+1)."""

    model: Literal["sriov-nic"]
    total_vfs: int = Field(8, ge=1, le=64)
    num_vfs: int = Field(4, ge=0, le=64)

    @model_validator(mode="after")
    def _fits(self) -> SriovNicDevice:
        if self.num_vfs > self.total_vfs:
            raise ValueError(f"num_vfs {self.num_vfs} exceeds total_vfs {self.total_vfs}")
        return self


class DumpDevice(Section):
    """Every endpoint of a real configuration dump (`irqsim lspci` reads the same files);
    ``file`` is relative to the experiment file."""

    model: Literal["dump"]
    file: str


DeviceSpec = Annotated[VirtioDevice | MsiEventDeviceSpec | LegacyDevice | MqNicDevice
                       | NicDevice | NvmeDevice | SriovNicDevice | DumpDevice | IsaDeviceSpec,
                       Field(discriminator="model")]


class Rate(Section):
    """Exactly one of ``mean_gap_ns`` and ``rate_per_s``: exponential (Poisson) gaps."""

    mean_gap_ns: Annotated[float, Field(gt=0, le=1e15)] | None = None
    rate_per_s: Annotated[float, Field(gt=0, le=1e9)] | None = None
    start_ns: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _one(self) -> Rate:
        if (self.mean_gap_ns is None) == (self.rate_per_s is None):
            raise ValueError("give exactly one of mean_gap_ns and rate_per_s")
        return self

    @property
    def gap_ns(self) -> float:
        return self.mean_gap_ns if self.mean_gap_ns is not None else 1e9 / (self.rate_per_s
                                                                           or 1.0)


class RequestsWorkload(Rate):
    """Completions on a device's queues (virtio queues, MSI event types, a legacy device's
    event, a dumped function's vectors): ``requests`` per queue."""

    kind: Literal["requests"]
    device: str = Field(description="a device name, or '*' for every device")
    queues: list[int] | Literal["all"] = "all"
    requests: int = Field(ge=1, le=10_000_000)


class PitWorkload(Section):
    """The OS programs the 8254 PIT periodic at ``hz`` (Linux's i8253 clockevent: mode 2,
    LATCH(hz)) at ``start_ns`` and takes ``ticks`` timer interrupts on IRQ 0, the last of
    which shuts it down (needs platform.pic)."""

    kind: Literal["pit"]
    hz: int = Field(1000, ge=19, le=596_591)
    ticks: int = Field(ge=1, le=10_000_000)
    start_ns: int = Field(0, ge=0)


class RtcWorkload(Section):
    """The OS (rtc-cmos) sets the RTC's periodic rate to ``hz`` and enables its periodic
    interrupt at ``start_ns``; ``interrupts`` of them on IRQ 8, each acknowledged through
    register C, the last disabling it (needs platform.pic)."""

    kind: Literal["rtc"]
    hz: Literal[2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192] = 1024
    interrupts: int = Field(ge=1, le=10_000_000)
    start_ns: int = Field(0, ge=0)


class IpiWorkload(Rate):
    """``count`` IPIs of one type from ``src`` to ``dst`` (CPU indexes or 'random')."""

    kind: Literal["ipi"]
    type: Literal["reschedule", "call-single", "call-many", "tlb", "nmi"]
    count: int = Field(ge=1, le=10_000_000)
    src: int | Literal["random"] = "random"
    dst: int | Literal["random"] = "random"


def _traffic_base() -> type[Section]:
    from irqsim.scenarios.net import TrafficSettings
    return create_model("TrafficBase", __base__=Section, **_dataclass_fields(TrafficSettings))


class TrafficWorkload(_traffic_base()):  # type: ignore[misc]
    """Packets into a ``nic`` device for ``duration_ns`` from ``start_ns``: the fields are
    nic-10g's traffic knobs (flows, frame size, arrival pattern, rate, link speed)."""

    kind: Literal["traffic"]
    device: str
    duration_ns: int = Field(ge=1000, le=10**12)
    start_ns: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _combination(self) -> TrafficWorkload:
        from irqsim.scenarios.net import TrafficSettings
        TrafficSettings(**{f.name: getattr(self, f.name)
                           for f in dataclasses.fields(TrafficSettings)})
        return self


Workload = Annotated[RequestsWorkload | IpiWorkload | TrafficWorkload | PitWorkload
                     | RtcWorkload,
                     Field(discriminator="kind")]


class VcpuSpec(Section):
    """A vCPU pinned to physical CPU ``cpu`` (one vCPU per CPU); ``halt_when_idle``: it
    blocks (HLT exit) when idle instead of spinning in the guest; preempted by the host for
    ``preempt_ns`` every ``preempt_every_ns`` (a reschedule IPI from CPU 0)."""

    cpu: int = Field(ge=0, le=4095)
    halt_when_idle: bool = False
    preempt_every_ns: int = Field(0, ge=0, le=10**12, description="the host scheduler "
                                  "takes the CPU this often while the workloads run (0: never)")
    preempt_ns: int = Field(30_000, ge=1, le=10**9, description="for this long")


class AssignSpec(Section):
    """A device assigned to the VM with vfio-pci: an ``mq-nic`` whose queue q's MSI-X
    vector is routed to guest vector ``guest_vector_base + q`` on the VM's vCPU
    ``vcpus[q]`` (default: q mod the VM's vCPUs); ``host_cpus``: the host IRQs' affinity;
    ``posted``: VT-d posted format (needs APICv and remapping)."""

    device: str
    posted: bool = True
    host_cpus: list[Annotated[int, Field(ge=0)]] = [0]
    guest_vector_base: int = Field(0x41, ge=16, le=255)
    vcpus: list[Annotated[int, Field(ge=0)]] | None = None


class VmSpec(Section):
    """A VM under KVM (virt/): its vCPUs and assigned devices; ``apicv`` (every VM of the
    machine the same: it is KVM's enable_apicv)."""

    name: str = "vm0"
    apicv: bool = True
    vcpus: list[VcpuSpec] = Field(min_length=1)
    assign: list[AssignSpec] = []

    @model_validator(mode="after")
    def _posted(self) -> VmSpec:
        if not self.apicv and any(a.posted for a in self.assign):
            raise ValueError("posted interrupts need apicv = true")
        for a in self.assign:
            if a.vcpus is not None and any(v >= len(self.vcpus) for v in a.vcpus):
                raise ValueError(f"assign {a.device!r}: vcpus are indexes of this VM's "
                                 f"{len(self.vcpus)} vCPU(s)")
        return self


class RunSection(Section):
    """Seed, an optional stop time, and the run budget (as ``irqsim demo``'s options)."""

    seed: int = Field(1, ge=0, le=MAX_SEED)
    duration_ns: int | None = Field(None, ge=1, le=10**15)
    max_sim_ns: int = Field(100_000_000_000, ge=1, le=10**15)
    max_events: int = Field(100_000_000, ge=1, le=10**12)
    title: str | None = None
    focus_device: str | None = None


def _timing_model() -> type[Section]:
    fields: dict[str, Any] = {f.name: (int | None, Field(None, ge=0, le=10**12))
                              for f in dataclasses.fields(TimingModel)}
    return create_model("TimingSection", __base__=Section, **fields)


# Every TimingModel field, optional; names are checked against the dataclass's.
TimingSection: type[Section] = _timing_model()


class ExperimentFile(Section):
    """One experiment: a built-in scenario with its parameters, or a described machine."""

    version: Literal[1]
    description: str = ""
    scenario: dict[str, Any] | None = None      # validated by scenario_params_model(name)
    machine: MachineSection | None = None
    platform: PlatformSection = PlatformSection()
    devices: list[DeviceSpec] = []
    workloads: list[Workload] = []
    vms: list[VmSpec] = []
    timing: TimingSection = TimingSection()       # type: ignore[valid-type]
    run: RunSection = RunSection()

    @model_validator(mode="after")
    def _one_level(self) -> ExperimentFile:
        generic = self.machine is not None or self.devices or self.workloads \
            or self.platform.switches or self.platform.ioapics or self.vms \
            or self.platform.pic
        if self.scenario is not None and generic:
            raise ValueError("a file names a built-in [scenario] or describes a machine "
                             "([machine], [[devices]], [[workloads]]), not both")
        if self.scenario is None and not generic:
            raise ValueError("nothing to run: give [scenario] or [machine] with [[devices]] "
                             "and [[workloads]]")
        if not self.platform.pic:
            legacy = [f"devices[{i}] (model isa)" for i, d in enumerate(self.devices)
                      if isinstance(d, IsaDeviceSpec)]
            legacy += [f"devices[{i}].isa_irq" for i, d in enumerate(self.devices)
                       if isinstance(d, LegacyDevice) and d.isa_irq is not None]
            legacy += [f"workloads[{i}] (kind {w.kind})" for i, w in enumerate(self.workloads)
                       if isinstance(w, PitWorkload | RtcWorkload)]
            if legacy:
                raise ValueError(f"{', '.join(legacy)}: needs platform.pic = true (the "
                                 f"8259, the PIT and the ISA IRQ lines)")
        irqs = [d.irq for d in self.devices if isinstance(d, IsaDeviceSpec)]
        if len(set(irqs)) != len(irqs):
            raise ValueError(f"two ISA devices on one IRQ ({sorted(irqs)}): ISA lines are "
                             f"edge-triggered and not shared")
        for kind, name in ((PitWorkload, "pit"), (RtcWorkload, "rtc")):
            if sum(isinstance(w, kind) for w in self.workloads) > 1:
                raise ValueError(f"one kind = \"{name}\" workload per machine (the board has "
                                 f"one {name.upper()})")
        return self

    def device_names(self) -> list[str]:
        """The name of each ``[[devices]]`` entry's function: its ``name``, else its model
        (numbered from the second of a model: ``virtio-net``, ``virtio-net1``); a dump's
        functions are named after the file (``stem`` or ``stem@slot``)."""
        used: dict[str, int] = {}
        out = []
        for d in self.devices:
            if isinstance(d, DumpDevice):
                out.append(d.file.replace("\\", "/").rsplit("/", 1)[-1].split(".")[0])
                continue
            if d.name is not None:
                out.append(d.name)
                continue
            used[d.model] = used.get(d.model, 0) + 1
            out.append(d.model if used[d.model] == 1 else f"{d.model}{used[d.model] - 1}")
        return out

    def timing_model(self) -> TimingModel:
        """The default timing model with this file's overrides."""
        section: BaseModel = self.timing
        changes = {k: v for k, v in section.model_dump().items() if v is not None}
        return TimingModel().with_(**changes)
