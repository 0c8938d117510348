"""The Local APIC timer (semantics.md A.10; SDM 10.5.4): divide table, one-shot, periodic,
TSC-deadline, TMCCT across mode changes, masked counting."""

from __future__ import annotations

import pytest

from apic_helpers import BASE, raw_machine
from irqsim.apic.timer import divisor
from irqsim.cpu.cpu import Cpu
from irqsim.machine import Machine

ONESHOT, PERIODIC, TSC = 0, 1 << 17, 2 << 17
MASK = 1 << 16
V = 0x40


def setup(lvt: int = V | ONESHOT, tdcr: int = 0x3) -> tuple[Machine, Cpu]:
    """One CPU, IF=0 (ticks stay in IRR), TDCR (default divide by 16, so a tick outlasts
    one register access), LVT Timer."""
    m = raw_machine(1)
    cpu = m.cpus[0]
    cpu.write(BASE + 0x3E0, 4, tdcr)
    cpu.write(BASE + 0x320, 4, lvt)
    return m, cpu


def tick(m: Machine) -> int:
    """One count of TMCCT at the current divide value."""
    return m.ctx.timing.apic_bus_cycle_ns * m.lapics[0].divide


def arm(cpu: Cpu, count: int) -> int:
    """Write TMICT; returns the time counting started (when the write completed)."""
    cpu.write(BASE + 0x380, 4, count)
    return cpu.lapic.timer.start


def tmcct(cpu: Cpu) -> int:
    v = cpu.read(BASE + 0x390)
    return v


def taken(m: Machine) -> bool:
    """Whether the timer vector is pending; takes it as the CPU would (INTA, EOI)."""
    a = m.lapics[0]
    hit = bool(a.irr >> V & 1)
    if hit:
        assert a.inta() == V
        a.eoi()
        m.ctx.ledger.deliver()
    return hit


DIVIDE_TABLE = {0x0: 2, 0x1: 4, 0x2: 8, 0x3: 16, 0x8: 32, 0x9: 64, 0xA: 128, 0xB: 1}


@pytest.mark.parametrize("tdcr", range(16))
def test_divide_configuration(tdcr: int) -> None:
    """TDCR bits 3,1,0 encode the divisor; bit 2 is ignored (A.10 table); the one-shot expiry
    is TMICT x divisor bus cycles later."""
    want = DIVIDE_TABLE[tdcr & 0xB]
    assert divisor(tdcr) == want
    m, cpu = setup(tdcr=tdcr)
    assert cpu.read(BASE + 0x3E0) == tdcr & 0xB
    t0 = arm(cpu, 10)
    m.run()
    assert m.now - t0 == 10 * want * m.ctx.timing.apic_bus_cycle_ns and taken(m)


def test_one_shot() -> None:
    """One-shot: TMCCT counts down from TMICT, one interrupt at 0, then stays 0 (A.10)."""
    m, cpu = setup()
    t0 = arm(cpu, 100)
    m.run(until=t0 + 30 * tick(m))
    assert tmcct(cpu) == 70 and not taken(m)
    m.run(until=t0 + 100 * tick(m))
    assert tmcct(cpu) == 0 and taken(m)
    m.run(until=m.now + 500 * tick(m))
    assert tmcct(cpu) == 0 and not taken(m) and m.accounting()["balanced"]


def test_tmict_zero_stops() -> None:
    """Writing TMICT = 0 stops the timer (A.10)."""
    m, cpu = setup()
    arm(cpu, 100)
    m.run(until=m.now + 10 * tick(m))
    arm(cpu, 0)
    m.run(until=m.now + 1000 * tick(m))
    assert tmcct(cpu) == 0 and not taken(m)


def test_periodic_period_is_tmict_ticks() -> None:
    """Periodic: an interrupt every TMICT ticks and TMCCT reloads ([SIM] KVM's period)."""
    m, cpu = setup(V | PERIODIC)
    t0 = arm(cpu, 50)
    hits = []
    for k in range(1, 4):
        m.run(until=t0 + k * 50 * tick(m))
        hits.append(taken(m))
        assert tmcct(cpu) == 50
    m.run(until=t0 + 170 * tick(m))
    assert hits == [True, True, True] and tmcct(cpu) == 30
    assert m.lapics[0].timer.expiries == 3


def test_masked_timer_keeps_counting() -> None:
    """A masked LVT Timer suppresses the interrupt but TMCCT still counts down; unmasking
    before the expiry delivers at the original time (A.10)."""
    m, cpu = setup(V | ONESHOT | MASK)
    t0 = arm(cpu, 100)
    m.run(until=t0 + 40 * tick(m))
    assert tmcct(cpu) == 60
    cpu.write(BASE + 0x320, 4, V | ONESHOT)
    m.run()
    assert m.now == t0 + 100 * tick(m) and taken(m)


def test_masked_expiry_is_lost() -> None:
    """A one-shot expiring while masked delivers nothing, even after unmasking (A.10)."""
    m, cpu = setup(V | ONESHOT | MASK)
    arm(cpu, 10)
    m.run(until=m.now + 20 * tick(m))
    cpu.write(BASE + 0x320, 4, V | ONESHOT)
    m.run(until=m.now + 100 * tick(m))
    assert not taken(m) and tmcct(cpu) == 0


def test_mode_switch_keeps_tmcct() -> None:
    """One-shot <-> periodic: TMICT unchanged, TMCCT keeps counting from its value (A.10)."""
    m, cpu = setup(V | ONESHOT)
    t0 = arm(cpu, 100)
    m.run(until=t0 + 30 * tick(m))
    cpu.write(BASE + 0x320, 4, V | PERIODIC)
    assert tmcct(cpu) == 70 and cpu.read(BASE + 0x380) == 100
    m.run(until=t0 + 100 * tick(m))
    assert taken(m) and tmcct(cpu) == 100               # reloaded from TMICT
    m.run(until=t0 + 200 * tick(m))
    assert taken(m)


def test_expired_one_shot_switched_to_periodic_stays_stopped() -> None:
    """An expired one-shot (TMCCT 0) switched to periodic stays at 0 until TMICT is written
    (A.10)."""
    m, cpu = setup(V | ONESHOT)
    arm(cpu, 10)
    m.run()
    assert taken(m)
    cpu.write(BASE + 0x320, 4, V | PERIODIC)
    m.run(until=m.now + 100 * tick(m))
    assert tmcct(cpu) == 0 and not taken(m)
    t1 = arm(cpu, 10)
    m.run(until=t1 + 25 * tick(m))
    assert taken(m) and tmcct(cpu) == 5


def test_tdcr_change_rescales_remaining_count() -> None:
    """Changing TDCR while counting: the remaining count continues at the new rate ([SIM]
    KVM update_target_expiration)."""
    m, cpu = setup(V | ONESHOT, tdcr=0x3)
    t0 = arm(cpu, 100)
    m.run(until=t0 + 40 * tick(m))
    t1 = m.now                                       # an untimed (top-level) write
    cpu.write(BASE + 0x3E0, 4, 0x8)                  # divide by 32: twice as slow
    assert tmcct(cpu) == 60
    m.run()
    assert m.now == t1 + 60 * 32 * m.ctx.timing.apic_bus_cycle_ns and taken(m)


def test_software_disable_masks_the_timer() -> None:
    """SVR bit 8 cleared masks LVT Timer: no more ticks (A.8)."""
    m, cpu = setup(V | PERIODIC)
    arm(cpu, 10)
    cpu.write(BASE + 0xF0, 4, 0xFF)
    m.run(until=m.now + 100 * tick(m))
    assert not taken(m) and m.lapics[0].lvt("Timer") & MASK


def tsc_setup() -> tuple[Machine, Cpu]:
    m, cpu = setup(V | TSC)
    return m, cpu


def test_tsc_deadline_fires_at_the_deadline_and_reads_zero_after() -> None:
    """IA32_TSC_DEADLINE arms an absolute TSC value; after firing the MSR reads 0 (A.10)."""
    m, cpu = tsc_setup()
    khz = m.ctx.timing.tsc_khz
    deadline = cpu.rdtsc() + 3000 * khz // 1_000_000 * 1000      # +3 us
    assert cpu.wrmsr(0x6E0, deadline) and cpu.rdmsr(0x6E0) == deadline
    m.run()
    assert cpu.rdtsc() >= deadline and taken(m) and cpu.rdmsr(0x6E0) == 0


def test_tsc_deadline_past_fires_now_zero_disarms() -> None:
    """A deadline in the past fires immediately; writing 0 disarms (A.10)."""
    m, cpu = tsc_setup()
    m.run(until=10_000)
    t0 = m.now
    cpu.wrmsr(0x6E0, 1)
    m.run()
    assert taken(m) and m.now == t0             # an untimed (top-level) WRMSR fires now
    cpu.wrmsr(0x6E0, cpu.rdtsc() + 10_000)
    cpu.wrmsr(0x6E0, 0)
    m.run(until=m.now + 100_000)
    assert not taken(m)


def test_tsc_mode_ignores_tmict_and_msr_outside_mode() -> None:
    """In TSC-deadline mode TMICT writes are ignored and TMCCT reads 0; outside it the MSR
    reads 0 and writes are ignored; switching modes disarms and zeroes TMICT (A.10)."""
    m, cpu = setup(V | ONESHOT)
    arm(cpu, 1000)
    cpu.write(BASE + 0x320, 4, V | TSC)
    assert cpu.read(BASE + 0x380) == 0 and tmcct(cpu) == 0
    arm(cpu, 1000)
    assert tmcct(cpu) == 0
    cpu.wrmsr(0x6E0, cpu.rdtsc() + 100)
    cpu.write(BASE + 0x320, 4, V | ONESHOT)
    assert cpu.rdmsr(0x6E0) == 0
    cpu.wrmsr(0x6E0, cpu.rdtsc() + 100)
    m.run(until=m.now + 100_000)
    assert not taken(m)


def test_kernel_periodic_tick_counts_loc() -> None:
    """The OS's periodic tick: LOC per CPU in /proc/interrupts, accounting balanced."""
    m = Machine(ncpus=2, tick_hz=1000, latency=False)
    m.boot()
    m.run(until=m.now + 3_500_000)
    counts, _ = m.kernel.system_counters["LOC"]
    assert counts == [3, 3] and m.kernel.ticks == [3, 3] and m.accounting()["balanced"]


def test_kernel_tsc_deadline_tick() -> None:
    """The OS's TSC-deadline tick re-arms IA32_TSC_DEADLINE in its handler."""
    m = Machine(ncpus=1, tick_hz=1000, timer_mode="tsc-deadline", latency=False)
    m.boot()
    m.run(until=m.now + 3_500_000)
    assert m.kernel.ticks == [3] and m.accounting()["balanced"]
