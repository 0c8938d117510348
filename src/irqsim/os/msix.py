"""The PCI-MSI-X domain (Linux drivers/pci/msi/msi.c msix_capability_init,
pci_msix_write_msg), one per device, above the VECTOR domain (or an IR domain).

Set-up follows seed 004's safe order: 1. Memory Space Enable set (the table is in a BAR),
2. Function Mask set, 3. MSI-X Enable set, 4. table entries programmed (address, data,
unmask), 5. Command.Interrupt Disable set, 6. Function Mask cleared. Afterwards a new
message (an affinity change, re-activation) is written as a masked update: mask the entry
(Vector Control), write address and data, restore the mask, and read the entry back to flush
the posted writes (PCIe 6.8.2.9: software must not modify an unmasked entry; Linux
pci_msix_write_msg). An interrupt raised while the entry is masked sets its Pending Bit and
is sent, with the new message, when the entry is unmasked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from irqsim.os.irqdomain import AllocInfo, IrqChip, IrqData, IrqDomain
from irqsim.spec.modes import IrqMode
from irqsim.spec.pci import MSIX_CTRL_ENABLE as MSIX_FLAGS_ENABLE
from irqsim.spec.pci import MSIX_CTRL_FUNCTION_MASK as MSIX_FLAGS_MASKALL
from irqsim.spec.pci import (
    MSIX_ENTRY_ADDR_HI,
    MSIX_ENTRY_ADDR_LO,
    MSIX_ENTRY_CTRL,
    MSIX_ENTRY_DATA,
    MSIX_VECTOR_MASKED,
)

if TYPE_CHECKING:
    from irqsim.os.irq import IrqDesc
    from irqsim.os.kernel import Kernel
    from irqsim.os.pci import PciDev

MSIX_ENTRY_LOWER_ADDR = MSIX_ENTRY_ADDR_LO.offset
MSIX_ENTRY_UPPER_ADDR = MSIX_ENTRY_ADDR_HI.offset
MSIX_ENTRY_DATA_OFF = MSIX_ENTRY_DATA.offset
MSIX_ENTRY_VECTOR_CTRL = MSIX_ENTRY_CTRL.offset
MSIX_ENTRY_CTRL_MASKBIT = MSIX_VECTOR_MASKED


def msix_table_size(k: Kernel, pdev: PciDev) -> int:
    assert pdev.msix_cap is not None
    return (k.cfg_read(pdev.bus, pdev.devfn, pdev.msix_cap + 2, 2) & 0x7FF) + 1


def msix_table_base(k: Kernel, pdev: PciDev) -> int:
    """Memory address of the table: BAR[BIR] + offset."""
    assert pdev.msix_cap is not None
    tbl = k.cfg_read(pdev.bus, pdev.devfn, pdev.msix_cap + 4, 4)
    bar = pdev.bars.get(tbl & 7)
    if bar is None:
        raise OSError(f"{pdev.slot}: MSI-X table BIR {tbl & 7} names no memory BAR")
    return bar.address + (tbl & ~7)


def write_entry(k: Kernel, base: int, idx: int, addr: int, data: int) -> None:
    """Set-up write of one entry: address, upper address, data, then unmask."""
    e = base + 16 * idx
    k.trace_sw("OS", "PCIe Device", f"Write Message Address to table[{idx}] = {addr:#x}")
    k.writel(e + MSIX_ENTRY_LOWER_ADDR, addr)
    k.writel(e + MSIX_ENTRY_UPPER_ADDR, 0)
    k.trace_sw("OS", "PCIe Device", f"Write Message Data to table[{idx}] = {data & 0xFF:#x}")
    k.writel(e + MSIX_ENTRY_DATA_OFF, data)
    k.trace_sw("OS", "PCIe Device", f"Clear Mask bit in table[{idx}]")
    k.writel(e + MSIX_ENTRY_VECTOR_CTRL, 0)


class PciMsixDomain(IrqDomain, IrqChip):
    """One device's MSI-X vectors; hwirq = table entry. The chip name /proc/interrupts
    shows is "PCI-MSIX-<slot>"."""

    def __init__(self, kernel: Kernel, pdev: PciDev, parent: IrqDomain) -> None:
        super().__init__(parent)
        self.k = kernel
        self.pdev = pdev
        self.name = f"{getattr(parent, 'chip_prefix', '')}PCI-MSIX-{pdev.slot}"
        self.base = 0                       # table address, found at set-up (ioremap)
        self.ctrl: dict[int, int] = {}      # cached Vector Control per entry (msix_ctrl)
        self.aliases: dict[int, list[int]] = {}   # hwirq -> other entries sharing its message

    # -- domain ----------------------------------------------------------------------
    def alloc(self, descs: list[IrqDesc], hwirq: int, info: AllocInfo) -> list[IrqData]:
        assert self.parent is not None
        parents = self.parent.alloc(descs, hwirq, info)
        return [IrqData(desc.irq, hwirq + i, self, self, p)
                for i, (desc, p) in enumerate(zip(descs, parents, strict=True))]

    def setup(self, datas: list[IrqData]) -> None:
        """Program ``datas``' entries and enable MSI-X (seed 004's order)."""
        k, pdev = self.k, self.pdev
        assert pdev.msix_cap is not None
        b, d, cap = pdev.bus, pdev.devfn, pdev.msix_cap
        cmd = k.cfg_read(b, d, 0x04, 2)
        if not cmd & 0x2:
            k.trace_sw("OS", "PCI Config Space", "Set Memory Space Enable")
            k.cfg_write(b, d, 0x04, 2, cmd | 0x2)
        ctrl = k.cfg_read(b, d, cap + 2, 2)
        k.trace_sw("OS", "PCI Config Space", "Set Function Mask (bit 14)")
        k.cfg_write(b, d, cap + 2, 2, ctrl | MSIX_FLAGS_MASKALL)
        k.trace_sw("OS", "PCI Config Space", "Set MSI-X Enable (bit 15)")
        k.cfg_write(b, d, cap + 2, 2, ctrl | MSIX_FLAGS_MASKALL | MSIX_FLAGS_ENABLE)
        self.base = base = msix_table_base(k, pdev)
        k.trace_sw("OS", "PCIe Device", "Map MSI-X Table via BAR")
        k.trace_sw("PCIe Device", "OS", f"Table at {base:#x}", reply=True)
        for data in datas:
            write_entry(k, base, data.hwirq, *self.irq_compose_msi_msg(data))
            self.ctrl[data.hwirq] = 0
        cmd = k.cfg_read(b, d, 0x04, 2)
        k.trace_sw("OS", "PCI Config Space", "Set Interrupt Disable (Command bit 10)")
        k.cfg_write(b, d, 0x04, 2, cmd | (1 << 10))
        k.trace_sw("OS", "PCI Config Space", "Clear Function Mask")
        k.cfg_write(b, d, cap + 2, 2, (ctrl | MSIX_FLAGS_ENABLE) & ~MSIX_FLAGS_MASKALL)
        pdev.irq_mode = IrqMode.MSIX

    def shutdown(self) -> None:
        """pci_msix_shutdown: mask every entry in use, clear MSI-X Enable, allow INTx."""
        k, pdev = self.k, self.pdev
        assert pdev.msix_cap is not None
        for idx in self.ctrl:
            self._write_ctrl(idx, MSIX_ENTRY_CTRL_MASKBIT)
        ctrl = k.cfg_read(pdev.bus, pdev.devfn, pdev.msix_cap + 2, 2)
        k.cfg_write(pdev.bus, pdev.devfn, pdev.msix_cap + 2, 2,
                    ctrl & ~(MSIX_FLAGS_ENABLE | MSIX_FLAGS_MASKALL))
        cmd = k.cfg_read(pdev.bus, pdev.devfn, 0x04, 2)
        k.cfg_write(pdev.bus, pdev.devfn, 0x04, 2, cmd & ~(1 << 10))

    def activate(self, d: IrqData) -> None:
        super().activate(d)
        self.irq_write_msi_msg(d, self.irq_compose_msi_msg(d))

    def deactivate(self, d: IrqData) -> None:
        self.irq_mask(d)
        super().deactivate(d)

    def share_entry(self, entry: int, d: IrqData) -> None:
        """Program another entry with ``d``'s message, under Function Mask (seed 002)."""
        k, pdev = self.k, self.pdev
        assert pdev.msix_cap is not None
        cap = pdev.msix_cap
        ctrl = k.cfg_read(pdev.bus, pdev.devfn, cap + 2, 2)
        k.cfg_write(pdev.bus, pdev.devfn, cap + 2, 2, ctrl | MSIX_FLAGS_MASKALL)
        write_entry(k, msix_table_base(k, pdev), entry, *self.irq_compose_msi_msg(d))
        self.ctrl[entry] = 0
        self.aliases.setdefault(d.hwirq, []).append(entry)
        k.cfg_write(pdev.bus, pdev.devfn, cap + 2, 2, ctrl)

    # -- chip ------------------------------------------------------------------------
    def _write_ctrl(self, idx: int, ctrl: int) -> None:
        self.ctrl[idx] = ctrl
        self.k.writel(self.base + 16 * idx + MSIX_ENTRY_VECTOR_CTRL, ctrl)

    def irq_mask(self, d: IrqData) -> None:
        for idx in (d.hwirq, *self.aliases.get(d.hwirq, ())):
            self._write_ctrl(idx, self.ctrl.get(idx, 0) | MSIX_ENTRY_CTRL_MASKBIT)

    def irq_unmask(self, d: IrqData) -> None:
        for idx in (d.hwirq, *self.aliases.get(d.hwirq, ())):
            self._write_ctrl(idx, self.ctrl.get(idx, 0) & ~MSIX_ENTRY_CTRL_MASKBIT)

    def irq_write_msi_msg(self, d: IrqData, msg: tuple[int, int]) -> None:
        """pci_msix_write_msg for ``d``'s entry and the entries sharing its message."""
        for idx in (d.hwirq, *self.aliases.get(d.hwirq, ())):
            self._write_entry_masked(idx, msg)

    def _write_entry_masked(self, idx: int, msg: tuple[int, int]) -> None:
        """Mask an unmasked entry, write the message, restore the mask, read back (flush)."""
        k = self.k
        e = self.base + 16 * idx
        ctrl = self.ctrl.get(idx, MSIX_ENTRY_CTRL_MASKBIT)
        unmasked = not ctrl & MSIX_ENTRY_CTRL_MASKBIT
        addr, data = msg
        k.trace_sw("OS", "PCIe Device", f"Masked update of table[{idx}]: address {addr:#x}, "
                                        f"data {data & 0xFF:#x}")
        if unmasked:
            self._write_ctrl(idx, ctrl | MSIX_ENTRY_CTRL_MASKBIT)
        k.writel(e + MSIX_ENTRY_LOWER_ADDR, addr)
        k.writel(e + MSIX_ENTRY_UPPER_ADDR, 0)
        k.writel(e + MSIX_ENTRY_DATA_OFF, data)
        if unmasked:
            self._write_ctrl(idx, ctrl)
        k.readl(e + MSIX_ENTRY_DATA_OFF)                 # flush the posted writes

    def irq_set_affinity(self, d: IrqData, cpus: list[int]) -> bool:
        if not super().irq_set_affinity(d, cpus):
            return False
        self.irq_write_msi_msg(d, self.irq_compose_msi_msg(d))
        return True
