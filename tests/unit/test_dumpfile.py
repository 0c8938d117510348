"""Readers for lspci -x/-xxx/-xxxx hex text and sysfs binary config, and the -xxx exporter
(issue 4, items 1 and 5; "Bad input")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import irqsim.formats
import irqsim.pci
from irqsim.formats.dumpfile import (
    ConfigDump,
    DumpError,
    Slot,
    format_hex_dump,
    looks_like_text,
    parse_binary,
    parse_bytes,
    parse_hex_text,
    read_dump_file,
)


def test_dump_readers_are_a_layer_of_their_own() -> None:
    """The lspci text reader lives in ``irqsim.formats``, outside the hardware package, and
    imports nothing else from irqsim (issue 9 item 5)."""
    pci_dir = Path(irqsim.pci.__file__).parent
    assert not (pci_dir / "dumpfile.py").exists()
    for path in Path(irqsim.formats.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [
                a.name for a in node.names] if isinstance(node, ast.Import) else []
            assert not any(n.startswith("irqsim") and not n.startswith("irqsim.formats")
                           for n in names), (path.name, names)


def pattern(n: int, seed: int = 0) -> bytes:
    """n deterministic bytes that are not all alike."""
    return bytes((i * 7 + seed * 13 + (i >> 8)) & 0xFF for i in range(n))


def one(text: str, file: str = "t.txt") -> ConfigDump:
    devs, loose = parse_hex_text(text, file)
    assert len(devs) == 1 and not loose
    return devs[0]


# -- hex reader ---------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [64, 256, 4096])
def test_hex_sizes_read_back_exactly(size: int) -> None:
    """lspci -x (64), -xxx (256) and -xxxx (4096 B) dumps decode to the exact bytes, no problems."""
    data = pattern(size)
    d = one(format_hex_dump("02:00.0", "Ethernet controller: Device 8086:10c9", data, size))
    assert d.data == data and d.length == size and d.size == size and d.complete
    assert d.problems == []
    assert d.slot == Slot(0, 2, 0, 0) and d.header == "Ethernet controller: Device 8086:10c9"
    assert d.line == 1


def test_many_devices_per_file_with_and_without_blank_lines() -> None:
    """Several devices in one file: each header starts a device; the blank line is optional."""
    a = format_hex_dump("00:1f.2", "SATA controller: x", pattern(256, 1), 256)
    b = format_hex_dump("03:00.0", "Ethernet controller: y", pattern(64, 2), 64)
    c = format_hex_dump("0002:01:00.0", "USB controller: z", pattern(4096, 3), 4096)
    text = a + b.rstrip("\n") + "\n" + c   # no blank line between b and c
    devs, loose = parse_hex_text(text, "many.txt")
    assert loose == []
    assert [d.slot_text for d in devs] == ["00:1f.2", "03:00.0", "0002:01:00.0"]
    assert [d.length for d in devs] == [256, 64, 4096]
    assert devs[2].data == pattern(4096, 3)
    assert all(d.problems == [] for d in devs)
    assert devs[1].line == a.count("\n") + 1


@pytest.mark.parametrize(("text", "slot", "shown"), [
    ("0002:01:00.0", Slot(2, 1, 0, 0), "0002:01:00.0"),
    ("0000:05:00.0", Slot(0, 5, 0, 0), "05:00.0"),
    ("00:1d.7", Slot(0, 0, 0x1D, 7), "00:1d.7"),
    ("ffff:ff:1f.7", Slot(0xFFFF, 0xFF, 0x1F, 7), "ffff:ff:1f.7"),
])
def test_domain_qualified_slots(text: str, slot: Slot, shown: str) -> None:
    """`DDDD:BB:DD.F` and `BB:DD.F`; lspci shows the domain only when it is non-zero."""
    d = one(f"{text} Ethernet controller: x\n00: " + " ".join(["00"] * 16) + "\n")
    assert d.slot == slot and d.slot_text == shown
    assert d.slot.format(show_domain=True).count(":") == 2


def test_slot_parse_rejects_non_slots() -> None:
    """Device numbers above 1f, functions above 7 and junk are not slots."""
    assert Slot.parse("00:20.0") is None
    assert Slot.parse("00:00.8") is None
    assert Slot.parse("hello") is None


def test_lspci_vvv_xxx_output_is_accepted() -> None:
    """`lspci -vvv -xxx` output: the decoded (tab-indented) lines between header and rows are
    skipped without complaint."""
    text = ("01:00.0 Ethernet controller: x (rev 01)\n"
            "\tControl: I/O+ Mem+ BusMaster+\n"
            "\tCapabilities: [40] Power Management version 3\n"
            + "\n".join(format_hex_dump("01:00.0", "x", pattern(64), 64).split("\n")[1:]))
    d = one(text)
    assert d.data == pattern(64) and d.problems == []


def test_truncated_hex_is_read_as_far_as_it_goes() -> None:
    """A dump cut off mid-row keeps every byte it has; the missing tail is reported."""
    full = format_hex_dump("02:00.0", "x", pattern(256), 256)
    cut = full[: full.index("c0:") + len("c0: 00 11 22")]   # row c0 has 3 bytes
    cut = cut[: cut.rindex("\n") + 1] + "c0: 01 02 03\n"
    d = one(cut, "cut.txt")
    assert d.length == 0xC3 and d.data[:0xC0] == pattern(256)[:0xC0]
    assert d.data[0xC0:] == b"\x01\x02\x03"
    msgs = [str(p) for p in d.problems]
    assert "cut.txt:14: row c0 has 3 of 16 bytes" in msgs
    assert any("truncated: 195 of 256 bytes; bytes c3-ff missing" in m for m in msgs)


def test_header_only_64_bytes_is_complete() -> None:
    """A 64-byte dump (non-root sysfs read, lspci -x) is complete: no problem."""
    d = one(format_hex_dump("01:00.0", "x", pattern(64), 64))
    assert d.complete and d.problems == []


def test_malformed_line_reported_and_rest_decoded() -> None:
    """A line that is neither header nor row is reported with file and line; both devices
    around it still decode in full."""
    a = format_hex_dump("00:01.0", "x", pattern(64, 1), 64)
    b = format_hex_dump("00:02.0", "y", pattern(64, 2), 64)
    lines = a.split("\n")
    lines.insert(3, "this is not a row")
    devs, loose = parse_hex_text("\n".join(lines) + b, "bad.txt")
    assert [d.data for d in devs] == [pattern(64, 1), pattern(64, 2)]
    probs = [str(p) for p in devs[0].problems]
    assert probs == ["bad.txt:4: not a device header or hex row: 'this is not a row'"]
    assert devs[1].problems == [] and loose == []


def test_non_hex_byte_reported_with_line_and_column() -> None:
    """A non-hex token: the row's earlier bytes are kept, the rest of the row reads as ff."""
    rows = format_hex_dump("00:01.0", "x", pattern(64), 64).split("\n")
    rows[2] = rows[2][:4] + "00 11 zz" + rows[2][12:]   # row 10
    d = one("\n".join(rows), "nh.txt")
    assert d.length == 64
    assert d.data[0x10:0x12] == b"\x00\x11" and d.data[0x12:0x20] == b"\xff" * 14
    msgs = [str(p) for p in d.problems]
    assert msgs[0] == "nh.txt:3: byte 2 of row 10 is not two hex digits: 'zz'; rest of row ignored"
    assert any("bytes 12-1f missing (read as ff)" in m for m in msgs)


def test_long_row_and_bad_offsets() -> None:
    """17 bytes in a row, an offset not a multiple of 16, rows out of order and skipped rows
    are each reported on their line."""
    text = ("00:01.0 x\n"
            "00: " + " ".join(["01"] * 17) + "\n"
            "18: " + " ".join(["02"] * 16) + "\n"
            "20: " + " ".join(["03"] * 16) + "\n"
            "10: " + " ".join(["04"] * 16) + "\n"
            "30: " + " ".join(["05"] * 16) + "\n")
    d = one(text, "o.txt")
    msgs = [str(p) for p in d.problems]
    assert "o.txt:2: row 00 has 17 bytes, expected 16; extra ignored" in msgs
    assert "o.txt:3: offset 18 is not a multiple of 16; row ignored" in msgs
    assert "o.txt:5: offset 10 out of order (expected 30)" in msgs
    assert "o.txt:6: offset 30 skips rows (expected 20)" in msgs
    assert d.data == b"\x01" * 16 + b"\x04" * 16 + b"\x03" * 16 + b"\x05" * 16
    assert d.problems and d.length == 64


def test_row_before_header_and_offset_beyond_4k() -> None:
    """Rows with no header line get slot 00:00.0 (reported); offsets past 4 KiB are ignored."""
    text = "00: " + " ".join(["aa"] * 16) + "\n1000: 00\n"
    devs, loose = parse_hex_text(text, "h.txt")
    assert [str(p) for p in loose] == [
        "h.txt:1: hex row before any device header line; slot 00:00.0 assumed"]
    assert devs[0].slot == Slot() and devs[0].data == b"\xaa" * 16
    assert any("offset 1000 is beyond 4096 bytes" in str(p) for p in devs[0].problems)


def test_header_without_rows() -> None:
    """A header with no rows gives a device with no bytes and says so."""
    devs, _ = parse_hex_text("00:01.0 x\n\n", "e.txt")
    assert devs[0].data == b""
    assert [str(p) for p in devs[0].problems] == ["e.txt:1: device 00:01.0: no configuration bytes"]


# -- binary ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [64, 256, 4096])
def test_binary_sysfs_config(size: int, tmp_path: Path) -> None:
    """Raw sysfs `config` files of 64, 256 and 4096 bytes; the slot comes from the directory."""
    p = tmp_path / "0000:02:00.0" / "config"
    p.parent.mkdir()
    data = b"\x86\x80\xc9\x10" + pattern(size - 4)
    p.write_bytes(data)
    devs, loose = read_dump_file(p)
    assert loose == [] and len(devs) == 1
    assert devs[0].data == data and devs[0].slot == Slot(0, 2, 0, 0) and devs[0].problems == []


def test_binary_truncated_and_oversize() -> None:
    """A short binary is read as far as it goes; more than 4096 bytes is cut and reported."""
    d = parse_binary(b"\x86\x80" + bytes(98), "short.bin")
    assert d.length == 100 and [str(p) for p in d.problems] == [
        "short.bin: truncated: 100 of 256 bytes; bytes 64-ff missing"]
    big = parse_binary(bytes(5000) + b"\x01", "big.bin")
    assert big.length == 4096 and "more than 4096" in str(big.problems[0])
    assert parse_bytes(b"", "empty.bin") == ([], parse_binary(b"", "empty.bin").problems)


def test_detection_text_versus_binary() -> None:
    """Text is detected from its first non-blank line; binary configs (with NULs) are binary;
    a text file that is not a dump is refused with a message, not decoded as bytes."""
    hexdump = format_hex_dump("00:01.0", "Ethernet controller: Réseau", pattern(64), 64).encode()
    assert looks_like_text(hexdump)
    assert not looks_like_text(b"\x86\x80\x00\x00" * 16)
    devs, _ = parse_bytes(hexdump)
    assert devs[0].data == pattern(64) and devs[0].header.endswith("Réseau")
    devs, loose = parse_bytes(b"hello world\nsecond line\n", "notes.txt")
    assert devs == [] and "not an lspci -x dump" in str(loose[0])


def test_missing_file_raises_dump_error(tmp_path: Path) -> None:
    """An unreadable file is a DumpError naming the file, not an OSError traceback."""
    with pytest.raises(DumpError) as e:
        read_dump_file(tmp_path / "nope.txt")
    assert "nope.txt" in str(e.value)


# -- export ---------------------------------------------------------------------------------------
def test_export_layout_matches_lspci_xxx() -> None:
    """`OO: bb ...` rows of 16, two-digit offsets below 100h, three above, then a blank line."""
    text = format_hex_dump("0000:02:00.0", "0000:02:00.0 Ethernet controller: x",
                           pattern(4096), 4096)
    lines = text.split("\n")
    assert lines[0] == "0000:02:00.0 Ethernet controller: x"
    assert lines[1] == "00: " + " ".join(f"{b:02x}" for b in pattern(16))
    assert lines[16].startswith("f0: ") and lines[17].startswith("100: ")
    assert lines[256].startswith("ff0: ")
    assert text.endswith("\n\n") and len(lines) == 1 + 256 + 2


def test_export_sizes_and_short_data() -> None:
    """Only 64/256/4096 are sizes; data shorter than the size is written as far as it goes."""
    with pytest.raises(ValueError, match="not 64, 256 or 4096"):
        format_hex_dump("00:00.0", "x", bytes(100), 100)
    assert format_hex_dump(Slot(0, 1, 2, 3), "x", bytes(20), 256) == (
        "01:02.3 x\n00: " + " ".join(["00"] * 16) + "\n10: 00 00 00 00\n\n")


@pytest.mark.parametrize("size", [64, 256, 4096])
def test_export_round_trip(size: int) -> None:
    """export -> read gives back the same slot, header and bytes."""
    data = pattern(size, 5)
    d = one(format_hex_dump("0001:21:01.0", "Ethernet controller: y (rev 0d)", data, size))
    assert d.data == data and d.slot_text == "0001:21:01.0"
    assert d.header == "Ethernet controller: y (rev 0d)"
    assert format_hex_dump(d.slot, d.header, d.data, d.size) == format_hex_dump(
        "0001:21:01.0", "Ethernet controller: y (rev 0d)", data, size)
