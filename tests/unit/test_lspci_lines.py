"""Each line kind `irqsim lspci` prints, on crafted configuration bytes (issue 4, item 2).

Every expected text below is what pciutils 3.9 `lspci -F FILE -vvv` prints for the same bytes;
when `lspci` is installed, each test also runs it and checks it prints the same lines.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from irqsim.commands.lspci import command
from irqsim.formats.dumpfile import format_hex_dump, parse_hex_text
from irqsim.views.lspci import class_name, decode, format_device, progif_name, render

LSPCI = shutil.which("lspci")


class Cfg:
    """A crafted configuration space: a type 0 Ethernet function 8086:10c9 by default."""

    def __init__(self, size: int = 256, htype: int = 0, cls: int = 0x0200) -> None:
        self.b = bytearray(size)
        self.w(0x00, 2, 0x8086)
        self.w(0x02, 2, 0x10C9)
        self.w(0x0A, 2, cls)
        self.b[0x0E] = htype
        self.next_cap = 0x34

    def w(self, off: int, n: int, value: int) -> Cfg:
        self.b[off:off + n] = value.to_bytes(n, "little")
        return self

    def cap(self, off: int, cap_id: int, body: bytes = b"") -> Cfg:
        """Append a standard capability at ``off`` with ``body`` from offset 2 on."""
        self.b[0x06] |= 0x10
        self.b[self.next_cap if self.next_cap == 0x34 else self.next_cap + 1] = off
        self.b[off] = cap_id
        self.b[off + 1] = 0
        self.b[off + 2:off + 2 + len(body)] = body
        self.next_cap = off
        return self

    @property
    def data(self) -> bytes:
        return bytes(self.b)


def ours(data: bytes, slot: str = "00:00.0") -> list[str]:
    return format_device(data, slot)


def real_lspci(data: bytes, tmp_path: Path, slot: str = "00:00.0") -> list[str]:
    size = 64 if len(data) <= 64 else 256 if len(data) <= 256 else 4096
    f = tmp_path / "dump.txt"
    f.write_text(format_hex_dump(slot, "x", data, size))
    out = subprocess.run([LSPCI or "lspci", "-F", str(f), "-vvv"], capture_output=True,
                         check=False).stdout.decode("latin-1")
    return out.split("\n")


def block_in(block: list[str], lines: list[str]) -> bool:
    n = len(block)
    return any(lines[i:i + n] == block for i in range(len(lines) - n + 1))


def check(data: bytes, block: list[str], tmp_path: Path) -> list[str]:
    """``block`` (consecutive lines) is in our output, and in real lspci's when installed."""
    got = ours(data)
    assert block_in(block, got), "\n".join(got)
    if LSPCI:
        ref = real_lspci(data, tmp_path)
        assert block_in(block, ref), "lspci printed:\n" + "\n".join(ref)
    return got


def absent(data: bytes, prefix: str, tmp_path: Path) -> None:
    """No line starts with ``prefix`` (ours, and lspci's when installed)."""
    assert not any(line.startswith(prefix) for line in ours(data))
    if LSPCI:
        assert not any(line.startswith(prefix) for line in real_lspci(data, tmp_path))


# -- header line ----------------------------------------------------------------------------------
def test_header_line_names_class_ids_rev_progif(tmp_path: Path) -> None:
    """Header: slot, pci.ids class name, `Device vvvv:dddd` (lspci's form for IDs its pci.ids
    lacks), `(rev xx)` when non-zero, `(prog-if xx [name])` with -v when non-zero or named."""
    c = Cfg(cls=0x0C03)
    c.b[0x08], c.b[0x09] = 0x02, 0x30
    assert ours(c.data, "0002:01:00.0")[0] == (
        "0002:01:00.0 USB controller: Device 8086:10c9 (rev 02) (prog-if 30 [XHCI])")
    got = ours(Cfg().data)[0]
    assert got == "00:00.0 Ethernet controller: Device 8086:10c9"
    if LSPCI:   # lspci knows the name; compare all but the vendor/device part
        ref = real_lspci(c.data, tmp_path)[0]
        assert ref.startswith("00:00.0 USB controller: ")
        assert ref.endswith(" (rev 02) (prog-if 30 [XHCI])")


def test_class_names_follow_pci_ids_and_lspci_fallbacks() -> None:
    """Unknown subclass -> `Base [cccc]`, unknown class -> `Class cccc`; PCI bridge prog-if 00
    is named; IDE prog-ifs without a pci.ids entry use lspci's built-in bit names."""
    assert class_name(0x0604) == "PCI bridge"
    assert class_name(0x0299) == "Network controller [0299]"
    assert class_name(0x4499) == "Class 4499"
    assert progif_name(0x0604, 0x00) == "Normal decode"
    assert progif_name(0x0101, 0x8B) == "Master SecP PriP PriO"
    assert progif_name(0x0200, 0x00) is None


# -- Control, Status, Latency, Interrupt -----------------------------------------------------
def test_control_and_status_every_flag(tmp_path: Path) -> None:
    """Control: 11 Command bits; Status: Cap/66MHz/UDF/FastB2B/ParErr, DEVSEL, aborts, INTx."""
    c = Cfg().w(0x04, 2, 0x0557).w(0x06, 2, 0xA2B8)
    check(c.data, [
        "\tControl: I/O+ Mem+ BusMaster+ SpecCycle- MemWINV+ VGASnoop- ParErr+ Stepping- SERR+ "
        "FastB2B- DisINTx+",
        "\tStatus: Cap+ 66MHz+ UDF- FastB2B+ ParErr- DEVSEL=medium >TAbort- <TAbort- <MAbort+ "
        ">SERR- <PERR+ INTx+",
    ], tmp_path)
    c.w(0x06, 2, 0x0640)
    check(c.data, ["\tStatus: Cap- 66MHz- UDF+ FastB2B- ParErr- DEVSEL=?? >TAbort- <TAbort- "
                   "<MAbort- >SERR- <PERR- INTx-"], tmp_path)


def test_latency_line_only_for_bus_masters(tmp_path: Path) -> None:
    """`Latency: N (min, max), Cache Line Size` only when BusMaster is set (lspci -vvv)."""
    c = Cfg().w(0x04, 2, 0x0004)
    c.b[0x0C], c.b[0x0D], c.b[0x3E], c.b[0x3F] = 0x10, 0x40, 0x02, 0x0A
    check(c.data, ["\tLatency: 64 (500ns min, 2500ns max), Cache Line Size: 64 bytes"], tmp_path)
    c.b[0x3E] = c.b[0x0C] = 0
    check(c.data, ["\tLatency: 64 (2500ns max)"], tmp_path)
    c.w(0x04, 2, 0)
    absent(c.data, "\tLatency", tmp_path)


@pytest.mark.parametrize(("pin", "line", "text"), [
    (1, 11, "\tInterrupt: pin A routed to IRQ 11"),
    (2, 15, "\tInterrupt: pin B routed to IRQ 15"),
    (4, 255, "\tInterrupt: pin D routed to IRQ 255"),
    (1, 0, "\tInterrupt: pin A routed to IRQ 0"),
    (0, 10, "\tInterrupt: pin ? routed to IRQ 10"),
])
def test_interrupt_pin_and_line(pin: int, line: int, text: str, tmp_path: Path) -> None:
    """Pin from 3Dh as a letter (`?` for none), line 3Ch in decimal (-F: not the kernel IRQ)."""
    c = Cfg()
    c.b[0x3C], c.b[0x3D] = line, pin
    check(c.data, [text], tmp_path)


def test_no_interrupt_line_without_pin_or_line(tmp_path: Path) -> None:
    """Pin 0 and line 0: no Interrupt line at all."""
    absent(Cfg().data, "\tInterrupt", tmp_path)


# -- BARs and expansion ROM ---------------------------------------------------------------------
def test_bar_kinds(tmp_path: Path) -> None:
    """32-bit, 64-bit above 4 GiB, prefetchable, I/O, low-1M and type 3 memory BARs."""
    c = Cfg().w(0x04, 2, 0x0003)
    bars = (0xFE000000, 0x0000000C, 0x00000002, 0x0000E001, 0x00000006, 0xC0000008)
    for i, v in enumerate(bars):
        c.w(0x10 + 4 * i, 4, v)
    check(c.data, [
        "\tRegion 0: Memory at fe000000 (32-bit, non-prefetchable)",
        "\tRegion 1: Memory at 200000000 (64-bit, prefetchable)",   # BAR1 | BAR2 << 32
        "\tRegion 2: Memory at <unassigned> (low-1M, non-prefetchable)",   # its upper half
        "\tRegion 3: I/O ports at e000",
        "\tRegion 4: Memory at <unassigned> (type 3, non-prefetchable)",
        "\tRegion 5: Memory at c0000000 (32-bit, prefetchable)",
    ], tmp_path)


def test_64bit_bar_upper_half_printed_when_non_zero(tmp_path: Path) -> None:
    """pciutils 3.9 with -F lists a 64-bit BAR's non-zero upper DWORD again as its own Region
    (decoded as a BAR); a zero upper half is not listed."""
    c = Cfg().w(0x04, 2, 0x0002)
    c.w(0x18, 4, 0x0000000C).w(0x1C, 4, 0x00000002)   # BAR2/3: 64-bit pref at 2_0000_0000
    c.w(0x10, 4, 0xA0008000)
    check(c.data, [
        "\tRegion 0: Memory at a0008000 (32-bit, non-prefetchable)",
        "\tRegion 2: Memory at 200000000 (64-bit, prefetchable)",
        "\tRegion 3: Memory at <unassigned> (low-1M, non-prefetchable)",
    ], tmp_path)
    c.w(0x1C, 4, 0)
    got = check(c.data, ["\tRegion 2: Memory at <unassigned> (64-bit, prefetchable)"], tmp_path)
    assert not any(line.startswith("\tRegion 3") for line in got)


def test_disabled_unassigned_and_all_ones_bars(tmp_path: Path) -> None:
    """`[disabled]` when the Command decode bit is off; an I/O BAR at 0 prints `0000` when I/O
    decode is on, `<unassigned>` when off; all-ones BARs (unimplemented) are not listed; a 64-bit
    BAR in the last slot is `<unassigned>`."""
    c = Cfg().w(0x04, 2, 0x0000)
    c.w(0x10, 4, 0xF7C00000).w(0x14, 4, 0x00000001).w(0x18, 4, 0xFFFFFFFF)
    c.w(0x24, 4, 0xF000000C)
    check(c.data, [
        "\tRegion 0: Memory at f7c00000 (32-bit, non-prefetchable) [disabled]",
        "\tRegion 1: I/O ports at <unassigned> [disabled]",
        "\tRegion 5: Memory at <unassigned> (64-bit, prefetchable) [disabled]",
    ], tmp_path)
    c.w(0x04, 2, 0x0003)
    check(c.data, ["\tRegion 1: I/O ports at 0000"], tmp_path)


@pytest.mark.parametrize(("rom", "cmd", "text"), [
    (0xC7800000, 0x2, "\tExpansion ROM at c7800000 [disabled]"),
    (0xC7800001, 0x2, "\tExpansion ROM at c7800000"),
    (0xC7800001, 0x0, "\tExpansion ROM at c7800000 [disabled by cmd]"),
    (0xFFFFFFFF, 0x2, "\tExpansion ROM at <ignored>"),
    (0x00000001, 0x2, "\tExpansion ROM at <unassigned>"),
])
def test_expansion_rom(rom: int, cmd: int, text: str, tmp_path: Path) -> None:
    """ROM BAR 30h: address, `[disabled]` (enable bit 0 clear), `[disabled by cmd]` (Mem-)."""
    check(Cfg().w(0x04, 2, cmd).w(0x30, 4, rom).data, [text], tmp_path)


# -- MSI ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("ctl", "lines"), [
    (0x0001, ["\tCapabilities: [50] MSI: Enable+ Count=1/1 Maskable- 64bit-",
              "\t\tAddress: fee00000  Data: 4021"]),
    (0x0080, ["\tCapabilities: [50] MSI: Enable- Count=1/1 Maskable- 64bit+",
              "\t\tAddress: 00000000fee00000  Data: 4021"]),
    (0x0107, ["\tCapabilities: [50] MSI: Enable+ Count=1/8 Maskable+ 64bit-",
              "\t\tAddress: fee00000  Data: 4021",
              "\t\tMasking: 00fe00fe  Pending: 00000002"]),
    (0x01A5, ["\tCapabilities: [50] MSI: Enable+ Count=4/4 Maskable+ 64bit+",
              "\t\tAddress: 00000000fee00000  Data: 4021",
              "\t\tMasking: 00fe00fe  Pending: 00000002"]),
])
def test_msi_four_layouts(ctl: int, lines: list[str], tmp_path: Path) -> None:
    """MSI 32/64-bit x per-vector-maskable: Address (8 or 16 digits), Data, and Masking/Pending
    only when maskable; Count=enabled/capable from MME/MMC."""
    is64, maskable = ctl & 0x80, ctl & 0x100
    body = ctl.to_bytes(2, "little") + (0xFEE00000).to_bytes(4, "little")
    if is64:
        body += bytes(4)
    body += (0x4021).to_bytes(2, "little") + bytes(2)
    if maskable:
        body += (0x00FE00FE).to_bytes(4, "little") + (2).to_bytes(4, "little")
    c = Cfg().cap(0x50, 0x05, body)
    got = check(c.data, lines, tmp_path)
    assert got[got.index(lines[0]):] == lines


def test_msi_count_uses_mme_and_mmc(tmp_path: Path) -> None:
    """Count=2^MME/2^MMC; reserved encodings print as lspci does (2^7 = 128)."""
    c = Cfg().cap(0x50, 0x05, (0x0070 | 0x000E).to_bytes(2, "little"))
    check(c.data, ["\tCapabilities: [50] MSI: Enable- Count=128/128 Maskable- 64bit-"], tmp_path)


# -- MSI-X ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("ctl", "first"), [
    (0x0009, "MSI-X: Enable- Count=10 Masked-"),
    (0x8009, "MSI-X: Enable+ Count=10 Masked-"),
    (0x4000, "MSI-X: Enable- Count=1 Masked+"),
    (0xC7FF, "MSI-X: Enable+ Count=2048 Masked+"),
])
def test_msix_enable_masked_combinations(ctl: int, first: str, tmp_path: Path) -> None:
    """MSI-X Message Control: Enable (bit 15), Function Mask (14), Count = Table Size + 1;
    Vector table and PBA lines give the BIR and the offset with the BIR bits cleared."""
    body = ctl.to_bytes(2, "little") + (0x00000003).to_bytes(4, "little") + (
        0x00002003).to_bytes(4, "little")
    lines = [f"\tCapabilities: [70] {first}",
             "\t\tVector table: BAR=3 offset=00000000",
             "\t\tPBA: BAR=3 offset=00002000"]
    got = check(Cfg().cap(0x70, 0x11, body).data, lines, tmp_path)
    assert got[-3:] == lines


# -- capability walker ----------------------------------------------------------------------------
def test_capability_chain_and_other_capability_names(tmp_path: Path) -> None:
    """Other capabilities are named with offset as lspci's first line (PM version, Express type
    and MSI number, vendor-specific length)."""
    c = Cfg(size=4096)
    c.cap(0x40, 0x01, (0x0003).to_bytes(2, "little"))
    c.cap(0x48, 0x09, (0x0014).to_bytes(2, "little"))
    c.cap(0x60, 0x10, (0x0242).to_bytes(2, "little"))   # v2 Root Port, slot, MSI 01
    c.cap(0x70, 0x2A, (0x1234).to_bytes(2, "little"))
    c.w(0x100, 4, 0x14010001).w(0x140, 4, 0x00010003).w(0x144, 8, 0x0011223344556677)
    expected = [
        "\tCapabilities: [40] Power Management version 3",
        "\tCapabilities: [48] Vendor Specific Information: Len=14 <?>",
        "\tCapabilities: [60] Express (v2) Root Port (Slot-), MSI 01",
        "\tCapabilities: [70] Capability ID 0x2a [1234]",
        "\tCapabilities: [100 v1] Advanced Error Reporting",
        "\tCapabilities: [140 v1] Device Serial Number 00-11-22-33-44-55-66-77",
    ]
    got = [ln for ln in ours(c.data) if ln.startswith("\tCapabilities")]
    assert got == expected
    if LSPCI:
        ref = [ln for ln in real_lspci(c.data, tmp_path) if ln.startswith("\tCapabilities")]
        assert ref == expected


def test_capability_loop_is_reported_not_followed(tmp_path: Path) -> None:
    """A next pointer back to an earlier capability: lspci prints `<chain looped>`; irqsim
    prints the same and reports the loop as a problem."""
    c = Cfg().cap(0x40, 0x01, b"\x03\x00").cap(0x50, 0x05, b"\x00\x00")
    c.b[0x51] = 0x40
    check(c.data, ["\tCapabilities: [40] <chain looped>"], tmp_path)
    assert decode(c.data).problems == ["capability list loops back to 40"]


def test_capability_pointer_into_header_and_broken_chain(tmp_path: Path) -> None:
    """A pointer below 40h is followed as lspci does (reported); ID ff is `<chain broken>`."""
    c = Cfg()
    c.b[0x06] |= 0x10
    c.b[0x34] = 0x08   # header bytes 08..0b read as a capability (ID = revision 00: Null)
    c.b[0x09] = 0x50   # "next" pointer = prog-if
    c.b[0x50] = 0xFF
    c.b[0x0A] = 0x00   # class 0000: keeps lspci's header line simple
    check(c.data, ["\tCapabilities: [08] Null", "\tCapabilities: [50] <chain broken>"],
          tmp_path)
    assert decode(c.data).problems == [
        "capability pointer 08 points into the header (below 40)",
        "capability at 50 has ID ff: chain broken"]


def test_capability_beyond_dump_and_cut_off_msi(tmp_path: Path) -> None:
    """A 64-byte dump: `Capabilities: <access denied>`. A 64-bit maskable MSI at f8h of a
    256-byte dump runs past the end: first line only, problem reported."""
    c = Cfg(size=64)
    c.b[0x06] |= 0x10
    c.b[0x34] = 0x60
    check(c.data, ["\tCapabilities: <access denied>"], tmp_path)
    assert "not in a 64-byte dump" in decode(c.data).problems[0]
    c = Cfg().cap(0xF8, 0x05, (0x0181).to_bytes(2, "little"))
    got = check(c.data, ["\tCapabilities: [f8] MSI: Enable+ Count=1/1 Maskable+ 64bit+"],
                tmp_path)
    assert got[-1].startswith("\tCapabilities: [f8]")
    assert decode(c.data).problems == [
        "MSI capability [f8] address/data at fc: 10 bytes run past the end of the dump "
        "(256 bytes)"]


def test_extended_capability_loop(tmp_path: Path) -> None:
    """Extended list (4 KiB dumps with an Express capability): a loop is printed as lspci
    does and reported."""
    c = Cfg(size=4096).cap(0x40, 0x10, (0x0002).to_bytes(2, "little"))
    c.w(0x100, 4, 0x20010018).w(0x200, 4, 0x10010019)
    expected = ["\tCapabilities: [40] Express (v2) Endpoint, MSI 00",
                "\tCapabilities: [100 v1] Latency Tolerance Reporting",
                "\tCapabilities: [200 v1] Secondary PCI Express",
                "\tCapabilities: [100 v1] <chain looped>"]
    assert [ln for ln in ours(c.data) if ln.startswith("\tCapabilities")] == expected
    if LSPCI:
        ref = [ln for ln in real_lspci(c.data, tmp_path) if ln.startswith("\tCapabilities")]
        assert ref == expected
    assert decode(c.data).problems == ["extended capability list loops back to 100"]


# -- bridges --------------------------------------------------------------------------------------
def test_pci_bridge_lines(tmp_path: Path) -> None:
    """Type 1 header: Bus numbers, I/O / memory / prefetchable windows with size or
    `[disabled]`, Secondary status and the two BridgeCtl lines."""
    c = Cfg(htype=1, cls=0x0604).w(0x04, 2, 0x0007)
    c.w(0x18, 4, 0x00030300)
    c.b[0x1C], c.b[0x1D] = 0xF0, 0x00
    c.w(0x20, 2, 0xBE00).w(0x22, 2, 0xC010).w(0x24, 2, 0xFFF1).w(0x26, 2, 0x0001)
    c.w(0x1E, 2, 0x2000).w(0x3E, 2, 0x0010)
    check(c.data, [
        "\tBus: primary=00, secondary=03, subordinate=03, sec-latency=0",
        "\tI/O behind bridge: f000-0fff [disabled] [16-bit]",
        "\tMemory behind bridge: be000000-c01fffff [size=34M] [32-bit]",
        "\tPrefetchable memory behind bridge: 00000000fff00000-00000000000fffff [disabled] "
        "[64-bit]",
        "\tSecondary status: 66MHz- FastB2B- ParErr- DEVSEL=fast >TAbort- <TAbort- <MAbort+ "
        "<SERR- <PERR-",
        "\tBridgeCtl: Parity- SERR- NoISA- VGA- VGA16+ MAbort- >Reset- FastB2B-",
        "\t\tPriDiscTmr- SecDiscTmr- DiscTmrStat- DiscTmrSERREn-",
    ], tmp_path)


def test_bridge_subsystem_from_first_ssvid_capability(tmp_path: Path) -> None:
    """Type 1 has no subsystem registers: libpci takes the first Subsystem ID capability (0Dh)
    in chain order; each such capability is also listed."""
    c = Cfg(htype=1, cls=0x0604)
    c.cap(0x40, 0x0D, bytes(2) + (0x11112222).to_bytes(4, "little"))
    c.cap(0x50, 0x0D, bytes(2) + (0x44440002).to_bytes(4, "little"))
    got = check(c.data, ["\tCapabilities: [40] Subsystem: Device 2222:1111"], tmp_path)
    assert got[1] == "\tSubsystem: Device 2222:1111"
    assert got[-1] == "\tCapabilities: [50] Subsystem: Device 0002:4444"


def test_cardbus_bridge_lines(tmp_path: Path) -> None:
    """Type 2 header: memory and I/O windows, BridgeCtl with CardBus bits."""
    c = Cfg(htype=2, cls=0x0607).w(0x04, 2, 0x0003)
    c.w(0x1C, 4, 0x10000000).w(0x20, 4, 0x10FFF000).w(0x3E, 2, 0x0580)
    check(c.data, [
        "\tMemory window 0: 10000000-10ffffff (prefetchable)",
        "\tMemory window 1: 00000000-00000fff",
        "\tI/O window 0: 00000000-00000003",
        "\tI/O window 1: 00000000-00000003",
        "\tBridgeCtl: Parity- SERR- ISA- VGA- MAbort- >Reset- 16bInt+ PostWrite+",
    ], tmp_path)


def test_unknown_header_type(tmp_path: Path) -> None:
    """Header type 5: lspci prints `!!! Unknown header type 05` and nothing else."""
    c = Cfg(htype=5).w(0x04, 2, 0x0007)
    got = check(c.data, ["\t!!! Unknown header type 05"], tmp_path)
    assert len(got) == 2


def test_short_dump_reads_what_it_has(tmp_path: Path) -> None:
    """Under 64 bytes lspci cannot read the header: no Control/Status; BARs it can read are
    listed as plain 32-bit memory; the missing Interrupt Line reads as 255."""
    c = Cfg().w(0x04, 2, 0x0007).w(0x10, 4, 0xFE000000).w(0x14, 4, 0xE001)
    got = check(c.data[:40], ["\tInterrupt: pin ? routed to IRQ 255",
                              "\tRegion 0: Memory at fe000000 (32-bit, non-prefetchable)",
                              "\tRegion 1: Memory at 0000e000 (32-bit, non-prefetchable)"],
                tmp_path)
    assert not any("Control" in line for line in got)
    assert "only 40 of 64 header bytes" in decode(c.data[:40]).problems[0]


def test_render_shows_domains_for_all_when_any_non_zero() -> None:
    """As lspci: one device in a non-zero domain makes every slot show its domain."""
    text = (format_hex_dump("00:01.0", "x", Cfg().data, 64)
            + format_hex_dump("0001:00:02.0", "x", Cfg().data, 64))
    devs, _ = parse_hex_text(text)
    out = render(devs)
    assert out.startswith("0000:00:01.0 ") and "\n\n0001:00:02.0 " in out
    assert out.endswith("\n\n")


# -- real lspci on random crafted dumps ---------------------------------------------------------
def _random_config(r: random.Random) -> bytes:
    """A random header with BARs, ROM, pin/line and a random capability chain (MSI, MSI-X,
    PM, Express, vendor, unknown), sometimes looping or pointing into the header."""
    size = r.choice([64, 256, 256, 4096, r.randrange(40, 300)])
    c = Cfg(size=4096, htype=r.choice([0, 0, 0, 1, 2]), cls=r.choice([0x0200, 0x0604, 0x0C03]))
    c.w(0x04, 2, r.getrandbits(11)).w(0x06, 2, r.getrandbits(16) | 0x10)
    for i in range(6):
        c.w(0x10 + 4 * i, 4, r.choice([0, 0xFFFFFFFF, r.getrandbits(32), r.getrandbits(32) & ~7,
                                       r.getrandbits(16) | 1, r.choice([2, 4, 6, 0xC])]))
    c.w(0x30, 4, r.choice([0, r.getrandbits(32)]))
    c.b[0x3C], c.b[0x3D] = r.choice([0, 11, 255]), r.choice([0, 1, 2, 3, 4])
    offs = r.sample(range(0x40, 0x100, 4), r.randrange(0, 5))
    c.b[0x14 if c.b[0x0E] == 2 else 0x34] = offs[0] if offs else 0
    for j, o in enumerate(offs):
        c.b[o] = r.choice([0x01, 0x05, 0x05, 0x10, 0x11, 0x11, 0x09, 0x0D, 0x12, 0x14, 0x77])
        c.b[o + 1] = offs[j + 1] if j + 1 < len(offs) else r.choice([0, 0, 0, 0x40, 0x08])
        for k in range(2, 24):
            if o + k < 4096:
                c.b[o + k] = r.getrandbits(8)
    return c.data[:size]


def _kept(text: str) -> list[str]:
    """lspci lines of the kinds irqsim prints (vendor/device names masked)."""
    out: list[str] = []
    msi = False
    for line in text.split("\n"):
        if line.startswith("\t\t"):
            if (msi and line[2:].startswith(("Address:", "Masking:", "Vector table:", "PBA:"))) \
                    or (out and out[-1].startswith("\tBridgeCtl:")):
                out.append(line)
            continue
        if line.startswith("\t"):
            msi = bool(re.match(r"\tCapabilities: \[[0-9a-f]+\] MSI", line))
            line = re.sub(r"Subsystem: .*", "Subsystem: ...", line)
        elif line:
            line = re.sub(r"^(\S+ [^:]+): .*?((?: \(rev ..\))?(?: \(prog-if .*\))?)$",
                          r"\1: ...\2", line)
        out.append(line)
    return out


@pytest.mark.skipif(LSPCI is None, reason="pciutils (lspci) not installed")
def test_random_dumps_match_real_lspci(tmp_path: Path) -> None:
    """200 random crafted dumps: every line kind irqsim prints equals real `lspci -F -vvv`
    (dumps on which lspci aborts with `Internal bug` in a sub-line decoder are skipped)."""
    r = random.Random(4)
    compared = 0
    for i in range(200):
        data = _random_config(r)
        f = tmp_path / f"d{i}.txt"
        f.write_text(format_hex_dump("00:00.0", "x", data, 4096 if len(data) > 256 else 256))
        p = subprocess.run([LSPCI or "lspci", "-F", str(f), "-vvv"], capture_output=True,
                           check=False)
        if b"Internal bug" in p.stderr:
            continue
        (dump,), _ = parse_hex_text(f.read_text())
        assert _kept(decode(dump).text + "\n") == _kept(p.stdout.decode("latin-1")), f"dump {i}"
        compared += 1
    assert compared > 150


# -- the command ----------------------------------------------------------------------------------
def test_command_prints_devices_sorted_with_hex(tmp_path: Path) -> None:
    """`irqsim lspci FILE...`: devices of all files sorted by slot, a blank line after each;
    `-x` adds the `lspci -xxx` rows after the lines."""
    a = tmp_path / "a.txt"
    b = tmp_path / "b.bin"
    a.write_text(format_hex_dump("03:00.0", "x", Cfg().w(0x3C, 2, 0x010B).data, 256))
    b.write_bytes(Cfg(size=64).data)
    res = CliRunner().invoke(command, [str(a), str(b), "-x"])
    assert res.exit_code == 0, res.output
    blocks = res.output.split("\n\n")
    assert blocks[0].startswith("00:00.0 Ethernet controller: Device 8086:10c9\n")
    assert blocks[0].endswith("\n30: " + " ".join(["00"] * 16))
    assert blocks[1].startswith("03:00.0 ") and "\tInterrupt: pin A routed to IRQ 11" in blocks[1]
    assert "\nf0: " in blocks[1] and blocks[2] == ""


def test_command_bad_files_one_line_each_exit_codes(tmp_path: Path) -> None:
    """Bad input: one `FILE:LINE: problem` line per defect on stderr, no traceback; exit 2 when
    nothing decoded, 1 when some file gave nothing, 0 otherwise."""
    bad = tmp_path / "bad.txt"
    bad.write_text("garbage\nmore\n")
    good = tmp_path / "good.txt"
    good.write_text(format_hex_dump("00:01.0", "x", Cfg().data, 256).replace("10: 00", "10: zz"))
    runner = CliRunner()
    res = runner.invoke(command, [str(bad), str(tmp_path / "missing")])
    assert res.exit_code == 2 and "Traceback" not in res.output
    errs = res.stderr.strip().split("\n")
    assert errs[0].startswith(f"irqsim lspci: {bad}:1: ") and "not an lspci -x dump" in errs[0]
    assert errs[1] == f"irqsim lspci: {tmp_path / 'missing'}: No such file or directory"
    res = runner.invoke(command, [str(good), str(bad)])
    assert res.exit_code == 1
    assert res.stdout.startswith("00:01.0 Ethernet controller")
    assert f"{good}:3: byte 0 of row 10 is not two hex digits: 'zz'" in res.stderr
    res = runner.invoke(command, [str(good)])
    assert res.exit_code == 0
