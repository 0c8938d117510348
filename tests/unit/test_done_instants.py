"""The per-packet instants of a NAPI poll or a reader (reference section 5: each packet of
a batch is processed after the previous one, at its per-packet cost): ``done_instants``
gives ``t0 + cost * k`` for k = 1..n, exactly, whatever the cost (0 or negative included,
which a TimingModel may be given)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

np = pytest.importorskip("numpy")

from irqsim.drivers.netnic import done_instants  # noqa: E402


@given(st.integers(0, 2**50), st.integers(-1000, 10**6), st.integers(1, 300))
def test_instants_are_t0_plus_cost_times_k(t0: int, cost: int, n: int) -> None:
    """See the module docstring."""
    got = done_instants(t0, cost, n)
    assert got.dtype == np.int64
    assert got.tolist() == [t0 + cost * k for k in range(1, n + 1)]
