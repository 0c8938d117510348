"""The interrupt ledger: intents, forged interrupt writes (issue 14 defect 2), debug mode.

Invariant (docs/architecture.md, "Accounting"): raised == delivered + merged + dropped +
pending + in flight, with every counter non-negative.
"""

from __future__ import annotations

import pytest

from helpers import nic_machine
from irqsim.cpu.cpu import WAIT_FOR_SIPI
from irqsim.fabric.tlp import Tlp, TlpType
from irqsim.machine import Machine
from irqsim.sim.accounting import DebugLedger, Ledger, LedgerError, Reason

MSIX_ENABLE = 0x80          # Message Control bit 15 (high byte)


def _forge(m: Machine, data: int, address: int = 0xFEE00000, **kw: object) -> dict:
    """Machine with one NIC whose MSI-X is disabled; the NIC DMA-writes (address, data)."""
    nic = m.devices[0]
    ctl = nic.msix.offset + 3
    nic.config.data[ctl] &= ~MSIX_ENABLE & 0xFF
    nic.dma_write(address, data.to_bytes(4, "little"))
    m.run()
    return m.accounting()


def _vector(m: Machine) -> int:
    return next(d.vector for d in m.kernel.irqs.values() if "q0" in d.name)


def test_forged_msi_with_msi_disabled_is_raised_at_its_origin() -> None:
    """Issue 14 defect 2: a DMA write to 0xFEExxxxx by a function whose MSI(-X) is disabled
    is an interrupt (the root complex delivers it), so it is raised where it entered the
    fabric: raised 1, delivered 1, nothing in flight, balanced."""
    m, _, drv = nic_machine(ledger_debug=True)
    acc = _forge(m, _vector(m))
    assert len(drv.calls) == 1
    assert (acc["raised"], acc["delivered"], acc["in_flight"]) == (1, 1, 0)
    assert acc["balanced"]


def test_forged_msi_with_spoofed_requester_id_is_raised_at_its_origin() -> None:
    """Issue 14 defect 2: a TLP whose requester ID is not the sender's (spoofed) still
    counts as raised by the function that put it on the link."""
    m, nics, drv = nic_machine(ledger_debug=True)
    tlp = Tlp(TlpType.MWR, 0xBEEF, 0xFEE00000, _vector(m), 4)
    assert nics[0].send_upstream(tlp, m.now) is not None
    m.run()
    acc = m.accounting()
    assert len(drv.calls) == 1 and acc["raised"] == acc["delivered"] == 1 and acc["balanced"]


def test_forged_msi_in_init_delivery_mode_is_raised_and_delivered() -> None:
    """Issue 14 defect 2; SDM 10.11.2: an MSI with delivery mode INIT (101b) is consumed by
    the core (it waits for SIPI) and counted delivered, after being raised at its origin."""
    m, _, _ = nic_machine(ledger_debug=True)
    acc = _forge(m, 0x500)
    assert m.cpus[0].state == WAIT_FOR_SIPI
    assert (acc["raised"], acc["delivered"]) == (1, 1) and acc["balanced"]


def test_forged_msi_in_nmi_delivery_mode_is_raised_and_delivered() -> None:
    """Issue 14 defect 2; SDM 10.11.2: an MSI with delivery mode NMI (100b) is taken as an
    NMI; raised at its origin, delivered by the CPU."""
    m, _, _ = nic_machine(ledger_debug=True)
    acc = _forge(m, 0x400)
    assert m.cpus[0].nmi_count == 1
    assert (acc["raised"], acc["delivered"], acc["in_flight"]) == (1, 1, 0) and acc["balanced"]


def test_forged_broadcast_msi_is_one_interrupt_per_cpu() -> None:
    """Issue 14 defect 2; SDM 10.11.1: a physical destination 0xFF MSI is a broadcast;
    the one write raised at its origin fans out into one interrupt per Local APIC."""
    m, _, _ = nic_machine(ncpus=2, ledger_debug=True)
    acc = _forge(m, _vector(m), address=0xFEE00000 | 0xFF << 12)
    assert (acc["raised"], acc["delivered"]) == (2, 2) and acc["balanced"]


def test_forged_msi_through_a_bridge_without_bus_master_is_dropped_not_negative() -> None:
    """Issue 14 defect 2; PCI-PCI Bridge 1.2 3.2.2.3.3: the root port drops the forged
    write (Bus Master Enable clear); it was raised at its origin, so the drop balances
    and no counter goes negative."""
    m, nics, drv = nic_machine(ledger_debug=True)
    port = nics[0].parent
    m.kernel.cfg_write(0, port.devfn, 0x04, 2, m.kernel.cfg_read(0, port.devfn, 0x04, 2) & ~4)
    acc = _forge(m, _vector(m))
    assert drv.calls == []
    assert acc["raised"] == 1 and acc["in_flight"] == 0
    assert acc["dropped"] == {"bridge bus master disabled": 1} and acc["balanced"]


def test_balanced_requires_non_negative_counters() -> None:
    """Issue 14 defect 2: raised 0, delivered 1, in flight -1 sums to zero but is not
    balanced: a negative counter means an interrupt was counted where it never was."""
    m = Machine()
    led = m.ctx.ledger
    led.deliver()
    led.land()
    acc = m.accounting()
    assert acc["accounted"] == acc["raised"] == 0
    assert not acc["balanced"]


def test_reason_carries_its_name_and_rule_and_keys_the_json_by_name() -> None:
    """Drop reasons are an enum with a short name and the rule that drops; the JSON keys
    them by the name (the strings the views and tests use)."""
    led = Ledger()
    led.drop(Reason.MASKED_EDGE)
    assert Reason.MASKED_EDGE.rule.startswith("82093AA")
    assert led.as_dict()["dropped"] == {"masked edge lost": 1}
    assert led.dropped["masked edge lost"] == 1


def test_debug_ledger_names_the_interrupt_and_path_of_a_broken_block() -> None:
    """Issue 8 item 5: a deliberately broken IOMMU that lands the message itself (and then
    passes it on) makes the APIC bus land it a second time; the debug ledger stops there
    and names the interrupt id and every intent/block it went through."""
    m, nics, _ = nic_machine(ledger_debug=True)
    led = m.ctx.ledger
    good = m.iommu.interrupt_request

    def broken(tlp: Tlp) -> Tlp | None:
        led.land(tlp.iid, "broken IOMMU")
        return good(tlp)

    m.iommu.interrupt_request = broken  # type: ignore[method-assign]
    nics[0].rx(0)
    with pytest.raises(LedgerError) as err:
        m.run()
    msg = str(err.value)
    assert "interrupt #1: land at APIC bus while pending" in msg
    assert "raise@nic0 -> launch@nic0 -> land@broken IOMMU -> land@APIC bus" in msg


def test_debug_ledger_catches_an_interrupt_never_raised_and_negative_counters() -> None:
    """Debug mode: an intent on an id nobody raised, or an anonymous one that drives a
    counter below zero, is an error at the step where it happens."""
    led = DebugLedger()
    with pytest.raises(LedgerError, match="#7: land at RC but it was never raised"):
        led.land(7, "RC")
    led = DebugLedger()
    with pytest.raises(LedgerError, match="counter went negative after land at APIC bus"):
        led.land(0, "APIC bus")
    led = DebugLedger()
    iid = led.raise_("dev")
    led.launch(iid, "dev")
    led.land(iid, "APIC bus")
    led.deliver(iid, "CPU0")
    assert led.path(iid) == ["raise@dev", "launch@dev", "land@APIC bus", "deliver@CPU0"]
    with pytest.raises(LedgerError, match="deliver at CPU0 while done"):
        led.deliver(iid, "CPU0")


def test_whole_scenarios_balance_under_the_debug_ledger() -> None:
    """Every intent in the MSI-X, MSI and INTx paths is a legal step for its interrupt:
    the compare-mechanisms machine runs to the end under the debug ledger."""
    from irqsim.scenarios.mechanisms import CompareSpec, run_compare
    spec = CompareSpec(30, 10_000.0, 1, 2, 2)
    for mech in ("msix", "msi", "intx"):
        m = run_compare(mech, spec, ledger_debug=True)
        assert m.accounting()["balanced"], mech
