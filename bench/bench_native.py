"""Instructions per event (callgrind): the engine in plain Python, compiled by mypyc, and the
prototype native engine (bench/native/cengine.c), on the same event pattern.

``streams`` independent chains, each event rescheduling its chain at ``now + gap`` (gaps
precomputed, deterministic), like the arrival and stage events of bench_msix (about 8
entries in the heap at 1 CPU, a few hundred at 64). The callback is the same interpreted
bound method for all three, so the difference is the engine's own cost (push, pop,
comparisons, dispatch). Difference of a short and a long run, so start-up cancels.

    python bench/bench_native.py [--streams 8 256] [--small 20000] [--large 120000]

Needs valgrind and a C compiler; ``--compiled DIR`` (default build/compiled) adds the mypyc
row when that build exists.
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
sys.path.insert(0, str(HERE / "native"))
from build import build  # noqa: E402

SCRIPT = """
import sys, random
sys.path[:0] = {path!r}
{make}
rng = random.Random(1)
gaps = [int(rng.expovariate(1 / 1000)) for _ in range(4096)]
class Chain:
    __slots__ = ("eng", "i", "left")
    def __init__(self, eng, i, left):
        self.eng, self.i, self.left = eng, i, left
        eng.at(eng.now + gaps[i % 4096], self.fire)
    def fire(self, _):
        self.left -= 1
        if self.left > 0:
            self.i += 7
            self.eng.at(self.eng.now + gaps[self.i % 4096], self.fire)
for s in range({streams}):
    Chain(eng, s * 131, {n} // {streams})
eng.run()
"""
MAKE = {
    "engine": "from irqsim.sim.engine import Engine; eng = Engine()",
    "native": "from cengine import CEngine; eng = CEngine()",
}


def instructions(script: str, env_path: str) -> int:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(script)
        path = f.name
    try:
        out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                              sys.executable, path], capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": env_path})
    finally:
        os.unlink(path)
    m = re.search(r"Collected : (\d+)", out.stderr)
    if m is None:
        raise RuntimeError(out.stderr[-500:])
    return int(m.group(1))


def per_event(kind: str, path: list[str], streams: int, small: int, large: int) -> float:
    counts = [instructions(SCRIPT.format(path=path, make=MAKE[kind], streams=streams, n=n),
                           os.pathsep.join(path)) for n in (small, large)]
    return (counts[1] - counts[0]) / (large - small)


@click.command(help=__doc__.splitlines()[0])
@click.option("--streams", type=int, multiple=True, default=(8, 256), show_default=True)
@click.option("--small", type=int, default=20000)
@click.option("--large", type=int, default=120000)
@click.option("--compiled", "compiled_dir", default=str(HERE.parent / "build" / "compiled"))
def main(streams: tuple[int, ...], small: int, large: int, compiled_dir: str) -> None:
    if shutil.which("valgrind") is None:
        print("valgrind not found: nothing measured")
        return
    with tempfile.TemporaryDirectory() as tmp:
        built = build(Path(tmp))
        if built is None:
            print("no C compiler: nothing measured")
            return
        rows = [("plain engine", "engine", [str(HERE.parent / "src")])]
        if (Path(compiled_dir) / "irqsim").is_dir():
            rows.append(("mypyc engine", "engine", [compiled_dir]))
        rows.append(("native prototype", "native", [tmp]))
        print("instructions per event (engine + one interpreted callback that reschedules)")
        print(f"{'engine':>18} | " + " | ".join(f"{s:>6} streams" for s in streams))
        for label, kind, path in rows:
            cells = [per_event(kind, path, s, small, large) for s in streams]
            print(f"{label:>18} | " + " | ".join(f"{c:>13,.0f}" for c in cells))


if __name__ == "__main__":
    run(main)
