"""The diagnostic rule registry: every rule software can break, declared once.

A :class:`Rule` has a stable id (what tests, JSON output and ``--allow``/``--strict``
match), the specification section it comes from, and one line saying what the rule is.
Modules declare their rules at import time with :func:`rule` next to the code that checks
them; ``RULES`` maps id -> rule for listings and filters.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RULES", "Rule", "rule"]


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
