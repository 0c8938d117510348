"""An IRQ's per-CPU counts (os/irq.py CpuCounts): sparse storage, list behaviour.

/proc/interrupts prints one count per CPU per IRQ (Linux's per-CPU kstat_irqs); the sparse
form must read exactly like the dense list it replaces (issue 12 scale: memory per vector).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from irqsim.os.irq import CpuCounts

ops = st.lists(st.tuples(st.sampled_from(["add", "set"]), st.integers(0, 7),
                         st.integers(0, 5)), max_size=40)


@given(st.integers(1, 8), ops)
def test_counts_behave_as_the_dense_list(n: int, program: list[tuple[str, int, int]]) -> None:
    """Every add/set lands as on a list of n zeros; reads, iteration, equality, total."""
    dense = [0] * n
    sparse = CpuCounts(n)
    for op, cpu, value in program:
        if cpu >= n:
            with pytest.raises(IndexError):
                sparse.add(cpu)
            continue
        if op == "add":
            dense[cpu] += 1
            sparse.add(cpu)
        else:
            dense[cpu] = value
            sparse[cpu] = value
    assert sparse == dense and list(sparse) == dense and len(sparse) == n
    assert [sparse[i] for i in range(n)] == dense and sparse[-1] == dense[-1]
    assert sparse.total() == sum(dense) == sum(sparse)
    assert CpuCounts(dense) == sparse

