"""The compiled hot path (issue 12 How 2): the same source, compiled or not.

``make test-compiled`` runs a subset of the suite with ``PYTHONPATH=build/compiled`` and
IRQSIM_EXPECT_COMPILED=1; this test makes sure that run really imported the mypyc
extensions (else it would silently test the plain modules twice).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest

from irqsim.sim.compiled import compiled, mypyc_attr

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from build_compiled import MODULES


def test_the_expected_modules_are_compiled_or_plain() -> None:
    """Under IRQSIM_EXPECT_COMPILED=1 every module of bench/build_compiled.py's list is a C
    extension; otherwise (the default suite) each is its .py source."""
    want = bool(os.environ.get("IRQSIM_EXPECT_COMPILED"))
    assert compiled() == want
    for path in MODULES:
        mod = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        assert (not str(mod.__file__).endswith(".py")) == want, mod.__file__


def test_the_compiled_build_uses_the_native_heap() -> None:
    """build_compiled.py builds the engine's native heap functions (sim/_nheap.c) beside the
    compiled modules, and the engine uses them; IRQSIM_NATIVE_HEAP=0 would select heapq."""
    if not os.environ.get("IRQSIM_EXPECT_COMPILED"):
        pytest.skip("compiled build only")
    from irqsim.sim import engine

    want = os.environ.get("IRQSIM_NATIVE_HEAP", "1") != "0"
    assert engine.NATIVE_HEAP is want


def test_machines_use_the_vec_engine_only_where_it_is_compiled() -> None:
    """new_engine (sim/engine.py): the compiled build's machines get the VecEngine (heap in
    vec[i64] arrays, sim/engine_vec.py) unless IRQSIM_VEC_HEAP=0; the plain package's get
    Engine (heapq or the native heap functions) and never import engine_vec's librt."""
    from irqsim.sim.engine import Engine, new_engine

    eng = new_engine()
    want = compiled() and os.environ.get("IRQSIM_VEC_HEAP", "1") != "0"
    assert (type(eng).__name__ == "VecEngine") is want
    assert want or type(eng) is Engine


def test_mypyc_attr_leaves_plain_classes_alone() -> None:
    """In plain Python the decorator returns the class unchanged (subclassing works)."""
    if compiled():
        pytest.skip("plain Python only")

    @mypyc_attr(allow_interpreted_subclasses=True)
    class A:
        x = 1

    class B(A):
        pass

    assert B().x == 1 and B.__mro__[1] is A
