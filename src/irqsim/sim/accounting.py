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
from enum import StrEnum

from irqsim.sim.probe import POINTS, TracePoint


class Reason(StrEnum):
    """Why an interrupt was dropped: a short name (the value) and the rule that drops it."""

    rule: str

    def __new__(cls, text: str, rule: str) -> Reason:
        obj = str.__new__(cls, text)
        obj._value_ = text
        obj.rule = rule
        return obj

    NO_LINK = ("no link", "PCIe 2.2: a posted write needs a link to leave the port")
    BUS_MASTER = ("bus master disabled", "PCI 6.8 MSI needs Bus Master Enable")
    BRIDGE_BUS_MASTER = ("bridge bus master disabled",
                         "PCI-PCI Bridge 1.2 3.2.2.3.3 Bus Master Enable")
    MSI_DISABLED = ("MSI disabled", "PCI 6.8.1.3 MSI Enable")
    MSI_BEYOND_MME = ("message beyond Multiple Message Enable",
                      "PCI 6.8.1.3 Multiple Message Enable")
    MSI_PENDING_BEYOND_MME = ("MSI pending beyond Multiple Message Enable",
                              "PCI 6.8.1.3 Multiple Message Enable")
    MSIX_BEYOND_TABLE = ("vector beyond table", "PCIe 7.7.2 MSI-X Table Size")
    NO_INTX_PIN = ("no INTx pin", "PCI 6.2.4 Interrupt Pin")
    INTX_CLEARED_HELD = ("INTx condition cleared while held", "PCI 6.2.3 Interrupt Status")
    INTX_NOT_ROUTED = ("INTx not routed", "ACPI _PRT INTx routing")
    IOAPIC_NO_PIN = ("no such I/O APIC pin", "82093AA 2.2 input pins")
    INTX_POLARITY = ("INTx Assert seen as deassertion (RTE polarity)",
                     "82093AA 3.2.4 Interrupt Input Pin Polarity")
    INTX_DEASSERTED_PENDING = ("INTx deasserted while pending",
                               "82093AA 3.2.4 level-triggered input")
    INTX_DEASSERTED_SERVICE = ("INTx deasserted before I/O APIC service",
                               "82093AA 3.2.4 level-triggered input")
    INTX_DISCARDED_RTE = ("pending INTx discarded by an RTE write",
                          "82093AA 3.2.4 I/O Redirection Table")
    MASKED_EDGE = ("masked edge lost", "82093AA 3.2.4 Interrupt Mask (edge)")
    VTD_REQUEST_RESERVED = ("VT-d fault 0x20: reserved field in the request",
                            "VT-d 5.1.4.1 interrupt request reserved fields")
    VTD_INDEX_RANGE = ("VT-d fault 0x21: index beyond the remapping table",
                       "VT-d 5.1.4.1 IRTA.S table size")
    VTD_NOT_PRESENT = ("VT-d fault 0x22: IRTE not present", "VT-d 9.10 IRTE Present")
    VTD_READ_FAILED = ("VT-d fault 0x23: IRTE read failed", "VT-d 5.1.4.1 IRTE access")
    VTD_IRTE_RESERVED = ("VT-d fault 0x24: reserved field in the IRTE",
                         "VT-d 9.10 IRTE reserved fields")
    VTD_COMPAT_BLOCKED = ("VT-d fault 0x25: compatibility format blocked",
                          "VT-d 5.1.2.1 compatibility format (IRTA.EIME, GSTS.CFIS)")
    VTD_SID = ("VT-d fault 0x26: source-id verification failed", "VT-d 9.10 SVT/SQ/SID")
    VTD_PID_READ = ("VT-d fault 0x27: posted-interrupt descriptor read failed",
                    "VT-d 5.2.3 posted-interrupt descriptor access")
    PIC_DEASSERTED = ("8259 level request deasserted before INTA",
                      "8259A datasheet: IR must stay high until the first INTA pulse")
    PIC_INIT_RESET = ("8259 request cleared by ICW1", "8259A ICW1: the edge sense latch is "
                                                      "reset")
    NO_DESTINATION = ("no destination APIC", "SDM 10.11.1 MSI destination ID")
    MSI_MODE = ("MSI delivery mode not deliverable", "SDM 10.11.2 MSI delivery mode")
    MSI_ADDRESS = ("MSI address outside 0xFEExxxxx", "SDM 11.11.1 MSI address is 0xFEExxxxx")
    NMI_NO_CPU = ("NMI: no CPU", "SDM 10.11.2 MSI delivery mode")
    APIC_HW_DISABLED = ("apic hardware-disabled", "SDM 10.4.3 APIC global enable")
    APIC_SW_DISABLED = ("apic software-disabled", "SDM 10.4.7.2 APIC software disable")
    ILLEGAL_VECTOR = ("illegal vector", "SDM 10.5.3 ESR Receive Illegal Vector")
    LVT_MODE = ("LVT delivery mode not modelled", "SDM 10.5.1 LVT delivery mode")
    INIT_RESET = ("INIT reset", "SDM 10.4.7.3 INIT reset")
    NMI_WAIT_SIPI = ("NMI to a CPU in wait-for-SIPI", "SDM 8.4.1 wait-for-SIPI")
    NMI_LATCHED = ("NMI while one is already latched",
                   "SDM 6.7.1 NMIs blocked until IRET; one more is latched")


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
