"""Loading guest images: multiboot ELF (kvm-unit-tests) entered in long mode through a shim,
and flat 64-bit binaries.

Unicorn's 64-bit mode cannot return to 32-bit protected mode, so a multiboot image's 32-bit
``start`` cannot run. The loader writes what ``start``/``prepare_64`` would have set up and a
small 64-bit *shim* (real code, executed by Unicorn) replays the rest: it loads the image's
GDT, the data segments and GS base, enables PAE paging with the image's page tables and far-
returns to the image's ``start64`` (kvm-unit-tests x86/cstart64.S, x86/trampolines.S). An
application processor started by a SIPI enters ``ap_start64`` the same way, with the stack
``ap_start32`` would take from ``smp_stacktop``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from irqsim.guest import GuestError
from irqsim.guest.elf import ElfImage, read_elf
from irqsim.guest.memory import GuestRam

KERNEL_CS, KERNEL_DS = 0x08, 0x10
MSR_GS_BASE = 0xC0000101
MBI_ADDR = 0x7000               # multiboot information
INITRD_ADDR = 0x7800            # the environment "initrd" module
SHIM_ADDR = 0x6000              # one 256-byte shim per CPU from here
SHIM_SIZE = 0x100


def shim(gdt_descr: int, gs_base: int, stack: int, cr3: int, target: int) -> bytes:
    """64-bit code: lgdt, data segments, GS base, stack, PAE paging on, far return to target
    (SDM vol. 3A 9.8.5: CR4.PAE, CR3, then CR0.PG in IA-32e mode)."""
    if not (0 <= gdt_descr < 1 << 31 and 0 <= gs_base < 1 << 32):
        raise GuestError("image: GDT descriptor or per-CPU area above 2 GiB")
    return b"".join((
        b"\x0f\x01\x14\x25" + struct.pack("<I", gdt_descr),         # lgdt [gdt_descr]
        b"\x66\xb8" + struct.pack("<H", KERNEL_DS),                  # mov ax, KERNEL_DS
        b"\x8e\xd8\x8e\xc0\x8e\xe0\x8e\xe8\x8e\xd0",                 # mov ds/es/fs/gs/ss, ax
        b"\xb9" + struct.pack("<I", MSR_GS_BASE),                    # mov ecx, MSR_GS_BASE
        b"\xb8" + struct.pack("<I", gs_base),                        # mov eax, gs_base
        b"\x31\xd2\x0f\x30",                                         # xor edx, edx; wrmsr
        b"\x48\xbc" + struct.pack("<Q", stack),                      # mov rsp, stack
        b"\x0f\x20\xe0\x83\xc8\x20\x0f\x22\xe0",                     # cr4 |= PAE
        b"\x48\xb8" + struct.pack("<Q", cr3) + b"\x0f\x22\xd8",      # cr3 = page tables
        b"\x0f\x20\xc0\x0d\x01\x00\x00\x80\x0f\x22\xc0",             # cr0 |= PE | PG
        b"\x6a" + bytes((KERNEL_CS,)),                               # push KERNEL_CS
        b"\x48\xb8" + struct.pack("<Q", target) + b"\x50",           # push target
        b"\x48\xcb",                                                 # lretq
    ))


@dataclass(slots=True)
class Loaded:
    """What the runner needs of a loaded image."""

    file: str
    image: ElfImage | None
    entry: int                  # where the BSP starts (a shim or the flat binary)
    multiboot: bool


def load_multiboot(ram: GuestRam, data: bytes, file: str, env: str = "") -> Loaded:
    """Load a kvm-unit-tests-style multiboot ELF and build the BSP's entry shim."""
    img = read_elf(data, file)
    for seg in img.segments:
        if seg.paddr + seg.memsz > ram.size:
            raise GuestError(f"{file}: segment at {seg.paddr:#x} ({seg.memsz} bytes) does not "
                             f"fit in {ram.size >> 20} MiB of guest RAM")
        ram.write_bytes(seg.paddr, seg.data)
    sym = img.symbol
    # Multiboot information (Multiboot 0.6.96, 3.3): flags, mem_lower/upper (KiB), cmdline,
    # modules (an environment file as kvm-unit-tests' initrd).
    cmdline = MBI_ADDR + 0x100
    ram.write_bytes(cmdline, b"\0")
    mods_count = 0
    if env:
        text = env.encode() + b"\0"
        ram.write_bytes(INITRD_ADDR + 16, text)
        ram.write_bytes(INITRD_ADDR, struct.pack("<IIII", INITRD_ADDR + 16,
                                                 INITRD_ADDR + 16 + len(text) - 1, 0, 0))
        mods_count = 1
    ram.write_bytes(MBI_ADDR, struct.pack("<IIIIII", 1 | 4 | 8, 640,
                                          (ram.size >> 10) - 1024, 0, cmdline, mods_count))
    ram.write_bytes(MBI_ADDR + 24, struct.pack("<I", INITRD_ADDR))
    ram.write(sym("mb_boot_info", file), 8, MBI_ADDR)
    stacktop = sym("stacktop", file)
    per_cpu = sym("per_cpu_size", file)
    cr3 = ram.read(sym("pt_root", file), 8)
    code = shim(sym("gdt_descr", file), stacktop - per_cpu, stacktop, cr3,
                sym("start64", file))
    ram.write_bytes(SHIM_ADDR, code)
    return Loaded(file, img, SHIM_ADDR, True)


def ap_entry(ram: GuestRam, loaded: Loaded, index: int) -> int:
    """Build CPU ``index``'s start-up shim (what ``ap_start32`` does) and return its address."""
    img = loaded.image
    assert img is not None
    sym = img.symbol
    per_cpu = sym("per_cpu_size", loaded.file)
    top_addr = sym("smp_stacktop", loaded.file)
    stack = ram.read(top_addr, 4)                        # lock xadd %esp, smp_stacktop
    ram.write(top_addr, 4, stack - per_cpu)
    cr3 = ram.read(sym("pt_root", loaded.file), 8)
    addr = SHIM_ADDR + SHIM_SIZE * index
    ram.write_bytes(addr, shim(sym("gdt_descr", loaded.file), stack - per_cpu, stack, cr3,
                               sym("ap_start64", loaded.file)))
    return addr


def load_flat(ram: GuestRam, data: bytes, file: str, address: int) -> Loaded:
    """A flat 64-bit binary at ``address``, entered at its first byte (docs/guest.md gives the
    minimal runtime such a routine can expect)."""
    if address + len(data) > ram.size:
        raise GuestError(f"{file}: {len(data)} bytes at {address:#x} do not fit in guest RAM")
    ram.write_bytes(address, data)
    return Loaded(file, None, address, False)
