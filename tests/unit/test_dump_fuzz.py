"""Fuzzing of the dump readers and the capability walker (issue 4, "Bad input": never a
traceback; problems are reported). Each test counts the inputs hypothesis tried, asserts the
count is positive and prints it (visible without -s) and records it as a junit property."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from irqsim.formats.dumpfile import (
    STANDARD_SIZES,
    ConfigDump,
    DumpProblem,
    format_hex_dump,
    parse_bytes,
    parse_hex_text,
)
from irqsim.views.lspci import Listing, decode

TRIED: Counter[str] = Counter()
FUZZ = settings(max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

HEX2 = st.integers(0, 255).map(lambda v: f"{v:02x}")
TOKEN = st.one_of(HEX2, HEX2, HEX2, st.text("0123456789abcdefxyzG-", min_size=0, max_size=4))
SLOT = st.builds(
    lambda dom, bus, dev, fn: f"{dom}{bus:02x}:{dev:02x}.{fn}",
    st.sampled_from(["", "0000:", "0002:", "ffff:"]), st.integers(0, 255), st.integers(0, 0x23),
    st.integers(0, 9))
ROW = st.builds(lambda off, toks: f"{off:02x}: " + " ".join(toks),
                st.one_of(st.integers(0, 0x1000).map(lambda o: o & ~15), st.integers(0, 0x1010)),
                st.lists(TOKEN, min_size=0, max_size=18))
LINE = st.one_of(
    ROW, ROW, ROW,
    st.builds(lambda s, t: f"{s} {t}", SLOT, st.text(max_size=20)),
    st.just(""),
    st.text(max_size=30).map(lambda t: t.replace("\n", " ")),
    st.text(max_size=20).map(lambda t: "\t" + t.replace("\n", " ")),
)
CAP_IDS = st.sampled_from([0x01, 0x05, 0x05, 0x05, 0x07, 0x09, 0x0D, 0x10, 0x10, 0x11, 0x11, 0x11,
                           0x12, 0x14, 0xFF, 0x00, 0x02, 0x03, 0x04, 0x08, 0x0A, 0x13, 0x42])


@st.composite
def configs(draw: st.DrawFn) -> bytes:
    """A configuration space with a random header and random (possibly looping, out-of-range,
    header-pointing or cut-off) standard and extended capability chains."""
    size = draw(st.sampled_from([256, 4096] * 3 + [64, -1]))
    if size < 0:
        size = draw(st.integers(0, 4096))
    b = bytearray(draw(st.binary(min_size=64, max_size=64))) + bytearray(4096 - 64)
    if draw(st.integers(0, 9)):
        b[0x06] |= 0x10
    b[0x0E] = draw(st.sampled_from([0] * 6 + [1, 2, 0x80, 0x81, 0x05, 0x7F]))
    offset = st.one_of(st.integers(0x10, 0x3F).map(lambda o: o * 4), st.integers(0, 255))
    offs = draw(st.lists(offset, min_size=1, max_size=8, unique=True))
    nxt = st.one_of(st.sampled_from([*offs, 0]), st.integers(0, 255))
    b[0x14 if b[0x0E] & 0x7F == 2 else 0x34] = (
        offs[0] if offs and draw(st.integers(0, 4)) else draw(st.integers(0, 255)))
    for i, off in enumerate(offs):
        b[off] = draw(CAP_IDS)
        b[off + 1] = offs[i + 1] if i + 1 < len(offs) and draw(st.integers(0, 4)) else draw(nxt)
        body = draw(st.binary(max_size=24))
        b[off + 2:off + 2 + len(body)] = body
    del b[4096:]
    ext_off = st.one_of(st.integers(0x40, 0x3FF).map(lambda o: o * 4), st.integers(0, 4095))
    eoffs = [0x100, *draw(st.lists(ext_off, max_size=5, unique=True))]
    enxt = st.one_of(st.sampled_from([*eoffs, 0]), st.integers(0, 4095))
    ext_id = st.one_of(st.integers(0, 0x3F), st.integers(0, 0xFFFF))
    for i, off in enumerate(eoffs):
        nx = eoffs[i + 1] if i + 1 < len(eoffs) and draw(st.integers(0, 4)) else draw(enxt)
        head = draw(ext_id) | draw(st.integers(0, 15)) << 16 | nx << 20
        b[off & ~3:(off & ~3) + 4] = head.to_bytes(4, "little")
    return bytes(b[:size])


def _check_problems(problems: list[DumpProblem], file: str, nlines: int) -> None:
    for p in problems:
        assert isinstance(p, DumpProblem) and p.file == file
        assert 0 <= p.line <= nlines
        assert "\n" not in str(p) and str(p).startswith(file)


def _check_dump(d: ConfigDump) -> Listing:
    assert d.length <= 4096
    if d.length not in STANDARD_SIZES:
        assert d.problems, "a non-standard length must be reported"
    listing = decode(d)
    assert listing.text.endswith("\n") or "\tCapabilities: [" in listing.lines[-1]
    assert all("\n" not in p for p in listing.problems)
    return listing


@FUZZ
@given(st.lists(LINE, max_size=40))
def _hex_reader(lines: list[str]) -> None:
    TRIED["hex reader (random lines)"] += 1
    text = "\n".join(lines)
    nlines = text.count("\n") + 1
    devs, loose = parse_hex_text(text, "f.txt")
    _check_problems(loose, "f.txt", nlines)
    for d in devs:
        _check_problems(d.problems, "f.txt", nlines)
        _check_dump(d)


@FUZZ
@given(st.binary(max_size=5000))
def _bytes_reader(raw: bytes) -> None:
    TRIED["auto-detecting reader (random bytes)"] += 1
    devs, loose = parse_bytes(raw, "b.bin")
    _check_problems(loose, "b.bin", raw.count(b"\n") + 1)
    for d in devs:
        _check_problems(d.problems, "b.bin", raw.count(b"\n") + 1)
        _check_dump(d)


@FUZZ
@given(configs())
def _walker(data: bytes) -> None:
    TRIED["capability walker (random chains)"] += 1
    listing = decode(data, "00:00.0")
    text = listing.text
    if "<chain looped>" in text:
        assert any("loops back" in p for p in listing.problems)
    if "<chain broken>" in text:
        assert any("chain broken" in p for p in listing.problems)
    if "Capabilities: <access denied>" in text:
        assert any("past the end" in p or "not in a" in p for p in listing.problems)
    assert text.count("\tCapabilities:") <= 64 + 1024 + 2   # each offset at most once per list
    # The same bytes survive an export/read round trip and decode identically.
    if len(data) in STANDARD_SIZES:
        (back,), _ = parse_hex_text(format_hex_dump("00:00.0", "x", data, len(data)))
        assert back.data == data and decode(back).text == text


@FUZZ
@given(st.binary(max_size=4096))
def _walker_raw(data: bytes) -> None:
    TRIED["decoder (random raw bytes)"] += 1
    decode(data)


@pytest.mark.parametrize("prop", [_hex_reader, _bytes_reader, _walker, _walker_raw],
                         ids=["hex_reader", "bytes_reader", "walker", "walker_raw"])
def test_fuzz(prop: Callable[[], None], capsys: pytest.CaptureFixture[str],
              record_property: Callable[[str, object], None]) -> None:
    """No exception escapes the readers or the walker on random input; defects are reported
    (loops, broken chains, unreadable capabilities, non-standard lengths)."""
    before = sum(TRIED.values())
    prop()
    tried = sum(TRIED.values()) - before
    assert tried > 0
    record_property("inputs_tried", tried)
    with capsys.disabled():
        print(f"\n[fuzz] {prop.__name__.strip('_')}: {tried} inputs tried")
