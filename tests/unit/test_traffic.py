"""Traffic generation in chunks (docs/networking.md "Batching"): the arrivals handed out are
exactly those before ``gen_t``, so the NIC's lazy materialisation never misses a frame."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numpy")

from irqsim.net.traffic import Traffic, make_flows


class Sink:
    def __init__(self, tr: Traffic) -> None:
        self.tr = tr
        self.batches: list[tuple[int, np.ndarray]] = []

    def receive_batch(self, times: np.ndarray, flows: np.ndarray) -> None:
        self.batches.append((self.tr.gen_t, times))


@pytest.mark.parametrize("pattern", ["line", "poisson", "bursty"])
def test_chunks_never_emit_a_frame_before_what_was_already_generated(pattern: str) -> None:
    """Every chunk holds exactly the frames whose last bit arrives in [previous gen_t,
    gen_t): none lands in an interval already handed out (a frame drawn past a chunk's end
    is carried over, not redrawn), instants are non-decreasing across chunks and the mean
    rate is the configured one."""
    flows = make_flows(16, size=64, seed=3)
    tr = Traffic(flows, gbps=10, pattern=pattern, pps=2_000_000, burst=8, start_ns=1000,
                 stop_ns=1000 + 2_000_000, seed=5, chunk_ns=20_000)
    sink = Sink(tr)
    tr.attach(sink)
    prev = tr.gen_t
    while not tr.done:
        tr.generate_until(tr.gen_t)
    last = -1
    for gen_t, times in sink.batches:
        assert len(times) == 0 or (times.min() >= prev - 1 and times.max() < gen_t)
        assert len(times) == 0 or times.min() >= last
        if len(times):
            last = int(times.max())
        prev = gen_t
    n = sum(len(t) for _, t in sink.batches)
    want = 14_880_952 * 0.002 if pattern == "line" else 2_000_000 * 0.002
    assert n == pytest.approx(want, rel=0.1)
