"""``irqsim export-config``: simulated devices' configuration space as ``lspci -xxx`` text."""

from __future__ import annotations

from pathlib import Path

import click

from irqsim.commands.options import (
    DEFAULT_BUDGETS,
    check_writable,
    diag_options,
    write_output,
)


@click.command("export-config")
@click.option("--scenario", default="seed002", show_default=True,
              help="Scenario whose machine is built and booted (see `irqsim demo "
                   "--list-scenarios`).")
@click.option("--size", type=click.Choice(["64", "256", "4096"]), default="256",
              show_default=True, help="Bytes per function, as lspci -x, -xxx, -xxxx.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to FILE (readable by `lspci -F FILE`).")
@diag_options
def command(scenario: str, size: str, out: Path | None) -> None:
    """Print every function of a booted scenario machine in lspci's hex format."""
    from irqsim.scenarios import ScenarioOptions, load_all
    from irqsim.views.export import lspci_hex
    scenarios = load_all()
    if scenario not in scenarios:
        raise click.BadParameter(f"unknown scenario {scenario!r} (choose from "
                                 f"{', '.join(scenarios)})", param_hint="'--scenario'")
    check_writable(out, "--out")
    with DEFAULT_BUDGETS["export-config"].active():
        res = scenarios[scenario][1](ScenarioOptions(requests=1, trace=False))
    text = "".join(lspci_hex(fn, int(size)) for fn in res.machine.rc.functions())
    if out is not None:
        write_output(out, text, "--out")
        click.echo(f"wrote {out}")
    else:
        click.echo(text, nl=False)
