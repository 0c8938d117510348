"""The PCI Express capability's link registers, link training and each link's cost parameters.

Every simulated port and PCIe function carries a PCI Express capability (PCIe Base 6.0,
7.5.3; registers declared in :mod:`irqsim.spec.pcie`) whose Link Capabilities say its maximum
speed and width (LnkCap 7.5.3.6, LnkCap2's Supported Link Speeds 7.5.3.18, LnkCtl2's Target
Link Speed 7.5.3.19). Training a link (4.2.6: both ends advertise, the link comes up at the
highest common speed and the widest common width) writes the result into both ends' Link
Status (7.5.3.8). The link then prices its TLPs from that speed and width, computed once here
(:func:`serialization_params`), so the per-TLP path does the same arithmetic as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from irqsim.pci.config import ConfigSpace
from irqsim.spec import pcie as X
from irqsim.spec.regs import Register

if TYPE_CHECKING:
    from irqsim.pci.function import PciFunction

EXPRESS_OFFSET = 0xC0      # where irqsim's own functions put the capability (0xC0-0xFB)
SER_SHIFT = 20             # serialization ns per wire byte in 2^-20 ns (Link.send's fixed point)
FRAMING_BYTES = 8          # fabric.tlp.FRAMING_BYTES: STP token/sequence number + LCRC


@dataclass(frozen=True, slots=True)
class LinkSpec:
    """A link's speed (generation 1-6 = 2.5/5/8/16/32/64 GT/s) and width (lanes)."""

    gen: int
    width: int

    def __post_init__(self) -> None:
        if self.gen not in X.LINK_GENERATIONS:
            raise ValueError(f"PCIe generation {self.gen} is not one of 1-6")
        if self.width not in X.LINK_WIDTHS:
            raise ValueError(f"link width x{self.width} is not one of "
                             + ", ".join(f"x{w}" for w in X.LINK_WIDTHS))

    @property
    def gt_s(self) -> float:
        return X.LINK_MT_S[self.gen] / 1000

    def __str__(self) -> str:
        return f"Gen{self.gen} x{self.width} ({self.gt_s:g} GT/s)"

    def data_rate(self) -> Fraction:
        """TLP bytes per ns across all lanes, after the line encoding (4.2.1-4.2.3)."""
        num, den = X.LINK_ENCODING[self.gen]
        return Fraction(X.LINK_MT_S[self.gen] * self.width * num, 1000 * den * 8)

    @classmethod
    def parse(cls, gen: int, width: str | int) -> LinkSpec:
        """``LinkSpec.parse(3, "x4")``; ValueError with the accepted values otherwise."""
        w = str(width).lower().removeprefix("x")
        if not w.isdigit():
            raise ValueError(f"link width {width!r} is not x1, x2, x4, x8, x12, x16 or x32")
        return cls(int(gen), int(w))


# The link today's timing model describes: seed 003's "PCIe Transmission" box gives its
# per-64-byte figure for a Gen3 x1 link, so that is the default link of every function and
# port, and the other links scale from it by the specification's rates.
DEFAULT_LINK = LinkSpec(3, 1)
# Root ports take any card: x16 slots up to 32 GT/s (a Gen5 server platform), so the device's
# own LnkCap decides the trained link unless a test or scenario says otherwise.
DEFAULT_ROOT_PORT_LINK = LinkSpec(5, 16)


def serialization_params(link: LinkSpec | None, ns_per_64_bytes: int) -> tuple[int, int]:
    """``(mul, add)`` such that a TLP of ``wire`` bytes (header + payload + 8 bytes of
    framing) takes ``(wire * mul + add) >> SER_SHIFT`` ns on ``link``, rounded up.

    ``ns_per_64_bytes`` is the timing model's figure for the default link (Gen3 x1); another
    link takes it times the ratio of the two links' data rates (lane rate x width x encoding,
    4.2.1-4.2.3). With 65 ns per 64 bytes, the exact line rate of Gen3 x1 (8 GT/s x 128/130),
    every link runs at its specification rate. In Flit Mode (Gen6) the 8 framing bytes are not
    sent (the flit's own overhead is in its 236/256 rate), so ``add`` takes them back.
    """
    link = link or DEFAULT_LINK
    per_byte = Fraction(ns_per_64_bytes, 64) * DEFAULT_LINK.data_rate() / link.data_rate()
    mul = round(per_byte * (1 << SER_SHIFT))
    add = (1 << SER_SHIFT) - 1
    if link.gen in X.LINK_FLIT_MODE:
        add -= FRAMING_BYTES * mul
    return mul, add


def serialization_ns(link: LinkSpec | None, ns_per_64_bytes: int, wire: int) -> int:
    """Serialization of a ``wire``-byte TLP on ``link`` (what Link.send charges)."""
    mul, add = serialization_params(link, ns_per_64_bytes)
    return (wire * mul + add) >> SER_SHIFT


def _get(reg: Register, value: int, name: str) -> int:
    return reg.field(name).get(value)


def _put(reg: Register, value: int, **fields: int) -> int:
    for name, fv in fields.items():
        value = reg.field(name).put(value, fv)
    return value


# -- the capability ----------------------------------------------------------------------------
def install_express(cs: ConfigSpace, port_type: int, link: LinkSpec | None,
                    offset: int = EXPRESS_OFFSET, port_number: int = 0) -> None:
    """Add a v2 PCI Express capability at ``offset``: Device/Port Type ``port_type``, Link
    Capabilities for ``link`` (None: no link, the link registers read 0), Link Status 0
    until the link trains."""
    cs.add_capability(X.CAP_ID_EXP, offset, X.EXP_SIZE)
    ports = port_type in (X.EXP_TYPE_ROOT_PORT, X.EXP_TYPE_DOWNSTREAM)
    for reg in (X.DEVCAP, X.DEVCTL, X.DEVSTA, X.LNKCAP, X.LNKCTL, X.LNKSTA, X.DEVCAP2,
                X.DEVCTL2, X.LNKCAP2, X.LNKCTL2, X.LNKSTA2):
        cs.declare(reg, offset)
    cs.hw_write(offset + X.EXP_FLAGS.offset, 2, X.EXP_FLAGS.encode(version=2, type=port_type))
    if port_type == X.EXP_TYPE_ROOT_PORT:
        for reg in (X.RTCTL, X.RTCAP, X.RTSTA):
            cs.declare(reg, offset)
    if link is not None:
        set_link_capability(cs, link, offset, port_number, dll_active=ports)


def set_link_capability(cs: ConfigSpace, link: LinkSpec, offset: int | None = None,
                        port_number: int = 0, dll_active: bool | None = None) -> None:
    """Write the capability's LnkCap, LnkCap2 and LnkCtl2 (at ``offset``, default: where the
    list has it) for a port of ``link``'s maximum speed and width (every lower speed
    supported, target = the maximum; ``dll_active`` None keeps LnkCap's DLL reporting bit)."""
    if offset is None:
        offset = express_offset(cs)
        if offset is None:
            raise ValueError("no PCI Express capability")
    if dll_active is None:
        dll_active = bool(_get(X.LNKCAP, cs.read(offset + X.LNKCAP.offset, 4), "dll_active"))
    cs.hw_write(offset + X.LNKCAP.offset, 4, X.LNKCAP.encode(
        speed=link.gen, width=link.width, port=port_number, dll_active=int(dll_active)))
    cs.hw_write(offset + X.LNKCAP2.offset, 4, X.LNKCAP2.encode(speeds=(1 << link.gen) - 1))
    old = cs.read(offset + X.LNKCTL2.offset, 2)
    cs.hw_write(offset + X.LNKCTL2.offset, 2, _put(X.LNKCTL2, old, target_speed=link.gen))


def express_offset(cs: ConfigSpace) -> int | None:
    """Offset of the PCI Express capability, if the function has one."""
    return cs.find_capability(X.CAP_ID_EXP)


def link_capability(cs: ConfigSpace) -> LinkSpec | None:
    """The maximum link LnkCap advertises, capped by LnkCtl2's Target Link Speed when set
    (None: no PCI Express capability, or a speed/width irqsim does not model)."""
    at = express_offset(cs)
    if at is None:
        return None
    cap = cs.read(at + X.LNKCAP.offset, 4)
    gen, width = _get(X.LNKCAP, cap, "speed"), _get(X.LNKCAP, cap, "width")
    target = _get(X.LNKCTL2, cs.read(at + X.LNKCTL2.offset, 2), "target_speed")
    if target in X.LINK_GENERATIONS:
        gen = min(gen, target)
    if gen not in X.LINK_GENERATIONS or width not in X.LINK_WIDTHS:
        return None
    return LinkSpec(gen, width)


def link_status(cs: ConfigSpace) -> LinkSpec | None:
    """The trained link LnkSta reports (None: no capability, or not trained)."""
    at = express_offset(cs)
    if at is None:
        return None
    sta = cs.read(at + X.LNKSTA.offset, 2)
    gen, width = _get(X.LNKSTA, sta, "speed"), _get(X.LNKSTA, sta, "width")
    if gen not in X.LINK_GENERATIONS or width not in X.LINK_WIDTHS:
        return None
    return LinkSpec(gen, width)


def set_link_status(cs: ConfigSpace, link: LinkSpec) -> None:
    """Record a trained link in LnkSta (Current Link Speed, Negotiated Link Width; Data Link
    Layer Link Active where LnkCap says the port reports it, 7.5.3.8)."""
    at = express_offset(cs)
    if at is None:
        return
    dll = _get(X.LNKCAP, cs.read(at + X.LNKCAP.offset, 4), "dll_active")
    old = cs.read(at + X.LNKSTA.offset, 2)
    cs.hw_write(at + X.LNKSTA.offset, 2, _put(X.LNKSTA,
        old, speed=link.gen, width=link.width, dll_active=dll))


def train(upstream: ConfigSpace, downstream: ConfigSpace) -> LinkSpec | None:
    """Bring up the link between a port (``upstream``) and the function below it: the
    highest speed and widest width both ends support (4.2.6), written to both LnkSta.
    None when either end has no PCI Express link capability (conventional PCI)."""
    a, b = link_capability(upstream), link_capability(downstream)
    if a is None or b is None:
        return None
    link = LinkSpec(min(a.gen, b.gen), _common_width(a.width, b.width))
    set_link_status(upstream, link)
    set_link_status(downstream, link)
    return link


def _common_width(a: int, b: int) -> int:
    """The widest width both ends support: each supports every width up to its maximum
    (x12 and x32 included only where the maximum is at least that)."""
    return max(w for w in X.LINK_WIDTHS if w <= a and w <= b)


def watch_retrain(port: PciFunction, child: PciFunction) -> None:
    """Retrain Link (LnkCtl bit 5, 7.5.3.7) written to ``port``: the link to ``child`` trains
    again (honouring both ends' Target Link Speed, 7.5.3.19) and its cost parameters follow;
    the bit itself always reads 0."""
    at = express_offset(port.config)
    if at is None:
        return
    off = at + X.LNKCTL.offset
    retrain = X.LNKCTL.field("retrain").mask

    def written(offset: int, size: int, old: bytes) -> None:
        cs = port.config
        ctl = cs.read(off, 2)
        if not ctl & retrain:
            return
        cs.hw_write(off, 2, ctl & ~retrain)
        if child.link is not None and child.parent is port:
            child.link.retrain(train(port.config, child.config))

    port.listen(off, 2, written)


def make_integrated(cs: ConfigSpace) -> None:
    """The function sits on bus 0 as a root complex integrated endpoint (PCIe 1.3.2.3): its
    Device/Port Type becomes 9h and it has no link (its link registers read 0)."""
    at = express_offset(cs)
    if at is None:
        return
    flags = cs.read(at + X.EXP_FLAGS.offset, 2)
    if _get(X.EXP_FLAGS, flags, "type") != X.EXP_TYPE_ENDPOINT:
        return
    cs.hw_write(at + X.EXP_FLAGS.offset, 2, _put(X.EXP_FLAGS, flags, type=X.EXP_TYPE_ROOT_INT_EP))
    for reg in (X.LNKCAP, X.LNKSTA, X.LNKCAP2):
        cs.hw_write(at + reg.offset, reg.size, 0)
    old = cs.read(at + X.LNKCTL2.offset, 2)
    cs.hw_write(at + X.LNKCTL2.offset, 2, _put(X.LNKCTL2, old, target_speed=0))
