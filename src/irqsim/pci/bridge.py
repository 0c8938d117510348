"""PCI-to-PCI bridges (type-1 header): root ports and switch ports.

A bridge forwards configuration requests for buses in [secondary, subordinate],
memory requests downstream inside its memory windows (when Memory Space Enable
is set), and memory requests upstream only when Bus Master Enable is set
(PCI-to-PCI Bridge spec 1.2, 3.2.2 and 4.1).

INTx messages (routing "local") end at the bridge, which keeps the four virtual
wires of its secondary side: the wire of device D's pin P maps to its own pin
``(P - 1 + D) mod 4 + 1`` (swizzling, PCI-to-PCI Bridge 1.2 table 9-1), and the
wires that map to one pin are ORed (collapsing): one Assert upstream when the
first asserts, one Deassert when the last deasserts (PCIe 2.2.8.1, seed 004).
Bus Master Enable does not gate INTx messages (PCIe 7.5.1.1.3).
"""

from __future__ import annotations

from typing import Final

from irqsim.fabric.tlp import INTX_NAMES, MSG, MWR, Tlp, TlpType, intx_code, intx_decode
from irqsim.pci.config import install_header
from irqsim.pci.express import DEFAULT_LINK, LinkSpec
from irqsim.pci.function import MmioRegion, PciFunction
from irqsim.sim.accounting import Reason
from irqsim.sim.compiled import mypyc_attr
from irqsim.sim.context import SimContext
from irqsim.sim.rules import rule
from irqsim.spec.msi import MSI_WINDOW, MSI_WINDOW_SHIFT
from irqsim.spec.pci import (
    CMD_BUS_MASTER,
    CMD_MEMORY_SPACE,
    COMMAND,
    MEMORY_BASE,
    MEMORY_LIMIT,
    PREF_BASE_UPPER,
    PREF_LIMIT_UPPER,
    PREF_MEMORY_BASE,
    PREF_MEMORY_LIMIT,
    SECONDARY_BUS,
    SUBORDINATE_BUS,
    TYPE1_HEADER,
)
from irqsim.spec.pcie import EXP_TYPE_ROOT_PORT

R_INTX_DOUBLE_ASSERT = rule(
    "PCI-INTX-DOUBLE-ASSERT", "PCIe 2.2.8.1",
    "an Assert_INTx message for a wire already asserted (no Deassert between)")
R_INTX_STRAY_DEASSERT = rule(
    "PCI-INTX-STRAY-DEASSERT", "PCIe 2.2.8.1",
    "a Deassert_INTx message for a wire that is not asserted")
R_MESSAGE_NOT_MODELLED = rule(
    "PCI-MESSAGE-NOT-MODELLED", "PCIe 2.2.8",
    "a PCIe message whose code is not modelled is dropped")
R_UNSUPPORTED_REQUEST = rule(
    "PCI-UNSUPPORTED-REQUEST", "PCIe 2.3.1",
    "a request to an address no function claims is an Unsupported Request")
R_BRIDGE_BUS_MASTER = rule(
    "PCI-BRIDGE-BUS-MASTER", "PCI-PCI Bridge 1.2 3.2.2.3.3",
    "a bridge forwards upstream requests only with Bus Master Enable set")

_CMD: Final = COMMAND.offset                       # Command low byte: Memory Space, Bus Master
_WIN = MEMORY_BASE.mask("base")             # address bits 31:20 in bits 15:4
_WINDOWS_END = PREF_LIMIT_UPPER.offset + PREF_LIMIT_UPPER.size


@mypyc_attr(allow_interpreted_subclasses=True)    # switch ports subclass it
class PciBridge(PciFunction):
    """A type-1 function with a secondary bus holding ``children``."""

    def __init__(self, ctx: SimContext, name: str, vendor: int = 0x8086, device: int = 0x7000,
                 class_code: int = 0x060400, express_type: int = EXP_TYPE_ROOT_PORT,
                 link: LinkSpec | None = DEFAULT_LINK) -> None:
        super().__init__(ctx, name, vendor, device, class_code, header_type=1,
                         express_type=express_type, link=link)
        self.children: list[PciFunction] = []
        self.upstream_receiver: object | None = None
        # Collapsed virtual wires: upstream pin 1-4 -> asserting (requester ID, pin) sources.
        self.intx_sources: dict[int, set[tuple[int, int]]] = {1: set(), 2: set(), 3: set(),
                                                               4: set()}
        self.intx_asserts = 0
        self.intx_collapsed = 0
        self._windows: tuple[int, int, int, int] | None = None

    def _init_header(self, header_type: int) -> None:
        install_header(self.config, TYPE1_HEADER)

    @property
    def secondary_bus(self) -> int:
        return self.config.data[SECONDARY_BUS.offset]

    @property
    def subordinate_bus(self) -> int:
        return self.config.data[SUBORDINATE_BUS.offset]

    def attach(self, child: PciFunction, devfn: int = 0) -> None:
        """Put ``child`` on the secondary bus at ``devfn``."""
        child.parent = self
        child.devfn = devfn
        child.on_decode_change = self.on_decode_change
        self.children.append(child)

    # -- windows ----------------------------------------------------------
    def memory_window(self) -> tuple[int, int]:
        """Non-prefetchable window [base, limit] (1 MiB granular, 32-bit)."""
        cs = self.config
        base = (cs.read(MEMORY_BASE.offset, 2) & _WIN) << 16
        limit = ((cs.read(MEMORY_LIMIT.offset, 2) & _WIN) << 16) | 0xFFFFF
        return base, limit

    def prefetch_window(self) -> tuple[int, int]:
        """Prefetchable window [base, limit] (64-bit)."""
        cs = self.config
        base = ((cs.read(PREF_MEMORY_BASE.offset, 2) & _WIN) << 16
                | cs.read(PREF_BASE_UPPER.offset, 4) << 32)
        limit = ((cs.read(PREF_MEMORY_LIMIT.offset, 2) & _WIN) << 16 | 0xFFFFF
                 | cs.read(PREF_LIMIT_UPPER.offset, 4) << 32)
        return base, limit

    def forwards_memory(self, addr: int) -> bool:
        if not self.config.data[_CMD] & CMD_MEMORY_SPACE:
            return False
        win = self._windows
        if win is None:
            win = self._windows = (*self.memory_window(), *self.prefetch_window())
        return win[0] <= addr <= win[1] or win[2] <= addr <= win[3]

    def _config_written(self, offset: int, size: int, old: bytes) -> None:
        if offset < _WINDOWS_END and offset + size > MEMORY_BASE.offset:
            self._windows = None                    # the decoded windows changed
        super()._config_written(offset, size, old)

    # -- routing ----------------------------------------------------------
    def route_config(self, bus: int, devfn: int) -> PciFunction | None:
        """The function that claims a configuration request for (bus, devfn) below us."""
        if bus == self.secondary_bus:
            for child in self.children:
                if child.devfn == devfn and child.bus == bus:
                    return child
            return None
        if self.secondary_bus < bus <= self.subordinate_bus:
            for child in self.children:
                if isinstance(child, PciBridge):
                    if child.secondary_bus <= bus <= child.subordinate_bus:
                        return child.route_config(bus, devfn)
                elif child.devfn == devfn and child.bus == bus:
                    return child        # a VF on a bus above its PF's (SR-IOV 9.3.3.9)
        return None

    def route_memory(self, addr: int) -> tuple[MmioRegion, int] | None:
        """Decode a downstream memory request inside our windows."""
        if not self.forwards_memory(addr):
            return None
        for child in self.children:
            if isinstance(child, PciBridge):
                hit = child.route_memory(addr)
            else:
                hit = child.decode(addr)
            if hit is not None:
                return hit
        return None

    @staticmethod
    def swizzle(pin: int, device: int) -> int:
        """The bridge pin that device ``device``'s pin ``pin`` (1-4) maps to."""
        return (pin - 1 + device) % 4 + 1

    def intx_wire(self, pin: int) -> bool:
        """Whether the collapsed wire ``pin`` (1-4) on the primary side is asserted."""
        return bool(self.intx_sources[pin])

    def receive_intx(self, tlp: Tlp) -> None:
        """An Assert/Deassert_INTx from a device on the secondary bus: swizzle, collapse."""
        ctx = self.ctx
        pin, is_assert = intx_decode(tlp.code)
        device = (tlp.requester >> 3) & 0x1F
        up = (pin - 1 + device) % 4 + 1
        sources = self.intx_sources[up]
        key = (tlp.requester, pin)
        tracer = ctx.tracer
        if is_assert:
            self.intx_asserts += 1
            if key in sources:
                ctx.ledger.merge(tlp.iid, self.name, flying=True)
                ctx.diag(self.name, R_INTX_DOUBLE_ASSERT,
                         f"{INTX_NAMES[tlp.code]} from {tlp.requester >> 8:02x}:{device:02x}."
                         f"{tlp.requester & 7} while its wire is already asserted")
                return
            sources.add(key)
            if len(sources) > 1:
                self.intx_collapsed += 1
                ctx.ledger.merge(tlp.iid, self.name, flying=True)
                if tracer.on:
                    tracer.emit(ctx.engine.now, self.name, self.name, "intx-collapse",
                                pin="ABCD"[up - 1], sharers=len(sources), source=tlp.source)
                return
        else:
            if key not in sources:
                ctx.diag(self.name, R_INTX_STRAY_DEASSERT,
                         f"{INTX_NAMES[tlp.code]} from {tlp.requester >> 8:02x}:{device:02x}."
                         f"{tlp.requester & 7} for a wire that is not asserted: ignored")
                return
            sources.discard(key)
            if sources:
                if tracer.on:
                    tracer.emit(ctx.engine.now, self.name, self.name, "intx-collapse",
                                pin="ABCD"[up - 1], sharers=len(sources), source=tlp.source)
                return
        out = Tlp(TlpType.MSG, self.requester_id, code=intx_code(up, is_assert), length=0)
        out.source = tlp.source
        out.iid = tlp.iid
        if tracer.on:
            tracer.emit(ctx.engine.now, self.name, "PCIe Bus", INTX_NAMES[out.code],
                        swizzled=f"INT{'ABCD'[pin - 1]}->INT{'ABCD'[up - 1]}",
                        requester=self.bdf, source=tlp.source)
        self.forward_up(out)

    def receive_upstream(self, tlp: Tlp) -> None:
        """A TLP from below: forward it up if Bus Master Enable allows."""
        if tlp.kind == MSG:
            if tlp.is_intx:
                self.receive_intx(tlp)
            else:
                self.ctx.diag(self.name, R_MESSAGE_NOT_MODELLED,
                              f"message {tlp.code:#04x} not modelled: dropped")
            return
        addr = tlp.address
        if (addr >> MSI_WINDOW_SHIFT != MSI_WINDOW or tlp.kind != MWR) \
                and self.forwards_memory(addr):
            # Inside our own windows: the target is below us (peer to peer), so the write is
            # claimed here and never goes upstream (PCI-to-PCI Bridge 1.2, 4.1).
            hit = self.route_memory(tlp.address)
            if hit is None:
                self.ctx.diag(self.name, R_UNSUPPORTED_REQUEST,
                              f"peer write to {tlp.address:#x} inside the bridge window "
                              "matches no function")
                return
            region, off = hit
            region.mmio_write(off, tlp.length, tlp.data)
            if self.ctx.tracer.on:
                self.ctx.tracer.emit(self.ctx.engine.now, self.name, "PCIe Device",
                                     "peer-write", address=tlp.address, length=tlp.length,
                                     source=tlp.source)
            return
        if not self._cfg_data[_CMD] & CMD_BUS_MASTER:
            ctx = self.ctx
            if tlp.is_interrupt:
                ctx.ledger.drop(Reason.BRIDGE_BUS_MASTER, tlp.iid, self.name, flying=True)
            ctx.diag(self.name, R_BRIDGE_BUS_MASTER,
                     f"upstream {tlp!r} dropped: the bridge's Bus Master Enable is clear")
            return
        self.forward_up(tlp)

    def forward_up(self, tlp: Tlp) -> None:
        """Send a TLP towards the root (root ports hand it to the root complex)."""
        raise NotImplementedError
