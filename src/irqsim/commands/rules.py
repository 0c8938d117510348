"""``irqsim rules``: the diagnostic rule registry (id, specification citation, text)."""

from __future__ import annotations

import json

import click

from irqsim.sim.rules import load_rules


@click.command("rules")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True,
              help="text: one rule a line (id, citation, text); json: a list of objects "
                   "{id, spec, text}.")
def command(fmt: str) -> None:
    """List every diagnostic rule: the ids --allow takes and JSON diagnostics carry."""
    rules = sorted(load_rules().values(), key=lambda r: r.id)
    if fmt == "json":
        click.echo(json.dumps([{"id": r.id, "spec": r.spec, "text": r.text} for r in rules],
                              indent=2))
        return
    width = max(len(r.id) for r in rules)
    for r in rules:
        click.echo(f"{r.id:<{width}}  {r.spec}: {r.text}")
