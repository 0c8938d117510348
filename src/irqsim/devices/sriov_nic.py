"""An SR-IOV Ethernet controller in the style of Intel's 82576 (seed 004: every VM gets its
own MSI-X vectors): a PF with MSI-X and the SR-IOV capability, and VFs with three MSI-X
vectors each (RX, TX, mailbox) in VF BAR 3, as the real 82576 dump in
../shared/realworld/pci-dumps declares (VF Device ID 10CAh, VF BARs 0 and 3, 16 KiB each)."""

from __future__ import annotations

from irqsim.pci.config import BarSpec
from irqsim.pci.express import LinkSpec
from irqsim.pci.function import PciFunction
from irqsim.pci.msix import MsixCapability
from irqsim.pci.sriov import SriovCapability, VirtualFunction
from irqsim.sim.context import SimContext

VF_BARS = (BarSpec(0, 0x4000, is64=True), BarSpec(3, 0x4000, is64=True))


class SriovNicVf(VirtualFunction):
    """A VF: three MSI-X vectors, table at VF BAR 3 offset 0, PBA at 0x2000."""

    def __init__(self, sriov: SriovCapability, index: int) -> None:
        super().__init__(sriov, index, f"{sriov.pf.name}-vf{index}", 0x020000)
        self.msix = MsixCapability(self, 0x70, 3, 3, 0x0, 3, 0x2000)

    def event(self, vector: int) -> None:
        """A VF queue event: raise MSI-X ``vector``."""
        self.msix.signal(vector)


class SriovNic(PciFunction):
    """The PF: ten MSI-X vectors (BAR 3) and SR-IOV with ``total_vfs`` VFs."""

    def __init__(self, ctx: SimContext, name: str = "sriov-nic", total_vfs: int = 8,
                 vf_offset: int = 0x80, vf_stride: int = 2) -> None:
        super().__init__(ctx, name, 0x8086, 0x10C9, 0x020000,
                         bars=(BarSpec(0, 0x20000), BarSpec(3, 0x4000)), revision=1,
                         interrupt_pin=1, link=LinkSpec(1, 4))
        self.msix = MsixCapability(self, 0x70, 10, 3, 0x0, 3, 0x2000)
        # Its PCI Express capability (PciFunction's, with the 82576's Gen1 x4 link, as the
        # real dump's LnkCap) is what lets it have extended capabilities (SR-IOV at 100h).
        self.sriov = SriovCapability(self, SriovNicVf, total_vfs, 0x10CA, VF_BARS,
                                     vf_offset=vf_offset, vf_stride=vf_stride)

    @property
    def vfs(self) -> list[SriovNicVf]:
        return [vf for vf in self.sriov.vfs if isinstance(vf, SriovNicVf)]
