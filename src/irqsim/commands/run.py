"""``irqsim run FILE``: run an experiment file (docs/experiments.md) with the demo's views."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from irqsim.commands.options import (
    UsageFailure,
    check_span,
    check_writable,
    diag_options,
    open_output,
)


class InvalidExperiment(UsageFailure):
    """An experiment file with problems: one line each, exit status 2, nothing run."""

    def __init__(self, problems: list[str]) -> None:
        n = len(problems)
        super().__init__(f"invalid experiment ({n} problem{'s' if n != 1 else ''}):\n"
                         + "\n".join(f"  {p}" for p in problems))


def parse_sets(sets: tuple[str, ...], option: str = "--set") -> list[tuple[str, str]]:
    """``PATH=VALUE`` pairs; a malformed one is a usage error."""
    out = []
    for s in sets:
        path, eq, value = s.partition("=")
        if not eq or not path.strip():
            raise click.BadParameter(f"expected PATH=VALUE, got {s!r}", param_hint=option)
        out.append((path.strip(), value.strip()))
    return out


def load(file: Path, sets: list[tuple[str, Any]] | None = None) -> Any:
    """The validated experiment, or :class:`InvalidExperiment`."""
    from irqsim.experiments.loader import ExperimentError, load_file
    try:
        return load_file(file, sets)
    except ExperimentError as e:
        raise InvalidExperiment(e.problems) from None


@contextmanager
def machines_built() -> Iterator[list[Any]]:
    """The machines built inside the block (chained with any progress watcher), so that an
    interrupted run can still be shown."""
    from irqsim.machine import RUN_PROGRESS
    prev = RUN_PROGRESS.get()
    seen: list[Any] = []

    def watch(m: Any) -> None:
        seen.append(m)
        if prev is not None:
            prev(m)

    token = RUN_PROGRESS.set(watch)
    try:
        yield seen
    finally:
        RUN_PROGRESS.reset(token)


@click.command("run")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "mermaid", "json"]), default="text",
              show_default=True, help="The views of `irqsim demo`.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the output to FILE instead of standard output.")
@click.option("--trace", "trace_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write every trace event to FILE as JSON lines.")
@click.option("--set", "sets", multiple=True, metavar="PATH=VALUE",
              help="Override a key of the file (e.g. scenario.requests=50, timing.pcie_hop=100, "
                   "devices.0.msix_vectors=4); repeatable.")
@diag_options
def command(file: Path, fmt: str, out: Path | None, trace_out: Path | None,
            sets: tuple[str, ...]) -> None:
    """Run the experiment FILE (TOML, docs/experiments.md) and show it as `irqsim demo` does.

    A file that does not validate gets one line per problem (file, line, key path, bad
    value) and exit status 2; nothing is run. The run budget is the file's [run] section.
    Ctrl-C stops the run and shows what was simulated until then (exit status 1).
    """
    from irqsim.commands.progress import RunProgress
    from irqsim.experiments.builder import budget_of, expected_span, run_experiment
    from irqsim.experiments.loader import ExperimentError, parse_value
    from irqsim.scenarios import ScenarioResult
    from irqsim.views.report import render, tracer_for
    exp = load(file, [(p, parse_value(v)) for p, v in parse_sets(sets)])
    budget = budget_of(exp)
    check_span(expected_span(exp), budget, f"{file}", "FILE")
    check_writable(out, "--out")
    sink = open_output(trace_out, "--trace") if trace_out is not None else None
    interrupted = False
    try:
        with RunProgress(f"run {file.name}", span_ns=expected_span(exp)), \
                machines_built() as built, budget.active():
            try:
                res = run_experiment(exp, trace=tracer_for(fmt, sink))
            except KeyboardInterrupt:
                if not built:
                    raise
                interrupted = True
                m = built[-1]
                res = ScenarioResult(m, f"{exp.spec.run.title or file.name} (interrupted at "
                                        f"{m.now} ns simulated: partial results)",
                                     exp.spec.run.focus_device or "")
    except ExperimentError as e:
        raise InvalidExperiment(e.problems) from None
    finally:
        if sink is not None:
            sink.close()
    text = render(res, fmt)
    if out is not None:
        out.write_text(text + "\n")
        click.echo(f"wrote {out}")
    else:
        click.echo(text)
    if interrupted:
        raise click.Abort()
