"""MSI-X set-up in seed 004's safe order (and the PCIe spec's rules).

1. Memory Space Enable set (the table is in a BAR), 2. Function Mask set,
3. MSI-X Enable set, 4. table entries programmed (address, data, unmask),
5. Command.Interrupt Disable set, 6. Function Mask cleared.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from irqsim.spec.msi import msi_address, msi_data
from irqsim.spec.pci import MSIX_CTRL_ENABLE as MSIX_FLAGS_ENABLE
from irqsim.spec.pci import MSIX_CTRL_FUNCTION_MASK as MSIX_FLAGS_MASKALL

if TYPE_CHECKING:
    from irqsim.os.kernel import Kernel
    from irqsim.os.pci import PciDev



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


def msix_setup(k: Kernel, pdev: PciDev, entries: list[tuple[int, int, int]]) -> None:
    """Program ``entries`` = [(entry index, cpu, vector)] and enable MSI-X."""
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
    base = msix_table_base(k, pdev)
    k.trace_sw("OS", "PCIe Device", "Map MSI-X Table via BAR")
    k.trace_sw("PCIe Device", "OS", f"Table at {base:#x}", reply=True)
    for idx, cpu, vector in entries:
        write_entry(k, base, idx, k.apic_ids[cpu], vector)
    cmd = k.cfg_read(b, d, 0x04, 2)
    k.trace_sw("OS", "PCI Config Space", "Set Interrupt Disable (Command bit 10)")
    k.cfg_write(b, d, 0x04, 2, cmd | (1 << 10))
    k.trace_sw("OS", "PCI Config Space", "Clear Function Mask")
    k.cfg_write(b, d, cap + 2, 2, (ctrl | MSIX_FLAGS_ENABLE) & ~MSIX_FLAGS_MASKALL)
    pdev.irq_mode = "msix"


def write_entry(k: Kernel, base: int, idx: int, apic_id: int, vector: int) -> None:
    """Write one table entry: address, upper address, data, then unmask."""
    e = base + 16 * idx
    addr = msi_address(apic_id)
    k.trace_sw("OS", "PCIe Device", f"Write Message Address to table[{idx}] = {addr:#x}")
    k.writel(e + 0, addr)
    k.writel(e + 4, 0)
    k.trace_sw("OS", "PCIe Device", f"Write Message Data to table[{idx}] = {vector:#x}")
    k.writel(e + 8, msi_data(vector))
    k.trace_sw("OS", "PCIe Device", f"Clear Mask bit in table[{idx}]")
    k.writel(e + 12, 0)


def msix_mask_entry(k: Kernel, pdev: PciDev, idx: int, masked: bool) -> None:
    """Set or clear one entry's Vector Control mask bit."""
    k.writel(msix_table_base(k, pdev) + 16 * idx + 12, int(masked))
