"""RSS: the Toeplitz hash, hash inputs per packet type, and the indirection table.

The hash follows MS-RSS (reference section 1.1): for every set bit i of the input (MSB of
byte 0 first) XOR the 32-bit window of the key starting at bit i into the result. The
indirection table maps ``hash & (size - 1)`` to a queue (section 1.2); ``equal`` and
``weight`` rewrite it as ``ethtool -X`` does; ``show`` prints it as ``ethtool -x``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from irqsim.spec.rss import (
    DEFAULT_FLOW_HASH,
    IPV4,
    IPV6,
    RSS_INDIR_SIZE,
    RSS_KEY_BYTES,
    TCP_IPV4,
    TCP_IPV6,
    HashType,
)

# Microsoft's sample key (the default of many NICs' drivers and DPDK's testpmd).
DEFAULT_KEY = bytes.fromhex("6d5a56da255b0ec24167253d43a38fb0d0ca2bcb"
                            "ae7b30b477cb2da38030f20c6a42b73bbeac01fa")


def toeplitz(key: bytes, data: bytes) -> int:
    """The 32-bit Toeplitz hash of ``data`` under ``key`` (MS-RSS). ``key`` must be at least
    ``len(data) + 4`` bytes long (40 bytes covers the 36-byte IPv6 4-tuple)."""
    if len(key) < len(data) + 4:
        raise ValueError(f"RSS key of {len(key)} bytes is too short for a {len(data)}-byte "
                         "input")
    k = int.from_bytes(key, "big")
    kbits = 8 * len(key)
    result = 0
    nbits = 8 * len(data)
    v = int.from_bytes(data, "big")
    while v:
        low = (v & -v).bit_length() - 1          # lowest set bit = input bit nbits-1-low
        bit = nbits - 1 - low
        result ^= (k >> (kbits - 32 - bit)) & 0xFFFFFFFF
        v &= v - 1
    return result


def parse_key(text: str) -> bytes:
    """A key written as hex, optionally with ':' separators (ethtool's format); 40 bytes."""
    h = text.replace(":", "").replace(" ", "")
    try:
        key = bytes.fromhex(h)
    except ValueError as e:
        raise ValueError(f"RSS key is not hex: {text!r}") from e
    if len(key) != RSS_KEY_BYTES:
        raise ValueError(f"RSS key must be {RSS_KEY_BYTES} bytes, got {len(key)}")
    return key


def hash_input(src: str, dst: str, sport: int | None = None, dport: int | None = None
               ) -> tuple[HashType, bytes]:
    """The hash type and input bytes for a flow: the 4-tuple when both ports are given, the
    2-tuple otherwise; IPv4 or IPv6 from the addresses (both must be the same family)."""
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if a.version != b.version:
        raise ValueError(f"source {src} and destination {dst} are not the same IP version")
    if (sport is None) != (dport is None):
        raise ValueError("give both ports or neither")
    v6 = a.version == 6
    data = a.packed + b.packed
    if sport is None or dport is None:
        return (IPV6 if v6 else IPV4), data
    for p in (sport, dport):
        if not 0 <= p <= 0xFFFF:
            raise ValueError(f"port {p} is not in 0-65535")
    return (TCP_IPV6 if v6 else TCP_IPV4), data + sport.to_bytes(2, "big") + dport.to_bytes(
        2, "big")


@dataclass(frozen=True, slots=True)
class Packet:
    """What the NIC's parser sees of a received packet (for the hash decision)."""

    src: str
    dst: str
    proto: str = "tcp"              # "tcp", "udp" or "other"
    sport: int = 0
    dport: int = 0
    fragment: bool = False          # any IPv4 fragment, the first one included
    parsable: bool = True


@dataclass
class Rss:
    """A NIC's RSS state: key, indirection table, enabled hash types per flow type."""

    queues: int
    key: bytes = DEFAULT_KEY
    table: list[int] = field(default_factory=list)
    flow_hash: dict[str, HashType] = field(default_factory=lambda: dict(DEFAULT_FLOW_HASH))

    def __post_init__(self) -> None:
        if self.queues < 1:
            raise ValueError(f"RSS needs at least one queue, got {self.queues}")
        if len(self.key) != RSS_KEY_BYTES:
            raise ValueError(f"RSS key must be {RSS_KEY_BYTES} bytes, got {len(self.key)}")
        if not self.table:
            self.equal(self.queues)

    # -- ethtool -X ---------------------------------------------------------------
    def equal(self, n: int) -> None:
        """``ethtool -X equal N``: entry i = i mod N (also the default, N = queues)."""
        if not 1 <= n <= self.queues:
            raise ValueError(f"equal {n}: must be 1..{self.queues}")
        self.table = [i % n for i in range(RSS_INDIR_SIZE)]

    def weight(self, weights: list[int]) -> None:
        """``ethtool -X weight w0 w1 ...``: entries proportional to the weights (ethtool's
        own rounding: cumulative share of the table per queue)."""
        if len(weights) > self.queues or any(w < 0 for w in weights) or not sum(weights):
            raise ValueError(f"weight {weights}: one non-negative weight per queue "
                             f"(at most {self.queues}), not all zero")
        total = sum(weights)
        table: list[int] = []
        acc = 0
        for q, w in enumerate(weights):
            acc += w
            end = (RSS_INDIR_SIZE * acc + total - 1) // total
            table.extend([q] * (end - len(table)))
        self.table = table[:RSS_INDIR_SIZE]

    def set_key(self, key: bytes) -> None:
        """``ethtool -X hkey``."""
        if len(key) != RSS_KEY_BYTES:
            raise ValueError(f"RSS key must be {RSS_KEY_BYTES} bytes, got {len(key)}")
        self.key = key

    # -- the receive decision -----------------------------------------------------
    def classify(self, pkt: Packet) -> tuple[int | None, int]:
        """(hash or None, queue) for a packet: fragments use the 2-tuple; a packet the NIC
        cannot parse, or whose flow type has no hash enabled, gets no hash and queue 0."""
        if not pkt.parsable:
            return None, 0
        v6 = ipaddress.ip_address(pkt.src).version == 6
        ftype = ("tcp" if pkt.proto == "tcp" else "udp" if pkt.proto == "udp" else "ip") + (
            "6" if v6 else "4")
        ht = self.flow_hash.get(ftype)
        if ht is None:
            return None, 0
        if pkt.fragment and not v6:
            ht = IPV4
        if ht.input_bytes > (32 if v6 else 8):
            _, data = hash_input(pkt.src, pkt.dst, pkt.sport, pkt.dport)
        else:
            _, data = hash_input(pkt.src, pkt.dst)
        h = toeplitz(self.key, data)
        return h, self.queue_of(h)

    def queue_of(self, h: int) -> int:
        """Queue = table[hash & (size - 1)]."""
        return self.table[h & (len(self.table) - 1)]

    def show(self) -> str:
        """``ethtool -x``: the table eight entries a line, then the key."""
        lines = [f"RX flow hash indirection table with {self.queues} RX ring(s):"]
        for i in range(0, len(self.table), 8):
            lines.append(f"{i:5d}: " + "".join(f"{q:6d}" for q in self.table[i:i + 8]))
        lines.append("RSS hash key:")
        lines.append(":".join(f"{b:02x}" for b in self.key))
        return "\n".join(lines)
