"""IPI destinations and delivery (semantics.md A.11; SDM 10.6.1-10.6.2) with 2-4 CPUs.

ICR low bits: 7:0 vector, 10:8 delivery mode, 11 logical, 12 delivery status, 14 level,
15 trigger, 19:18 shorthand. The helpers write the ICR the way software does.
"""

from __future__ import annotations

import pytest

from apic_helpers import BASE, apic_write, got, raw_machine, send_ipi
from irqsim.apic.interconnect import lowest_tpr_then_id
from irqsim.apic.lapic import ESR_RECV_ILLEGAL_VECTOR, ESR_SEND_ACCEPT, ESR_SEND_ILLEGAL_VECTOR
from irqsim.cpu.cpu import RUNNING, WAIT_FOR_SIPI
from irqsim.cpu.topology import Topology

LOGICAL = 1 << 11
ASSERT = 1 << 14
SELF, ALL, OTHERS = 1 << 18, 2 << 18, 3 << 18
FIXED, LOWEST, NMI, INIT, STARTUP = 0, 1 << 8, 4 << 8, 5 << 8, 6 << 8


@pytest.mark.parametrize("x2", [False, True])
def test_physical_destination_and_broadcast(x2: bool) -> None:
    """Physical: the APIC whose ID equals the destination; 0xFF (xAPIC) / 0xFFFFFFFF (x2APIC)
    is a broadcast to every APIC including the sender (A.11)."""
    m = raw_machine(4, x2apic=x2, apic_ids=[0, 2, 4, 6])
    send_ipi(m.cpus[0], 0x41 | ASSERT, 4)
    m.run()
    assert got(m, 0x41) == [2]
    send_ipi(m.cpus[1], 0x42 | ASSERT, 0xFFFFFFFF if x2 else 0xFF)
    m.run()
    assert got(m, 0x42) == [0, 1, 2, 3] and m.accounting()["balanced"]


def test_physical_aliased_ids_all_receive() -> None:
    """Every APIC whose ID matches accepts (aliased IDs all receive, A.11)."""
    m = raw_machine(3)
    m.cpus[2].write(BASE + 0x20, 4, 1 << 24)            # CPU2 takes ID 1 as well
    send_ipi(m.cpus[0], 0x43, 1)
    m.run()
    assert got(m, 0x43) == [1, 2]


def test_logical_flat() -> None:
    """Flat model (DFR=1111b): match when LDR[31:24] & MDA != 0; 0xFF reaches even LDR=0
    ([SIM] broadcast) (A.11)."""
    m = raw_machine(4)
    for i, c in enumerate(m.cpus[:3]):
        apic_write(c, 0xD0, (1 << i) << 24)
    send_ipi(m.cpus[0], 0x44 | LOGICAL, 0b110)
    m.run()
    assert got(m, 0x44) == [1, 2]
    send_ipi(m.cpus[0], 0x45 | LOGICAL, 0xFF)
    m.run()
    assert got(m, 0x45) == [0, 1, 2, 3]


def test_logical_cluster() -> None:
    """Cluster model (DFR=0000b): LDR[31:28] == MDA[7:4] and LDR[27:24] & MDA[3:0] != 0
    (A.11); cluster 0xF is not a wildcard ([SIM])."""
    m = raw_machine(4)
    ldrs = [0x11, 0x12, 0x21, 0x22]
    for c, ldr in zip(m.cpus, ldrs, strict=True):
        apic_write(c, 0xE0, 0x0FFFFFFF)
        apic_write(c, 0xD0, ldr << 24)
    send_ipi(m.cpus[0], 0x46 | LOGICAL, 0x13)
    m.run()
    assert got(m, 0x46) == [0, 1]
    send_ipi(m.cpus[0], 0x47 | LOGICAL, 0x21)
    m.run()
    assert got(m, 0x47) == [2]
    send_ipi(m.cpus[0], 0x48 | LOGICAL, 0xF3)
    m.run()
    assert got(m, 0x48) == []


def test_x2apic_cluster() -> None:
    """x2APIC logical: LDR[31:16] == MDA[31:16] and LDR[15:0] & MDA[15:0] != 0, with the
    derived LDR (A.11)."""
    m = raw_machine(4, x2apic=True, apic_ids=[0x01, 0x02, 0x11, 0x13])
    send_ipi(m.cpus[0], 0x49 | LOGICAL, 0 << 16 | 0b110)         # cluster 0, IDs 1 and 2
    m.run()
    assert got(m, 0x49) == [0, 1]
    send_ipi(m.cpus[0], 0x4A | LOGICAL, 1 << 16 | 1 << 3)        # cluster 1, ID 0x13
    m.run()
    assert got(m, 0x4A) == [3]
    send_ipi(m.cpus[0], 0x4B | LOGICAL, 0xFFFFFFFF)
    m.run()
    assert got(m, 0x4B) == [0, 1, 2, 3]


@pytest.mark.parametrize("x2", [False, True])
def test_shorthands(x2: bool) -> None:
    """Self, all including self, all excluding self; the destination field is ignored
    (A.11)."""
    m = raw_machine(3, x2apic=x2)
    src = m.cpus[1]
    send_ipi(src, 0x50 | SELF, 2)
    send_ipi(src, 0x51 | ALL, 2)
    send_ipi(src, 0x52 | OTHERS, 1)
    m.run()
    assert (got(m, 0x50), got(m, 0x51), got(m, 0x52)) == ([1], [0, 1, 2], [0, 2])


def test_lowest_priority_lowest_tpr_then_lowest_id() -> None:
    """Lowest priority: one target, lowest TPR then lowest APIC ID among software-enabled
    matches ([SIM] A.11)."""
    m = raw_machine(4, apic_ids=[3, 1, 2, 0])
    tprs = [0x10, 0x20, 0x10, 0x30]
    for c, t in zip(m.cpus, tprs, strict=True):
        apic_write(c, 0x80, t)
    send_ipi(m.cpus[0], 0x60 | LOWEST, 0xFF)
    m.run()
    assert got(m, 0x60) == [2]                  # TPR 0x10 at IDs 3 and 2: lowest ID 2
    apic_write(m.cpus[2], 0xF0, 0xFF)            # software-disabled: not a candidate
    send_ipi(m.cpus[0], 0x61 | LOWEST, 0xFF)
    m.run()
    assert got(m, 0x61) == [0]


def test_lowest_priority_policy_is_pluggable() -> None:
    """The arbitration policy can be replaced (A.11: implementation-defined)."""
    m = raw_machine(3)
    m.apic_bus.lowest_priority = lambda c: max(c, key=lambda a: a.apic_id)
    send_ipi(m.cpus[0], 0x62 | LOWEST, 0xFF)
    m.run()
    assert got(m, 0x62) == [2]
    assert lowest_tpr_then_id(m.lapics).apic_id == 0


def test_illegal_vector_sets_esr_on_both_sides() -> None:
    """A fixed IPI with vector < 16: sender ESR bit 5, receivers ESR bit 6, dropped ([SIM]
    A.9)."""
    m = raw_machine(2)
    send_ipi(m.cpus[0], 0x05, 1)
    m.run()
    s, r = m.lapics
    s.mmio_write(0x280, 4, 0)
    r.mmio_write(0x280, 4, 0)
    assert s.mmio_read(0x280) & ESR_SEND_ILLEGAL_VECTOR
    assert r.mmio_read(0x280) & ESR_RECV_ILLEGAL_VECTOR and r.irr == 0
    assert m.ctx.ledger.dropped["illegal vector"] == 1 and m.accounting()["balanced"]


def test_no_target_sets_send_accept_error() -> None:
    """An IPI accepted by no APIC sets ESR bit 2 on the sender (A.9)."""
    m = raw_machine(2)
    send_ipi(m.cpus[0], 0x63, 7)
    m.run()
    m.lapics[0].mmio_write(0x280, 4, 0)
    assert m.lapics[0].mmio_read(0x280) & ESR_SEND_ACCEPT


def test_delivery_status_while_in_flight() -> None:
    """xAPIC ICR bit 12 reads 1 until the IPI has reached its target, then 0 (SDM 10.6.1)."""
    m = raw_machine(2)
    cpu = m.cpus[0]
    send_ipi(cpu, 0x64, 1)
    assert cpu.read(BASE + 0x300) & (1 << 12)
    m.run()
    assert not cpu.read(BASE + 0x300) & (1 << 12)


def test_hop_cost_by_topology() -> None:
    """Arrival = send + ipi_send + hop: same core < same socket < cross socket (seed 003).
    The ICR write is made at the section's clock, after the ICR2 write's cost."""
    m = raw_machine(0, topology=Topology(sockets=2, cores=2, threads=2))
    t = m.ctx.timing
    arrivals = {}
    for dst in (1, 2, 4):
        t0 = m.now
        m.cpus[0].run(lambda _, d=dst: send_ipi(m.cpus[0], 0x70 + d, m.lapics[d].apic_id))
        m.run()
        arrivals[dst] = m.lapics[dst].ctx.engine.now - t0
    base = t.lapic_mmio_access + t.ipi_send
    assert arrivals == {1: base + t.ipi_hop_same_core, 2: base + t.ipi_hop_same_socket,
                        4: base + t.ipi_hop_cross_socket}


def test_nmi_ipi_ignores_if_and_tpr() -> None:
    """NMI delivery mode: taken with IF=0 and TPR=0xFF; the vector field is ignored (A.11)."""
    m = raw_machine(2)
    apic_write(m.cpus[1], 0x80, 0xFF)
    send_ipi(m.cpus[0], NMI | ASSERT, 1)
    m.run()
    assert m.cpus[1].nmi_count == 1 and m.lapics[1].irr == 0 and m.accounting()["balanced"]


def test_init_sipi_sipi_starts_an_ap() -> None:
    """INIT puts the target in wait-for-SIPI and resets its APIC; the first SIPI starts it at
    vector << 12; the second is ignored; INIT level de-assert does nothing (SDM 8.4.4,
    A.11)."""
    m = raw_machine(2)
    bsp, ap = m.cpus
    send_ipi(bsp, INIT | (1 << 15), 1)                  # INIT level de-assert
    m.run()
    assert ap.state == RUNNING
    send_ipi(bsp, INIT | ASSERT, 1)
    m.run()
    assert ap.state == WAIT_FOR_SIPI and m.lapics[1].svr == 0xFF
    send_ipi(bsp, 0x20 | ASSERT, 1)                      # fixed: dropped, APIC disabled
    m.run()
    assert m.lapics[1].irr == 0
    started = []
    ap.on_startup = lambda c: started.append(c.startup_ip)
    send_ipi(bsp, STARTUP | 0x9A, 1)
    send_ipi(bsp, STARTUP | 0x9B, 1)
    m.run()
    assert ap.state == RUNNING and started == [0x9A000] and ap.startup_ip == 0x9A000
    assert m.accounting()["balanced"]


def test_msi_init_smi_and_extint_are_accounted() -> None:
    """MSI delivery modes SMI and INIT reach the core (counted delivered); ExtINT and the
    reserved start-up mode are dropped with a diagnostic (SDM 10.11.2)."""
    from irqsim.fabric.tlp import Tlp, TlpType

    m = raw_machine(2)
    led = m.ctx.ledger
    for mode in (2, 5, 6, 7):
        led.raise_("test")
        led.launch()
        m.apic_bus.deliver_msi(Tlp(TlpType.MWR, 0x100, 0xFEE01000, mode << 8 | 0x30))
    m.run()
    assert m.cpus[1].smi_count == 1 and m.cpus[1].state == WAIT_FOR_SIPI
    assert led.dropped["MSI delivery mode not deliverable"] == 2
    assert m.accounting()["balanced"]
