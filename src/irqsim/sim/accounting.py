"""The interrupt ledger: every interrupt raised is accounted for.

Invariant checked by the tests::

    raised == delivered + merged + dropped + pending + in_flight

``pending`` is read from the architectural registers (PBA, IRR) by the machine,
so the ledger cannot drift from the hardware state.
"""

from __future__ import annotations

from collections import Counter


class Ledger:
    """Counters of interrupt outcomes."""

    __slots__ = ("delivered", "dropped", "in_flight", "merged", "raised")

    def __init__(self) -> None:
        self.raised = 0
        self.delivered = 0
        self.merged = 0
        self.in_flight = 0
        self.dropped: Counter[str] = Counter()

    def drop(self, reason: str) -> None:
        """Count one interrupt dropped for ``reason``."""
        self.dropped[reason] += 1

    def as_dict(self) -> dict[str, object]:
        return {"raised": self.raised, "delivered": self.delivered, "merged": self.merged,
                "in_flight": self.in_flight, "dropped": dict(self.dropped)}
