"""SR-IOV in the OS, shaped like Linux's drivers/pci/iov.c.

At enumeration (``sriov_init``) the PF's VF BARs are sized like BARs and given room for
TotalVFs copies in the bridge windows (Linux reserves IOV resources the same way). Writing
``sriov_numvfs`` (``Kernel.sriov_numvfs``, as /sys/bus/pci/devices/.../sriov_numvfs) sets
NumVFs, then VF Enable and VF MSE, and adds each VF (``pci_iov_add_virtfn``): a PciDev at the
VF's routing ID whose vendor is the PF's and device is the VF Device ID (a VF's own ID
registers read FFFFh), whose BARs are the PF's VF BAR k + i x size, probed by the drivers like
any function. Writing 0 removes them (``pci_disable_sriov``).
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from irqsim.sim.rules import rule
from irqsim.spec import pcie as X
from irqsim.spec.regs import Register

if TYPE_CHECKING:
    from irqsim.os.kernel import Kernel
    from irqsim.os.pci import Bar, Enumerator, PciDev

R_VF_MISSING = rule("OS-SRIOV-VF-MISSING", "PCIe 9.3.3.3.1",
                    "after VF Enable each VF answers configuration requests at its routing "
                    "ID; one that does not is not added, and the enable fails")
R_VF_BAR = rule("OS-SRIOV-VF-BAR", "PCIe 9.3.3.14",
                "a VF BAR is sized like a BAR: its address bits above the size are writable")

EXT_CAP_BASE = 0x100
_VF_ENABLE = X.SRIOV_CTRL.field("vf_enable").mask
_VF_MSE = X.SRIOV_CTRL.field("vf_mse").mask


@dataclass(slots=True)
class SriovInfo:
    """What Linux keeps in struct pci_sriov."""

    pos: int
    total_vfs: int
    offset: int
    stride: int
    vf_device: int
    bars: dict[int, Bar] = field(default_factory=dict)     # VF BAR k: base of VF 0, size
    num_vfs: int = 0
    vfs: list[PciDev] = field(default_factory=list)
    drivers_autoprobe: bool = True          # sysfs sriov_drivers_autoprobe


def find_ext_capability(k: Kernel, pdev: PciDev, cap_id: int) -> int:
    """Offset of extended capability ``cap_id`` (Linux pci_find_ext_capability), 0 if none."""
    pos, seen = EXT_CAP_BASE, set()
    while pos and pos not in seen:
        seen.add(pos)
        header = k.cfg_read(pdev.bus, pdev.devfn, pos, 4)
        if header in (0, 0xFFFFFFFF):
            return 0
        if header & 0xFFFF == cap_id:
            return pos
        pos = (header >> 20) & 0xFFC
    return 0


def sriov_init(en: Enumerator, pdev: PciDev) -> None:
    """Find SR-IOV, size the VF BARs and reserve TotalVFs copies of each in the windows."""
    from irqsim.os.pci import Bar, _align
    k = en.k
    pos = find_ext_capability(k, pdev, X.ECAP_SRIOV)
    if not pos or pos + X.SRIOV_SIZE > 0x1000:     # none, or cut off by the space's end
        return
    b, d = pdev.bus, pdev.devfn

    def rd(reg: Register) -> int:
        return k.cfg_read(b, d, pos + reg.offset, reg.size)

    info = SriovInfo(pos, rd(X.SRIOV_TOTAL_VFS), rd(X.SRIOV_VF_OFFSET), rd(X.SRIOV_VF_STRIDE),
                     rd(X.SRIOV_VF_DEVICE))
    i = 0
    while i < X.SRIOV_VF_BARS:
        off = pos + X.SRIOV_VF_BAR0 + 4 * i
        orig = k.cfg_read(b, d, off, 4)
        k.cfg_write(b, d, off, 4, 0xFFFFFFFF)
        probe = k.cfg_read(b, d, off, 4)
        k.cfg_write(b, d, off, 4, orig)
        if probe == 0 or probe & 1:
            i += 1
            continue
        is64, pref = (probe >> 1) & 3 == 2, bool(probe & 8)
        mask = probe & 0xFFFFFFF0
        if is64:
            k.cfg_write(b, d, off + 4, 4, 0xFFFFFFFF)
            mask |= k.cfg_read(b, d, off + 4, 4) << 32
            k.cfg_write(b, d, off + 4, 4, 0)
            size = ((~mask) & ((1 << 64) - 1)) + 1
        else:
            size = ((~mask) & 0xFFFFFFFF) + 1
        if size & (size - 1):
            # No write-ones probe pattern (the register kept its value: read-only, as in a
            # device modelled from a dump): Linux would find no resource here either.
            k.ctx.diag(pdev.slot, R_VF_BAR, f"VF BAR{i} at {off:#x} reads {probe:#010x} "
                       "after writing all ones: not a sizable BAR (Linux: \"reg "
                       f"{off:#x}: invalid BAR (can't size)\"); the VFs get no BAR{i}")
            i += 2 if is64 else 1
            continue
        total = size * info.total_vfs
        if is64 and pref:
            addr = en.pref_cursor = _align(en.pref_cursor, size)
            en.pref_cursor += total
        else:
            addr = en.mem_cursor = _align(en.mem_cursor, size)
            en.mem_cursor += total
        k.cfg_write(b, d, off, 4, addr & 0xFFFFFFFF)
        if is64:
            k.cfg_write(b, d, off + 4, 4, addr >> 32)
        info.bars[i] = Bar(i, addr, size, is64, pref)
        i += 2 if is64 else 1
    pdev.sriov = info
    # VFs whose routing IDs lie on buses above the PF's need those bus numbers below the
    # port (Linux pci_iov_bus_range, added to the bus's max during the scan).
    last = ((b << 8 | d) + info.offset + (info.total_vfs - 1) * info.stride) >> 8
    if last > b:
        en.next_bus = max(en.next_bus, last + 1)


def pci_enable_sriov(k: Kernel, pdev: PciDev, n: int) -> list[PciDev]:
    """NumVFs, VF Enable and VF MSE, then add and probe each VF (Linux sriov_enable)."""
    from irqsim.os.pci import Bar, PciDev
    info = pdev.sriov
    if info is None:
        raise OSError(19, f"{pdev.slot}: no SR-IOV capability")         # ENODEV
    if not 0 < n <= info.total_vfs:
        raise OSError(34, f"{pdev.slot}: {n} VFs outside 1-{info.total_vfs}")   # ERANGE
    if info.num_vfs:
        raise OSError(16, f"{pdev.slot}: {info.num_vfs} VFs already enabled")   # EBUSY
    b, d, pos = pdev.bus, pdev.devfn, info.pos
    if not info.offset or (n > 1 and not info.stride):                 # Linux sriov_enable
        raise OSError(5, f"{pdev.slot}: First VF Offset {info.offset} / VF Stride "
                      f"{info.stride} would put a VF on another function's routing ID")
    last = ((b << 8 | d) + info.offset + (n - 1) * info.stride) >> 8
    sub = pdev.parent.subordinate if pdev.parent is not None else b
    if last > max(b, sub):                                              # Linux sriov_enable
        raise OSError(12, f"{pdev.slot}: can't enable {n} VFs (bus {last:02x} out of range "
                      f"of [bus {b:02x}-{sub:02x}])")                      # ENOMEM
    k.cfg_write(b, d, pos + X.SRIOV_NUM_VFS.offset, 2, n)
    ctrl = k.cfg_read(b, d, pos + X.SRIOV_CTRL.offset, 2)
    k.cfg_write(b, d, pos + X.SRIOV_CTRL.offset, 2, ctrl | _VF_ENABLE | _VF_MSE)
    info.num_vfs = n
    rid0 = (b << 8) | d
    for i in range(n):
        rid = (rid0 + info.offset + i * info.stride) & 0xFFFF
        vb, vd = rid >> 8, rid & 0xFF
        htype = k.cfg_read(vb, vd, 0x0E, 1)
        if htype & 0x7F:
            # No VF answers there (Linux pci_setup_device: "unknown header type 7f, ignoring
            # device"; pci_iov_add_virtfn fails and sriov_enable undoes everything).
            k.ctx.diag(pdev.slot, R_VF_MISSING, f"VF {i} at {vb:02x}:{vd >> 3:02x}.{vd & 7}: "
                       f"unknown header type {htype & 0x7F:02x}, ignoring device")
            pci_disable_sriov(k, pdev)          # the VFs added so far, VF Enable, NumVFs
            raise OSError(5, f"{pdev.slot}: VF {i} does not respond")          # EIO
        vf = PciDev(vb, vd, pdev.vendor, info.vf_device,
                    k.cfg_read(vb, vd, 0x08, 4) >> 8, htype, parent=pdev.parent)
        vf.bars = {j: Bar(j, bar.address + i * bar.size, bar.size, bar.is64, bar.prefetchable)
                   for j, bar in info.bars.items()}
        vf.physfn = pdev
        k.pci_read_caps(vf)
        info.vfs.append(vf)
        k.devices.append(vf)
        if info.drivers_autoprobe:
            k.probe_driver(vf)
    return info.vfs


def pci_disable_sriov(k: Kernel, pdev: PciDev) -> None:
    """Unbind and remove the VFs, then clear VF Enable and VF MSE (Linux sriov_disable)."""
    info = pdev.sriov
    if info is None or not info.num_vfs:
        return
    for vf in info.vfs:
        for irq in list(vf.irqs):
            with suppress(OSError):             # a vector without a handler
                k.free_irq(irq, vf)             # the VF driver's remove()
        if vf.irqs:
            k.pci_free_irq_vectors(vf)
        if vf in k.devices:
            k.devices.remove(vf)
    info.vfs.clear()
    b, d, pos = pdev.bus, pdev.devfn, info.pos
    ctrl = k.cfg_read(b, d, pos + X.SRIOV_CTRL.offset, 2)
    k.cfg_write(b, d, pos + X.SRIOV_CTRL.offset, 2, ctrl & ~(_VF_ENABLE | _VF_MSE))
    k.cfg_write(b, d, pos + X.SRIOV_NUM_VFS.offset, 2, 0)
    info.num_vfs = 0
