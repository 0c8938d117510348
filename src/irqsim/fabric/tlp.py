"""Transaction Layer Packets (PCIe Base spec 2.2): only what irqsim routes."""

from __future__ import annotations

from enum import IntEnum
from typing import Final

from irqsim.spec.msi import MSI_WINDOW, MSI_WINDOW_SHIFT
from irqsim.spec.pci import TLP_HEADER_3DW, TLP_HEADER_4DW


class TlpType(IntEnum):
    MWR = 0x40       # Memory Write (3DW header, with data; 0x60 for 4DW)
    MSG = 0x30       # Message (Assert_INTx / Deassert_INTx, routed "local"; always 4DW)


# The members as Final names: compiled, a C static instead of an attribute lookup on the
# enum class per use (the hot path builds and tests memory writes).
MWR: Final = TlpType.MWR
MSG: Final = TlpType.MSG

# Message codes (PCIe Base 2.2.8.1)
ASSERT_INTA, ASSERT_INTB, ASSERT_INTC, ASSERT_INTD = 0x20, 0x21, 0x22, 0x23
DEASSERT_INTA, DEASSERT_INTB, DEASSERT_INTC, DEASSERT_INTD = 0x24, 0x25, 0x26, 0x27

FRAMING_BYTES: Final = 8  # STP/sequence number/LCRC overhead on the link


class Tlp:
    """A posted TLP: memory write (address, payload) or INTx message (code)."""

    __slots__ = ("address", "code", "data", "iid", "kind", "length", "requester", "source")

    def __init__(self, kind: TlpType, requester: int, address: int = 0, data: int = 0,
                 length: int = 4, code: int = 0) -> None:
        self.kind = kind
        self.requester = requester
        self.address = address
        self.data = data
        self.length = length
        self.code = code
        # Not architectural: the interrupt it carries (Ledger.raise_; 0: none), the id
        # probes key their measurements by, and the trace's label of its origin.
        self.iid = 0
        self.source = ""

    def fork(self, iid: int) -> Tlp:
        """A copy carrying interrupt ``iid`` (one message delivered to several APICs)."""
        t = Tlp(self.kind, self.requester, self.address, self.data, self.length, self.code)
        t.source = self.source
        t.iid = iid
        return t

    @property
    def is_interrupt(self) -> bool:
        """An aligned DWORD memory write to the 0xFEExxxxx interrupt window (an MSI/MSI-X
        message, SDM 11.11.1); any other size there is not an interrupt."""
        return (self.kind == MWR and self.address >> MSI_WINDOW_SHIFT == MSI_WINDOW
                and self.length == 4 and not self.address & 3)

    @property
    def is_intx(self) -> bool:
        """An Assert_INTx or Deassert_INTx message (codes 20h-27h)."""
        return self.kind == MSG and ASSERT_INTA <= self.code <= DEASSERT_INTD

    @property
    def wire_bytes(self) -> int:
        """Header (Messages: 4 DW; memory writes: 3 DW below 4 GiB, else 4), payload and
        framing (PCIe 2.2.1, 2.2.4.1, 2.2.8)."""
        hdr = TLP_HEADER_4DW if self.kind == MSG or self.address >> 32 \
            else TLP_HEADER_3DW
        payload = self.length if self.kind == MWR else 0
        return hdr + payload + FRAMING_BYTES

    def __repr__(self) -> str:
        if self.kind == MWR:
            return (f"MWr(req={bdf_str(self.requester)}, addr={self.address:#x}, "
                    f"len={self.length}, data={self.data:#x})")
        name = INTX_NAMES.get(self.code, "Msg")
        return f"{name}(req={bdf_str(self.requester)}, code={self.code:#04x})"


def intx_code(pin: int, assert_: bool) -> int:
    """Message code for INTx pin 1-4 (INTA-INTD): 20h-23h assert, 24h-27h deassert."""
    return (ASSERT_INTA if assert_ else DEASSERT_INTA) + pin - 1


def intx_decode(code: int) -> tuple[int, bool]:
    """(pin 1-4, assert?) of an INTx message code."""
    return (code & 3) + 1, code < DEASSERT_INTA


INTX_NAMES = {c: f"{'Assert' if c < DEASSERT_INTA else 'Deassert'}_INT{'ABCD'[c & 3]}"
              for c in range(ASSERT_INTA, DEASSERT_INTD + 1)}


def bdf_str(rid: int) -> str:
    """Requester ID as bus:device.function."""
    return f"{rid >> 8:02x}:{(rid >> 3) & 0x1F:02x}.{rid & 7}"
