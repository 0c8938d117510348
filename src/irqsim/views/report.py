"""The demo's outputs (text, mermaid, json), all views of one finished run."""

from __future__ import annotations

import io
import json
from typing import IO, Any

from rich.console import Console
from rich.table import Table

from irqsim.os.vectors import (
    CALL_FUNCTION_VECTOR,
    ERROR_APIC_VECTOR,
    LOCAL_TIMER_VECTOR,
    RESCHEDULE_VECTOR,
    SPURIOUS_APIC_VECTOR,
)
from irqsim.scenarios import ScenarioResult
from irqsim.sim.stats import STAGE_DOCS, STAGES
from irqsim.sim.trace import Tracer
from irqsim.spec.modes import IrqMode
from irqsim.views.mermaid import sequence_diagram, setup_and_one_delivery
from irqsim.views.procfs import mpstat, proc_interrupts


def system_rows(res: ScenarioResult) -> list[tuple[str, list[int], str]]:
    k = res.machine.kernel
    return [(name, list(counts), desc) for name, (counts, desc) in k.system_counters.items()]


# The vector behind each /proc/interrupts system row (TLB shootdowns arrive as
# CALL_FUNCTION; ERR and SPU are the LAPIC's error and spurious vectors; NMI is vector 2).
SYSTEM_ROW_VECTORS = {"LOC": LOCAL_TIMER_VECTOR, "RES": RESCHEDULE_VECTOR,
                      "CAL": CALL_FUNCTION_VECTOR, "TLB": CALL_FUNCTION_VECTOR,
                      "ERR": ERROR_APIC_VECTOR, "SPU": SPURIOUS_APIC_VECTOR, "NMI": 2}


def interrupts_json(res: ScenarioResult) -> list[dict[str, Any]]:
    """Every row the text /proc/interrupts shows, one entry per CPU that counted it (device
    rows also on their target CPU; system rows such as LOC and RES on CPU 0 when all zero)."""
    rows = []
    for r in res.machine.kernel.interrupt_rows():
        for cpu, count in enumerate(r["counts"]):
            if count or cpu == r["cpu"]:
                rows.append({"irq": r["irq"], "device": r["name"], "slot": r["device"],
                             "chip": r["chip"], "vector": r["vector"], "cpu": cpu,
                             "count": count})
    for name, counts, text in system_rows(res):
        for cpu, count in enumerate(counts):
            if count or (cpu == 0 and not any(counts)):
                rows.append({"irq": name, "device": text, "slot": "", "chip": "",
                             "vector": SYSTEM_ROW_VECTORS.get(name), "cpu": cpu,
                             "count": count, "system": True})
    return rows


def as_json(res: ScenarioResult) -> dict[str, Any]:
    m = res.machine
    rec = m.recorder.summary() if m.recorder else {}
    return {
        "scenario": res.title,
        "simulated_ns": m.now,
        "interrupts": interrupts_json(res),
        "latency_ns": {src: {"count": s["count"], "min": s["min"], "median": s["median"],
                             "p99": s["p99"], "max": s["max"], "stages": s["stages"]}
                       for src, s in rec.items()},
        "accounting": m.accounting(),
        "cpu_time_ns": [{"cpu": i, **t} for i, t in enumerate(m.cpu_time())],
        "diagnostics": [d.as_dict() for d in m.ctx.diagnostics],
        "diagnostics_suppressed": [{"block": b, "rule_id": r, "count": n}
                                   for (b, r), n in m.ctx.suppressed().items()],
        "diagnostics_allowed": m.ctx.allowed(),
        "timing_model": m.ctx.timing.as_dict(),
        **res.extra,
    }


# The set-up title names the mechanisms in this order (IrqMode labels).
MODE_NAMES = {m.value: m.label for m in (IrqMode.MSIX, IrqMode.MSI, IrqMode.INTX)}


def setup_title(res: ScenarioResult) -> str:
    """The set-up diagram's title, naming the mechanisms the devices were given."""
    modes = {p.irq_mode for p in res.machine.kernel.devices}
    used = [name for mode, name in MODE_NAMES.items() if mode in modes]
    names = ", ".join(used[:-1]) + " and " + used[-1] if len(used) > 1 else \
        (used[0] if used else "interrupt")
    return f"Initialization (enumeration and {names} set-up)"


def as_mermaid(res: ScenarioResult) -> str:
    events = res.machine.ctx.tracer.events
    setup, delivery = setup_and_one_delivery(events, res.focus_device)
    title = res.extra.get("mermaid_title") or setup_title(res)
    parts = [sequence_diagram(setup, title)]
    if delivery:
        parts.append(sequence_diagram(delivery, f"One interrupt from {res.focus_device}"))
    return "\n\n".join(parts)


def _latency_tables(con: Console, rec: dict[str, dict[str, Any]]) -> None:
    t = Table(title="Latency: device event to handler entry (ns)", title_justify="left")
    for col in ("device", "count", "min", "median", "p99", "max"):
        t.add_column(col, justify="left" if col == "device" else "right")
    for src, s in rec.items():
        t.add_row(src, *(str(s[c]) for c in ("count", "min", "median", "p99", "max")))
    con.print(t)
    b = Table(title="Per-stage breakdown (median ns)", title_justify="left")
    b.add_column("stage")
    for src in rec:
        b.add_column(src, justify="right")
    b.add_column("what it covers")
    for st in STAGES:
        if st in OPTIONAL_STAGES and not any(rec[src]["stages"][st] for src in rec):
            continue
        b.add_row(st, *(str(rec[src]["stages"][st]) for src in rec), STAGE_DOCS[st])
    con.print(b)


def as_text(res: ScenarioResult, mermaid: bool = True) -> str:
    m = res.machine
    buf = io.StringIO()
    con = Console(file=buf, width=110, no_color=True, highlight=False)
    con.print(f"irqsim: {res.title}", markup=False)
    con.print(f"simulated time {m.now} ns, {m.engine.events_run} events\n")
    if mermaid:
        con.print(as_mermaid(res), markup=False)
        con.print()
    con.print("/proc/interrupts", markup=False)
    con.print(proc_interrupts(m.kernel.interrupt_rows(), len(m.cpus), system_rows(res)),
              markup=False, soft_wrap=True)
    con.print()
    rec = m.recorder.summary() if m.recorder else {}
    if rec:
        _latency_tables(con, rec)
    else:
        con.print("no device interrupts: no device latency to report", markup=False)
    con.print("\nCPU time (mpstat -P ALL; %sys is kernel code run outside interrupts)",
              markup=False)
    con.print(mpstat(m.cpu_time()), markup=False, soft_wrap=True)
    acc = m.accounting()
    con.print(f"accounting: raised {acc['raised']} = delivered {acc['delivered']} + merged "
              f"{acc['merged']} + dropped {sum(acc['dropped'].values())} + pending "
              f"(PBA {acc['pending']['pba']}, IRR {acc['pending']['irr']}"
              f"{_more_pending(acc['pending'])}) + in flight "
              f"{acc['in_flight']}: {'balanced' if acc['balanced'] else 'NOT BALANCED'}",
              markup=False, soft_wrap=True)
    if acc["dropped"]:
        con.print("dropped: " + ", ".join(f"{k}={v}" for k, v in acc["dropped"].items()),
                  markup=False)
    for note in res.notes:
        con.print(note, markup=False, soft_wrap=True)
    if m.ctx.diagnostics:
        con.print(f"\ndiagnostics ({len(m.ctx.diagnostics)}):", markup=False)
        for d in m.ctx.diagnostics[:50]:
            con.print(f"  {d}", markup=False, soft_wrap=True)
        for (block, rid), n in m.ctx.suppressed().items():
            con.print(f"  ... {n} more from {block} ({rid}) not kept", markup=False)
    else:
        con.print("diagnostics: none (no rule broken)", markup=False)
    for rid, n in m.ctx.allowed().items():
        con.print(f"  allowed (--allow, not reported): {rid} x{n}", markup=False)
    return buf.getvalue()


OPTIONAL_STAGES = ("I/O APIC", "handler chaining")
PENDING_NAMES = {"nmi": "NMI latched", "msi": "MSI Pending bits", "intx": "INTx held",
                 "ioapic": "I/O APIC held"}


def _more_pending(pending: dict[str, int]) -> str:
    """The pending kinds beyond PBA and IRR that are non-zero."""
    return "".join(f", {PENDING_NAMES.get(k, k)} {v}" for k, v in pending.items()
                   if k not in ("pba", "irr") and v)


# Deliveries the text and mermaid views keep in the trace (then sample for one undisturbed
# delivery per device): the diagram shows the set-up and the first undisturbed delivery
# from the scenario's device, found among these.
KEEP_DELIVERIES = 100
SAMPLE_DELIVERIES = 100_000


def tracer_for(fmt: str, sink: IO[str] | None = None) -> Tracer | bool:
    """The trace ``fmt`` needs: the set-up and the first deliveries for the diagrams (text,
    mermaid), nothing for json; every event also goes to ``sink`` if given."""
    if fmt == "json" and sink is None:
        return False
    keep = 0 if fmt == "json" else None
    return Tracer(on=True, limit=keep, keep_deliveries=KEEP_DELIVERIES,
                  sample_deliveries=SAMPLE_DELIVERIES, sink=sink)


def render(res: ScenarioResult, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(as_json(res), indent=2)
    if fmt == "mermaid":
        return as_mermaid(res)
    return as_text(res)
