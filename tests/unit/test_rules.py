"""The diagnostic rule registry (issue 9 item 2): every rule is declared once with a stable id,
a specification citation and a text; every ``ctx.diag`` call site names a registered rule."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from types import ModuleType

import pytest

import irqsim
from helpers import module_source
from irqsim.sim.context import SimContext
from irqsim.sim.rules import RULES, Rule, rule

ID = re.compile(r"^[A-Z0-9]+(-[A-Z0-9]+)+$")
# The blocks rule ids are prefixed by (common.md); a new block adds its prefix here.
PREFIXES = {"ACPI", "APIC", "CPU", "IOAPIC", "IOMMU", "IRQ", "LAPIC", "MSI", "MSIX", "NAPI", "NET",
            "NIC", "NVME", "OS", "PCI", "PIC", "PIT", "RTC", "SRIOV", "VIRT", "VIRTIO", "VM", "VMX",
            "VTD"}


def all_modules() -> list[ModuleType]:
    """Every irqsim module, imported (so every module-level rule is registered)."""
    mods = [irqsim]
    for info in pkgutil.walk_packages(irqsim.__path__, "irqsim."):
        if info.name.endswith("__main__"):
            continue
        mods.append(importlib.import_module(info.name))
    return mods


MODULES = all_modules()


def test_every_rule_has_an_id_a_citation_and_a_text() -> None:
    """Issue 9 item 2: a rule is (stable id, spec citation, text); ids are upper-case,
    dash-separated and prefixed by the block."""
    assert len(RULES) >= 60
    for rid, r in RULES.items():
        assert r.id == rid and ID.match(rid), rid
        assert rid.split("-")[0] in PREFIXES, f"{rid}: unknown block prefix (add it to PREFIXES)"
        assert r.spec.strip() and r.text.strip(), rid


def test_an_id_declared_twice_with_other_content_is_refused() -> None:
    """Ids are unique: a second declaration must be the same rule (registry is id -> rule)."""
    r = next(iter(RULES.values()))
    assert rule(r.id, r.spec, r.text) == r
    with pytest.raises(ValueError, match=r.id):
        rule(r.id, r.spec + " (other)", r.text)


def _diag_rule_args(mod: ModuleType) -> list[tuple[int, ast.expr]]:
    text = module_source(mod)
    if text is None:
        return []                   # a C extension (the engine's native heap): no Python
    if ".diag(" not in text:
        return []
    tree = ast.parse(text)
    return [(n.lineno, n.args[1]) for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
            and n.func.attr == "diag" and len(n.args) >= 2]


def test_every_diag_call_site_names_a_registered_rule() -> None:
    """Every ``.diag(block, R, message)`` in the package passes a module-level Rule that is in
    the registry (a parameter named ``rule`` is a Rule passed through, typed by mypy)."""
    seen = 0
    registered = set(RULES.values())
    for mod in MODULES:
        for line, arg in _diag_rule_args(mod):
            seen += 1
            where = f"{mod.__name__}:{line}"
            assert isinstance(arg, ast.Name), f"{where}: rule must be a declared name"
            if arg.id == "rule":
                continue
            value = getattr(mod, arg.id, None)
            assert isinstance(value, Rule) and value in registered, where
    assert seen >= 70


def test_diagnostics_carry_the_id_and_are_rate_limited_per_block_and_id() -> None:
    """The id appears in the text form and the JSON object; the ratelimit key is
    (block, rule id), as printk's ratelimit per call site."""
    ctx = SimContext()
    r = RULES["LAPIC-ICR-INVALID"]
    for _ in range(ctx.diag_keep + 5):
        ctx.diag("LAPIC0", r, "bad")
    ctx.diag("LAPIC1", r, "bad")
    assert ctx.diagnostic_counts()[("LAPIC0", r.id)] == ctx.diag_keep + 5
    assert ctx.suppressed() == {("LAPIC0", r.id): 5}
    d = ctx.diagnostics[0]
    assert str(d) == "[0 ns] LAPIC0: bad (LAPIC-ICR-INVALID, SDM 10.6.1)"
    assert d.as_dict() == {"time_ns": 0, "block": "LAPIC0", "rule_id": "LAPIC-ICR-INVALID",
                           "spec": "SDM 10.6.1", "message": "bad"}
