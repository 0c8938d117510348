"""Scenarios for the three generations of device interrupts (seeds 003 and 004).

* ``intx-shared``: four devices behind a switch share one level-triggered I/O APIC line;
  their pins are chosen so the switch swizzles them all to INTA and collapses them.
* ``msi-multi``: one MSI device with four event types on four contiguous vectors, one of
  them masked for a while (Pending bit, sent on unmask).
* ``mixed``: MSI-X, MSI and INTx devices in one machine, the same virtio driver falling
  back from MSI-X to MSI to INTx with what each device offers.

The builders are shared with ``irqsim compare-mechanisms`` and the benchmark.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from irqsim.devices.legacy import LegacyIntxDevice
from irqsim.devices.msi_device import MsiEventDevice
from irqsim.devices.virtio import VirtioBlk, VirtioNet, VirtioPciDevice, VirtioRng
from irqsim.drivers.legacy import LegacyIntxDriver
from irqsim.drivers.msi_device import MsiEventDriver
from irqsim.drivers.virtio import VirtioPciDriver
from irqsim.machine import Machine
from irqsim.os.kernel import PCI_IRQ_INTX, PCI_IRQ_MSI, PCI_IRQ_MSIX
from irqsim.pci.bridge import PciBridge
from irqsim.pci.express import LinkSpec
from irqsim.scenarios import ScenarioOptions, ScenarioResult, builtin, knobs_of, register
from irqsim.scenarios.workload import PoissonSource
from irqsim.sim.timing import TimingModel
from irqsim.sim.trace import TraceOption

# The default demo's scenarios are listed first whichever module is imported first.
_ = builtin
MECHANISMS = {"msix": PCI_IRQ_MSIX | PCI_IRQ_MSI | PCI_IRQ_INTX,
              "msi": PCI_IRQ_MSI | PCI_IRQ_INTX,
              "intx": PCI_IRQ_INTX}


def pin_for(port_device: int, target: int = 1) -> int:
    """The pin a device behind switch downstream port ``port_device`` must use so that the
    switch swizzles it to ``target`` (1-4): the inverse of (pin - 1 + device) mod 4 + 1."""
    return (target - 1 - port_device) % 4 + 1


def swizzle_to_shared_line(m: Machine, ports: int, name: str = "Switch0") -> list[PciBridge]:
    """A switch below a new root port; its downstream ports, in order."""
    return list(m.add_switch(ports, name=name).downstream)


def poisson(m: Machine, action: object, count: int, gap: float, rng: random.Random,
            ) -> PoissonSource:
    """A request stream calling ``action()``."""
    return PoissonSource(m.engine, action, count, gap, rng)  # type: ignore[arg-type]


def collapse_notes(m: Machine) -> list[str]:
    """One line per switch port that collapsed assertions."""
    out = []
    for sw in m.switches:
        for port in (sw.upstream, *sw.downstream):
            if port.intx_collapsed:
                out.append(f"{port.name}: {port.intx_asserts} Assert_INTx received, "
                           f"{port.intx_collapsed} collapsed (wire already asserted)")
    return out


def irq_notes(m: Machine) -> list[str]:
    """Unhandled counts and disabled lines (note_interrupt)."""
    out = []
    for r in m.kernel.interrupt_rows():
        if r["unhandled"] or r["disabled"]:
            why = f"; disabled: {r['disabled']}" if r["disabled"] else ""
            out.append(f"IRQ {r['irq']} ({r['chip']}): {r['unhandled']} unhandled (IRQ_NONE "
                       f"from every handler){why}")
    return out


# -- intx-shared ------------------------------------------------------------------------------
def build_intx_shared(trace: TraceOption = False, timing: TimingModel | None = None
                      ) -> tuple[Machine, list[LegacyIntxDevice], VirtioBlk]:
    """virtio-blk (no MSI-X) and three legacy devices behind one switch, all on INTA."""
    m = Machine(ncpus=1, trace=trace, timing=timing)
    dps = swizzle_to_shared_line(m, 4)
    blk = VirtioBlk(m.ctx, msix_vectors=0)
    m.add_device(blk, dps[0])                       # pin A behind device 0: INTA
    legacy = []
    for i in range(1, 4):
        dev = LegacyIntxDevice(m.ctx, f"legacy{i}", pin=pin_for(i))
        m.add_device(dev, dps[i])
        legacy.append(dev)
    m.kernel.register_driver(VirtioPciDriver())
    m.kernel.register_driver(LegacyIntxDriver())
    return m, legacy, blk


@register("intx-shared", "INTx: virtio-blk and 3 legacy devices behind a switch share one "
                         "level-triggered I/O APIC line")
def intx_shared(opts: ScenarioOptions) -> ScenarioResult:
    m, legacy, blk = build_intx_shared(trace=opts.trace)
    m.boot()
    rng = random.Random(opts.seed)
    poisson(m, lambda: blk.complete(0), opts.requests, opts.mean_gap_ns, rng)
    for dev in legacy:
        poisson(m, lambda d=dev: d.event(0), opts.requests, opts.mean_gap_ns, rng)
    m.run()
    gsi = m.kernel.devices[-1].irq
    notes = [f"all four devices share IRQ {gsi} (I/O APIC pin {gsi}, level, active low)",
             *collapse_notes(m), *irq_notes(m)]
    return ScenarioResult(m, "INTx: four devices share one I/O APIC line behind a switch",
                          "legacy3", notes=notes)


# -- msi-multi --------------------------------------------------------------------------------
def build_msi_multi(trace: TraceOption = False, timing: TimingModel | None = None, events: int = 4,
                    addr64: bool = True, masking: bool = True,
                    ) -> tuple[Machine, MsiEventDevice, MsiEventDriver]:
    """One MSI device with ``events`` event types on one CPU."""
    m = Machine(ncpus=1, trace=trace, timing=timing)
    dev = MsiEventDevice(m.ctx, "msidev", events=events, addr64=addr64, masking=masking)
    m.add_device(dev)
    drv = MsiEventDriver(events=events)
    m.kernel.register_driver(drv)
    return m, dev, drv


@dataclass
class MsiMultiKnobs:
    """msi-multi's own knobs: the MSI capability's address width and per-vector masking
    (PCIe 7.7.1; the demo: 64-bit with masking)."""

    addr64: bool = True
    masking: bool = True


@register("msi-multi", "MSI: one device, 4 event types on 4 contiguous vectors; one masked "
                       "for a while", knobs=MsiMultiKnobs)
def msi_multi(opts: ScenarioOptions) -> ScenarioResult:
    kn = knobs_of(opts, MsiMultiKnobs)
    m, dev, drv = build_msi_multi(trace=opts.trace, addr64=kn.addr64, masking=kn.masking)
    m.boot()
    k = m.kernel
    st = drv.devices[0]
    rng = random.Random(opts.seed)
    for ev in range(dev.n_events):
        poisson(m, lambda e=ev: dev.event(e), opts.requests, opts.mean_gap_ns, rng)
    span = int(opts.requests * opts.mean_gap_ns)
    masked_irq = st.irqs[2]
    t0 = m.now

    def run_on_cpu0(fn: object) -> None:
        k.run_on(m.cpus[0], fn)  # type: ignore[arg-type]

    m.engine.at(t0 + span // 3, lambda _: run_on_cpu0(lambda: k.disable_irq(masked_irq)))
    m.engine.at(t0 + span // 2, lambda _: run_on_cpu0(lambda: k.enable_irq(masked_irq)))
    m.run()
    cap = dev.msi
    notes = [f"MSI {'64' if cap.addr64 else '32'}-bit, per-vector masking "
             f"{'yes' if cap.pvm else 'no'}: {cap.allocated} messages, address "
             f"{cap.address:#x}, data base {cap.data:#06x}"]
    notes += [f"event {ev} -> message {dev.message_for(ev)}: data {cap.message(ev)[1]:#06x} "
              f"(vector {cap.message(ev)[1] & 0xFF:#x}), handled {st.handled[ev]}"
              for ev in range(dev.n_events)]
    notes.append(f"IRQ {masked_irq} (message 2) masked from {span // 3} ns to {span // 2} ns "
                 "after boot: events meanwhile set its Pending bit; unmasking sent it once")
    return ScenarioResult(m, "MSI: one device, 4 messages (Data + 0..3), per-vector masking",
                          "msidev", notes=notes,
                          extra={"msi_data": [cap.message(ev)[1] for ev in range(4)]})


# -- mixed ------------------------------------------------------------------------------------
def build_mixed(trace: TraceOption = False, timing: TimingModel | None = None
                ) -> tuple[Machine, list[VirtioPciDevice], MsiEventDevice, LegacyIntxDevice]:
    """Two CPUs: virtio-net on MSI-X, virtio-blk (MSI only) on MSI, the MSI event device,
    and virtio-rng (no MSI-X, no MSI) sharing an INTx line with a legacy device."""
    m = Machine(ncpus=2, trace=trace, timing=timing)
    net = VirtioNet(m.ctx)
    blk = VirtioBlk(m.ctx, msix_vectors=0, msi_vectors=1)
    m.add_device(net)
    m.add_device(blk)
    evdev = MsiEventDevice(m.ctx, "msidev", events=4)
    m.add_device(evdev)
    dps = swizzle_to_shared_line(m, 2)
    rng_dev = VirtioRng(m.ctx, msix_vectors=0)
    m.add_device(rng_dev, dps[0])
    legacy = LegacyIntxDevice(m.ctx, "legacy", pin=pin_for(1))
    m.add_device(legacy, dps[1])
    m.kernel.register_driver(VirtioPciDriver(vectors="per-queue"))
    m.kernel.register_driver(MsiEventDriver(events=4))
    m.kernel.register_driver(LegacyIntxDriver())
    return m, [net, blk, rng_dev], evdev, legacy


@register("mixed", "MSI-X, MSI and INTx devices in one two-CPU machine (driver fallback)")
def mixed(opts: ScenarioOptions) -> ScenarioResult:
    m, virtio, evdev, legacy = build_mixed(trace=opts.trace)
    m.boot()
    rng = random.Random(opts.seed)
    for dev in virtio:
        for qi in range(len(dev.queues)):
            poisson(m, lambda d=dev, q=qi: d.complete(q), opts.requests, opts.mean_gap_ns, rng)
    for ev in range(evdev.n_events):
        poisson(m, lambda e=ev: evdev.event(e), opts.requests, opts.mean_gap_ns, rng)
    poisson(m, lambda: legacy.event(0), opts.requests, opts.mean_gap_ns, rng)
    m.run()
    notes = [f"{p.slot} {_name(m, p.slot)}: {p.irq_mode} ({len(p.irqs)} IRQ(s))"
             for p in m.kernel.devices if not p.is_bridge]
    notes += collapse_notes(m) + irq_notes(m)
    return ScenarioResult(m, "MSI-X, MSI and INTx devices in one machine (two CPUs)",
                          "virtio-net", notes=notes)


def _name(m: Machine, slot: str) -> str:
    for fn in m.rc.functions():
        if f"0000:{fn.bdf}" == slot:
            return fn.name
    return "?"


# -- compare-mechanisms ------------------------------------------------------------------------
@dataclass
class CompareSpec:
    """The workload ``irqsim compare-mechanisms`` runs over each mechanism."""

    requests: int = 400
    mean_gap_ns: float = 10_000.0
    seed: int = 1
    sharers: int = 2
    ncpus: int = 2
    link: LinkSpec | None = None        # every port's and device's LnkCap (None: their own)


def build_compare(mechanism: str, spec: CompareSpec, trace: TraceOption = False,
                  timing: TimingModel | None = None,
                  ledger_debug: bool = False) -> tuple[Machine, VirtioNet]:
    """The same machine for every mechanism: ``spec.sharers`` idle legacy devices and a
    virtio-net (MSI-X table, 2 MSI messages, INTA) behind one switch, all swizzled to one
    line; the virtio driver may use only ``mechanism`` (and what comes after it)."""
    if mechanism not in MECHANISMS:
        raise ValueError(f"mechanism must be one of {', '.join(MECHANISMS)}, got {mechanism!r}")
    if not 0 <= spec.sharers <= 7:
        raise ValueError(f"sharers must be 0-7, got {spec.sharers}")
    m = Machine(ncpus=spec.ncpus, trace=trace, timing=timing, ledger_debug=ledger_debug,
                pcie_link=spec.link)
    n = spec.sharers
    dps = swizzle_to_shared_line(m, n + 1)
    line = n % 4 + 1                                # where virtio-net's INTA lands
    for i in range(n):
        m.add_device(LegacyIntxDevice(m.ctx, f"legacy{i}", pin=pin_for(i, line)), dps[i])
    net = VirtioNet(m.ctx, msi_vectors=2)
    m.add_device(net, dps[n])
    m.kernel.register_driver(LegacyIntxDriver())
    m.kernel.register_driver(VirtioPciDriver(vectors="per-queue",
                                             irq_flags=MECHANISMS[mechanism]))
    return m, net


def run_compare(mechanism: str, spec: CompareSpec, trace: TraceOption = False,
                timing: TimingModel | None = None, ledger_debug: bool = False) -> Machine:
    """Build, boot and run the comparison workload on ``mechanism``."""
    m, net = build_compare(mechanism, spec, trace, timing, ledger_debug)
    m.boot()
    rng = random.Random(spec.seed)
    for qi in range(len(net.queues)):
        poisson(m, lambda q=qi: net.complete(q), spec.requests, spec.mean_gap_ns, rng)
    m.run()
    return m
