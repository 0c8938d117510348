"""Build a C extension from bench/ and import it, for tests of the native parts."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest


def build_and_load(builder_dir: Path, builder: str, name: str, out: Path) -> ModuleType:
    """Build with ``builder_dir/builder.py``'s ``build(out)`` and import the module from
    the path it returns; skip the test when it cannot build (no C compiler or headers)."""
    sys.path.insert(0, str(builder_dir))
    try:
        build = importlib.import_module(builder).build
    finally:
        sys.path.remove(str(builder_dir))
    path = build(out)
    if path is None:
        pytest.skip("no C compiler or Python headers")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
