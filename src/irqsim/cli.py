"""The ``irqsim`` command line."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from irqsim.commands.options import (
    DEFAULT_BUDGETS,
    SEED,
    budget_options,
    check_span,
    check_writable,
    diag_options,
    finite_gap,
    open_output,
    write_output,
)
from irqsim.scenarios import ScenarioOptions, expected_span_ns, load_all
from irqsim.sim.budget import EXIT_BUDGET, Budget, BudgetExceeded

# click >= 8.2 raises this for a group called with no arguments (8.1 prints the help itself).
_NO_ARGS: type[Exception] | tuple[()] = getattr(click.exceptions, "NoArgsIsHelpError", ())


class Cli(click.Group):
    """A group whose usage errors are one line on stderr, exit status 2, no traceback; a run
    stopped by its budget prints its report on stderr, exit status 3 (EXIT_BUDGET); a command
    returning a status (4, EXIT_STRICT, under --strict) exits with it; with no
    arguments, the help on stdout and exit status 0."""

    def main(self, *args, **kwargs):      # click.Group.main: overloaded, kept untyped
        kwargs["standalone_mode"] = False
        try:
            rv = super().main(*args, **kwargs)
        except _NO_ARGS as e:
            ctx = getattr(e, "ctx", None)
            click.echo(ctx.get_help() if ctx else self.get_help(click.Context(self)))
            sys.exit(0)
        except BudgetExceeded as e:
            click.echo(f"irqsim: {e.report}", err=True)
            sys.exit(EXIT_BUDGET)
        except click.UsageError as e:
            cmd = e.ctx.command_path if e.ctx else "irqsim"
            click.echo(f"{cmd}: error: {e.format_message()}", err=True)
            sys.exit(2)
        except click.ClickException as e:
            click.echo(f"irqsim: error: {e.format_message()}", err=True)
            sys.exit(e.exit_code)
        except click.exceptions.Abort:
            click.echo("irqsim: aborted", err=True)
            sys.exit(1)
        if isinstance(rv, int) and rv:
            sys.exit(rv)
        return rv


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="irqsim")
def main() -> None:
    """irqsim: x86 interrupt delivery from PCIe devices to CPUs, register-accurate and timed.

    Exit statuses: 0 done, 1 aborted, 2 usage error, 3 stopped by the run budget, 4 --strict
    and a diagnostic was reported (`irqsim rules` lists the rule ids --allow takes).
    """


@main.command()
@click.option("--scenario", "scenario", default="seed002", show_default=True,
              help="Which built-in scenario to run (see --list-scenarios).")
@click.option("--list-scenarios", is_flag=True, help="List the scenarios, one line each, and exit.")
@click.option("--format", "fmt", type=click.Choice(["text", "mermaid", "json"]), default="text",
              show_default=True,
              help="text: diagram, /proc/interrupts, latency tables and accounting; "
                   "mermaid: set-up and one delivery as sequence diagrams; json: one object "
                   "with 'interrupts', 'latency_ns', 'accounting' and more.")
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write the output to FILE instead of standard output.")
@click.option("--requests", type=click.IntRange(1, 1_000_000), default=200, show_default=True,
              help="Requests per device queue in the workload (ipi: IPIs sent; timer: the run "
                   "length in 1 ms periodic ticks per CPU, then 5 ms of TSC-deadline).")
@click.option("--gap-ns", type=float, default=20_000.0, show_default=True, callback=finite_gap,
              help="Mean gap between requests on one queue, in simulated ns (exponential).")
@click.option("--seed", type=SEED, default=1, show_default=True,
              help="Random seed >= 0: the same seed gives the same run (the timer scenario is "
                   "not random).")
@click.option("--trace", "trace_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write every trace event (time, src, dst, kind, fields) to FILE as "
                   "JSON lines (streamed as the run goes).")
@budget_options("demo")
@diag_options
def demo(scenario: str, list_scenarios: bool, fmt: str, out: Path | None, requests: int,
         gap_ns: float, seed: int, trace_out: Path | None, max_sim_ns: int,
         max_events: int) -> None:
    """Build a machine, boot its OS, run a workload, and show what happened."""
    scenarios = load_all()
    if list_scenarios:
        for name, (desc, _) in scenarios.items():
            click.echo(f"{name:<16} {desc}")
        return
    if scenario not in scenarios:
        raise click.BadParameter(
            f"unknown scenario {scenario!r} (choose from {', '.join(scenarios)})",
            param_hint="'--scenario'")
    from irqsim.commands.progress import RunProgress
    from irqsim.views.report import render, tracer_for
    budget = Budget(max_sim_ns, max_events, DEFAULT_BUDGETS["demo"].storm_limit)
    check_span(expected_span_ns(scenario, ScenarioOptions(requests, gap_ns, seed)), budget,
               f"--scenario {scenario} with --requests {requests}"
               + ("" if scenario == "timer" else f" and --gap-ns {gap_ns:g}"),
               "--requests" if scenario == "timer" else "--gap-ns")
    check_writable(out, "--out")
    sink = open_output(trace_out, "--trace") if trace_out is not None else None
    try:
        with RunProgress(f"demo {scenario}"), budget.active():
            res = scenarios[scenario][1](ScenarioOptions(requests, gap_ns, seed,
                                                         trace=tracer_for(fmt, sink)))
    finally:
        if sink is not None:
            sink.close()
    text = render(res, fmt)
    if out is not None:
        write_output(out, text + "\n", "--out")
        click.echo(f"wrote {out}")
    else:
        click.echo(text)


def _add_plugin_commands() -> None:
    """Add the commands defined in ``irqsim.commands.*`` (each module exports ``command``)."""
    import importlib
    import pkgutil

    import irqsim.commands as pkg
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        mod = importlib.import_module(f"irqsim.commands.{info.name}")
        cmd = getattr(mod, "command", None)
        if isinstance(cmd, click.Command):
            main.add_command(cmd)


_add_plugin_commands()
