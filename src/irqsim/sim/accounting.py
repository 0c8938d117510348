"""The interrupt ledger: every interrupt raised is accounted for.

Invariant checked by the tests::

    raised == delivered + merged + dropped + pending + in_flight

``pending`` is read from the architectural registers (PBA, IRR) by the machine,
so the ledger cannot drift from the hardware state.

Blocks change the counters only through intent methods, one per thing that happens to
an interrupt: :meth:`Ledger.raise_` (it exists, at its origin; returns its interrupt id),
:meth:`~Ledger.launch` (it leaves pending state and travels), :meth:`~Ledger.land` (it
arrives in pending state: an IRR bit, an I/O APIC input), :meth:`~Ledger.post` (it is
pending in a posted-interrupt descriptor's PIR), :meth:`~Ledger.deliver` (a CPU
takes it), :meth:`~Ledger.merge` (it joins one already pending) and :meth:`~Ledger.drop`
(lost, for a :class:`Reason`). :class:`DebugLedger` follows every interrupt id through its
intents and names the path where the books stop balancing.
"""

from __future__ import annotations

from collections import Counter, deque

from irqsim.sim.compiled import mypyc_attr
from irqsim.sim.probe import POINTS, TracePoint
from irqsim.sim.reasons import Reason

__all__ = ["DebugLedger", "Ledger", "LedgerError", "Reason"]


@mypyc_attr(native_class=False)     # mypyc cannot subclass AssertionError natively
class LedgerError(AssertionError):
    """The books stopped balancing (raised by :class:`DebugLedger`)."""


class Ledger:
    """Counters of interrupt outcomes, changed through intent methods.

    ``iid`` arguments name the interrupt (0: one without an id); the fast ledger ignores
    them, :class:`DebugLedger` follows them. ``flying``: the interrupt was in flight.
    """

    __slots__ = ("delivered", "dropped", "in_flight", "merged", "raised", "settled")

    debug = False

    def __init__(self) -> None:
        self.raised = 0
        self.delivered = 0
        self.merged = 0
        self.in_flight = 0
        self.dropped: Counter[str] = Counter()
        self.settled = TracePoint("settled", *POINTS["settled"])

    # -- intents -----------------------------------------------------------------------
    def raise_(self, block: str = "", n: int = 1, parent: int = 0) -> int:
        """``n`` interrupts exist at their origin ``block``; returns the first one's id
        (``parent``: the message they fan out of, already counted). Ids count from 1 in
        raising order."""
        iid = self.raised + 1
        self.raised += n
        return iid

    def launch(self, iid: int = 0, block: str = "") -> None:
        """The interrupt leaves its origin or pending state and travels (a message)."""
        self.in_flight += 1

    def land(self, iid: int = 0, block: str = "") -> None:
        """The travelling interrupt reaches a block (it is pending there or acted on)."""
        self.in_flight -= 1

    def post(self, iid: int = 0, block: str = "") -> None:
        """The travelling interrupt is posted: its bit set in a posted-interrupt descriptor's
        PIR (VT-d 5.2.3), pending there (the machine counts PIR bits) until the CPU side moves
        it to a virtual APIC and delivers it."""
        self.in_flight -= 1

    def deliver(self, iid: int = 0, block: str = "") -> None:
        """A CPU (or the core, for SMI/INIT) takes the interrupt."""
        self.delivered += 1

    def merge(self, iid: int = 0, block: str = "", flying: bool = False, n: int = 1) -> None:
        """The interrupt joins one already pending (IRR bit set, line already asserted)."""
        self.merged += n
        if flying:
            self.in_flight -= n
        if self.settled.on:
            self.settled(iid)

    def drop(self, reason: Reason, iid: int = 0, block: str = "", flying: bool = False,
             n: int = 1) -> None:
        """The interrupt is lost for ``reason``."""
        self.dropped[reason] += n
        if flying:
            self.in_flight -= n
        if self.settled.on:
            self.settled(iid)

    # -- reading -----------------------------------------------------------------------
    def counters_ok(self) -> bool:
        """Every counter is non-negative."""
        return min(self.raised, self.delivered, self.merged, self.in_flight, 0,
                   *self.dropped.values()) == 0

    def as_dict(self) -> dict[str, object]:
        return {"raised": self.raised, "delivered": self.delivered, "merged": self.merged,
                "in_flight": self.in_flight,
                "dropped": {str(k): v for k, v in self.dropped.items()}}


# Debug states of one interrupt.
_ORIGIN, _FLYING, _PENDING, _DONE = "at origin", "in flight", "pending", "done"


class DebugLedger(Ledger):
    """A ledger that follows each interrupt id through its intents.

    An intent that cannot happen in the interrupt's state (landing one that is not in
    flight, delivering one twice, an id never raised), or a counter going negative, raises
    :class:`LedgerError` naming the id and its path (each intent with its block).
    """

    __slots__ = ("paths", "recent", "states")

    debug = True

    def __init__(self, history: int = 32) -> None:
        super().__init__()
        self.paths: dict[int, list[str]] = {}
        self.states: dict[int, str] = {}
        self.recent: deque[str] = deque(maxlen=history)

    def _step(self, iid: int, intent: str, block: str, allowed: tuple[str, ...],
              to: str) -> None:
        step = f"{intent}@{block or '?'}"
        self.recent.append(f"#{iid} {step}" if iid else step)
        if not iid:
            self._check(intent, block)
            return
        path = self.paths.get(iid)
        if path is None:
            self._fail(f"interrupt #{iid}: {intent} at {block or '?'} but it was never raised",
                       iid, [step])
            return
        path.append(step)
        state = self.states[iid]
        if state not in allowed:
            self._fail(f"interrupt #{iid}: {intent} at {block or '?'} while {state}", iid, path)
        self.states[iid] = to
        self._check(intent, block, iid)

    def _check(self, intent: str, block: str, iid: int = 0) -> None:
        if not self.counters_ok():
            self._fail(f"a counter went negative after {intent} at {block or '?'}: "
                       f"{self.as_dict()}", iid, self.paths.get(iid, []))

    def _fail(self, what: str, iid: int, path: list[str]) -> None:
        where = " -> ".join(path) if path else "(no id)"
        raise LedgerError(f"{what}; path: {where}; last intents: {list(self.recent)}")

    def path(self, iid: int) -> list[str]:
        """The intents interrupt ``iid`` went through, as ``intent@block``."""
        return list(self.paths.get(iid, []))

    def raise_(self, block: str = "", n: int = 1, parent: int = 0) -> int:
        iid = super().raise_(block, n, parent)
        state = self.states.get(parent, _ORIGIN) if parent else _ORIGIN
        base = self.paths.get(parent, []) if parent else []
        for i in range(iid, iid + n):
            self.paths[i] = [*base, f"raise@{block or '?'}"]
            self.states[i] = state
        self.recent.append(f"#{iid} raise@{block or '?'}" + (f" x{n}" if n > 1 else ""))
        return iid

    def launch(self, iid: int = 0, block: str = "") -> None:
        super().launch(iid, block)
        self._step(iid, "launch", block, (_ORIGIN, _PENDING), _FLYING)

    def land(self, iid: int = 0, block: str = "") -> None:
        super().land(iid, block)
        self._step(iid, "land", block, (_FLYING,), _PENDING)

    def post(self, iid: int = 0, block: str = "") -> None:
        super().post(iid, block)
        self._step(iid, "post", block, (_FLYING,), _PENDING)

    def deliver(self, iid: int = 0, block: str = "") -> None:
        super().deliver(iid, block)
        self._step(iid, "deliver", block, (_ORIGIN, _PENDING), _DONE)

    def merge(self, iid: int = 0, block: str = "", flying: bool = False, n: int = 1) -> None:
        super().merge(iid, block, flying, n)
        self._step(iid, "merge", block, (_FLYING,) if flying else (_ORIGIN, _PENDING), _DONE)

    def drop(self, reason: Reason, iid: int = 0, block: str = "", flying: bool = False,
             n: int = 1) -> None:
        super().drop(reason, iid, block, flying, n)
        self._step(iid, f"drop({reason.value})", block,
                   (_FLYING,) if flying else (_ORIGIN, _PENDING), _DONE)
