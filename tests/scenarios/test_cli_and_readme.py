"""The command line and the README's Python example (issue 2 items 12-13)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from irqsim.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def test_demo_json_has_the_promised_keys() -> None:
    """--format json: 'interrupts' rows (device, vector, cpu, count), 'latency_ns' per device."""
    code, out, _ = run("demo", "--format", "json", "--requests", "20")
    assert code == 0
    data = json.loads(out)
    vecs = {r["device"]: r["vector"] for r in data["interrupts"] if not r.get("system")}
    assert vecs == {"virtio-rng": 33, "virtio-blk": 34, "virtio-net": 35}
    assert all({"device", "vector", "cpu", "count"} <= set(r) for r in data["interrupts"])
    assert sum(r["count"] for r in data["interrupts"]) == data["accounting"]["delivered"]
    for dev in ("virtio-rng", "virtio-blk", "virtio-net"):
        lat = data["latency_ns"][dev]
        assert 0 < lat["min"] <= lat["median"] <= lat["p99"]
    assert data["accounting"]["balanced"]


def test_demo_json_carries_the_system_rows_the_text_view_prints() -> None:
    """Issue 9: the ipi scenario's JSON 'interrupts' carries LOC, RES, CAL, TLB, NMI, SPU...
    with the names and per-CPU counts /proc/interrupts prints, and, with the device rows,
    counts every interrupt the CPUs accepted."""
    code, out, _ = run("demo", "--scenario", "ipi", "--format", "json")
    assert code == 0
    data = json.loads(out)
    system = [r for r in data["interrupts"] if r.get("system")]
    names = {r["irq"] for r in system}
    assert {"LOC", "RES", "CAL", "TLB", "NMI", "SPU"} <= names
    assert {r["vector"] for r in system if r["irq"] == "RES"} == {0xFD}
    code, text, _ = run("demo", "--scenario", "ipi")
    for name in names:
        assert f"{name}:" in text
    accepted = sum(r["count"] for r in data["interrupts"]
                   if r["irq"] not in ("SPU", "TLB", "ERR"))
    assert accepted == data["accounting"]["delivered"]


def test_demo_text_shows_diagram_procfs_latency_and_accounting() -> None:
    """Text output: Mermaid with the seeds' participants, /proc/interrupts, latency, ledger."""
    code, out, _ = run("demo", "--requests", "10")
    assert code == 0
    for p in ("participant OS as Operating System", "participant Driver as Device Driver",
              "participant PCI as PCI Config Space", "participant Device as PCIe Device",
              "participant PCIe as PCIe Bus", "participant IOMMU as IOMMU/VT-d",
              "participant LAPIC as Local APIC", "participant CPU"):
        assert p in out
    assert re.search(r"^\s+CPU0", out, re.M)
    assert re.search(r"^ 26:\s+\d+\s+PCI-MSIX-0000:03:00.0\s+0-edge\s+virtio-net$", out, re.M)
    assert "median" in out and "balanced" in out


def test_demo_mermaid_and_out_file(tmp_path: Path) -> None:
    """--format mermaid --out FILE writes the diagrams to the file."""
    f = tmp_path / "d.md"
    code, out, _ = run("demo", "--format", "mermaid", "--out", str(f), "--requests", "5")
    assert code == 0 and "wrote" in out
    text = f.read_text()
    assert text.count("sequenceDiagram") == 2 and "Set Function Mask" in text


def test_bad_options_get_one_line_and_status_2() -> None:
    """A bad option or value: one-line error naming it, exit status 2, no traceback."""
    for args, word in ((["demo", "--format", "xml"], "--format"),
                       (["demo", "--requests", "0"], "--requests"),
                       (["demo", "--scenario", "nope"], "--scenario"),
                       (["demo", "--bogus"], "--bogus")):
        p = subprocess.run([sys.executable, "-m", "irqsim", *args], capture_output=True,
                           text=True)
        assert p.returncode == 2, args
        assert p.stderr.count("\n") == 1 and word in p.stderr, p.stderr
        assert "Traceback" not in p.stderr


def test_list_scenarios_lists_seed002() -> None:
    code, out, _ = run("demo", "--list-scenarios")
    assert code == 0 and out.splitlines()[0].startswith("seed002")


def test_readme_python_example_runs() -> None:
    """The README's Python API example is executed as written."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", text, re.S)
    assert block is not None
    exec(compile(block.group(1), "README.md", "exec"), {})


@pytest.mark.parametrize(("scenario", "title"), [
    ("seed002", "MSI-X set-up"), ("intx-shared", "INTx set-up"), ("msi-multi", "MSI set-up"),
    ("mixed", "MSI-X, MSI and INTx set-up")])
def test_setup_diagram_title_names_the_mechanisms_used(scenario: str, title: str) -> None:
    """Issue 9: an INTx or MSI set-up diagram is not titled "MSI-X set-up"."""
    code, out, _ = run("demo", "--scenario", scenario, "--format", "mermaid",
                       "--requests", "5")
    assert code == 0 and f"Initialization (enumeration and {title})" in out


def test_ipi_diagram_declares_only_the_participants_it_uses() -> None:
    """Issue 9: an IPI diagram does not declare lifelines no arrow touches."""
    code, out, _ = run("demo", "--scenario", "ipi", "--format", "mermaid")
    assert code == 0
    for block in out.split("```mermaid")[1:]:
        lines = block.splitlines()
        declared = [ln.split()[1] for ln in lines if ln.strip().startswith("participant ")]
        arrows = [ln for ln in lines if "->>" in ln]
        for alias in declared:
            assert any(f"{alias}->>" in a or f">>{alias}:" in a or f"-->>{alias}" in a
                       for a in arrows), alias
