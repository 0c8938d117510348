"""Regressions for defects a review found; each test is named for what it caught."""

from __future__ import annotations

import random

from irqsim.apic.lapic import LocalApic
from irqsim.machine import Machine
from irqsim.scenarios.mechanisms import build_intx_shared
from irqsim.scenarios.seed002 import build_seed002
from irqsim.sim.context import SimContext


def test_nmi_taken_before_iret_returns_first() -> None:
    """SDM 6.7.1/6.8.1: an NMI taken between a handler's EOI and its IRET runs to its own
    IRET first (last in, first out); no maskable interrupt runs inside the NMI handler."""
    m, _ = build_seed002(trace=True)
    m.boot()
    rng, blk = m.devices[0], m.devices[1]
    rng.complete(0)
    t0 = m.now
    m.run(until=t0 + 100_000)
    ev = m.ctx.tracer.events
    eoi = next(e.time for e in ev if e.kind == "eoi" and e.time >= t0)
    iret = next(e.time for e in ev if e.kind == "iret" and e.time >= t0)

    m2, _ = build_seed002(trace=True)
    m2.boot()
    m2.devices[0].complete(0)
    mid = (eoi + iret) // 2
    m2.engine.at(mid - m2.ctx.timing.nmi_delivery, lambda _: m2.nmi_button())
    m2.engine.at(mid + 200, lambda _: m2.devices[1].complete(0))
    m2.run()
    order = [(e.kind, e.fields.get("vector")) for e in m2.ctx.tracer.events
             if e.kind in ("iret", "handler-entry") and e.time >= mid - 500]
    assert order.index(("iret", 2)) < order.index(("iret", 33))
    assert order.index(("iret", 33)) < order.index(("handler-entry", 34))
    assert m2.cpus[0].frames == [] and m2.accounting()["balanced"]
    assert blk is not None


def test_level_message_merging_into_pending_edge_sets_tmr() -> None:
    """semantics.md A.4: TMR[V] := trigger mode at every acceptance, merges included, so
    the EOI of that vector is broadcast to the I/O APIC."""
    a = LocalApic(SimContext(), 0)
    a.mmio_write(0xF0, 4, 0x1FF)
    a.accept_fixed(0x50, False)
    a.accept_fixed(0x50, True)          # merges into the pending edge interrupt
    assert a.tmr >> 0x50 & 1
    a.accept_fixed(0x50, False)
    assert not a.tmr >> 0x50 & 1


def test_self_shorthand_only_for_fixed_ipis() -> None:
    """SDM 10.6.1 valid ICR combinations: self and all-including-self are Fixed-only; an NMI
    or INIT with them is not sent (diagnostic), and the sender keeps running."""
    m = Machine(ncpus=2, trace=True)
    m.boot()
    cpu = m.cpus[0]
    nmi_self = (4 << 8) | (1 << 14) | (1 << 18)
    init_all = (5 << 8) | (1 << 14) | (2 << 18)
    m.kernel.run_section(cpu, lambda: cpu.write(cpu.apic_base + 0x300, 4, nmi_self))
    m.kernel.run_section(cpu, lambda: cpu.write(cpu.apic_base + 0x300, 4, init_all))
    m.run()
    assert not m.ctx.tracer.of_kind("nmi")
    assert all(c.state == "running" for c in m.cpus)
    assert sum(d.rule_id == "LAPIC-ICR-INVALID" for d in m.ctx.diagnostics) == 2
    assert m.accounting()["balanced"]


def test_tsc_deadline_follows_a_written_tsc() -> None:
    """SDM 10.5.4.1: the deadline is compared with the TSC; after WRMSR IA32_TSC the timer
    fires when the new TSC reaches the deadline (1 ms at 3 GHz for +3,000,000 ticks)."""
    m = Machine(ncpus=1, trace=True, latency=False)
    m.boot()
    c = m.cpus[0]
    m.run(until=m.now + 1_000_000)
    m.kernel.run_section(c, lambda: c.write(c.apic_base + 0x320, 4, 0x80 | (2 << 17)))
    box: dict[str, int] = {}

    def section() -> None:
        c.wrmsr(0x10, 0)
        box["tsc"] = c.rdtsc()
        box["t"] = c.clock
        c.wrmsr(0x6E0, box["tsc"] + 3_000_000)

    m.kernel.run_section(c, section)
    m.run(until=m.now + 5_000_000)
    khz = m.ctx.timing.tsc_khz
    fired = [e.time - box["t"] for e in m.ctx.tracer.of_kind("timer-expiry")]
    assert box["tsc"] < 1000 and fired == [-(-3_000_000 * 1_000_000 // khz)]


OPS = ("ev1", "ev2", "ev3", "blk", "mask", "trig", "pol", "cli", "sti", "id1", "eoireg",
       "lapiceoi")


def _fuzz_once(seed: int) -> dict[str, object]:
    """Random guest actions on the intx-shared machine; returns the accounting."""
    m, legacy, blk = build_intx_shared()
    m.boot()
    k, cpu, io = m.kernel, m.cpus[0], m.ioapic
    pin = k.devices[-1].irq - io.gsi_base

    def wr(idx: int, val: int) -> None:
        k.run_section(cpu, lambda: (cpu.write(0xFEC00000, 4, idx), cpu.write(0xFEC00010, 4, val)))

    def do(op: str) -> None:
        if op.startswith("ev"):
            legacy[int(op[2]) - 1].event(0)
        elif op == "blk":
            blk.complete(0)
        elif op in ("mask", "trig", "pol"):
            bit = {"mask": 1 << 16, "trig": 1 << 15, "pol": 1 << 13}[op]
            wr(0x10 + 2 * pin, (io.rte[pin] & 0xFFFFFFFF) ^ bit)
        elif op == "cli":
            cpu.cli()
        elif op == "sti":
            cpu.sti()
        elif op == "id1":
            d = legacy[0]
            v = d.config.read(4, 2) ^ 0x400
            k.run_section(cpu, lambda: k.cfg_write(d.bus, d.devfn, 4, 2, v))
        elif op == "eoireg":
            k.run_section(cpu, lambda: cpu.write(0xFEC00040, 4, io.rte[pin] & 0xFF))
        else:
            k.run_section(cpu, lambda: cpu.write(cpu.apic_base + 0xB0, 4, 0))

    rng = random.Random(seed)
    t = m.now
    for _ in range(120):
        t += rng.randrange(1, 4000)
        m.engine.at(t, do, rng.choice(OPS))
    m.run(until=t + 2_000_000)
    cpu.sti()
    m.run(until=m.now + 2_000_000)
    return m.accounting()


def test_intx_fuzz_keeps_the_ledger_balanced() -> None:
    """Nothing lost: random guest actions on a shared level line (polarity and mask flips,
    Interrupt Disable, EOIs, device events) never unbalance the accounting."""
    for seed in range(6):
        acc = _fuzz_once(seed)
        assert acc["balanced"], (seed, acc)


def test_peer_write_below_a_switch_stays_below_it() -> None:
    """PCI-to-PCI Bridge 1.2, 4.1: a bridge forwards upstream only addresses outside its
    windows; a device's write to a peer's BAR under the same switch is claimed by the
    switch and lands in the peer's register, never reaching the root complex."""
    from irqsim.devices.nic import MultiQueueNic
    from irqsim.drivers.generic import GenericDriver
    m = Machine(ncpus=1)
    sw = m.add_switch(ports=2)
    a, b = MultiQueueNic(m.ctx, 2, name="a"), MultiQueueNic(m.ctx, 2, name="b")
    m.add_device(a, sw[0])
    m.add_device(b, sw[1])
    m.kernel.register_driver(GenericDriver(((0x8086, 0x1572),)))
    m.boot()
    target = b.bar_address(0) + 16 * 1 + 8          # b's table entry 1, Message Data
    before = m.rc.memory_writes
    a.dma_write(target, (0x77).to_bytes(4, "little"))
    m.run()
    assert b.msix.table[4 * 1 + 2] == 0x77
    assert m.rc.memory_writes == before
    assert not [d for d in m.ctx.diagnostics if d.rule_id == "PCI-UNSUPPORTED-REQUEST"]
