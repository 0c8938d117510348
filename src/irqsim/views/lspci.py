"""``lspci -vvv`` lines for a configuration-space dump, as pciutils 3.9 prints them with ``-F``.

Printed, character for character as ``lspci -F FILE -vvv`` (pciutils 3.9.0) prints them: the
device header line (class name from the class table in ``pci_classes.ids``; vendor and device as
``Device vvvv:dddd``, as lspci prints IDs its pci.ids does not know), ``Subsystem``, ``Control``,
``Status``, ``Latency``, ``Interrupt``, ``BIST``, ``Region`` lines, ``Expansion ROM``, the bridge
(type 1) and CardBus (type 2) window lines, and every capability (standard and extended) with
the sub-lines lspci prints for it (docs/lspci.md lists them; ``views/lspci_caps.py`` decodes
them from ``irqsim.spec.pcie``). Structural defects (looping or out-of-range capability pointers,
capabilities cut off by the end of the dump) are reported as problems beside the lines.

The class, subclass and programming-interface names are the class section (``C`` lines) of the
PCI ID database (pci.ids 2023.04.10, https://pci-ids.ucw.cz/, Martin Mares and Albert Pool,
distributed under GPL-2.0-or-later or BSD-3-Clause), which is what lspci 3.9 prints; the
package ships it as ``pci_classes.ids`` in pci.ids syntax.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources

from irqsim.formats.dumpfile import ConfigDump, Slot
from irqsim.spec.pci import (
    BRIDGE_CONTROL,
    CAP_ID_MSI,
    CAP_ID_MSIX,
    CAPABILITIES_POINTER,
    CB_BRIDGE_CONTROL,
    COMMAND,
    EXPANSION_ROM,
    HEADER_TYPE,
    INTERRUPT_LINE,
    INTERRUPT_PIN,
    SECONDARY_STATUS,
    STATUS,
)
from irqsim.spec.pci import MSI_MESSAGE_ADDRESS as MSI_ADDRESS
from irqsim.spec.pci import MSI_MESSAGE_CONTROL as MSI_CONTROL
from irqsim.spec.pci import MSIX_MESSAGE_CONTROL as MSIX_CONTROL
from irqsim.spec.pci import MSIX_PBA_OFFSET as MSIX_PBA
from irqsim.spec.pci import MSIX_TABLE_OFFSET as MSIX_TABLE
from irqsim.spec.regs import Register
from irqsim.views import lspci_caps as caps

# The register layouts are the model's own (irqsim.spec.pci, PCI Local Bus 3.0 6.8, PCIe Base
# 7.5.1.3 and 7.7.1-7.7.2): lspci prints every declared field whatever its access rule.
STATUS_UDF = STATUS.field("udf")
CMD_IO = COMMAND.field("io_space").mask
CMD_MEM = COMMAND.field("memory_space").mask
CMD_MASTER = COMMAND.field("bus_master").mask
STATUS_CAPS = STATUS.field("capabilities_list").mask
_DEVSEL = ("fast", "medium", "slow", "??")
ROM_ADDRESS_MASK = 0xFFFFF800
EXT_CAP_BASE = 0x100
HEADER_END = 0x40


def _flag(value: int, mask: int) -> str:
    return "+" if value & mask else "-"


def _flags(value: int, reg: Register, names: Iterable[tuple[str, str]]) -> str:
    """``Name+ Name- ...`` for (label, field name) pairs of ``reg``."""
    return " ".join(f"{label}{_flag(value, reg.field(fname).mask)}" for label, fname in names)


# -- names --------------------------------------------------------------------------------------
def class_name(class_code: int) -> str:
    """Class name as lspci prints it: subclass name, ``Base [cccc]`` or ``Class cccc``."""
    key = f"{class_code:04x}"
    if key in _CLASS_NAMES:
        return _CLASS_NAMES[key]
    base = _CLASS_NAMES.get(key[:2])
    return f"{base} [{key}]" if base else f"Class {key}"


def progif_name(class_code: int, progif: int) -> str | None:
    """Programming-interface name, with lspci's built-in decoding of IDE (0101) interfaces."""
    name = _CLASS_NAMES.get(f"{class_code:04x}{progif:02x}")
    if name is None and class_code == 0x0101 and not progif & 0x70:
        bits = ((0x80, "Master"), (0x08, "SecP"), (0x04, "SecO"), (0x02, "PriP"), (0x01, "PriO"))
        name = " ".join(n for m, n in bits if progif & m) or None
    return name


def device_name(vendor: int, device: int) -> str:
    """Vendor and device as lspci prints IDs unknown to its pci.ids."""
    return f"Device {vendor:04x}:{device:04x}"


# -- decoding -----------------------------------------------------------------------------------
@dataclass(slots=True)
class Listing:
    """lspci's text for one device (``text`` ends as lspci leaves it) and decode problems."""

    text: str
    problems: list[str] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        """Lines split at ``\n`` only (a pin letter past ``Z`` may be any byte, as in lspci)."""
        lines = self.text.split("\n")
        return lines[:-1] if lines[-1] == "" else lines


class _Dev:
    """Config bytes with lspci's access rules: bytes past the dump's end read as ``0xff``."""

    def __init__(self, data: bytes) -> None:
        self.data = bytes(data[:4096])
        self.n = len(self.data)
        self.out: list[str] = []
        self.problems: list[str] = []
        self.devfn = (0, 0)          # (device, function) of the slot
        self.exp_type = -1           # PCI Express device/port type, once the capability is read

    def byte(self, off: int) -> int:
        return self.data[off] if 0 <= off < self.n else 0xFF

    def word(self, off: int) -> int:
        """A 16-bit read: all ones unless both bytes are in the dump (as libpci reads)."""
        if not self.fetch(off, 2):
            return 0xFFFF
        return self.data[off] | self.data[off + 1] << 8

    def long(self, off: int) -> int:
        """A 32-bit read: all ones unless all four bytes are in the dump."""
        if not self.fetch(off, 4):
            return 0xFFFFFFFF
        return int.from_bytes(self.data[off:off + 4], "little")

    def fetch(self, off: int, length: int) -> bool:
        """True when ``length`` bytes at ``off`` are in the dump (lspci's config_fetch)."""
        return off >= 0 and off + length <= self.n

    def w(self, text: str) -> None:
        self.out.append(text)

    def problem(self, text: str) -> None:
        self.problems.append(text)


def decode(dump: ConfigDump | bytes, slot: Slot | str | None = None,
           show_domain: bool | None = None) -> Listing:
    """lspci -vvv text and problems for one function's configuration bytes."""
    if isinstance(dump, ConfigDump):
        data, slot = dump.data, dump.slot if slot is None else slot
    else:
        data = bytes(dump)
    if slot is None:
        slot = Slot()
    elif isinstance(slot, str):
        slot = Slot.parse(slot) or Slot()
    d = _Dev(data)
    d.devfn = (slot.dev, slot.fn)
    _show_verbose(d, slot.format(show_domain))
    return Listing("".join(d.out), d.problems)


def format_device(dump: ConfigDump | bytes, slot: Slot | str | None = None,
                  show_domain: bool | None = None) -> list[str]:
    """The lines ``lspci -F FILE -vvv`` prints for one device (without the blank line after)."""
    return decode(dump, slot, show_domain).lines


def render(dumps: Iterable[ConfigDump]) -> str:
    """Whole ``lspci -vvv`` output for ``dumps`` in the given order, blank line after each.

    As lspci, every slot shows its domain when any device has a non-zero domain.
    """
    dumps = list(dumps)
    show_domain = any(d.slot.domain for d in dumps)
    return "".join(decode(d, show_domain=show_domain).text + "\n" for d in dumps)


# -- header ---------------------------------------------------------------------------------------
def _show_terse(d: _Dev, slot_text: str) -> None:
    cls = d.word(0x0A)
    d.w(f"{slot_text} {class_name(cls)}: {device_name(d.word(0x00), d.word(0x02))}")
    rev = d.byte(0x08)
    if rev:
        d.w(f" (rev {rev:02x})")
    pif = d.byte(0x09)
    pname = progif_name(cls, pif)
    if pif or pname:
        d.w(f" (prog-if {pif:02x}" + (f" [{pname}]" if pname else "") + ")")
    d.w("\n")


def _show_verbose(d: _Dev, slot_text: str) -> None:
    _show_terse(d, slot_text)
    no_config = d.n < HEADER_END
    if no_config:
        d.problem(f"only {d.n} of 64 header bytes: Control, Status and capabilities unreadable")
    lib_htype = d.byte(HEADER_TYPE.offset) & 0x7F
    htype = 0 if no_config else lib_htype
    cls = d.word(0x0A)
    unknown = False
    min_gnt = max_lat = bist = 0
    _show_subsystem(d, lib_htype)
    if not no_config:
        if htype == 0:
            if cls == 0x0604:
                d.w(f"\t!!! Invalid class {cls:04x} for header type {htype:02x}\n")
            bist, min_gnt, max_lat = d.byte(0x0F), d.byte(0x3E), d.byte(0x3F)
        elif htype in (1, 2):
            if cls >> 8 != 0x06:
                d.w(f"\t!!! Invalid class {cls:04x} for header type {htype:02x}\n")
            bist = d.byte(0x0F)
        else:
            d.w(f"\t!!! Unknown header type {htype:02x}\n")
            d.problem(f"unknown header type {htype:02x}: header not decoded")
            unknown = True
    if not unknown and not no_config:
        _show_control_status(d, min_gnt, max_lat)
    pin = 0 if (unknown or no_config) else d.byte(INTERRUPT_PIN.offset)
    irq = d.byte(INTERRUPT_LINE.offset)
    if pin or irq:
        pin_c = chr((ord("A") + pin - 1) & 0xFF) if pin else "?"  # a C char, as lspci
        d.w(f"\tInterrupt: pin {pin_c} routed to IRQ {irq}\n")
    if unknown:
        return
    if bist & 0x80:
        d.w("\tBIST is running\n" if bist & 0x40 else f"\tBIST result: {bist & 0x0F:02x}\n")
    if no_config:
        _show_bases(d, _bar_count(lib_htype), without_config=True)
        if lib_htype in (0, 1):
            rom_reg = EXPANSION_ROM.offset if lib_htype == 0 else 0x38
            _show_rom(d, rom_reg, without_config=True)
        return
    if htype == 0:
        _show_bases(d, 6)
        _show_rom(d, EXPANSION_ROM.offset)
        _show_caps(d, CAPABILITIES_POINTER.offset)
    elif htype == 1:
        _show_htype1(d)
    else:
        _show_htype2(d)


def _bar_count(htype: int) -> int:
    return {0: 6, 1: 2, 2: 1}.get(htype, 0)


def _show_subsystem(d: _Dev, htype: int) -> None:
    sv = sd = 0
    if htype == 0:
        sv, sd = d.word(0x2C), d.word(0x2E)
    elif htype == 2:
        sv, sd = d.word(0x40), d.word(0x42)
    elif htype == 1:
        found = [off for off, cid in _lib_caps(d) if cid == 0x0D]
        if found:  # libpci uses the first one in chain order
            sv, sd = d.word(found[0] + 4), d.word(found[0] + 6)
    if sv and sv != 0xFFFF:
        d.w(f"\tSubsystem: {device_name(sv, sd)}\n")


def _lib_caps(d: _Dev) -> list[tuple[int, int]]:
    """(offset, id) as libpci scans the standard list (reads past the dump give 0xff)."""
    out: list[tuple[int, int]] = []
    if not d.word(0x06) & STATUS_CAPS:
        return out
    seen: set[int] = set()
    where = d.byte(0x34) & ~3
    while where and where not in seen:
        seen.add(where)
        cid = d.byte(where)
        if cid == 0xFF:
            break
        out.append((where, cid))
        where = d.byte(where + 1) & ~3
    return out


def _show_control_status(d: _Dev, min_gnt: int, max_lat: int) -> None:
    cmd, status = d.word(COMMAND.offset), d.word(STATUS.offset)
    d.w("\tControl: " + _flags(cmd, COMMAND, (
        ("I/O", "io_space"), ("Mem", "memory_space"), ("BusMaster", "bus_master"),
        ("SpecCycle", "special_cycles"), ("MemWINV", "mwi"), ("VGASnoop", "vga_snoop"),
        ("ParErr", "parity_error_response"), ("Stepping", "idsel_stepping"), ("SERR", "serr"),
        ("FastB2B", "fast_b2b"), ("DisINTx", "interrupt_disable"))) + "\n")
    devsel = _DEVSEL[STATUS.field("devsel_timing").get(status)]
    d.w(f"\tStatus: Cap{_flag(status, STATUS_CAPS)} "
        f"66MHz{_flag(status, STATUS.field('mhz66').mask)} "
        f"UDF{_flag(status, STATUS_UDF.mask)} "
        f"FastB2B{_flag(status, STATUS.field('fast_b2b').mask)} "
        f"ParErr{_flag(status, STATUS.field('master_data_parity_error').mask)} "
        f"DEVSEL={devsel} " + _flags(status, STATUS, (
            (">TAbort", "signaled_target_abort"), ("<TAbort", "received_target_abort"),
            ("<MAbort", "received_master_abort"), (">SERR", "signaled_system_error"),
            ("<PERR", "detected_parity_error"), ("INTx", "interrupt_status"))) + "\n")
    if cmd & CMD_MASTER:
        line = f"\tLatency: {d.byte(0x0D)}"
        if min_gnt or max_lat:
            parts = []
            if min_gnt:
                parts.append(f"{min_gnt * 250}ns min")
            if max_lat:
                parts.append(f"{max_lat * 250}ns max")
            line += " (" + ", ".join(parts) + ")"
        cls = d.byte(0x0C)
        if cls:
            line += f", Cache Line Size: {cls * 4} bytes"
        d.w(line + "\n")


# -- BARs and ROM ---------------------------------------------------------------------------------
def _lib_bases(d: _Dev, cnt: int, quiet: bool = False) -> list[int]:
    """BAR addresses as libpci's generic fill sees them: a 64-bit BAR's upper half stays 0."""
    base = [0] * 6
    i = 0
    while i < cnt:
        x = d.long(0x10 + 4 * i)
        if x and x != 0xFFFFFFFF:
            if x & 1 or (x >> 1) & 3 != 2:
                base[i] = x
            elif i < cnt - 1:
                i += 1
                base[i - 1] = x | d.long(0x10 + 4 * i) << 32
            elif not quiet:
                d.problem(f"BAR {i}: 64-bit BAR in the last BAR slot")
        i += 1
    return base


def _show_bases(d: _Dev, cnt: int, without_config: bool = False) -> None:
    """Region lines; the upper half of a 64-bit BAR is listed again when non-zero (as lspci)."""
    bases = _lib_bases(d, cnt)
    cmd = (CMD_IO | CMD_MEM) if without_config else d.word(COMMAND.offset)
    for i in range(cnt):
        pos = bases[i]
        flg = 0 if without_config else d.long(0x10 + 4 * i)
        if flg == 0xFFFFFFFF:
            flg = 0
        if not pos and not flg:
            continue
        d.w(f"\tRegion {i}: ")
        if flg & 1:
            a = pos & ~3 & 0xFFFFFFFF
            d.w("I/O ports at " + (f"{a:04x}" if a or cmd & CMD_IO else "<unassigned>"))
            if not cmd & CMD_IO:
                d.w(" [disabled]")
        else:
            t = (flg >> 1) & 3
            a = pos & ~0xF
            kind = ("32-bit", "low-1M", "64-bit", "type 3")[t]
            pref = "" if flg & 8 else "non-"
            d.w(f"Memory at {a:08x}" if a else "Memory at <unassigned>")
            d.w(f" ({kind}, {pref}prefetchable)")
            if not cmd & CMD_MEM:
                d.w(" [disabled]")
        d.w("\n")


def _show_rom(d: _Dev, reg: int, without_config: bool = False) -> None:
    raw = d.long(reg)
    rom = 0 if raw == 0xFFFFFFFF else raw
    flg = 0 if without_config else raw
    cmd = d.word(COMMAND.offset)
    if not rom and not flg:
        return
    d.w("\tExpansion ROM at ")
    if rom & ROM_ADDRESS_MASK:
        d.w(f"{rom & ROM_ADDRESS_MASK:08x}")
    elif flg & ROM_ADDRESS_MASK:
        d.w("<ignored>")
    else:
        d.w("<unassigned>")
    if not flg & 1:
        d.w(" [disabled]")
    elif not cmd & CMD_MEM:
        d.w(" [disabled by cmd]")
    d.w("\n")


# -- bridges --------------------------------------------------------------------------------------
def _show_size(x: int) -> str:
    """`` [size=34M]`` as lspci prints a u64 size (a full 2^64 range wraps to 0: nothing)."""
    x &= (1 << 64) - 1
    if not x:
        return ""
    suffix = ("", "K", "M", "G", "T")
    i = 0
    while i < len(suffix) - 1 and not x % 1024:
        x //= 1024
        i += 1
    return f" [size={x & 0xFFFFFFFF}{suffix[i]}]"


def _show_range(d: _Dev, prefix: str, base: int, limit: int, bits: int) -> None:
    width = (bits + 3) // 4
    text = f"{prefix}: {base:0{width}x}-{limit:0{width}x}"
    text += _show_size(limit - base + 1) if base <= limit else " [disabled]"
    d.w(f"{text} [{bits}-bit]\n")


def _show_htype1(d: _Dev) -> None:
    io_base, io_limit = d.byte(0x1C), d.byte(0x1D)
    io_type = io_base & 0x0F
    mem_base, mem_limit = d.word(0x20), d.word(0x22)
    mem_type = mem_base & 0x0F
    pref_base, pref_limit = d.word(0x24), d.word(0x26)
    pref_type = pref_base & 0x0F
    _show_bases(d, 2)
    d.w(f"\tBus: primary={d.byte(0x18):02x}, secondary={d.byte(0x19):02x}, "
        f"subordinate={d.byte(0x1A):02x}, sec-latency={d.byte(0x1B)}\n")
    if io_type != io_limit & 0x0F or io_type not in (0, 1):
        d.w(f"\t!!! Unknown I/O range types {io_base:x}/{io_limit:x}\n")
    else:
        base = (io_base & 0xF0) << 8
        limit = (io_limit & 0xF0) << 8
        if io_type == 1:
            base |= d.word(0x30) << 16
            limit |= d.word(0x32) << 16
        _show_range(d, "\tI/O behind bridge", base, limit + 0xFFF, 32 if io_type else 16)
    if mem_type != mem_limit & 0x0F or mem_type:
        d.w(f"\t!!! Unknown memory range types {mem_base:x}/{mem_limit:x}\n")
    else:
        _show_range(d, "\tMemory behind bridge", (mem_base & 0xFFF0) << 16,
                    ((mem_limit & 0xFFF0) << 16) + 0xFFFFF, 32)
    if pref_type != pref_limit & 0x0F or pref_type not in (0, 1):
        d.w(f"\t!!! Unknown prefetchable memory range types {pref_base:x}/{pref_limit:x}\n")
    else:
        base = (pref_base & 0xFFF0) << 16
        limit = (pref_limit & 0xFFF0) << 16
        if pref_type == 1:
            base |= d.long(0x28) << 32
            limit |= d.long(0x2C) << 32
        _show_range(d, "\tPrefetchable memory behind bridge", base, limit + 0xFFFFF,
                    64 if pref_type else 32)
    sec = d.word(SECONDARY_STATUS.offset)
    devsel = _DEVSEL[SECONDARY_STATUS.field("devsel_timing").get(sec)]
    d.w("\tSecondary status: " + _flags(sec, SECONDARY_STATUS, (
        ("66MHz", "mhz66"), ("FastB2B", "fast_b2b"), ("ParErr", "master_data_parity_error")))
        + f" DEVSEL={devsel} " + _flags(sec, SECONDARY_STATUS, (
            (">TAbort", "signaled_target_abort"), ("<TAbort", "received_target_abort"),
            ("<MAbort", "received_master_abort"), ("<SERR", "received_system_error"),
            ("<PERR", "detected_parity_error"))) + "\n")
    _show_rom(d, 0x38)
    brc = d.word(BRIDGE_CONTROL.offset)
    d.w("\tBridgeCtl: " + _flags(brc, BRIDGE_CONTROL, (
        ("Parity", "parity_error_response"), ("SERR", "serr"), ("NoISA", "isa"), ("VGA", "vga"),
        ("VGA16", "vga16"), ("MAbort", "master_abort_mode"), (">Reset", "secondary_bus_reset"),
        ("FastB2B", "fast_b2b"))) + "\n")
    d.w("\t\t" + _flags(brc, BRIDGE_CONTROL, (
        ("PriDiscTmr", "primary_discard_timeout"), ("SecDiscTmr", "secondary_discard_timeout"),
        ("DiscTmrStat", "discard_timer_status"), ("DiscTmrSERREn", "discard_timer_serr"))) + "\n")
    _show_caps(d, CAPABILITIES_POINTER.offset)


def _show_htype2(d: _Dev) -> None:
    cmd = d.word(COMMAND.offset)
    brc = d.word(CB_BRIDGE_CONTROL.offset)
    _show_bases(d, 1)
    d.w(f"\tBus: primary={d.byte(0x18):02x}, secondary={d.byte(0x19):02x}, "
        f"subordinate={d.byte(0x1A):02x}, sec-latency={d.byte(0x1B)}\n")
    for i in range(2):
        base = d.long(0x1C + 8 * i)
        limit = (d.long(0x20 + 8 * i) + 0xFFF) & 0xFFFFFFFF
        d.w(f"\tMemory window {i}: {base:08x}-{limit:08x}"
            + ("" if cmd & CMD_MEM else " [disabled]")
            + (" (prefetchable)" if brc & (0x100 << i) else "") + "\n")
    for i in range(2):
        base = d.long(0x2C + 8 * i)
        limit = d.long(0x30 + 8 * i)
        if not base & 1:
            base &= 0xFFFF
            limit &= 0xFFFF
        base &= ~3
        limit = ((limit & ~3) + 3) & 0xFFFFFFFF
        d.w(f"\tI/O window {i}: {base:08x}-{limit:08x}"
            + ("" if cmd & CMD_IO else " [disabled]") + "\n")
    if d.word(0x16) & 0x4000:
        d.w("\tSecondary status: SERR\n")
    d.w("\tBridgeCtl: " + _flags(brc, CB_BRIDGE_CONTROL, (
        ("Parity", "parity"), ("SERR", "serr"), ("ISA", "isa"), ("VGA", "vga"),
        ("MAbort", "master_abort"), (">Reset", "reset"), ("16bInt", "int16"),
        ("PostWrite", "post_writes"))) + "\n")
    if d.n < 128:
        d.w("\t<access denied to the rest>\n")
        d.problem(f"CardBus header needs 128 bytes, dump has {d.n}")
        return
    exca = d.word(0x44)
    if exca:
        d.w(f"\t16-bit legacy interface ports at {exca:04x}\n")
    _show_caps(d, 0x14)


# -- capabilities ---------------------------------------------------------------------------------
_SIMPLE_CAPS: dict[int, str] = {
    0x00: "Null",
    0x03: "Vital Product Data",
    0x06: "CompactPCI hot-swap <?>",
    0x0B: "CompactPCI central resource control <?>",
    0x0C: "Hot-plug capable",
    0x0E: "AGP3 <?>",
    0x0F: "Secure device <?>",
    0x13: "PCI Advanced Features",
}

_HT_TYPES: dict[int, str] = {
    0x08: "Switch", 0x10: "Interrupt Discovery and Configuration", 0x12: "UnitID Clumping",
    0x13: "Extended Configuration Space Access", 0x14: "Address Mapping", 0x16: "DirectRoute",
    0x17: "VCSet", 0x18: "Retry Mode", 0x19: "X86 (reserved)",
}

_EXP_TYPES: dict[int, str] = {
    0x0: "Endpoint", 0x1: "Legacy Endpoint", 0x4: "Root Port", 0x5: "Upstream Port",
    0x6: "Downstream Port", 0x7: "PCI-Express to PCI/PCI-X Bridge",
    0x8: "PCI/PCI-X to PCI-Express Bridge", 0x9: "Root Complex Integrated Endpoint",
    0xA: "Root Complex Event Collector",
}
_EXP_SLOT_TYPES = frozenset({0x4, 0x6, 0x8})

_EXT_CAPS: dict[int, str] = {
    0x00: "Null", 0x01: "Advanced Error Reporting", 0x02: "Virtual Channel",
    0x04: "Power Budgeting <?>", 0x05: "Root Complex Link",
    0x06: "Root Complex Internal Link <?>",
    0x07: "Root Complex Event Collector Endpoint Association",
    0x08: "Multi-Function Virtual Channel <?>", 0x09: "Virtual Channel",
    0x0A: "Root Complex Register Block <?>", 0x0D: "Access Control Services",
    0x0E: "Alternative Routing-ID Interpretation (ARI)",
    0x0F: "Address Translation Service (ATS)",
    0x10: "Single Root I/O Virtualization (SR-IOV)",
    0x11: "Multi-Root I/O Virtualization <?>", 0x12: "Multicast",
    0x13: "Page Request Interface (PRI)", 0x15: "Physical Resizable BAR",
    0x16: "Dynamic Power Allocation <?>", 0x17: "Transaction Processing Hints",
    0x18: "Latency Tolerance Reporting", 0x19: "Secondary PCI Express",
    0x1A: "Protocol Multiplexing <?>", 0x1B: "Process Address Space ID (PASID)",
    0x1C: "LN Requester <?>", 0x1D: "Downstream Port Containment", 0x1E: "L1 PM Substates",
    0x1F: "Precision Time Measurement", 0x20: "PCI Express over M_PHY <?>",
    0x21: "FRS Queueing <?>", 0x22: "Readiness Time Reporting <?>",
    0x24: "Virtual Resizable BAR", 0x25: "Data Link Feature <?>",
    0x26: "Physical Layer 16.0 GT/s <?>", 0x27: "Lane Margining at the Receiver <?>",
    0x28: "Hierarchy ID <?>", 0x29: "Native PCIe Enclosure Management <?>",
    0x2E: "Data Object Exchange",
}


def _show_caps(d: _Dev, ptr_reg: int) -> None:
    """Walk the standard list from the pointer at ``ptr_reg`` as lspci does, loop-safe."""
    can_have_ext = False
    if d.word(STATUS.offset) & STATUS_CAPS:
        where = d.byte(ptr_reg) & ~3
        seen: set[int] = set()
        while where:
            d.w("\tCapabilities: ")
            if not d.fetch(where, 4):
                d.w("<access denied>\n")
                if d.n > HEADER_END:
                    d.problem(f"capability pointer {where:02x} points past the end of the "
                              f"dump ({d.n} bytes)")
                else:
                    d.problem(f"capabilities (first at {where:02x}) are not in a {d.n}-byte "
                              "dump: not decoded")
                break
            cid, nxt, cap = d.byte(where), d.byte(where + 1) & ~3, d.word(where + 2)
            d.w(f"[{where:02x}] ")
            if where in seen:
                d.w("<chain looped>\n")
                d.problem(f"capability list loops back to {where:02x}")
                break
            seen.add(where)
            if cid == 0xFF:
                d.w("<chain broken>\n")
                d.problem(f"capability at {where:02x} has ID ff: chain broken")
                break
            if where < HEADER_END:
                d.problem(f"capability pointer {where:02x} points into the header (below 40)")
            if cid in (0x07, 0x10):
                can_have_ext = True
            _show_cap(d, where, cid, cap)
            where = nxt
    if can_have_ext:
        _show_ext_caps(d)


def _show_cap(d: _Dev, where: int, cid: int, cap: int) -> None:
    """The first line (and, for MSI and MSI-X, the sub-lines) of one standard capability."""
    if cid == 0x03:
        caps.cap_vpd(d)
    elif cid == 0x13:
        caps.cap_af(d, where)
    elif cid in _SIMPLE_CAPS:
        d.w(_SIMPLE_CAPS[cid] + "\n")
    elif cid == 0x01:
        caps.cap_pm(d, where, cap)
    elif cid == 0x02:
        caps.cap_agp(d, where, cap)
    elif cid == 0x04:
        esr, chassis = cap & 0xFF, cap >> 8
        d.w(f"Slot ID: {esr & 0x1F} slots, First{_flag(esr, 0x20)}, chassis {chassis:02x}\n")
    elif cid == CAP_ID_MSI:
        _cap_msi(d, where, cap)
    elif cid == 0x07:
        htype = d.byte(HEADER_TYPE.offset) & 0x7F
        if htype == 0:
            caps.cap_pcix_nobridge(d, where)
        elif htype == 1:
            d.w("PCI-X bridge device\n")
    elif cid == 0x08:
        _cap_ht(d, where, cap)
    elif cid == 0x09:
        _cap_vendor(d, where, cap)
    elif cid == 0x0A:
        d.w(f"Debug port: BAR={cap >> 13} offset={cap & 0x1FFF:04x}\n")
    elif cid == 0x0D:
        if _need(d, where, 8, "Subsystem ID"):
            d.w(f"Subsystem: {device_name(d.word(where + 4), d.word(where + 6))}\n")
    elif cid == 0x10:
        htype = d.byte(HEADER_TYPE.offset) & 0x7F
        has_mem = any(b and not b & 1 for b in _lib_bases(d, _bar_count(htype), quiet=True))
        d.exp_type = caps.cap_express(d, where, cap, has_mem, d.devfn)
    elif cid == CAP_ID_MSIX:
        _cap_msix(d, where, cap)
    elif cid == 0x12:
        _cap_sata(d, where, cap)
    elif cid == 0x14:
        _cap_ea(d, where, cap)
    else:
        d.w(f"Capability ID {cid:#x} [{cap:04x}]\n")


def _need(d: _Dev, off: int, length: int, what: str) -> bool:
    """Fetch ``length`` bytes at ``off``; record a problem when the dump ends before them."""
    if d.fetch(off, length):
        return True
    d.problem(f"{what} at {off:02x}: {length} bytes run past the end of the dump ({d.n} bytes)")
    return False


def _cap_msi(d: _Dev, where: int, cap: int) -> None:
    ctl = MSI_CONTROL.decode(cap)
    is64 = ctl["addr64"]
    maskable = "+" if ctl["per_vector_masking"] else "-"
    d.w(f"MSI: Enable{_flag(cap, 1)} Count={1 << ctl['multiple_message_enable']}"
        f"/{1 << ctl['multiple_message_capable']} Maskable{maskable}"
        f" 64bit{'+' if is64 else '-'}\n")
    addr = where + MSI_ADDRESS.offset
    data_off = where + (0x0C if is64 else 0x08)
    if not _need(d, addr, data_off + 2 - addr, f"MSI capability [{where:02x}] address/data"):
        return
    if is64:
        d.w(f"\t\tAddress: {d.long(addr + 4):08x}{d.long(addr):08x}")
    else:
        d.w(f"\t\tAddress: {d.long(addr):08x}")
    d.w(f"  Data: {d.word(data_off):04x}\n")
    if ctl["per_vector_masking"]:
        mask = where + (0x10 if is64 else 0x0C)
        if not _need(d, mask, 8, f"MSI capability [{where:02x}] mask/pending"):
            return
        d.w(f"\t\tMasking: {d.long(mask):08x}  Pending: {d.long(mask + 4):08x}\n")


def _cap_msix(d: _Dev, where: int, cap: int) -> None:
    ctl = MSIX_CONTROL.decode(cap)
    d.w(f"MSI-X: Enable{'+' if ctl['enable'] else '-'} Count={ctl['table_size'] + 1} "
        f"Masked{'+' if ctl['function_mask'] else '-'}\n")
    if not _need(d, where + MSIX_TABLE.offset, 8, f"MSI-X capability [{where:02x}] table/PBA"):
        return
    for label, reg in (("Vector table", MSIX_TABLE), ("PBA", MSIX_PBA)):
        v = d.long(where + reg.offset)
        bir = reg.field("bir")
        d.w(f"\t\t{label}: BAR={bir.get(v)} offset={v & ~bir.mask & 0xFFFFFFFF:08x}\n")


def _cap_ht(d: _Dev, where: int, cap: int) -> None:
    if cap & 0xE000 == 0x0000:
        caps.cap_ht_primary(d, where, cap)
    elif cap & 0xE000 == 0x2000:
        d.w("HyperTransport: Host or Secondary Interface\n")
    else:
        t = cap >> 11
        if t == 0x11:
            d.w(f"HyperTransport: Revision ID: {(cap & 0xE0) >> 5}.{cap & 0x1F:02d}\n")
        elif t == 0x15:
            d.w(f"HyperTransport: MSI Mapping Enable{_flag(cap, 1)} Fixed{_flag(cap, 2)}\n")
        elif t in _HT_TYPES:
            d.w(f"HyperTransport: {_HT_TYPES[t]}\n")
        else:
            d.w(f"HyperTransport: #{t:02x}\n")


def _cap_vendor(d: _Dev, where: int, cap: int) -> None:
    d.w("Vendor Specific Information: ")
    length, kind = cap & 0xFF, (cap >> 8) & 0xFF
    if (d.word(0x00) == 0x1AF4 and 0x1000 <= d.word(0x02) <= 0x107F and length >= 16
            and d.fetch(where, length)):
        name = {1: "CommonCfg", 2: "Notify", 3: "ISR", 4: "DeviceCfg"}.get(kind, "<unknown>")
        d.w(f"VirtIO: {name}\n")
        # pciutils ls-caps-vendor.c show_vendor_caps_virtio, printed at -vv and above
        d.w(f"\t\tBAR={d.byte(where + 4)} offset={d.long(where + 8):08x} "
            f"size={d.long(where + 12):08x}")
        if kind == 2 and length >= 20:
            d.w(f" multiplier={d.long(where + 16):08x}")
        d.w("\n")
    else:
        d.w(f"Len={length:02x} <?>\n")


def _cap_express(d: _Dev, cap: int) -> None:
    kind = (cap >> 4) & 0xF
    name = _EXP_TYPES.get(kind, f"Unknown type {kind}")
    if kind in _EXP_SLOT_TYPES:
        name += f" (Slot{_flag(cap, 0x100)})"
    d.w(f"Express (v{cap & 0xF}) {name}, MSI {(cap & 0x3E00) >> 9:02x}\n")


def _cap_sata(d: _Dev, where: int, cap: int) -> None:
    d.w(f"SATA HBA v{(cap >> 4) & 0xF}.{cap & 0xF}")
    if not _need(d, where + 4, 4, f"SATA capability [{where:02x}]"):
        d.w("\n")
        return
    bars = d.long(where + 4)
    bar = bars & 0xF
    if 4 <= bar <= 9:
        d.w(f" BAR{bar - 4} Offset={(bars >> 4) & 0xFFFFF:08x}\n")
    elif bar == 15:
        d.w(" InCfgSpace\n")
    else:
        d.w(f" BAR??{bar}\n")


def _cap_ea(d: _Dev, where: int, cap: int) -> None:
    d.w(f"Enhanced Allocation (EA): NumEntries={cap & 0x3F}")
    bridge = d.byte(HEADER_TYPE.offset) & 0x7F == 1
    if bridge:
        if not _need(d, where + 4, 2, "EA bus numbers"):
            d.w("\n")
            return
        d.w(f", secondary={d.byte(where + 4)}, subordinate={d.byte(where + 5)}")
    d.w("\n")
    caps.cap_ea_entries(d, where, cap, bridge)


def _show_ext_caps(d: _Dev) -> None:
    """Walk the extended list at 100h as lspci does (4 KiB dumps only), loop-safe."""
    where = EXT_CAP_BASE
    seen: set[int] = set()
    while True:
        if not d.fetch(where, 4):
            if d.n > EXT_CAP_BASE:
                d.problem(f"extended capability pointer {where:03x} points past the end of the "
                          f"dump ({d.n} bytes)")
            break
        header = d.long(where)
        if header in (0, 0xFFFFFFFF):
            break
        cid, ver = header & 0xFFFF, (header >> 16) & 0xF
        d.w(f"\tCapabilities: [{where:03x} v{ver}] ")
        if where in seen:
            d.w("<chain looped>\n")
            d.problem(f"extended capability list loops back to {where:03x}")
            break
        seen.add(where)
        if where < EXT_CAP_BASE:
            d.problem(f"extended capability pointer {where:03x} points below 100")
        _show_ext_cap(d, where, cid)
        where = (header >> 20) & ~3
        if not where:
            break


def _show_ext_cap(d: _Dev, where: int, cid: int) -> None:
    if cid == 0x03:
        if _need(d, where + 4, 8, f"Device Serial Number [{where:03x}]"):
            lo, hi = d.long(where + 4), d.long(where + 8)
            sn = "-".join(f"{b:02x}" for b in (hi.to_bytes(4, "big") + lo.to_bytes(4, "big")))
            d.w(f"Device Serial Number {sn}\n")
    elif cid == 0x0B:
        d.w("Vendor Specific Information: ")
        if _need(d, where + 4, 4, f"vendor-specific capability [{where:03x}]"):
            h = d.long(where + 4)
            d.w(f"ID={h & 0xFFFF:04x} Rev={(h >> 16) & 0xF} Len={h >> 20:03x} <?>\n")
        else:
            d.w("<unreadable>\n")
    elif cid == 0x23:
        d.w("Designated Vendor-Specific: ")
        if _need(d, where + 4, 8, f"DVSEC capability [{where:03x}]"):
            h = d.long(where + 4)
            dv_id = d.word(where + 8)
            d.w(f"Vendor={h & 0xFFFF:04x} ID={dv_id:04x} Rev={(h >> 16) & 0xF} Len={h >> 20}"
                " <?>\n")
        else:
            d.w("<unreadable>\n")
    elif cid in _EXT_CAPS:
        d.w(_EXT_CAPS[cid] + "\n")
        sub = caps.EXT_SUBLINES.get(cid)
        if sub is not None:
            sub(d, where, d.exp_type)
    else:
        d.w(f"Extended Capability ID {cid:#x}\n")


# -- class names (pci.ids class section, see the module docstring) ---------------------------
def _read_class_names() -> dict[str, str]:
    """``pci_classes.ids`` (pci.ids class section syntax) as {"cc"/"ccss"/"ccsspp": name}."""
    text = resources.files("irqsim.views").joinpath("pci_classes.ids").read_text("utf-8")
    names: dict[str, str] = {}
    base = sub = ""
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        code, name = line.lstrip("\t").removeprefix("C ").split("  ", 1)
        if line.startswith("C "):
            key = base = code
        elif line.startswith("\t\t"):
            key = base + sub + code
        else:
            sub = code
            key = base + sub
        names[key] = name
    return names


_CLASS_NAMES = _read_class_names()
