"""Traffic: flows with 5-tuples, arrival patterns and link speeds, generated in batches.

At 14.88 Mpps a packet cannot be one Python event. Arrivals are generated as numpy arrays,
one chunk of simulated time at a time (``chunk_ns``), and handed to the NIC's queues by the
flow's RSS queue; the model then works on counts and per-packet instants per interval
(docs/networking.md, "Batching"): a moderation decision reads the completion instants it
needs, a poll reaps the packets whose DMA has completed by its instant, and each packet's
latency is its own processing instant minus its own arrival instant — the same values a
packet-per-event run gives, computed with array arithmetic.

Patterns (all on the wire, frame size including FCS; preamble + IFG = 20 bytes):

* ``line``: back to back at the link speed (64-byte frames at 10 Gb/s: 67.2 ns apart,
  14.88 Mpps);
* ``poisson``: exponential gaps at ``pps`` (never closer than the wire time);
* ``bursty``: bursts of ``burst`` back-to-back frames, bursts starting as a Poisson
  process at ``pps / burst``.

Each packet belongs to a flow drawn with the flows' weights (seeded numpy Generator).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

WIRE_OVERHEAD = 20                  # preamble + SFD (8) + inter-frame gap (12) bytes
LINK_GBPS = (1, 10, 25, 100)
PATTERNS = ("line", "poisson", "bursty")


@dataclass(frozen=True, slots=True)
class Flow:
    """One flow: its 5-tuple, frame size (bytes, 64-9216) and weight among the flows."""

    src: str
    dst: str
    sport: int
    dport: int
    proto: str = "udp"
    size: int = 64
    weight: float = 1.0


def wire_ns(size: int, gbps: float) -> float:
    """Time one frame of ``size`` bytes takes on the wire at ``gbps``."""
    return (size + WIRE_OVERHEAD) * 8 / gbps


def line_rate_pps(size: int, gbps: float) -> float:
    """Frames per second at line rate (64 bytes at 10 Gb/s: 14 880 952)."""
    return 1e9 / wire_ns(size, gbps)


def make_flows(n: int, size: int = 64, proto: str = "udp", seed: int = 1,
               ipv6: bool = False) -> list[Flow]:
    """``n`` flows from distinct clients to one server, ports drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        sport = int(rng.integers(1024, 65536))
        if ipv6:
            src, dst = f"2001:db8::{i + 1:x}", "2001:db8:ffff::1"
        else:
            src, dst = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}", "192.168.0.1"
        out.append(Flow(src, dst, sport, 5001, proto, size))
    return out


class Sink(Protocol):
    """Where generated packets go (the NIC's receive port)."""

    def receive_batch(self, times: NDArray[np.int64], flows: NDArray[np.int32]) -> None: ...


class Traffic:
    """An arrival process feeding one NIC port; generates on demand, chunk by chunk."""

    def __init__(self, flows: list[Flow], gbps: float = 10, pattern: str = "line",
                 pps: float | None = None, burst: int = 32, start_ns: int = 0,
                 stop_ns: int = 1_000_000_000, seed: int = 1,
                 chunk_ns: int = 200_000) -> None:
        if pattern not in PATTERNS:
            raise ValueError(f"pattern must be one of {PATTERNS}, got {pattern!r}")
        if not flows:
            raise ValueError("traffic needs at least one flow")
        for f in flows:
            if not 64 <= f.size <= 9216:
                raise ValueError(f"frame size {f.size} is not in 64-9216 bytes")
        if gbps <= 0:
            raise ValueError(f"link speed must be > 0 Gb/s, got {gbps}")
        self.flows = flows
        self.gbps = gbps
        self.pattern = pattern
        sizes = np.array([f.size for f in flows], dtype=np.int64)
        w = np.array([f.weight for f in flows], dtype=float)
        self.p = w / w.sum()
        self.sizes = sizes
        mean_wire = float((self.p * (sizes + WIRE_OVERHEAD) * 8 / gbps).sum())
        self.line_pps = 1e9 / mean_wire
        self.pps = self.line_pps if pps is None or pattern == "line" else float(pps)
        if self.pps <= 0 or self.pps > self.line_pps * 1.000001:
            raise ValueError(f"rate {self.pps:.0f} pps is above line rate "
                             f"{self.line_pps:.0f} pps")
        self.burst = max(1, burst)
        self.start = start_ns
        self.stop = stop_ns
        self.chunk = chunk_ns
        self.rng = np.random.default_rng(seed)
        self.gen_t = start_ns           # generated up to (exclusive)
        self._t = float(start_ns)       # the first frame's start on the wire
        # Frames drawn but not yet emitted (last-bit instants ascending, flows).
        self._buf_t: NDArray[np.float64] = np.empty(0, dtype=np.float64)
        self._buf_f: NDArray[np.int64] = np.empty(0, dtype=np.int64)
        self.sinks: list[Sink] = []
        self.generated = 0
        self.generated_bytes = 0

    def attach(self, sink: Sink) -> None:
        self.sinks.append(sink)

    @property
    def done(self) -> bool:
        return self.gen_t >= self.stop

    def generate_until(self, t: int) -> None:
        """Generate every arrival before ``t`` (whole chunks; never past ``stop``)."""
        while self.gen_t <= t and self.gen_t < self.stop:
            self._chunk()

    def _draw(self, t: float, n: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """``n`` more frames after instant ``t``: their last bits' instants and flows."""
        f = self.rng.choice(len(self.flows), size=n, p=self.p)
        wire = (self.sizes[f] + WIRE_OVERHEAD) * 8 / self.gbps
        if self.pattern == "line":
            gaps = wire
        elif self.pattern == "poisson":
            gaps = np.maximum(self.rng.exponential(1e9 / self.pps, n), wire)
        else:
            # Back to back within a burst; a burst's first frame after an exponential idle
            # (mean so that the average rate is pps).
            gaps = wire.copy()
            first = np.arange(n) % self.burst == 0
            idle = 1e9 * self.burst / self.pps - float(wire.mean()) * self.burst
            gaps[first] += self.rng.exponential(max(idle, 0.0), int(first.sum()))
        return t + np.cumsum(gaps), f

    def _chunk(self) -> None:
        """Emit the frames whose last bit arrives in [gen_t, end). Frames drawn beyond
        ``end`` are kept for the next chunk (never redrawn), so no frame ever lands before
        ``gen_t``: everything before it has been handed to the sinks."""
        end = min(self.gen_t + self.chunk, self.stop)
        span = end - self.gen_t
        n_est = int(span * self.pps / 1e9 * 1.2) + 16
        bt, bf = self._buf_t, self._buf_f
        while not len(bt) or bt[-1] < end:
            ends, f = self._draw(float(bt[-1]) if len(bt) else self._t, n_est)
            bt = np.concatenate((bt, ends))
            bf = np.concatenate((bf, f))
        k = int(np.searchsorted(bt, end, side="left"))
        self._buf_t, self._buf_f = bt[k:], bf[k:]
        self.gen_t = end
        if k:
            tt = np.floor(bt[:k]).astype(np.int64)
            ff = bf[:k].astype(np.int32)
            self.generated += len(tt)
            self.generated_bytes += int(self.sizes[ff].sum())
            for s in self.sinks:
                s.receive_batch(tt, ff)


class QueueArrivals:
    """One RX queue's arrivals (instants in ns and frame sizes), in order, with absolute
    indices: packets before ``base`` were trimmed once nothing needed them."""

    __slots__ = ("base", "flows", "sizes", "times")

    def __init__(self) -> None:
        self.times: NDArray[np.int64] = np.empty(0, dtype=np.int64)
        self.sizes: NDArray[np.int64] = np.empty(0, dtype=np.int64)
        self.flows: NDArray[np.int64] = np.empty(0, dtype=np.int64)
        self.base = 0

    def __len__(self) -> int:
        return self.base + len(self.times)

    def append(self, times: NDArray[np.int64], sizes: NDArray[np.int64], keep_from: int,
               flows: NDArray[np.int64] | None = None) -> None:
        """Add arrivals (and their flow indices); forget those before absolute index
        ``keep_from``."""
        cut = max(0, min(keep_from - self.base, len(self.times)))
        self.times = np.concatenate((self.times[cut:], times))
        self.sizes = np.concatenate((self.sizes[cut:], sizes))
        if flows is None:
            flows = np.zeros(len(times), dtype=np.int64)
        self.flows = np.concatenate((self.flows[cut:], flows))
        self.base += cut

    def index_after(self, t: int) -> int:
        """Absolute index of the first arrival later than ``t``."""
        return self.base + int(self.times.searchsorted(t, side="right"))

    def slice(self, a: int, b: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        return self.times[a - self.base:b - self.base], self.sizes[a - self.base:b - self.base]

    def at(self, i: int, plus: int) -> int | None:
        """Instant of the arrival at absolute index ``i`` plus ``plus`` (None: not known
        yet, or past the end)."""
        j = i - self.base
        if j < 0 or j >= len(self.times):
            return None
        return int(self.times[j]) + plus

    def delete(self, a: int, b: int) -> None:
        """Remove arrivals [a, b) (dropped: the ring was full)."""
        i, j = a - self.base, b - self.base
        self.times = np.concatenate((self.times[:i], self.times[j:]))
        self.sizes = np.concatenate((self.sizes[:i], self.sizes[j:]))
        self.flows = np.concatenate((self.flows[:i], self.flows[j:]))

    def flows_of(self, a: int, b: int) -> NDArray[np.int64]:
        """Flow indices of arrivals [a, b)."""
        return self.flows[a - self.base:b - self.base]
