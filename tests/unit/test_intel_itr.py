"""Intel's legacy adaptive ITR (igb_update_itr), shared/reference/nic-moderation.md section
3.4 and section 11 item 12."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from irqsim.drivers.intel_itr import (
    BULK,
    LOW,
    LOWEST,
    interval_us,
    update_itr,
    vector_rate,
)


def test_transitions() -> None:
    """The section 3.4 rules, one per branch."""
    assert update_itr(LOWEST, 1, 9000) == BULK               # avg > 8000
    assert update_itr(LOWEST, 4, 600) == LOW                 # packets < 5, bytes > 512
    assert update_itr(LOWEST, 10, 640) == LOWEST
    assert update_itr(LOW, 20, 40_000) == BULK               # bytes > 10000, avg > 1200
    assert update_itr(LOW, 100, 11_000) == LOWEST            # bytes > 10000, packets > 35
    assert update_itr(LOW, 20, 11_000) == LOW
    assert update_itr(LOW, 3, 9000) == BULK                  # avg > 2000
    assert update_itr(LOW, 2, 128) == LOWEST                 # packets <= 2, bytes < 512
    assert update_itr(BULK, 40, 30_000) == LOW               # bytes > 25000, packets > 35
    assert update_itr(BULK, 1, 1000) == LOW                  # bytes < 1500
    assert update_itr(BULK, 10, 20_000) == BULK
    assert update_itr(BULK, 0, 0) == BULK                    # no packets: no change


def test_class_rates_item_12() -> None:
    """Item 12: classes map to ~70 k / 20 k / 4 k interrupts per second; conservative mode
    replaces lowest by low; rx-usecs N = 10^6/N per second (50 -> 20 000)."""
    assert vector_rate(LOWEST, conservative=False) == 70_000
    assert vector_rate(LOWEST) == 20_000
    assert vector_rate(LOW) == 20_000 and vector_rate(BULK) == 4_000
    assert vector_rate(LOW, BULK) == 4_000
    assert interval_us(20_000) == 50 and interval_us(70_000) == 14 and interval_us(4000) == 250


@given(st.sampled_from([LOWEST, LOW, BULK]), st.integers(0, 10_000),
       st.integers(0, 10_000_000))
def test_class_stays_a_class(cls: int, packets: int, nbytes: int) -> None:
    assert update_itr(cls, packets, nbytes) in (LOWEST, LOW, BULK)


def test_driver_with_igb_itr_runs_bulk_at_line_rate() -> None:
    """End to end: many small packets per interrupt put each ring in the lowest-latency
    class (packets > 35 at 64 bytes), which conservative mode (igb's default) runs as low:
    20 000/s (50 us), so each queue takes at most 20 000 interrupts/s."""
    import pytest
    pytest.importorskip("numpy")
    from irqsim.drivers.netnic import NetConfig
    from irqsim.net.moderation import Coalesce
    from irqsim.net.setup import build_net, run_net, summary
    cfg = NetConfig(queues=2, queue_cpus=[0, 1], rx=Coalesce(adaptive=True),
                    adaptive_algo="itr")
    r = build_net(cfg, duration_ns=2_000_000, latency=False,
                  gbps=10 * 2 / 8)                          # two queues' share of 10 GbE
    run_net(r)
    s = summary(r)
    assert s["delivered"] == s["generated"]
    for q in s["queues"]:
        assert q["irq_per_s"] <= 20_000 * 1.05
    assert all(st.itr_rate == 20_000 for st in r.driver.queues)
