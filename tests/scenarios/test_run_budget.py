"""Runs that end (issue 14, defect 4) and the small CLI defects (defect 7): every command's
run has a budget of simulated time and events, a level line storming without progress is
stopped with a report, repeated diagnostics are counted not stored, option values a run
cannot finish are refused with the reason."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import balanced, nic_machine, table_addr
from irqsim.cli import main
from irqsim.machine import Machine
from irqsim.scenarios import ScenarioOptions, load_all
from irqsim.scenarios.mechanisms import build_intx_shared
from irqsim.sim.budget import EXIT_BUDGET, Budget, BudgetExceeded
from irqsim.sim.context import DIAG_KEEP


def cli(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def unreachable_storm(budget: Budget | None) -> Machine:
    """intx-shared's machine: legacy1 raises INTx, then its root port's Command is cleared,
    so the handler's reads of ICR are Unsupported Requests (all ones, never cleared)."""
    with budget.active() if budget is not None else _null():
        m, legacy, _blk = build_intx_shared()
    m.boot()
    for port in m.rc.bus0.values():
        port.config.write(0x04, 2, 0)
    legacy[0].event(0)
    return m


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: object) -> None:
        return None


# -- defect 4 ----------------------------------------------------------------------------------
def test_level_storm_with_unreachable_device_is_stopped_with_a_report() -> None:
    """Defect 4: a level line whose device cannot be reached storms forever (seed 004: the
    line stays asserted until the device is serviced; the I/O APIC re-delivers at each EOI).
    The watchdog stops it after storm_limit re-deliveries with no wire moving, and the report
    names the pin, the vector and the repeated diagnostic."""
    m = unreachable_storm(Budget(storm_limit=2_000))
    with pytest.raises(BudgetExceeded) as e:
        m.run()
    assert e.value.why == "storm"
    assert "pin 16" in e.value.report and "vector" in e.value.report
    assert "PCI-UNSUPPORTED-REQUEST (PCIe 2.3.1)" in e.value.report
    assert m.ioapic.redeliveries[16] >= 2_000


def test_storm_diagnostics_are_counted_not_stored() -> None:
    """Defect 4: the storm's diagnostics list grew without bound (285k entries). As printk's
    ratelimit, the first DIAG_KEEP of each (block, rule id) are kept, the rest only counted."""
    m = unreachable_storm(None)
    m.run(until=m.now + 3_000_000)
    counts = m.ctx.diagnostic_counts()
    key = ("Root Complex", "PCI-UNSUPPORTED-REQUEST")
    assert counts[key] > 1000
    assert sum(1 for d in m.ctx.diagnostics if (d.block, d.rule_id) == key) == DIAG_KEEP
    assert m.ctx.suppressed()[key] == counts[key] - DIAG_KEEP


def test_machine_that_never_goes_idle_stops_at_its_sim_time_budget() -> None:
    """A periodic 1 kHz tick never lets the machine go idle: run() with no horizon stops at
    the simulated-time budget instead of running forever."""
    with Budget(max_sim_ns=30_000_000).active():
        m = Machine(ncpus=1, tick_hz=1000, latency=False)
    m.boot()
    with pytest.raises(BudgetExceeded) as e:
        m.run()
    assert e.value.why == "sim-time" and "going idle" in e.value.report
    assert 30_000_000 <= m.now < 31_000_000


def test_event_budget_stops_a_run() -> None:
    """--max-events: the engine runs at most that many events per machine."""
    with Budget(max_events=5_000).active():
        m = Machine(ncpus=1, tick_hz=1000, latency=False)
    m.boot()
    with pytest.raises(BudgetExceeded) as e:
        m.run(until=10**10)
    assert e.value.why == "events" and m.engine.events_run == 5_000


def test_budget_does_not_change_a_run_that_fits() -> None:
    """Slicing the run for the budget checks is invisible: same clock, ledger, interrupt
    counts. (Not the raw event count: in a run with an event limit a software section waits
    in a greenlet whose wake-up is a heap entry, sim/section.py; the events are the same.)"""
    sc = load_all()
    plain = sc["mixed"][1](ScenarioOptions(100, 20_000.0, 3, trace=False)).machine
    with Budget().active():
        held = sc["mixed"][1](ScenarioOptions(100, 20_000.0, 3, trace=False)).machine
    assert held.budget is not None and plain.budget is None
    assert held.now == plain.now and held.accounting() == plain.accounting()
    assert held.kernel.interrupt_rows() == plain.kernel.interrupt_rows()


def test_run_until_beyond_the_budget_with_nothing_left_to_do_is_fine() -> None:
    """until past the time budget with an idle machine just moves the clock (no event)."""
    with Budget(max_sim_ns=1_000_000).active():
        m = Machine(ncpus=1, latency=False)
    m.run(until=5_000_000)
    assert m.now == 5_000_000


def test_demo_ipi_with_huge_gap_is_refused_at_once_saying_why() -> None:
    """Defect 4: `demo --scenario ipi --gap-ns 1e15 --requests 1` ran ~40 minutes (the 1 kHz
    tick over 2.5e14 ns). Refused before running: exit 2, the error names the budget."""
    t = time.perf_counter()
    code, _out, err = cli("demo", "--scenario", "ipi", "--gap-ns", "1e15", "--requests", "1")
    assert code == 2 and "--max-sim-ns" in err and "simulated time" in err
    assert time.perf_counter() - t < 5


def test_demo_stopped_by_event_budget_exits_3_with_report() -> None:
    """A run that breaks its budget: report on stderr, exit status EXIT_BUDGET (3)."""
    p = subprocess.run([sys.executable, "-m", "irqsim", "demo", "--max-events", "2000"],
                       capture_output=True, text=True)
    assert p.returncode == EXIT_BUDGET == 3
    assert "run stopped: event budget exhausted" in p.stderr and "Traceback" not in p.stderr


# -- defect 7 ----------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [["demo"], ["compare-mechanisms"]])
def test_negative_seed_is_refused(command: list[str]) -> None:
    """Defect 7: --seed -1 gave the same run as --seed 1; negative seeds are now refused."""
    code, _out, err = cli(*command, "--seed", "-1")
    assert code == 2 and "--seed" in err


def test_unwritable_out_fails_before_the_run(tmp_path: Path) -> None:
    """Defect 7: --out to an unwritable place failed only after the whole run."""
    t = time.perf_counter()
    code, _out, err = cli("demo", "--requests", "1000000", "--out",
                          str(tmp_path / "no" / "such" / "dir.txt"))
    assert code == 2 and "cannot write --out" in err
    assert time.perf_counter() - t < 5
    code, _out, err = cli("demo", "--trace", str(tmp_path), "--requests", "5")
    assert code == 2 and "--trace" in err


def test_checking_out_leaves_no_file_behind(tmp_path: Path) -> None:
    """The early --out check must not create the file when the run then fails."""
    f = tmp_path / "o.txt"
    code, _out, _err = cli("demo", "--out", str(f), "--max-events", "100")
    assert code == EXIT_BUDGET and not f.exists()


def test_no_arguments_prints_help_on_stdout() -> None:
    """Defect 7: `irqsim` alone printed an error and the help on stderr."""
    p = subprocess.run([sys.executable, "-m", "irqsim"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stderr == ""
    assert p.stdout.startswith("Usage:") and "demo" in p.stdout


def test_timer_requests_sets_the_ticks_per_cpu() -> None:
    """Defect 7: `--requests` for timer was silently capped at 50 ms; it is the number of
    1 ms periodic ticks per CPU (plus the first traced tick and 5 ms of TSC-deadline)."""
    run = load_all()["timer"][1]
    a = run(ScenarioOptions(requests=20, trace=False)).extra["ticks"]
    b = run(ScenarioOptions(requests=120, trace=False)).extra["ticks"]
    assert all(y - x == 100 for x, y in zip(a, b, strict=True))


def test_interrupt_to_hardware_disabled_apic_says_why() -> None:
    """Defect 7: an MSI to an APIC with IA32_APIC_BASE.EN = 0 was counted dropped silently
    (SDM 10.4.3: a hardware-disabled APIC accepts no interrupts). Now a diagnostic too."""
    m, nics, drv = nic_machine()
    cpu = m.cpus[0]
    assert cpu.wrmsr(0x1B, cpu.rdmsr(0x1B) & ~(1 << 11))
    nics[0].rx(0)
    m.run()
    assert drv.calls == [] and m.ctx.ledger.dropped["apic hardware-disabled"] == 1
    assert any(d.rule_id == "LAPIC-HW-DISABLED" for d in m.ctx.diagnostics)
    assert balanced(m)


def test_msix_entry_masked_forever_says_so_when_idle() -> None:
    """Defect 7: a vector raised under a mask nobody clears is pending (PBA) for ever; when
    the machine goes idle with it pending a diagnostic names the entry (PCIe 6.1.4.5)."""
    m, nics, _drv = nic_machine()
    m.cpus[0].write(table_addr(m, nics[0], 0, 3), 4, 1)
    nics[0].rx(0)
    m.run()
    assert m.accounting()["pending"]["pba"] == 1 and balanced(m)
    assert any(d.rule_id == "MSIX-PENDING-MASKED-AT-IDLE" and "[0]" in d.message
               for d in m.ctx.diagnostics)


def test_interrupts_pending_in_irr_when_the_apic_is_disabled_say_why() -> None:
    """Defect 7: an APIC hardware-disabled (IA32_APIC_BASE.EN cleared) with vectors pending in
    IRR loses them (SDM 10.4.3): counted dropped, and a diagnostic names how many."""
    m, nics, _drv = nic_machine()
    cpu = m.cpus[0]
    cpu.cli()                               # keep the interrupt pending in IRR
    nics[0].rx(0)
    m.run()
    assert m.lapics[0].irr
    assert cpu.wrmsr(0x1B, cpu.rdmsr(0x1B) & ~(1 << 11))
    assert m.ctx.ledger.dropped["apic hardware-disabled"] == 1
    assert any(d.rule_id == "LAPIC-HW-DISABLED" for d in m.ctx.diagnostics)
    assert balanced(m)
