"""Capability sub-lines against pciutils itself (issue 16, "lspci parity"): random register
contents in every capability irqsim decodes, printed by irqsim and by the installed
`lspci -F FILE -vvv` (pciutils 3.9), must be the same lines. Skipped when lspci is absent
(CI installs pciutils)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from irqsim.formats.dumpfile import Slot, format_hex_dump
from irqsim.spec import pcie as X
from irqsim.views.lspci import format_device

LSPCI = shutil.which("lspci")
needs_lspci = pytest.mark.skipif(LSPCI is None, reason="pciutils (lspci) not installed")

# (offset, ID, body length) of the standard capabilities placed in the random function.
STD = ((0x40, X.CAP_ID_PM, 8), (0x48, 0x02, 12), (0x58, 0x07, 8), (0x60, X.CAP_ID_EXP, 0x3C),
       (0xA0, 0x13, 6), (0xA8, 0x08, 0x1C), (0xC8, 0x14, 0x34))
# (offset, ID, body length) of the extended ones.
EXT = ((0x100, X.ECAP_AER, 0x38), (0x140, X.ECAP_ARI, 8), (0x148, X.ECAP_LTR, 8),
       (0x150, X.ECAP_L1SS, 0x10), (0x160, X.ECAP_ACS, 8), (0x168, X.ECAP_ATS, 8),
       (0x170, X.ECAP_PRI, 0x10), (0x180, X.ECAP_PASID, 8), (0x188, X.ECAP_TPH, 8),
       (0x190, X.ECAP_SEC, 0x10), (0x1A0, X.ECAP_RCLINK, 0x30), (0x200, X.ECAP_SRIOV, 0x40),
       (0x240, X.ECAP_VC, 0x70))


def _mask(lines: list[str]) -> list[str]:
    out = []
    for ln in lines:
        if ln and not ln.startswith("\t"):
            ln = re.sub(r"^(\S+ [^:]+): .*?((?: \(rev [0-9a-f]{2}\))?(?: \(prog-if .*\))?)$",
                        r"\1: <name>\2", ln)
        out.append(re.sub(r"Subsystem: .*", "Subsystem: <name>", ln))
    return out


def build(rnd: bytes, exp_type: int, vc_count: int, links: int) -> bytes:
    """A type 0 Ethernet function with every decoded capability, bodies from ``rnd``."""
    b = bytearray(4096)
    b[0:4] = bytes((0x86, 0x80, 0xC9, 0x10))
    b[0x06] = 0x10                                   # capabilities list
    b[0x0A:0x0C] = (0x0200).to_bytes(2, "little")
    b[0x34] = STD[0][0]
    pos = 0
    for i, (off, cid, n) in enumerate(STD):
        b[off + 2:off + n] = rnd[pos:pos + n - 2]
        pos += n
        b[off], b[off + 1] = cid, STD[i + 1][0] if i + 1 < len(STD) else 0
    b[0x62] = (b[0x62] & 0x0F) | exp_type << 4       # Express device/port type
    b[0x63] &= 0x3F
    b[0x62] = (b[0x62] & 0xF0) | 2                   # capability version 2
    b[0xAB] &= 0x1F                                  # HT: slave/primary interface block
    b[0xCA] &= 0xC0    # EA: no entries (random sizes make pciutils read unfetched bytes and die)
    for i, (off, cid, n) in enumerate(EXT):
        b[off + 4:off + n] = rnd[pos:pos + n - 4]
        pos += n
        nxt = EXT[i + 1][0] if i + 1 < len(EXT) else 0
        b[off:off + 4] = (cid | 1 << 16 | nxt << 20).to_bytes(4, "little")
    b[0x1A5] = links                                 # RC link entries
    b[0x244] = (b[0x244] & 0xF8) | vc_count          # extended VC count
    return bytes(b)


@needs_lspci
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rnd=st.binary(min_size=1024, max_size=1024),
       exp_type=st.sampled_from((0, 1, 4, 5, 6, 7, 8, 9, 10)),
       vc_count=st.integers(0, 7), links=st.integers(0, 2))
def test_random_capability_contents_print_like_lspci(rnd: bytes, exp_type: int,
                                                     vc_count: int, links: int) -> None:
    """Every sub-line of PM, AGP, PCI-X, Express (all port types), AF, HyperTransport, EA,
    AER, ARI, LTR, L1SS, ACS, ATS, PRI, PASID, TPH, Secondary PCIe, RC Link, SR-IOV and VC
    equals pciutils' for random register contents."""
    data = build(rnd, exp_type, vc_count, links)
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "dump.txt"
        f.write_text(format_hex_dump(Slot(), "x", data, 4096))
        run = subprocess.run([LSPCI or "lspci", "-F", str(f), "-vvv"], capture_output=True,
                             check=False)
    assume(b"Internal bug" not in run.stderr)     # pciutils gave up on these bytes
    ref = run.stdout.decode("latin-1").split("\n")
    ours = format_device(data)
    assert _mask(ours) == _mask([ln for ln in ref if ln])
