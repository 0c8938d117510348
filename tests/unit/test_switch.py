"""Switch ports as PCI-to-PCI bridges: INTx swizzling and collapsing, Bus Master Enable
(seed 004 "INTx Mapping, Swizzling, and Collapsing"; PCI-to-PCI Bridge 1.2 table 9-1;
PCIe 2.2.8.1, 7.5.1.1.3)."""

from __future__ import annotations

import pytest

from irqsim.fabric.link import Link
from irqsim.fabric.switch import Switch
from irqsim.fabric.tlp import INTX_NAMES, Tlp, TlpType
from irqsim.pci.bridge import PciBridge
from irqsim.pci.function import PciFunction
from irqsim.sim.context import SimContext


def switch_with(pins: list[int]) -> tuple[Switch, list[PciFunction], list[Tlp]]:
    """A switch whose downstream port ``i`` holds a function with INTx pin ``pins[i]``;
    what the upstream port sends is collected."""
    ctx = SimContext()
    sw = Switch(ctx, "SW", ports=max(4, len(pins)))
    up: list[Tlp] = []
    sw.upstream.link = Link(ctx, up.append, "SW.UP->root")
    fns = []
    for i, pin in enumerate(pins):
        fn = PciFunction(ctx, f"dev{i}", 0x1B36, 0x00F0, 0x088000, interrupt_pin=pin)
        sw[i].attach(fn, 0)
        fn.link = Link(ctx, sw[i].receive_upstream, f"dev{i}->DP{i}")
        fns.append(fn)
    return sw, fns, up


@pytest.mark.parametrize("device", range(4))
@pytest.mark.parametrize("pin", range(1, 5))
def test_swizzle_each_device_and_pin(device: int, pin: int) -> None:
    """Seed 004: Mapped_Pin = (Original_Pin - 1 + Device_Number) mod 4 + 1 at the bridge
    whose secondary bus holds the device (the switch's internal bus: downstream port
    ``device``); the endpoint below a downstream port is device 0, so that port maps 1:1."""
    pins = [0] * 4
    pins[device] = pin
    sw, fns, up = switch_with(pins)
    fns[device].intx_raise()
    fns[device].ctx.engine.run()
    mapped = (pin - 1 + device) % 4 + 1
    assert [INTX_NAMES[t.code] for t in up] == [f"Assert_INT{'ABCD'[mapped - 1]}"]
    assert PciBridge.swizzle(pin, device) == mapped
    assert sw[device].intx_wire(pin) and sw.upstream.intx_wire(mapped)
    assert up[0].requester == sw.upstream.requester_id


@pytest.mark.parametrize("sharers", [2, 3])
def test_collapsing(sharers: int) -> None:
    """Seed 004 "Collapsing": one Assert upstream for the first sharer, the others are
    absorbed; no Deassert until the last sharer deasserts."""
    pins = [(1 - 1 - d) % 4 + 1 for d in range(sharers)]       # all map to INTA
    sw, fns, up = switch_with(pins)
    eng = fns[0].ctx.engine
    for f in fns:
        f.intx_raise()
    eng.run()
    assert [INTX_NAMES[t.code] for t in up] == ["Assert_INTA"]
    assert sw.upstream.intx_collapsed == sharers - 1
    for f in fns[:-1]:
        f.intx_clear()
    eng.run()
    assert len(up) == 1 and sw.upstream.intx_wire(1)
    fns[-1].intx_clear()
    eng.run()
    assert [INTX_NAMES[t.code] for t in up] == ["Assert_INTA", "Deassert_INTA"]


def test_bus_master_enable_does_not_gate_intx_but_gates_msi() -> None:
    """PCIe 7.5.1.1.3: a bridge's Bus Master Enable gates memory requests (MSI included)
    going upstream, not INTx messages."""
    sw, fns, up = switch_with([1])
    ctx = fns[0].ctx
    fns[0].intx_raise()
    msi = Tlp(TlpType.MWR, 0x0300, 0xFEE00000, 0x41, 4)
    ctx.ledger.launch()
    sw[0].receive_upstream(msi)
    ctx.engine.run()
    assert [INTX_NAMES[t.code] for t in up] == ["Assert_INTA"]
    assert ctx.ledger.dropped["bridge bus master disabled"] == 1


def test_deassert_without_assert_is_diagnosed() -> None:
    """PCIe 2.2.8.1: a Deassert for a wire that is not asserted is a protocol error."""
    sw, fns, up = switch_with([1])
    sw[0].receive_upstream(Tlp(TlpType.MSG, 0x0000, code=0x24, length=0))
    assert up == []
    assert any(d.rule_id == "PCI-INTX-STRAY-DEASSERT" for d in fns[0].ctx.diagnostics)


def test_ports_are_bridges_on_the_internal_bus() -> None:
    """PCIe 1.3.3: downstream port i is device i on the upstream port's secondary bus."""
    sw = Switch(SimContext(), "SW", ports=3)
    assert [dp.devfn for dp in sw.downstream] == [0, 8, 16]
    assert all(dp.parent is sw.upstream for dp in sw.downstream)
    assert sw.upstream.config_read(0x0E, 1) & 0x7F == 1
    with pytest.raises(ValueError):
        Switch(SimContext(), ports=0)
