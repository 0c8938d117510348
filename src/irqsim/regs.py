"""Compatibility alias: the register-declaration machinery lives in :mod:`irqsim.spec.regs`."""

from irqsim.spec.regs import RO, RSVD, RW, RW1C, WO, Access, F, Field, Register

__all__ = ["RO", "RSVD", "RW", "RW1C", "WO", "Access", "F", "Field", "Register"]
