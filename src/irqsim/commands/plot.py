"""``irqsim plot DIR``: plot a sweep's table (PNG and SVG, matplotlib)."""

from __future__ import annotations

from pathlib import Path

import click

from irqsim.commands.options import UsageFailure


@click.command("plot")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--x", "x", help="A swept parameter, a table column (cpu, device, seed) or a "
                                "metric (plotted per point against --y).")
@click.option("--y", "y", help="A metric (results.csv's 'metric' column), e.g. latency_p99_ns.")
@click.option("--hue", help="A column giving one series (line, bar) or one heat-map row each.")
@click.option("--kind", type=click.Choice(["line", "cdf", "bar", "heatmap"]), default="line",
              show_default=True)
@click.option("--device", help="Only this device's rows ('' for the totals).")
@click.option("--cpu", help="Only this CPU's rows ('all' for the machine).")
@click.option("--point", help="Only this point (cdf, heatmap), e.g. p0003-1a2b3c4d.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Output path without suffix (default DIR/plots/KIND_Y_X).")
def command(directory: Path, x: str | None, y: str | None, hue: str | None, kind: str,
            device: str | None, cpu: str | None, point: str | None, out: Path | None) -> None:
    """Plot the sweep in DIRECTORY: line (Y against X per HUE), cdf (latency CDF per point),
    bar, heatmap (Y over X and HUE; default: interrupt rate per queue and CPU)."""
    from irqsim.experiments.plots import PlotError, _slug, plot
    from irqsim.experiments.sweep import MANIFEST, load_runs, read_table
    if not (directory / MANIFEST).exists():
        raise UsageFailure(f"{directory} holds no sweep ({MANIFEST} missing)")
    params, rows = read_table(directory)
    if kind in ("line", "bar") and (x is None or y is None):
        raise click.BadParameter(f"--kind {kind} needs --x and --y", param_hint="--x/--y")
    base = out or directory / "plots" / "_".join(_slug(v) for v in (kind, y, x) if v)
    try:
        paths = plot(rows, params, load_runs(directory), kind, x, y, hue, base, device=device,
                     cpu=cpu, point=point)
    except PlotError as e:
        raise UsageFailure(str(e)) from None
    for p in paths:
        click.echo(f"wrote {p}")
