"""Latency records: device event to handler entry, with per-stage breakdown."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from irqsim.fabric.tlp import Tlp

STAGES = ("device", "fabric", "root complex+IOMMU+msg", "LAPIC wait", "CPU entry")
STAGE_DOCS = {
    "device": "event detection + table read + TLP generation",
    "fabric": "link queueing, serialization and hops to the root complex",
    "root complex+IOMMU+msg": "root complex processing, IOMMU, message to the LAPIC",
    "LAPIC wait": "IRR set until INTA (LAPIC delivery plus any IF/TPR/ISR blocking)",
    "CPU entry": "acceptance, context save and handler dispatch",
}


def percentile(sorted_vals: list[int], p: float) -> int:
    """Nearest-rank percentile of a sorted list."""
    if not sorted_vals:
        return 0
    k = max(0, min(len(sorted_vals) - 1, math.ceil(p / 100 * len(sorted_vals)) - 1))
    return sorted_vals[k]


class LatencyRecorder:
    """Per source: list of (total, stage durations...) for every handled interrupt."""

    __slots__ = ("rows",)

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple[int, ...]]] = defaultdict(list)

    def record(self, tlp: Tlp, t_accept: int, t_entry: int, cpu: int, vector: int) -> None:
        src = tlp.source.split("/")[0]
        self.rows[src].append((
            t_entry - tlp.t_event,
            tlp.t_send - tlp.t_event,
            tlp.t_rc - tlp.t_send,
            tlp.t_lapic - tlp.t_rc,
            t_accept - tlp.t_lapic,
            t_entry - t_accept,
        ))

    def summary(self) -> dict[str, dict[str, object]]:
        """Per source: count, min, median, p99, max and the median of each stage."""
        out: dict[str, dict[str, object]] = {}
        for src, rows in sorted(self.rows.items()):
            totals = sorted(r[0] for r in rows)
            stages = {}
            for i, name in enumerate(STAGES, start=1):
                stages[name] = percentile(sorted(r[i] for r in rows), 50)
            out[src] = {"count": len(rows), "min": totals[0], "median": percentile(totals, 50),
                        "p99": percentile(totals, 99), "max": totals[-1], "stages": stages}
        return out
