"""The 256-slot lookup tables of the interrupt path behave as the dicts they replaced.

``VectorTable`` (os/irq.py) is one CPU's vector -> descriptor table, Linux's per-CPU
``vector_irq[NR_VECTORS]`` (vectors are 8 bits, SDM 6.2); ``ApicIndex`` (apic/interconnect.py)
is the APIC bus's ID -> Local APIC index: xAPIC IDs are 8 bits, x2APIC IDs 32 (SDM 10.12),
so IDs from 256 up live beside the slots. Hypothesis drives both and a dict model with the
same operations; every read must agree.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irqsim.apic.interconnect import ApicIndex
from irqsim.os.irq import VectorTable

ops = st.lists(st.tuples(st.sampled_from(("set", "del", "get", "in", "pop")),
                         st.integers(0, 300)), max_size=60)


def _play(table: object, model: dict[int, object], program: list[tuple[str, int]],
          pop: bool) -> None:
    for op, key in program:
        if op == "set":
            value = object()
            table[key] = value          # type: ignore[index]
            model[key] = value
        elif op == "del" or (op == "pop" and not pop):
            if key in model:
                del table[key]          # type: ignore[attr-defined]
                del model[key]
            else:
                with pytest.raises(KeyError):
                    del table[key]      # type: ignore[attr-defined]
        elif op == "pop":
            if key in model:
                assert table.pop(key) is model.pop(key)     # type: ignore[attr-defined]
            else:
                with pytest.raises(KeyError):
                    table.pop(key)      # type: ignore[attr-defined]
        elif op == "get":
            assert table.get(key) is model.get(key)         # type: ignore[attr-defined]
        else:
            assert (key in table) == (key in model)         # type: ignore[operator]


@settings(max_examples=100, deadline=None)
@given(ops)
def test_apic_index_reads_and_writes_as_a_dict(program: list[tuple[str, int]]) -> None:
    """SDM 10.12: x2APIC IDs above 255 are kept as well as xAPIC ones; a missing ID is a
    KeyError, as in the dict the bus used."""
    _play(ApicIndex(), {}, program, pop=True)


@settings(max_examples=100, deadline=None)
@given(ops.map(lambda p: [(op, k % 256) for op, k in p]))
def test_vector_table_reads_and_writes_as_a_dict(program: list[tuple[str, int]]) -> None:
    """vector_irq: install, look up and remove descriptors by vector, as the dict did;
    ``items`` and ``len`` list the vectors in use in vector order."""
    t = VectorTable()
    model: dict[int, object] = {}
    _play(t, model, program, pop=False)
    assert t.items() == sorted(model.items(), key=lambda kv: kv[0])
    assert len(t) == len(model) and list(t) == sorted(model)


def test_vector_table_refuses_a_vector_beyond_8_bits() -> None:
    """Vectors are 0-255 (SDM 6.2): installing another is a clear error naming it."""
    with pytest.raises(ValueError, match=r"vector 256 is not in 0\.\.255"):
        VectorTable()[256] = object()   # type: ignore[assignment]
    assert VectorTable().get(300) is None and 300 not in VectorTable()
