"""The test-bench API (issue 9 item 3; docs/testbench.md): one test per capability, and
kvm-unit-tests-style checks written with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irqsim.cpu.topology import Topology
from irqsim.devices.legacy import LegacyIntxDevice
from irqsim.devices.virtio import VirtioBlk
from irqsim.drivers.legacy import LegacyIntxDriver
from irqsim.drivers.virtio import VirtioPciDriver
from irqsim.machine import Machine
from irqsim.testbench import (
    BarSpec,
    Code,
    CpuOptions,
    DeviceSpec,
    Fault,
    IoApicOptions,
    MsiLayout,
    MsixLayout,
    TestBench,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "testbench.md"
ECAM = 0xB0000000
APIC = 0xFEE00000
SVR, TPR, PPR, EOI, ICR, ICR2 = 0xF0, 0x80, 0xA0, 0xB0, 0x300, 0x310
LVT_TIMER, TMICT, TDCR = 0x320, 0x380, 0x3E0
SELF = 1 << 18                      # ICR destination shorthand "self"


def ecam(bus: int, dev: int, fn: int = 0) -> int:
    return ECAM + (bus << 20 | (dev << 3 | fn) << 12)


def enable_apics(bench: TestBench) -> None:
    for i in range(len(bench.cpus)):
        bench.code(i).apic_write(SVR, 0x1FF)


def caps(code: Code, base: int) -> dict[int, int]:
    """Capability ID -> offset, walking the list from 0x34 as software does."""
    out, off = {}, code.read(base + 0x34, 1)
    while off:
        out[code.read(base + off, 1)] = off
        off = code.read(base + off + 1, 1)
    return out


def ioapic_rte(code: Code, base: int, pin: int, value: int) -> None:
    code.write(base, 0x10 + 2 * pin)
    code.write(base + 0x10, value & 0xFFFFFFFF)
    code.write(base, 0x11 + 2 * pin)
    code.write(base + 0x10, value >> 32)


def ioapic_read(code: Code, base: int, reg: int) -> int:
    code.write(base, reg)
    return code.read(base + 0x10)


def test_doc_example_runs() -> None:
    """docs/testbench.md's worked example runs as written (the doc cannot rot)."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), {})


def test_machine_from_options_is_not_booted_and_reports_cpuid() -> None:
    """Board options: APIC IDs, per-CPU x2APIC / TSC-deadline, MAXPHYADDR and the CPUID
    leaves (SDM vol. 2A CPUID 01H ECX[21]/[24], EBX[31:24], EDX[9]; 06H EAX[2]; 0BH;
    80000008H EAX[7:0]); the OS is not booted (the IDT is the bench's, no IRQ set up)."""
    bench = TestBench(cpus=[CpuOptions(0), CpuOptions(5, x2apic=False, tsc_deadline=False,
                                                      arat=False)], maxphyaddr=39)
    assert [a.initial_id for a in bench.lapics] == [0, 5]
    assert bench.machine.kernel.boot_ns == 0 and not bench.machine.kernel.irqs
    assert bench.cpus[0].idt is not bench.machine.kernel.idt
    assert bench.code(0).apic_read(SVR) == 0xFF                 # LAPIC at reset: untouched
    assert bench.machine.engine.peek() is None and not bench.machine.kernel.devices
    _, ebx, ecx, edx = bench.cpuid(1, 0x01)
    assert ebx >> 24 == 5 and not ecx >> 21 & 1 and not ecx >> 24 & 1 and edx >> 9 & 1
    _, _, ecx0, _ = bench.cpuid(0, 0x01)
    assert ecx0 >> 21 & 1 and ecx0 >> 24 & 1
    assert bench.cpuid(0, 0x06)[0] >> 2 & 1 and not bench.cpuid(1, 0x06)[0] >> 2 & 1
    assert bench.cpuid(1, 0x0B, 0)[3] == 5 and bench.cpuid(1, 0x0B, 1)[2] >> 8 & 0xFF == 2
    assert bench.cpuid(0, 0x80000008)[0] & 0xFF == 39
    # SDM 10.12.1: EXTD on a CPU without x2APIC is #GP; SDM 10.4.4: a base above MAXPHYADDR.
    with pytest.raises(Fault) as e:
        bench.code(1).wrmsr(0x1B, APIC | 0xC00)
    assert e.value.vector == 13 and e.value.cpu == 1
    with pytest.raises(Fault):
        bench.code(0).wrmsr(0x1B, (1 << 39) | 0x800)
    assert bench.code(0).wrmsr(0x1B, (1 << 38) | 0x800)     # inside 39 bits: legal


def test_tsc_deadline_option_decides_lvt_timer_bit_18() -> None:
    """SDM 10.5.4.1: without CPUID.01H:ECX[24] LVT Timer bit 18 is reserved (reads 0)."""
    bench = TestBench(cpus=[CpuOptions(0), CpuOptions(1, tsc_deadline=False)])
    for i in (0, 1):
        bench.code(i).apic_write(LVT_TIMER, 2 << 17 | 0x40)
    assert bench.code(0).apic_read(LVT_TIMER) >> 17 & 3 == 2
    assert bench.code(1).apic_read(LVT_TIMER) >> 17 & 3 == 0


def test_several_ioapics_with_their_id_base_pins_version() -> None:
    """82093AA 3.2.1/3.2.2: IOAPICID bits 27:24 and IOAPICVER (version, max redirection
    entry = pins - 1) of each I/O APIC at its own base; each is in the MADT."""
    bench = TestBench(ioapics=[IoApicOptions(), IoApicOptions(id=3, base=0xFEC01000,
                                                              gsi_base=24, pins=8,
                                                              version=0x11)])
    c = bench.code(0)
    assert ioapic_read(c, 0xFEC00000, 1) == 23 << 16 | 0x20
    assert ioapic_read(c, 0xFEC01000, 0) >> 24 == 3
    assert ioapic_read(c, 0xFEC01000, 1) == 7 << 16 | 0x11
    madt = bench.machine.acpi.madt.ioapics
    assert [(e.id, e.address, e.gsi_base) for e in madt] == [(0, 0xFEC00000, 0),
                                                             (3, 0xFEC01000, 24)]


def test_devices_at_chosen_bdf_declare_their_capabilities() -> None:
    """PCI 6.7 capability list, 6.8.1.3 MSI Message Control (MMC, 64-bit, per-vector
    masking), PCIe 7.7.2 MSI-X Table Size and Table/PBA Offset+BIR, 6.2.5.1 BAR sizing, the
    Interrupt Pin; bus 0 (integrated endpoint) and bus 2 (below a root port)."""
    bench = TestBench()
    spec = DeviceSpec("a", vendor=0x8086, device=0x1234,
                      bars=(BarSpec(0, 0x4000), BarSpec(2, 0x1000, is64=True)),
                      msi=MsiLayout(vectors=4, addr64=False, per_vector_masking=True),
                      msix=MsixLayout(size=8, table_bar=2, table_offset=0x100,
                                      pba_bar=0, pba_offset=0x800),
                      intx_pin=2)
    a = bench.add_device(spec, at="00:07.0", firmware=False)
    b = bench.add_device(DeviceSpec("b", device=0x5678), at="02:00.0")
    c = bench.code(0)
    assert c.read(ecam(0, 7)) == 0x1234_8086
    assert c.read(ecam(2, 0)) == 0x5678_1B36 and b.bdf == "02:00.0"
    found = caps(c, ecam(0, 7))
    assert set(found) == {0x05, 0x10, 0x11}         # 10h: every function's PCI Express cap
    ctl = c.read(ecam(0, 7) + found[0x05] + 2, 2)
    assert ctl >> 1 & 7 == 2 and not ctl >> 7 & 1 and ctl >> 8 & 1
    x = ecam(0, 7) + found[0x11]
    assert c.read(x + 2, 2) & 0x7FF == 7
    assert c.read(x + 4) == 0x100 | 2 and c.read(x + 8) == 0x800 | 0
    assert c.read(ecam(0, 7) + 0x3D, 1) == 2
    c.write(ecam(0, 7) + 0x10, 0xFFFFFFFF)
    assert c.read(ecam(0, 7) + 0x10) == 0xFFFFC000
    assert c.read(ecam(0, 7) + 0x18) & 0b110 == 0b100          # 64-bit BAR type
    assert a.requester_id == 7 << 3 and b.requester_id == 2 << 8
    with pytest.raises(ValueError, match="does not fit"):
        DeviceSpec(msix=MsixLayout(size=512, table_bar=0))


def test_device_messages_are_observed_by_subscription() -> None:
    """Every TLP a device emits (PCIe 2.2.8.1 INTx messages, MWr for DMA and MSI) and every
    interrupt a CPU takes (vector, CPU, time) reach the bench's probes; INTx of a bus-0
    device is routed through the _PRT to the I/O APIC."""
    bench = TestBench()
    enable_apics(bench)
    dev = bench.add_device(DeviceSpec("d", intx_pin=1, msi=MsiLayout()), at="00:05.0")
    seen = []
    bench.on_message(lambda m: seen.append(m.kind))
    dev.dma_write(0x0100_0000, b"\x01\x02\x03\x04")
    dev.intx_assert()
    bench.run()
    dev.intx_deassert()
    bench.run()
    assert seen == ["MWr", "Assert_INTA", "Deassert_INTA"]
    assert bench.machine.memory.read(0x0100_0000, 4) == 0x04030201
    # MSI: program the capability through ECAM, then the device signals.
    c = bench.code(0)
    base = ecam(0, 5) + 0x50
    c.write(base + 4, 0xFEE00000)
    c.write(base + 0xC, 0x52, 2)
    c.write(base + 2, c.read(base + 2, 2) | 1, 2)
    bench.handle(0x52, lambda irq: irq.spend(100))
    s = bench.run_on(0, lambda code: None) and bench.run()
    dev.signal(0)
    s = bench.run()
    assert [(m.kind, m.interrupt, m.data) for m in s.messages] == [("MWr", True, 0x52)]
    assert len(s.taken) == 1 and (s.taken[0].cpu, s.taken[0].vector) == (0, 0x52)
    assert s.taken[0].iid == s.messages[0].iid and s.taken[0].time > s.messages[0].time


def test_handler_bodies_take_time_and_access_hardware() -> None:
    """A handler runs in its section: its accesses happen at their instants and spend()
    moves its clock; with eoi=False and no EOI write the vector stays in ISR (SDM 10.8.5)."""
    bench = TestBench()
    enable_apics(bench)
    marks: list[int] = []

    def body(irq: Code) -> None:
        marks.append(irq.now)
        irq.spend(1000)
        marks.append(irq.now)
        irq.apic_read(PPR)
        marks.append(irq.now)

    bench.handle(0x60, body, eoi=False)
    bench.code(0).apic_write(ICR, SELF | 0x60)
    s = bench.run()
    assert marks[1] - marks[0] == 1000
    assert marks[2] - marks[1] == bench.machine.ctx.timing.lapic_mmio_access
    assert s.taken[0].time == marks[0]
    assert bench.lapics[0].isr >> 0x60 & 1
    assert bench.code(0).apic_read(PPR) == 0x60


def test_faults_raise_unless_an_exception_handler_takes_them() -> None:
    """SDM 10.12.5 / RDMSR: a #GP raises Fault at the top level and from a handler; an
    installed #GP handler (vector 13) receives it through the IDT instead."""
    bench = TestBench()
    enable_apics(bench)
    with pytest.raises(Fault) as e:
        bench.code(0).rdmsr(0x12345)
    assert (e.value.vector, e.value.name, e.value.rule_id) == (13, "#GP",
                                                               "CPU-RDMSR-UNIMPLEMENTED")

    bench.handle(0x70, lambda irq: (irq.spend(50), irq.rdmsr(0x12345)))
    bench.code(0).apic_write(ICR, SELF | 0x70)
    with pytest.raises(Fault) as e2:
        bench.run()
    assert e2.value.time > 0

    bench.reset()
    enable_apics(bench)
    got: list[int] = []
    bench.handle_exception(13, lambda code, f: got.append(f.vector))
    assert bench.run_on(0, lambda code: code.rdmsr(0x12345)) > 0
    bench.code(0).apic_write(ICR, SELF | 0x70)
    s = bench.run()
    assert got == [13, 13] and len(s.faults) == 2 and s.idle      # task's and handler's


def test_run_until_idle_excludes_periodic_timers_and_runs_for_a_time() -> None:
    """SDM 10.5.4: an armed periodic timer keeps expiring; run() stops when only its
    expiries remain; a one-shot expiry is run through first; run(ns) ends exactly there."""
    bench = TestBench()
    enable_apics(bench)
    bench.handle(0x40, lambda irq: irq.spend(100))
    c = bench.code(0)
    c.apic_write(TDCR, 0xB)                     # divide by 1
    c.apic_write(LVT_TIMER, 0x40)               # one-shot
    c.apic_write(TMICT, 1000)
    s = bench.run()
    assert s.idle and s.vectors == [(0, 0x40)]
    c = bench.code(0)
    c.apic_write(LVT_TIMER, 1 << 17 | 0x40)     # periodic
    c.apic_write(TMICT, 1000)
    s = bench.run()
    assert s.idle and s.vectors == [] and bench.lapics[0].timer.handle is not None
    t = bench.now
    period = 1000 * bench.machine.ctx.timing.apic_bus_cycle_ns     # TMICT x divide-by-1
    s = bench.run(ns=10 * period + period // 2)
    assert s.end - t == 10 * period + period // 2 and not s.idle
    assert len(s.taken) == 10


def test_forged_msi_is_accounted() -> None:
    """A raw upstream write to 0xFEExxxxx is an interrupt (SDM 11.11.1): delivered when
    legal; dropped with a named reason when its root port's Bus Master Enable is clear
    (PCI-PCI Bridge 1.2 3.2.2.3.3) or its vector is illegal (SDM 10.5.3); the books balance."""
    bench = TestBench(cpus=2)
    enable_apics(bench)
    bench.handle(0x45, lambda irq: None)
    iid = bench.forge(0xFEE01000, 0x45, requester=0x0300)
    s = bench.run()
    assert iid and s.vectors == [(1, 0x45)] and s.taken[0].iid == iid
    dev = bench.add_device(DeviceSpec("rogue"), at="03:00.0")
    port = bench.machine.rc.bus0[max(bench.machine.rc.bus0)]
    port.config_write(0x04, 2, port.config_read(0x04, 2) & ~0x4)
    bench.forge(0xFEE00000, 0x46, requester=0x0300, via=dev)
    bench.forge(0xFEE00000, 0x05, requester=0xBEEF)
    s = bench.run()
    acc = s.accounting
    assert acc["balanced"] and acc["raised"] == 3 and acc["delivered"] == 1
    assert set(acc["dropped"]) == {"bridge bus master disabled", "illegal vector"}


def test_platform_reset_restores_power_up_state() -> None:
    """Reset (SDM 10.4.7.1 LAPIC power-up, 82093AA RTE reset masked, PCI config at reset):
    time kept or restarted, handlers kept, device handles re-bound."""
    bench = TestBench()
    enable_apics(bench)
    dev = bench.add_device(DeviceSpec("d", msix=MsixLayout(size=2)), at="00:06.0")
    c = bench.code(0)
    c.apic_write(TPR, 0x30)
    c.write(dev.msix_entry_address(0) + 0xC, 0)
    bench.handle(0x50, lambda irq: None, eoi=False)
    c.apic_write(ICR, SELF | 0x50)
    bench.run()
    assert bench.lapics[0].isr
    t = bench.now
    old = bench.reset()
    assert old["delivered"] == 1 and old["balanced"]
    assert bench.now == t and bench.lapics[0].isr == 0 and bench.lapics[0].tpr == 0
    assert bench.code(0).apic_read(SVR) == 0xFF
    assert bench.ioapics[0].rte[0] >> 16 & 1
    c = bench.code(0)
    assert c.read(dev.msix_entry_address(0) + 0xC) == 1       # entry masked again
    enable_apics(bench)
    bench.code(0).apic_write(ICR, SELF | 0x50)
    assert bench.run().vectors == [(0, 0x50)]                   # the handler stayed
    bench.reset(keep_time=False)
    assert bench.now == 0


# -- kvm-unit-tests-style checks -----------------------------------------------------------


def test_kut_apic_self_ipi_and_tpr_ppr() -> None:
    """apic.c test_self_ipi and the TPR/PPR checks (SDM 10.8.3.1): a self-IPI is taken
    once; with TPR class 5 a class-4 vector waits in IRR while a class-6 vector is taken;
    PPR = max(TPR, ISRV class); lowering TPR releases the waiting vector."""
    bench = TestBench(cpus=[CpuOptions(0)])
    enable_apics(bench)
    order: list[tuple[int, int]] = []

    def handler(irq: Code) -> None:
        order.append((irq.vector, irq.apic_read(PPR)))

    for v in (0x45, 0x65):
        bench.handle(v, handler)
    c = bench.code(0)
    c.apic_write(ICR, SELF | 0x45)
    assert bench.run().vectors == [(0, 0x45)]
    c = bench.code(0)
    c.apic_write(TPR, 0x50)
    c.apic_write(ICR, SELF | 0x45)
    c.apic_write(ICR, SELF | 0x65)
    s = bench.run()
    assert s.vectors == [(0, 0x65)] and bench.lapics[0].irr >> 0x45 & 1
    assert bench.code(0).apic_read(PPR) == 0x50
    bench.code(0).apic_write(TPR, 0)
    s = bench.run()
    assert s.vectors == [(0, 0x45)]
    assert order == [(0x45, 0x40), (0x65, 0x60), (0x45, 0x40)]
    assert s.accounting["balanced"]


def test_kut_ioapic_edge_vs_level_remote_irr() -> None:
    """ioapic.c test_ioapic_level / edge (82093AA 3.2.4): a level line still asserted at EOI
    is delivered again while Remote IRR was set until the EOI; an edge entry delivers once
    per assertion."""
    bench = TestBench()
    enable_apics(bench)
    dev = bench.add_device(DeviceSpec("legacy", intx_pin=1), at="00:01.0")
    gsi = 16                                    # device 1, INTA
    io = 0xFEC00000
    remote: list[int] = []
    runs = {"n": 0}

    def level(irq: Code) -> None:
        runs["n"] += 1
        remote.append(ioapic_read(irq, io, 0x10 + 2 * gsi) >> 14 & 1)
        if runs["n"] == 2:
            dev.intx_deassert()                 # the driver clears the cause

    bench.handle(0x38, level)
    # level, active low (PCI INTx lines are active low), vector 0x38, CPU 0
    ioapic_rte(bench.code(0), io, gsi, 1 << 15 | 1 << 13 | 0x38)
    dev.intx_assert()
    s = bench.run()
    assert s.vectors == [(0, 0x38), (0, 0x38)] and remote == [1, 1]
    assert not ioapic_read(bench.code(0), io, 0x10 + 2 * gsi) >> 14 & 1
    # edge, active low: one delivery per assertion
    ioapic_rte(bench.code(0), io, gsi, 1 << 13 | 0x39)
    bench.handle(0x39, lambda irq: None)
    for _ in range(2):
        dev.intx_assert()
        bench.run()
        dev.intx_deassert()
        bench.run()
    assert [t.vector for t in bench.taken].count(0x39) == 2
    assert bench.accounting()["balanced"]


def test_kut_msix_masked_pending_then_unmask() -> None:
    """PCIe 6.1.4.5 / 7.7.2: a masked MSI-X vector sets its PBA bit instead of sending;
    unmasking sends it once and clears the bit."""
    bench = TestBench()
    enable_apics(bench)
    dev = bench.add_device(DeviceSpec("x", msix=MsixLayout(size=2)), at="00:08.0")
    c = bench.code(0)
    e = dev.msix_entry_address(1)
    c.write(e, 0xFEE00000)
    c.write(e + 8, 0x66)
    c.write(ecam(0, 8) + 0x72, 0x8000, 2)       # MSI-X Enable; entry 1 still masked
    bench.handle(0x66, lambda irq: None)
    dev.signal(1)
    s = bench.run()
    assert s.vectors == [] and s.messages == []
    assert bench.code(0).read(dev.msix_pba_address()) == 0b10
    assert s.accounting["pending"]["pba"] == 1 and s.accounting["balanced"]
    bench.code(0).write(e + 0xC, 0)             # unmask
    s = bench.run()
    assert s.vectors == [(0, 0x66)] and len(s.messages) == 1
    assert bench.code(0).read(dev.msix_pba_address()) == 0


@settings(max_examples=40, deadline=None)
@given(maxphyaddr=st.integers(36, 52), bit=st.integers(12, 63))
def test_apic_base_bits_follow_maxphyaddr(maxphyaddr: int, bit: int) -> None:
    """SDM 10.4.4: IA32_APIC_BASE bits MAXPHYADDR-1:12 hold the page; a set bit above is
    reserved (#GP, raised as Fault). CPUID.80000008H:EAX[7:0] reports the width."""
    bench = TestBench(maxphyaddr=maxphyaddr)
    assert bench.cpuid(0, 0x80000008)[0] & 0xFF == maxphyaddr
    value = (1 << bit) | 0x800
    if bit < maxphyaddr:
        assert bench.code(0).wrmsr(0x1B, value)
        assert bench.cpus[0].apic_base == 1 << bit
    else:
        with pytest.raises(Fault):
            bench.code(0).wrmsr(0x1B, value)


@settings(max_examples=40, deadline=None)
@given(writes=st.lists(st.tuples(st.integers(0, 0xFFFFF), st.integers(0, 0xFFFFFFFF),
                                 st.integers(0, 0xFFFF), st.booleans()),
                       min_size=1, max_size=6))
def test_forged_interrupt_writes_always_balance(
        writes: list[tuple[int, int, int, bool]]) -> None:
    """Any forged DWORD write to the interrupt window (any destination, delivery mode,
    vector, requester; straight into the root complex or from a device) is raised once
    and ends delivered, merged, pending or dropped with a reason: the books balance."""
    bench = TestBench(cpus=2)
    enable_apics(bench)
    dev = bench.add_device(DeviceSpec("rogue"), at="01:00.0")
    for v in range(32, 256):
        bench.handle(v, lambda irq: None)
    ids = [bench.forge(0xFEE00000 | addr_low & ~3, data, rid, via=dev if from_dev else None)
           for addr_low, data, rid, from_dev in writes]
    assert all(ids) and len(set(ids)) == len(ids)
    acc = bench.run().accounting
    assert acc["balanced"] and acc["raised"] >= len(writes)


def test_second_ioapic_serves_its_gsi_range() -> None:
    """ACPI MADT GSI base: an INTx line routed to GSI 30 reaches input 6 of the I/O APIC
    whose range starts at 24, and is delivered through that entry (82093AA 3.2.4)."""
    bench = TestBench(ioapics=[IoApicOptions(), IoApicOptions(id=1, base=0xFEC01000,
                                                              gsi_base=24, pins=8)])
    enable_apics(bench)
    dev = bench.add_device(DeviceSpec("legacy", intx_pin=1), at="00:02.0")
    bench.route_intx(0, 2, 1, 30)
    ioapic_rte(bench.code(0), 0xFEC01000, 6, 1 << 13 | 0x77)      # edge, active low
    bench.handle(0x77, lambda irq: None)
    dev.intx_assert()
    s = bench.run()
    assert s.vectors == [(0, 0x77)] and bench.ioapics[0].messages == 0
    assert bench.ioapics[1].messages == 1 and s.accounting["balanced"]


def test_kut_x2apic_self_ipi_msr() -> None:
    """apic.c test_self_ipi_x2apic (SDM 10.12.11): in x2APIC mode the SELF IPI MSR (0x83F)
    sends a fixed self-IPI; the handler's EOI goes through MSR 0x80B; writing a read-only
    x2APIC MSR raises #GP."""
    bench = TestBench(cpus=[CpuOptions(0x100)])
    c = bench.code(0)
    assert c.wrmsr(0x1B, APIC | 0x800 | 0x400)
    c.apic_write(SVR, 0x1FF)
    seen: list[int] = []
    bench.handle(0x99, lambda irq: seen.append(irq.rdmsr(0x802)))     # x2APIC ID
    c.wrmsr(0x83F, 0x99)
    s = bench.run()
    assert s.vectors == [(0, 0x99)] and seen == [0x100] and bench.lapics[0].isr == 0
    with pytest.raises(Fault) as e:             # SDM 10.12.1.2: the ID MSR is read-only
        bench.code(0).wrmsr(0x802, 1)
    assert e.value.vector == 13


def test_nmi_handler_and_multifunction_device() -> None:
    """SDM 10.11.2: an MSI with delivery mode NMI (forged) is taken through IDT vector 2 by
    the installed NMI handler, without an EOI (SDM 10.8.5); PCI 6.2.1: a device with two
    functions sets Header Type bit 7 so enumeration looks past function 0."""
    bench = TestBench()
    enable_apics(bench)
    got: list[int] = []
    bench.handle(2, lambda irq: got.append(irq.vector))
    bench.forge(0xFEE00000, 0x400, requester=0x0010)
    s = bench.run()
    assert got == [2] and s.vectors == [(0, 2)] and s.accounting["balanced"]
    assert bench.lapics[0].isr == 0 and bench.cpus[0].nmi_count == 1
    bench.add_device(DeviceSpec("f0"), at="00:09.0")
    assert not bench.code(0).read(ecam(0, 9) + 0x0E, 1) & 0x80
    bench.add_device(DeviceSpec("f1"), at="00:09.1")
    assert bench.code(0).read(ecam(0, 9) + 0x0E, 1) & 0x80
    assert bench.code(0).read(ecam(0, 9, 1) + 0x0E, 1) & 0x80
    bench.reset()
    assert bench.code(0).read(ecam(0, 9, 1) + 0x0E, 1) & 0x80


def test_fault_in_a_handler_during_a_bounded_run_raises() -> None:
    """A #GP inside a handler raises Fault out of run(ns) too (the handler then runs in a
    suspended section, not on the engine's stack)."""
    bench = TestBench()
    enable_apics(bench)
    bench.handle(0x70, lambda irq: (irq.spend(5000), irq.wrmsr(0x802 + 0x100000, 0)))
    bench.code(0).apic_write(ICR, SELF | 0x70)
    with pytest.raises(Fault) as e:
        bench.run(ns=100_000)
    assert e.value.vector == 13 and e.value.time >= 5000


@settings(max_examples=25, deadline=None)
@given(sockets=st.integers(1, 3), cores=st.integers(1, 6), threads=st.integers(1, 2))
def test_cpuid_0b_describes_the_topology(sockets: int, cores: int, threads: int) -> None:
    """SDM vol. 3 8.9.4 / CPUID 0BH: the SMT level's shift strips the thread bits, the core
    level's the thread and core bits; x2APIC ID >> core shift is the package; EDX is the
    x2APIC ID; CPUID.01H:EBX[31:24] is its low 8 bits."""
    topo = Topology(sockets, cores, threads)
    bench = TestBench(topology=topo)
    assert len(bench.cpus) == sockets * cores * threads
    for i, apic_id in enumerate(topo.ids()):
        smt, core = bench.cpuid(i, 0x0B, 0), bench.cpuid(i, 0x0B, 1)
        assert smt[3] == core[3] == apic_id
        assert smt[2] >> 8 & 0xFF == 1 and core[2] >> 8 & 0xFF == 2
        assert apic_id >> (core[0] & 0x1F) == topo.place(apic_id)[0]
        assert (apic_id >> (smt[0] & 0x1F)) & ((1 << topo.cbits) - 1) == topo.place(apic_id)[1]
        assert core[1] & 0xFFFF == cores * threads and smt[1] & 0xFFFF == threads
        assert bench.cpuid(i, 0x01)[1] >> 24 == apic_id & 0xFF
        assert bench.cpuid(i, 0x0B, 2)[2] >> 8 & 0xFF == 0


def test_msi_multiple_messages_and_per_vector_mask() -> None:
    """PCI 6.8.1.3/6.8.1.6: with 4 messages enabled, message k writes Data | k; a masked
    message sets its Pending bit and is sent when unmasked."""
    bench = TestBench()
    enable_apics(bench)
    dev = bench.add_device(DeviceSpec("m", msi=MsiLayout(vectors=4, per_vector_masking=True)),
                           at="00:0a.0")
    c = bench.code(0)
    cap = ecam(0, 10) + 0x50
    c.write(cap + 4, 0xFEE00000)
    c.write(cap + 0xC, 0x80, 2)
    c.write(cap + 0x10, 0b0100)                     # mask message 2
    c.write(cap + 2, c.read(cap + 2, 2) | 2 << 4 | 1, 2)   # MME = 4 messages, Enable
    for v in range(0x80, 0x84):
        bench.handle(v, lambda irq: None)
    for k in range(4):
        dev.signal(k)
    s = bench.run()
    assert sorted(v for _, v in s.vectors) == [0x80, 0x81, 0x83]
    assert bench.code(0).read(cap + 0x14) == 0b0100
    bench.code(0).write(cap + 0x10, 0)
    assert bench.run().vectors == [(0, 0x82)]


def test_interrupt_on_an_exception_vector_is_acknowledged_and_reported() -> None:
    """SDM 6.3: vectors 16-31 are reserved for exceptions; an interrupt sent there (a forged
    MSI) enters the exception gate, which acknowledges it and reports the rule by id."""
    bench = TestBench()
    enable_apics(bench)
    bench.forge(0xFEE00000, 20, requester=0x0008)
    s = bench.run()
    assert s.vectors == [(0, 20)] and bench.lapics[0].isr == 0
    assert [d.rule_id for d in s.diagnostics] == ["CPU-INTERRUPT-ON-EXCEPTION-VECTOR"]


def test_booted_os_uses_the_second_ioapic_from_the_madt() -> None:
    """ACPI 5.2.12.3 (I/O APIC structure, Global System Interrupt Base): the board lists
    both I/O APICs; the booted OS maps GSI 28 to input 4 of the one based at GSI 24 and the
    legacy device's interrupt is delivered through it."""
    m = Machine(ncpus=1, ioapics=[IoApicOptions(), IoApicOptions(id=1, base=0xFEC01000,
                                                                 gsi_base=24, pins=8)])
    port = m.add_root_port()
    m.route_intx(0, 1, 1, 28)
    dev = LegacyIntxDevice(m.ctx, "legacy", pin=1)
    m.add_device(dev, port)
    m.kernel.register_driver(LegacyIntxDriver())
    m.boot()
    row = m.kernel.interrupt_rows()[0]
    assert (row["irq"], row["hwirq"]) == (28, 4)
    dev.event(0)
    m.run()
    assert m.ioapics[1].messages == 1 and m.ioapics[0].messages == 0
    assert m.kernel.interrupt_rows()[0]["counts"] == [1] and m.accounting()["balanced"]


def test_booted_os_enumerates_an_integrated_endpoint_on_bus_0() -> None:
    """PCIe 1.3.2.3: a root-complex integrated endpoint sits on bus 0 beside the root ports;
    the OS's enumeration finds it at 00:05.0, sets up MSI-X, and its interrupt arrives."""
    m = Machine(ncpus=1)
    blk = VirtioBlk(m.ctx)
    m.add_integrated(blk, 5)
    m.add_root_port()
    m.kernel.register_driver(VirtioPciDriver())
    m.boot()
    assert [(d.bus, d.devfn) for d in m.kernel.devices if not d.is_bridge] == [(0, 5 << 3)]
    assert 5 << 3 not in {p.devfn for p in m.rc.bus0.values() if p is not blk}
    blk.complete(0)
    m.run()
    row = m.kernel.interrupt_rows()[0]
    assert row["device"] == "0000:00:05.0" and row["counts"] == [1]
    assert m.accounting()["balanced"]


def test_idle_run_stops_at_the_last_event_between_periodic_ticks() -> None:
    """SDM 10.5.4 periodic mode: the run goes through the ticks while other work is due and
    stops once only the next tick remains (it does not run on to that tick)."""
    bench = TestBench()
    enable_apics(bench)
    dev = bench.add_device(DeviceSpec("x", msix=MsixLayout(size=1)), at="00:03.0")
    c = bench.code(0)
    e = dev.msix_entry_address(0)
    c.write(e, 0xFEE00000)
    c.write(e + 8, 0x41)
    c.write(e + 0xC, 0)
    c.write(ecam(0, 3) + 0x72, 0x8000, 2)
    bench.handle(0x41, lambda irq: irq.spend(300))
    bench.handle(0x40, lambda irq: irq.spend(100))
    period = 1000 * bench.machine.ctx.timing.apic_bus_cycle_ns
    t0 = bench.now
    for k in range(40):                         # device work spread over 5.5 periods
        bench.machine.engine.at(t0 + k * period * 11 // 80, lambda _: dev.signal(0))
    c.apic_write(TDCR, 0xB)
    c.apic_write(LVT_TIMER, 1 << 17 | 0x40)
    c.apic_write(TMICT, 1000)
    s = bench.run()
    assert s.idle and [v for _, v in s.vectors].count(0x41) == 40
    assert [v for _, v in s.vectors].count(0x40) == 5
    assert s.vectors[-1] == (0, 0x41) and s.end < t0 + 6 * period


def test_device_registers_with_behaviour_without_subclassing() -> None:
    """A test gives a device registers with behaviour (a doorbell that raises MSI-X vector
    ``value``): a CPU write reaches the callback at its instant (PCIe 2.2 posted write
    through the BAR), the device signals, the CPU takes the interrupt; kept across reset."""
    bench = TestBench()
    enable_apics(bench)
    dev = bench.add_device(DeviceSpec("db", msix=MsixLayout(size=2)), at="00:0b.0")
    writes: list[tuple[int, int]] = []

    def doorbell(off: int, size: int, value: int) -> None:
        writes.append((off, value))
        dev.signal(value)

    dev.registers(0, 0x900, 4, read=lambda off, size: 0xD00B, write=doorbell)
    c = bench.code(0)
    for k in range(2):
        e = dev.msix_entry_address(k)
        c.write(e, 0xFEE00000)
        c.write(e + 8, 0x48 + k)
        c.write(e + 0xC, 0)
    c.write(ecam(0, 11) + 0x72, 0x8000, 2)
    bench.handle(0x49, lambda irq: None)
    assert c.read(dev.bar(0) + 0x900) == 0xD00B
    assert c.read(dev.bar(0) + 0x904) == 0                  # plain storage around it
    bench.run_on(0, lambda code: code.write(dev.bar(0) + 0x900, 1))
    s = bench.run()
    assert writes == [(0, 1)] and s.vectors == [(0, 0x49)]
    bench.reset()
    assert bench.code(0).read(dev.bar(0) + 0x900) == 0xD00B


def test_idle_run_goes_through_an_armed_tsc_deadline() -> None:
    """SDM 10.5.4.1: an armed TSC-deadline timer fires once when the TSC reaches the
    deadline; run() is not idle before it has fired (only periodic timers are excluded)."""
    bench = TestBench()
    enable_apics(bench)
    bench.handle(0x42, lambda irq: None)
    c = bench.code(0)
    c.apic_write(LVT_TIMER, 2 << 17 | 0x42)
    c.wrmsr(0x6E0, c.cpu.rdtsc() + 50_000)
    s = bench.run()
    assert s.idle and s.vectors == [(0, 0x42)] and s.end > 10_000
