"""Receive Side Scaling as the sources define it, declared as data (no behaviour).

Microsoft "RSS hashing functions/types" (MS-RSS): the Toeplitz hash over a 40-byte secret
key; the hash types and the input tuple each one feeds to the hash, fields in network byte
order, concatenated. Linux Documentation/networking/scaling.rst and
``ethtool_rxfh_indir_default``: the indirection table (128 entries on most NICs) indexed by
the low bits of the hash, entry i = i mod n_rx_queues by default
(shared/reference/nic-moderation.md section 1).
"""

from __future__ import annotations

from dataclasses import dataclass

RSS_KEY_BYTES = 40                  # MS-RSS: 320-bit key (Linux keeps 52, drivers use 40)
RSS_HASH_BITS = 32                  # the result is one 32-bit word
RSS_INDIR_SIZE = 128                # the common indirection table size (power of two)


@dataclass(frozen=True, slots=True)
class HashType:
    """One MS-RSS hash type: the tuple fields and their widths in bytes, in input order."""

    name: str
    ipv6: bool
    fields: tuple[tuple[str, int], ...]

    @property
    def input_bytes(self) -> int:
        return sum(w for _, w in self.fields)


TCP_IPV4 = HashType("TCP/IPv4", False, (("src_ip", 4), ("dst_ip", 4), ("src_port", 2),
                                        ("dst_port", 2)))
IPV4 = HashType("IPv4", False, (("src_ip", 4), ("dst_ip", 4)))
TCP_IPV6 = HashType("TCP/IPv6", True, (("src_ip", 16), ("dst_ip", 16), ("src_port", 2),
                                       ("dst_port", 2)))
IPV6 = HashType("IPv6", True, (("src_ip", 16), ("dst_ip", 16)))
UDP_IPV4 = HashType("UDP/IPv4", False, TCP_IPV4.fields)
UDP_IPV6 = HashType("UDP/IPv6", True, TCP_IPV6.fields)

HASH_TYPES = (TCP_IPV4, IPV4, TCP_IPV6, IPV6, UDP_IPV4, UDP_IPV6)

# ethtool -N rx-flow-hash defaults most drivers use (reference 1.1: UDP often 2-tuple):
# flow type -> hash type. A flow type absent here gets no hash (the default queue).
DEFAULT_FLOW_HASH = {"tcp4": TCP_IPV4, "udp4": IPV4, "ip4": IPV4,
                     "tcp6": TCP_IPV6, "udp6": IPV6, "ip6": IPV6}
