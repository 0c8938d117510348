"""``irqsim lspci FILE...``: decode configuration-space dumps as ``lspci -F FILE -vvv`` does.

Each FILE is hex text as ``lspci -x``/``-xxx``/``-xxxx`` print it, or raw binary as in
``/sys/bus/pci/devices/*/config`` (detected from the content). Devices of all files are listed
sorted by slot, as lspci sorts them. Problems go to stderr, one line each, as
``FILE:LINE: slot: message``. Exit status: 0 when every file decoded, 1 when some file gave no
device, 2 when nothing could be decoded.
"""

from __future__ import annotations

import click

from irqsim.formats.dumpfile import (
    ConfigDump,
    DumpError,
    DumpProblem,
    format_hex_dump,
    read_dump_file,
)
from irqsim.views.lspci import decode

EXIT_PARTIAL = 1
EXIT_NOTHING = 2


def hex_size(dump: ConfigDump, level: int) -> int:
    """Bytes ``-x`` shows: 256 (4096 from ``-xxxx``), cut back to what the dump holds as lspci."""
    n = dump.length
    if n < 64:
        return 0
    if level >= 4 and n >= 4096:
        return 4096
    if n >= 256:
        return 256
    cardbus = dump.data[0x0E] & 0x7F == 2
    return 128 if cardbus and n >= 128 else 64


def _where(dump: ConfigDump) -> str:
    return f"{dump.file}:{dump.line}" if dump.line else dump.file


@click.command("lspci")
@click.argument("files", nargs=-1, required=True)
@click.option("-x", "--hex", "hex_level", count=True,
              help="Also print the bytes as `lspci -xxx` does (256; -xxxx: 4096).")
def command(files: tuple[str, ...], hex_level: int) -> None:
    """Print what `lspci -F FILE -vvv` prints for each device in FILE... (hex or binary)."""
    dumps: list[ConfigDump] = []
    empty_files = 0
    for name in files:
        try:
            found, loose = read_dump_file(name)
        except DumpError as e:
            click.echo(f"irqsim lspci: {e}", err=True)
            empty_files += 1
            continue
        for p in loose:
            click.echo(f"irqsim lspci: {p}", err=True)
        if not found:
            if not loose:
                click.echo(f"irqsim lspci: {DumpProblem(name, 0, 'no device found')}", err=True)
            empty_files += 1
        dumps.extend(found)
    dumps.sort(key=lambda d: (d.slot.domain, d.slot.bus, d.slot.dev, d.slot.fn))
    show_domain = any(d.slot.domain for d in dumps)
    for dump in dumps:
        for p in dump.problems:
            click.echo(f"irqsim lspci: {p}", err=True)
        listing = decode(dump, show_domain=show_domain)
        for msg in listing.problems:
            click.echo(f"irqsim lspci: {_where(dump)}: {dump.slot.format(show_domain)}: {msg}",
                       err=True)
        out = listing.text
        if hex_level:
            size = hex_size(dump, hex_level)
            if size:
                rows = format_hex_dump(dump.slot, "", dump.data, size).split("\n", 1)[1]
                out += rows.rstrip("\n") + "\n"
        click.echo(out, nl=True)
    if not dumps:
        raise SystemExit(EXIT_NOTHING)
    if empty_files:
        raise SystemExit(EXIT_PARTIAL)
