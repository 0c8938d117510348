"""VT-d interrupt remapping scenarios (docs/vtd.md).

``vtd-remap``: seed 002's machine (virtio-rng, virtio-blk, virtio-net on MSI-X, vectors from
33, APIC ID 0) plus a legacy INTx device on the I/O APIC, with the OS's interrupt remapping
on: every MSI-X message is remappable (handle, SHV, sub-handle), the I/O APIC's entry is in
remappable format, and the unit looks up, validates and remaps each interrupt.

``vtd-fault``: the same kind of machine with a device that forges interrupt writes (a
victim's IRTE handle under its own source-id, an index beyond the table, a compatibility-format
write) and a misprogrammed IRTE (a reserved bit set by a buggy driver): every forged or
misdirected write is blocked and recorded, the OS's fault handler logs each record as Linux
does, and the books balance. The same forging is run with remapping off, where the forged
compatibility writes reach the victim's handler: the seed's "security benefit", measured.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import partial
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from irqsim.devices.legacy import LegacyIntxDevice
from irqsim.devices.nic import MultiQueueNic
from irqsim.devices.virtio import VirtioBlk, VirtioNet, VirtioPciDevice, VirtioRng
from irqsim.drivers.generic import GenericDriver
from irqsim.drivers.legacy import LegacyIntxDriver
from irqsim.drivers.virtio import VirtioPciDriver
from irqsim.machine import Machine
from irqsim.os.irq_remapping import IrRemapDomain, IrteData
from irqsim.scenarios import ScenarioOptions, ScenarioResult, knobs_of, register
from irqsim.scenarios.seed002 import SEED002_FIRST_VECTOR, WorkloadSpec, start_workload
from irqsim.scenarios.workload import PoissonSource
from irqsim.sim.trace import TraceOption
from irqsim.spec.msi import msi_address, msi_data
from irqsim.views.iommu import fault_lines, ir_translation_struct

ROGUE_IDS = ((0x8086, 0x1572),)


def build_vtd_remap(trace: TraceOption = False, intremap: bool | str = True
                    ) -> tuple[Machine, LegacyIntxDevice]:
    """Seed 002's devices and a legacy INTx device; remapping on (not yet booted)."""
    m = Machine(ncpus=1, apic_ids=[0], trace=trace, first_vector=SEED002_FIRST_VECTOR,
                intremap=intremap)
    for cls in (VirtioRng, VirtioBlk, VirtioNet):
        m.add_device(cls(m.ctx))
    legacy = LegacyIntxDevice(m.ctx, "legacy", pin=1)
    m.add_device(legacy)
    m.kernel.register_driver(VirtioPciDriver())
    m.kernel.register_driver(LegacyIntxDriver())
    return m, legacy


def remap_notes(m: Machine) -> list[str]:
    """Boot log, the unit's counters and the debugfs table."""
    io = m.iommu
    notes = [*m.kernel.dmesg,
             f"IOMMU: {io.requests} interrupt requests, {io.remapped} remapped, "
             f"{io.posted} posted, {sum(io.faults.values())} blocked; interrupt entry cache "
             f"{io.iec_hits} hits, {io.iec_misses} misses, {io.iec_invalidations} "
             "invalidation descriptors",
             "/sys/kernel/debug/iommu/intel/ir_translation_struct:",
             *ir_translation_struct(io).splitlines()]
    return notes


@dataclass
class VtdRemapKnobs:
    """``intremap``: the kernel's ``intremap=`` option (on, nosid: no source-id check,
    nopost: no posted format, off: remapping off, compatibility format); ``intx_events``:
    raise the legacy device's INTx events too."""

    HELP: ClassVar[dict[str, str]] = {
        "intremap": "intremap=: on, nosid, nopost or off",
        "intx_events": "raise the legacy device's INTx events too"}

    intremap: Literal["on", "nosid", "nopost", "off"] = "on"
    intx_events: bool = True


@register("vtd-remap", "VT-d interrupt remapping on: seed 002's virtio devices (MSI-X) and an "
                       "I/O APIC (INTx) device, IRTEs per vector, IR-PCI-MSIX / IR-IO-APIC",
          knobs=VtdRemapKnobs)
def vtd_remap(opts: ScenarioOptions) -> ScenarioResult:
    k = knobs_of(opts, VtdRemapKnobs)
    m, legacy = build_vtd_remap(trace=opts.trace, intremap=k.intremap)
    m.boot()
    start_workload(m, WorkloadSpec(opts.requests, opts.mean_gap_ns), opts.seed)
    if k.intx_events:
        PoissonSource(m.engine, lambda: legacy.event(0), opts.requests, opts.mean_gap_ns,
                      random.Random(opts.seed + 1))
    m.run()
    return ScenarioResult(m, "VT-d interrupt remapping: virtio on MSI-X and INTx through the "
                             "IOMMU (seed 002 machine)", "virtio-blk", notes=remap_notes(m))


# -- vtd-fault ------------------------------------------------------------------------------
@dataclass
class ForgeResult:
    """Forged interrupt writes of one run: sent and delivered per kind."""

    sent: dict[str, int]
    delivered: int
    blocked: dict[int, int]


def build_vtd_fault(trace: TraceOption = False, intremap: bool = True
                    ) -> tuple[Machine, VirtioBlk, VirtioRng, MultiQueueNic]:
    """A victim (virtio-blk), a device whose IRTE a buggy driver misprograms (virtio-rng)
    and a rogue function (a NIC that forges writes); not yet booted."""
    m = Machine(ncpus=2, trace=trace, intremap=intremap)
    blk, rng_dev = VirtioBlk(m.ctx), VirtioRng(m.ctx)
    rogue = MultiQueueNic(m.ctx, 1, name="rogue")
    for d in (blk, rng_dev, rogue):
        m.add_device(d)
    m.kernel.register_driver(VirtioPciDriver())
    m.kernel.register_driver(GenericDriver(ROGUE_IDS, max_vectors=1))
    return m, blk, rng_dev, rogue


def misprogram_irte(m: Machine, device: VirtioPciDevice) -> int:
    """A buggy driver sets a reserved bit (12) in the device's first IRTE and invalidates
    it: every interrupt of that vector now faults with reason 0x24. Returns the index."""
    k = m.kernel
    dom = k.ir_domain
    assert isinstance(dom, IrRemapDomain)
    slot = next(p for p in k.devices if p.bus << 8 | p.devfn == device.requester_id)
    d = k.irqs[slot.irqs[0]].data
    while d is not None and d.domain is not dom:
        d = d.parent
    assert d is not None
    data: IrteData = d.chip_data
    index = data.index + data.sub_handle
    k.run_on(k.cpus[0], lambda: dom.unit.write_irte(index, data.lo | 1 << 12, data.hi))
    return index


def forge(m: Machine, rogue: MultiQueueNic, victim: VirtioPciDevice, count: int,
          gap_ns: float, rng: random.Random) -> dict[str, int]:
    """Schedule ``count`` forged writes of each kind from ``rogue``: the victim's IRTE handle
    (remappable, SHV, its own source-id), an index beyond the table, and a compatibility
    write naming the victim's vector and CPU (what works without remapping)."""
    k = m.kernel
    pdev = next(p for p in k.devices if p.bus << 8 | p.devfn == victim.requester_id)
    desc = k.irqs[pdev.irqs[0]]
    handle_addr, sub = _victim_message(m, desc.irq)
    compat = (msi_address(k.apic_ids[desc.cpu]), msi_data(desc.vector))
    kinds = {"victim handle (wrong source-id)": (handle_addr, sub),
             "index beyond the table": (0xFEE00000 | 0x7FFF << 5 | 0x1C, 0xFFFF),
             "compatibility format": compat}
    if not m.iommu.remapping_enabled:
        kinds = {"compatibility format": compat}
    for addr, data in kinds.values():
        def send(a: int = addr, v: int = data) -> None:
            rogue.dma_write(a, v.to_bytes(4, "little"))
        PoissonSource(m.engine, send, count, gap_ns, rng)
    return {name: count for name in kinds}


def _victim_message(m: Machine, irq: int) -> tuple[int, int]:
    """The (address, data) the victim's entry holds: remappable with remapping on."""
    d = m.kernel.irqs[irq].data
    assert d is not None
    return d.chip.irq_compose_msi_msg(d)


def run_forging(intremap: bool, count: int, gap_ns: float, seed: int,
                trace: TraceOption = False) -> tuple[Machine, ForgeResult]:
    """The rogue forges ``count`` writes of each kind at a quiet victim; how many the victim's
    CPU takes (its IRQ count) and how many the unit blocks, per fault reason."""
    m, blk, _, rogue = build_vtd_fault(trace=trace, intremap=intremap)
    m.boot()
    sent = forge(m, rogue, blk, count, gap_ns, random.Random(seed))
    m.run()
    k = m.kernel
    pdev = next(p for p in k.devices if p.bus << 8 | p.devfn == blk.requester_id)
    delivered = sum(k.irqs[pdev.irqs[0]].counts)
    return m, ForgeResult(sent, delivered, dict(m.iommu.faults))


def _span(opts: ScenarioOptions) -> float:
    return 3 * opts.requests * opts.mean_gap_ns


@dataclass
class VtdFaultKnobs:
    """``forged_per_kind``: forged writes of each kind (0: requests / 4);
    ``misprogram_irte``: the buggy driver sets a reserved bit in virtio-rng's IRTE."""

    HELP: ClassVar[dict[str, str]] = {
        "forged_per_kind": "forged writes of each kind (0: requests / 4)",
        "misprogram_irte": "a reserved bit set in virtio-rng's IRTE (fault 0x24)"}

    forged_per_kind: Annotated[int, Field(ge=0, le=1_000_000)] = 0
    misprogram_irte: bool = True


@register("vtd-fault", "VT-d faults: a device forging interrupt writes and a misprogrammed "
                       "IRTE; every one blocked, recorded and logged; forging measured with "
                       "remapping on and off", span=_span, knobs=VtdFaultKnobs)
def vtd_fault(opts: ScenarioOptions) -> ScenarioResult:
    k = knobs_of(opts, VtdFaultKnobs)
    n = k.forged_per_kind or max(1, opts.requests // 4)
    m, blk, rng_dev, rogue = build_vtd_fault(trace=opts.trace)
    m.boot()
    bad = misprogram_irte(m, rng_dev) if k.misprogram_irte else None
    rnd = random.Random(opts.seed)
    sent = forge(m, rogue, blk, n, opts.mean_gap_ns, rnd)
    for dev in (blk, rng_dev):
        for q in range(len(dev.queues)):
            PoissonSource(m.engine, partial(dev.complete, q), opts.requests, opts.mean_gap_ns,
                          rnd)
    m.run()
    io = m.iommu
    _, off = run_forging(False, n, opts.mean_gap_ns, opts.seed)
    _, on = run_forging(True, n, opts.mean_gap_ns, opts.seed)
    forged_on = sum(on.sent.values())
    notes = [
        f"misprogrammed IRTE {bad} (reserved bit 12 set by a buggy driver): virtio-rng's "
        f"interrupts blocked with fault reason 0x24 ({io.faults.get(0x24, 0)} times)"
        if bad is not None else "no IRTE misprogrammed",
        "forged writes from the rogue function: " + ", ".join(
            f"{name} x{c}" for name, c in sent.items()),
        "blocked per fault reason: " + ", ".join(
            f"{fr:#x}: {c}" for fr, c in sorted(io.faults.items())),
        f"remapping ON : {forged_on} forged writes, {on.delivered} reached the victim's "
        f"handler ({100 * (forged_on - on.delivered) / forged_on:.0f} % blocked)",
        f"remapping OFF: {sum(off.sent.values())} forged compatibility writes, "
        f"{off.delivered} reached the victim's handler "
        f"({100 * off.delivered / max(1, sum(off.sent.values())):.0f} % delivered)",
        f"fault events sent: {io.fault_events}; records still valid at the end: "
        f"{len(io.fault_records())}",
        "kernel log (dmesg):", *m.kernel.dmesg[-12:],
        *fault_lines(io)]
    return ScenarioResult(m, "VT-d faults: forged interrupt writes and a misprogrammed IRTE",
                          "virtio-blk", notes=notes,
                          extra={"forged_on": {"sent": forged_on, "delivered": on.delivered},
                                 "forged_off": {"sent": sum(off.sent.values()),
                                                "delivered": off.delivered},
                                 "faults": {f"{fr:#x}": c for fr, c in io.faults.items()}})
