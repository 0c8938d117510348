"""``irqsim scenarios list|export``: the built-in scenarios, and each as an experiment file."""

from __future__ import annotations

from pathlib import Path

import click

from irqsim.commands.options import SEED, finite_gap, write_output


@click.group("scenarios")
def command() -> None:
    """The built-in scenarios: list them, or export one as an experiment file."""


@command.command("list")
def list_() -> None:
    """One line per built-in scenario: its name and what it shows."""
    from irqsim.scenarios import load_all
    for name, (desc, _) in load_all().items():
        click.echo(f"{name:<16} {desc}")


@command.command("export")
@click.argument("name")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the file here instead of standard output.")
@click.option("--requests", type=click.IntRange(1, 1_000_000), default=200, show_default=True,
              help="As `irqsim demo --requests`.")
@click.option("--gap-ns", type=float, default=20_000.0, show_default=True, callback=finite_gap,
              help="As `irqsim demo --gap-ns`.")
@click.option("--seed", type=SEED, default=1, show_default=True, help="As `irqsim demo --seed`.")
def export(name: str, out: Path | None, requests: int, gap_ns: float, seed: int) -> None:
    """Write built-in scenario NAME as an experiment file (TOML): `irqsim run` on it gives
    the output of `irqsim demo --scenario NAME` with the same options."""
    from irqsim.experiments.export import export_scenario
    from irqsim.scenarios import load_all
    names = load_all()
    if name not in names:
        raise click.BadParameter(f"unknown scenario {name!r} (choose from {', '.join(names)})",
                                 param_hint="'NAME'")
    text = export_scenario(name, requests, gap_ns, seed)
    if out is None:
        click.echo(text, nl=False)
    else:
        write_output(out, text, "--out")
        click.echo(f"wrote {out}")


@command.command("schema")
def schema() -> None:
    """Print the experiment file format (version 1) as JSON Schema, for editors that
    validate TOML against one ([scenario]: one schema per built-in scenario, chosen by
    its name, with the scenario's knobs and their help)."""
    import json

    from irqsim.experiments.schema import ExperimentFile, scenario_params_model
    from irqsim.scenarios import load_all
    doc = ExperimentFile.model_json_schema()
    defs = doc.setdefault("$defs", {})
    choices = []
    for name in sorted(load_all()):
        sub = scenario_params_model(name).model_json_schema()
        defs.update(sub.pop("$defs", {}))
        sub["properties"]["name"] = {"const": name, "title": "Name"}
        key = f"Scenario_{name.replace('-', '_')}"
        defs[key] = sub
        choices.append({"$ref": f"#/$defs/{key}"})
    doc["properties"]["scenario"] = {"anyOf": [{"oneOf": choices}, {"type": "null"}],
                                     "default": None, "title": "Scenario"}
    click.echo(json.dumps(doc, indent=1))
