"""The compiled hot path (mypyc, ``make compiled``): whether it is in use, and what the
source needs of mypy_extensions (a no-op decorator and ``int`` when it is not installed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_extensions import i64, mypyc_attr
else:
    try:
        from mypy_extensions import i64, mypyc_attr
    except ImportError:                     # plain Python without mypy: nothing to mark
        i64 = int                           # (compiled: an unboxed 64-bit integer)

        def mypyc_attr(*_args: object, **_kwargs: object):
            return lambda cls: cls

__all__ = ["compiled", "i64", "mypyc_attr"]


def compiled() -> bool:
    """True when the engine (and the rest of bench/build_compiled.py's modules) run as
    mypyc-compiled C extensions rather than from their .py source."""
    from irqsim.sim import engine

    return not (engine.__file__ or "").endswith(".py")
