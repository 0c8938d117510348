"""``irqsim run-guest``: run real x86-64 code (a kvm-unit-tests image or a flat routine) on an
irqsim machine with the Unicorn front-end (``pip install 'irqsim[guest]'``)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import click

from irqsim.commands.options import UsageFailure, diag_options

SCENARIOS = ("bare", "seed002")


def _features(ctx: click.Context, param: click.Parameter, value: str) -> Any:
    from irqsim.guest.cpuid import CpuFeatures
    try:
        return CpuFeatures.parse(value or "")
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _address(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        a = int(value, 0)
    except ValueError:
        raise click.BadParameter(f"not an address: {value!r}") from None
    if not 0 <= a < 1 << 32:
        raise click.BadParameter(f"{value} is not a 32-bit physical address")
    return a


@click.command("run-guest")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--cpus", type=click.IntRange(1, 64), default=1, show_default=True,
              help="CPUs (the BSP runs FILE; the others wait for INIT/SIPI).")
@click.option("--cpu-features", "features", default="", callback=_features,
              help="Guest-visible CPU features, e.g. +x2apic,-tsc-deadline.")
@click.option("--scenario", type=click.Choice(SCENARIOS), default="bare", show_default=True,
              help="Devices on the (unbooted) machine: none, or seed 002's virtio devices.")
@click.option("--until", "until_ns", type=click.IntRange(1), default=None,
              help="Stop at this simulated instant (ns).")
@click.option("--max-instructions", type=click.IntRange(1), default=2_000_000_000,
              show_default=True, help="Stop after this many guest instructions.")
@click.option("--env", "env", multiple=True, help="KEY=VALUE for the guest's environment "
              "(kvm-unit-tests reads it from its initrd), repeatable.")
@click.option("--flat", "flat", callback=_address, default=None,
              help="FILE is a flat 64-bit binary: load it at this address and enter it there.")
@click.option("--vm-exits/--bare-metal", default=False, show_default=True,
              help="Time I/O APIC MMIO and EOI as a KVM guest's VM exits (kvm-unit-tests "
                   "assume them; docs/guest.md).")
@click.option("--pic", is_flag=True, help="Build the machine with the 8259 pair and ISA IRQ "
              "lines (Machine(pic=True)): the guest can take ExtINT through LINT0.")
@click.option("--exact", is_flag=True, help="Sample interrupts after every instruction "
              "(a hook per instruction; slower).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "mermaid"]), default="text",
              show_default=True)
@diag_options
def command(file: Path, cpus: int, features: Any, scenario: str, until_ns: int | None,
            max_instructions: int, env: tuple[str, ...], flat: int | None, vm_exits: bool,
            pic: bool, exact: bool, fmt: str) -> int:
    """Run FILE (a multiboot ELF such as kvm-unit-tests' apic.flat, or --flat a routine) and
    print its console, then what irqsim saw: interrupts, diagnostics, the accounting.

    The exit status is the guest's (0 when it exits successfully through the debug-exit
    port, as QEMU's isa-debug-exit reports 1 for a guest exit code 0), 1 when it never exits.
    """
    from irqsim.guest import GuestError, available
    if not available():
        raise UsageFailure("run-guest needs the Unicorn extra: pip install 'irqsim[guest]'")
    from irqsim.guest.cpu import GuestCpu
    from irqsim.guest.runner import GuestOptions, GuestRun
    for item in env:
        if "=" not in item:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--env")
    opts = GuestOptions(cpus=cpus, features=features, until_ns=until_ns,
                        max_instructions=max_instructions, env="\n".join(env),
                        flat_address=flat, exact=exact, vm_exits=vm_exits, pic=pic,
                        trace=fmt == "mermaid")
    machine = None
    if scenario == "seed002":
        from irqsim.scenarios.seed002 import build_seed002
        machine, _ = build_seed002(trace=opts.trace, cpu_class=GuestCpu,
                                   cpus=features.options(cpus))
    try:
        run = GuestRun(file, opts, machine)
        res = run.run()
    except GuestError as exc:
        raise UsageFailure(str(exc)) from None
    report = summary(run, res)
    if fmt == "json":
        click.echo(json.dumps(report, indent=2))
    elif fmt == "mermaid":
        from irqsim.views.mermaid import sequence_diagram
        click.echo(sequence_diagram(run.machine.ctx.tracer.events[:400],
                                    f"{file.name} on irqsim"))
    else:
        click.echo(res.console, nl=False)
        click.echo(text(report))
    # QEMU's isa-debug-exit: (code << 1) | 1; kvm-unit-tests exit(0) -> status 1 -> success.
    return 0 if res.exit_code == 1 else 1


def summary(run: Any, res: Any) -> dict[str, Any]:
    """The run as data (the JSON output)."""
    m = run.machine
    per_cpu = []
    for ex in run.executors:
        per_cpu.append({"cpu": ex.cpu.index, "apic_id": ex.cpu.lapic.initial_id,
                        "instructions": ex.instructions, "interrupts": ex.delivered,
                        "vectors": {str(v): n for v, n in sorted(ex.vectors.items())},
                        "nmis": ex.cpu.nmi_count, "exceptions": ex.exceptions,
                        "warps": ex.warps, "state": ex.cpu.state})
    summary_line = next((ln for ln in res.console.splitlines() if ln.startswith("SUMMARY")),
                        None)
    counts = Counter(ln.split(":")[0] for ln in res.console.splitlines()
                     if ln.startswith(("PASS:", "FAIL:", "SKIP:", "XFAIL:")))
    return {
        "file": run.file, "console": res.console, "exit_code": res.exit_code,
        "status": res.status, "summary": summary_line, "reports": dict(counts),
        "simulated_ns": res.sim_ns, "instructions": res.instructions,
        "cpus": per_cpu, "accounting": m.accounting(),
        "latency_ns": {src: {k: v[k] for k in ("count", "min", "median", "p99", "max")}
                       for src, v in (m.recorder.summary() if m.recorder else {}).items()},
        "diagnostics": [{"time_ns": d.time, "block": d.block,
                         "rule_id": getattr(d, "rule_id", ""), "spec": d.rule,
                         "message": d.message} for d in m.ctx.diagnostics],
        "faults": [{"cpu": c.index, "time_ns": f.time, "vector": f.vector, "name": f.name,
                    "rule": f.rule, "message": f.message} for c in m.cpus for f in c.faults],
    }


def text(report: dict[str, Any]) -> str:
    lines = ["", f"-- irqsim: {report['status']}; exit code {report['exit_code']}; "
                 f"{report['instructions']:,} instructions; {report['simulated_ns']:,} ns "
                 f"simulated"]
    if report["summary"]:
        lines.append(f"   {report['summary']}")
    for c in report["cpus"]:
        vec = ", ".join(f"{v}x{n}" for v, n in c["vectors"].items()) or "none"
        lines.append(f"   CPU{c['cpu']} (APIC ID {c['apic_id']}, {c['state']}): "
                     f"{c['instructions']:,} instructions, interrupts by vector: {vec}; "
                     f"NMIs {c['nmis']}, exceptions {c['exceptions']}, warps {c['warps']}")
    for src, v in report["latency_ns"].items():
        lines.append(f"   latency {src} (device event to handler entry, ns): count {v['count']},"
                     f" min {v['min']}, median {v['median']}, p99 {v['p99']}, max {v['max']}")
    acc = report["accounting"]
    lines.append("   accounting: " + ", ".join(f"{k} {v}" for k, v in acc.items()
                                                if not isinstance(v, dict)))
    if report["faults"]:
        lines.append(f"   faults irqsim raised ({len(report['faults'])}):")
        lines += [f"     CPU{f['cpu']} [{f['time_ns']} ns] {f['name']}: {f['message']} "
                  f"({f['rule']})" for f in report["faults"][:20]]
    if report["diagnostics"]:
        lines.append(f"   diagnostics ({len(report['diagnostics'])}):")
        lines += [f"     [{d['time_ns']} ns] {d['block']}: {d['message']} "
                  f"({(d['rule_id'] + ', ') if d['rule_id'] else ''}{d['spec']})"
                  for d in report["diagnostics"][:30]]
    return "\n".join(lines)
