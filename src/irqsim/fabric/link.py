"""A PCIe link: FIFO per direction, per-hop latency plus serialization.

Serialization follows the trained link's speed and width (``irqsim.pci.express``; docs/
timing.md "Links"): its cost parameters are computed once, when the link is built.

Posted writes never pass each other on a link (PCIe ordering rules, table 2-40,
"posted request must not pass posted request"): the link starts a TLP only
when the previous one has left, so arrivals are in send order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from irqsim.fabric.tlp import FRAMING_BYTES, MWR, Tlp
from irqsim.pci.express import SER_SHIFT, LinkSpec, serialization_params
from irqsim.sim.context import SimContext
from irqsim.sim.engine import Fire
from irqsim.spec.pci import TLP_HEADER_3DW

Receiver = Callable[[Tlp], None]
_SHIFT: Final = 20              # pci.express.SER_SHIFT, a constant here for the compiled path
assert _SHIFT == SER_SHIFT


class Link:
    """Upstream direction of one link, from a device (or switch port) to its parent port."""

    __slots__ = ("_add", "_engine", "_fire", "_free_at", "_hop", "_mul", "_per64", "_tracer",
                 "name", "receiver", "sent", "speed")

    def __init__(self, ctx: SimContext, receiver: Receiver, name: str,
                 speed: LinkSpec | None = None) -> None:
        """``speed``: the trained link (None: the default link, Gen3 x1). ``receiver`` gets
        each TLP at its arrival; a :class:`~irqsim.sim.engine.Fire` is called natively."""
        self._engine = ctx.engine
        self._tracer = ctx.tracer
        self._hop = ctx.timing.pcie_hop
        self._per64 = ctx.timing.pcie_ns_per_64_bytes
        self._mul, self._add = serialization_params(speed, self._per64)
        self.speed = speed
        self._free_at = 0
        self.receiver = receiver
        self._fire = receiver if isinstance(receiver, Fire) else None
        self.name = name
        self.sent = 0

    def retrain(self, speed: LinkSpec | None) -> None:
        """The link came up again at ``speed`` (Retrain Link, PCIe 7.5.3.7): new cost
        parameters for the TLPs sent from now on."""
        self._mul, self._add = serialization_params(speed, self._per64)
        self.speed = speed

    def send(self, tlp: Tlp, ready: int, last: bool = False) -> int:
        """Queue ``tlp`` ready at time ``ready``; returns its arrival time upstream.
        ``last``: the caller's event ends with this call, so the arrival may run at once
        when it would be the engine's next entry anyway (Engine.ahead)."""
        start = ready if ready > self._free_at else self._free_at
        # (MWR, the enum member: compiled, an identity test; an int was a rich comparison)
        if tlp.kind == MWR and tlp.address < 1 << 32:      # Tlp.wire_bytes' common case
            wire = TLP_HEADER_3DW + tlp.length + FRAMING_BYTES
        else:
            wire = tlp.wire_bytes
        ser = (wire * self._mul + self._add) >> _SHIFT
        self._free_at = start + ser
        arrival = start + ser + self._hop
        self.sent += 1
        fire = self._fire
        if last and self._engine.fold_at(arrival):
            if fire is not None:
                fire.fire(tlp)
            else:
                self.receiver(tlp)
        else:
            if fire is not None:        # (arrival > now)
                self._engine.push_fire(arrival, fire, tlp)
            else:
                self._engine.push(arrival, self.receiver, tlp)
        return arrival
