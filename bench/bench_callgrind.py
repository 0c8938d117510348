"""Instructions per simulated interrupt (callgrind): irqsim's MSI-X path and the heapq anchor.

Wall-clock rates on a shared 2-core machine swing by 2x between runs; instruction counts do
not. This runs bench_msix.py's workload (tracing off) and the plain-heapq reference model
under ``valgrind --tool=callgrind`` at two sizes and prints the instructions per interrupt
(the difference of the two runs, so start-up and imports cancel out) and their ratio, the
deterministic counterpart of bench_msix.py's "vs heapq" column.

    python bench/bench_callgrind.py [--cpus 1 64] [--small 1000] [--large 6000] [--trace]

``--trace`` also counts irqsim with the structured tracer on (the "tracing on" cost).
``--cache`` also simulates the caches and branch predictor (slower) and prints L1
instruction- and data-cache misses, last-level data misses and mispredicted branches per
interrupt, for irqsim and the anchor: what makes the wall-clock ratio differ from the
instruction ratio (docs/performance.md sections 9 and 11). ``--l2 BYTES`` simulates a
last level of that size (16-way) instead of the machine's last level, e.g. ``--l2 1048576``
for a 1 MiB L2: the misses that leave the L2, as in section 11.
``--compiled-anchor`` also compiles the heapq anchor with mypyc (its source is written for
that) and counts it: the single-source route's ceiling (docs/performance.md section 5).

Needs valgrind on the PATH and ../shared/bench/anchors; prints a note and exits 0 without.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import click

from benchcli import run

HERE = Path(__file__).resolve().parent
ANCHORS = HERE.parents[0] / ".." / "shared" / "bench" / "anchors"

IRQSIM = """
import sys
sys.path.insert(0, {bench!r}); sys.path.insert(0, {anchors!r})
import bench_msix
from workload import Workload
bench_msix.run_irqsim(Workload(n_total={n}, n_cpus={cpus}, load=0.95, seed=1, iommu=True),
                      {trace})
"""
HEAPQ = """
import sys
sys.path.insert(0, {anchors!r})
import sim_heapq
from workload import Workload
sim_heapq.run(Workload(n_total={n}, n_cpus={cpus}, load=0.95, seed=1, iommu=True))
"""


def compile_anchor(out: Path) -> Path:
    """The heapq anchor compiled by mypyc into ``out`` (its directory goes first on the
    path); about half a minute."""
    for name in ("sim_heapq.py", "workload.py"):      # workload.py for mypyc's type check
        shutil.copy(ANCHORS / name, out / name)
    (out / "setup.py").write_text(
        "from setuptools import setup\nfrom mypyc.build import mypycify\n"
        "setup(name='anchor', ext_modules=mypycify(['sim_heapq.py'], opt_level='3'),\n"
        "      script_args=['build_ext', '--inplace'])\n")
    subprocess.run([sys.executable, "setup.py"], cwd=out, check=True, capture_output=True)
    return out


COUNTS = {"ir": r"Collected : (\d+)", "i1": r"I1  misses:\s+([\d,]+)",
          "d1": r"D1  misses:\s+([\d,]+)", "lld": r"LLd misses:\s+([\d,]+)",
          "bm": r"Mispredicts:\s+([\d,]+)"}


def counts(script: str, cache: bool = False, l2: int | None = None) -> dict[str, int]:
    """Instructions callgrind counts for running ``script`` with this Python (``ir``), and
    with ``cache`` its L1 instruction- and data-cache misses (``i1``, ``d1``), last-level
    data misses (``lld``; ``l2``: a last level of that many bytes) and mispredicted
    branches (``bm``)."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(script)
        path = f.name
    sim = ["--cache-sim=yes", "--branch-sim=yes"] if cache else []
    if cache and l2:
        sim.append(f"--LL={l2},16,64")
    try:
        out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                              *sim, sys.executable, path], capture_output=True, text=True,
                             check=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    finally:
        os.unlink(path)
    got = {}
    for key, pattern in COUNTS.items():
        if key != "ir" and not cache:
            continue
        m = re.search(pattern, out.stderr)
        if m is None:
            raise RuntimeError(f"no {key} count in valgrind's output:\n{out.stderr[-500:]}")
        got[key] = int(m.group(1).replace(",", ""))
    return got


def per_interrupt_counts(template: str, cpus: int, small: int, large: int,
                         trace: bool = False, cache: bool = False,
                         l2: int | None = None) -> dict[str, float]:
    """Each count per interrupt: the difference of a ``small`` and a ``large`` run."""
    kw = {"bench": str(HERE), "anchors": str(ANCHORS.resolve()), "cpus": cpus,
          "trace": trace}
    a = counts(template.format(n=small, **kw), cache, l2)
    b = counts(template.format(n=large, **kw), cache, l2)
    return {k: (b[k] - a[k]) / (large - small) for k in a}


def per_interrupt(template: str, cpus: int, small: int, large: int,
                  trace: bool = False) -> float:
    """Instructions per interrupt."""
    return per_interrupt_counts(template, cpus, small, large, trace)["ir"]


@click.command(help=__doc__.splitlines()[0])
@click.option("--cpus", type=int, multiple=True, default=(1, 64), show_default=True)
@click.option("--small", type=int, default=1000, help="interrupts in the short run")
@click.option("--large", type=int, default=6000, help="interrupts in the long run")
@click.option("--trace", is_flag=True, help="also count irqsim with tracing on")
@click.option("--compiled-anchor", is_flag=True,
              help="also count the heapq anchor compiled by mypyc")
@click.option("--cache", is_flag=True,
              help="also count cache misses and mispredicted branches (slower)")
@click.option("--l2", type=click.IntRange(min=1024), default=None,
              help="with --cache: simulate a last level of this many bytes (e.g. an L2)")
def main(cpus: tuple[int, ...], small: int, large: int, trace: bool,
         compiled_anchor: bool, cache: bool, l2: int | None) -> None:
    if large <= small:
        raise click.UsageError("--large must exceed --small")
    if l2 is not None and (not cache or l2 & (l2 - 1)):
        raise click.UsageError(f"--l2 {l2}: needs --cache and a power of two")
    if shutil.which("valgrind") is None or not ANCHORS.is_dir():
        print("valgrind or ../shared/bench/anchors not found: nothing measured")
        return
    print("MSI-X end to end (bench_msix workload, tracing off): instructions per interrupt")
    print(f"{'cpus':>6} | {'irqsim':>10} | {'heapq':>10} | {'vs heapq':>9}")
    for n in cpus:
        our = per_interrupt_counts(IRQSIM, n, small, large, cache=cache, l2=l2)
        their = per_interrupt_counts(HEAPQ, n, small, large, cache=cache, l2=l2)
        ours, ref = our["ir"], their["ir"]
        line = f"{n:>6} | {ours:>10,.0f} | {ref:>10,.0f} | {ref / ours:>8.3f}x"
        if cache:
            line += (f" | I1 misses {our['i1']:,.0f} vs {their['i1']:,.0f}"
                     f" | D1 misses {our['d1']:,.0f} vs {their['d1']:,.0f}"
                     f" | LLd misses {our['lld']:,.1f} vs {their['lld']:,.1f}"
                     f" | mispredicts {our['bm']:,.0f} vs {their['bm']:,.0f}")
        if trace:
            on = per_interrupt(IRQSIM, n, small, large, trace=True)
            line += f" | traced {on:>10,.0f} ({on / ours:.2f}x)"
        if compiled_anchor:
            with tempfile.TemporaryDirectory() as tmp:
                where = compile_anchor(Path(tmp))
                c = per_interrupt(HEAPQ.replace(
                    "import sim_heapq", f"sys.path.insert(0, {str(where)!r})\nimport sim_heapq"),
                    n, small, large)
            line += f" | heapq mypyc {c:>10,.0f} ({ref / c:.2f}x heapq)"
        print(line)
    print("vs heapq: the reference's instructions per interrupt divided by irqsim's "
          "(higher is faster)")


if __name__ == "__main__":
    run(main)
