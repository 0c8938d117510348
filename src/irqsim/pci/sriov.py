"""Single Root I/O Virtualization: a physical function's SR-IOV capability and the virtual
functions it brings up (PCIe Base 6.0, 9.3).

The capability's registers are declared once in :mod:`irqsim.spec.pcie` (``SRIOV_*``). When
software sets VF Enable with NumVFs > 0, the physical function (PF) creates NumVFs virtual
functions at routing IDs PF + First VF Offset + i x VF Stride (9.3.3.9-10) on the PF's bus,
each a function of its own: configuration space (Vendor and Device ID read as FFFFh, 9.3.4.1),
its own Bus Master Enable, MSI-X table and requester ID. VF BAR k of VF i lies at the PF's VF
BAR k base + i x the BAR's size (9.3.3.14), decoded while the PF's VF MSE bit is set (a VF's
own Memory Space bit is read-only zero, 9.3.4.1.3). Clearing VF Enable removes them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from irqsim.pci.config import BarSpec
from irqsim.pci.function import PciFunction
from irqsim.sim.rules import rule
from irqsim.spec import pcie as X
from irqsim.spec.pci import BAR0, COMMAND
from irqsim.spec.regs import Register

if TYPE_CHECKING:
    from irqsim.pci.bridge import PciBridge

R_VF_BUS = rule("SRIOV-VF-OFF-BUS", "PCIe 9.3.3.9",
                "a VF whose routing ID falls on a bus above the PF's needs that bus inside "
                "the port's secondary-subordinate range")
R_VF_RID = rule("SRIOV-VF-RID", "PCIe 9.3.3.9-10",
                "First VF Offset and VF Stride give each VF a routing ID of its own")
R_NUMVFS = rule("SRIOV-NUMVFS-RANGE", "PCIe 9.3.3.7",
                "NumVFs above TotalVFs gives undefined results")
R_NUMVFS_CHANGED = rule("SRIOV-NUMVFS-WHILE-ENABLED", "PCIe 9.3.3.7",
                        "NumVFs may change only while VF Enable is clear")
R_VF_MSE = rule("SRIOV-VF-MSE", "PCIe 9.3.3.3.4",
                "VF memory space is decoded only while the PF's VF MSE bit is set")

_CMD_MEMORY = COMMAND.field("memory_space").mask
_CMD_MASTER = COMMAND.field("bus_master").mask
_VF_ENABLE = X.SRIOV_CTRL.field("vf_enable").mask
_VF_MSE = X.SRIOV_CTRL.field("vf_mse").mask

VfFactory = Callable[["SriovCapability", int], "VirtualFunction"]


class VirtualFunction(PciFunction):
    """A VF: its own configuration space and requester ID; BARs from the PF's VF BARs."""

    def __init__(self, sriov: SriovCapability, index: int, name: str, class_code: int) -> None:
        super().__init__(sriov.pf.ctx, name, 0xFFFF, 0xFFFF, class_code,
                         bars=sriov.vf_bars, interrupt_pin=0, link=None)
        self.sriov = sriov
        self.index = index
        self.vf_bus = sriov.routing_id(index) >> 8
        cs = self.config
        for spec in sriov.vf_bars:                 # the VF's own BARs are RO zero (9.3.4.1.11)
            off = BAR0 + 4 * spec.index
            cs.hw_write(off, 4, 0)
            cs.set_masks(off, 4, 0)
            if spec.is64:
                cs.hw_write(off + 4, 4, 0)
                cs.set_masks(off + 4, 4, 0)
        # Memory Space is RO zero in a VF; VF MSE in the PF governs decoding (9.3.4.1.3).
        cs.set_masks(COMMAND.offset, 2, cs.wmask[COMMAND.offset] & ~_CMD_MEMORY
                     | cs.wmask[COMMAND.offset + 1] << 8)

    @property
    def bus(self) -> int:
        """A VF's bus: its routing ID's, which may lie above the PF's (9.3.3.9; the port's
        subordinate range must cover it)."""
        return self.vf_bus

    def bar_address(self, index: int) -> int:
        spec = self.bars[index]
        return self.sriov.vf_bar_base(index) + self.index * spec.size

    def decodes_memory(self) -> bool:
        return self.sriov.mse


class SriovCapability:
    """The SR-IOV extended capability of ``pf`` at ``offset``, and the VFs it enables."""

    def __init__(self, pf: PciFunction, make_vf: VfFactory, total_vfs: int,
                 vf_device: int, vf_bars: tuple[BarSpec, ...], offset: int = 0x100,
                 vf_offset: int = 0x80, vf_stride: int = 2,
                 initial_vfs: int | None = None, next_cap: int = 0,
                 existing: bool = False) -> None:
        """``existing``: the capability's bytes are already in ``pf``'s configuration space (a
        device from a dump): keep its read-only registers, declare the access rules, and
        start from reset (VF Enable, VF MSE and NumVFs clear, VF BARs unassigned)."""
        if not 1 <= total_vfs <= 0xFFFF:
            raise ValueError(f"TotalVFs {total_vfs} outside 1-65535")
        self.pf = pf
        self.offset = offset
        self.make_vf = make_vf
        self.vf_bars = vf_bars
        self.vf_device = vf_device
        self.vfs: list[VirtualFunction] = []
        cs = pf.config
        values: tuple[tuple[Register, int], ...] = (
            (X.SRIOV_CAP, 0), (X.SRIOV_CTRL, 0), (X.SRIOV_STATUS, 0),
            (X.SRIOV_INITIAL_VFS, initial_vfs or total_vfs),
            (X.SRIOV_TOTAL_VFS, total_vfs), (X.SRIOV_NUM_VFS, 0),
            (X.SRIOV_FDL, 0), (X.SRIOV_VF_OFFSET, vf_offset),
            (X.SRIOV_VF_STRIDE, vf_stride), (X.SRIOV_VF_DEVICE, vf_device),
            (X.SRIOV_SUPPORTED_PAGE_SIZES, 0x553), (X.SRIOV_SYSTEM_PAGE_SIZE, 1))
        if existing:
            keep = {X.SRIOV_CTRL.name, X.SRIOV_NUM_VFS.name, X.SRIOV_STATUS.name}
            values = tuple((reg, v if reg.name in keep
                            else cs.read(offset + reg.offset, reg.size)) for reg, v in values)
        else:
            cs.hw_write(offset, 4, X.ECAP_SRIOV | 1 << 16 | next_cap << 20)
        for reg, value in values:
            cs.declare(reg, offset, reset=value)
        for spec in vf_bars:                       # VF BARs: address bits above the size
            off = offset + X.SRIOV_VF_BAR0 + 4 * spec.index
            cs.hw_write(off, 4, spec.type_bits)
            cs.set_masks(off, 4, ~(spec.size - 1) & 0xFFFFFFF0)
            if spec.is64:
                cs.set_masks(off + 4, 4, 0xFFFFFFFF & ~((spec.size - 1) >> 32))
        pf.listen(offset + X.SRIOV_CTRL.offset, 2, self._control_written)
        pf.listen(offset + X.SRIOV_NUM_VFS.offset, 2, self._numvfs_written)
        self._enabled = False

    # -- registers ----------------------------------------------------------------------------
    def _reg(self, reg: Register) -> int:
        return self.pf.config.read(self.offset + reg.offset, reg.size)

    @property
    def num_vfs(self) -> int:
        return self._reg(X.SRIOV_NUM_VFS)

    @property
    def total_vfs(self) -> int:
        return self._reg(X.SRIOV_TOTAL_VFS)

    @property
    def mse(self) -> bool:
        """VF MSE: VF memory space decoded (with the PF's bridge windows, as any BAR)."""
        return bool(self._reg(X.SRIOV_CTRL) & _VF_MSE)

    def vf_bar_base(self, index: int) -> int:
        off = self.offset + X.SRIOV_VF_BAR0 + 4 * index
        cs = self.pf.config
        lo = cs.read(off, 4) & 0xFFFFFFF0
        spec = next(s for s in self.vf_bars if s.index == index)
        return lo | (cs.read(off + 4, 4) << 32 if spec.is64 else 0)

    def routing_id(self, i: int) -> int:
        """Routing ID of VF ``i`` (0-based): PF + First VF Offset + i x VF Stride."""
        return (self.pf.requester_id + self._reg(X.SRIOV_VF_OFFSET)
                + i * self._reg(X.SRIOV_VF_STRIDE)) & 0xFFFF

    # -- VF Enable ------------------------------------------------------------------------------
    def _numvfs_written(self, offset: int, size: int, old: bytes) -> None:
        ctx = self.pf.ctx
        if self._enabled:
            ctx.diag(self.pf.name, R_NUMVFS_CHANGED,
                     f"NumVFs written ({self.num_vfs}) while VF Enable is set: the VFs stay")
        if self.num_vfs > self.total_vfs:
            ctx.diag(self.pf.name, R_NUMVFS, f"NumVFs {self.num_vfs} > TotalVFs "
                     f"{self.total_vfs}: irqsim enables TotalVFs")

    def _control_written(self, offset: int, size: int, old: bytes) -> None:
        enable = bool(self._reg(X.SRIOV_CTRL) & _VF_ENABLE)
        if enable and not self._enabled:
            self._create(min(self.num_vfs, self.total_vfs))
        elif not enable and self._enabled:
            self._remove()
        self._enabled = enable

    def _create(self, n: int) -> None:
        port: PciBridge | None = self.pf.parent  # type: ignore[assignment]
        pf_bus = self.pf.requester_id >> 8
        for i in range(n):
            rid = self.routing_id(i)
            vbus = rid >> 8
            if port is None or not (vbus == pf_bus
                                    or pf_bus < vbus <= port.subordinate_bus):
                self.pf.ctx.diag(self.pf.name, R_VF_BUS,
                                 f"VF {i} at routing ID {rid >> 8:02x}:{(rid >> 3) & 31:02x}."
                                 f"{rid & 7} is outside the PF's bus range {pf_bus:02x}-"
                                 f"{port.subordinate_bus if port else pf_bus:02x}: not created")
                continue
            if rid == self.pf.requester_id or any(v.requester_id == rid for v in self.vfs):
                self.pf.ctx.diag(self.pf.name, R_VF_RID,
                                 f"VF {i}'s routing ID {vbus:02x}:{(rid >> 3) & 31:02x}."
                                 f"{rid & 7} is the PF's or another VF's: not created")
                continue
            vf = self.make_vf(self, i)
            port.attach(vf, rid & 0xFF)
            vf.link = self.pf.link               # VFs share the PF's physical link
            self.vfs.append(vf)
        ctx = self.pf.ctx
        if ctx.tracer.on:
            ctx.tracer.emit(ctx.engine.now, self.pf.name, self.pf.name, "sriov-enable",
                            vfs=len(self.vfs))

    def _remove(self) -> None:
        port = self.pf.parent
        for vf in self.vfs:
            if port is not None and vf in port.children:  # type: ignore[attr-defined]
                port.children.remove(vf)  # type: ignore[attr-defined]
            vf.parent = None
        self.vfs.clear()
