"""A PCI function whose configuration space comes from a real dump (lspci -x or sysfs).

The dump's bytes are the configuration space: header fields keep the access rules of their
declarations (read-only parts keep the dump's values, writable parts are writable), BAR types
come from the dump, and a present MSI-X capability is driven by the MSI-X model with its real
table size, BIR and offsets. A dump does not record BAR sizes: irqsim gives each memory BAR the
smallest power of two (at least 4 KiB) that holds the MSI-X structures placed in it.

A dump holds the physical function only. A present SR-IOV capability is modelled (PCIe 9.3,
pci/sriov.py) from the dump's counts, offset, stride and VF Device ID; its VF BARs get sizes
as the BARs do, and each VF gets an MSI-X capability shaped like the VF's datasheet says where
irqsim knows it (:data:`VF_MSIX`), else like the PF's own (same BIR, offsets and table size)
when that BIR names a VF BAR, else none (docs/sriov.md).

A dump says nothing about the device's own registers either. So that INTx (level, shared) can
be driven honestly, irqsim adds one stand-in register: a 32-bit read-to-clear interrupt cause
register in the last 16 bytes of the first memory BAR that has room for it. Reading it returns
the pending event bits, clears them and deasserts INTx, as a real driver's status read does.
"""

from __future__ import annotations

from irqsim.formats.dumpfile import ConfigDump
from irqsim.pci.config import BarSpec, ConfigSpace
from irqsim.pci.function import PciFunction
from irqsim.pci.msi import MsiCapability
from irqsim.pci.msix import MsixCapability
from irqsim.pci.sriov import SriovCapability, VirtualFunction
from irqsim.sim.context import SimContext
from irqsim.spec import pcie as X
from irqsim.spec.pci import CAP_ID_MSI, CAP_ID_MSIX, CONFIG_SPACE_SIZE
from irqsim.spec.regs import Register

MIN_BAR = 4096
CAUSE_REGISTER_SIZE = 16   # irqsim's stand-in interrupt cause register, at the end of a BAR


class DumpError(ValueError):
    """A dump that cannot become a simulated function (names the dump and the field)."""


def _pow2_at_least(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


class DumpedFunction(PciFunction):
    """An endpoint built from a configuration dump."""

    def __init__(self, ctx: SimContext, dump: ConfigDump, name: str | None = None,
                 sriov: bool = True) -> None:
        """``sriov``: model a dumped SR-IOV capability (VF BARs sized as irqsim chooses, VFs
        created on VF Enable); False keeps its VF BARs as the dump's read-only bytes."""
        data = bytes(dump.data)
        where = f"{dump.file or '<dump>'} {dump.slot_text}"
        if len(data) < 64:
            raise DumpError(f"{where}: only {len(data)} bytes; the 64-byte header is needed")
        vendor = int.from_bytes(data[0:2], "little")
        if vendor in (0xFFFF, 0x0000):
            raise DumpError(f"{where}: Vendor ID {vendor:#06x} is not a present function")
        htype = data[0x0E] & 0x7F
        if htype != 0:
            raise DumpError(f"{where}: header type {htype} (only type-0 endpoints can be "
                            "simulated devices)")
        super().__init__(ctx, name or f"{dump.slot_text}", vendor,
                         int.from_bytes(data[2:4], "little"),
                         int.from_bytes(data[9:12], "little"),
                         interrupt_pin=data[0x3D], express_type=None)
        self.dump = dump
        cs = self.config
        full = data + bytes(CONFIG_SPACE_SIZE - len(data)) if len(data) < CONFIG_SPACE_SIZE \
            else data[:CONFIG_SPACE_SIZE]
        cs.data[:] = full
        self.msix: MsixCapability | None = None
        msix_at = cs.find_capability(CAP_ID_MSIX)
        need: dict[int, int] = {}
        if msix_at is not None:
            n = (cs.read(msix_at + 2, 2) & 0x7FF) + 1
            t, p = cs.read(msix_at + 4, 4), cs.read(msix_at + 8, 4)
            need[t & 7] = max(need.get(t & 7, 0), (t & ~7) + 16 * n)
            need[p & 7] = max(need.get(p & 7, 0), (p & ~7) + 8 * ((n + 63) // 64))
        i = 0
        while i < 6:
            raw = cs.read(0x10 + 4 * i, 4)
            if raw & 1 or (raw == 0 and i not in need):
                i += 1
                continue
            is64 = (raw >> 1) & 3 == 2
            size = max(MIN_BAR, _pow2_at_least(need.get(i, 0)))
            if is64 and i == 5:
                raise DumpError(f"{where}: BAR5 claims to be the low half of a 64-bit BAR")
            spec = BarSpec(i, size, is64, bool(raw & 8))
            self.add_bar(spec)
            i += 2 if is64 else 1
        for bir in need:
            if bir not in self.bars:
                raise DumpError(f"{where}: MSI-X structures in BAR{bir}, which is not a "
                                "memory BAR in the dump")
        if msix_at is not None:
            n = (cs.read(msix_at + 2, 2) & 0x7FF) + 1
            t, p = cs.read(msix_at + 4, 4), cs.read(msix_at + 8, 4)
            # A dump may show MSI-X enabled by its live OS: start from reset state.
            cs.hw_write(msix_at + 2, 2, n - 1)
            self.msix = MsixCapability(self, msix_at, n, t & 7, t & ~7, p & 7, p & ~7,
                                       existing=True)
        self.msi: MsiCapability | None = None
        msi_at = cs.find_capability(CAP_ID_MSI)
        if msi_at is not None:
            ctrl = cs.read(msi_at + 2, 2)
            self.msi = MsiCapability(self, msi_at, 1 << min(5, (ctrl >> 1) & 7),
                                     bool(ctrl & 0x80), bool(ctrl & 0x100), existing=True)
        self.cause = 0
        self.cause_bar: int | None = None
        for index in sorted(self.bars):
            spec = self.bars[index]
            end = spec.size - CAUSE_REGISTER_SIZE
            if need.get(index, 0) <= end:
                self.map_region(index, end, CAUSE_REGISTER_SIZE, _CauseRegister(self))
                self.cause_bar = index
                break
        self.sriov: SriovCapability | None = None
        self.vf_msix: tuple[int, int, int, int, int] | None = None    # each VF's MSI-X shape
        if sriov:
            self.sriov = _dumped_sriov(self, where)
        cs.hw_write(0x04, 2, 0)          # reset: decoding off until the OS enables it
        # The dump's Status may show an INTx pending on the live machine it came from; the
        # simulated function starts from reset, with no interrupt pending.
        cs.data[0x06] &= ~0x08 & 0xFF

    def raise_vector(self, k: int) -> None:
        """Event ``k`` happens: MSI-X vector k, MSI message k, or INTx, whichever is enabled."""
        ctx = self.ctx
        if ctx.tracer.on:
            ctx.tracer.emit(ctx.engine.now, self.name, self.name, "device-event",
                            what=f"event {k}")
        if self.msix is not None and self.msix.enabled:
            self.msix.signal(k)
        elif self.msi is not None and self.msi.enabled:
            self.msi.signal(min(k, self.msi.allocated - 1))
        else:
            self.cause |= 1 << (k & 31)
            self.intx_raise()

    def read_cause(self) -> int:
        """The stand-in cause register's read side effect: return and clear, deassert INTx."""
        v = self.cause
        self.cause = 0
        if v:
            self.intx_clear()
        return v


class _CauseRegister:
    """Read-to-clear interrupt cause register (irqsim's stand-in, see the module doc)."""

    __slots__ = ("dev",)

    def __init__(self, dev: DumpedFunction) -> None:
        self.dev = dev

    def mmio_read(self, offset: int, size: int) -> int:
        return self.dev.read_cause() if offset == 0 else 0

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        return None


# VF MSI-X layouts from datasheets, for VFs whose configuration space no dump holds:
# (vendor, VF device ID) -> (table size, table BIR, table offset, PBA BIR, PBA offset).
VF_MSIX = {
    # Intel 82576 datasheet 7.8.2.9 / 9.4.4: each VF has 3 MSI-X vectors, table and PBA in
    # VF BAR 3 (MSIXTBL at 0, MSIXPBA at 0x2000).
    (0x8086, 0x10CA): (3, 3, 0x0, 3, 0x2000),
}
VF_MSIX_OFFSET = 0x70      # where irqsim puts a dumped device's VF MSI-X capability


class DumpedVf(VirtualFunction):
    """A VF of a dumped PF: its MSI-X as :data:`VF_MSIX` or the PF's says; events as the PF's."""

    def __init__(self, sriov: SriovCapability, index: int,
                 msix: tuple[int, int, int, int, int] | None) -> None:
        pf = sriov.pf
        super().__init__(sriov, index, f"{pf.name}-vf{index}",
                         pf.config.read(0x09, 3))
        self.msix = MsixCapability(self, VF_MSIX_OFFSET, *msix) if msix is not None else None

    def raise_vector(self, k: int) -> None:
        """Event ``k``: MSI-X vector k when MSI-X is enabled (a VF has no INTx, 9.3.4.1.14)."""
        if self.msix is not None and self.msix.enabled:
            if self.ctx.tracer.on:
                self.ctx.tracer.emit(self.ctx.engine.now, self.name, self.name, "device-event",
                                     what=f"event {k}")
            self.msix.signal(k)


def _ext_capability(cs: ConfigSpace, cap_id: int) -> int | None:
    pos, seen = 0x100, set()
    while pos and pos not in seen and pos + 4 <= CONFIG_SPACE_SIZE:
        seen.add(pos)
        header = cs.read(pos, 4)
        if header in (0, 0xFFFFFFFF):
            return None
        if header & 0xFFFF == cap_id:
            return pos
        pos = (header >> 20) & 0xFFC
    return None


def _dumped_sriov(pf: DumpedFunction, where: str) -> SriovCapability | None:
    """The SR-IOV capability of a dumped PF, modelled (see the module doc)."""
    cs = pf.config
    at = _ext_capability(cs, X.ECAP_SRIOV)
    if at is None or at + X.SRIOV_SIZE > CONFIG_SPACE_SIZE:    # none, or cut off: not modelled
        return None

    def rd(reg: Register) -> int:
        return cs.read(at + reg.offset, reg.size)

    total, vf_device = rd(X.SRIOV_TOTAL_VFS), rd(X.SRIOV_VF_DEVICE)
    if not total:
        return None
    raw_bars = {i: cs.read(at + X.SRIOV_VF_BAR0 + 4 * i, 4) for i in range(X.SRIOV_VF_BARS)}
    msix: tuple[int, int, int, int, int] | None = VF_MSIX.get((pf.config.read(0, 2), vf_device))
    if msix is None and pf.msix is not None:
        t, p = cs.read(pf.msix.offset + 4, 4), cs.read(pf.msix.offset + 8, 4)
        msix = (pf.msix.n, t & 7, t & ~7, p & 7, p & ~7)
    need: dict[int, int] = {}
    if msix is not None:
        n, tb, to, pb, po = msix
        need[tb] = max(need.get(tb, 0), to + 16 * n)
        need[pb] = max(need.get(pb, 0), po + 8 * ((n + 63) // 64))
    bars: list[BarSpec] = []
    i = 0
    while i < X.SRIOV_VF_BARS:
        raw = raw_bars[i]
        if raw == 0 or raw & 1:                 # not implemented (or I/O: VFs have none)
            i += 1
            continue
        is64 = (raw >> 1) & 3 == 2
        if is64 and i == X.SRIOV_VF_BARS - 1:
            raise DumpError(f"{where}: VF BAR5 claims to be the low half of a 64-bit BAR")
        bars.append(BarSpec(i, max(MIN_BAR, _pow2_at_least(need.get(i, 0))), is64,
                            bool(raw & 8)))
        i += 2 if is64 else 1
    if msix is not None and not {msix[1], msix[3]} <= {b.index for b in bars}:
        msix = None                              # no VF BAR to hold it: VFs without MSI-X
    pf.vf_msix = msix
    return SriovCapability(pf, lambda sr, k: DumpedVf(sr, k, msix), total, vf_device,
                           tuple(bars), offset=at, vf_offset=rd(X.SRIOV_VF_OFFSET),
                           vf_stride=rd(X.SRIOV_VF_STRIDE), existing=True)
