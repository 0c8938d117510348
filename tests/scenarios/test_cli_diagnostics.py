"""Diagnostics on the command line (issue 9 item 2): ids in text and JSON, ``--allow RULE``,
``--strict`` (exit status 4 after the output), ``irqsim rules``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from irqsim.cli import main
from irqsim.scenarios import SCENARIOS, ScenarioOptions, ScenarioResult, load_all
from irqsim.sim.rules import RULES, load_rules

ROOT = Path(__file__).resolve().parents[2]
NMI_SELF = (4 << 8) | (1 << 14) | (1 << 18)      # NMI with the self shorthand: not a valid IPI


def broken_icr(opts: ScenarioOptions) -> ScenarioResult:
    """seed002, then software writes an ICR combination SDM 10.6.1 forbids (NMI to self)."""
    res = load_all()["seed002"][1](opts)
    m = res.machine
    cpu = m.cpus[0]
    m.kernel.run_section(cpu, lambda: cpu.write(cpu.apic_base + 0x300, 4, NMI_SELF))
    m.run()
    return res


@pytest.fixture
def scenario(monkeypatch: pytest.MonkeyPatch) -> str:
    load_all()
    monkeypatch.setitem(SCENARIOS, "broken-icr", ("seed002 plus an invalid ICR", broken_icr))
    return "broken-icr"


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def test_diagnostics_show_their_id_in_text_and_json(scenario: str) -> None:
    """Text: ``(ID, citation)``; JSON: objects {time_ns, block, rule_id, spec, message};
    without --strict a reported diagnostic does not change the exit status."""
    code, out, _ = run("demo", "--scenario", scenario, "--requests", "2")
    assert code == 0 and "(LAPIC-ICR-INVALID, SDM 10.6.1)" in out
    code, out, _ = run("demo", "--scenario", scenario, "--requests", "2", "--format", "json")
    diags = json.loads(out)["diagnostics"]
    assert code == 0 and [d["rule_id"] for d in diags] == ["LAPIC-ICR-INVALID"]
    assert set(diags[0]) == {"time_ns", "block", "rule_id", "spec", "message"}
    assert diags[0]["spec"] == "SDM 10.6.1" and diags[0]["time_ns"] > 0


def test_strict_exits_4_after_printing_the_output(scenario: str) -> None:
    """--strict: the output is printed, then exit status 4 with the ids on stderr."""
    code, out, err = run("demo", "--scenario", scenario, "--requests", "2", "--format",
                         "json", "--strict")
    assert code == 4
    assert json.loads(out)["diagnostics"][0]["rule_id"] == "LAPIC-ICR-INVALID"
    assert "LAPIC-ICR-INVALID x1" in err


def test_allow_counts_without_reporting_and_does_not_trip_strict(scenario: str) -> None:
    """--allow RULE: the diagnostic is counted (diagnostics_allowed) but not reported, and
    --strict does not fail on it."""
    code, out, _ = run("demo", "--scenario", scenario, "--requests", "2", "--format", "json",
                       "--strict", "--allow", "LAPIC-ICR-INVALID")
    data = json.loads(out)
    assert code == 0 and data["diagnostics"] == []
    assert data["diagnostics_allowed"] == {"LAPIC-ICR-INVALID": 1}
    code, out, _ = run("demo", "--scenario", scenario, "--requests", "2", "--strict",
                       "--allow", "LAPIC-ICR-INVALID")
    assert code == 0 and "allowed (--allow, not reported): LAPIC-ICR-INVALID x1" in out


def test_clean_run_passes_strict_on_every_machine_command() -> None:
    """A run that breaks no rule exits 0 under --strict (demo, compare-mechanisms)."""
    assert run("demo", "--requests", "2", "--strict")[0] == 0
    assert run("compare-mechanisms", "--requests", "2", "--strict")[0] == 0


@pytest.mark.parametrize("cmd", ["demo", "compare-mechanisms", "run-dump", "export-config"])
def test_unknown_allow_id_is_a_usage_error_naming_it(cmd: str) -> None:
    """--allow takes registered ids only: an unknown one is exit 2, named."""
    args = [cmd, "--allow", "LAPIC-NO-SUCH-RULE"] + (["x.txt"] if cmd == "run-dump" else [])
    code, _, err = run(*args)
    assert code == 2 and "LAPIC-NO-SUCH-RULE" in err


def test_rules_command_lists_the_registry() -> None:
    """`irqsim rules --format json` is the registry: id, spec, text for every rule."""
    code, out, _ = run("rules", "--format", "json")
    assert code == 0
    assert {r["id"]: (r["spec"], r["text"]) for r in json.loads(out)} == {
        r.id: (r.spec, r.text) for r in load_rules().values()}
    code, out, _ = run("rules")
    assert code == 0 and len(out.splitlines()) == len(RULES)


def test_docs_name_only_registered_rules_and_the_exit_codes() -> None:
    """docs/diagnostics.md cites registered ids only; README and the doc give exit status 4."""
    doc = (ROOT / "docs" / "diagnostics.md").read_text()
    rules = load_rules()
    cited = set(re.findall(r"\b[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+\b", doc)) - {"MSI-X"}
    assert cited and cited <= set(rules)
    assert "4" in doc and "--strict" in (ROOT / "README.md").read_text()
