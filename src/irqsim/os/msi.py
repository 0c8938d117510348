"""The PCI-MSI domain (Linux drivers/pci/msi/msi.c, arch/x86/kernel/apic/msi.c), one per
device, and MSI set-up in seed 004's order (PCI 6.8.1, semantics.md C.1), through config
accesses.

1. find capability 05h, 2. read Message Control (MMC, 64-bit, per-vector masking),
3. allocate a power-of-two block of vectors (done by the kernel), 4. write Multiple
Message Enable, 5. write the Message Address (and Upper Address), 6. write the
Message Data (base vector), 7. set Command.Interrupt Disable, 8. set MSI Enable,
9. the driver registers its handlers. With per-vector masking every vector of the
block is masked before MSI is enabled and unmasked when its IRQ starts (Linux's
msi_capability_init / irq_startup).

An affinity change rewrites Message Address and Data. With per-vector masking it is a masked
update (a message raised meanwhile waits in the Pending bit). Without it, and with the VECTOR
domain as parent, it follows Linux's msi_set_affinity: the new vector is first written with
the OLD destination (the vector is mapped on both CPUs while the move is in progress), then
the new destination, so a message the function sends between the two config writes still
finds a handler. A multi-message block shares one address and cannot move one IRQ alone
(Linux refuses multi-MSI affinity without interrupt remapping; with it each message has its
own IRTE, so each IRQ moves alone: docs/vtd.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from irqsim.os.irqdomain import AllocInfo, IrqChip, IrqData, IrqDomain
from irqsim.sim.rules import rule
from irqsim.spec.modes import IrqMode
from irqsim.spec.pci import MSI_CTRL_ADDR64 as PCI_MSI_FLAGS_64BIT
from irqsim.spec.pci import MSI_CTRL_ENABLE as PCI_MSI_FLAGS_ENABLE
from irqsim.spec.pci import MSI_CTRL_MME as PCI_MSI_FLAGS_QSIZE
from irqsim.spec.pci import MSI_CTRL_PVM as PCI_MSI_FLAGS_MASKBIT
from irqsim.spec.pci import MSI_MESSAGE_CONTROL

R_MSI_AFFINITY_UNSAFE = rule("OS-MSI-AFFINITY-UNSAFE", "Linux msi_set_affinity",
           "an MSI without masking was retargeted in one step (a message between the "
           "writes may be lost)")

if TYPE_CHECKING:
    from irqsim.os.irq import IrqDesc
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


def msi_setup(k: Kernel, pdev: PciDev, count: int, msg: tuple[int, int]) -> int:
    """Program a block of ``count`` (a power of two) messages whose first is ``msg``
    (address, data) and enable MSI. Returns Message Control as read."""
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
    addr, data = msg
    k.trace_sw("OS", "PCI Config Space", f"Write Message Address = {addr:#x}")
    k.cfg_write(b, d, cap + 4, 4, addr)
    if ctrl & PCI_MSI_FLAGS_64BIT:
        k.cfg_write(b, d, cap + 8, 4, 0)
    k.trace_sw("OS", "PCI Config Space", f"Write Message Data = {data:#x}")
    k.cfg_write(b, d, data_off, 2, data)
    cmd = k.cfg_read(b, d, 0x04, 2)
    k.trace_sw("OS", "PCI Config Space", "Set Interrupt Disable (Command bit 10)")
    k.cfg_write(b, d, 0x04, 2, cmd | (1 << 10))
    k.trace_sw("OS", "PCI Config Space", "Set MSI Enable (Message Control bit 0)")
    k.cfg_write(b, d, cap + 2, 2, ctrl | PCI_MSI_FLAGS_ENABLE)
    pdev.irq_mode = IrqMode.MSI
    return ctrl


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


def msi_write_msg(k: Kernel, pdev: PciDev, msg: tuple[int, int]) -> None:
    """__pci_write_msi_msg: Message Address (and Upper Address), then Message Data."""
    assert pdev.msi_cap is not None
    ctrl = msi_control(k, pdev)
    data_off, _ = _offsets(pdev, ctrl)
    addr, data = msg
    k.trace_sw("OS", "PCI Config Space", f"Write MSI message: address {addr:#x}, "
                                         f"data {data:#x}")
    k.cfg_write(pdev.bus, pdev.devfn, pdev.msi_cap + 4, 4, addr)
    if ctrl & PCI_MSI_FLAGS_64BIT:
        k.cfg_write(pdev.bus, pdev.devfn, pdev.msi_cap + 8, 4, 0)
    k.cfg_write(pdev.bus, pdev.devfn, data_off, 2, data)


class PciMsiDomain(IrqDomain, IrqChip):
    """One device's MSI block; hwirq = message index. Chip name "PCI-MSI-<slot>"."""

    def __init__(self, kernel: Kernel, pdev: PciDev, parent: IrqDomain) -> None:
        super().__init__(parent)
        self.k = kernel
        self.pdev = pdev
        self.name = f"{getattr(parent, 'chip_prefix', '')}PCI-MSI-{pdev.slot}"
        self.block = 1
        self.maskable = False
        self.masked: set[int] = set()

    def alloc(self, descs: list[IrqDesc], hwirq: int, info: AllocInfo) -> list[IrqData]:
        assert self.parent is not None
        self.block = info.block
        parents = self.parent.alloc(descs, hwirq, info)
        return [IrqData(desc.irq, hwirq + i, self, self, p)
                for i, (desc, p) in enumerate(zip(descs, parents, strict=True))]

    def setup(self, datas: list[IrqData]) -> None:
        """Program the block (first message from the parent) and enable MSI."""
        ctrl = msi_setup(self.k, self.pdev, self.block, self.irq_compose_msi_msg(datas[0]))
        self.maskable = bool(ctrl & PCI_MSI_FLAGS_MASKBIT)
        if self.maskable:
            self.masked = set(range(self.block))

    def shutdown(self) -> None:
        """pci_msi_shutdown: mask the block, clear MSI Enable, allow INTx again."""
        k, pdev = self.k, self.pdev
        if self.maskable:
            for i in range(self.block):
                msi_mask(k, pdev, i, True)
        msi_disable(k, pdev)
        cmd = k.cfg_read(pdev.bus, pdev.devfn, 0x04, 2)
        k.cfg_write(pdev.bus, pdev.devfn, 0x04, 2, cmd & ~(1 << 10))

    def activate(self, d: IrqData) -> None:
        super().activate(d)
        self._write(d, self.irq_compose_msi_msg(d))

    def deactivate(self, d: IrqData) -> None:
        self.irq_mask(d)
        super().deactivate(d)

    def irq_mask(self, d: IrqData) -> None:
        if msi_mask(self.k, self.pdev, d.hwirq, True):
            self.masked.add(d.hwirq)

    def irq_unmask(self, d: IrqData) -> None:
        if msi_mask(self.k, self.pdev, d.hwirq, False):
            self.masked.discard(d.hwirq)

    def _write(self, d: IrqData, msg: tuple[int, int]) -> None:
        """Masked update when the function can mask, else a plain write."""
        was_unmasked = self.maskable and d.hwirq not in self.masked
        if was_unmasked:
            self.irq_mask(d)
        msi_write_msg(self.k, self.pdev, msg)
        if was_unmasked:
            self.irq_unmask(d)

    def irq_set_affinity(self, d: IrqData, cpus: list[int]) -> bool:
        if self.block > 1 and not getattr(self.parent, "remapping", False):
            raise OSError(f"{self.pdev.slot}: IRQ {d.irq} is one of a {self.block}-message "
                          "MSI block sharing one address: its affinity cannot change alone")
        parent = d.parent
        assert parent is not None
        move_with_transit = getattr(parent.domain, "move_with_transit", None)
        if self.maskable or move_with_transit is None:
            if not super().irq_set_affinity(d, cpus):
                return False
            self._write(d, self.irq_compose_msi_msg(d))
            return True
        old_addr, _ = self.irq_compose_msi_msg(d)
        if not move_with_transit(parent, cpus):
            if not parent.chip.irq_set_affinity(parent, cpus):
                return False
            self.k.ctx.diag("OS", R_MSI_AFFINITY_UNSAFE,
                            f"{self.pdev.slot}: no vector free on both CPUs; MSI without "
                            "masking rewritten in one step (a message between the writes "
                            "may be lost)")
            msi_write_msg(self.k, self.pdev, self.irq_compose_msi_msg(d))
            return True
        new_addr, new_data = self.irq_compose_msi_msg(d)
        msi_write_msg(self.k, self.pdev, (old_addr, new_data))    # new vector, old CPU
        msi_write_msg(self.k, self.pdev, (new_addr, new_data))    # then the new CPU
        return True
