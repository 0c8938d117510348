"""A PCI Express switch: one upstream port and several downstream ports (PCIe 1.3.3).

Each port is a PCI-to-PCI bridge (type-1 header). The upstream port's secondary
bus is the switch's internal bus, on which downstream port ``i`` is device ``i``;
each downstream port's secondary bus holds the device on its link. TLPs from a
device cross two links to reach the root port: device -> downstream port, and
upstream port -> its parent port (seed 003 "Device to switch", "Switch to root
complex", one ``pcie_hop`` each); forwarding inside the switch is part of those
hops. INTx messages end at every port: each swizzles and collapses (bridge.py).
"""

from __future__ import annotations

from irqsim.fabric.tlp import Tlp
from irqsim.pci.bridge import PciBridge
from irqsim.pci.express import DEFAULT_LINK, LinkSpec
from irqsim.sim.accounting import Reason
from irqsim.sim.context import SimContext
from irqsim.sim.rules import rule
from irqsim.spec.pcie import EXP_TYPE_DOWNSTREAM, EXP_TYPE_UPSTREAM

R_SWITCH_UNCONNECTED = rule(
    "PCI-SWITCH-NOT-CONNECTED", "PCIe 1.3.3",
    "a switch whose upstream port has no link drops upstream TLPs")

# IDs of the Texas Instruments XIO3130 switch ports (the switch QEMU emulates).
XIO3130_VENDOR = 0x104C
XIO3130_UPSTREAM = 0x8232
XIO3130_DOWNSTREAM = 0x8233


class SwitchUpstreamPort(PciBridge):
    """The port towards the root: forwards upstream TLPs on its own link."""

    def __init__(self, ctx: SimContext, name: str, link: LinkSpec | None = DEFAULT_LINK) -> None:
        super().__init__(ctx, name, vendor=XIO3130_VENDOR, device=XIO3130_UPSTREAM,
                         express_type=EXP_TYPE_UPSTREAM, link=link)

    def forward_up(self, tlp: Tlp) -> None:
        ready = self.ctx.engine.now
        # A TLP's arrival from below (an event, or folded at the end of one) ends here: the
        # next hop's arrival may be folded into it.
        if self.send_upstream(tlp, ready, True) is None:
            ctx = self.ctx
            if tlp.is_interrupt or (tlp.is_intx and tlp.code < 0x24):
                ctx.ledger.drop(Reason.NO_LINK, tlp.iid, self.name, flying=True)
            ctx.diag(self.name, R_SWITCH_UNCONNECTED,
                     f"upstream {tlp!r} dropped: the switch is not connected")


class SwitchDownstreamPort(PciBridge):
    """A port towards a device: forwards upstream TLPs across the switch's internal bus."""

    def __init__(self, ctx: SimContext, name: str, link: LinkSpec | None = DEFAULT_LINK) -> None:
        super().__init__(ctx, name, vendor=XIO3130_VENDOR, device=XIO3130_DOWNSTREAM,
                         express_type=EXP_TYPE_DOWNSTREAM, link=link)

    def forward_up(self, tlp: Tlp) -> None:
        up = self.parent
        assert isinstance(up, PciBridge)
        up.receive_upstream(tlp)


class Switch:
    """An upstream port with ``ports`` downstream ports at devices 0..ports-1 of its bus."""

    def __init__(self, ctx: SimContext, name: str = "Switch", ports: int = 4,
                 link: LinkSpec | None = DEFAULT_LINK) -> None:
        """``link``: every port's maximum link (LnkCap)."""
        if not 1 <= ports <= 32:
            raise ValueError(f"a switch has 1-32 downstream ports, got {ports}")
        self.name = name
        self.upstream = SwitchUpstreamPort(ctx, f"{name}.UP", link)
        self.downstream: list[SwitchDownstreamPort] = []
        for i in range(ports):
            dp = SwitchDownstreamPort(ctx, f"{name}.DP{i}", link)
            self.upstream.attach(dp, i << 3)
            self.downstream.append(dp)

    def __getitem__(self, i: int) -> SwitchDownstreamPort:
        return self.downstream[i]

    def __len__(self) -> int:
        return len(self.downstream)
