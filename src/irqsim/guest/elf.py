"""A minimal ELF reader: loadable segments, the entry point and the symbol table (ELF32 and
ELF64, little-endian; what multiboot images and flat binaries need)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from irqsim.guest import GuestError


@dataclass(slots=True)
class Segment:
    """A PT_LOAD segment: ``data`` at physical ``paddr``, zero-filled up to ``memsz``."""

    paddr: int
    data: bytes
    memsz: int


@dataclass(slots=True)
class ElfImage:
    """Entry point, segments and symbols (name -> value) of an executable."""

    entry: int
    segments: list[Segment]
    symbols: dict[str, int] = field(default_factory=dict)

    def symbol(self, name: str, file: str = "") -> int:
        """The value of ``name``; a :class:`GuestError` naming the file when it is absent."""
        try:
            return self.symbols[name]
        except KeyError:
            raise GuestError(f"{file or 'image'}: symbol {name!r} not found") from None


def read_elf(data: bytes, file: str = "") -> ElfImage:
    """Parse an ELF executable; a malformed one raises :class:`GuestError`."""
    if data[:4] != b"\x7fELF":
        raise GuestError(f"{file}: not an ELF file")
    cls, enc = data[4], data[5]
    if enc != 1 or cls not in (1, 2):
        raise GuestError(f"{file}: only little-endian ELF32/ELF64 images are supported")
    wide = cls == 2
    try:
        if wide:
            (entry, phoff, shoff) = struct.unpack_from("<QQQ", data, 24)
            phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", data, 54)
        else:
            (entry, phoff, shoff) = struct.unpack_from("<III", data, 24)
            phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", data, 42)
        segments = []
        for i in range(phnum):
            off = phoff + i * phentsize
            if wide:
                p_type, _, p_offset, _, p_paddr, p_filesz, p_memsz = struct.unpack_from(
                    "<IIQQQQQ", data, off)
            else:
                p_type, p_offset, _, p_paddr, p_filesz, p_memsz = struct.unpack_from(
                    "<IIIIII", data, off)
            if p_type == 1:
                segments.append(Segment(p_paddr, data[p_offset:p_offset + p_filesz], p_memsz))
        symbols: dict[str, int] = {}
        sections = []
        for i in range(shnum):
            off = shoff + i * shentsize
            if wide:
                _, sh_type, _, _, sh_offset, sh_size, sh_link, _, _, sh_entsize = \
                    struct.unpack_from("<IIQQQQIIQQ", data, off)
            else:
                _, sh_type, _, _, sh_offset, sh_size, sh_link, _, _, sh_entsize = \
                    struct.unpack_from("<IIIIIIIIII", data, off)
            sections.append((sh_type, sh_offset, sh_size, sh_link, sh_entsize))
        for sh_type, sh_offset, sh_size, sh_link, sh_entsize in sections:
            if sh_type != 2 or not sh_entsize:              # SHT_SYMTAB
                continue
            str_off = sections[sh_link][1]
            for j in range(sh_size // sh_entsize):
                e = sh_offset + j * sh_entsize
                if wide:
                    name, _, _, _, value, _ = struct.unpack_from("<IBBHQQ", data, e)
                else:
                    name, value, _, _, _, _ = struct.unpack_from("<IIIBBH", data, e)
                if name:
                    end = data.index(b"\0", str_off + name)
                    symbols.setdefault(data[str_off + name:end].decode("latin-1"), value)
    except (struct.error, ValueError, IndexError) as exc:
        raise GuestError(f"{file}: truncated or malformed ELF ({exc})") from None
    if not segments:
        raise GuestError(f"{file}: no loadable segment")
    return ElfImage(entry, segments, symbols)
