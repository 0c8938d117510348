"""ACPI-like firmware tables the board builds from the hardware it made (ACPI 6.5).

The board (``machine.Machine``) fills one ``AcpiTables`` as it builds: MCFG from the root
complex's ECAM window, MADT from its Local APICs and I/O APICs (plus interrupt source
overrides and the LINT NMI entry), the host bridge's _PRT as root ports are wired, and the
host bridge _CRS windows and RAM the OS may use. The OS reads the tables at boot, as Linux
parses ACPI (``acpi_boot_init``, ``pci_mmcfg_init``, ``acpi_pci_irq_lookup``); it carries no
defaults of its own. The DMAR table (VT-d 8: DRHD remapping units and their device scopes, such
as the I/O APIC's source-id) is ``AcpiTables.dmar``.
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
    pcat_compat: bool = False       # MADT flags bit 0: a dual-8259 setup is present too

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


# DMAR (Intel VT-d 8): device scope types and table flags.
DMAR_SCOPE_ENDPOINT, DMAR_SCOPE_BRIDGE, DMAR_SCOPE_IOAPIC, DMAR_SCOPE_HPET = 1, 2, 3, 4
DMAR_INTR_REMAP = 1 << 0                # the platform supports interrupt remapping
DMAR_X2APIC_OPT_OUT = 1 << 1            # firmware asks the OS not to enable x2APIC


@dataclass(frozen=True, slots=True)
class DmarDeviceScope:
    """A DRHD device scope entry (VT-d 8.3.1): ``type``, ``enumeration_id`` (the I/O APIC
    ID for type 3), start ``bus`` and the (device, function) path."""

    type: int
    enumeration_id: int
    bus: int
    path: tuple[tuple[int, int], ...]

    @property
    def sid(self) -> int:
        """The source-id (requester ID) its requests carry: bus and the path's last hop."""
        dev, fn = self.path[-1]
        return self.bus << 8 | dev << 3 | fn


@dataclass(frozen=True, slots=True)
class DmarDrhd:
    """DMA Remapping Hardware unit Definition (VT-d 8.3): its register base; with
    ``include_pci_all`` every PCI device of the segment is under it."""

    address: int
    segment: int = 0
    include_pci_all: bool = True
    scopes: tuple[DmarDeviceScope, ...] = ()


@dataclass(frozen=True, slots=True)
class Dmar:
    """The DMAR table (VT-d 8.1): host address width - 1, flags, remapping units."""

    host_address_width: int
    flags: int
    drhds: tuple[DmarDrhd, ...]


@dataclass(slots=True)
class AcpiTables:
    """What the firmware tells the OS: MCFG, MADT, the root bridge's _PRT and _CRS.

    ``prt`` maps (bus, device, pin 1-4) to a GSI; PCI interrupt lines routed by _PRT are
    level-triggered, active low (ACPI 6.5 6.2.13) unless a MADT override says otherwise.
    ``dmar`` is the VT-d table (:class:`Dmar`; None: no remapping hardware described).
    """

    mcfg: list[McfgAllocation]
    madt: Madt
    resources: HostBridgeResources
    prt: dict[tuple[int, int, int], int] = field(default_factory=dict)
    # The _PRT's PIC-mode answer (after _PIC(0)): (bus, device, pin) -> ISA IRQ of the 8259,
    # the PIRQ router's steering; empty without an 8259.
    prt_pic: dict[tuple[int, int, int], int] = field(default_factory=dict)
    dmar: Dmar | None = None
    numa: Any = None        # SRAT/SLIT/_PXM (platform/numa.py NumaInfo; None: one node)
