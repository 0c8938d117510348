"""ACPI-like firmware tables the board builds from the hardware it made (ACPI 6.5).

The board (``machine.Machine``) fills one ``AcpiTables`` as it builds: MCFG from the root
complex's ECAM window, MADT from its Local APICs and I/O APICs (plus interrupt source
overrides and the LINT NMI entry), the host bridge's _PRT as root ports are wired, and the
host bridge _CRS windows and RAM the OS may use. The OS reads the tables at boot, as Linux
parses ACPI (``acpi_boot_init``, ``pci_mmcfg_init``, ``acpi_pci_irq_lookup``); it carries no
defaults of its own. A DMAR table (VT-d DRHD, remapping units) comes with interrupt remapping
(issue 10): ``AcpiTables.dmar`` is its place and is None until then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# MPS INTI flags (ACPI 6.5 table 5.26): polarity bits 1:0, trigger mode bits 3:2.
INTI_POLARITY_CONFORMS = 0
INTI_POLARITY_HIGH = 1
INTI_POLARITY_LOW = 3
INTI_TRIGGER_CONFORMS = 0 << 2
INTI_TRIGGER_EDGE = 1 << 2
INTI_TRIGGER_LEVEL = 3 << 2
NMI_ALL_PROCESSORS = 0xFF


@dataclass(frozen=True, slots=True)
class McfgAllocation:
    """MCFG: one ECAM window (ACPI/PCI Firmware 4.1.2)."""

    base: int
    segment: int
    bus_start: int
    bus_end: int


@dataclass(frozen=True, slots=True)
class MadtLocalApic:
    """MADT Processor Local APIC (type 0) or Local x2APIC (type 9) entry."""

    uid: int
    apic_id: int
    enabled: bool = True

    @property
    def type(self) -> int:
        return 9 if self.apic_id > 0xFE else 0


@dataclass(frozen=True, slots=True)
class MadtIoApic:
    """MADT I/O APIC entry (type 1): its ID, register base and first GSI."""

    id: int
    address: int
    gsi_base: int


@dataclass(frozen=True, slots=True)
class MadtIntSrcOverride:
    """MADT Interrupt Source Override (type 2): ISA ``source`` on ``bus`` is ``gsi`` with
    MPS INTI ``flags``."""

    source: int
    gsi: int
    flags: int = 0
    bus: int = 0


@dataclass(frozen=True, slots=True)
class MadtLapicNmi:
    """MADT Local APIC NMI (type 4): which LINT pin of processor ``uid`` is the NMI
    (0xFF: every processor)."""

    uid: int
    lint: int
    flags: int = 0


@dataclass(slots=True)
class Madt:
    """Multiple APIC Description Table."""

    lapic_address: int
    lapics: list[MadtLocalApic] = field(default_factory=list)
    ioapics: list[MadtIoApic] = field(default_factory=list)
    overrides: list[MadtIntSrcOverride] = field(default_factory=list)
    nmis: list[MadtLapicNmi] = field(default_factory=list)

    def override_for(self, gsi: int) -> MadtIntSrcOverride | None:
        """The interrupt source override that names ``gsi``, if any."""
        for o in self.overrides:
            if o.gsi == gsi:
                return o
        return None


@dataclass(slots=True)
class HostBridgeResources:
    """The root bridge's _CRS windows and the RAM the OS may hand out for DMA (e820)."""

    mmio32_base: int
    mmio32_limit: int
    mmio64_base: int
    dma_base: int


@dataclass(slots=True)
class AcpiTables:
    """What the firmware tells the OS: MCFG, MADT, the root bridge's _PRT and _CRS.

    ``prt`` maps (bus, device, pin 1-4) to a GSI; PCI interrupt lines routed by _PRT are
    level-triggered, active low (ACPI 6.5 6.2.13) unless a MADT override says otherwise.
    ``dmar`` is the VT-d table's place (None: no remapping hardware described).
    """

    mcfg: list[McfgAllocation]
    madt: Madt
    resources: HostBridgeResources
    prt: dict[tuple[int, int, int], int] = field(default_factory=dict)
    dmar: Any = None
