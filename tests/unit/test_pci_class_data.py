"""The pci.ids class table is a data file shipped in the package (issue 9 item 5)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

from irqsim.views.lspci import class_name, progif_name

ROOT = Path(__file__).resolve().parents[2]


def test_class_names_come_from_the_data_file() -> None:
    """Class, subclass and prog-if names are read from ``pci_classes.ids`` (pci.ids syntax)."""
    text = resources.files("irqsim.views").joinpath("pci_classes.ids").read_text("utf-8")
    assert "C 01  Mass storage controller\n\t00  SCSI storage controller\n\t01  IDE interface\n" \
        "\t\t00  ISA Compatibility mode-only controller\n" in text
    assert class_name(0x0100) == "SCSI storage controller"
    assert class_name(0x01FE) == "Mass storage controller [01fe]"
    assert progif_name(0x0101, 0x00) == "ISA Compatibility mode-only controller"


def test_a_built_package_ships_the_class_table(tmp_path: Path) -> None:
    """setuptools' build (what a wheel or install copies) includes ``pci_classes.ids``: it is
    declared as package data in pyproject.toml."""
    src = tmp_path / "tree"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "src", src / "src",
                    ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    out = tmp_path / "build"
    subprocess.run([sys.executable, "-c", "import setuptools; setuptools.setup()", "-q",
                    "build_py", "-d", str(out)], cwd=src, check=True, capture_output=True)
    shipped = out / "irqsim" / "views" / "pci_classes.ids"
    assert shipped.read_bytes() == (ROOT / "src/irqsim/views/pci_classes.ids").read_bytes()
