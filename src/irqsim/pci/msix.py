"""MSI-X (capability ID 11h), PCI Local Bus 3.0 6.8.2 / PCIe Base 7.7.2.

The capability lives in configuration space; the table (16 bytes per vector)
and the Pending Bit Array live in BAR memory. Effective mask of vector k =
MSI-X disabled OR Function Mask OR the entry's Mask bit (semantics.md C.2).
"""

from __future__ import annotations

from typing import Any, Final

from irqsim.pci.function import PciFunction
from irqsim.sim.accounting import Reason
from irqsim.sim.engine import Fire
from irqsim.sim.rules import rule
from irqsim.sim.trace import shape
from irqsim.spec.pci import (
    CAP_ID_MSIX,
    MSIX_CAP_SIZE,
    MSIX_CTRL_ENABLE,
    MSIX_CTRL_FUNCTION_MASK,
    MSIX_ENTRY,
    MSIX_ENTRY_CTRL,
    MSIX_ENTRY_SIZE,
    MSIX_MESSAGE_CONTROL,
    MSIX_PBA_OFFSET,
    MSIX_TABLE_OFFSET,
    MSIX_VECTOR_MASKED,
)

# Trace events of the hot path (irqsim.sim.trace: kind and field names, once).
_T_SAMPLE: Final = shape("msix-sample", "entry", "masked")

R_TABLE_ACCESS_SIZE = rule(
    "MSIX-TABLE-ACCESS-SIZE", "PCIe 6.1.4.5",
    "MSI-X table accesses are aligned DWORDs or QWORDs")
R_ENTRY_MODIFIED_UNMASKED = rule(
    "MSIX-ENTRY-MODIFIED-UNMASKED", "PCIe 6.1.4.5",
    "an MSI-X entry's address or data must not be modified while the entry is unmasked")
R_PBA_READ_ONLY = rule("MSIX-PBA-READ-ONLY", "PCIe 7.7.2", "the Pending Bit Array is read-only")
R_BEYOND_TABLE = rule(
    "MSIX-BEYOND-TABLE", "PCIe 7.7.2",
    "a function raises only the MSI-X vectors its table has")
R_MEMORY_SPACE = rule("MSIX-MEMORY-SPACE-DISABLED", "PCIe 7.7.2",
           "the MSI-X table and PBA are in Memory Space: enabling MSI-X with it disabled "
           "leaves them unreachable")

_ENTRY_WMASK = tuple(r.wmask for r in MSIX_ENTRY)
_CTL_SHIFT = 8           # the control bits below are tested in Message Control's high byte
_CTL_ENABLE: Final = MSIX_CTRL_ENABLE >> _CTL_SHIFT
_CTL_FUNCTION_MASK: Final = MSIX_CTRL_FUNCTION_MASK >> _CTL_SHIFT
_CTL_MASKED: Final = _CTL_ENABLE | _CTL_FUNCTION_MASK
_VC: Final = MSIX_ENTRY_CTRL.offset >> 2                       # Vector Control's DWORD in an entry
_ENTRY_DWORDS: Final = MSIX_ENTRY_SIZE >> 2


def function_masked(ctl_hi: int) -> bool:
    """MSI-X disabled OR Function Mask, from Message Control's high byte (semantics.md C.2):
    every vector of the function is masked."""
    return ctl_hi & _CTL_MASKED != _CTL_ENABLE


class MsixTable:
    """The MSI-X table region of a BAR: DWORD accesses only (as QEMU)."""

    __slots__ = ("cap",)

    def __init__(self, cap: MsixCapability) -> None:
        self.cap = cap

    def mmio_read(self, offset: int, size: int) -> int:
        """DWORD or aligned QWORD reads (PCIe 6.1.4.5); an aligned 1- or 2-byte read returns
        those bytes of the DWORD, anything else all ones of the access width (diagnostic)."""
        t = self.cap.table
        if size == 4 and not offset & 3:
            return t[offset >> 2]
        if size == 8 and not offset & 7:
            return t[offset >> 2] | (t[(offset >> 2) + 1] << 32)
        fn = self.cap.fn
        if size in (1, 2) and not offset & (size - 1):
            fn.ctx.diag(fn.name, R_TABLE_ACCESS_SIZE,
                        f"{size}-byte MSI-X table read at {offset:#x} is undefined: irqsim "
                        "returns those bytes of the DWORD")
            return (t[offset >> 2] >> (8 * (offset & 3))) & ((1 << (8 * size)) - 1)
        fn.ctx.diag(fn.name, R_TABLE_ACCESS_SIZE,
                    f"{size}-byte MSI-X table read at {offset:#x} (not naturally aligned) "
                    "reads all ones")
        return (1 << (8 * max(size, 0))) - 1

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        if size == 8 and not offset & 7:
            self.mmio_write(offset, 4, value & 0xFFFFFFFF)
            self.mmio_write(offset + 4, 4, value >> 32)
            return
        cap = self.cap
        if size != 4 or offset & 3:
            cap.fn.ctx.diag(cap.fn.name, R_TABLE_ACCESS_SIZE,
                            f"MSI-X table write of {size} bytes at {offset:#x} ignored")
            return
        i = offset >> 2
        k, dw = i >> 2, i & 3
        t = cap.table
        old = t[i]
        new = value & _ENTRY_WMASK[dw]
        if dw != _VC and old != new and not cap.masked(k):
            cap.fn.ctx.diag(
                cap.fn.name, R_ENTRY_MODIFIED_UNMASKED,
                f"table entry {k} {MSIX_ENTRY[dw].name} written while the entry and the "
                "function are unmasked: result undefined; irqsim applies it")
        t[i] = new
        if dw == _VC and old & MSIX_VECTOR_MASKED and not new & MSIX_VECTOR_MASKED:
            cap.unmasked(k)


class MsixPba:
    """The Pending Bit Array region: read-only, writes ignored."""

    __slots__ = ("cap",)

    def __init__(self, cap: MsixCapability) -> None:
        self.cap = cap

    def mmio_read(self, offset: int, size: int) -> int:
        return (self.cap.pba >> (8 * offset)) & ((1 << (8 * size)) - 1)

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        self.cap.fn.ctx.diag(self.cap.fn.name, R_PBA_READ_ONLY,
                             f"write of {value:#x} to the Pending Bit Array ignored")


class MsixCapability:
    """MSI-X state of one function: config registers, table and PBA."""

    __slots__ = ("_sample_fn", "_t_sample", "_t_sample_masked", "_tp_event", "ctl_hi", "fn",
                 "n", "offset", "pba", "pba_iid", "sample_delay", "sources", "table")

    def __init__(self, fn: PciFunction, offset: int, n: int, table_bar: int,
                 table_offset: int, pba_bar: int, pba_offset: int,
                 existing: bool = False) -> None:
        if not 1 <= n <= 2048:
            raise ValueError(f"MSI-X table size {n} outside 1-2048")
        if table_offset & 7 or pba_offset & 7:
            raise ValueError("MSI-X table and PBA offsets must be QWORD aligned")
        self.fn = fn
        self._t_sample = _T_SAMPLE.bind(fn.name, fn.name, False)
        self._t_sample_masked = _T_SAMPLE.bind(fn.name, fn.name, True)
        self.n = n
        self.offset = offset
        cs = fn.config
        if existing:       # the capability bytes are already there (a real dump): masks only
            ctrl = cs.read(offset + 2, 2)
            cs.declare(MSIX_MESSAGE_CONTROL, offset, reset=ctrl)
            cs.declare(MSIX_TABLE_OFFSET, offset, reset=table_offset | table_bar)
            cs.declare(MSIX_PBA_OFFSET, offset, reset=pba_offset | pba_bar)
        else:
            cs.add_capability(CAP_ID_MSIX, offset, MSIX_CAP_SIZE)
            cs.declare(MSIX_MESSAGE_CONTROL, offset, reset=n - 1)
            cs.declare(MSIX_TABLE_OFFSET, offset, reset=table_offset | table_bar)
            cs.declare(MSIX_PBA_OFFSET, offset, reset=pba_offset | pba_bar)
        self.ctl_hi = offset + MSIX_MESSAGE_CONTROL.offset + _CTL_SHIFT // 8
        self.sample_delay = fn.ctx.timing.device_event_detect + fn.ctx.timing.msix_table_read
        # Each entry: address low, address high, data, vector control (mask set at reset).
        self.table: list[int] = [r.reset for r in MSIX_ENTRY] * n
        self.pba = 0
        self.pba_iid: dict[int, int] = {}   # interrupt id held by each set PBA bit
        self._tp_event = fn.ctx.points.event
        # Made once: every message schedules it (a Fire where the engine calls it natively).
        self._sample_fn: Fire | None = _Sample(self) if fn.ctx.engine.fires else None
        self.sources = [f"{fn.name}/msix{k}" for k in range(n)]   # trace/latency labels
        fn.map_region(table_bar, table_offset, 16 * n, MsixTable(self))
        fn.map_region(pba_bar, pba_offset, ((n + 63) // 64) * 8, MsixPba(self))
        fn.listen(offset + 2, 2, self._control_written)

    # -- state -----------------------------------------------------------
    @property
    def enabled(self) -> bool:
        return bool(self.fn.config.data[self.ctl_hi] & _CTL_ENABLE)

    @property
    def function_masked(self) -> bool:
        return bool(self.fn.config.data[self.ctl_hi] & _CTL_FUNCTION_MASK)

    def masked(self, k: int) -> bool:
        """Effective mask of vector ``k``: MSI-X disabled OR Function Mask OR the entry's Mask
        bit (semantics.md C.2; the one place the formula lives)."""
        # function_masked(), inlined: this runs once per message
        return self.fn._cfg_data[self.ctl_hi] & _CTL_MASKED != _CTL_ENABLE or bool(
            self.table[_ENTRY_DWORDS * k + _VC] & MSIX_VECTOR_MASKED)

    def pending(self, k: int) -> bool:
        return bool(self.pba >> k & 1)

    # -- device side -----------------------------------------------------
    def signal(self, k: int, t_event: int | None = None, last: bool = False) -> None:
        """The device raises vector ``k`` now: detection and table read, then send or pend.

        ``last``: this is the very last step of an event callback, so when the table sample
        would be the engine's next entry anyway (``Engine.fold_at``) it runs at
        once instead of as an entry of its own."""
        fn = self.fn
        ctx = fn.ctx
        iid = ctx.ledger.raise_(fn.name)
        engine = ctx.engine
        now = engine.now
        if k >= self.n:
            ctx.ledger.drop(Reason.MSIX_BEYOND_TABLE, iid, fn.name)
            ctx.diag(fn.name, R_BEYOND_TABLE,
                     f"device raised MSI-X vector {k} but the table has {self.n} entries")
            return
        tp = self._tp_event
        if tp.on:
            tp(iid, now if t_event is None else t_event, fn.name)
        t = now + self.sample_delay
        if last and engine.fold_at(t):
            self._sample((k, iid))
        else:
            f = self._sample_fn
            if f is not None:
                engine.push_fire(t, f, (k, iid))
            else:
                engine.push(t, self._sample, (k, iid))

    def signal_last(self, k: int) -> None:
        """:meth:`signal` (now) as the very last step of an event callback (a device event
        that ends with it, e.g. a ``ReplaySource`` action)."""
        self.signal(k, None, True)

    def _sample(self, arg: tuple[int, int]) -> None:
        k, iid = arg
        fn = self.fn
        ctx = fn.ctx
        masked = self.masked(k)
        if ctx.tracer.on:
            ctx.tracer.put1(self._t_sample_masked if masked else self._t_sample, ctx.engine.now,
                            k)
        if masked:
            bit = 1 << k
            if self.pba & bit:
                ctx.ledger.merge(iid, fn.name)
                what = "merged"
            else:
                self.pba |= bit
                self.pba_iid[k] = iid
                what = "pending"
            if ctx.tracer.on:
                ctx.tracer.emit(ctx.engine.now, fn.name, fn.name, "msix-masked", entry=k,
                                pba=what)
            return
        t = self.table
        i = 4 * k
        # Called through the class (send_interrupt is final): compiled, a direct native call
        # instead of a Python-level lookup when the device is an interpreted subclass. The
        # sample is an event of its own (or folded at the end of one) and this is its last
        # step: the link's arrival may be folded into it.
        PciFunction.send_interrupt(fn, t[i] | (t[i + 1] << 32), t[i + 2], ctx.engine.now,
                                   self.sources[k], iid, True)

    def _send(self, k: int, t_sample: int, iid: int) -> None:
        t = self.table
        i = 4 * k
        PciFunction.send_interrupt(self.fn, t[i] | (t[i + 1] << 32), t[i + 2], t_sample,
                                   self.sources[k], iid)

    def unmasked(self, k: int) -> None:
        """Vector ``k`` may have become unmasked: deliver its pending message once."""
        if self.pba >> k & 1 and not self.masked(k):
            self.pba &= ~(1 << k)
            ctx = self.fn.ctx
            now = ctx.engine.now
            iid = self.pba_iid.pop(k, 0)
            if ctx.tracer.on:
                ctx.tracer.emit(now, self.fn.name, self.fn.name, "msix-unmask-send", entry=k)
            if ctx.points.event.on:         # latency counts from the unmask that sends it
                ctx.points.event(iid, now, self.fn.name)
            self._send(k, now + ctx.timing.msix_table_read, iid)

    def _control_written(self, offset: int, size: int, old: bytes) -> None:
        was = old[self.ctl_hi - offset] if offset <= self.ctl_hi < offset + size else None
        if was is None:
            return
        now_b = self.fn.config.data[self.ctl_hi]
        fn = self.fn
        if now_b & _CTL_ENABLE and not was & _CTL_ENABLE:
            if not fn.decodes_memory():             # a VF: its PF's VF MSE
                fn.ctx.diag(fn.name, R_MEMORY_SPACE,
                            "MSI-X enabled while Memory Space Enable is clear: the table and "
                            "PBA cannot be reached by software")
            fn.msix_enabled_changed(True)
        elif was & _CTL_ENABLE and not now_b & _CTL_ENABLE:
            fn.msix_enabled_changed(False)
        if function_masked(was) and not function_masked(now_b):
            pba = self.pba
            k = 0
            while pba:
                if pba & 1:
                    self.unmasked(k)
                pba >>= 1
                k += 1


class _Sample(Fire):
    """``MsixCapability._sample`` as a :class:`~irqsim.sim.engine.Fire` (compiled engine)."""

    __slots__ = ("cap",)

    def __init__(self, cap: MsixCapability) -> None:
        self.cap = cap

    def fire(self, arg: Any) -> None:
        self.cap._sample(arg)
