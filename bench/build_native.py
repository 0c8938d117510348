"""Build the engine's native heap functions (src/irqsim/sim/_nheap.c) with the C compiler:
one file, no setuptools, about a second (``make native``; issue 12, docs/performance.md
"Session 3"). Optional: without the extension irqsim.sim.engine uses heapq, with the same
results.

    python bench/build_native.py [PACKAGE_SIM_DIR]

builds ``_nheap`` into PACKAGE_SIM_DIR (default: src/irqsim/sim, so the plain package uses
it; bench/build_compiled.py builds it into build/compiled/irqsim/sim) and prints its path.
Needs a C compiler and the Python headers (python3-dev).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "irqsim" / "sim" / "_nheap.c"


def build(simdir: Path) -> Path | None:
    """Compile _nheap.c into ``simdir``; None without a C compiler or Python headers."""
    cc = shutil.which("cc") or shutil.which("gcc")
    include = sysconfig.get_paths()["include"]
    if cc is None or not (Path(include) / "Python.h").exists():
        return None
    out = simdir / ("_nheap" + (sysconfig.get_config_var("EXT_SUFFIX") or ".so"))
    subprocess.run([cc, "-O2", "-DNDEBUG", "-shared", "-fPIC", "-Wall", "-Werror", f"-I{include}",
                    str(SOURCE), "-o", str(out)], check=True)
    return out


if __name__ == "__main__":
    path = build(Path(sys.argv[1]) if len(sys.argv) > 1 else SOURCE.parent)
    print(path if path else "no C compiler or Python headers: nothing built (heapq is used)")
