"""Registers declared as data: fields with bit ranges and access rules (no behaviour).

Every register and in-memory table entry in irqsim is declared once as a
:class:`Register`; write masks, write-1-to-clear masks, decoding and printing
derive from the declaration (the amaranth-soc idea, see reference/style.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Access(Enum):
    """Software access rule of a field (PCI/PCIe spec terms)."""

    RO = "RO"        # read-only (hardware-set or hard-wired)
    RW = "RW"        # read-write
    RW1C = "RW1C"    # read, write 1 to clear
    WO = "WO"        # write-only (reads return 0)
    RSVD = "RsvdP"   # reserved: reads 0, writes ignored


@dataclass(frozen=True, slots=True)
class Field:
    """A bit field: ``lsb`` and ``width`` in bits within its register."""

    name: str
    lsb: int
    width: int = 1
    access: Access = Access.RW
    doc: str = ""

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.lsb

    def get(self, value: int) -> int:
        return (value >> self.lsb) & ((1 << self.width) - 1)

    def put(self, value: int, field_value: int) -> int:
        return (value & ~self.mask) | ((field_value << self.lsb) & self.mask)


@dataclass(frozen=True, slots=True)
class Register:
    """A register of ``size`` bytes at ``offset`` made of ``fields``."""

    name: str
    offset: int
    size: int
    fields: tuple[Field, ...]
    reset: int = 0
    doc: str = ""

    def _mask(self, *accesses: Access) -> int:
        m = 0
        for f in self.fields:
            if f.access in accesses:
                m |= f.mask
        return m

    @property
    def wmask(self) -> int:
        """Bits a software write changes."""
        return self._mask(Access.RW, Access.WO)

    @property
    def w1cmask(self) -> int:
        """Bits cleared by writing 1."""
        return self._mask(Access.RW1C)

    @property
    def romask(self) -> int:
        """Bits software reads but cannot change (hardware-set or hard-wired)."""
        return self._mask(Access.RO)

    @property
    def reserved_mask(self) -> int:
        """Bits not covered by any field, or declared reserved."""
        covered = 0
        for f in self.fields:
            if f.access is not Access.RSVD:
                covered |= f.mask
        return ((1 << (8 * self.size)) - 1) & ~covered

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r}")

    def mask(self, name: str) -> int:
        """Mask of field ``name`` in place (for derived bit constants)."""
        return self.field(name).mask

    def decode(self, value: int) -> dict[str, int]:
        """Field name -> value for every non-reserved field."""
        return {f.name: f.get(value) for f in self.fields if f.access is not Access.RSVD}

    def encode(self, **values: int) -> int:
        v = self.reset
        for name, fv in values.items():
            v = self.field(name).put(v, fv)
        return v


def F(name: str, bits: int | tuple[int, int], access: Access = Access.RW, doc: str = "") -> Field:
    """Field shorthand: ``bits`` is a bit number or an inclusive ``(msb, lsb)`` range."""
    if isinstance(bits, tuple):
        msb, lsb = bits
        return Field(name, lsb, msb - lsb + 1, access, doc)
    return Field(name, bits, 1, access, doc)


RO, RW, RW1C, WO, RSVD = Access.RO, Access.RW, Access.RW1C, Access.WO, Access.RSVD
