"""MSI set-up in seed 004's order (PCI 6.8.1, semantics.md C.1), through config accesses.

1. find capability 05h, 2. read Message Control (MMC, 64-bit, per-vector masking),
3. allocate a power-of-two block of vectors (done by the kernel), 4. write Multiple
Message Enable, 5. write the Message Address (and Upper Address), 6. write the
Message Data (base vector), 7. set Command.Interrupt Disable, 8. set MSI Enable,
9. the driver registers its handlers. With per-vector masking every vector of the
block is masked before MSI is enabled and unmasked when its IRQ starts (Linux's
msi_capability_init / irq_startup).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from irqsim.spec.msi import msi_address, msi_data
from irqsim.spec.pci import MSI_CTRL_ADDR64 as PCI_MSI_FLAGS_64BIT
from irqsim.spec.pci import MSI_CTRL_ENABLE as PCI_MSI_FLAGS_ENABLE
from irqsim.spec.pci import MSI_CTRL_MME as PCI_MSI_FLAGS_QSIZE
from irqsim.spec.pci import MSI_CTRL_PVM as PCI_MSI_FLAGS_MASKBIT
from irqsim.spec.pci import MSI_MESSAGE_CONTROL

if TYPE_CHECKING:
    from irqsim.os.kernel import Kernel
    from irqsim.os.pci import PciDev

PCI_MSI_FLAGS_QMASK = MSI_MESSAGE_CONTROL.mask("multiple_message_capable")


def msi_control(k: Kernel, pdev: PciDev) -> int:
    """Read Message Control."""
    assert pdev.msi_cap is not None
    return k.cfg_read(pdev.bus, pdev.devfn, pdev.msi_cap + 2, 2)


def msi_vec_count(k: Kernel, pdev: PciDev) -> int:
    """Messages the function can use: 2**MMC (Linux pci_msi_vec_count)."""
    return 1 << ((msi_control(k, pdev) & PCI_MSI_FLAGS_QMASK) >> 1)


def _offsets(pdev: PciDev, ctrl: int) -> tuple[int, int]:
    """(data, mask) register offsets of the layout ``ctrl`` describes (mask 0: none)."""
    assert pdev.msi_cap is not None
    data = pdev.msi_cap + (0x0C if ctrl & PCI_MSI_FLAGS_64BIT else 0x08)
    return data, data + 4 if ctrl & PCI_MSI_FLAGS_MASKBIT else 0


def msi_setup(k: Kernel, pdev: PciDev, count: int, cpu: int, vector: int) -> None:
    """Program a block of ``count`` (a power of two) messages starting at ``vector`` on
    ``cpu`` and enable MSI."""
    assert pdev.msi_cap is not None
    b, d, cap = pdev.bus, pdev.devfn, pdev.msi_cap
    k.trace_sw("OS", "PCI Config Space", "Read MSI Message Control")
    ctrl = k.cfg_read(b, d, cap + 2, 2)
    k.trace_sw("PCI Config Space", "OS",
               f"MMC {1 << ((ctrl & PCI_MSI_FLAGS_QMASK) >> 1)} message(s), "
               f"{'64' if ctrl & PCI_MSI_FLAGS_64BIT else '32'}-bit, "
               f"{'with' if ctrl & PCI_MSI_FLAGS_MASKBIT else 'no'} per-vector masking",
               reply=True)
    data_off, mask_off = _offsets(pdev, ctrl)
    if mask_off:
        k.trace_sw("OS", "PCI Config Space", "Mask all vectors (Mask Bits)")
        k.cfg_write(b, d, mask_off, 4, (1 << count) - 1)
    mme = count.bit_length() - 1
    k.trace_sw("OS", "PCI Config Space", f"Write Multiple Message Enable = {mme:03b}")
    ctrl = (ctrl & ~(PCI_MSI_FLAGS_QSIZE | PCI_MSI_FLAGS_ENABLE)) | mme << 4
    k.cfg_write(b, d, cap + 2, 2, ctrl)
    addr = msi_address(k.apic_ids[cpu])
    k.trace_sw("OS", "PCI Config Space", f"Write Message Address = {addr:#x}")
    k.cfg_write(b, d, cap + 4, 4, addr)
    if ctrl & PCI_MSI_FLAGS_64BIT:
        k.cfg_write(b, d, cap + 8, 4, 0)
    k.trace_sw("OS", "PCI Config Space", f"Write Message Data = {msi_data(vector):#x}")
    k.cfg_write(b, d, data_off, 2, msi_data(vector))
    cmd = k.cfg_read(b, d, 0x04, 2)
    k.trace_sw("OS", "PCI Config Space", "Set Interrupt Disable (Command bit 10)")
    k.cfg_write(b, d, 0x04, 2, cmd | (1 << 10))
    k.trace_sw("OS", "PCI Config Space", "Set MSI Enable (Message Control bit 0)")
    k.cfg_write(b, d, cap + 2, 2, ctrl | PCI_MSI_FLAGS_ENABLE)
    pdev.irq_mode = "msi"


def msi_mask(k: Kernel, pdev: PciDev, index: int, masked: bool) -> bool:
    """Set or clear message ``index``'s Mask bit; False if the function cannot mask."""
    ctrl = msi_control(k, pdev)
    _, mask_off = _offsets(pdev, ctrl)
    if not mask_off:
        return False
    bits = k.cfg_read(pdev.bus, pdev.devfn, mask_off, 4)
    bits = bits | 1 << index if masked else bits & ~(1 << index)
    k.cfg_write(pdev.bus, pdev.devfn, mask_off, 4, bits)
    return True


def msi_disable(k: Kernel, pdev: PciDev) -> None:
    """Clear MSI Enable (the function may use INTx again)."""
    ctrl = msi_control(k, pdev)
    assert pdev.msi_cap is not None
    k.cfg_write(pdev.bus, pdev.devfn, pdev.msi_cap + 2, 2, ctrl & ~PCI_MSI_FLAGS_ENABLE)
