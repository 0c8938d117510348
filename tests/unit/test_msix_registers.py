"""MSI-X register access rules as properties (PCIe Base 7.7.2; semantics.md C.2)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from irqsim.devices.nic import MultiQueueNic
from irqsim.sim.context import SimContext
from irqsim.spec.pci import MSIX_ENTRY, MSIX_MESSAGE_CONTROL


def nic(n: int = 4) -> MultiQueueNic:
    d = MultiQueueNic(SimContext(), n)
    d.config.write(0x04, 2, 0x6)
    return d


@settings(max_examples=200)
@given(st.integers(0, 3), st.integers(0, 3), st.integers(0, 0xFFFFFFFF))
def test_table_entry_dwords_keep_only_their_writable_bits(entry: int, dword: int,
                                                          value: int) -> None:
    """Address bits 1:0 read 0; Vector Control bits 31:1 are reserved (read 0)."""
    d = nic()
    region = d.msix
    table = next(r for _, _, r in d.regions[0] if type(r).__name__ == "MsixTable")
    table.mmio_write(16 * entry + 4 * dword, 4, value)
    got = table.mmio_read(16 * entry + 4 * dword, 4)
    assert got == value & MSIX_ENTRY[dword].wmask
    assert region.table[4 * entry + dword] == got


@given(st.integers(0, 0xFFFF))
def test_message_control_only_enable_and_function_mask_are_writable(value: int) -> None:
    """Message Control: Table Size is RO (N-1), bits 14 (Function Mask) and 15 (Enable) RW."""
    d = nic(7)
    cap = d.msix.offset
    d.config.write(cap + 2, 2, value)
    assert d.config.read(cap + 2, 2) == (value & 0xC000) | 6
    assert MSIX_MESSAGE_CONTROL.wmask == 0xC000


@given(st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFFFFFF))
def test_table_and_pba_offset_registers_are_read_only(a: int, b: int) -> None:
    """Table Offset/BIR and PBA Offset/BIR are RO."""
    d = nic()
    cap = d.msix.offset
    before = (d.config.read(cap + 4, 4), d.config.read(cap + 8, 4))
    d.config.write(cap + 4, 4, a)
    d.config.write(cap + 8, 4, b)
    assert (d.config.read(cap + 4, 4), d.config.read(cap + 8, 4)) == before


@given(st.sets(st.integers(0, 63), max_size=10))
def test_pba_reads_one_bit_per_pending_vector(pending: set[int]) -> None:
    """PBA: bit k set iff vector k is pending, packed in QWORDs."""
    d = MultiQueueNic(SimContext(), 64)
    for k in pending:
        d.msix.pba |= 1 << k
    pba = next(r for _, _, r in d.regions[0] if type(r).__name__ == "MsixPba")
    value = pba.mmio_read(0, 4) | (pba.mmio_read(4, 4) << 32)
    assert value == sum(1 << k for k in pending)
