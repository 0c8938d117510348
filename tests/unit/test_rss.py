"""RSS (shared/reference/nic-moderation.md sections 1 and 11 items 1-5): the Toeplitz hash
against the Microsoft verification vectors, its algebra, hash-type choice, the indirection
table and the ``irqsim rss`` command."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from irqsim.cli import main
from irqsim.net.rss import DEFAULT_KEY, Packet, Rss, hash_input, parse_key, toeplitz
from irqsim.spec.rss import IPV4, RSS_INDIR_SIZE, TCP_IPV4, TCP_IPV6

# The Microsoft "Verifying the RSS hash calculation" vectors (kept here, outside the
# reference, as it asks): (dst, dport, src, sport, 2-tuple hash, 4-tuple hash).
MS_IPV4 = [
    ("161.142.100.80", 1766, "66.9.149.187", 2794, 0x323E8FC2, 0x51CCC178),
    ("65.69.140.83", 4739, "199.92.111.2", 14230, 0xD718262A, 0xC626B0EA),
    ("12.22.207.184", 38024, "24.19.198.95", 12898, 0xD2D0A5DE, 0x5C2B394A),
    ("209.142.163.6", 2217, "38.27.205.30", 48228, 0x82989176, 0xAFC7327F),
    ("202.188.127.2", 1303, "153.39.163.191", 44251, 0x5D1809C5, 0x10E828A2),
]
MS_IPV6 = [
    ("3ffe:2501:200:3::1", 1766, "3ffe:2501:200:1fff::7", 2794, 0x2CC18CD5, 0x40207D3D),
    ("ff02::1", 4739, "3ffe:501:8::260:97ff:fe40:efab", 14230, 0x0F0C461C, 0xDDE51BBF),
    ("fe80::200:f8ff:fe21:67cf", 38024, "3ffe:1900:4545:3:200:f8ff:fe21:67cf", 44251,
     0x4B61E985, 0x02D1FEEF),
]


@pytest.mark.parametrize("dst,dport,src,sport,h2,h4", MS_IPV4 + MS_IPV6)
def test_microsoft_verification_vectors(dst: str, dport: int, src: str, sport: int,
                                        h2: int, h4: int) -> None:
    """MS-RSS vectors: 2-tuple and 4-tuple hashes under the sample key (item 2)."""
    assert toeplitz(DEFAULT_KEY, hash_input(src, dst)[1]) == h2
    assert toeplitz(DEFAULT_KEY, hash_input(src, dst, sport, dport)[1]) == h4


def test_tuple_sizes_and_order() -> None:
    """IPv4/TCP input is 12 bytes src,dst,sport,dport in network order; IPv6/TCP 36 (item 2)."""
    t, data = hash_input("1.2.3.4", "5.6.7.8", 0x0102, 0x0304)
    assert t is TCP_IPV4 and data == bytes([1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4])
    t6, d6 = hash_input("::1", "::2", 1, 2)
    assert t6 is TCP_IPV6 and len(d6) == 36 == TCP_IPV6.input_bytes
    assert hash_input("1.2.3.4", "5.6.7.8")[0] is IPV4


@given(st.binary(min_size=36, max_size=36))
def test_zero_and_single_bits(data: bytes) -> None:
    """All-zero input hashes to 0; input bit i alone gives key bits i..i+31 (item 1)."""
    assert toeplitz(DEFAULT_KEY, bytes(36)) == 0
    k = int.from_bytes(DEFAULT_KEY, "big")
    for i in (0, 7, 100, 287):
        one = (1 << (287 - i)).to_bytes(36, "big")
        assert toeplitz(DEFAULT_KEY, one) == (k >> (320 - 32 - i)) & 0xFFFFFFFF


@given(st.binary(min_size=12, max_size=12), st.binary(min_size=12, max_size=12),
       st.binary(min_size=40, max_size=40))
def test_linearity(a: bytes, b: bytes, key: bytes) -> None:
    """h(a XOR b) = h(a) XOR h(b) for inputs of equal length, any key (item 1)."""
    x = bytes(p ^ q for p, q in zip(a, b, strict=True))
    assert toeplitz(key, x) == toeplitz(key, a) ^ toeplitz(key, b)


@given(st.integers(1, 16), st.integers(0, 2**32 - 1))
def test_default_table_and_queue(n: int, h: int) -> None:
    """Default table entry i = i mod n; queue = table[hash & (size-1)] (item 5)."""
    r = Rss(16)
    r.equal(n)
    assert len(r.table) == RSS_INDIR_SIZE
    assert all(q == i % n for i, q in enumerate(r.table))
    assert r.queue_of(h) == (h & 127) % n


def test_weight_table_proportional() -> None:
    """``ethtool -X weight 1 3``: a quarter of the entries to queue 0, the rest to 1."""
    r = Rss(2)
    r.weight([1, 3])
    assert r.table.count(0) == 32 and r.table.count(1) == 96
    with pytest.raises(ValueError):
        r.weight([0, 0])


def test_fragments_unparsable_and_disabled_types() -> None:
    """A fragmented IPv4 TCP packet (first fragment too) uses the 2-tuple (item 3); a packet
    without an enabled hash type gets no hash and the default queue 0 (item 4)."""
    r = Rss(8)
    frag = Packet("66.9.149.187", "161.142.100.80", "tcp", 2794, 1766, fragment=True)
    assert r.classify(frag)[0] == 0x323E8FC2
    full = Packet("66.9.149.187", "161.142.100.80", "tcp", 2794, 1766)
    assert r.classify(full)[0] == 0x51CCC178
    assert r.classify(Packet("1.1.1.1", "2.2.2.2", parsable=False)) == (None, 0)
    del r.flow_hash["tcp4"]
    assert r.classify(full) == (None, 0)


@given(st.integers(0, 65535), st.integers(0, 65535))
def test_one_flow_one_queue(sport: int, dport: int) -> None:
    """All packets of one 4-tuple land on one queue (reordering-free, section 1.2)."""
    r = Rss(8)
    p = Packet("10.0.0.1", "10.0.0.2", "tcp", sport, dport)
    assert r.classify(p) == r.classify(Packet("10.0.0.1", "10.0.0.2", "tcp", sport, dport))


def test_key_parsing_and_show() -> None:
    """ethtool -x shows the table and the key with ':' separators; the key parses back."""
    r = Rss(4)
    text = r.show()
    assert "4 RX ring(s)" in text
    assert parse_key(text.splitlines()[-1]) == DEFAULT_KEY
    with pytest.raises(ValueError):
        parse_key("abcd")


def test_rss_command_json_and_text() -> None:
    """``irqsim rss``: JSON hash hex string and queue; IPv6 without ports; bad input exit 2."""
    run = CliRunner().invoke
    r = run(main, ["rss", "--src", "66.9.149.187", "--dst", "161.142.100.80", "--sport",
                   "2794", "--dport", "1766", "--format", "json"])
    out = json.loads(r.output)
    assert out["hash"] == "0x51ccc178" and out["queue"] == (0x51CCC178 & 127) % 8
    r = run(main, ["rss", "--key", DEFAULT_KEY.hex(), "--src", "3ffe:2501:200:1fff::7",
                   "--dst", "3ffe:2501:200:3::1", "--queues", "4", "--format", "json"])
    out = json.loads(r.output)
    assert out["hash"] == "0x2cc18cd5" and out["queue"] == (0x2CC18CD5 & 127) % 4
    r = run(main, ["rss", "--src", "1.2.3.4", "--dst", "::1"])
    assert r.exit_code == 2
    r = run(main, ["rss", "--src", "1.2.3.4", "--dst", "5.6.7.8"])
    assert r.exit_code == 0 and "IPv4 hash" in r.output


def test_nic_register_declarations() -> None:
    """spec/nic.py: per-queue registers fit in one queue stride, do not overlap, and sit
    below the MSI-X table; the global registers do not overlap the queue block."""
    from irqsim.spec.nic import (
        GLOBAL_REGS,
        MAX_QUEUES,
        MSIX_TABLE_OFF,
        QUEUE_REGS,
        QUEUE_STRIDE,
        RDBA,
        queue_reg,
    )
    spans = sorted((r.offset, r.offset + r.size) for r in QUEUE_REGS)
    assert all(a[1] <= b[0] for a, b in pairwise(spans))
    assert spans[-1][1] - RDBA.offset <= QUEUE_STRIDE
    assert queue_reg(RDBA, MAX_QUEUES - 1) + QUEUE_STRIDE <= MSIX_TABLE_OFF
    assert all(r.offset + r.size <= RDBA.offset for r in GLOBAL_REGS)
