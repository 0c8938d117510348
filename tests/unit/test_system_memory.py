"""System memory (fabric/memory.py): RAM as the devices' DMA and the CPUs' loads see it.

Property: whatever the sequence of accesses (any size, any alignment, across 4 KiB pages,
to pages never written), ``read``/``write`` behave as little-endian accesses to one flat
byte array that starts zeroed, the same as ``read_bytes``/``write_bytes``; a watcher runs
before every read that overlaps its range and before no other (the NIC model brings its
lazily computed head write-back words up to date that way).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from irqsim.fabric.memory import PAGE, SystemMemory

BASE = 5 * PAGE                 # a few pages around a page boundary
SPAN = 3 * PAGE

access = st.tuples(st.sampled_from(["write", "write_bytes", "read", "read_bytes"]),
                   st.integers(BASE - 8, BASE + SPAN), st.sampled_from([1, 2, 4, 8, 13]),
                   st.integers(0, 2**104 - 1))


@settings(max_examples=60, deadline=None)
@given(st.lists(access, max_size=40), st.integers(BASE, BASE + SPAN - 16),
       st.integers(1, 16))
def test_accesses_match_a_flat_little_endian_array(ops: list[tuple[str, int, int, int]],
                                                    w_addr: int, w_size: int) -> None:
    """See the module docstring."""
    mem = SystemMemory()
    ref = bytearray(BASE + SPAN + 64)
    hits: list[int] = []
    mem.watch(w_addr, w_size, lambda: hits.append(1))
    for kind, addr, size, value in ops:
        overlaps = addr < w_addr + w_size and w_addr < addr + size \
            and (addr >> 12) <= (w_addr >> 12) <= ((addr + size - 1) >> 12)
        before = len(hits)
        if kind == "write":
            mem.write(addr, size, value)
            ref[addr:addr + size] = (value & ((1 << 8 * size) - 1)).to_bytes(size, "little")
        elif kind == "write_bytes":
            data = value.to_bytes(13, "little")[:size]
            mem.write_bytes(addr, data)
            ref[addr:addr + size] = data
        elif kind == "read":
            assert mem.read(addr, size) == int.from_bytes(ref[addr:addr + size], "little")
        else:
            assert mem.read_bytes(addr, size) == bytes(ref[addr:addr + size])
        ran = len(hits) - before
        assert ran == (1 if kind.startswith("read") and overlaps else 0)
