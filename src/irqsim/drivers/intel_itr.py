"""Intel's legacy adaptive interrupt throttling (igb ``igb_update_itr``), reimplemented from
shared/reference/nic-moderation.md section 3.4.

Per ring, on each interrupt, with the packets and bytes since the previous one, the ring's
latency class moves between lowest, low and bulk; the vector's class is the larger of its
RX and TX classes and maps to an interrupt rate (lowest 70 000/s, low 20 000/s, bulk
4 000/s); conservative mode (InterruptThrottleRate 3, igb's default) replaces lowest by low.
"""

from __future__ import annotations

LOWEST, LOW, BULK = 0, 1, 2
CLASS_NAMES = ("lowest_latency", "low_latency", "bulk_latency")
RATE = {LOWEST: 70_000, LOW: 20_000, BULK: 4_000}       # interrupts per second


def update_itr(cls: int, packets: int, nbytes: int) -> int:
    """igb_update_itr: the ring's next class (unchanged when no packets)."""
    if packets == 0:
        return cls
    avg = nbytes // packets
    if cls == LOWEST:
        if avg > 8000:
            return BULK
        if packets < 5 and nbytes > 512:
            return LOW
        return LOWEST
    if cls == LOW:
        if nbytes > 10000:
            if avg > 8000 or packets < 10 or avg > 1200:
                return BULK
            if packets > 35:
                return LOWEST
            return LOW
        if avg > 2000:
            return BULK
        if packets <= 2 and nbytes < 512:
            return LOWEST
        return LOW
    if (nbytes > 25000 and packets > 35) or nbytes < 1500:
        return LOW
    return BULK


def vector_rate(rx_cls: int, tx_cls: int = LOWEST, conservative: bool = True) -> int:
    """Interrupts per second for the vector: max of the ring classes; conservative mode
    never uses lowest."""
    cls = max(rx_cls, tx_cls)
    if conservative and cls == LOWEST:
        cls = LOW
    return RATE[cls]


def interval_us(rate: int) -> int:
    """The EITR interval for a rate (Intel convention: rx-usecs N = 10^6/N per second)."""
    return 1_000_000 // rate
