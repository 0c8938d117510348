"""The CPU's access API checks its arguments (issue 14, defects 5 and 6): a size other than
1, 2, 4 or 8, or a WRMSR value outside EDX:EAX, is a programming error in the caller's
script, a ValueError, never a guest access. The checks belong in cpu/cpu.py (the lead's);
they landed in main (3875f26) and these tests, written first as xfail(strict), now pass."""

from __future__ import annotations

import pytest

from apic_helpers import raw_machine
from helpers import nic_machine
from irqsim.fabric.root_complex import ECAM_BASE


@pytest.mark.parametrize("size", [0, 3, -1, 5, 16])
def test_cpu_read_rejects_bad_size(size: int) -> None:
    """Defect 5: cpu.read(addr, size) accepted 0, 3 and -1 (-1 returned the whole config
    space as one integer)."""
    m, _nics, _drv = nic_machine()
    with pytest.raises(ValueError, match="size"):
        m.cpus[0].read(ECAM_BASE, size)


@pytest.mark.parametrize("size", [0, 3, -1])
def test_cpu_write_rejects_bad_size(size: int) -> None:
    m, _nics, _drv = nic_machine()
    with pytest.raises(ValueError, match="size"):
        m.cpus[0].write(ECAM_BASE + 0x3C, size, 0)


@pytest.mark.parametrize("size", [0, 3, -1])
def test_cpu_port_io_rejects_bad_size(size: int) -> None:
    m, _nics, _drv = nic_machine()
    with pytest.raises(ValueError, match="size"):
        m.cpus[0].inl(0xCFC, size)


@pytest.mark.parametrize("msr", [0x838, 0x808, 0x83F, 0x6E0, 0x10, 0x1B])
def test_cpu_wrmsr_value_wider_than_64_bits_is_a_usage_error(msr: int) -> None:
    """Defect 6: WRMSR takes EDX:EAX; a Python value outside 0..2^64-1 cannot be written by
    any instruction, so it is the caller's error (ValueError), not a #GP."""
    m = raw_machine(x2apic=True)
    with pytest.raises(ValueError, match="64"):
        m.cpus[0].wrmsr(msr, 1 << 64)
    with pytest.raises(ValueError, match="64"):
        m.cpus[0].wrmsr(msr, -1)
