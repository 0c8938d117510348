"""A PCIe function: configuration space, BARs with MMIO regions, and an upstream link.

Software reaches a function only through configuration accesses (routed by
the root complex) and memory reads/writes that one of its BARs decodes. The
function reaches the system only by sending TLPs upstream.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Protocol, final

from irqsim.fabric.tlp import INTX_NAMES, MWR, Tlp, TlpType, intx_code
from irqsim.pci.config import BarSpec, ConfigSpace, install_header
from irqsim.pci.express import DEFAULT_LINK, LinkSpec, install_express
from irqsim.sim.accounting import Reason
from irqsim.sim.compiled import mypyc_attr
from irqsim.sim.context import SimContext
from irqsim.sim.rules import rule
from irqsim.sim.trace import FixedShapes, shape
from irqsim.spec.msi import MSI_WINDOW, MSI_WINDOW_SHIFT
from irqsim.spec.pci import (
    BAR0,
    BAR_COUNT,
    CLASS_CODE,
    CMD_BUS_MASTER,
    CMD_INTX_DISABLE,
    CMD_MEMORY_SPACE,
    COMMAND,
    DEVICE_ID,
    HEADER_TYPE,
    INTERRUPT_PIN,
    REVISION_ID,
    STATUS,
    STATUS_INTERRUPT,
    SUBSYSTEM_ID,
    SUBSYSTEM_VENDOR_ID,
    TYPE0_HEADER,
    VENDOR_ID,
)
from irqsim.spec.pcie import EXP_TYPE_ENDPOINT

# Trace events of the hot path (irqsim.sim.trace: kind and field names, once).
_T_MWR_DMA: Final = shape("MWr", "address", "length", "source")
_T_MWR_MSI: Final = shape("MWr", "address", "data", "requester", "source")

R_DMA_BUS_MASTER = rule(
    "PCI-DMA-BUS-MASTER", "PCI 6.2.2",
    "a function issues memory requests only with Command.Bus Master Enable set")
R_MSI_BUS_MASTER = rule(
    "MSI-BUS-MASTER", "PCI 6.8",
    "an interrupt message is a memory write: it needs Bus Master Enable")
R_MSI_ADDRESS = rule(
    "MSI-ADDRESS", "SDM 11.11.1",
    "an interrupt message's address must be 0xFEExxxxx")
R_MSI_AND_MSIX = rule(
    "MSI-AND-MSIX-ENABLED", "PCI 6.8.2.3",
    "MSI and MSI-X must not both be enabled")
R_NO_INTX_PIN = rule(
    "PCI-NO-INTX-PIN", "PCI 6.2.4",
    "a function raises INTx only through the pin its Interrupt Pin register names")

if TYPE_CHECKING:
    from irqsim.fabric.link import Link


# Byte offsets of the header fields tested on hot paths (from the declarations).
_CMD: Final = COMMAND.offset                   # Command low byte: Memory Space, Bus Master
_CMD_HI = COMMAND.offset + 1            # Command high byte: Interrupt Disable (bit 10)
_INTX_DISABLE_HI = CMD_INTX_DISABLE >> 8
_STATUS = STATUS.offset                 # Status low byte: Interrupt Status (bit 3)
_PIN = INTERRUPT_PIN.offset
_BARS, _BARS_END = BAR0, BAR0 + 4 * BAR_COUNT

class MmioRegion(Protocol):
    """A block of device registers inside a BAR."""

    def mmio_read(self, offset: int, size: int) -> int: ...

    def mmio_write(self, offset: int, size: int, value: int) -> None: ...


ConfigListener = Callable[[int, int, bytes], None]


@mypyc_attr(allow_interpreted_subclasses=True)    # devices subclass it
class PciFunction:
    """A type-0 PCIe function (endpoint)."""

    def __init__(self, ctx: SimContext, name: str, vendor: int, device: int,
                 class_code: int, bars: tuple[BarSpec, ...] = (), revision: int = 0,
                 subsystem_vendor: int = 0, subsystem: int = 0, interrupt_pin: int = 0,
                 header_type: int = 0, express_type: int | None = EXP_TYPE_ENDPOINT,
                 link: LinkSpec | None = DEFAULT_LINK) -> None:
        """``express_type``: the PCI Express capability's Device/Port Type (at 0xC0; None:
        no capability, a conventional PCI function); ``link``: its maximum link speed and
        width (LnkCap; None: no link, as a VF or an integrated endpoint)."""
        self.ctx = ctx
        self._tp_send = ctx.points.send
        self._tp_upstream = ctx.points.upstream
        self.name = name
        # trace shapes bound to this function as source (Tracer.put3 etc.)
        self._t_mwr_dma = _T_MWR_DMA.bind(name, "PCIe Bus")
        self._t_mwr_msi = FixedShapes(_T_MWR_MSI, name, "PCIe Bus")   # one per source
        self.config = ConfigSpace()
        # The configuration bytes themselves (ConfigSpace keeps one bytearray for life):
        # compiled, a native read on the interrupt path instead of a lookup on ConfigSpace.
        self._cfg_data: bytearray = self.config.data
        self._init_header(header_type)
        cs = self.config
        for reg, value in ((VENDOR_ID, vendor), (DEVICE_ID, device), (REVISION_ID, revision),
                           (CLASS_CODE, class_code), (HEADER_TYPE, header_type),
                           (INTERRUPT_PIN, interrupt_pin)):
            cs.hw_write(reg.offset, reg.size, value)
        if header_type == 0:
            cs.hw_write(SUBSYSTEM_VENDOR_ID.offset, 2, subsystem_vendor)
            cs.hw_write(SUBSYSTEM_ID.offset, 2, subsystem)
        if express_type is not None:
            install_express(cs, express_type, link)
        self.bars: dict[int, BarSpec] = {}
        self.regions: dict[int, list[tuple[int, int, MmioRegion]]] = {}
        for spec in bars:
            self.add_bar(spec)
        self.listeners: list[tuple[int, int, ConfigListener]] = []
        cs.hook = self._config_written
        self._captured_rid = -1
        self._tlp_generation = ctx.timing.tlp_generation
        self.link: Link | None = None
        self.parent: object | None = None  # the port whose secondary bus we sit on
        self.devfn = 0
        self.on_decode_change: Callable[[], None] | None = None
        # INTx: the state of the function's virtual wire as last signalled upstream, and
        # whether MSI / MSI-X are enabled (either one forbids INTx, PCI 6.8.1.3 / 6.8.2.3).
        self.intx_asserted = False
        self.msi_on = False
        self.msix_on = False
        # Not architectural: the interrupt id (Ledger.raise_) the INTx condition carries.
        self.intx_iid = 0
        # A conventional PCI function's physical INTx# pin (docs/legacy-pc.md): the board's
        # wire, called with the Assert/Deassert code at the pin's change; None: a PCIe
        # function, whose wire is virtual (messages on its link).
        self.intx_pin_wire: Callable[[Tlp], None] | None = None

    def _init_header(self, header_type: int) -> None:
        install_header(self.config, TYPE0_HEADER)

    # -- identity --------------------------------------------------------
    @property
    def bus(self) -> int:
        """Bus number: the secondary bus of the parent port (0 on the root complex)."""
        parent = self.parent
        return parent.secondary_bus if parent is not None else 0  # type: ignore[attr-defined]

    @property
    def requester_id(self) -> int:
        """Bus/device/function the function puts in its requests: the bus number it captured
        from the last Type 0 configuration write (PCIe Base 2.2.6.2), else its parent's
        secondary bus."""
        rid = self._captured_rid
        return rid if rid >= 0 else (self.bus << 8) | self.devfn

    def capture_bus(self, bus: int) -> None:
        """Latch the bus number of a Type 0 configuration write addressed to us."""
        self._captured_rid = (bus << 8) | self.devfn

    @property
    def bdf(self) -> str:
        return f"{self.bus:02x}:{self.devfn >> 3:02x}.{self.devfn & 7}"

    # -- BARs and MMIO --------------------------------------------------
    def add_bar(self, spec: BarSpec) -> None:
        self.bars[spec.index] = spec
        self.regions[spec.index] = []
        self.config.bar(spec)

    def map_region(self, bar: int, offset: int, size: int, region: MmioRegion) -> None:
        """Place ``region`` at ``offset`` in BAR ``bar``."""
        spec = self.bars.get(bar)
        if spec is None or offset + size > spec.size:
            raise ValueError(f"{self.name}: region {offset:#x}+{size:#x} does not fit BAR{bar}")
        self.regions[bar].append((offset, size, region))

    def bar_address(self, index: int) -> int:
        """Current base address programmed in BAR ``index``."""
        spec = self.bars[index]
        cs = self.config
        lo = cs.read(BAR0 + 4 * index, 4) & 0xFFFFFFF0
        if spec.is64:
            lo |= cs.read(BAR0 + 4 * index + 4, 4) << 32
        return lo

    def decodes_memory(self) -> bool:
        """Whether the function claims memory requests: Memory Space Enable (a virtual
        function overrides it with its PF's VF MSE, PCIe 9.3.4.1.3)."""
        return bool(self.config.data[_CMD] & CMD_MEMORY_SPACE)

    def decode(self, addr: int) -> tuple[MmioRegion, int] | None:
        """The register block and offset that claim memory address ``addr``, if any."""
        if not self.decodes_memory():
            return None
        for index, spec in self.bars.items():
            base = self.bar_address(index)
            if base and base <= addr < base + spec.size:
                off = addr - base
                for start, size, region in self.regions[index]:
                    if start <= off < start + size:
                        return region, off - start
                return None
        return None

    # -- configuration ---------------------------------------------------
    def listen(self, start: int, size: int, fn: ConfigListener) -> None:
        """Call ``fn(offset, size, old_bytes)`` after writes overlapping [start, start+size)."""
        self.listeners.append((start, size, fn))

    def _config_written(self, offset: int, size: int, old: bytes) -> None:
        for start, n, fn in self.listeners:
            if offset < start + n and start < offset + size:
                fn(offset, size, old)
        if offset <= _CMD_HI < offset + size:          # Interrupt Disable may have changed
            self.intx_update()
        decode_touched = ((offset < _BARS_END and offset + size > _BARS) or
                          offset <= _CMD < offset + size)
        if decode_touched and self.on_decode_change is not None:
            self.on_decode_change()

    def config_read(self, offset: int, size: int) -> int:
        return self.config.read(offset, size)

    def config_write(self, offset: int, size: int, value: int) -> None:
        self.config.write(offset, size, value)

    # -- upstream --------------------------------------------------------
    @property
    def bus_master(self) -> bool:
        return bool(self.config.data[_CMD] & CMD_BUS_MASTER)

    def send_upstream(self, tlp: Tlp, ready: int, last: bool = False) -> int | None:
        """Put a TLP on the link at time ``ready``; returns arrival time or None if dropped.
        ``last``: the caller's event ends with this call (``Link.send`` may fold the arrival).

        A write to the interrupt window not yet carrying an interrupt (a forged MSI: a DMA
        write, a spoofed requester, any delivery mode) is raised here, at its origin, so
        every path downstream balances the books (issue 14 defect 2).
        """
        if not tlp.iid and tlp.is_interrupt:
            led = self.ctx.ledger
            tlp.iid = led.raise_(self.name)
            if self.ctx.points.event.on:
                self.ctx.points.event(tlp.iid, ready, self.name)
            led.launch(tlp.iid, self.name)
            if self.link is None:
                led.drop(Reason.NO_LINK, tlp.iid, self.name, flying=True)
                return None
        tp = self._tp_upstream
        if tp.on:
            tp(self, tlp, ready)
        link = self.link
        if link is None:
            return None
        return link.send(tlp, ready, last)

    def dma_write(self, address: int, payload: bytes, ready: int | None = None) -> int | None:
        """Posted memory write of ``payload`` (DMA). Needs Bus Master Enable."""
        ctx = self.ctx
        if not self.bus_master:
            ctx.diag(self.name, R_DMA_BUS_MASTER,
                     "DMA write dropped: Bus Master Enable is clear")
            return None
        t = ctx.engine.now if ready is None else ready
        tlp = Tlp(TlpType.MWR, self.requester_id, address, int.from_bytes(payload, "little"),
                  len(payload))
        tlp.source = f"{self.name}/dma"
        if ctx.tracer.on:
            ctx.tracer.put3(self._t_mwr_dma, t, address, len(payload), tlp.source)
        return self.send_upstream(tlp, t)

    @final
    def send_interrupt(self, address: int, data: int, t_sample: int, source: str,
                       iid: int = 0, last: bool = False) -> None:
        """Send an MSI/MSI-X message: a DWORD posted memory write of ``data`` to ``address``
        carrying interrupt ``iid`` (raised by the capability). ``last``: the caller's event
        ends with this call (the link's arrival may be folded into it, ``Link.send``)."""
        ctx = self.ctx
        if not self._cfg_data[_CMD] & CMD_BUS_MASTER:
            ctx.ledger.drop(Reason.BUS_MASTER, iid, self.name)
            ctx.diag(self.name, R_MSI_BUS_MASTER,
                     "interrupt message not sent: Bus Master Enable is clear")
            return
        ready = t_sample + self._tlp_generation
        rid = self._captured_rid
        tlp = Tlp(MWR, rid if rid >= 0 else self.requester_id, address,
                  data & 0xFFFFFFFF, 4)
        tlp.source = source
        if address >> MSI_WINDOW_SHIFT != MSI_WINDOW:
            # Not an interrupt once it leaves: a plain posted write (to RAM or nowhere).
            if self.send_upstream(tlp, ready) is None:
                ctx.ledger.drop(Reason.NO_LINK, iid, self.name)
                return
            ctx.ledger.drop(Reason.MSI_ADDRESS, iid, self.name)
            ctx.diag(self.name, R_MSI_ADDRESS,
                     f"interrupt message to {address:#x} is an ordinary memory write: "
                     "no interrupt")
            return
        tlp.iid = iid
        ctx.ledger.launch(iid, self.name)
        tp = self._tp_send
        if tp.on:
            tp(iid, ready)
        tracer = ctx.tracer
        if tracer.on:
            tracer.put0(self._t_mwr_msi.of3(source, address, data, tlp.requester), ready)
        tp = self._tp_upstream          # send_upstream, inlined: the interrupt is raised
        if tp.on:
            tp(self, tlp, ready)
        link = self.link
        if link is None:
            ctx.ledger.drop(Reason.NO_LINK, iid, self.name, flying=True)
        else:
            link.send(tlp, ready, last)

    def msix_enabled_changed(self, enabled: bool) -> None:
        """Hook: MSI-X Enable changed; an enabled MSI-X forbids INTx (PCIe 7.7.2.2)."""
        if enabled and self.msi_on:
            self.ctx.diag(self.name, R_MSI_AND_MSIX,
                          "MSI-X enabled while MSI is enabled: behaviour undefined; irqsim "
                          "lets each capability act on its own")
        self.msix_on = enabled
        self.intx_update()

    def msi_enabled_changed(self, enabled: bool) -> None:
        """Hook: MSI Enable changed; an enabled MSI forbids INTx (PCI 6.8.1.3)."""
        if enabled and self.msix_on:
            self.ctx.diag(self.name, R_MSI_AND_MSIX,
                          "MSI enabled while MSI-X is enabled: behaviour undefined; irqsim "
                          "lets each capability act on its own")
        self.msi_on = enabled
        self.intx_update()

    # -- INTx virtual wire (PCIe 2.2.8.1, seed 004) ------------------------------------
    @property
    def interrupt_pin(self) -> int:
        """Interrupt Pin register: 0 none, 1-4 INTA-INTD."""
        return self.config.data[_PIN]

    @property
    def intx_status(self) -> bool:
        """Status.Interrupt Status: the function's INTx interrupt is pending."""
        return bool(self.config.data[_STATUS] & STATUS_INTERRUPT)

    @property
    def intx_allowed(self) -> bool:
        """The wire may be asserted: a pin, Interrupt Disable clear, MSI and MSI-X off."""
        return (0 < self.config.data[_PIN] <= 4 and not self.config.data[_CMD_HI] & _INTX_DISABLE_HI
                and not self.msi_on and not self.msix_on)

    @property
    def intx_held(self) -> bool:
        """Interrupt Status set while the wire is deasserted: one interrupt held pending."""
        return bool(self.config.data[_STATUS] & STATUS_INTERRUPT) and not self.intx_asserted

    def intx_raise(self, t_event: int | None = None) -> None:
        """The device's interrupt condition: set Interrupt Status, assert the wire if allowed.

        Interrupt Status is set regardless of Command.Interrupt Disable (PCI 6.2.3); a
        condition already pending absorbs the new event (one Assert per assertion, seed 004).
        """
        ctx = self.ctx
        iid = ctx.ledger.raise_(self.name)
        now = ctx.engine.now
        t_event = now if t_event is None else t_event
        if not 0 < self.interrupt_pin <= 4:
            ctx.ledger.drop(Reason.NO_INTX_PIN, iid, self.name)
            ctx.diag(self.name, R_NO_INTX_PIN,
                     "device raised INTx but its Interrupt Pin register is 0 (no pin)")
            return
        if self.intx_status:
            ctx.ledger.merge(iid, self.name)
            return
        self.intx_iid = iid
        self.config.data[_STATUS] |= STATUS_INTERRUPT
        points = ctx.points
        if points.event.on:
            points.event(iid, t_event, self.name)
        if points.intx.on:
            points.intx(self, iid, False)
        if self.intx_allowed:
            self._intx_send(True, now + ctx.timing.device_event_detect
                            + ctx.timing.intx_message)
        elif ctx.tracer.on:
            ctx.tracer.emit(now, self.name, self.name, "intx-held", source=f"{self.name}/intx",
                            reason="Interrupt Disable"
                            if self.config.data[_CMD_HI] & _INTX_DISABLE_HI
                            else "MSI/MSI-X enabled")

    def intx_clear(self) -> None:
        """The condition is cleared (software acknowledged it): clear Interrupt Status and
        deassert the wire."""
        if not self.intx_status:
            return
        ctx = self.ctx
        self.config.data[_STATUS] &= ~STATUS_INTERRUPT & 0xFF
        if ctx.points.intx.on:
            ctx.points.intx(self, self.intx_iid, True)
        if self.intx_asserted:
            self._intx_send(False, ctx.engine.now + ctx.timing.intx_message)
        else:
            ctx.ledger.drop(Reason.INTX_CLEARED_HELD, self.intx_iid, self.name)

    def intx_update(self) -> None:
        """Re-evaluate the wire after Interrupt Disable, MSI Enable or MSI-X Enable changed.

        Setting Interrupt Disable (or enabling MSI/MSI-X) deasserts an asserted wire; the
        still-pending condition is then held, a new pending interrupt (the asserted one
        already left). Clearing it re-asserts a pending condition.
        """
        ctx = self.ctx
        want = self.intx_status and self.intx_allowed
        if want and not self.intx_asserted:
            self._intx_send(True, ctx.engine.now + ctx.timing.intx_message)
        elif self.intx_asserted and not want:
            self._intx_send(False, ctx.engine.now + ctx.timing.intx_message)
            if self.intx_status:                    # held again: a new pending interrupt
                old = self.intx_iid
                self.intx_iid = iid = ctx.ledger.raise_(self.name)
                points = ctx.points
                if points.fork.on:                  # same condition: same device event
                    points.fork(iid, old)
                if points.intx.on:
                    points.intx(self, iid, False)

    def _intx_send(self, assert_: bool, ready: int) -> None:
        """Send Assert (it carries the condition's interrupt) or Deassert upstream."""
        ctx = self.ctx
        tlp = Tlp(TlpType.MSG, self.requester_id, code=intx_code(self.interrupt_pin, assert_),
                  length=0)
        tlp.source = f"{self.name}/intx"
        self.intx_asserted = assert_
        if assert_:
            tlp.iid = self.intx_iid
            ctx.ledger.launch(tlp.iid, self.name)
            if ctx.points.send.on:
                ctx.points.send(tlp.iid, ready)
        if ctx.tracer.on:
            ctx.tracer.emit(ready, self.name, "PCIe Bus", INTX_NAMES[tlp.code],
                            requester=self.bdf, source=tlp.source)
        if self.intx_pin_wire is not None:
            ctx.engine.at(ready, self.intx_pin_wire, tlp)
            return
        if self.send_upstream(tlp, ready) is None and assert_:
            ctx.ledger.drop(Reason.NO_LINK, tlp.iid, self.name, flying=True)
