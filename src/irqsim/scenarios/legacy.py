"""``legacy-pc``: a PC/AT-compatible board (issue 16; docs/legacy-pc.md).

The 8259A pair, two I/O APICs (GSIs 0-23 and 24-47, both in the MADT), ISA devices (the PIT
on IRQ 0, the i8042 keyboard on IRQ 1, the RTC on IRQ 8 behind the cascade), a conventional
PCI function with a physical INTx# pin (wired to the second I/O APIC, GSI 28, and steered to
ISA IRQ 11 for the 8259), and a PCIe virtio-net on MSI-X. By default the OS runs in APIC mode
but keeps IRQ 0 on the 8259 through the I/O APIC's pin 0 in ExtINT mode (one of Linux's
check_timer fallbacks): /proc/interrupts has an XT-PIC row beside the IO-APIC ones. Knobs:
``noapic`` (every legacy IRQ and the PCI line on the 8259, through LINT0) and ``timer``
("ioapic-pin0", "lint0", or "" for IRQ 0 on the I/O APIC too).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from irqsim.devices.isa import I8042_DATA, IsaIrqDevice
from irqsim.devices.legacy import LegacyIntxDevice
from irqsim.devices.virtio import VirtioNet
from irqsim.drivers.legacy import LegacyIntxDriver
from irqsim.drivers.virtio import VirtioPciDriver
from irqsim.machine import IoApicOptions, Machine
from irqsim.os.i8253 import pit_count_for
from irqsim.os.irq import IRQ_HANDLED, IrqReturn
from irqsim.os.kernel import Kernel
from irqsim.scenarios import ScenarioOptions, ScenarioResult, knobs_of, register
from irqsim.scenarios.workload import PoissonSource
from irqsim.spec.mc146818 import B_PIE

CONVENTIONAL_SLOT = 5           # 00:05.0
CONVENTIONAL_GSI = 28           # the second I/O APIC's pin 4
CONVENTIONAL_ISA_IRQ = 11       # the PIRQ router's steering for the 8259


@dataclass
class LegacyPcKnobs:
    """The OS's legacy options: ``noapic``, and where IRQ 0 goes in APIC mode."""

    noapic: bool = False
    timer: str = "ioapic-pin0"


def build_legacy_pc(kn: LegacyPcKnobs, trace: Any = False) -> tuple[Machine, dict[str, Any]]:
    """The board, its devices and drivers (not booted)."""
    m = Machine(ncpus=2, trace=trace, pic=True, noapic=kn.noapic, timer_8259=kn.timer,
                ioapics=[IoApicOptions(id=0), IoApicOptions(id=1, base=0xFEC01000,
                                                            gsi_base=24)])
    pit = m.pit
    kbd = m.add_isa(IsaIrqDevice(m.ctx, "i8042", 1, I8042_DATA))
    rtc = m.rtc
    conv = LegacyIntxDevice(m.ctx, "pci-legacy", express=False)      # no PCIe capability
    pci = m.add_conventional(conv, CONVENTIONAL_SLOT,
                             gsi=CONVENTIONAL_GSI, isa_irq=CONVENTIONAL_ISA_IRQ)
    net = VirtioNet(m.ctx)
    m.add_device(net)
    m.kernel.register_driver(VirtioPciDriver(vectors="per-queue"))
    m.kernel.register_driver(LegacyIntxDriver())
    return m, {"pit": pit, "kbd": kbd, "rtc": rtc, "pci": pci, "net": net}


class PitTicks:
    """A run of ``ticks`` timer interrupts: :meth:`start` programs the PIT periodic (mode 2
    with ``count``: ``pit_latch(HZ)`` or ``pit_count_for(period_ns)``) as Linux does; the
    handler counts the ticks and shuts the PIT down at the last one (the run's end)."""

    def __init__(self, k: Kernel, ticks: int) -> None:
        self.k = k
        self.ticks = ticks
        self.seen = 0

    def start(self, count: int) -> None:
        pit = self.k.pit
        assert pit is not None, "the board has no PIT (Machine(pic=True))"
        self.k.run_on(self.k.cpus[0], lambda: pit.set_periodic(count))

    def tick(self) -> None:
        """Called by the timer handler."""
        self.seen += 1
        if self.seen == self.ticks:
            assert self.k.pit is not None
            self.k.pit.shutdown()

    def handler(self, _irq: int, _dev: Any) -> IrqReturn:
        self.tick()
        return IRQ_HANDLED


class RtcTicks:
    """A run of ``count`` RTC periodic interrupts: :meth:`start` has rtc-cmos set the rate
    and enable PIE; its handler (cmos_interrupt) acknowledges each through register C and
    disables PIE at the last one."""

    def __init__(self, k: Kernel, count: int) -> None:
        self.k = k
        self.count = count
        self.seen = 0

    def start(self, hz: int) -> None:
        """:meth:`enable` as software on CPU 0."""
        self.k.run_on(self.k.cpus[0], lambda: self.enable(hz))

    def enable(self, hz: int) -> None:
        """cmos_set_freq and cmos_irq_enable(PIE), by the calling CPU."""
        rtc = self.k.rtc
        assert rtc is not None, "the board has no RTC (Machine(pic=True))"
        rtc.set_freq(hz)
        rtc.irq_enable(B_PIE)

    def handler(self, irq: int, dev: Any) -> IrqReturn:
        rtc = self.k.rtc
        assert rtc is not None
        ret = rtc.interrupt(irq, dev)
        self.seen += 1
        if self.seen == self.count:
            rtc.irq_disable(B_PIE)
        return ret


def rtc_hz_for(period_ns: float) -> int:
    """The RTC periodic rate (a power of two, 2-8192 Hz) nearest ``period_ns``."""
    hz = 1e9 / max(period_ns, 1.0)
    best = min(range(1, 14), key=lambda e: abs((1 << e) - hz))
    return 1 << best


def port_reader(k: Kernel, port: int) -> Callable[[int, Any], IrqReturn]:
    """An ISA driver's handler: it reads the device's data port, which drops the line."""
    def handler(_irq: int, _dev: Any) -> IrqReturn:
        k.current_cpu.inl(port, 1)
        return IRQ_HANDLED
    return handler


def request_isa_irqs(k: Kernel, ticks: int, rtc_irqs: int) -> tuple[PitTicks, RtcTicks]:
    """The ISA drivers' request_irq: the timer (``ticks`` of them, :class:`PitTicks`),
    i8042 (:func:`port_reader`) and rtc0 (``rtc_irqs``, :class:`RtcTicks`)."""
    pit_ticks = PitTicks(k, ticks)
    rtc_ticks = RtcTicks(k, rtc_irqs)

    def setup() -> None:
        k.request_irq(0, pit_ticks.handler, 0, "timer")
        k.request_irq(1, port_reader(k, I8042_DATA), 0, "i8042")
        k.request_irq(8, rtc_ticks.handler, 0, "rtc0")
    k.run_on(k.cpus[0], setup)
    return pit_ticks, rtc_ticks


@register("legacy-pc", "Legacy PC: 8259 pair + two I/O APICs, PIT/keyboard/RTC, a conventional "
                       "PCI INTx# pin and a PCIe MSI-X NIC; IRQ 0 left on the 8259 (XT-PIC)",
          knobs=LegacyPcKnobs)
def legacy_pc(opts: ScenarioOptions) -> ScenarioResult:
    kn = knobs_of(opts, LegacyPcKnobs)
    m, dev = build_legacy_pc(kn, trace=opts.trace)
    m.boot()
    k = m.kernel
    ticks, rtc = request_isa_irqs(k, opts.requests, opts.requests // 4 or 1)
    rng = random.Random(opts.seed)
    gap = opts.mean_gap_ns
    ticks.start(pit_count_for(int(gap)))
    rtc.start(rtc_hz_for(gap * 4))
    PoissonSource(m.engine, lambda: dev["kbd"].event(0x1C), opts.requests // 4 or 1, gap * 4,
                  rng)
    PoissonSource(m.engine, lambda: dev["pci"].event(0), opts.requests, gap, rng)
    net = dev["net"]
    for q in range(len(net.queues)):
        PoissonSource(m.engine, partial(net.complete, q), opts.requests, gap, rng)
    m.run()
    xt = [r["irq"] for r in k.interrupt_rows() if r["chip"] == "XT-PIC"]
    mode = "noapic: the 8259 through LINT0" if kn.noapic else (
        f"APIC mode, IRQ 0 on the 8259 through {kn.timer}" if kn.timer else "APIC mode")
    pic = k.pic8259
    notes = [f"{mode}; XT-PIC IRQs: {xt or 'none'}",
             f"conventional PCI {dev['pci'].name} at 00:{CONVENTIONAL_SLOT:02x}.0: INTx# pin "
             f"-> GSI {CONVENTIONAL_GSI} (IOAPIC1) / ISA IRQ {CONVENTIONAL_ISA_IRQ} (8259)",
             f"spurious 8259 interrupts: {pic.spurious_irqs if pic is not None else 0}"]
    return ScenarioResult(m, "Legacy PC: 8259 + two I/O APICs", "pci-legacy", notes=notes,
                          extra={"xt_pic_irqs": xt})
