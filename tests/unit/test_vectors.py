"""Per-CPU vector allocation: device range 0x20-0xDF, system vectors reserved, reuse across CPUs."""

import pytest

from irqsim.os.matrix import IrqMatrix, VectorSpaceExhausted


def test_same_vector_on_different_cpus() -> None:
    """The same vector number is free again on another CPU."""
    va = IrqMatrix(2)
    assert va.alloc([0]) == (0, 0x20)
    assert va.alloc([1]) == (1, 0x20)


def test_least_loaded_cpu_is_chosen() -> None:
    """Spreading: the CPU with the most free vectors gets the next one."""
    va = IrqMatrix(2)
    va.alloc([0])
    assert va.alloc([0, 1])[0] == 1


def test_aligned_power_of_two_block() -> None:
    """MSI multi-message blocks are contiguous and aligned (PCI 6.8.1.3)."""
    va = IrqMatrix(1)
    va.alloc([0])
    _cpu, v = va.alloc([0], count=4, align=4)
    assert v % 4 == 0 and v >= 0x21


def test_exhaustion_is_an_error_not_a_wrap() -> None:
    """No vector outside 0x20-0xDF is ever handed out."""
    va = IrqMatrix(1)
    got = [va.alloc([0])[1] for _ in range(0xDF - 0x20 + 1)]
    assert min(got) == 0x20 and max(got) == 0xDF
    with pytest.raises(VectorSpaceExhausted):
        va.alloc([0])


def test_bad_range_rejected() -> None:
    with pytest.raises(ValueError):
        IrqMatrix(1, first=0x05)
