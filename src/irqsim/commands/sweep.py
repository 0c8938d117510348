"""``irqsim sweep FILE --set PATH=V1,V2 ...``: run an experiment over a grid of values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from irqsim.commands.options import EXIT_STRICT, UsageFailure, diag_options


def split_values(text: str) -> list[str]:
    """``V1,V2,...`` split at commas outside brackets and quotes (``[1,2],[3]`` is two)."""
    out, depth, quote, cur = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        cur += ch
    out.append(cur.strip())
    return out


@click.command("sweep")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--set", "sets", multiple=True, metavar="PATH=V1,V2,...",
              help="A key of the file and its values (TOML values: 100, 1.5, true, \"x\"); "
                   "repeatable: the points are the cartesian product (or --zip).")
@click.option("--zip", "zip_", is_flag=True,
              help="Pair the i-th values of every --set instead of the product.")
@click.option("--seeds", type=click.IntRange(1, 1000), default=1, show_default=True,
              help="Runs per point, each with its own derived seed.")
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local",
              show_default=True, help="local: a process pool; ray: Ray tasks (irqsim[ray]).")
@click.option("--jobs", type=click.IntRange(0, 1024), default=0,
              help="Parallel runs (0: one per CPU; 1: in this process).")
@click.option("--ray-address", default=None,
              help="An existing Ray cluster (default: a local Ray started for the sweep).")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for the table, every run's JSON and the plots.")
@click.option("--resume", is_flag=True,
              help="Keep the points already in --out (an interrupted sweep) and run the rest.")
@click.option("--no-plots", is_flag=True, help="Do not write the default plots.")
@diag_options
def command(file: Path, sets: tuple[str, ...], zip_: bool, seeds: int, backend: str, jobs: int,
            ray_address: str | None, out: Path, resume: bool, no_plots: bool) -> int:
    """Run experiment FILE once per point of the --set grid and write results.csv and
    results.jsonl (one row per point x metric, the swept keys as columns), runs/*.json and
    the default plots into --out. Ctrl-C keeps the finished points; --resume skips them.

    FILE may also be a sweep's directory: its experiment.toml is run again over the grid
    its sweep.json records (--set, --zip and --seeds come from there), into --out; or the
    name of a built-in scenario (`irqsim scenarios list`): its exported file, written to
    --out/experiment.toml, is swept.

    --allow RULE applies to every point; with --strict the table gets a "strict" column
    (ok, or the rule ids a point reported) and the sweep exits with status 4 after writing
    everything if any point reported one.
    """
    from irqsim.commands.run import InvalidExperiment, parse_sets
    from irqsim.experiments.loader import ExperimentError, parse_value
    from irqsim.experiments.progress import SweepProgress
    from irqsim.experiments.sweep import execute, load_runs, plan
    diag = click.get_current_context().params      # --allow/--strict (diag_options)
    allow: tuple[str, ...] = tuple(diag.get("allow") or ())
    strict = bool(diag.get("strict"))
    grid: list[tuple[str, list[Any]]] = []
    if file.is_dir():
        file, grid, zip_, seeds, man = _from_directory(file, sets)
        allow = allow or tuple(man.get("allow", ()))      # the recorded policy by default
        strict = strict or bool(man.get("strict"))
    elif not file.exists():
        file = _from_scenario(str(file), out)
    elif not sets:
        raise click.BadParameter("give at least one --set PATH=V1,V2,...", param_hint="--set")
    for path, text in parse_sets(sets):
        grid.append((path, [parse_value(v) for v in split_values(text)]))
    if len({p for p, _ in grid}) != len(grid):
        raise click.BadParameter("a path is given twice", param_hint="--set")
    try:
        sw, _ = plan(file, grid, zip_, seeds, allow, strict)
    except ExperimentError as e:
        raise InvalidExperiment(e.problems) from None
    if out.exists() and not out.is_dir():
        raise UsageFailure(f"--out {out} is not a directory")
    errors: list[str] = []
    with SweepProgress(len(sw.points), f"sweep {file.name}") as bar:
        def on_done(p: Any, res: dict[str, Any]) -> None:
            bar.advance(res)
            if "error" in res:
                errors.append(f"{p.id}: {res['error']}")
        try:
            ran, skipped = execute(sw, out, backend, jobs, ray_address, resume, on_done)
        except ExperimentError as e:
            raise InvalidExperiment(e.problems) from None
        except KeyboardInterrupt:
            done = len(load_runs(out))
            click.echo(f"interrupted: {done} of {len(sw.points)} points kept in {out}; "
                       "`--resume` runs the rest", err=True)
            raise click.Abort() from None
    click.echo(f"{len(sw.points)} points ({ran} run, {skipped} kept): {out}/results.csv, "
               f"{out}/results.jsonl, {out}/runs/")
    for failure in errors:
        click.echo(f"point failed: {failure}", err=True)
    if not no_plots:
        _plots(out)
    return _strict_exit(out, sw.params) if strict else 0


def _strict_exit(out: Path, params: list[str]) -> int:
    """--strict: name every point that reported a diagnostic (every run of the directory,
    resumed ones too); EXIT_STRICT if there is one. The command's own policy saw nothing
    (the points ran elsewhere), so this is the sweep's verdict."""
    from irqsim.experiments.sweep import load_runs, strict_verdict
    bad = [(rec, strict_verdict(rec["result"])) for rec in load_runs(out)]
    bad = [(rec, v) for rec, v in bad if v not in ("ok", "error")]
    for rec, v in bad:
        vals = ", ".join(f"{p}={rec['params'].get(p)!r}" for p in params)
        click.echo(f"irqsim: --strict: point {rec['point']} ({vals}): {v}", err=True)
    return EXIT_STRICT if bad else 0


def _from_scenario(name: str, out: Path) -> Path:
    """Built-in scenario ``name`` exported to ``out/experiment.toml`` (the file swept)."""
    from irqsim.experiments.export import export_scenario
    from irqsim.scenarios import load_all
    if name not in load_all() or "/" in name:
        raise UsageFailure(f"{name}: no such file, directory or built-in scenario")
    try:
        out.mkdir(parents=True, exist_ok=True)
        f = out / "experiment.toml"
        f.write_text(export_scenario(name))
    except OSError as e:
        raise UsageFailure(f"cannot write --out {out}: {e.strerror or e}") from None
    return f


def _from_directory(d: Path, sets: tuple[str, ...],
                    ) -> tuple[Path, list[tuple[str, list[Any]]], bool, int, dict[str, Any]]:
    """The experiment file and grid a sweep directory records (to run it again), and its
    manifest (``allow``/``strict``: the recorded diagnostics policy)."""
    import json

    from irqsim.experiments.sweep import MANIFEST
    if sets:
        raise click.BadParameter("a sweep directory brings its own grid: no --set",
                                 param_hint="--set")
    try:
        man = json.loads((d / MANIFEST).read_text())
    except (OSError, ValueError) as e:
        raise UsageFailure(f"{d} holds no readable {MANIFEST}: {e}") from None
    return (d / "experiment.toml", [(p, list(v)) for p, v in man["sets"]], bool(man["zip"]),
            int(man["seeds"]), man)


def _plots(out: Path) -> None:
    from irqsim.experiments.plots import PlotError, default_plots
    from irqsim.experiments.sweep import load_runs, read_table
    params, rows = read_table(out)
    try:
        paths = default_plots(rows, params, load_runs(out), out / "plots")
    except PlotError as e:
        click.echo(f"no plots: {e}", err=True)
        return
    if paths:
        click.echo(f"plots: {len(paths) // 2} in {out}/plots/ (PNG and SVG)")
