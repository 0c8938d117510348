"""The executor's native hooks (native.c): built with the system C compiler at first use
(or by ``make guest-native``) into a per-user cache, loaded with ctypes; ``None`` when no
compiler is available, and the executor falls back to its Python block hook.

The library counts instructions in C (a code hook that calls Python's boundary handler only
at a deadline) and calls Python when it first sees a block, so the Python cost is per
access, special instruction, engine event and interrupt, not per block (docs/guest.md
"Speed")."""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).with_name("native.c")
NEW_BLOCK = ctypes.CFUNCTYPE(None, ctypes.c_uint64, ctypes.c_uint32)
BOUNDARY = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_uint64)
POLL = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_uint64)
SPECIAL = ctypes.CFUNCTYPE(None, ctypes.c_uint64, ctypes.c_uint32)
HOOK_PAUSE, HOOK_SHADOW, HOOK_SPECIAL, HOOK_RDTSC = 0, 1, 2, 3
HOOK_ADD = ctypes.c_void_p


POLL_SITES = 64                     # native.c's POLL_SITES


class State(ctypes.Structure):
    """``struct irqsim_state`` of native.c (field for field)."""

    _fields_ = [
        ("count", ctypes.c_uint64),
        ("deadline", ctypes.c_uint64),
        ("wait_if", ctypes.c_int32),
        ("rflags_reg", ctypes.c_int32),
        ("boundary", BOUNDARY),
        ("reg_read", ctypes.c_void_p),
        ("new_block", NEW_BLOCK),
        ("seen", ctypes.c_void_p),
        ("seen_mask", ctypes.c_uint64),
        ("seen_n", ctypes.c_uint64),
        ("skip_addr", ctypes.c_uint64),
        ("skip_count", ctypes.c_uint64),
        ("shadow_count", ctypes.c_uint64),
        ("pause", POLL),
        ("pause_gap", ctypes.c_uint64),
        ("pause_repeats", ctypes.c_uint32),
        ("pad0", ctypes.c_uint32),
        ("special", SPECIAL),
        ("reg_write", ctypes.c_void_p),
        ("rax_reg", ctypes.c_int32),
        ("rdx_reg", ctypes.c_int32),
        ("rip_reg", ctypes.c_int32),
        ("pad", ctypes.c_int32),
        ("base_ps", ctypes.c_uint64),
        ("base_count", ctypes.c_uint64),
        ("insn_ps", ctypes.c_uint64),
        ("tsc_khz", ctypes.c_uint64),
        ("tsc_offset", ctypes.c_uint64),
        ("py_read", ctypes.c_void_p),
        ("py_write", ctypes.c_void_p),
        ("m_icr_off", ctypes.c_uint64),
        ("lim_ps", ctypes.c_uint64),
        ("cost_ps", ctypes.c_uint64),
        ("stall_ps", ctypes.c_uint64),
        ("sync_ps", ctypes.c_uint64),
        ("served", ctypes.c_uint64),
        ("poll_last", ctypes.c_uint64 * 2),
        ("poll_run", ctypes.c_uint32 * 2),
        ("poll_have", ctypes.c_uint32),
        ("m_on", ctypes.c_uint32),
        ("m_icr", ctypes.c_uint32),
        ("m_icr_hi", ctypes.c_uint32),
        ("m_icr2_wmask", ctypes.c_uint32),
        ("dirty", ctypes.c_uint32),
        ("spec_keys", ctypes.c_void_p),
        ("spec_kinds", ctypes.c_void_p),
        ("spec_mask", ctypes.c_uint64),
        ("spec_n", ctypes.c_uint64),
        ("stop_req", ctypes.c_uint32),
        ("rcx_reg", ctypes.c_int32),
        ("sp_rax", ctypes.c_uint64),
        ("sp_rcx", ctypes.c_uint64),
        ("sp_rdx", ctypes.c_uint64),
        ("ps_key", ctypes.c_uint64 * POLL_SITES),
        ("ps_last", ctypes.c_uint64 * POLL_SITES),
        ("ps_run", ctypes.c_uint32 * POLL_SITES),
        ("ps_n", ctypes.c_uint32),
        ("pad3", ctypes.c_uint32),
    ]


DIRTY_CLOCK, DIRTY_POLLS, DIRTY_ICR2, DIRTY_SYNC = 1, 2, 4, 8


_lib: Any = None
_tried = False


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "irqsim"


def library_path() -> Path:
    """Where the library built from this exact source lives."""
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]
    return cache_dir() / f"guest_native-{digest}.so"


def build(quiet: bool = True) -> Path | None:
    """Compile native.c (if not already built); the library's path, or None without a
    C compiler or when compiling fails."""
    out = library_path()
    if out.is_file():
        return out
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=out.parent)
    except OSError:
        return None                         # no writable cache: the Python fallback
    os.close(fd)
    try:
        try:
            r = subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", tmp, str(SOURCE)],
                               capture_output=quiet, check=False)
        except OSError:
            return None                     # $CC names no program
        if r.returncode != 0:
            return None
        os.replace(tmp, out)                # atomic: parallel builds do not see half a file
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def load() -> Any:
    """The loaded library, or None (no compiler, build failure, or IRQSIM_GUEST_NATIVE=0)."""
    global _lib, _tried
    if _tried:
        return _lib
    _tried = True
    if os.environ.get("IRQSIM_GUEST_NATIVE", "1") == "0":
        return None
    path = build()
    if path is None:
        return None
    lib = ctypes.CDLL(str(path))
    lib.irqsim_install.argtypes = [ctypes.c_void_p, ctypes.POINTER(State), ctypes.c_void_p,
                                   ctypes.POINTER(ctypes.c_size_t)]
    lib.irqsim_install.restype = ctypes.c_int
    lib.irqsim_hook_at.argtypes = [ctypes.c_void_p, ctypes.POINTER(State), ctypes.c_void_p,
                                   ctypes.c_uint64, ctypes.c_int,
                                   ctypes.POINTER(ctypes.c_size_t)]
    lib.irqsim_hook_at.restype = ctypes.c_int
    lib.irqsim_mmio_map.argtypes = [ctypes.c_void_p, ctypes.POINTER(State), ctypes.c_void_p,
                                    ctypes.c_uint64, ctypes.c_uint64]
    lib.irqsim_mmio_map.restype = ctypes.c_int
    lib.irqsim_forget.argtypes = [ctypes.POINTER(State)]
    lib.irqsim_free.argtypes = [ctypes.POINTER(State)]
    _lib = lib
    return lib


def address(fn: Any) -> int:
    """The C address of a function exported by a ctypes library."""
    return int(ctypes.cast(fn, ctypes.c_void_p).value or 0)
