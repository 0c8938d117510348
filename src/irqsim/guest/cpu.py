"""A processor whose software is real x86 code (run by :mod:`irqsim.guest.executor`).

It keeps :class:`~irqsim.cpu.cpu.Cpu`'s accesses, MSRs, INIT and start-up, and hands what
the core would do at an instruction boundary to the executor: the LAPIC's INTR line, NMIs
(blocked until IRETQ) and faults irqsim raises (#GP on a bad MSR write), which the executor
delivers through the guest's own IDT.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from irqsim.cpu.cpu import EXCEPTION_NAMES, Cpu, Fault
from irqsim.sim.rules import Rule

if TYPE_CHECKING:
    from irqsim.guest.executor import Executor


class GuestCpu(Cpu):
    """A CPU driven by a guest executor (``guest``) instead of irqsim's software sections."""

    __slots__ = ("guest",)

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.guest: Executor | None = None

    # -- what the core samples at instruction boundaries --------------------------------
    def intr(self) -> None:
        if self.guest is not None:
            self.guest.line = True
            self.guest.attention = True
            if self.guest.run.halted:
                self.guest.run.wake(self.guest)

    def nmi(self) -> None:
        if self.guest is not None:
            self.guest.nmi_in()

    def fault(self, vector: int, rule: Rule, message: str, error_code: int = 0) -> Fault:
        name = EXCEPTION_NAMES.get(vector, f"#{vector}")
        f = Fault(self.ctx.engine.now, vector, name, error_code, rule.spec, message, rule.id)
        self.faults.append(f)
        self.ctx.diag(self.name, rule, f"{name}: {message}")
        if self.ctx.tracer.on:
            self.ctx.tracer.emit(f.time, self.name, self.name, "fault", vector=vector,
                                 name=name, rule=rule.spec, rule_id=rule.id)
        if self.guest is not None:
            self.guest.pending_fault = (vector, error_code)
            self.guest.attention = True
        return f

    def cpu_time(self) -> dict[str, int]:
        """Simulated ns running guest code (``guest``, mpstat's %guest) and halted or
        waiting for SIPI (``idle``); the irqsim-OS contexts stay 0 (no OS runs here)."""
        out = super().cpu_time()
        ex = self.guest
        if ex is None:
            return out
        now = self.ctx.engine.now
        idle = min(now, ex.idle_ns(now))
        return {**dict.fromkeys(out, 0), "guest": now - idle, "idle": idle}

    def init_signal(self) -> None:
        super().init_signal()
        if self.guest is not None:
            self.guest.stop("INIT")

    # -- accesses with their cost (the executor charges it to the guest clock) ----------
    def timed_read(self, addr: int, size: int) -> tuple[int, int]:
        """A load from MMIO space: (value, cost in ns), routed as Cpu.read routes it."""
        return self.route_read(addr, size)

    def timed_write(self, addr: int, size: int, value: int) -> int:
        """A store to MMIO space; returns its cost in ns."""
        return self.route_write(addr, size, value)

    def timed_in(self, port: int, size: int) -> tuple[int, int]:
        assert self.platform is not None
        return self.platform.io_read(port, size)

    def timed_out(self, port: int, size: int, value: int) -> int:
        assert self.platform is not None
        return self.platform.io_write(port, size, value)
