"""Trace kinds as a typed table (issue 9 item 2): every kind emitted is a ``TraceKind``, and the
Mermaid view's arrow text comes from the table's label templates (seeds 000/001 wording)."""

from __future__ import annotations

import ast
import importlib
import pkgutil

import pytest

import irqsim
from helpers import module_source
from irqsim.fabric.tlp import INTX_NAMES
from irqsim.scenarios import ScenarioOptions, load_all
from irqsim.sim.kinds import TraceKind
from irqsim.sim.trace import TraceEvent
from irqsim.views.mermaid import label

KINDS = {k.value for k in TraceKind}


def _emit_kinds() -> list[tuple[str, int, ast.expr]]:
    out = []
    for info in pkgutil.walk_packages(irqsim.__path__, "irqsim."):
        mod = importlib.import_module(info.name) if not info.name.endswith("__main__") else None
        text = module_source(mod) if mod is not None else None
        if text is None:
            continue                # (a C extension, the engine's native heap: no Python)
        if ".emit(" not in text and "shape(" not in text:
            continue
        tree = ast.parse(text)
        out += [(info.name, n.lineno, n.args[3]) for n in ast.walk(tree)
                if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                and n.func.attr == "emit" and len(n.args) >= 4]
        # a hot call site's shape, declared at module level: shape(kind, *names)
        out += [(info.name, n.lineno, n.args[0]) for n in ast.walk(tree)
                if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                and n.func.id == "shape" and n.args]
    return out


def test_every_emit_call_site_names_a_kind_of_the_table() -> None:
    """A literal kind at a ``tracer.emit`` call or in a ``shape`` declaration (the hot call
    sites' ``emitN``) is in TraceKind; a computed one is an INTx message name (fabric/tlp.py
    INTX_NAMES), all of which are in the table."""
    sites = _emit_kinds()
    assert len(sites) >= 45
    for mod, line, arg in sites:
        if isinstance(arg, ast.Constant):
            assert arg.value in KINDS, f"{mod}:{line}: trace kind {arg.value!r} not in TraceKind"
        else:
            assert "INTX_NAMES" in ast.unparse(arg), f"{mod}:{line}: computed trace kind"
    assert set(INTX_NAMES.values()) <= KINDS


@pytest.mark.parametrize("name", ["mixed", "ipi"])
def test_every_kind_a_run_emits_is_in_the_table(name: str) -> None:
    """At run time too (MSI-X, MSI, INTx, I/O APIC, IPIs, NMIs): no kind outside the table."""
    res = load_all()[name][1](ScenarioOptions(requests=5, trace=True))
    kinds = {e.kind for e in res.machine.ctx.tracer.events}
    assert kinds and kinds <= KINDS, kinds - KINDS


def ev(kind: str, **fields: object) -> TraceEvent:
    return TraceEvent(0, "a", "b", kind, dict(fields))


def test_labels_come_from_the_table_templates() -> None:
    """Seed 000/001 arrow texts, with the conditional parts of the templates."""
    assert TraceKind("irr-set") is TraceKind.IRR_SET and TraceKind.IRR_SET == "irr-set"
    assert label(ev("irr-set", vector=0x41)) == "Decode message, place vector 0x41 in IRR"
    assert label(ev("msix-sample", entry=2, masked=False)) == \
        "Read table entry 2, check mask: not masked"
    assert label(ev("msix-sample", entry=2, masked=True)).endswith("check mask: masked")
    assert label(ev("MWr", address=0xFEE00000, data=0x4021, requester=8, source="x")) == \
        "Post Memory Write (fire-and-forget) Addr=0xfee00000 Data=0x4021"
    assert label(ev("MWr", address=0x1000, length=64, source="x")) == \
        "Post Memory Write (DMA) Addr=0x1000 len=64"
    assert label(ev("Assert_INTB", swizzled="INTA->INTB", gsi=17, shared=2)) == \
        "Assert_INTB message (INTA->INTB) to GSI 17 (2 asserting)"
    assert label(ev("Deassert_INTA")) == "Deassert_INTA message"
    assert label(ev("ioapic-eoi", vector=0x30, pin=4, asserted=True)) == \
        "EOI vector 0x30: clear Remote IRR of RTE 4 (line still asserted: deliver again)"
    assert label(ev("diagnostic", rule="SDM 10.6.1", rule_id="LAPIC-ICR-INVALID",
                    message="not sent")) == "Diagnostic LAPIC-ICR-INVALID: not sent"
    assert label(ev("nmi", vector=2)) == "nmi vector=2"          # no template: generic
