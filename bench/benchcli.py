"""The benches' command line: click, as the tool's, with argparse's ``--opt A B`` lists kept."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click


def spread(args: Sequence[str], lists: Sequence[str]) -> list[str]:
    """``--opt A B`` (argparse ``nargs="+"``) as click's repeated ``--opt A --opt B``, for
    each option named in ``lists``; every other argument is kept as it is."""
    out: list[str] = []
    opt = None
    for a in args:
        if a.startswith("-"):
            opt = a if a in lists else None
            out.append(a)
        elif opt is not None and out[-1] != opt:
            out += [opt, a]
        else:
            out.append(a)
    return out


def run(command: click.Command, lists: Sequence[str] = ("--cpus",)) -> None:
    """Run ``command`` on ``sys.argv``, reading the options in ``lists`` as lists."""
    command.main(args=spread(sys.argv[1:], lists), prog_name=sys.argv[0])
