"""Interrupt moderation timer variants (shared/reference/nic-moderation.md section 3.2 and
section 11 items 6-10): the analytic fire decision over completion instants."""

from __future__ import annotations

import bisect

import pytest
from hypothesis import given
from hypothesis import strategies as st

from irqsim.net.moderation import (
    MODE_ABSOLUTE,
    MODE_INTERVAL,
    MODE_NONE,
    MODE_PACKET,
    Coalesce,
    fire_time,
)

US = 1000


def comps_of(times: list[int]):  # type: ignore[no-untyped-def]
    return lambda n: times[:n]


def fire(mode: int, u: int, f: int, times: list[int], last: int = -10**9, itr: int = 0,
         not_before: int = 0) -> int | None:
    return fire_time(mode, u, f, itr, last, comps_of(times), not_before)


def test_absolute_single_packet_fires_u_after() -> None:
    """Item 6: U > 0, F = 0 (ABSOLUTE): one packet is delivered exactly U after it."""
    assert fire(MODE_ABSOLUTE, 50 * US, 0, [1000]) == 1000 + 50 * US


def test_absolute_burst_within_u_is_one_interrupt() -> None:
    """Item 6: a burst arriving within U fires once, U after the first completion."""
    burst = [1000 + 100 * i for i in range(20)]
    assert fire(MODE_ABSOLUTE, 50 * US, 0, burst) == 1000 + 50 * US


def test_frames_fire_on_the_fth_completion() -> None:
    """Item 7: F = 32 with a large U: the 32nd completion fires at once; both set: the
    earlier condition wins."""
    ts = [1000 + 10 * i for i in range(100)]
    assert fire(MODE_ABSOLUTE, 10**9, 32, ts) == ts[31]
    assert fire(MODE_ABSOLUTE, 100, 32, ts) == 1100


def test_invalid_and_no_coalescing() -> None:
    """Item 8: U = 0, F = 0 is rejected; U = 0, F = 1 fires at each completion (no delay)."""
    with pytest.raises(ValueError):
        Coalesce(usecs=0, frames=0)
    c = Coalesce(usecs=0, frames=1)
    assert c.mode_code == MODE_NONE
    assert fire(c.mode_code, 0, 1, [777, 800]) == 777


def test_packet_mode_never_fires_on_time_under_a_stream() -> None:
    """Item 9: PACKET mode: inter-arrival < U never fires on time, only F does; a quiet gap
    >= U after the last packet fires."""
    stream = [i * 100 for i in range(1000)]
    assert fire(MODE_PACKET, 1 * US, 64, stream) == stream[63]
    assert fire(MODE_PACKET, 1 * US, 0, stream) == stream[-1] + 1 * US      # then quiet
    gap = [0, 100, 200, 5000, 5100]
    assert fire(MODE_PACKET, 1 * US, 0, gap) == 200 + 1 * US


def test_interval_first_after_idle_is_immediate() -> None:
    """Item 10: INTERVAL with I: the first packet after >= I idle fires with no delay; under
    load, interrupts are at least I apart."""
    assert fire(MODE_INTERVAL, 50 * US, 0, [200 * US], last=100 * US) == 200 * US
    assert fire(MODE_INTERVAL, 50 * US, 0, [110 * US], last=100 * US) == 150 * US


def test_masked_decision_waits_for_unmask() -> None:
    """Item 11 / section 3.2: a decision reached while masked is delivered at unmask."""
    assert fire(MODE_ABSOLUTE, 10 * US, 0, [0], not_before=30 * US) == 30 * US


def test_itr_gap_takes_precedence() -> None:
    """Section 3.2: e1000 ITR caps the rate even when another condition fires sooner."""
    assert fire(MODE_NONE, 0, 1, [10], last=0, itr=50 * US) == 50 * US


@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=300),
       st.sampled_from([MODE_ABSOLUTE, MODE_PACKET, MODE_INTERVAL, MODE_NONE]),
       st.integers(0, 300 * US), st.integers(0, 300), st.integers(0, 100 * US),
       st.integers(-(10**6), 10**6))
def test_fire_invariants(ts: list[int], mode: int, u: int, f: int, itr: int,
                         last: int) -> None:
    """Invariants: a decision never precedes the first completion, the unmask, or the ITR
    gap; with F > 0 it comes no later than the F-th completion (if no ITR/unmask delay)."""
    ts = sorted(t + max(last, 0) + 1 for t in ts)
    if u == 0 and f == 0:
        f = 1
    t = fire(mode, u, f, ts, last=last, itr=itr)
    if t is None:
        assert mode == MODE_PACKET or f > len(ts)
        return
    assert t >= ts[0] and t >= last + itr
    if 0 < f <= len(ts) and not itr:
        assert t <= ts[f - 1]



@given(st.lists(st.integers(0, 10**6), max_size=300),
       st.sampled_from([MODE_ABSOLUTE, MODE_PACKET, MODE_INTERVAL, MODE_NONE]),
       st.integers(0, 300 * US), st.integers(0, 300), st.integers(0, 100 * US),
       st.integers(-(10**6), 10**6), st.integers(0, 2 * 10**6))
def test_single_completion_reads_decide_as_the_lists(ts: list[int], mode: int, u: int,
                                                     f: int, itr: int, last: int,
                                                     not_before: int) -> None:
    """Reference 3.2 decisions read only the first and the F-th completion outside PACKET's
    gap scan: fire_time with ``nth`` (one completion at a time, as the NIC model reads its
    ring) decides exactly as with the lists, with every stream, mode and setting."""
    ts = sorted(t + max(last, 0) + 1 for t in ts)
    if u == 0 and f == 0:
        f = 1

    def nth(i: int) -> int | None:
        return ts[i] if i < len(ts) else None

    assert fire_time(mode, u, f, itr, last, comps_of(ts), not_before, nth) == \
        fire_time(mode, u, f, itr, last, comps_of(ts), not_before)


@pytest.mark.parametrize("usecs,limit", [(50, 20_000), (14, 71_428), (245, 4_081)])
def test_intel_rate_cap(usecs: int, limit: int) -> None:
    """Item 12: INTERVAL rx-usecs N caps the rate at 10^6/N per second under load (50 ->
    20 000/s; igb's 14/245 us classes ~70 k/s and ~4 k/s)."""
    ts = [i * 100 for i in range(100_000)]          # 10 Mpps for 10 ms
    last, n = -(10**9), 0
    while True:
        start = bisect.bisect_right(ts, last)
        if start == len(ts):
            break
        t = fire_time(MODE_INTERVAL, usecs * US, 0, 0, last, lambda k, s=start: ts[s:s + k],
                      0)
        if t is None or t > ts[-1]:
            break
        last, n = t, n + 1
    assert n <= limit * 10 // 1000 + 1
    assert n >= limit * 10 // 1000 - 1
