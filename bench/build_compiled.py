"""Build irqsim's hot path with mypyc into build/compiled (``make compiled``; issue 12 How 2).

The same source, compiled: the package is copied to ``build/compiled/irqsim`` and the
modules in :data:`MODULES` (the engine, software sections, context, tracer, timing model,
trace points, fabric, MSI-X, IOMMU, LAPIC, APIC bus, CPU, IDT gate) are compiled there by
mypyc into C extensions, which Python imports in place of the .py files beside them, and the
engine's native heap functions (sim/_nheap.c, bench/build_native.py) are built beside them. Run with
``PYTHONPATH=build/compiled`` to use them; without it the plain Python package runs (the
default: ``make demo`` and ``make test`` need only python3 and make). Needs mypy (the dev
extra) and a C compiler.

    python bench/build_compiled.py [--out build/compiled] [--strip-trace]
                                   [--modules irqsim/sim/engine.py ...]

``--strip-trace`` builds a measurement-only variant without trace points: in the compiled
modules every read of a tracer's or trace point's ``.on`` switch becomes ``False`` and the
``if`` blocks it guards are removed (an AST transform of the copied source), so the
difference to the normal build is what the guards cost with tracing off (issue 12 goal:
< 5 %). That build cannot trace or measure latency; it is for bench_callgrind only.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from build_native import build as build_native  # noqa: E402

# What mypyc compiles (paths inside the package). Not compiled: sim/reasons.py (mypyc
# rejects Reason's StrEnum.__new__ with extra fields: "Reason object expected"; the ledger in
# sim/accounting.py, apart from it, compiles), the OS and drivers (they call through the
# kernel's dynamic API), devices, views and commands. The spec modules of the hot path are
# compiled so that their ``Final`` constants are C statics in the compiled code instead of
# module-dictionary lookups. A module that stops compiling after a change can be taken off
# this list: the rest still works.
MODULES = (
    "irqsim/sim/engine.py",
    "irqsim/sim/engine_vec.py",
    "irqsim/sim/section.py",
    "irqsim/sim/probe.py",
    "irqsim/sim/context.py",
    "irqsim/sim/trace.py",
    "irqsim/sim/timing.py",
    "irqsim/sim/accounting.py",
    "irqsim/spec/msi.py",
    "irqsim/spec/pci.py",
    "irqsim/spec/lapic.py",
    "irqsim/spec/vtd.py",
    "irqsim/fabric/tlp.py",
    "irqsim/fabric/link.py",
    "irqsim/fabric/root_complex.py",
    "irqsim/pci/function.py",
    "irqsim/pci/bridge.py",
    "irqsim/pci/msix.py",
    "irqsim/iommu/vtd.py",
    "irqsim/apic/lapic.py",
    "irqsim/apic/interconnect.py",
    "irqsim/cpu/cpu.py",
    "irqsim/os/irq.py",
    "irqsim/scenarios/workload.py",
)

SETUP = """
from setuptools import setup
from mypyc.build import mypycify
setup(name="irqsim-compiled", ext_modules=mypycify({mods!r}, opt_level="3"),
      script_args=["build_ext", "--inplace"])
"""


def _guarded(test: ast.expr) -> bool:
    """The test can only be true while a tracer or trace point is on: ``x.on``, or an
    ``and`` with such an operand."""
    if isinstance(test, ast.Attribute):
        return test.attr == "on"
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return any(_guarded(v) for v in test.values)
    return False


def strip_trace(source: str) -> str:
    """``source`` without its trace points (see ``--strip-trace``): each ``if`` without
    ``else`` whose test is guarded by a ``.on`` switch becomes ``pass`` (a line edit, so
    comments and ``type: ignore`` marks stay)."""
    lines = source.splitlines(keepends=True)
    spans = [(n.lineno, n.end_lineno or n.lineno, n.col_offset)
             for n in ast.walk(ast.parse(source))
             if isinstance(n, ast.If) and not n.orelse and _guarded(n.test)]
    for first, last, col in sorted(spans, reverse=True):
        if any(a < first and last <= b for a, b, _ in spans):
            continue                            # inside an outer one being removed
        lines[first - 1:last] = [" " * col + "pass\n"]
    return "".join(lines)


def build(out: Path, modules: tuple[str, ...], no_trace: bool = False) -> float:
    """Copy the package to ``out`` and compile ``modules`` there (``no_trace``: stripped of
    their trace points first); returns seconds taken."""
    start = time.perf_counter()
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(ROOT / "src" / "irqsim", out / "irqsim",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    if no_trace:
        for mod in modules:
            path = out / mod
            path.write_text(strip_trace(path.read_text()))
    # mypy's settings only (the [project] and setuptools tables would redirect the build)
    text = (ROOT / "pyproject.toml").read_text()
    (out / "pyproject.toml").write_text(text[text.index("[tool.mypy]"):])
    (out / "setup_compiled.py").write_text(SETUP.format(mods=list(modules)))
    env = {**os.environ, "PYTHONPATH": str(out)}
    subprocess.run([sys.executable, "setup_compiled.py"], cwd=out, env=env, check=True)
    if not os.environ.get("IRQSIM_KEEP_C"):     # the generated C, for reading profiles
        shutil.rmtree(out / "build", ignore_errors=True)
    build_native(out / "irqsim" / "sim")      # the engine's native heap functions too
    return time.perf_counter() - start


def main() -> None:
    args = sys.argv[1:]
    out = ROOT / "build" / "compiled"
    modules = MODULES
    if "--out" in args:
        out = Path(args[args.index("--out") + 1]).resolve()
    if "--modules" in args:
        modules = tuple(a for a in args[args.index("--modules") + 1:] if not a.startswith("-"))
    took = build(out, modules, no_trace="--strip-trace" in args)
    print(f"compiled {len(modules)} modules into {out} in {took:.0f} s; "
          f"use PYTHONPATH={out}")


if __name__ == "__main__":
    main()
