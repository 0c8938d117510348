"""Build irqsim's hot path with mypyc into build/compiled (``make compiled``; issue 12 How 2).

The same source, compiled: the package is copied to ``build/compiled/irqsim`` and the
modules in :data:`MODULES` (the engine, software sections, context, tracer, timing model,
trace points, fabric, MSI-X, IOMMU, LAPIC, APIC bus, CPU, IDT gate) are compiled there by
mypyc into C extensions, which Python imports in place of the .py files beside them, and the
engine's native heap functions (sim/_nheap.c, bench/build_native.py) are built beside them. Run with
``PYTHONPATH=build/compiled`` to use them; without it the plain Python package runs (the
default: ``make demo`` and ``make test`` need only python3 and make). Needs mypy (the dev
extra) and a C compiler.

    python bench/build_compiled.py [--out build/compiled] [--strip-trace] [--opt 3]
                                   [--pgo auto|on|off] [--modules irqsim/sim/engine.py ...]

``--pgo`` (default ``auto``: on with GCC): profile-guided optimisation. The modules are
compiled instrumented, bench/pgo_train.py runs the hot paths on them, and the same C is
compiled again with that profile; results are the same, the code is laid out for the hot
path (docs/performance.md "Compiler flags").

``--strip-trace`` builds a measurement-only variant without trace points: in the compiled
modules every read of a tracer's or trace point's ``.on`` switch becomes ``False`` and the
``if`` blocks it guards are removed (an AST transform of the copied source), so the
difference to the normal build is what the guards cost with tracing off (issue 12 goal:
< 5 %). That build cannot trace or measure latency; it is for bench_callgrind only.
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from build_native import build as build_native  # noqa: E402

# What mypyc compiles (paths inside the package). Not compiled: sim/reasons.py (mypyc
# rejects Reason's StrEnum.__new__ with extra fields: "Reason object expected"; the ledger in
# sim/accounting.py, apart from it, compiles), most of the OS, drivers and devices (they
# call through the kernel's dynamic API; the NIC path's are compiled: the multi-queue NIC,
# its driver, softirqs/NAPI, DIM, moderation, traffic, latency bins, NUMA costs, RAM and
# config space), views and commands.
# The spec modules of the hot path are compiled so that their ``Final`` constants are C
# statics in the compiled code instead of module-dictionary lookups. A module that stops
# compiling after a change can be taken off this list: the rest still works.
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
    "irqsim/fabric/memory.py",
    "irqsim/pci/config.py",
    "irqsim/net/moderation.py",
    "irqsim/os/dim.py",
    "irqsim/os/softirq.py",
    "irqsim/devices/netnic.py",
    "irqsim/drivers/netnic.py",
    "irqsim/net/traffic.py",
    "irqsim/net/stats.py",
    "irqsim/platform/numa.py",
)

SETUP = """
import sys
from setuptools import setup
from mypyc.build import mypycify
setup(name="irqsim-compiled", ext_modules=mypycify({mods!r}, opt_level={opt!r}),
      script_args=["build_ext", "--inplace", *sys.argv[1:]])
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


def gcc() -> bool:
    """Whether Python's C compiler is GCC (whose profile flags ``--pgo`` uses)."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout
    except OSError:
        return False
    return "Free Software Foundation" in out


def _setup(out: Path, env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "setup_compiled.py", *args], cwd=out, env=env,
                   check=True)


def build(out: Path, modules: tuple[str, ...], no_trace: bool = False, opt: str = "3",
          pgo: bool = False) -> float:
    """Copy the package to ``out`` and compile ``modules`` there (``no_trace``: stripped of
    their trace points first; ``opt``: the C optimisation level; ``pgo``: compile twice,
    the second time with the profile of a training run, bench/pgo_train.py); returns
    seconds taken."""
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
    (out / "setup_compiled.py").write_text(SETUP.format(mods=list(modules), opt=opt))
    build_native(out / "irqsim" / "sim")      # the engine's native heap functions too
    env = {**os.environ, "PYTHONPATH": str(out)}
    if gcc():
        # The extension's functions call each other directly (no PLT stub between compiled
        # functions) and may be inlined into each other: nothing interposes them.
        env["CFLAGS"] = f"{env.get('CFLAGS', '')} -fno-semantic-interposition"
    if pgo:
        # GCC's profile-guided optimisation: an instrumented build runs the training, then
        # the same C is compiled again with its profile (hot code laid out together and
        # optimised for speed; code the training never ran optimised as without a profile).
        prof = out / "pgo"
        cflags = env.get("CFLAGS", "")      # the user's flags, kept
        gen = f"{cflags} -fprofile-generate={prof} -fprofile-update=single"
        ldflags = f"{os.environ.get('LDFLAGS', '')} -fprofile-generate={prof}"
        _setup(out, {**env, "CFLAGS": gen, "LDFLAGS": ldflags})
        subprocess.run([sys.executable, str(ROOT / "bench" / "pgo_train.py")], cwd=out,
                       env=env, check=True)
        use = f"{cflags} -fprofile-use={prof} -fprofile-partial-training -Wno-missing-profile"
        _setup(out, {**env, "CFLAGS": use}, "--force")
        shutil.rmtree(prof, ignore_errors=True)
    else:
        _setup(out, env)
    if not os.environ.get("IRQSIM_KEEP_C"):     # the generated C, for reading profiles
        shutil.rmtree(out / "build", ignore_errors=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "compiled")
    ap.add_argument("--modules", nargs="+", default=list(MODULES),
                    help="paths inside the package (default: MODULES)")
    ap.add_argument("--strip-trace", action="store_true",
                    help="without trace points (a measurement-only build)")
    ap.add_argument("--opt", default="3", help="the C optimisation level (-O)")
    ap.add_argument("--pgo", choices=("auto", "on", "off"), default="auto",
                    help="profile-guided optimisation (auto: with GCC)")
    a = ap.parse_args()
    pgo = a.pgo == "on" or (a.pgo == "auto" and gcc())
    out = a.out.resolve()
    took = build(out, tuple(a.modules), no_trace=a.strip_trace, opt=a.opt, pgo=pgo)
    print(f"compiled {len(a.modules)} modules into {out} in {took:.0f} s"
          f"{' with profile-guided optimisation' if pgo else ''}; use PYTHONPATH={out}")


if __name__ == "__main__":
    main()
