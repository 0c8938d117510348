"""Scale-minded OS structures (issue 12): an IRQ's per-CPU counts (os/irq.py CpuCounts:
sparse storage, list behaviour) and the IRTE allocator (os/irq_remapping.py).

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



@given(st.lists(st.tuples(st.booleans(), st.sampled_from([1, 1, 1, 2, 4, 8]),
                          st.integers(0, 50)), max_size=60))
def test_irte_allocation_is_first_fit_aligned(program: list[tuple[bool, int, int]]) -> None:
    """alloc_irte (Linux bitmap_find_free_region): the lowest free block of ``count``
    entries aligned to ``count``, exactly as a scan from entry 0 finds it, after any
    sequence of allocations and frees (its ``free_from`` start only skips used entries)."""
    from irqsim.os.irq_remapping import IntelIr

    ir = IntelIr.__new__(IntelIr)
    ir.used, ir.free_from = set(), 0
    ir.write_irte = lambda *a, **k: None          # type: ignore[method-assign]
    ir.flush_iec = lambda *a, **k: None           # type: ignore[method-assign]
    held: list[tuple[int, int]] = []
    for alloc, count, pick in program:
        if alloc or not held:
            want = next(b for b in range(0, 1 << 16, count)
                        if not any(b + i in ir.used for i in range(count)))
            assert ir.alloc_irte(count) == want
            held.append((want, count))
        else:
            index, n = held.pop(pick % len(held))
            ir.free_irte(index, n)
