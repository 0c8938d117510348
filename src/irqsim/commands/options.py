"""Option checks shared by the commands (this module defines no command)."""

from __future__ import annotations

import math
from typing import TextIO

import click

MAX_GAP_NS = 1e15


def finite_gap(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """A mean gap in simulated ns: a finite number > 0 (NaN and infinities refused)."""
    if value is None:
        return value
    if not math.isfinite(value) or value <= 0 or value > MAX_GAP_NS:
        raise click.BadParameter(f"must be a finite number of ns in (0, {MAX_GAP_NS:g}], "
                                 f"got {value}")
    return value


def open_output(path: object, option: str) -> TextIO:
    """Open ``path`` for writing; an unwritable path is a usage error (exit 2)."""
    from pathlib import Path
    try:
        return Path(str(path)).open("w")
    except OSError as e:
        err = click.ClickException(f"cannot write {option} {path}: {e.strerror or e}")
        err.exit_code = 2
        raise err from None


def write_output(path: object, text: str, option: str) -> None:
    """Write ``text`` to ``path``; an unwritable path is a usage error (exit 2)."""
    from pathlib import Path
    try:
        Path(str(path)).write_text(text)
    except OSError as e:
        err = click.ClickException(f"cannot write {option} {path}: {e.strerror or e}")
        err.exit_code = 2
        raise err from None
