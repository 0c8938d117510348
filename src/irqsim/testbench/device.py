"""Test-bench devices: a PCIe function declared by data (BARs, MSI, MSI-X, INTx pin).

A :class:`DeviceSpec` says what the function has; :class:`BenchFunction` is the
:class:`~irqsim.pci.function.PciFunction` built from it (users never subclass), and
:class:`Device` is the handle a test keeps: it tells the function to signal a vector,
assert or de-assert INTx, or DMA-write, and survives a platform reset (it is re-bound to
the new function).

BAR memory not covered by the MSI-X table or PBA is plain read/write storage (a scratch
register file a test may use as the device's registers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise

from irqsim.pci.config import BarSpec
from irqsim.pci.express import EXPRESS_OFFSET
from irqsim.pci.function import MmioRegion, PciFunction
from irqsim.pci.msi import MsiCapability
from irqsim.pci.msix import MsixCapability
from irqsim.sim.context import SimContext
from irqsim.spec.pci import MSIX_CAP_SIZE, msi_cap_size
from irqsim.spec.pcie import EXP_SIZE

__all__ = ["BarSpec", "Device", "DeviceSpec", "MsiLayout", "MsixLayout"]


@dataclass(frozen=True, slots=True)
class MsiLayout:
    """An MSI capability (PCI 6.8.1): ``vectors`` messages capable (Multiple Message
    Capable: a power of two, 1-32), 64-bit address or not, per-vector masking or not, at
    config offset ``offset``."""

    vectors: int = 1
    addr64: bool = True
    per_vector_masking: bool = False
    offset: int = 0x50


@dataclass(frozen=True, slots=True)
class MsixLayout:
    """An MSI-X capability (PCIe 7.7.2): ``size`` table entries, the table at
    ``table_offset`` in BAR ``table_bar`` (BIR), the PBA at ``pba_offset`` in BAR
    ``pba_bar``, the capability at config offset ``offset``."""

    size: int
    table_bar: int = 0
    table_offset: int = 0
    pba_bar: int = 0
    pba_offset: int = 0x800
    offset: int = 0x70


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """What a test-bench function is: IDs, BARs, interrupt capabilities, INTx pin (0 none,
    1-4 INTA-INTD)."""

    name: str = "dev"
    vendor: int = 0x1B36
    device: int = 0x00FE
    class_code: int = 0xFF0000
    bars: tuple[BarSpec, ...] = (BarSpec(0, 0x1000),)
    msi: MsiLayout | None = None
    msix: MsixLayout | None = None
    intx_pin: int = 0
    revision: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.intx_pin <= 4:
            raise ValueError(f"intx_pin must be 0-4 (none, INTA-INTD), got {self.intx_pin}")
        bars = {b.index: b for b in self.bars}
        if len(bars) != len(self.bars):
            raise ValueError("two BARs with one index")
        # Every function's PCI Express capability (pci/express.py) sits at 0xC0-0xFB.
        used: list[tuple[int, int, str]] = [(EXPRESS_OFFSET, EXP_SIZE, "PCI Express")]
        if self.msi is not None:
            size = msi_cap_size(self.msi.addr64, self.msi.per_vector_masking)
            used.append((self.msi.offset, size, "MSI"))
        x = self.msix
        if x is not None:
            used.append((x.offset, MSIX_CAP_SIZE, "MSI-X"))
            for bar, off, size, what in ((x.table_bar, x.table_offset, 16 * x.size, "table"),
                                         (x.pba_bar, x.pba_offset, (x.size + 63) // 64 * 8,
                                          "PBA")):
                spec = bars.get(bar)
                if spec is None or off + size > spec.size:
                    raise ValueError(f"MSI-X {what} {off:#x}+{size:#x} does not fit a "
                                     f"declared BAR{bar}")
            if x.table_bar == x.pba_bar and x.table_offset < x.pba_offset \
                    + (x.size + 63) // 64 * 8 and x.pba_offset < x.table_offset + 16 * x.size:
                raise ValueError("MSI-X table and PBA overlap")
        used.sort()
        for (a, n, wa), (b, _, wb) in pairwise(used):
            if a + n > b:
                raise ValueError(f"{wa} and {wb} capabilities overlap in config space")


class _BarStorage:
    """Plain storage behind a BAR (what the MSI-X table and PBA do not cover)."""

    __slots__ = ("data",)

    def __init__(self, size: int) -> None:
        self.data = bytearray(size)

    def mmio_read(self, offset: int, size: int) -> int:
        return int.from_bytes(self.data[offset:offset + size], "little")

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        self.data[offset:offset + size] = (value & ((1 << 8 * size) - 1)).to_bytes(size,
                                                                                    "little")


MmioRead = Callable[[int, int], int]
MmioWrite = Callable[[int, int, int], None]


class _Callbacks:
    """A test's register block: ``read(offset, size)`` / ``write(offset, size, value)``
    (offsets relative to the block; a missing callback reads 0 / ignores writes)."""

    __slots__ = ("read", "write")

    def __init__(self, read: MmioRead | None, write: MmioWrite | None) -> None:
        self.read = read
        self.write = write

    def mmio_read(self, offset: int, size: int) -> int:
        return self.read(offset, size) if self.read is not None else 0

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        if self.write is not None:
            self.write(offset, size, value)


class BenchFunction(PciFunction):
    """A PCIe endpoint built from a :class:`DeviceSpec` (no behaviour of its own: the test
    drives it through :class:`Device`)."""

    def __init__(self, ctx: SimContext, spec: DeviceSpec) -> None:
        super().__init__(ctx, spec.name, spec.vendor, spec.device, spec.class_code,
                         bars=spec.bars, revision=spec.revision, interrupt_pin=spec.intx_pin)
        self.spec = spec
        self.msi = (MsiCapability(self, spec.msi.offset, spec.msi.vectors, spec.msi.addr64,
                                  spec.msi.per_vector_masking)
                    if spec.msi is not None else None)
        x = spec.msix
        self.msix = (MsixCapability(self, x.offset, x.size, x.table_bar, x.table_offset,
                                    x.pba_bar, x.pba_offset) if x is not None else None)
        self.storage: dict[int, _BarStorage] = {b.index: _BarStorage(b.size)
                                                 for b in spec.bars}
        for b in spec.bars:         # after the table and PBA: they decode first
            self.map_region(b.index, 0, b.size, self.storage[b.index])

    def add_block(self, bar: int, offset: int, size: int, region: MmioRegion) -> None:
        """Map ``region`` at ``offset`` of BAR ``bar`` in front of the plain storage."""
        self.map_region(bar, offset, size, region)
        regions = self.regions[bar]
        regions.insert(0, regions.pop())            # decoded before table, PBA, storage


@dataclass(eq=False)
class Device:
    """A test's handle on a bench device at ``bdf`` (re-bound at a platform reset)."""

    spec: DeviceSpec
    bus: int
    device: int
    function: int
    firmware: bool
    fn: BenchFunction = field(repr=False, init=False)
    blocks: list[tuple[int, int, int, _Callbacks]] = field(default_factory=list, repr=False)

    def registers(self, bar: int, offset: int, size: int, read: MmioRead | None = None,
                  write: MmioWrite | None = None) -> None:
        """Give the device behaviour at BAR ``bar`` [offset, offset + size): CPU reads call
        ``read(off, size)``, writes ``write(off, size, value)`` (``off`` from ``offset``),
        at the access's instant. Kept across a platform reset."""
        block = (bar, offset, size, _Callbacks(read, write))
        self.blocks.append(block)
        self.fn.add_block(*block)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def bdf(self) -> str:
        return f"{self.bus:02x}:{self.device:02x}.{self.function}"

    @property
    def requester_id(self) -> int:
        """The requester ID the function puts in its TLPs (bus << 8 | device << 3 | fn)."""
        return self.fn.requester_id

    def bar(self, index: int) -> int:
        """The address BAR ``index`` decodes now (0 while unassigned)."""
        return self.fn.bar_address(index)

    def msix_entry_address(self, k: int) -> int:
        """Physical address of MSI-X table entry ``k`` (from the BAR it lives in)."""
        x = self.spec.msix
        if x is None:
            raise ValueError(f"{self.name} has no MSI-X")
        return self.bar(x.table_bar) + x.table_offset + 16 * k

    def msix_pba_address(self) -> int:
        """Physical address of the Pending Bit Array."""
        x = self.spec.msix
        if x is None:
            raise ValueError(f"{self.name} has no MSI-X")
        return self.bar(x.pba_bar) + x.pba_offset

    # -- what the device does -------------------------------------------------------
    def signal(self, k: int = 0) -> None:
        """The device's event for vector ``k``: MSI-X entry ``k`` when MSI-X is enabled,
        else MSI message ``k`` when MSI is enabled, else its INTx condition (a PCIe
        function emulates INTx when neither is enabled, PCIe 6.1)."""
        fn = self.fn
        if fn.msix is not None and fn.msix.enabled:
            fn.msix.signal(k)
        elif fn.msi is not None and fn.msi.enabled:
            fn.msi.signal(k)
        else:
            fn.intx_raise()

    def signal_msix(self, k: int) -> None:
        """Raise MSI-X vector ``k`` whatever the enables (masked or disabled: PBA)."""
        if self.fn.msix is None:
            raise ValueError(f"{self.name} has no MSI-X capability")
        self.fn.msix.signal(k)

    def signal_msi(self, k: int) -> None:
        """Raise MSI message ``k`` whatever the enables (MSI disabled: dropped, reason)."""
        if self.fn.msi is None:
            raise ValueError(f"{self.name} has no MSI capability")
        self.fn.msi.signal(k)

    def intx_assert(self) -> None:
        """Set the INTx condition (Interrupt Status; Assert_INTx when allowed)."""
        self.fn.intx_raise()

    def intx_deassert(self) -> None:
        """Clear the INTx condition (Deassert_INTx when asserted)."""
        self.fn.intx_clear()

    def dma_write(self, address: int, data: bytes) -> int | None:
        """A posted memory write of ``data`` upstream (needs Bus Master Enable); returns
        its arrival time at the parent port, None if it was not sent."""
        return self.fn.dma_write(address, data)

    @property
    def intx_asserted(self) -> bool:
        return self.fn.intx_asserted
