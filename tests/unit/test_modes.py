"""Modes as enums (issue 9 item 2): the IntEnum values are the register encodings (SDM 10.5.1,
10.6.1, 10.11.1-2; 82093AA 3.2.4), so decoding a declared field is ``Mode(bits)``, and the
hot-path int constants are derived from them."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from irqsim.apic.timer import TIMER_MODE_NAMES, TIMER_ONESHOT, TIMER_PERIODIC, TIMER_TSC_DEADLINE
from irqsim.scenarios import ScenarioOptions, load_all
from irqsim.spec.ioapic import IOREDTBL
from irqsim.spec.lapic import APIC_ICR, APIC_REGISTERS, LVT_OFFSETS, LVT_TIMER, X2APIC_REGISTERS
from irqsim.spec.modes import DeliveryMode, DestinationMode, IrqMode, TimerMode, TriggerMode
from irqsim.spec.msi import (
    DELIVERY_MODE_NAMES,
    DM_EXTINT,
    DM_FIXED,
    DM_INIT,
    DM_LOWEST,
    DM_NMI,
    DM_SMI,
    DM_STARTUP,
    MSI_ADDRESS,
    MSI_DATA,
    msi_address,
    msi_data,
)

ICR = X2APIC_REGISTERS[APIC_ICR]
LVT_TIMER_REG = APIC_REGISTERS[LVT_OFFSETS[LVT_TIMER]]


def test_delivery_mode_encodings_are_the_sdm_table() -> None:
    """SDM 10.6.1 / 10.11.2: 000 Fixed, 001 Lowest Priority, 010 SMI, 100 NMI, 101 INIT,
    110 Start-Up, 111 ExtINT; 011 reserved (no member). The DM_* ints equal the members."""
    assert [(int(m), m.label) for m in DeliveryMode] == [
        (0, "Fixed"), (1, "LowestPrio"), (2, "SMI"), (4, "NMI"), (5, "INIT"), (6, "StartUp"),
        (7, "ExtINT")]
    assert tuple(
        DeliveryMode) == (DM_FIXED, DM_LOWEST, DM_SMI, DM_NMI, DM_INIT, DM_STARTUP, DM_EXTINT)
    assert 3 not in DELIVERY_MODE_NAMES and len(DELIVERY_MODE_NAMES) == 7


@given(st.sampled_from(list(DeliveryMode)), st.integers(0x10, 0xFF), st.booleans(),
       st.integers(0, 0xFF), st.booleans())
def test_msi_fields_decode_to_the_enums(mode: DeliveryMode, vector: int, level: bool,
                                        dest: int, logical: bool) -> None:
    """An MSI composed with a mode decodes back through the declared fields as the enums."""
    data = MSI_DATA.decode(msi_data(vector, mode, level_triggered=level))
    addr = MSI_ADDRESS.decode(msi_address(dest, logical=logical))
    assert DeliveryMode(data["delivery_mode"]) is mode
    assert TriggerMode(data["trigger_mode"]) is (TriggerMode.LEVEL if level else TriggerMode.EDGE)
    assert DestinationMode(addr["destination_mode"]) is (
        DestinationMode.LOGICAL if logical else DestinationMode.PHYSICAL)


@given(st.sampled_from(list(DeliveryMode)), st.sampled_from(list(DestinationMode)),
       st.sampled_from(list(TriggerMode)))
def test_icr_and_rte_fields_share_the_encodings(mode: DeliveryMode, dm: DestinationMode,
                                                tm: TriggerMode) -> None:
    """The ICR (SDM 10.6.1) and the I/O APIC RTE (82093AA 3.2.4) put delivery, destination and
    trigger mode in the same bits with the same encodings."""
    for reg in (ICR, IOREDTBL):
        value = (reg.field("delivery_mode").put(0, mode)
                 | reg.field("destination_mode").put(0, dm)
                 | reg.field("trigger_mode").put(0, tm))
        f = reg.decode(value)
        assert (DeliveryMode(f["delivery_mode"]), DestinationMode(f["destination_mode"]),
                TriggerMode(f["trigger_mode"])) == (mode, dm, tm)


def test_timer_mode_encodings_and_derived_constants() -> None:
    """SDM 10.5.1: LVT Timer bits 18:17 are 00 one-shot, 01 periodic, 10 TSC-deadline."""
    fld = LVT_TIMER_REG.field("timer_mode")
    for m in TimerMode:
        assert TimerMode(fld.get(fld.put(0, m))) is m
    assert tuple(TimerMode) == (TIMER_ONESHOT, TIMER_PERIODIC, TIMER_TSC_DEADLINE)
    assert TIMER_MODE_NAMES == {0: "one-shot", 1: "periodic", 2: "TSC-deadline", 3: "reserved"}


def test_irq_mode_is_what_the_driver_chose_and_serializes_as_its_value() -> None:
    """Linux pci_alloc_irq_vectors: the mixed scenario's devices end on MSI-X, MSI and INTx;
    the mode is an IrqMode that still compares and serializes as the plain string."""
    res = load_all()["mixed"][1](ScenarioOptions(requests=2))
    modes = {p.irq_mode for p in res.machine.kernel.devices}
    assert {IrqMode.MSIX, IrqMode.MSI, IrqMode.INTX} <= modes
    assert all(isinstance(m, IrqMode) for m in modes)
    assert json.loads(json.dumps(sorted(modes))) == sorted(m.value for m in modes)
    assert IrqMode.MSIX == "msix" and IrqMode.MSIX.label == "MSI-X"

