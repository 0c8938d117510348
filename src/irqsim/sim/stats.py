"""Latency records: device event to handler entry, with per-stage breakdown."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from irqsim.sim.probe import TracePoints

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

# Stamps of one interrupt, indexed by these positions.
EVENT, SEND, RC, IOAPIC_IN, IOAPIC_OUT, LAPIC, ACCEPT, NAME, CLAIM = range(9)


def percentile(sorted_vals: list[int], p: float) -> int:
    """Nearest-rank percentile of a sorted list."""
    if not sorted_vals:
        return 0
    k = max(0, min(len(sorted_vals) - 1, math.ceil(p / 100 * len(sorted_vals)) - 1))
    return sorted_vals[k]


class Histogram:
    """Exact counts of integer values: percentiles equal those of the sorted list, in
    memory that grows with the number of distinct values, not with the count."""

    __slots__ = ("counts", "n")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.n = 0

    def add(self, v: int) -> None:
        c = self.counts
        c[v] = c.get(v, 0) + 1
        self.n += 1

    @property
    def min(self) -> int:
        return min(self.counts) if self.counts else 0

    @property
    def max(self) -> int:
        return max(self.counts) if self.counts else 0

    def percentile(self, p: float) -> int:
        """Nearest-rank percentile, as :func:`percentile` of the sorted values."""
        if not self.n:
            return 0
        k = max(0, min(self.n - 1, math.ceil(p / 100 * self.n) - 1))
        seen = 0
        for v in sorted(self.counts):
            seen += self.counts[v]
            if seen > k:
                return v
        raise AssertionError("unreachable: counts sum to n")


class LatencyRecorder:
    """A probe: per source, histograms of the total and of each stage's duration.

    It subscribes to the machine's trace points and keeps the stamps of each interrupt id
    in flight until its handler is entered (or, for a line-based I/O APIC message, until a
    shared-line handler claims it); merged and dropped interrupts are forgotten.
    """

    __slots__ = ("_intx_cur", "_intx_keep", "_serviced", "_stash", "rows", "stamps")

    def __init__(self, points: TracePoints | None = None) -> None:
        self.rows: dict[str, list[Histogram]] = {}
        self.stamps: dict[int, list[Any]] = {}
        # INTx: per device slot, the interrupt id its condition carries and the one
        # software last cleared (serviced); their (name, event, send) stamps.
        self._intx_cur: dict[str, int] = {}
        self._serviced: dict[str, int] = {}
        self._intx_keep: dict[int, list[Any]] = {}
        self._stash: dict[int, tuple[int, list[Any], int]] = {}   # cpu -> entered I/O APIC msg
        if points is not None:
            self.attach(points)

    def attach(self, points: TracePoints) -> None:
        """Subscribe to every trace point the breakdown needs."""
        for name in ("event", "send", "root_complex", "ioapic_in", "ioapic_out", "irr_set",
                     "fork", "intx", "accept", "handler_entry", "claim", "settled"):
            getattr(points, name).subscribe(getattr(self, "_" + name))

    def _get(self, iid: int) -> list[Any]:
        st = self.stamps.get(iid)
        if st is None:
            st = self.stamps[iid] = [0, 0, 0, 0, 0, 0, 0, "", False]
        return st

    # -- trace point subscribers -----------------------------------------------------------
    def _event(self, iid: int, t: int, device: str) -> None:
        st = self._get(iid)
        st[EVENT] = st[SEND] = t
        st[NAME] = device

    def _send(self, iid: int, t: int) -> None:
        self._get(iid)[SEND] = t

    def _root_complex(self, iid: int, t: int) -> None:
        self._get(iid)[RC] = t

    def _ioapic_in(self, iid: int, t: int) -> None:
        self._get(iid)[IOAPIC_IN] = t

    def _ioapic_out(self, iid: int, t: int, own: str) -> None:
        st = self._get(iid)
        if own:                     # raised by the I/O APIC: no device event
            st[EVENT] = st[SEND] = t
            st[RC] = st[IOAPIC_IN] = 0
            st[NAME] = own
        st[IOAPIC_OUT] = t
        st[CLAIM] = True

    def _irr_set(self, iid: int, t: int) -> None:
        self._get(iid)[LAPIC] = t

    def _fork(self, iid: int, parent: int) -> None:
        # An INTx condition re-raised while held continues one whose message may be gone.
        st = self.stamps.get(parent) or self._intx_keep.get(parent)
        if st is not None:
            self.stamps[iid] = list(st)

    def _intx(self, fn: Any, iid: int, cleared: bool) -> None:
        slot = f"0000:{fn.bdf}"
        keep = self._intx_keep
        if cleared:
            cur = self._intx_cur.pop(slot, 0)
            if cur:
                prev = self._serviced.get(slot, 0)
                self._serviced[slot] = cur
                if prev and prev != cur:
                    keep.pop(prev, None)
            return
        old = self._intx_cur.get(slot, 0)
        self._intx_cur[slot] = iid
        keep[iid] = self._get(iid)          # shared: later send stamps land in it too
        if old and old != iid and old != self._serviced.get(slot):
            keep.pop(old, None)

    def _accept(self, iid: int, cpu: int, t: int) -> None:
        st = self.stamps.get(iid)
        if st is not None:
            st[ACCEPT] = t

    def _handler_entry(self, iid: int, cpu: int, t: int, vector: int) -> None:
        if not iid:                 # no message (IPI, LVT, NMI, spurious): no device latency
            return
        st = self.stamps.pop(iid, None)
        if st is None:
            return
        if st[CLAIM]:               # I/O APIC message: recorded when a handler claims it
            self._stash[cpu] = (iid, st, t)
            return
        t_event, t_send, t_accept = st[EVENT], st[SEND], st[ACCEPT]
        self._add(st[NAME].split("/")[0], (
            t - t_event, t_send - t_event, st[RC] - t_send, st[LAPIC] - st[RC], 0,
            t_accept - st[LAPIC], t - t_accept, 0))

    def _add(self, src: str, row: tuple[int, ...]) -> None:
        """One handled interrupt of ``src``: total, then each stage of STAGES."""
        hists = self.rows.get(src)
        if hists is None:
            hists = self.rows[src] = [Histogram() for _ in range(len(STAGES) + 1)]
        for h, v in zip(hists, row, strict=True):
            h.add(v)

    def _claim(self, iid: int, cpu: int, slot: str, t_claim: int) -> None:
        """A shared-line handler claimed the line's interrupt: latency from the claiming
        device's own event (``slot``; else the message's) to that handler's entry.

        Stage boundaries come from the device's stamps and the message's path; a stamp
        earlier than the one before it (a sharer whose event came after the line was
        already asserted) is clamped, so its wait falls in the stage where it happened.
        """
        stash = self._stash.pop(cpu, None)
        if stash is None or stash[0] != iid:
            return
        _, msg, t_entry = stash
        own = self._origin(slot) if slot else None
        if own is not None:
            name, t_event, t_send = own
        else:
            name, t_event, t_send = msg[NAME].split("/")[0], msg[EVENT], msg[SEND]
        marks = [t_event, t_send, msg[RC], msg[IOAPIC_IN], msg[IOAPIC_OUT], msg[LAPIC],
                 msg[ACCEPT], t_entry, t_claim]
        for i in range(1, len(marks)):
            if marks[i] < marks[i - 1]:
                marks[i] = marks[i - 1]
        d = [marks[i + 1] - marks[i] for i in range(len(marks) - 1)]
        # d: device, fabric, rc->ioapic, I/O APIC, ioapic->lapic, LAPIC wait, CPU entry, chain
        self._add(name, (marks[-1] - marks[0], d[0], d[1], d[2] + d[4], d[3], d[5], d[6],
                         d[7]))

    def _origin(self, slot: str) -> tuple[str, int, int] | None:
        """The device at ``slot``: its name and its serviced (else current) INTx condition's
        event and send instants; a serviced condition is used once."""
        cur = self._intx_cur.get(slot, 0)
        done = self._serviced.pop(slot, 0)
        iid = done or cur
        st = self._intx_keep.get(iid)
        if done and done != cur:
            self._intx_keep.pop(done, None)
        if st is None:
            return None
        return st[NAME], st[EVENT], st[SEND]

    def _settled(self, iid: int) -> None:
        self.stamps.pop(iid, None)

    def summary(self) -> dict[str, dict[str, object]]:
        """Per source: count, min, median, p99, max and the median of each stage."""
        out: dict[str, dict[str, object]] = {}
        for src, hists in sorted(self.rows.items()):
            total = hists[0]
            stages = {name: h.percentile(50) for name, h in zip(STAGES, hists[1:], strict=True)}
            out[src] = {"count": total.n, "min": total.min, "median": total.percentile(50),
                        "p99": total.percentile(99), "max": total.max, "stages": stages}
        return out
