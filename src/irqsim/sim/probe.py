"""Trace points: typed hops hardware announces, and the probes that subscribe to them.

Measurement is not hardware: a block knows nothing of latency. At each hop an interrupt
passes (device event, send, root complex, I/O APIC in and out, LAPIC IRR set, acceptance,
handler entry, claim by a shared-line handler, EOI) the block calls its trace point with the
interrupt id (:meth:`Ledger.raise_ <irqsim.sim.accounting.Ledger.raise_>`) and the
instant. A trace point nobody subscribed to is one attribute test at the call site::

    tp = ctx.points.send
    if tp.on:
        tp(iid, ready)

Probes (the :class:`~irqsim.sim.stats.LatencyRecorder`, a test) subscribe with
:meth:`TracePoint.subscribe`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

Probe = Callable[..., None]


class TracePoint:
    """One kind of hop: ``on`` is True while at least one probe is subscribed."""

    __slots__ = ("args", "doc", "name", "on", "probes")

    def __init__(self, name: str, args: tuple[str, ...], doc: str) -> None:
        self.name = name
        self.args = args
        self.doc = doc
        self.on = False
        self.probes: list[Probe] = []

    def subscribe(self, probe: Probe) -> None:
        """Call ``probe(*args)`` at every hit."""
        self.probes.append(probe)
        self.on = True

    def unsubscribe(self, probe: Probe) -> None:
        self.probes.remove(probe)
        self.on = bool(self.probes)

    def __call__(self, *args: Any) -> None:
        for p in self.probes:
            p(*args)

    def __repr__(self) -> str:
        return f"TracePoint({self.name}({', '.join(self.args)}), {len(self.probes)} probes)"


# name: (arguments, what the hop is). ``iid``: interrupt id; times in simulated ns.
POINTS: dict[str, tuple[tuple[str, ...], str]] = {
    "event": (("iid", "t", "device"), "the device event an interrupt's latency counts from "
                                      "(or the unmask that releases a pending message)"),
    "send": (("iid", "t"), "the device puts the message (MWr or Assert_INTx) on its link"),
    "root_complex": (("iid", "t"), "the message reaches the root complex"),
    "ioapic_in": (("iid", "t"), "an I/O APIC input takes the assertion carrying ``iid``"),
    "ioapic_out": (("iid", "t", "own"), "the I/O APIC sends its message (``own``: its label "
                                        "when the I/O APIC raised it, no device event; else "
                                        "'')"),
    "irr_set": (("iid", "t"), "a Local APIC sets the interrupt's IRR bit (it was not pending)"),
    "fork": (("iid", "parent"), "``iid`` continues ``parent`` (a broadcast's copy, an INTx "
                                "condition re-raised while held)"),
    "intx": (("fn", "iid", "cleared"), "a function's INTx condition now carries ``iid`` "
                                       "(``cleared``: software cleared it)"),
    "accept": (("iid", "cpu", "t"), "INTA: the CPU takes the interrupt from IRR"),
    "handler_entry": (("iid", "cpu", "t", "vector"), "the CPU enters the handler of ``vector`` "
                                                     "(``iid`` 0: an interrupt without a "
                                                     "message: IPI, LVT, NMI, spurious)"),
    "claim": (("iid", "cpu", "slot", "t"), "a shared-line handler (device at ``slot``) claims "
                                           "the line's interrupt"),
    "eoi": (("apic", "vector", "t"), "an EOI clears ``vector`` from the Local APIC's ISR"),
    "upstream": (("fn", "tlp", "t"), "function ``fn`` puts ``tlp`` (memory write, MSI, INTx "
                                     "message) on its upstream link, ready at ``t``"),
    "settled": (("iid",), "the interrupt merged, was dropped or ended at a core pin (NMI, "
                          "SMI, INIT): it goes no further"),
    "busy_poll": (("sock", "start", "end"), "a reader's busy-poll spin on ``sock`` (Linux's "
                                            "napi_busy_loop) ran from ``start`` to ``end``"),
}


class TracePoints:
    """Every trace point of one machine, as attributes (``points.send`` ...)."""

    event: TracePoint
    send: TracePoint
    root_complex: TracePoint
    ioapic_in: TracePoint
    ioapic_out: TracePoint
    irr_set: TracePoint
    fork: TracePoint
    intx: TracePoint
    accept: TracePoint
    handler_entry: TracePoint
    claim: TracePoint
    eoi: TracePoint
    upstream: TracePoint
    settled: TracePoint
    busy_poll: TracePoint

    def __init__(self) -> None:
        for name, (args, doc) in POINTS.items():
            setattr(self, name, TracePoint(name, args, doc))

    def __iter__(self) -> Iterator[TracePoint]:
        return (getattr(self, n) for n in POINTS)
