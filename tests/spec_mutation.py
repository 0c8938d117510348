"""Mutation check of the register declarations (issue 9 item 1): flip one bit, a test fails.

Each mutation edits one line of a copy of ``src/`` (a declaration in ``irqsim.spec``, or a
model's use of it), then runs the register tests against the copy. A mutation that no test
notices is reported as SURVIVED and the script exits 1.

    PYTHONPATH=src python tests/spec_mutation.py [--list] [NAME ...]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ["tests/unit/test_spec_declarations.py", "tests/unit/test_lapic_registers.py",
         "tests/unit/test_config_space.py", "tests/unit/test_msix_registers.py",
         "tests/unit/test_msi.py", "tests/unit/test_msix.py", "tests/unit/test_ioapic.py",
         "tests/unit/test_vtd_unit.py", "tests/unit/test_i8259.py"]

# name -> (file under src/irqsim, text, replacement)
MUTATIONS: dict[str, tuple[str, str, str]] = {
    "lint0-bit17-writable": (
        "spec/lapic.py", '    fields.append(F("mask", 16, RW))\n',
        '    fields.append(F("mask", 16, RW))\n'
        '    if name == "LINT0":\n        fields.append(F("mutant", 17, RW))\n'),
    "lint-remote-irr-writable": (
        "spec/lapic.py", 'F("remote_irr", 14, RO)', 'F("remote_irr", 14, RW)'),
    "icr-shorthand-widened": (
        "spec/lapic.py", 'F("shorthand", (19, 18), RW', 'F("shorthand", (19, 17), RW'),
    "svr-focus-read-only": (
        "spec/lapic.py", 'F("focus_disable", 9, RW)', 'F("focus_disable", 9, RO)'),
    "tdcr-bit2-writable": (
        "spec/lapic.py", 'F("divide_lo", (1, 0), RW)', 'F("divide_lo", (2, 0), RW)'),
    "bridge-control-master-abort-writable": (
        "spec/pci.py", 'F("master_abort_mode", 5, RO,', 'F("master_abort_mode", 5, RW,'),
    "secondary-status-serr-not-w1c": (
        "spec/pci.py", 'F("received_system_error", 14, RW1C)',
        'F("received_system_error", 14, RO)'),
    "status-parity-rw-not-w1c": (
        "spec/pci.py", 'F("detected_parity_error", 15, RW1C),\n))',
        'F("detected_parity_error", 15, RW),\n))'),
    "command-intx-disable-read-only": (
        "spec/pci.py", 'F("interrupt_disable", 10, RW,', 'F("interrupt_disable", 10, RO,'),
    "msix-vector-control-mask-read-only": (
        "spec/pci.py", 'F("mask", 0, RW), F("reserved", (31, 1), RSVD)',
        'F("mask", 0, RO), F("reserved", (31, 1), RSVD)'),
    "msi-mme-read-only": (
        "spec/pci.py", 'F("multiple_message_enable", (6, 4), RW,',
        'F("multiple_message_enable", (6, 4), RO,'),
    "rte-remote-irr-writable": (
        "spec/ioapic.py", 'F("remote_irr", 14, RO,', 'F("remote_irr", 14, RW,'),
    "msi-data-trigger-bit-moved": (
        "spec/msi.py", 'F("trigger_mode", 15, RW, "0 edge, 1 level")',
        'F("trigger_mode", 13, RW, "0 edge, 1 level")'),
    "irta-reserved-writable": (
        "spec/vtd.py", 'F("reserved", (10, 4), RSVD)', 'F("reserved", (10, 4), RW)'),
    "frcd-fault-bit-not-w1c": (
        "spec/vtd.py", 'F("f", 127, RW1C,', 'F("f", 127, RO,'),
    "irte-xapic-dst-reserved-ignored": (
        "spec/vtd.py", "IRTE_XAPIC_DST_RESERVED = 0xFFFF_00FF << 32",
        "IRTE_XAPIC_DST_RESERVED = 0"),
    "posted-irte-vector-moved": (
        "spec/vtd.py", 'F("vv", (23, 16), RW, "virtual vector posted into PIR")',
        'F("vv", (24, 17), RW, "virtual vector posted into PIR")'),
    "virtio-queue-enable-16-bit": (
        "spec/virtio.py", 'F("enable", (0, 0), RW)', 'F("enable", (15, 0), RW)'),
    "icw4-aeoi-moved": (
        "spec/i8259.py", 'F("aeoi", 1, WO,', 'F("aeoi", 2, WO,'),
    "ocw3-select-moved": (
        "spec/i8259.py", 'F("ocw3", (4, 3), WO,', 'F("ocw3", (5, 4), WO,'),
    "model-pic-level-irr-cleared-at-inta": (
        "apic/i8259.py", "        if not self.is_level(ir):\n            self.irr &= ~(1 << ir)",
        "        self.irr &= ~(1 << ir)"),
    "model-lapic-write-unmasked": (
        "apic/lapic.py", "r.put(self, value & r.wmask)", "r.put(self, value)"),
    "model-x2apic-ignores-reserved-bits": (
        "apic/lapic.py", "if value < 0 or value >> 64 or value & reserved:",
        "if value < 0 or value >> 64:"),
    "model-config-space-ignores-w1c": (
        "pci/config.py", "& ~(b & w1c[j]) & 0xFF", "& 0xFF"),
    "model-msix-ignores-function-mask": (
        "pci/msix.py", "_CTL_MASKED: Final = _CTL_ENABLE | _CTL_FUNCTION_MASK",
        "_CTL_MASKED: Final = _CTL_ENABLE"),
}


def run(name: str, keep_output: bool = False) -> tuple[bool, list[str]]:
    """Apply mutation ``name`` to a copy of src/ and run the register tests; returns
    (killed, failing test ids)."""
    rel, old, new = MUTATIONS[name]
    with tempfile.TemporaryDirectory(prefix="irqsim-mut-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__"))
        path = src / "irqsim" / rel
        text = path.read_text()
        if text.count(old) != 1:
            raise SystemExit(f"{name}: pattern not found exactly once in {rel}")
        path.write_text(text.replace(old, new))
        env = {**os.environ, "PYTHONPATH": str(src)}
        p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            "-n", "2", "-rf", *TESTS], cwd=ROOT, env=env,
                           capture_output=True, text=True, check=False)
        failed = re.findall(r"^FAILED (\S+)", p.stdout, re.M)
        if keep_output:
            print(p.stdout[-3000:])
        return p.returncode != 0, failed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="mutations to run (default: all)")
    ap.add_argument("--list", action="store_true", help="list the mutations and exit")
    a = ap.parse_args()
    if a.list:
        print("\n".join(MUTATIONS))
        return
    survived = 0
    for name in a.names or MUTATIONS:
        killed, failed = run(name)
        survived += not killed
        shown = ", ".join(f.split("::")[-1] for f in failed[:3])
        more = f" (+{len(failed) - 3} more)" if len(failed) > 3 else ""
        print(f"{'killed  ' if killed else 'SURVIVED'} {name}: {shown}{more}", flush=True)
    sys.exit(1 if survived else 0)


if __name__ == "__main__":
    main()
