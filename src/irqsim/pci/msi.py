"""MSI (capability ID 05h), PCI Local Bus 3.0 6.8.1 / PCIe Base 7.7.1; semantics.md C.1.

Four layouts: 32- or 64-bit Message Address, with or without per-vector
masking (Mask Bits and Pending Bits). Everything lives in configuration space:

=================  =======  =======  ======  ======  ========  =====
layout             addr lo  addr hi  data    mask    pending   size
=================  =======  =======  ======  ======  ========  =====
32-bit             +4       --       +8      --      --        0x0A
64-bit             +4       +8       +0Ch    --      --        0x0E
32-bit + masking   +4       --       +8      +0Ch    +10h      0x14
64-bit + masking   +4       +8       +0Ch    +10h    +14h      0x18
=================  =======  =======  ======  ======  ========  =====

With ``n = 2**MME`` messages enabled, message ``k`` is a DWORD write of
``(Data & ~(n - 1)) | k`` to the one Message Address (the device varies the low
bits, seed 004 figure 7). A masked message sets its Pending bit instead; clearing
the mask sends it once and clears the bit. Enabling MSI forbids INTx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from irqsim.sim.accounting import Reason
from irqsim.sim.rules import rule
from irqsim.spec.pci import (
    CAP_ID_MSI,
    MSI_CTRL_ADDR64,
    MSI_CTRL_ENABLE,
    MSI_CTRL_MMC_SHIFT,
    MSI_CTRL_MME,
    MSI_CTRL_MME_SHIFT,
    MSI_CTRL_PVM,
    MSI_MESSAGE_CONTROL,
    msi_cap_size,
    msi_layout,
)

R_MSI_DISABLED = rule(
    "MSI-DISABLED", "PCI 6.8.1.3",
    "a function sends MSI messages only with MSI Enable set")
R_MSI_BEYOND_MME = rule(
    "MSI-BEYOND-MME", "PCI 6.8.1.3",
    "a function sends only the messages Multiple Message Enable allows")
R_MME_EXCEEDS_MMC = rule(
    "MSI-MME-EXCEEDS-MMC", "PCI 6.8.1.3",
    "Multiple Message Enable must not exceed Multiple Message Capable")

if TYPE_CHECKING:
    from irqsim.pci.function import PciFunction

class MsiCapability:
    """MSI state of one function, all of it in configuration space."""

    __slots__ = ("addr64", "data_off", "fn", "mask_off", "mmc", "offset", "pend_off",
                 "pending_iid", "pvm", "size")

    def __init__(self, fn: PciFunction, offset: int, vectors: int = 1, addr64: bool = True,
                 per_vector_masking: bool = True, existing: bool = False) -> None:
        if vectors < 1 or vectors > 32 or vectors & (vectors - 1):
            raise ValueError(f"MSI vectors must be a power of two in 1-32, got {vectors}")
        self.fn = fn
        self.offset = offset
        self.mmc = vectors.bit_length() - 1
        self.addr64 = addr64
        self.pvm = per_vector_masking
        self.size = msi_cap_size(addr64, per_vector_masking)
        cs = fn.config
        if not existing:        # else the capability bytes are a real dump's: masks only
            cs.add_capability(CAP_ID_MSI, offset, self.size)
        for reg in msi_layout(addr64, per_vector_masking, self.mmc):
            cs.declare(reg, offset)
        cs.hw_write(offset + MSI_MESSAGE_CONTROL.offset, 2,
                    self.mmc << MSI_CTRL_MMC_SHIFT | (MSI_CTRL_ADDR64 if addr64 else 0)
                    | (MSI_CTRL_PVM if per_vector_masking else 0))
        self.data_off = offset + (0x0C if addr64 else 0x08)
        self.mask_off = self.data_off + 4 if per_vector_masking else 0
        self.pend_off = self.data_off + 8 if per_vector_masking else 0
        self.pending_iid: dict[int, int] = {}   # interrupt id held by each Pending bit
        fn.listen(offset, self.size, self._written)

    # -- state ---------------------------------------------------------------------
    @property
    def control(self) -> int:
        return self.fn.config.read(self.offset + 2, 2)

    @property
    def enabled(self) -> bool:
        return bool(self.fn.config.data[self.offset + 2] & MSI_CTRL_ENABLE)

    @property
    def capable(self) -> int:
        """Messages the function can use (2**MMC)."""
        return 1 << self.mmc

    @property
    def allocated(self) -> int:
        """Messages software enabled (2**MME)."""
        return 1 << ((self.fn.config.data[self.offset + 2] & MSI_CTRL_MME) >> MSI_CTRL_MME_SHIFT)

    @property
    def address(self) -> int:
        cs = self.fn.config
        a = cs.read(self.offset + 4, 4)
        if self.addr64:
            a |= cs.read(self.offset + 8, 4) << 32
        return a

    @property
    def data(self) -> int:
        return self.fn.config.read(self.data_off, 2)

    @property
    def mask_bits(self) -> int:
        return self.fn.config.read(self.mask_off, 4) if self.pvm else 0

    @property
    def pending_bits(self) -> int:
        return self.fn.config.read(self.pend_off, 4) if self.pvm else 0

    def masked(self, k: int) -> bool:
        """Per-vector mask of message ``k`` (always False without per-vector masking)."""
        return self.pvm and bool(self.fn.config.read(self.mask_off, 4) >> k & 1)

    def message(self, k: int) -> tuple[int, int]:
        """(address, data) of message ``k``: the low log2(n) data bits replaced by ``k``."""
        n = self.allocated
        return self.address, (self.data & ~(n - 1) & 0xFFFF) | k

    def _set_pending(self, bits: int) -> None:
        self.fn.config.hw_write(self.pend_off, 4, bits)

    # -- device side -------------------------------------------------------------------
    def signal(self, k: int, t_event: int | None = None) -> None:
        """The device raises message ``k`` now: detection and capability read, then send."""
        fn = self.fn
        ctx = fn.ctx
        iid = ctx.ledger.raise_(fn.name)
        now = ctx.engine.now
        tm = ctx.timing
        t_event = now if t_event is None else t_event
        if ctx.points.event.on:
            ctx.points.event(iid, t_event, fn.name)
        ctx.engine.at(now + tm.device_event_detect + tm.msi_capability_read, self._sample,
                      (k, iid))

    def _sample(self, arg: tuple[int, int]) -> None:
        k, iid = arg
        fn = self.fn
        ctx = fn.ctx
        if not self.enabled:
            ctx.ledger.drop(Reason.MSI_DISABLED, iid, fn.name)
            ctx.diag(fn.name, R_MSI_DISABLED,
                     f"MSI message {k} not sent: MSI Enable is clear")
            return
        n = self.allocated
        if k >= n:
            ctx.ledger.drop(Reason.MSI_BEYOND_MME, iid, fn.name)
            ctx.diag(fn.name, R_MSI_BEYOND_MME,
                     f"device raised MSI message {k} but only {n} are enabled")
            return
        masked = self.masked(k)
        if ctx.tracer.on:
            ctx.tracer.emit(ctx.engine.now, fn.name, fn.name, "msi-sample", vector=k,
                            masked=masked)
        if masked:
            pend = self.pending_bits
            if pend >> k & 1:
                ctx.ledger.merge(iid, fn.name)
                what = "merged"
            else:
                self._set_pending(pend | 1 << k)
                self.pending_iid[k] = iid
                what = "pending"
            if ctx.tracer.on:
                ctx.tracer.emit(ctx.engine.now, fn.name, fn.name, "msi-masked", vector=k,
                                pending=what)
            return
        self._send(k, ctx.engine.now, iid, True)   # the sample event's last step

    def _send(self, k: int, t_sample: int, iid: int, last: bool = False) -> None:
        """Send message ``k`` (``last``: the caller's event ends with this call, so the
        link's arrival may be folded into it)."""
        addr, data = self.message(k)
        if not self.addr64:
            addr &= 0xFFFFFFFF
        self.fn.send_interrupt(addr, data, t_sample, f"{self.fn.name}/msi{k}", iid, last)

    # -- software side ---------------------------------------------------------------------
    def _written(self, offset: int, size: int, old: bytes) -> None:
        """Config write inside the capability: MME clamp, enable change, unmask-send."""
        fn = self.fn
        ctx = fn.ctx
        ctl = self.offset + 2
        cs = fn.config
        if offset <= ctl < offset + size:
            was = old[ctl - offset]
            b = cs.data[ctl]
            mme = (b & MSI_CTRL_MME) >> MSI_CTRL_MME_SHIFT
            if mme > self.mmc:
                ctx.diag(fn.name, R_MME_EXCEEDS_MMC,
                         f"MME {mme:03b} ({1 << mme} messages) exceeds MMC {self.mmc:03b} "
                         f"({1 << self.mmc}): clamped to {1 << self.mmc}")
                cs.data[ctl] = (b & ~MSI_CTRL_MME) | self.mmc << MSI_CTRL_MME_SHIFT
            if b & MSI_CTRL_ENABLE and not was & MSI_CTRL_ENABLE:
                fn.msi_enabled_changed(True)
            elif was & MSI_CTRL_ENABLE and not b & MSI_CTRL_ENABLE:
                fn.msi_enabled_changed(False)
        if not self.pvm or not self.enabled:
            return
        pend = self.pending_bits
        if not pend:
            return
        n = self.allocated
        beyond = pend & ~((1 << n) - 1)
        if beyond:
            b, j = beyond, 0
            while b:
                if b & 1:
                    ctx.ledger.drop(Reason.MSI_PENDING_BEYOND_MME, self.pending_iid.pop(j, 0),
                                    fn.name)
                b >>= 1
                j += 1
            pend &= (1 << n) - 1
            self._set_pending(pend)
        ready = pend & ~self.mask_bits
        k = 0
        while ready:
            if ready & 1:
                self._set_pending(self.pending_bits & ~(1 << k))
                now = ctx.engine.now
                iid = self.pending_iid.pop(k, 0)
                if ctx.tracer.on:
                    ctx.tracer.emit(now, fn.name, fn.name, "msi-unmask-send", vector=k)
                if ctx.points.event.on:     # latency counts from the unmask that sends it
                    ctx.points.event(iid, now, fn.name)
                self._send(k, now + ctx.timing.msi_capability_read, iid)
            ready >>= 1
            k += 1
