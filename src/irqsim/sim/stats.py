"""Latency records: device event to handler entry, with per-stage breakdown."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from irqsim.fabric.tlp import Tlp

STAGES = ("device", "fabric", "root complex+IOMMU+msg", "I/O APIC", "LAPIC wait", "CPU entry",
          "handler chaining")
STAGE_DOCS = {
    "device": "event detection + table/capability read + TLP (or INTx message) generation",
    "fabric": "link queueing, serialization and hops (switches included) to the root complex",
    "root complex+IOMMU+msg": "root complex processing, IOMMU, message to the LAPIC (INTx: "
                              "root complex to I/O APIC and I/O APIC to LAPIC)",
    "I/O APIC": "INTx only: RTE processing, plus any wait on Remote IRR or a mask",
    "LAPIC wait": "IRR set until INTA (LAPIC delivery plus any IF/TPR/ISR blocking)",
    "CPU entry": "acceptance, context save and handler dispatch",
    "handler chaining": "shared line: the handlers run before the one that claims it "
                        "(their status reads)",
}

# Given a device slot, the device name and the INTx stamps of its serviced interrupt.
Origin = Callable[[str], "tuple[str, Tlp] | None"]


def percentile(sorted_vals: list[int], p: float) -> int:
    """Nearest-rank percentile of a sorted list."""
    if not sorted_vals:
        return 0
    k = max(0, min(len(sorted_vals) - 1, math.ceil(p / 100 * len(sorted_vals)) - 1))
    return sorted_vals[k]


class LatencyRecorder:
    """Per source: list of (total, stage durations...) for every handled interrupt."""

    __slots__ = ("origin", "rows")

    def __init__(self, origin: Origin | None = None) -> None:
        """``origin``: maps a PCI slot to its device's last INTx stamps (the board's)."""
        self.rows: dict[str, list[tuple[int, ...]]] = defaultdict(list)
        self.origin = origin

    def record(self, tlp: Tlp, t_accept: int, t_entry: int, cpu: int, vector: int) -> None:
        """At handler entry (the CPU calls this); I/O APIC messages wait for the claim."""
        if tlp.claim:
            return
        src = tlp.source.split("/")[0]
        self.rows[src].append((
            t_entry - tlp.t_event,
            tlp.t_send - tlp.t_event,
            tlp.t_rc - tlp.t_send,
            tlp.t_lapic - tlp.t_rc,
            0,
            t_accept - tlp.t_lapic,
            t_entry - t_accept,
            0,
        ))

    def record_claim(self, msg: Tlp, slot: str, t_accept: int, t_entry: int,
                     t_claim: int) -> None:
        """A shared-line handler claimed the interrupt ``msg`` delivered: latency from the
        claiming device's own event (``slot``; else ``msg``'s) to that handler's entry.

        Stage boundaries come from the device's stamps and the message's path; a stamp
        earlier than the one before it (a sharer whose event came after the line was
        already asserted) is clamped, so its wait falls in the stage where it happened.
        """
        found = self.origin(slot) if self.origin is not None and slot else None
        if found is not None:
            name, own = found
            t_event, t_send = own.t_event, own.t_send
        else:
            name = msg.source.split("/")[0]
            t_event, t_send = msg.t_event, msg.t_send
        marks = [t_event, t_send, msg.t_rc, msg.t_ioapic, msg.t_ioapic_out, msg.t_lapic,
                 t_accept, t_entry, t_claim]
        for i in range(1, len(marks)):
            if marks[i] < marks[i - 1]:
                marks[i] = marks[i - 1]
        d = [marks[i + 1] - marks[i] for i in range(len(marks) - 1)]
        # d: device, fabric, rc->ioapic, I/O APIC, ioapic->lapic, LAPIC wait, CPU entry, chain
        self.rows[name].append((marks[-1] - marks[0], d[0], d[1], d[2] + d[4], d[3], d[5],
                                d[6], d[7]))

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
