"""The built-in scenarios intx-shared, msi-multi and mixed, and ``irqsim compare-mechanisms``:
accounting balances, outputs render, and the mechanisms' latency ordering and gaps emerge
from the TimingModel's stages (seed 003 "Performance Summary"; issue 3)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from irqsim.scenarios import ScenarioOptions, load_all
from irqsim.scenarios.mechanisms import CompareSpec, run_compare
from irqsim.sim.timing import TimingModel
from irqsim.views.report import render


@pytest.mark.parametrize("name", ["intx-shared", "msi-multi", "mixed"])
def test_scenario_runs_balanced_in_every_format(name: str) -> None:
    """Issue 3 item 8: the scenarios run as `irqsim demo --scenario NAME`, in the default
    demo's formats, with balanced accounting and no rule broken."""
    res = load_all()[name][1](ScenarioOptions(requests=30, seed=3))
    acc = res.machine.accounting()
    assert acc["balanced"] and acc["in_flight"] == 0
    assert res.machine.ctx.diagnostics == []
    text = render(res, "text")
    assert "balanced" in text and "NOT BALANCED" not in text
    data = json.loads(render(res, "json"))
    assert data["accounting"]["balanced"]
    mermaid = render(res, "mermaid")
    assert mermaid.count("sequenceDiagram") >= 1
    if name == "intx-shared":
        assert "participant IOAPIC as I/O APIC" in mermaid and "Assert_INTA" in mermaid


def test_mixed_uses_all_three_mechanisms() -> None:
    """Issue 3 item 8 (mixed): MSI-X, MSI and INTx devices in one machine."""
    res = load_all()["mixed"][1](ScenarioOptions(requests=5))
    modes = {p.irq_mode for p in res.machine.kernel.devices if not p.is_bridge}
    assert modes == {"msix", "msi", "intx"}


def test_msi_multi_notes_show_data_plus_k() -> None:
    """Seed 004 figure 7: message k carries Data + k."""
    res = load_all()["msi-multi"][1](ScenarioOptions(requests=10))
    data = res.extra["msi_data"]
    assert data == [data[0] + k for k in range(4)] and data[0] % 4 == 0


def summary(mech: str, spec: CompareSpec, timing: TimingModel | None = None) -> dict:
    m = run_compare(mech, spec, timing=timing)
    assert m.accounting()["balanced"]
    return m.recorder.summary()["virtio-net"]


def test_compare_ordering_and_intx_stages_emerge_from_the_timing_model() -> None:
    """Seed 003: MSI-X <= MSI < INTx. The INTx stages are the I/O APIC path and the
    sharers' handlers (handler_base + one status read each), all from the TimingModel."""
    spec = CompareSpec(requests=60, mean_gap_ns=20_000, sharers=2)
    t = TimingModel()
    r = {mech: summary(mech, spec) for mech in ("msix", "msi", "intx")}
    assert r["msix"]["median"] <= r["msi"]["median"] < r["intx"]["median"]
    si = r["intx"]["stages"]
    assert si["I/O APIC"] == t.ioapic_processing
    assert si["handler chaining"] == 2 * (t.handler_base + t.device_mmio_read)
    assert si["root complex+IOMMU+msg"] == t.root_complex + t.rc_to_ioapic + t.ioapic_to_lapic
    sx = r["msix"]["stages"]
    assert sx["device"] == t.device_event_detect + t.msix_table_read + t.tlp_generation
    assert sx["I/O APIC"] == sx["handler chaining"] == 0


def test_compare_gap_follows_the_stage_costs() -> None:
    """No per-mechanism constant: raising ioapic_processing by 1000 ns raises the INTx
    median by 1000 ns and leaves MSI-X alone; with no sharers the chaining stage is 0."""
    spec = CompareSpec(requests=40, mean_gap_ns=30_000, sharers=0)
    slow = TimingModel().with_(ioapic_processing=TimingModel().ioapic_processing + 1000)
    base_i, slow_i = summary("intx", spec), summary("intx", spec, slow)
    assert slow_i["median"] - base_i["median"] == 1000
    assert summary("msix", spec, slow)["median"] == summary("msix", spec)["median"]
    assert base_i["stages"]["handler chaining"] == 0


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "irqsim", *args], capture_output=True,
                          text=True)


def test_compare_mechanisms_json_and_text() -> None:
    """Issue 3 item 9: --format json prints an object keyed msix, msi, intx with median_ns
    and p99_ns; text names the three mechanisms."""
    p = cli("compare-mechanisms", "--format", "json", "--requests", "20")
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert set(data) == {"msix", "msi", "intx"}
    for mech, r in data.items():
        assert r["median_ns"] > 0 and r["p99_ns"] >= r["median_ns"] and r["used"] == mech
        assert r["accounting_balanced"]
    p = cli("compare-mechanisms", "--requests", "20")
    assert p.returncode == 0 and all(n in p.stdout for n in ("MSI-X", "MSI", "INTx"))


@pytest.mark.parametrize(("args", "word"), [
    (["--format", "xml"], "--format"), (["--requests", "0"], "--requests"),
    (["--gap-ns", "0"], "--gap-ns"), (["--sharers", "8"], "--sharers"),
    (["--cpus", "0"], "--cpus"), (["--bogus"], "--bogus")])
def test_compare_bad_options(args: list[str], word: str) -> None:
    """Bad CLI options: a one-line error naming the option, exit status 2."""
    p = cli("compare-mechanisms", *args)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and word in p.stderr
    assert "Traceback" not in p.stderr
