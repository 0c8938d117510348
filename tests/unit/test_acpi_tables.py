"""The board builds its ACPI tables from the hardware it made and the OS boots from them
(ACPI 6.5 MCFG 4.1.2 of PCI Firmware 3.3, MADT 5.2.12, _PRT 6.2.13; Linux acpi_boot_init,
pci_mmcfg_init, acpi_pci_irq_lookup)."""

from __future__ import annotations

import pytest

from irqsim.apic.lapic import APIC_DEFAULT_BASE
from irqsim.cpu.topology import Topology
from irqsim.devices.legacy import LegacyIntxDevice
from irqsim.drivers.legacy import LegacyIntxDriver
from irqsim.fabric.root_complex import ECAM_BASE
from irqsim.machine import Machine, intx_gsi
from irqsim.platform.acpi import NMI_ALL_PROCESSORS, MadtLapicNmi


def test_tables_describe_the_board() -> None:
    """MCFG names the root complex's ECAM window; MADT lists every LAPIC with its APIC ID
    (x2APIC entries above 0xFE), the I/O APIC with its ID, address and GSI base, and LINT1
    as the NMI pin; the _PRT holds each wired root-port pin; no DMAR without VT-d."""
    ids = [0, 2, 0x100, 0x102]
    m = Machine(ncpus=4, apic_ids=ids, topology=Topology(sockets=1, cores=4, threads=1))
    m.add_root_port()
    m.add_root_port()
    a = m.acpi
    assert [(c.base, c.bus_start, c.bus_end) for c in a.mcfg] == [(ECAM_BASE, 0, 255)]
    assert [e.apic_id for e in a.madt.lapics] == ids
    assert [e.type for e in a.madt.lapics] == [0, 0, 9, 9]
    assert a.madt.lapic_address == APIC_DEFAULT_BASE
    (io,) = a.madt.ioapics
    assert (io.address, io.gsi_base) == (m.ioapic.base, m.ioapic.gsi_base)
    assert a.madt.nmis == [MadtLapicNmi(NMI_ALL_PROCESSORS, 1)]
    assert a.prt == {(0, d, p): intx_gsi(d, p) for d in (1, 2) for p in range(1, 5)}
    assert a.prt == m.rc.intx_routes
    # DMAR (VT-d 8): one DRHD at the unit's base; the I/O APIC's device scope gives its SID.
    assert a.dmar is not None and a.dmar.flags & 1
    (drhd,) = a.dmar.drhds
    assert drhd.address == m.iommu.base
    (scope,) = drhd.scopes
    assert (scope.type, scope.enumeration_id, scope.sid) == (3, m.ioapic.id >> 24,
                                                            m.ioapic.source_id)


def test_os_takes_cpus_and_nmi_pin_from_the_madt() -> None:
    """The OS's APIC IDs come from the MADT (x2APIC mode chosen from them); LINT1 is NMI on
    the BSP only (Linux setup_local_APIC); a board whose MADT names no NMI pin leaves LINT1
    masked everywhere."""
    m = Machine(ncpus=2, apic_ids=[0, 0x1FF], topology=Topology(sockets=1, cores=2))
    m.boot()
    assert m.kernel.madt_ids == [0, 0x1FF] and m.kernel.x2apic_mode
    assert m.kernel.apic_ids == [0, 0x1FF]
    assert not m.lapics[0].lvt("LINT1") & 1 << 16 and m.lapics[1].lvt("LINT1") & 1 << 16
    m2 = Machine(ncpus=1)
    m2.acpi.madt.nmis.clear()
    m2.boot()
    assert m2.lapics[0].lvt("LINT1") & 1 << 16


def test_prt_the_os_uses_is_the_boards() -> None:
    """A device's INTx line is whatever the board's _PRT says: rewiring a root-port pin
    (hardware route plus _PRT entry) moves the device's IRQ to that GSI."""
    m = Machine(ncpus=1)
    port = m.add_root_port()
    m.route_intx(0, port.devfn >> 3, 1, 22)
    m.add_device(LegacyIntxDevice(m.ctx), port)
    drv = LegacyIntxDriver()
    m.kernel.register_driver(drv)
    m.boot()
    assert m.kernel.devices[-1].irq == 22 and 22 in m.kernel.irqs


def test_madt_must_match_the_cpus() -> None:
    """At boot the OS refuses tables that do not describe its CPUs, or lack an MCFG."""
    m = Machine(ncpus=2)
    m.acpi.madt.lapics.pop()
    with pytest.raises(ValueError, match="MADT"):
        m.boot()
    m = Machine(ncpus=1)
    m.acpi.mcfg.clear()
    with pytest.raises(ValueError, match="MCFG"):
        m.boot()
