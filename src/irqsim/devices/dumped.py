"""A PCI function whose configuration space comes from a real dump (lspci -x or sysfs).

The dump's bytes are the configuration space: header fields keep the access rules of their
declarations (read-only parts keep the dump's values, writable parts are writable), BAR types
come from the dump, and a present MSI-X capability is driven by the MSI-X model with its real
table size, BIR and offsets. A dump does not record BAR sizes: irqsim gives each memory BAR the
smallest power of two (at least 4 KiB) that holds the MSI-X structures placed in it.

A dump says nothing about the device's own registers either. So that INTx (level, shared) can
be driven honestly, irqsim adds one stand-in register: a 32-bit read-to-clear interrupt cause
register in the last 16 bytes of the first memory BAR that has room for it. Reading it returns
the pending event bits, clears them and deasserts INTx, as a real driver's status read does.
"""

from __future__ import annotations

from irqsim.formats.dumpfile import ConfigDump
from irqsim.pci.config import BarSpec
from irqsim.pci.function import PciFunction
from irqsim.pci.msi import MsiCapability
from irqsim.pci.msix import MsixCapability
from irqsim.sim.context import SimContext
from irqsim.spec.pci import CAP_ID_MSI, CAP_ID_MSIX, CONFIG_SPACE_SIZE

MIN_BAR = 4096
CAUSE_REGISTER_SIZE = 16   # irqsim's stand-in interrupt cause register, at the end of a BAR


class DumpError(ValueError):
    """A dump that cannot become a simulated function (names the dump and the field)."""


def _pow2_at_least(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


class DumpedFunction(PciFunction):
    """An endpoint built from a configuration dump."""

    def __init__(self, ctx: SimContext, dump: ConfigDump, name: str | None = None) -> None:
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
