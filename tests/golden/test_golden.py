"""Golden event counts (issue 8): every built-in scenario, run with fixed options, gives
exactly the recorded end time, engine event count, trace length, books, per-IRQ counts,
CPU time per context and number of diagnostics. A refactor or speed-up that changes
behaviour fails here; a change meant to alter behaviour rewrites scenarios.json with
``python tests/golden/golden.py --write`` and says why."""

from __future__ import annotations

import json

import pytest

from golden import GOLDEN, figures
from irqsim.scenarios import load_all


@pytest.mark.parametrize("name", sorted(load_all()))
def test_scenario_matches_its_golden_figures(name: str) -> None:
    want = json.loads(GOLDEN.read_text())[name]
    got = json.loads(json.dumps(figures(name)))
    assert got == want
