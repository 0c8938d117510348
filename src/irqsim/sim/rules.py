"""The diagnostic rule registry: every rule software can break, declared once.

A :class:`Rule` has a stable id (what tests, JSON output and ``--allow``/``--strict``
match), the specification section it comes from, and one line saying what the rule is.
Modules declare their rules at import time with :func:`rule` next to the code that checks
them; ``RULES`` maps id -> rule for listings and filters.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

__all__ = ["RULES", "DiagPolicy", "Rule", "current_policy", "load_rules", "rule"]


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: stable ``id`` (upper-case, dash-separated), ``spec`` citation, ``text``."""

    id: str
    spec: str
    text: str

    def __str__(self) -> str:
        return f"{self.id} ({self.spec})"


RULES: dict[str, Rule] = {}


def rule(id: str, spec: str, text: str) -> Rule:
    """Declare (register) a rule; declaring the same id twice with other content is an error."""
    r = Rule(id, spec, text)
    old = RULES.get(id)
    if old is not None and old != r:
        raise ValueError(f"diagnostic rule {id!r} declared twice with different content")
    RULES[id] = r
    return r


def load_rules() -> dict[str, Rule]:
    """Import every irqsim module (rules are declared at import time) and return ``RULES``.

    The command-line modules are skipped (they declare no rule); a module whose optional
    extra is not installed is skipped too."""
    import irqsim
    for info in pkgutil.walk_packages(irqsim.__path__, "irqsim."):
        name = info.name
        if name.startswith(("irqsim.commands", "irqsim.cli", "irqsim.__main__")):
            continue
        try:
            importlib.import_module(name)
        except ImportError:
            continue
    return RULES


@dataclass(slots=True)
class DiagPolicy:
    """What a run does with diagnostics (``--allow``): ids in ``allow`` are counted but not
    kept, traced or reported; ``reported`` counts the others per id (what ``--strict`` trips
    on). Machines built while the policy is active (:meth:`active`) follow it."""

    allow: frozenset[str] = frozenset()
    reported: Counter[str] = field(default_factory=Counter)

    @contextmanager
    def active(self) -> Iterator[DiagPolicy]:
        """Make this the policy of the machines built inside the ``with`` block."""
        token = _POLICY.set(self)
        try:
            yield self
        finally:
            _POLICY.reset(token)


_POLICY: ContextVar[DiagPolicy | None] = ContextVar("irqsim_diag_policy", default=None)


def current_policy() -> DiagPolicy | None:
    """The diagnostic policy active here (None: report everything, count nothing extra)."""
    return _POLICY.get()
