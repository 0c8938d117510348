"""INTx virtual wires of a function: Interrupt Pin/Line, Status.Interrupt Status, Command.
Interrupt Disable, Assert/Deassert_INTx messages (seed 004 "INTx Configuration Registers",
"PCIe Virtual INTx"; PCIe Base 2.2.8.1 and 7.5.1.1)."""

from __future__ import annotations

import pytest

from irqsim.fabric.link import Link
from irqsim.fabric.tlp import INTX_NAMES, Tlp, TlpType, intx_code, intx_decode
from irqsim.pci.config import BarSpec
from irqsim.pci.function import PciFunction
from irqsim.pci.msi import MsiCapability
from irqsim.pci.msix import MsixCapability
from irqsim.sim.context import SimContext


def wired(pin: int = 1) -> tuple[PciFunction, list[Tlp]]:
    """A function whose link delivers into a list."""
    ctx = SimContext()
    fn = PciFunction(ctx, "dev", 0x1B36, 0x00F0, 0x088000, bars=(BarSpec(0, 0x1000),),
                     interrupt_pin=pin)
    got: list[Tlp] = []
    fn.link = Link(ctx, got.append, "dev->port")
    return fn, got


def codes(got: list[Tlp]) -> list[str]:
    return [INTX_NAMES[t.code] for t in got]


def test_message_codes() -> None:
    """Seed 004 table: Assert_INTA-D are 20h-23h, Deassert_INTA-D 24h-27h; Message TLPs
    without payload, with the 4-DW header PCIe 2.2.8 gives every Message (seed 004 says 3-DW:
    docs/spec-differences.md)."""
    assert [intx_code(p, True) for p in range(1, 5)] == [0x20, 0x21, 0x22, 0x23]
    assert [intx_code(p, False) for p in range(1, 5)] == [0x24, 0x25, 0x26, 0x27]
    for c in range(0x20, 0x28):
        pin, a = intx_decode(c)
        assert intx_code(pin, a) == c
    t = Tlp(TlpType.MSG, 0x0100, code=0x20, length=0)
    assert t.is_intx and not t.is_interrupt and t.wire_bytes == 16 + 8
    assert repr(t) == "Assert_INTA(req=01:00.0, code=0x20)"


def test_pin_is_read_only_and_line_has_no_hardware_effect() -> None:
    """Seed 004: Interrupt Pin (3Dh) is read-only; Interrupt Line (3Ch) is read/write
    and has no hardware effect."""
    fn, got = wired(pin=2)
    fn.config_write(0x3D, 1, 4)
    assert fn.config_read(0x3D, 1) == 2
    fn.config_write(0x3C, 1, 0x0B)
    assert fn.config_read(0x3C, 1) == 0x0B
    fn.ctx.engine.run()
    assert got == [] and not fn.intx_asserted


def test_raise_asserts_and_clear_deasserts() -> None:
    """Seed 004 figure 2: the device sends Assert when it needs service, one Assert even if
    it fires again before the driver clears it, and Deassert when cleared. Status.Interrupt
    Status (bit 3, seed 004's "bit 19" of the Command/Status dword) follows the condition."""
    fn, got = wired(pin=3)
    fn.intx_raise()
    fn.intx_raise()
    fn.ctx.engine.run()
    assert codes(got) == ["Assert_INTC"]
    assert fn.config_read(0x06, 2) & 0x08 and fn.config_read(0x04, 4) >> 19 & 1
    assert fn.ctx.ledger.merged == 1
    fn.intx_clear()
    fn.ctx.engine.run()
    assert codes(got) == ["Assert_INTC", "Deassert_INTC"]
    assert not fn.config_read(0x06, 2) & 0x08


def test_interrupt_status_set_regardless_of_interrupt_disable() -> None:
    """PCI 6.2.3: Interrupt Status is set whenever the interrupt is pending, Interrupt
    Disable notwithstanding; with it set, no Assert is sent (the interrupt is held)."""
    fn, got = wired()
    fn.config_write(0x04, 2, 1 << 10)
    fn.intx_raise()
    fn.ctx.engine.run()
    assert got == [] and fn.intx_status and fn.intx_held


def test_setting_interrupt_disable_deasserts_and_clearing_reasserts() -> None:
    """Seed 004 / PCIe 7.5.1.1.3: setting Interrupt Disable deasserts an asserted wire;
    clearing it with the interrupt still pending asserts it again."""
    fn, got = wired()
    fn.intx_raise()
    fn.config_write(0x04, 2, 1 << 10)
    fn.ctx.engine.run()
    assert codes(got) == ["Assert_INTA", "Deassert_INTA"] and fn.intx_status
    fn.config_write(0x04, 2, 0)
    fn.ctx.engine.run()
    assert codes(got) == ["Assert_INTA", "Deassert_INTA", "Assert_INTA"]


@pytest.mark.parametrize("kind", ["msi", "msix"])
def test_msi_or_msix_enable_stops_intx(kind: str) -> None:
    """C.1/C.2: enabling MSI or MSI-X deasserts INTx; the function may not assert it while
    either is enabled."""
    fn, got = wired()
    if kind == "msi":
        cap = MsiCapability(fn, 0x50, 1)
        enable = (cap.offset + 2, 2, 1)
    else:
        cap2 = MsixCapability(fn, 0x50, 1, 0, 0, 0, 0x800)
        enable = (cap2.offset + 2, 2, 0x8000)
    fn.intx_raise()
    fn.config_write(*enable)
    fn.ctx.engine.run()
    assert codes(got) == ["Assert_INTA", "Deassert_INTA"]
    fn.intx_clear()
    fn.intx_raise()
    fn.ctx.engine.run()
    assert len(got) == 2 and fn.intx_held


def test_function_without_pin_cannot_raise_intx() -> None:
    """PCI 6.2.4: Interrupt Pin 0 means no INTx; raising one is diagnosed and dropped."""
    fn, got = wired(pin=0)
    fn.intx_raise()
    assert got == [] and fn.ctx.ledger.dropped["no INTx pin"] == 1
    assert any(d.rule_id == "PCI-NO-INTX-PIN" for d in fn.ctx.diagnostics)
