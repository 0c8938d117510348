"""PCIe links in the model: LnkCap/LnkSta/LnkCtl2 of every port and function (PCIe Base 6.0
7.5.3.6 Link Capabilities, 7.5.3.8 Link Status, 7.5.3.18 Link Capabilities 2, 7.5.3.19 Link
Control 2), link training to the common speed and width (4.2.6), and TLP serialization by
generation and width (encodings 4.2.1 8b/10b, 4.2.2 128b/130b, 4.2.3 Flit Mode)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from irqsim.devices.virtio import VirtioNet
from irqsim.fabric.tlp import FRAMING_BYTES
from irqsim.machine import Machine
from irqsim.pci.express import (
    DEFAULT_LINK,
    LinkSpec,
    link_capability,
    link_status,
    serialization_ns,
    set_link_capability,
)
from irqsim.scenarios.dumps import run_dumps
from irqsim.scenarios.mechanisms import CompareSpec, run_compare
from irqsim.sim.timing import TimingModel
from irqsim.spec import pcie as X
from irqsim.spec.pci import TLP_HEADER_3DW

DUMPS = Path("/work/shared/realworld/pci-dumps")
LINKS = st.builds(LinkSpec, st.sampled_from(X.LINK_GENERATIONS), st.sampled_from(X.LINK_WIDTHS))
MSI_WIRE = TLP_HEADER_3DW + 4 + FRAMING_BYTES


def test_every_port_and_device_declares_its_link_and_training_takes_the_minimum() -> None:
    """7.5.3.6/7.5.3.18/7.5.3.19: LnkCap speed n = bit n-1 of the supported-speeds vector,
    Target Link Speed = the maximum; 7.5.3.8: after training both ends' LnkSta hold the
    highest common speed and widest common width."""
    m = Machine()
    port = m.add_root_port()
    nic = VirtioNet(m.ctx)
    set_link_capability(nic.config, LinkSpec(4, 8))
    set_link_capability(port.config, LinkSpec(3, 16))
    m.add_device(nic, port)
    at = nic.config.find_capability(X.CAP_ID_EXP)
    assert at == 0xC0
    cap = X.LNKCAP.decode(nic.config.read(at + X.LNKCAP.offset, 4))
    assert (cap["speed"], cap["width"]) == (4, 8)
    cap2 = X.LNKCAP2.decode(nic.config.read(at + X.LNKCAP2.offset, 4))
    assert cap2["speeds"] == 0b1111                        # 2.5, 5, 8 and 16 GT/s
    ctl2 = X.LNKCTL2.decode(nic.config.read(at + X.LNKCTL2.offset, 2))
    assert ctl2["target_speed"] == 4
    assert link_status(nic.config) == link_status(port.config) == LinkSpec(3, 8)
    assert nic.link is not None and nic.link.speed == LinkSpec(3, 8)
    # A port reports Data Link Layer Link Active (LnkCap bit 20 set), an endpoint does not.
    assert X.LNKSTA.decode(port.config.read(0xC0 + X.LNKSTA.offset, 2))["dll_active"] == 1
    assert X.LNKSTA.decode(nic.config.read(at + X.LNKSTA.offset, 2))["dll_active"] == 0


@given(LINKS, LINKS)
def test_training_is_the_common_capability(a: LinkSpec, b: LinkSpec) -> None:
    """4.2.6: the trained speed is the lower maximum; the width is the widest both support."""
    m = Machine()
    port = m.add_root_port()
    set_link_capability(port.config, a)
    nic = VirtioNet(m.ctx)
    set_link_capability(nic.config, b)
    m.add_device(nic, port)
    got = link_status(nic.config)
    assert got is not None and got == link_status(port.config)
    assert got.gen == min(a.gen, b.gen)
    assert got.width <= min(a.width, b.width)
    assert all(w <= got.width for w in X.LINK_WIDTHS if w <= min(a.width, b.width))
    assert link_capability(nic.config) == b


def test_the_default_link_keeps_the_timing_models_figure() -> None:
    """The default link (Gen3 x1, seed 003's "Gen3 x1 ~10-30 ns per 64 bytes") charges
    ceil(wire x pcie_ns_per_64_bytes / 64) for every TLP size: no figure moved."""
    for per64 in (10, 20, 30, 65):
        for wire in range(1, 4200):
            assert serialization_ns(DEFAULT_LINK, per64, wire) == -(-wire * per64 // 64)


@given(LINKS, LINKS, st.integers(20, 4200))
def test_a_faster_or_wider_link_is_never_slower(a: LinkSpec, b: LinkSpec, wire: int) -> None:
    """Serialization falls with the data rate (lane rate x width x encoding) between links
    that frame TLPs alike. A Flit Mode link (Gen6, PCIe 4.2.3) sends no per-TLP STP/LCRC
    framing, so it can carry a TLP sooner than a non-flit link of slightly higher data rate
    (Gen6 x2 against Gen3 x16): that pair is not ordered by data rate alone."""
    assume((a.gen in X.LINK_FLIT_MODE) == (b.gen in X.LINK_FLIT_MODE))
    if a.data_rate() <= b.data_rate():
        assert serialization_ns(a, 20, wire) >= serialization_ns(b, 20, wire)


def test_flit_mode_drops_the_framing_bytes_of_a_tlp() -> None:
    """The pair the data-rate ordering leaves out: Gen6 x2 (14.75 GB/s) is slower per byte
    than Gen3 x16 (15.75 GB/s), yet a TLP whose wire size is its bytes plus 8 framing bytes
    takes no longer on it, since Flit Mode sends those 8 bytes as part of the flit."""
    gen6, gen3 = LinkSpec(6, 2), LinkSpec(3, 16)
    assert gen6.data_rate() < gen3.data_rate()
    assert serialization_ns(gen6, 20, 103) < serialization_ns(gen3, 20, 103)


def test_specification_line_rates() -> None:
    """At 65 ns per 64 bytes (Gen3 x1 exactly: 8 GT/s x 128/130), each link runs at its
    line rate: a 24-byte MSI TLP takes 24 x 10 bits / 2.5 GT/s = 96 ns on Gen1 x1 (8b/10b,
    4.2.1), 24 x 8 / (16 x 8 x 128/130) = 1.5 ns on Gen3 x16 (128b/130b, 4.2.2), and on Gen6
    x1 its 16 bytes without STP/LCRC framing in 236-of-256-byte flits (4.2.3):
    16 x 8 x 256/236 / 64 = 2.2 ns."""
    assert serialization_ns(LinkSpec(1, 1), 65, MSI_WIRE) == 96
    assert serialization_ns(LinkSpec(2, 4), 65, MSI_WIRE) == 12       # 24 x 10 / 20
    assert serialization_ns(LinkSpec(3, 16), 65, MSI_WIRE) == 2
    assert serialization_ns(LinkSpec(6, 1), 65, MSI_WIRE) == 3
    # Seed 003 "PCIe Generation and Width": 64 bytes take ~64 / ~32 / ~16 ns on x1 links of
    # Gen3 / Gen4 / Gen5.
    assert [serialization_ns(LinkSpec(g, 1), 65, 64) for g in (3, 4, 5)] == [65, 33, 17]


def test_gen1_x1_is_slower_than_gen5_x16_by_the_msi_serialization() -> None:
    """Seed 003 lists PCIe generation and width among the latency factors: the same MSI-X
    workload on Gen1 x1 links and on Gen5 x16 links differs, in its fastest interrupt, by
    the serialization difference of a 3DW MWr TLP on each of its two links (device ->
    switch, switch -> root port)."""
    def fastest(link: LinkSpec) -> int:
        m = run_compare("msix", CompareSpec(requests=20, sharers=0, link=link))
        assert m.accounting()["balanced"]
        return int(m.recorder.summary()["virtio-net"]["min"])

    slow, fast = LinkSpec(1, 1), LinkSpec(5, 16)
    per64 = TimingModel().pcie_ns_per_64_bytes
    diff = serialization_ns(slow, per64, MSI_WIRE) - serialization_ns(fast, per64, MSI_WIRE)
    assert diff > 0
    assert fastest(slow) - fastest(fast) == 2 * diff


def test_run_dump_takes_the_dumps_link_status() -> None:
    """run-dump puts each dumped device behind a port whose link is the dump's LnkSta
    (7.5.3.8): the Samsung NVMe drive's 16 GT/s x2 (downgraded from its 32 GT/s LnkCap),
    the 82576's 2.5 GT/s x4."""
    res = run_dumps([DUMPS / "10-nvme-samsung.lspci-x.txt",
                     DUMPS / "03-nic-intel-82576-sriov.lspci-x.txt"], requests=2, trace=False)
    links = {d.name: d.link.speed for d in res.machine.devices if d.link is not None}
    assert links["10-nvme-samsung"] == LinkSpec(4, 2)
    assert links["03-nic-intel-82576-sriov"] == LinkSpec(1, 4)
    assert res.machine.accounting()["balanced"]


@pytest.mark.skipif(shutil.which("lspci") is None, reason="pciutils not installed")
def test_real_lspci_agrees_on_the_link_lines(tmp_path: Path) -> None:
    """pciutils decodes irqsim's own ports and devices (exported as lspci -xxxx) with the same
    Express, LnkCap, LnkSta, LnkCap2 and LnkCtl2 lines as irqsim's lspci view."""
    from irqsim.formats.dumpfile import read_dump_file
    from irqsim.views.export import lspci_hex
    from irqsim.views.lspci import render

    m = Machine()
    nic = VirtioNet(m.ctx)
    set_link_capability(nic.config, LinkSpec(4, 8))
    m.add_device(nic)
    m.boot()
    f = tmp_path / "own.txt"
    f.write_text("".join(lspci_hex(fn, 4096) for fn in m.rc.functions()))
    real = subprocess.run(["lspci", "-F", str(f), "-vvv"], capture_output=True, text=True,
                          check=True).stdout
    ours = render(read_dump_file(f)[0])

    def link_lines(text: str) -> list[str]:
        keys = ("Express (", "LnkCap", "LnkSta", "LnkCtl2", "LnkCtl:")
        return [ln for ln in text.splitlines() if any(k in ln for k in keys)]

    assert link_lines(real) == link_lines(ours)
    assert any("LnkSta:\tSpeed 16GT/s, Width x8" in ln for ln in link_lines(real))


def test_retrain_link_follows_the_target_link_speed() -> None:
    """7.5.3.19 Target Link Speed and 7.5.3.7 Retrain Link: software lowers the port's target
    to 2.5 GT/s and sets Retrain Link (which reads 0); both LnkSta now say Gen1 and the link's
    TLPs pay Gen1's serialization."""
    m = Machine()
    nic = VirtioNet(m.ctx)
    set_link_capability(nic.config, LinkSpec(4, 4))
    port = m.add_root_port()
    m.add_device(nic, port)
    m.boot()
    assert link_status(nic.config) == LinkSpec(4, 4)
    k = m.kernel
    b, d = 0, port.devfn
    ctl2 = k.cfg_read(b, d, 0xC0 + X.LNKCTL2.offset, 2)
    k.cfg_write(b, d, 0xC0 + X.LNKCTL2.offset, 2, ctl2 & ~0xF | 1)
    ctl = k.cfg_read(b, d, 0xC0 + X.LNKCTL.offset, 2)
    k.cfg_write(b, d, 0xC0 + X.LNKCTL.offset, 2, ctl | X.LNKCTL.mask("retrain"))
    assert not k.cfg_read(b, d, 0xC0 + X.LNKCTL.offset, 2) & X.LNKCTL.mask("retrain")
    assert link_status(nic.config) == link_status(port.config) == LinkSpec(1, 4)
    assert nic.link is not None and nic.link.speed == LinkSpec(1, 4)


@given(st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFF))
def test_software_cannot_change_the_link_it_advertises_or_reports(cap: int, sta: int) -> None:
    """LnkCap and LnkCap2 are read-only (7.5.3.6, 7.5.3.18); LnkSta's speed, width and DLL
    Link Active are read-only and its two bandwidth bits RW1C (7.5.3.8): whatever software
    writes, the advertised and trained link stay."""
    m = Machine()
    nic = VirtioNet(m.ctx)
    port = m.add_root_port()
    m.add_device(nic, port)
    cs = port.config
    before = (link_capability(cs), link_status(cs), cs.read(0xC0 + X.LNKCAP2.offset, 4))
    cs.write(0xC0 + X.LNKCAP.offset, 4, cap)
    cs.write(0xC0 + X.LNKCAP2.offset, 4, cap)
    cs.write(0xC0 + X.LNKSTA.offset, 2, sta)
    assert (link_capability(cs), link_status(cs),
            cs.read(0xC0 + X.LNKCAP2.offset, 4)) == before


def test_an_integrated_endpoint_has_no_link() -> None:
    """PCIe 1.3.2.3 / 7.5.3.2: a function on bus 0 without a root port is a Root Complex
    Integrated Endpoint (Device/Port Type 9h) with no link: LnkCap and LnkSta read 0 and its
    TLPs pay the default link's cost."""
    m = Machine()
    nic = VirtioNet(m.ctx)
    m.add_integrated(nic, 5)
    at = nic.config.find_capability(X.CAP_ID_EXP)
    assert at is not None
    assert X.EXP_FLAGS.decode(nic.config.read(at + X.EXP_FLAGS.offset, 2))["type"] == 9
    assert link_capability(nic.config) is None and link_status(nic.config) is None
    assert nic.link is not None and nic.link.speed is None


def test_compare_links_command() -> None:
    """`irqsim compare-links --format json`: one row per generation x width, the MSI TLP's
    serialization per link, every run balanced; a bad width is a usage error (exit 2)."""
    import json

    from click.testing import CliRunner

    from irqsim.cli import main

    r = CliRunner().invoke(main, ["compare-links", "--gens", "1,5", "--widths", "1,16",
                                  "--requests", "5", "--format", "json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [(x["gen"], x["width"]) for x in rows] == [(1, 1), (1, 16), (5, 1), (5, 16)]
    assert [x["msi_serialization_ns"] for x in rows] == [30, 2, 2, 1]
    assert all(x["accounting_balanced"] and x["count"] == 10 for x in rows)
    assert rows[0]["min_ns"] - rows[3]["min_ns"] == 2 * (30 - 1)
    bad = CliRunner().invoke(main, ["compare-links", "--widths", "3"])
    assert bad.exit_code == 2
