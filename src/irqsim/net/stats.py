"""Per-packet latency histograms fed with arrays (exact to ``RES_NS``; one bin per 10 ns up
to ``MAX_NS``, an overflow count and the exact maximum beyond)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

RES_NS = 10
MAX_NS = 20_000_000
FLUSH = 1 << 20


class PacketLatency:
    """A latency distribution over many packets (memory bounded, flushes in bulk)."""

    def __init__(self) -> None:
        self.bins = np.zeros(MAX_NS // RES_NS + 1, dtype=np.int64)
        self._pending: list[NDArray[np.int64]] = []
        self._n_pending = 0
        self.count = 0
        self.total = 0
        self.min = 1 << 62
        self.max = 0

    def add(self, lat: NDArray[np.int64]) -> None:
        """Add per-packet latencies (ns)."""
        if not len(lat):
            return
        self._pending.append(lat)
        self._n_pending += len(lat)
        if self._n_pending >= FLUSH:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        a = np.concatenate(self._pending)
        self._pending = []
        self._n_pending = 0
        self.count += len(a)
        self.total += int(a.sum())
        self.min = min(self.min, int(a.min()))
        self.max = max(self.max, int(a.max()))
        idx = np.minimum(a // RES_NS, len(self.bins) - 1)
        self.bins += np.bincount(idx, minlength=len(self.bins))

    def percentile(self, p: float) -> int:
        """The smallest bin bound holding ``p`` percent of the packets (ns)."""
        self.flush()
        if not self.count:
            return 0
        target = max(1, int(np.ceil(self.count * p / 100)))
        i = int(np.searchsorted(np.cumsum(self.bins), target))
        if i >= len(self.bins) - 1:
            return self.max
        return min(max(i * RES_NS, self.min), self.max)

    def summary(self) -> dict[str, int]:
        self.flush()
        if not self.count:
            return {"count": 0, "min": 0, "median": 0, "p99": 0, "max": 0, "mean": 0}
        return {"count": self.count, "min": self.min, "median": self.percentile(50),
                "p99": self.percentile(99), "max": self.max,
                "mean": self.total // self.count}
