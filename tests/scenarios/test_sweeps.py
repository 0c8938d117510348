"""Sweeps, result tables, plots and progress (issue 13 items 2-4, docs/experiments.md)."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from irqsim.cli import main
from irqsim.experiments.progress import SweepProgress
from irqsim.experiments.sweep import (
    FIXED_COLUMNS,
    derive_seed,
    execute,
    expand,
    load_runs,
    plan,
    read_table,
)

ROOT = Path(__file__).resolve().parents[2]
SEED002 = ROOT / "examples" / "experiments" / "seed002.toml"
GRID: list[tuple[str, list[Any]]] = [("scenario.mean_gap_ns", [3000, 9000]),
                                     ("timing.pcie_hop", [50, 150])]


def tiny(tmp_path: Path) -> Path:
    """seed002 with 6 requests per queue: a sweep point runs in a few ms."""
    f = tmp_path / "tiny.toml"
    f.write_text(SEED002.read_text().replace("requests = 200", "requests = 6"))
    return f


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def test_points_product_zip_and_derived_seeds() -> None:
    """The product of the value lists (or their zip), --seeds replicates; a point's seed
    depends only on the file's seed, its own values and its replicate."""
    pts = expand(GRID, 1)
    assert [p.params for p in pts] == [
        {"scenario.mean_gap_ns": 3000, "timing.pcie_hop": 50},
        {"scenario.mean_gap_ns": 3000, "timing.pcie_hop": 150},
        {"scenario.mean_gap_ns": 9000, "timing.pcie_hop": 50},
        {"scenario.mean_gap_ns": 9000, "timing.pcie_hop": 150}]
    assert [p.params for p in expand(GRID, 1, zip_=True)] == [
        {"scenario.mean_gap_ns": 3000, "timing.pcie_hop": 50},
        {"scenario.mean_gap_ns": 9000, "timing.pcie_hop": 150}]
    reps = expand(GRID, 1, seeds=3)
    assert len(reps) == 12 and len({p.seed for p in reps}) == 12
    alone = expand([("scenario.mean_gap_ns", [9000]), ("timing.pcie_hop", [150])], 1)
    assert alone[0].seed == pts[3].seed == derive_seed(1, pts[3].params, 0)
    assert expand(GRID, 2)[0].seed != pts[0].seed
    assert [p.seed for p in expand([("run.seed", [5, 6])], 1)] == [5, 6]
    with pytest.raises(ValueError, match="--zip"):
        expand([("a", [1, 2]), ("b", [1])], 1, zip_=True)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.integers(0, 9), min_size=1, max_size=3, unique=True),
                min_size=1, max_size=3), st.integers(1, 3), st.integers(0, 2**63 - 1))
def test_expand_invariants(lists: list[list[int]], seeds: int, base: int) -> None:
    """Any grid: the product has prod(len) x seeds points, every combination once per
    replicate, ids unique, and each point's seed is derive_seed of its own values alone."""
    grid = [(f"k{i}", vs) for i, vs in enumerate(lists)]
    pts = expand(grid, base, seeds=seeds)
    n = 1
    for vs in lists:
        n *= len(vs)
    assert len(pts) == n * seeds == len({p.id for p in pts})
    assert len({(tuple(p.params.values()), p.rep) for p in pts}) == len(pts)
    assert all(p.seed == derive_seed(base, p.params, p.rep) for p in pts)


def test_sweep_table_runs_and_resume(tmp_path: Path) -> None:
    """A 2 x 2 sweep: the tidy table has one row per point x metric with the swept keys as
    columns, every run's JSON is kept, and the same points run in a pool (--jobs 2) give
    the same table; --resume runs only the missing points."""
    f = tiny(tmp_path)
    out1, out2 = tmp_path / "a", tmp_path / "b"
    code, _, err = run("sweep", str(f), "--set", "scenario.mean_gap_ns=3000,9000",
                       "--set", "timing.pcie_hop=50,150", "--jobs", "1", "--out", str(out1),
                       "--no-plots")
    assert code == 0, err
    with (out1 / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["point", "scenario.mean_gap_ns", "timing.pcie_hop",
                             *FIXED_COLUMNS[1:]]
    assert len({r["point"] for r in rows}) == 4
    p99 = {(r["scenario.mean_gap_ns"], r["timing.pcie_hop"]): r["value"] for r in rows
           if r["metric"] == "latency_p99_ns" and r["device"] == "virtio-blk"}
    assert len(p99) == 4
    assert all(r["value"] == "1" for r in rows if r["metric"] == "accounting_balanced")
    # The per-stage medians: pcie_hop 150 vs 50 moves the fabric stage by 100 per hop
    # (seed 002's devices sit behind one root port: one hop; seed 003 step 4).
    fab = {(r["scenario.mean_gap_ns"], r["timing.pcie_hop"]): int(r["value"]) for r in rows
           if r["metric"] == "stage_fabric_median_ns" and r["device"] == "virtio-net"}
    assert fab[("9000", "150")] - fab[("9000", "50")] == 100
    runs = load_runs(out1)
    assert len(runs) == 4 and all("latency_ns" in r["result"] for r in runs)
    # The pool gives the same table.
    sw, _ = plan(f, GRID)
    assert execute(sw, out2, jobs=2) == (4, 0)
    assert (out2 / "results.csv").read_text() == (out1 / "results.csv").read_text()
    # Resume: drop one point, only it runs again, the table is whole and unchanged.
    victim = sorted((out2 / "runs").glob("*.json"))[1]
    victim.unlink()
    assert execute(sw, out2, jobs=1, resume=True) == (1, 3)
    assert (out2 / "results.csv").read_text() == (out1 / "results.csv").read_text()


def test_interrupted_sweep_keeps_finished_points_and_resume_finishes(tmp_path: Path) -> None:
    """Ctrl-C after the second point: the two finished points are in runs/ and in the
    table, nothing else; --resume runs the other two only."""
    f = tiny(tmp_path)
    sw, _ = plan(f, GRID)
    seen: list[str] = []

    def stop(p: Any, res: dict[str, Any]) -> None:
        seen.append(p.id)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        execute(sw, tmp_path / "o", jobs=1, on_done=stop)
    _, rows = read_table(tmp_path / "o")
    assert {r["point"] for r in rows} == set(seen)
    assert execute(sw, tmp_path / "o", jobs=1, resume=True) == (2, 2)
    _, rows = read_table(tmp_path / "o")
    assert len({r["point"] for r in rows}) == 4


def test_resume_refuses_another_sweep_and_bad_points_run_nothing(tmp_path: Path) -> None:
    """--resume into a directory of a different sweep, or a --set value that makes a point
    invalid: exit 2, one line per problem, nothing run."""
    f = tiny(tmp_path)
    out = tmp_path / "o"
    assert run("sweep", str(f), "--set", "timing.pcie_hop=50", "--jobs", "1", "--out",
               str(out), "--no-plots")[0] == 0
    code, _, err = run("sweep", str(f), "--set", "timing.pcie_hop=60", "--out", str(out),
                       "--resume", "--no-plots")
    assert code == 2 and "holds another sweep" in err
    code, out_text, err = run("sweep", str(f), "--set", "timing.pcie_hop=50,-3",
                              "--set", "scenario.requests=0", "--out", str(tmp_path / "n"))
    assert code == 2 and out_text == ""
    assert "timing.pcie_hop" in err and "scenario.requests" in err
    assert not (tmp_path / "n").exists()


def test_ray_backend_gives_the_same_table(tmp_path: Path) -> None:
    """--backend ray on a local Ray started for the sweep: the same table as the local
    backend (issue 13: same inputs, same table on either backend)."""
    ray = pytest.importorskip("ray", reason="the ray extra is not installed "
                                            "(pip install 'irqsim[ray]'); CI installs it")
    f = tiny(tmp_path)
    sw, _ = plan(f, GRID[:1])
    execute(sw, tmp_path / "local", jobs=1)
    execute(sw, tmp_path / "ray", backend="ray", jobs=2)
    assert not ray.is_initialized()
    assert (tmp_path / "ray" / "results.csv").read_text() == \
        (tmp_path / "local" / "results.csv").read_text()


def _valid_png(p: Path) -> bool:
    data = p.read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and b"IEND" in data[-16:]


def test_default_plots_and_every_kind(tmp_path: Path) -> None:
    """A sweep writes its default plots (p99/median lines, throughput against CPU busy, CDF,
    heat map) as valid PNG and SVG; `irqsim plot` draws each kind."""
    pytest.importorskip("matplotlib", reason="the plot extra is not installed")
    f = tmp_path / "one.toml"                # one device: one panel per plot, fast
    f.write_text('version = 1\n[[devices]]\nmodel = "virtio-blk"\n[[workloads]]\n'
                 'kind = "requests"\ndevice = "*"\nrequests = 8\nmean_gap_ns = 3000\n')
    out = tmp_path / "o"
    code, _, err = run("sweep", str(f), "--set", "workloads.0.mean_gap_ns=3000,9000",
                       "--set", "timing.pcie_hop=50,150", "--jobs", "1", "--out", str(out))
    assert code == 0, err
    pngs = sorted((out / "plots").glob("*.png"))
    assert {p.stem for p in pngs} == {
        "line_latency_p99_ns_workloads_0_mean_gap_ns",
        "line_latency_median_ns_workloads_0_mean_gap_ns",
        "line_handled_per_s_cpu_busy_pct", "cdf", "heatmap_interrupt_rate_per_s_cpu"}
    for p in pngs:
        assert _valid_png(p)
        assert ET.parse(p.with_suffix(".svg")).getroot().tag.endswith("svg")
    code, _, err = run("plot", str(out), "--kind", "bar", "--x", "timing.pcie_hop", "--y",
                       "handled_per_s", "--device", "", "--out", str(tmp_path / "x"))
    assert code == 0, err
    assert _valid_png(tmp_path / "x.png")
    code, _, err = run("plot", str(out), "--x", "timing.pcie_hop", "--y", "nope")
    assert code == 2 and "no metric 'nope'" in err


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_on_a_terminal() -> None:
    """The sweep's bar shows points, simulated time and events/s on a terminal; nothing at
    all when piped."""
    piped = io.StringIO()
    with SweepProgress(2, stream=piped) as bar:
        bar.advance({"simulated_ns": 5_000_000, "events_run": 1000})
    assert piped.getvalue() == ""
    tty = Tty()
    with SweepProgress(2, stream=tty) as bar:
        bar.advance({"simulated_ns": 5_000_000, "events_run": 1000})
    assert "1/2" in tty.getvalue() and "simulated 5.0 ms" in tty.getvalue()
    assert "events/s" in tty.getvalue()


def test_manifest_reproduces_the_sweep(tmp_path: Path) -> None:
    """The directory holds what re-creates the sweep: the file's text and the grid."""
    f = tiny(tmp_path)
    sw, _ = plan(f, GRID)
    execute(sw, tmp_path / "o", jobs=1)
    man = json.loads((tmp_path / "o" / "sweep.json").read_text())
    assert man["sets"] == [list(s) for s in GRID]
    assert (tmp_path / "o" / "experiment.toml").read_text() == f.read_text()
    assert [p["seed"] for p in man["points"]] == [p.seed for p in sw.points]


def test_run_progress_fills_with_simulated_time() -> None:
    """`irqsim run`'s line on a terminal: given the expected span, the bar's completed part
    is the simulated time (capped at the span) and it shows events/s."""
    from irqsim.commands.progress import RunProgress
    from irqsim.machine import Machine
    tty = Tty()
    with RunProgress("run x", stream=tty, span_ns=1_000_000) as rp:
        rp.start -= 10
        m = Machine()
        m.engine.at(400_000, lambda _: None)
        m.run()
        rp.update()
        assert rp.progress is not None
        task = rp.progress.tasks[0]
        assert (task.total, task.completed) == (1_000_000, 400_000)
    assert "events/s" in tty.getvalue()


def test_parquet_table_when_pyarrow_is_present(tmp_path: Path) -> None:
    """With pyarrow installed the table is also written as Parquet, the same rows."""
    pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow absent: CSV and JSONL only")
    f = tiny(tmp_path)
    sw, _ = plan(f, GRID[:1])
    execute(sw, tmp_path / "o", jobs=1)
    _, rows = read_table(tmp_path / "o")
    assert pq.read_table(tmp_path / "o" / "results.parquet").num_rows == len(rows)


def test_sweep_again_from_its_directory(tmp_path: Path) -> None:
    """Reproducible from the files alone: `irqsim sweep DIR --out NEW` runs the recorded
    experiment over the recorded grid and gives the same table."""
    f = tiny(tmp_path)
    sw, _ = plan(f, GRID, seeds=2)
    execute(sw, tmp_path / "a", jobs=1)
    code, _, err = run("sweep", str(tmp_path / "a"), "--jobs", "1", "--out", str(tmp_path / "b"),
                       "--no-plots")
    assert code == 0, err
    assert (tmp_path / "b" / "results.csv").read_text() == \
        (tmp_path / "a" / "results.csv").read_text()
    code, _, err = run("sweep", str(f), "--out", str(tmp_path / "c"))
    assert code == 2 and "--set" in err


def test_readme_sweep_is_one_command(tmp_path: Path) -> None:
    """The README's sweep: a built-in scenario's name, 4 x 3 points, one command (here with
    tiny runs): 12 points in the table, the exported file kept beside it; a name that is
    neither a file nor a scenario is a usage error."""
    out = tmp_path / "s"
    code, text, err = run("sweep", "seed002", "--set", "scenario.requests=2",
                          "--set", "scenario.mean_gap_ns=2000,5000,10000,20000",
                          "--set", "timing.pcie_hop=50,100,200", "--jobs", "1", "--out",
                          str(out), "--no-plots")
    assert code == 0, err
    assert text.startswith("12 points (12 run, 0 kept)")
    assert len({r["point"] for r in read_table(out)[1]}) == 12
    assert (out / "experiment.toml").read_text().startswith("# irqsim experiment file")
    code, _, err = run("sweep", "nope", "--set", "a=1", "--out", str(tmp_path / "n"))
    assert code == 2 and "no such file, directory or built-in scenario" in err


def test_point_metrics_of_a_generic_machine_with_ipis() -> None:
    """A point of a described machine (two-nics-switch: NIC queues spread over 4 CPUs,
    call-function IPIs) yields per-queue/CPU interrupt rows, per-CPU busy %, and the IPI
    requests with their latency (os/ipi.py: call to last acknowledgement)."""
    from irqsim.experiments.sweep import metrics, run_point
    f = ROOT / "examples" / "experiments" / "two-nics-switch.toml"
    res = run_point(f.read_text(), str(f), str(f.parent),
                    [("workloads.0.requests", 10), ("workloads.1.count", 8)])
    rows = metrics(res)
    ipi = {(m, d): v for m, d, _, v in rows if m.startswith("ipi")}
    assert ipi[("ipis", "call-single")] == 8
    assert ipi[("ipi_latency_mean_ns", "call-single")] > 0
    cpus = {c for m, _, c, _ in rows if m == "interrupts"}
    assert cpus == {"0", "1", "2", "3"}
    assert {c for m, _, c, _ in rows if m == "cpu_busy_pct"} == {"0", "1", "2", "3", "all"}


def test_set_values_split_outside_brackets_and_quotes() -> None:
    """`--set PATH=V1,V2`: commas inside [...] or quotes belong to one TOML value."""
    from irqsim.commands.sweep import split_values
    from irqsim.experiments.loader import parse_value
    vals = [parse_value(v) for v in split_values('[1, 2],[3],"a,b",per-queue,2.5,true')]
    assert vals == [[1, 2], [3], "a,b", "per-queue", 2.5, True]


def test_sweep_without_matplotlib_keeps_its_table(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """matplotlib is an optional extra: without it a sweep still writes its table and says
    how to get the plots (exit 0)."""
    import irqsim.experiments.plots as plots

    def missing() -> None:
        raise plots.PlotError("plots need matplotlib: pip install 'irqsim[plot]'")

    monkeypatch.setattr(plots, "_pyplot", missing)
    code, _, err = run("sweep", str(tiny(tmp_path)), "--set", "timing.pcie_hop=50",
                       "--jobs", "1", "--out", str(tmp_path / "o"))
    assert code == 0 and "irqsim[plot]" in err
    assert (tmp_path / "o" / "results.csv").exists()
    assert not (tmp_path / "o" / "plots").exists()
