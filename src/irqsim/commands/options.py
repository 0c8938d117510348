"""Option checks shared by the commands (this module defines no command)."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

from irqsim.sim.budget import Budget
from irqsim.sim.rules import DiagPolicy, load_rules

MAX_GAP_NS = 1e15
MAX_SIM_NS = 1e15
SEED = click.IntRange(0, 2**63 - 1)     # negative seeds are refused, not folded onto others

# Each command's default run budget (simulated ns, engine events): room for the largest
# --requests its options allow at the default gap, and a bound on wall time (~5 min).
DEFAULT_BUDGETS = {
    "demo": Budget(max_sim_ns=100_000_000_000, max_events=100_000_000),
    "compare-mechanisms": Budget(max_sim_ns=100_000_000_000, max_events=100_000_000),
    "run-dump": Budget(max_sim_ns=100_000_000_000, max_events=100_000_000),
    "export-config": Budget(max_sim_ns=1_000_000_000, max_events=10_000_000),
    "compare-virt": Budget(max_sim_ns=100_000_000_000, max_events=100_000_000),
    "tune": Budget(max_sim_ns=1_000_000_000, max_events=50_000_000),
    "compare-links": Budget(max_sim_ns=100_000_000_000, max_events=100_000_000),
}

F = TypeVar("F", bound=Callable[..., Any])

EXIT_STRICT = 4         # --strict: the run reported a diagnostic (after printing its output)


class UsageFailure(click.ClickException):
    """A usage problem found while acting on valid-looking options (exit status 2)."""

    exit_code = 2


def finite_gap(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """A mean gap in simulated ns: a finite number > 0 (NaN and infinities refused)."""
    if value is None:
        return value
    if not math.isfinite(value) or value <= 0 or value > MAX_GAP_NS:
        raise click.BadParameter(f"must be a finite number of ns in (0, {MAX_GAP_NS:g}], "
                                 f"got {value}")
    return value


def _sim_ns(ctx: click.Context, param: click.Parameter, value: float) -> int:
    if not math.isfinite(value) or not 1 <= value <= MAX_SIM_NS:
        raise click.BadParameter(f"must be a number of simulated ns in [1, {MAX_SIM_NS:g}], "
                                 f"got {value}")
    return int(value)


def budget_options(command: str) -> Callable[[F], F]:
    """Add ``--max-sim-ns`` and ``--max-events`` with ``command``'s default budget."""
    b = DEFAULT_BUDGETS[command]

    def deco(fn: F) -> F:
        fn = click.option(
            "--max-events", type=click.IntRange(1, 10**12), default=b.max_events,
            show_default=True,
            help="Budget: stop the run (exit status 3, with a report) after this many "
                 "simulation events per machine.")(fn)
        return click.option(
            "--max-sim-ns", type=float, default=float(b.max_sim_ns), callback=_sim_ns,
            show_default=f"{b.max_sim_ns:.0e}",
            help="Budget: stop the run (exit status 3, with a report) when it needs more "
                 "simulated time than this; options whose run cannot fit are refused.")(fn)
    return deco


def check_span(span_ns: float, budget: Budget, why: str, param: str) -> None:
    """Refuse options whose run needs more simulated time than the budget allows."""
    if span_ns > budget.max_sim_ns:
        raise click.BadParameter(
            f"{why} needs about {span_ns:.3g} ns of simulated time, more than the run "
            f"budget --max-sim-ns {budget.max_sim_ns:.3g}: the run could not finish "
            "(lower the options or raise --max-sim-ns)", param_hint=f"'{param}'")


def check_writable(path: Path | None, option: str) -> None:
    """Fail before the run (usage error, exit 2) if ``path`` cannot be written."""
    if path is None:
        return
    existed = path.exists()
    try:
        with open(path, "a"):
            pass
    except OSError as e:
        raise UsageFailure(f"cannot write {option} {path}: {e.strerror or e}") from None
    if not existed:
        os.unlink(path)


def open_output(path: object, option: str) -> TextIO:
    """Open ``path`` for writing; an unwritable path is a usage error (exit 2)."""
    try:
        return Path(str(path)).open("w")
    except OSError as e:
        raise UsageFailure(f"cannot write {option} {path}: {e.strerror or e}") from None


def write_output(path: object, text: str, option: str) -> None:
    """Write ``text`` to ``path``; an unwritable path is a usage error (exit 2)."""
    try:
        Path(str(path)).write_text(text)
    except OSError as e:
        raise UsageFailure(f"cannot write {option} {path}: {e.strerror or e}") from None


def _rule_ids(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> frozenset[str]:
    """--allow values: registered rule ids (see `irqsim rules`); an unknown one is an error."""
    if not value:
        return frozenset()
    rules = load_rules()
    unknown = [v for v in value if v not in rules]
    if unknown:
        raise click.BadParameter(f"unknown rule id {', '.join(map(repr, unknown))} (see "
                                 "`irqsim rules`)")
    return frozenset(value)


def diag_options(fn: F) -> F:
    """Add ``--allow RULE`` (repeatable) and ``--strict`` to a command that runs machines.

    The command runs under a :class:`~irqsim.sim.rules.DiagPolicy`: allowed ids are counted,
    not reported. With ``--strict``, once the command has printed its output, any reported
    diagnostic makes it exit with status 4 (EXIT_STRICT), naming the ids on stderr."""

    @functools.wraps(fn)
    def run(*args: Any, allow: frozenset[str], strict: bool, **kwargs: Any) -> Any:
        policy = DiagPolicy(allow)
        with policy.active():
            rv = fn(*args, **kwargs)
        if rv or not strict or not policy.reported:
            return rv
        ids = ", ".join(f"{rid} x{n}" for rid, n in policy.reported.most_common())
        click.echo(f"irqsim: --strict: {policy.reported.total()} diagnostic(s) reported: "
                   f"{ids}", err=True)
        return EXIT_STRICT

    run = click.option(
        "--strict", is_flag=True,
        help="Exit with status 4, after printing the output, if the run reported any "
             "diagnostic (a rule broken) not named by --allow.")(run)
    run = click.option(
        "--allow", "allow", multiple=True, metavar="RULE", callback=_rule_ids,
        help="A diagnostic rule id (see `irqsim rules`) to count but not report and not "
             "treat as an error under --strict; repeatable.")(run)
    return run  # type: ignore[return-value]
