"""Build the prototype native engine (bench/native/cengine.c) with the C compiler: one file,
no setuptools, about a second. ``python bench/native/build.py [OUTDIR]`` prints the path of
the extension; :func:`build` returns it (or None when no C compiler is found)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

HERE = Path(__file__).resolve().parent


def build(outdir: Path) -> Path | None:
    """Compile cengine.c into ``outdir``; None without a C compiler or Python headers."""
    cc = shutil.which("cc") or shutil.which("gcc")
    include = sysconfig.get_paths()["include"]
    if cc is None or not (Path(include) / "Python.h").exists():
        return None
    outdir.mkdir(parents=True, exist_ok=True)
    out = outdir / ("cengine" + (sysconfig.get_config_var("EXT_SUFFIX") or ".so"))
    subprocess.run([cc, "-O2", "-shared", "-fPIC", "-Wall", "-Werror", f"-I{include}",
                    str(HERE / "cengine.c"), "-o", str(out)], check=True)
    return out


if __name__ == "__main__":
    path = build(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "build")
    print(path if path else "no C compiler or Python headers: nothing built")
