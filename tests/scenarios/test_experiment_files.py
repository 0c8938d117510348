"""Experiment files (issue 13 item 1): built-in scenarios from their files, generic machines,
validation errors (docs/experiments.md)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
import tomli_w
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from irqsim.cli import main
from irqsim.experiments.builder import run_experiment
from irqsim.experiments.export import export_scenario
from irqsim.experiments.loader import ExperimentError, key_lines, line_of, load_text
from irqsim.machine import Machine
from irqsim.scenarios import load_all
from irqsim.sim.timing import TimingModel, timing_defaults

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "experiments"


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


# Small runs: the comparison is exact whatever the size.
OPTS = {"timer": ("--requests", "2"), "ipi": ("--requests", "30")}


@pytest.mark.parametrize("name", sorted(load_all()))
def test_exported_scenario_runs_exactly_as_the_demo(name: str, tmp_path: Path) -> None:
    """Issue 13: `irqsim scenarios export NAME` then `irqsim run FILE` prints exactly what
    `irqsim demo --scenario NAME` prints with the same options, as text and as JSON."""
    opts = (*OPTS.get(name, ("--requests", "8")), "--gap-ns", "7000", "--seed", "3")
    f = tmp_path / f"{name}.toml"
    assert run("scenarios", "export", name, "--out", str(f), *opts)[0] == 0
    for fmt in ("text", "json"):
        code, demo, _ = run("demo", "--scenario", name, "--format", fmt, *opts)
        code2, ran, err = run("run", str(f), "--format", fmt)
        assert code == code2 == 0, err
        assert ran == demo


def test_shipped_example_files_are_the_exports() -> None:
    """examples/experiments/NAME.toml is exactly `irqsim scenarios export NAME` (no drift)."""
    for name in load_all():
        f = EXAMPLES / f"{name}.toml"
        if f.exists():
            assert f.read_text() == export_scenario(name), name


def test_bad_file_reports_every_problem_with_line_path_and_value(tmp_path: Path) -> None:
    """A bad file: one line per problem naming file, line, key path and bad value; exit 2;
    nothing run (no output on stdout)."""
    f = tmp_path / "bad.toml"
    f.write_text('version = 1\n\n[scenario]\nname = "seed002"\nrequests = 0\n'
                 'vectors = "per-cpu"\n\n[timing]\npcie_hopp = 3\n\n[run]\nseed = -1\n')
    code, out, err = run("run", str(f))
    assert code == 2 and out == ""
    lines = [ln.strip() for ln in err.splitlines()[1:]]
    assert f"{f}:5: scenario.requests:" in lines[0] and "(got 0)" in lines[0]
    assert f"{f}:6: scenario.vectors:" in lines[1] and "'per-cpu'" in lines[1]
    assert f"{f}:9: timing.pcie_hopp:" in lines[2]
    assert f"{f}:12: run.seed:" in lines[3] and "(got -1)" in lines[3]
    assert len(lines) == 4


def test_bad_generic_machine_names_array_items_and_references(tmp_path: Path) -> None:
    """Errors inside arrays of tables carry the item index and its own line; a port naming
    no switch, an IPI to a CPU that does not exist and a workload on a device that does not
    exist are errors too (found before anything runs)."""
    text = ('version = 1\n[machine.topology]\ncores = 2\n'
            '[[devices]]\nmodel = "virtio-net"\n'
            '[[devices]]\nmodel = "virtio-net"\nmsix_vectors = -1\nport = "nosw.0"\n'
            '[[workloads]]\nkind = "ipi"\ntype = "reschedule"\ncount = 3\nmean_gap_ns = 10\n'
            'dst = 5\n'
            '[[workloads]]\nkind = "requests"\ndevice = "eth0"\nrequests = 1\n'
            'mean_gap_ns = 10\n')
    with pytest.raises(ExperimentError) as ei:
        load_text(text, "m.toml", Path("."))
    assert ei.value.problems[0].startswith("m.toml:8: devices[1].msix_vectors:")
    text = text.replace("msix_vectors = -1\n", "")
    with pytest.raises(ExperimentError) as ei:
        load_text(text, "m.toml", Path("."))
    assert [p.split(": ")[0:2] for p in ei.value.problems] == [
        ["m.toml:8", "devices[1].port"], ["m.toml:14", "workloads[0].dst"],
        ["m.toml:17", "workloads[1].device"]]
    assert "(virtio-net, virtio-net1)" in ei.value.problems[2]


def test_unknown_scenario_and_missing_version(tmp_path: Path) -> None:
    """version is required (= 1); an unknown scenario name lists the known ones."""
    with pytest.raises(ExperimentError) as ei:
        load_text('[scenario]\nname = "nope"\n', "x.toml", Path("."))
    msgs = "\n".join(ei.value.problems)
    assert "version: Field required" in msgs and "x.toml:2: scenario.name" in msgs
    assert "seed002" in msgs


def test_generic_machine_runs_balanced_and_timing_overrides_apply() -> None:
    """A machine described generically (2 sockets, a switch, NICs per-queue, an INTx device,
    IPIs) runs with balanced books, and [timing] pcie_hop moves the fabric stage by the
    hops crossed (seed 003 MSI-X step 4: a cost per hop; root port + switch = 2 hops)."""
    text = (EXAMPLES / "two-nics-switch.toml").read_text()
    fabric = {}
    for hop in (75, 175):
        exp = load_text(text, "f", EXAMPLES, [("timing.pcie_hop", hop),
                                              ("workloads.0.requests", 20),
                                              ("workloads.1.count", 10)])
        res = run_experiment(exp)
        m = res.machine
        assert m.accounting()["balanced"]
        assert len(m.cpus) == 4 and m.kernel.smp is not None
        summ = m.recorder.summary()
        assert set(summ) == {"eth0", "eth1", "legacy"}
        assert 30 <= summ["eth0"]["count"] <= 40      # 2 queues x 20 requests, few merged
        fabric[hop] = summ["eth0"]["stages"]["fabric"]
        assert sum(m.kernel.system_counters["CAL"][0]) == 10
    assert fabric[175] - fabric[75] == 2 * 100


def test_timing_defaults_reach_machines_built_without_a_model() -> None:
    """[timing] of a scenario file: a machine built inside timing_defaults() gets the
    overrides, one built outside the defaults."""
    with timing_defaults(TimingModel().with_(pcie_hop=999)):
        assert Machine().ctx.timing.pcie_hop == 999
    assert Machine().ctx.timing.pcie_hop == TimingModel().pcie_hop


def test_run_set_overrides_and_json(tmp_path: Path) -> None:
    """`irqsim run FILE --set PATH=VALUE` overrides a key (here the requests)."""
    f = EXAMPLES / "seed002.toml"
    code, out, _ = run("run", str(f), "--format", "json", "--set", "scenario.requests=5")
    assert code == 0
    data = json.loads(out)
    assert data["latency_ns"]["virtio-blk"]["count"] == 5


keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
scalars = st.one_of(st.integers(-5, 5), st.booleans(), st.text(max_size=5))
tables = st.dictionaries(keys, st.one_of(scalars, st.dictionaries(keys, scalars, max_size=3)),
                         max_size=5)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(keys, st.one_of(tables, st.lists(tables, min_size=1, max_size=3)),
                       max_size=4))
def test_key_lines_finds_every_key_of_any_document(doc: dict) -> None:
    """Invariant of the error positions: for any TOML document, every key path tomllib
    reads (through tables and arrays of tables) gets a line, its own or its nearest
    enclosing key's (inline values), and a line found for the path itself names the key."""
    text = tomli_w.dumps(doc)
    assert tomllib.loads(text) == doc
    lines = key_lines(text).copy()
    src = text.splitlines()

    def walk(node: object, path: tuple) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                p = (*path, k)
                assert line_of(lines, p) is not None, (p, text)
                if p in lines:
                    assert k in src[lines[p] - 1], (p, text)
                walk(v, p)
        elif isinstance(node, list) and node and isinstance(node[0], dict):
            for i, item in enumerate(node):
                walk(item, (*path, i))

    walk(doc, ())


DUMPS = ROOT / ".." / "shared" / "realworld" / "pci-dumps"


@pytest.mark.skipif(not DUMPS.is_dir(), reason="shared/realworld/pci-dumps not present")
def test_dump_device_in_a_file(tmp_path: Path) -> None:
    """[[devices]] model = "dump": a real config dump's endpoint, path relative to the file,
    gets the MSI-X vectors its capability offers and raises requests on each (issue 4's
    dumps as devices, from a file); a missing dump file is a validation error."""
    dump = sorted(DUMPS.glob("*myri10g.lspci-x.txt"))[0]
    (tmp_path / "nic.txt").write_text(dump.read_text())
    f = tmp_path / "d.toml"
    f.write_text('version = 1\n[machine.topology]\ncores = 2\n[[devices]]\nmodel = "dump"\n'
                 'file = "nic.txt"\n[[workloads]]\nkind = "requests"\ndevice = "*"\n'
                 'requests = 10\nmean_gap_ns = 10000\n')
    code, out, err = run("run", str(f), "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["accounting"]["balanced"] and data["accounting"]["raised"] == 20
    assert {r["chip"] for r in data["interrupts"] if not r.get("system")} == \
        {"PCI-MSIX-0000:01:00.0"}
    f.write_text(f.read_text().replace("nic.txt", "none.txt"))
    code, out, err = run("run", str(f))
    assert code == 2 and "d.toml:6: devices[0].file: no such file" in err


def test_kernel_affinity_retargets_a_devices_irqs() -> None:
    """[machine.kernel] affinity = { eth0 = [3] }: after boot every IRQ of eth0 is
    retargeted to CPU 3 (Linux irq_set_affinity, docs/irq-domains.md), so /proc/interrupts
    counts them there; a CPU the machine lacks is a validation error."""
    text = ('version = 1\n[machine.topology]\ncores = 4\n[machine.kernel]\n'
            'virtio_vectors = "per-queue"\naffinity = { eth0 = [3] }\n'
            '[[devices]]\nmodel = "virtio-net"\nname = "eth0"\n'
            '[[workloads]]\nkind = "requests"\ndevice = "eth0"\nrequests = 10\n'
            'mean_gap_ns = 10000\n')
    m = run_experiment(load_text(text, "a", Path("."))).machine
    rows = [r for r in m.kernel.interrupt_rows() if r["name"].startswith("virtio-net")]
    assert len(rows) == 2
    assert all(r["counts"][3] == sum(r["counts"]) > 0 for r in rows)
    with pytest.raises(ExperimentError) as ei:
        load_text(text.replace("[3]", "[4]"), "a", Path("."))
    assert ei.value.problems == ["a:6: machine.kernel.affinity.eth0: CPUs must be a non-empty "
                                 "list of 0-3 (got [4])"]


def test_interrupted_run_shows_partial_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C during `irqsim run`: the views of what was simulated so far are printed,
    titled as interrupted, then exit status 1 ("aborted")."""
    import irqsim.experiments.builder as builder
    real = builder.run_experiment

    def interrupted(exp: object, trace: object = False) -> object:
        def stop(_: object) -> None:
            raise KeyboardInterrupt
        with timing_defaults(TimingModel()):
            from irqsim.scenarios.seed002 import WorkloadSpec, build_seed002, start_workload
            m, _ = build_seed002(trace=trace)
            m.boot()
            start_workload(m, WorkloadSpec(50, 5000), 1)
            m.engine.at(m.now + 100_000, stop)
            m.run()
        return real(exp, trace)

    monkeypatch.setattr(builder, "run_experiment", interrupted)
    code, out, err = run("run", str(EXAMPLES / "seed002.toml"))
    assert code == 1 and "aborted" in err
    assert "(interrupted at " in out.splitlines()[0]
    assert "accounting: raised" in out and "virtio-blk" in out


def test_mq_nic_gets_a_vector_per_queue_spread_over_cpus() -> None:
    """model = "mq-nic": the multi-queue NIC's MSI-X table has a vector per queue; the
    generic driver takes one per queue (up to the table), the vector matrix spreads them
    over the CPUs, and a request stream per queue lands on its queue's IRQ."""
    text = ('version = 1\n[machine.topology]\ncores = 2\n[[devices]]\nmodel = "mq-nic"\n'
            'queues = 4\n[[workloads]]\nkind = "requests"\ndevice = "*"\nrequests = 5\n'
            'mean_gap_ns = 50000\n')
    m = run_experiment(load_text(text, "n", Path("."))).machine
    rows = [r for r in m.kernel.interrupt_rows() if r["chip"].startswith("PCI-MSIX")]
    assert len(rows) == 4
    assert {r["cpu"] for r in rows} == {0, 1}
    assert all(sum(r["counts"]) == r["counts"][r["cpu"]] == 5 for r in rows)
    assert m.accounting()["balanced"]


def test_schema_command_prints_the_format_as_json_schema() -> None:
    """`irqsim scenarios schema`: the version-1 format as JSON Schema (sections, device
    models by discriminator, every TimingModel field)."""
    code, out, _ = run("scenarios", "schema")
    assert code == 0
    s = json.loads(out)
    assert {"version", "scenario", "machine", "devices", "workloads", "timing", "run"} <= \
        set(s["properties"])
    timing = s["$defs"]["TimingSection"]["properties"]
    assert set(timing) == set(TimingModel().as_dict())
    assert s["properties"]["devices"]["items"]["discriminator"]["propertyName"] == "model"


def test_run_takes_allow_and_strict_like_every_machine_command(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`irqsim run FILE --strict`: a run that reports a diagnostic prints its output, then
    exits 4 naming the rule; `--allow RULE` counts it without reporting (issue 9 item 2)."""
    from test_cli_diagnostics import broken_icr

    from irqsim.scenarios import SCENARIOS
    load_all()
    monkeypatch.setitem(SCENARIOS, "broken-icr", ("seed002 plus an invalid ICR", broken_icr))
    f = tmp_path / "b.toml"
    f.write_text('version = 1\n[scenario]\nname = "broken-icr"\nrequests = 2\n')
    code, out, err = run("run", str(f), "--format", "json", "--strict")
    assert code == 4 and "LAPIC-ICR-INVALID x1" in err
    assert json.loads(out)["diagnostics"][0]["rule_id"] == "LAPIC-ICR-INVALID"
    code, out, _ = run("run", str(f), "--format", "json", "--strict", "--allow",
                       "LAPIC-ICR-INVALID")
    assert code == 0 and json.loads(out)["diagnostics_allowed"] == {"LAPIC-ICR-INVALID": 1}
