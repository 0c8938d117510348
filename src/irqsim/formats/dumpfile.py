"""Read and write PCI configuration-space dumps.

Two input formats are read:

* the hex text that ``lspci -x``, ``-xxx`` and ``-xxxx`` print: per device a header line
  (``02:00.0 Ethernet controller: ...`` or ``0000:02:00.0 ...``), then rows
  ``OO: bb bb ...`` of 16 bytes, then a blank line;
* raw binary configuration space as in ``/sys/bus/pci/devices/*/config`` (64, 256 or 4096 bytes).

Readers never raise on bad content: every defect becomes a :class:`DumpProblem` naming the
file, the line (0 for binary files or whole-dump facts) and what is wrong, and the rest of the
input is still decoded. Bytes that could not be read (gaps, bad tokens) read as ``0xff``, as a
failed configuration read does and as pciutils' dump reader fills them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

STANDARD_SIZES: tuple[int, ...] = (64, 256, 4096)
"""Sizes a complete dump has: header only, PCI (256 B) and PCIe extended (4 KiB)."""

MAX_CONFIG_SIZE = 4096
ROW_BYTES = 16
FILL = 0xFF

_SLOT_RE = re.compile(
    r"^(?:(?P<domain>[0-9a-fA-F]{1,8}):)?(?P<bus>[0-9a-fA-F]{1,2}):(?P<dev>[0-9a-fA-F]{1,2})"
    r"\.(?P<fn>[0-7])$")
_HEADER_RE = re.compile(
    r"^(?P<slot>(?:[0-9a-fA-F]{1,8}:)?[0-9a-fA-F]{1,2}:[0-9a-fA-F]{1,2}\.[0-7])(?:\s+(?P<text>.*))?$")
_ROW_RE = re.compile(r"^(?P<off>[0-9a-fA-F]{1,4}):(?:\s+(?P<rest>.*))?$")
_HEX2_RE = re.compile(r"^[0-9a-fA-F]{2}$")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class DumpError(ValueError):
    """A dump that cannot be read at all (missing file, unreadable); carries the file name."""

    def __init__(self, file: str, message: str) -> None:
        super().__init__(f"{file}: {message}")
        self.file = file
        self.message = message


@dataclass(frozen=True, slots=True)
class DumpProblem:
    """A defect found while reading: ``line`` is 1-based, 0 for binary or whole-dump facts."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class Slot:
    """A PCI function address: domain, bus, device (0-31) and function (0-7)."""

    domain: int = 0
    bus: int = 0
    dev: int = 0
    fn: int = 0

    @classmethod
    def parse(cls, text: str) -> Slot | None:
        """``[DDDD:]BB:DD.F`` -> Slot, or None when ``text`` is not such an address."""
        m = _SLOT_RE.match(text.strip())
        if m is None:
            return None
        dev = int(m["dev"], 16)
        if dev > 0x1F:
            return None
        return cls(int(m["domain"] or "0", 16), int(m["bus"], 16), dev, int(m["fn"]))

    def format(self, show_domain: bool | None = None) -> str:
        """As lspci prints it; the domain is shown when non-zero unless ``show_domain`` says."""
        if show_domain is None:
            show_domain = self.domain != 0
        s = f"{self.bus:02x}:{self.dev:02x}.{self.fn:d}"
        return f"{self.domain:04x}:{s}" if show_domain else s

    def __str__(self) -> str:
        return self.format()


@dataclass(slots=True)
class ConfigDump:
    """One function's configuration bytes as read from a dump.

    ``data`` runs from offset 0 to the last byte present in the dump (unread bytes inside it
    are ``0xff``); ``length`` is ``len(data)``; ``size`` is the standard size (64, 256 or 4096)
    the dump is taken to be; ``problems`` lists what was wrong or missing.
    """

    slot: Slot
    header: str
    data: bytes
    file: str = ""
    line: int = 0
    problems: list[DumpProblem] = field(default_factory=list)

    @property
    def length(self) -> int:
        return len(self.data)

    @property
    def size(self) -> int:
        for s in STANDARD_SIZES:
            if self.length <= s:
                return s
        return MAX_CONFIG_SIZE

    @property
    def complete(self) -> bool:
        return self.length in STANDARD_SIZES

    @property
    def slot_text(self) -> str:
        return self.slot.format()


# -- hex text ---------------------------------------------------------------------------------
class _HexDevice:
    """Accumulates one device's rows while a hex file is read."""

    def __init__(self, file: str, line: int, slot: Slot, header: str) -> None:
        self.file, self.line, self.slot, self.header = file, line, slot, header
        self.buf = bytearray()
        self.present = bytearray()
        self.next_off = 0
        self.rows = 0
        self.problems: list[DumpProblem] = []

    def problem(self, line: int, message: str) -> None:
        self.problems.append(DumpProblem(self.file, line, message))

    def put(self, off: int, values: list[int]) -> None:
        end = off + len(values)
        if end > len(self.buf):
            grow = end - len(self.buf)
            self.buf.extend(b"\xff" * grow)
            self.present.extend(b"\x00" * grow)
        self.buf[off:end] = bytes(values)
        self.present[off:end] = b"\x01" * len(values)

    def finish(self) -> ConfigDump:
        name = f"device {self.slot}"
        if not self.buf:
            self.problem(self.line, f"{name}: no configuration bytes")
        else:
            gaps = _ranges(i for i, p in enumerate(self.present) if not p)
            if gaps:
                self.problem(self.line, f"{name}: bytes {gaps} missing (read as ff)")
            n = len(self.buf)
            if n not in STANDARD_SIZES:
                want = next((s for s in STANDARD_SIZES if s > n), MAX_CONFIG_SIZE)
                self.problem(self.line, f"{name}: truncated: {n} of {want} bytes; "
                             f"bytes {n:02x}-{want - 1:02x} missing")
        return ConfigDump(self.slot, self.header, bytes(self.buf), self.file, self.line,
                          self.problems)


def _ranges(offsets: Iterable[int]) -> str:
    """Offsets -> ``"10-1f, 30"`` (hex, consecutive runs merged)."""
    runs: list[list[int]] = []
    for o in offsets:
        if runs and runs[-1][1] == o - 1:
            runs[-1][1] = o
        else:
            runs.append([o, o])
    return ", ".join(f"{a:02x}" if a == b else f"{a:02x}-{b:02x}" for a, b in runs)


def parse_hex_text(text: str, file: str = "<text>") -> tuple[list[ConfigDump], list[DumpProblem]]:
    """Decode ``lspci -x``-style text: (devices, problems not tied to a device)."""
    devices: list[ConfigDump] = []
    loose: list[DumpProblem] = []
    cur: _HexDevice | None = None

    def close() -> None:
        nonlocal cur
        if cur is not None:
            devices.append(cur.finish())
            cur = None

    for lineno, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip()
        if not line.strip():
            close()
            continue
        if line[0] in " \t":
            continue  # decoded lines of `lspci -v... -x` output
        row = _ROW_RE.match(line)
        if row is not None and "." not in line.split(":", 1)[0]:
            if cur is None:
                loose.append(DumpProblem(file, lineno, "hex row before any device header line; "
                                         "slot 00:00.0 assumed"))
                cur = _HexDevice(file, lineno, Slot(), "")
            _read_row(cur, lineno, int(row["off"], 16), row["rest"] or "")
            continue
        head = _HEADER_RE.match(line)
        slot = Slot.parse(head["slot"]) if head is not None else None
        if head is not None and slot is not None:
            close()
            cur = _HexDevice(file, lineno, slot, (head["text"] or "").strip())
            continue
        shown = line if len(line) <= 40 else line[:37] + "..."
        msg = f"not a device header or hex row: {shown!r}"
        if cur is not None:
            cur.problem(lineno, msg)
        else:
            loose.append(DumpProblem(file, lineno, msg))
    close()
    return devices, loose


def _read_row(dev: _HexDevice, lineno: int, off: int, rest: str) -> None:
    """Check and store one ``OO: bb ...`` row of ``dev``."""
    if off % ROW_BYTES:
        dev.problem(lineno, f"offset {off:02x} is not a multiple of 16; row ignored")
        return
    if off >= MAX_CONFIG_SIZE:
        dev.problem(lineno, f"offset {off:x} is beyond 4096 bytes; row ignored")
        return
    if off != dev.next_off:
        what = "out of order" if off < dev.next_off else "skips rows"
        dev.problem(lineno, f"offset {off:02x} {what} (expected {dev.next_off:02x})")
    values: list[int] = []
    for col, tok in enumerate(rest.split()):
        if not _HEX2_RE.match(tok):
            shown = tok if len(tok) <= 8 else tok[:8] + "..."
            dev.problem(lineno, f"byte {col} of row {off:02x} is not two hex digits: {shown!r}; "
                        "rest of row ignored")
            break
        values.append(int(tok, 16))
    if len(values) > ROW_BYTES:
        dev.problem(lineno, f"row {off:02x} has {len(values)} bytes, expected 16; extra ignored")
        values = values[:ROW_BYTES]
    elif len(values) < ROW_BYTES and not any(p.line == lineno for p in dev.problems[-1:]):
        dev.problem(lineno, f"row {off:02x} has {len(values)} of 16 bytes")
    dev.put(off, values)
    dev.next_off = off + ROW_BYTES
    dev.rows += 1


# -- binary -----------------------------------------------------------------------------------
def parse_binary(raw: bytes, file: str = "<bytes>", slot: Slot | None = None) -> ConfigDump:
    """Decode a raw configuration-space image (sysfs ``config`` file)."""
    problems: list[DumpProblem] = []
    if slot is None:
        slot = _slot_from_path(file) or Slot()
    if len(raw) > MAX_CONFIG_SIZE:
        problems.append(DumpProblem(file, 0, f"{len(raw)} bytes is more than 4096; "
                                    "bytes from 1000 on ignored"))
        raw = raw[:MAX_CONFIG_SIZE]
    dump = ConfigDump(slot, "", bytes(raw), file, 0, problems)
    if not raw:
        problems.append(DumpProblem(file, 0, "empty file: no configuration bytes"))
    elif len(raw) not in STANDARD_SIZES:
        want = dump.size
        problems.append(DumpProblem(file, 0, f"truncated: {len(raw)} of {want} bytes; "
                                    f"bytes {len(raw):02x}-{want - 1:02x} missing"))
    return dump


def _slot_from_path(file: str) -> Slot | None:
    """Slot from ``.../0000:02:00.0/config`` or a file named like a slot."""
    p = Path(file)
    for name in (p.parent.name, p.stem, p.name):
        s = Slot.parse(name)
        if s is not None:
            return s
    return None


# -- detection and files ----------------------------------------------------------------------
def _as_text(raw: bytes) -> str | None:
    """``raw`` as text when it is UTF-8 without control characters other than tab/CR/LF."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if _CONTROL_RE.search(text):
        return None
    return text


def _first_line_is_dump(text: str) -> bool:
    for line in text.split("\n"):
        s = line.rstrip()
        if not s.strip():
            continue
        head = _HEADER_RE.match(s)
        return bool(_ROW_RE.match(s)) or (head is not None and Slot.parse(head["slot"]) is not None)
    return False


def looks_like_text(raw: bytes) -> bool:
    """True when ``raw`` is text whose first non-blank line is a device header or a hex row."""
    text = _as_text(raw)
    return text is not None and _first_line_is_dump(text)


def parse_bytes(raw: bytes, file: str = "<bytes>") -> tuple[list[ConfigDump], list[DumpProblem]]:
    """Auto-detect hex text or binary and decode: (devices, problems not tied to a device)."""
    text = _as_text(raw) if raw else None
    if text is not None:
        if _first_line_is_dump(text):
            return parse_hex_text(text, file)
        if "\n" in text:
            return [], [DumpProblem(file, 1, "text file whose first non-blank line is neither a "
                                    "device header nor a hex row: not an lspci -x dump")]
    dump = parse_binary(raw, file)
    if not dump.data:
        return [], list(dump.problems)
    return [dump], []


MAX_FILE_BYTES = 16 << 20   # far more than any lspci dump; stops /dev/zero and the like


def read_dump_file(path: str | Path) -> tuple[list[ConfigDump], list[DumpProblem]]:
    """Read one file (hex or binary, auto-detected). Raises :class:`DumpError` if unreadable."""
    name = str(path)
    try:
        with Path(path).open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise DumpError(name, e.strerror or str(e)) from None
    if len(raw) > MAX_FILE_BYTES:
        dumps, problems = parse_bytes(raw[:MAX_FILE_BYTES], name)
        problems.append(DumpProblem(name, 0, f"file longer than {MAX_FILE_BYTES} bytes: only "
                                             "the first part was read"))
        return dumps, problems
    return parse_bytes(raw, name)


def all_problems(dumps: Iterable[ConfigDump], loose: Iterable[DumpProblem] = ()) -> list[
        DumpProblem]:
    """Every problem, in file and line order."""
    out = list(loose)
    for d in dumps:
        out.extend(d.problems)
    return sorted(out, key=lambda p: (p.file, p.line))


# -- export -----------------------------------------------------------------------------------
def format_hex_dump(slot: str | Slot, header_line: str, data: bytes, size: int = 256) -> str:
    """``lspci -x`` (64), ``-xxx`` (256) or ``-xxxx`` (4096) text of one device.

    ``header_line`` is the text after the slot (a full line starting with the slot is accepted
    too). Exactly ``size`` bytes are written when ``data`` has them, fewer otherwise (a short
    dump, as ``lspci -F`` reads it back). The result ends with the blank line lspci prints.
    """
    if size not in STANDARD_SIZES:
        raise ValueError(f"size {size} is not 64, 256 or 4096")
    slot_s = slot.format() if isinstance(slot, Slot) else str(slot)
    head = header_line.strip()
    if head.split(" ", 1)[0] == slot_s:
        head = head[len(slot_s):].strip()
    out = [f"{slot_s} {head}".rstrip()]
    body = bytes(data[:size])
    for off in range(0, len(body), ROW_BYTES):
        row = " ".join(f"{b:02x}" for b in body[off:off + ROW_BYTES])
        out.append(f"{off:02x}: {row}")
    return "\n".join(out) + "\n\n"
