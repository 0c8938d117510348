"""Property fuzz of guest operations across every access path (issue 14): random sequences
of ECAM and 0xCF8/0xCFC configuration accesses, BAR MMIO (MSI-X table and PBA, virtio and
legacy registers, I/O APIC window, VT-d registers, unclaimed holes), LAPIC MMIO and x2APIC
MSRs, IA32_APIC_BASE, device DMA including forged interrupt writes, device events and engine
runs, with the invariants of tests/fuzz/guest_ops.py checked after every operation.

Fast profile here (a few seconds); ``make fuzz`` runs the long random profile."""

from __future__ import annotations

import os

import pytest
from guest_ops import OPS, REGRESSIONS, GuestHarness, Op, replay
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

EXAMPLES = int(os.environ.get("IRQSIM_FUZZ_EXAMPLES", "12"))
TOTALS = {"ops": 0, "quiescent": 0, "budget_stops": 0}


class GuestMachine(RuleBasedStateMachine):
    """One harness per example; each step is one operation from the shared table."""

    def __init__(self) -> None:
        super().__init__()
        self.h = GuestHarness()

    @rule(op=st.sampled_from(OPS), data=st.data())
    def step(self, op: Op, data: st.DataObject) -> None:
        args = [data.draw(d.strategy(), label=f"{op.name}[{i}]") for i, d in enumerate(op.args)]
        self.h.do(op, *args)

    def teardown(self) -> None:
        self.h.quiesce()
        TOTALS["ops"] += self.h.ops
        TOTALS["quiescent"] += self.h.quiescent_checks
        TOTALS["budget_stops"] += self.h.budget_stops


GuestMachine.TestCase.settings = settings(
    max_examples=EXAMPLES, stateful_step_count=40, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TestGuestFuzz = GuestMachine.TestCase


def test_fuzz_ran_operations() -> None:
    """The fuzz above really ran (a count of zero would make it vacuous)."""
    if TOTALS["ops"] == 0:
        TestGuestFuzz("runTest").runTest()
    assert TOTALS["ops"] > 0 and TOTALS["quiescent"] > 0
    print(f"\nguest fuzz: {TOTALS}")


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_fuzz_regression_replays(name: str) -> None:
    """Sequences the fuzz once failed on replay cleanly (invariants after each step)."""
    h = replay(REGRESSIONS[name])
    assert h.quiescent_checks >= 1
