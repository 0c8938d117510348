"""PCI configuration space: header access rules, BAR sizing, capability list.

PCI Local Bus 3.0 ch. 6 (header, Command/Status), 6.2.5.1 (BAR sizing), 6.7 (capabilities);
PCIe Base 7.5.1.
"""

from hypothesis import given
from hypothesis import strategies as st

from irqsim.devices.nic import MultiQueueNic
from irqsim.pci.config import BarSpec, ConfigSpace, install_header
from irqsim.sim.context import SimContext
from irqsim.spec.pci import COMMAND, STATUS, TYPE0_HEADER
from irqsim.spec.regs import Access


def fresh() -> ConfigSpace:
    cs = ConfigSpace()
    install_header(cs, TYPE0_HEADER)
    return cs


@given(st.sampled_from([r for r in TYPE0_HEADER]), st.integers(0, 0xFFFFFFFF),
       st.integers(0, 0xFFFFFFFF))
def test_every_header_field_follows_its_access_rule(reg, before: int, value: int) -> None:
    """Each declared field: RO keeps its value, RW takes the write, RW1C clears written 1s."""
    cs = fresh()
    n = reg.size
    mask = (1 << (8 * n)) - 1
    cs.hw_write(reg.offset, n, before & mask)
    cs.write(reg.offset, n, value & mask)
    after = cs.read(reg.offset, n)
    for f in reg.fields:
        old, new, written = f.get(before & mask), f.get(after), f.get(value & mask)
        if f.access is Access.RW:
            assert new == written, f.name
        elif f.access is Access.RW1C:
            assert new == old & ~written, f.name
        else:
            assert new == old, f.name


def test_command_register_bits_named_by_the_issue() -> None:
    """Command: Memory Space Enable (1), Bus Master Enable (2), Interrupt Disable (10) are RW;
    reserved bits 15:11 read 0 whatever is written."""
    cs = fresh()
    cs.write(0x04, 2, 0xFFFF)
    v = cs.read(0x04, 2)
    assert v & (1 << 1) and v & (1 << 2) and v & (1 << 10)
    assert v & 0xF800 == 0
    assert COMMAND.field("interrupt_disable").lsb == 10


def test_status_interrupt_status_is_read_only_and_errors_are_rw1c() -> None:
    """Status.Interrupt Status (bit 3) and Capabilities List (bit 4) are RO; error bits RW1C."""
    cs = fresh()
    cs.hw_write(0x06, 2, (1 << 3) | (1 << 4) | (1 << 13) | (1 << 15))
    cs.write(0x06, 2, 0xFFFF & ~(1 << 15))
    v = cs.read(0x06, 2)
    assert v & (1 << 3) and v & (1 << 4)
    assert not v & (1 << 13)
    assert v & (1 << 15)
    assert STATUS.field("interrupt_status").access is Access.RO


@given(st.sampled_from([16, 256, 4096, 1 << 20, 1 << 31]), st.booleans())
def test_32bit_bar_sizing_reads_back_the_size_mask(size: int, pref: bool) -> None:
    """Writing all ones to a BAR reads back ~(size-1) with the type bits (PCI 6.2.5.1)."""
    cs = fresh()
    cs.bar(BarSpec(2, size, prefetchable=pref))
    cs.write(0x18, 4, 0xFFFFFFFF)
    v = cs.read(0x18, 4)
    assert v & 0xFFFFFFF0 == (~(size - 1)) & 0xFFFFFFF0
    assert v & 0xF == (0x8 if pref else 0)


@given(st.sampled_from([4096, 1 << 32, 1 << 36]))
def test_64bit_bar_pairs_two_registers(size: int) -> None:
    """A 64-bit BAR (type 10b) spans BARn and BARn+1; sizing uses both halves (seed 002)."""
    cs = fresh()
    cs.bar(BarSpec(4, size, is64=True, prefetchable=True))
    cs.write(0x20, 4, 0xFFFFFFFF)
    cs.write(0x24, 4, 0xFFFFFFFF)
    lo, hi = cs.read(0x20, 4), cs.read(0x24, 4)
    assert (lo >> 1) & 3 == 2
    mask = ((hi << 32) | (lo & 0xFFFFFFF0))
    assert ((~mask) & ((1 << 64) - 1)) + 1 == size


def test_capability_list_starts_at_0x34_and_sets_status_cap_list() -> None:
    """Capabilities pointer at 0x34, Status bit 4 set, list linked through next pointers."""
    nic = MultiQueueNic(SimContext(), 4)
    cs = nic.config
    assert cs.read(0x06, 2) & 0x10
    assert cs.read(0x34, 1) == 0xC0         # the PCI Express capability (pci/express.py)
    assert cs.read(0xC1, 1) == nic.msix.offset
    assert cs.capabilities() == [(0xC0, 0x10), (nic.msix.offset, 0x11)]


def test_capability_walk_survives_a_loop() -> None:
    """A capability pointer that loops ends the walk instead of hanging."""
    cs = fresh()
    cs.add_capability(0x05, 0x40, 0x0A)
    cs.add_capability(0x11, 0x50, 0x0C)
    cs.hw_write(0x51, 1, 0x40)
    assert [c for _, c in cs.capabilities()] == [0x05, 0x11]


def test_interrupt_pin_is_read_only_and_line_is_scratch() -> None:
    """Interrupt Pin (3Dh) is RO; Interrupt Line (3Ch) is RW with no hardware effect (seed 004)."""
    nic = MultiQueueNic(SimContext(), 1)
    nic.config.write(0x3C, 2, 0x040B)
    assert nic.config.read(0x3C, 1) == 0x0B
    assert nic.config.read(0x3D, 1) == 1
