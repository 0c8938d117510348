"""The virtual-APIC page of one vCPU and the guest interrupt status (SDM 29.1-29.2).

vIRR and vISR are 256-bit integers as the LAPIC's IRR/ISR (their page chunks at 0x200/0x100
are read through :meth:`VirtualApic.read`); RVI and SVI are the guest interrupt status the VMCS
holds; VPPR follows PPR virtualization (SDM 29.1.3). Without APICv the same page is KVM's
emulated local APIC (``apic->regs``): :meth:`ack_highest` and :meth:`emulated_eoi` are its
software operations.
"""

from __future__ import annotations

from collections.abc import Callable

from irqsim.spec.vmx import VIRR, VISR, VPPR, VTPR


def _highest(bits: int) -> int:
    return bits.bit_length() - 1 if bits else 0


class VirtualApic:
    """vIRR, vISR, VTPR, VPPR and RVI/SVI of one vCPU; ``irr_meta``: vector -> ledger id."""

    __slots__ = ("irr", "irr_meta", "isr", "ppr", "rvi", "svi", "tpr")

    def __init__(self) -> None:
        self.irr = 0
        self.isr = 0
        self.tpr = 0
        self.ppr = 0
        self.rvi = 0
        self.svi = 0
        self.irr_meta: dict[int, int] = {}

    # -- SDM 29.1.3 PPR virtualization --------------------------------------------------
    def update_ppr(self) -> None:
        """VPPR = VTPR if VTPR[7:4] >= SVI[7:4], else SVI & 0xF0."""
        self.ppr = self.tpr & 0xFF if (self.tpr >> 4) >= (self.svi >> 4) else self.svi & 0xF0

    # -- SDM 29.6 step 3-4: PIR into vIRR -------------------------------------------------
    def merge_pir(self, bits: int, take: Callable[[int], int] = lambda v: 0) -> list[int]:
        """vIRR |= bits; RVI = max(RVI, highest bit of ``bits``) (unchanged when empty).
        ``take(vector)`` gives the ledger id a PIR bit carries. Returns the ids that joined a
        vIRR bit already set (merged)."""
        if not bits:
            return []
        merged = []
        b = bits
        while b:
            v = b.bit_length() - 1
            b &= ~(1 << v)
            iid = take(v)
            if self.irr >> v & 1:
                merged.append(iid)
            else:
                self.irr_meta[v] = iid
        self.irr |= bits
        self.rvi = max(self.rvi, bits.bit_length() - 1)
        return merged

    # -- SDM 29.2.1 evaluation, 29.2.2 delivery -------------------------------------------
    def recognizable(self) -> bool:
        """A virtual interrupt is recognized when RVI[7:4] > VPPR[7:4]."""
        return (self.rvi >> 4) > (self.ppr >> 4)

    def deliver(self) -> tuple[int, int]:
        """Virtual-interrupt delivery: VISR[RVI]=1, SVI=RVI, VPPR=RVI&0xF0, VIRR[RVI]=0,
        RVI = highest remaining VIRR bit (0 if none). Returns (vector, ledger id)."""
        v = self.rvi
        self.isr |= 1 << v
        self.svi = v
        self.ppr = v & 0xF0
        self.irr &= ~(1 << v)
        self.rvi = _highest(self.irr)
        return v, self.irr_meta.pop(v, 0)

    def virtual_eoi(self) -> int:
        """EOI virtualization (SDM 29.1.2): VISR[SVI]=0, SVI = highest VISR bit (0 if none),
        PPR virtualization. Returns the vector that was in service."""
        v = self.svi
        self.isr &= ~(1 << v)
        self.svi = _highest(self.isr)
        self.update_ppr()
        return v

    # -- KVM's emulated APIC (no APICv) -----------------------------------------------
    def set_irr(self, vector: int, iid: int) -> bool:
        """kvm_lapic_set_irr: False if the bit was already set (the interrupt merges)."""
        bit = 1 << vector
        if self.irr & bit:
            return False
        self.irr |= bit
        self.irr_meta[vector] = iid
        return True

    def injectable(self) -> int:
        """kvm_apic_has_interrupt: highest vIRR vector whose class beats VPPR's, else -1."""
        if not self.irr:
            return -1
        v = self.irr.bit_length() - 1
        return v if (v >> 4) > (self.ppr >> 4) else -1

    def ack_highest(self) -> tuple[int, int]:
        """kvm_apic_ack_interrupt: the injectable vector moves vIRR -> vISR."""
        v = self.irr.bit_length() - 1
        self.irr &= ~(1 << v)
        self.isr |= 1 << v
        self.svi = _highest(self.isr)
        self.update_ppr()
        return v, self.irr_meta.pop(v, 0)

    def emulated_eoi(self) -> int:
        """apic_set_eoi: the highest vISR bit clears; returns it (-1 if none)."""
        if not self.isr:
            return -1
        v = self.isr.bit_length() - 1
        self.isr &= ~(1 << v)
        self.svi = _highest(self.isr)
        self.update_ppr()
        return v

    # -- the page as memory ---------------------------------------------------------------
    def read(self, offset: int) -> int:
        """32-bit read of the page at ``offset`` (VTPR, VPPR, VISR/VIRR chunks)."""
        if offset == VTPR:
            return self.tpr
        if offset == VPPR:
            return self.ppr
        for base, bits in ((VISR, self.isr), (VIRR, self.irr)):
            if base <= offset < base + 0x80 and not offset & 0xF:
                return bits >> (32 * ((offset - base) >> 4)) & 0xFFFFFFFF
        return 0
