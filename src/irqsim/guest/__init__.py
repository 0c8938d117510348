"""Real x86-64 code on the model: a Unicorn front-end (optional: ``pip install 'irqsim[guest]'``).

The Unicorn CPU emulator executes the guest's instructions; irqsim handles every access to
the LAPIC page, ECAM, BARs, the I/O APIC, ports and the APIC MSRs at the guest's simulated
instant, and delivers interrupts into the guest through the guest's own IDT. The Unicorn core
is GPL-2.0 (its Python binding is BSD); irqsim does not depend on it unless this layer is
used. docs/guest.md describes the design, the time model and what kvm-unit-tests report.
"""

from __future__ import annotations

__all__ = ["GuestError", "available"]


class GuestError(Exception):
    """A guest image or option irqsim cannot run (the message names the file or field)."""


def available() -> bool:
    """True when the Unicorn extra is installed."""
    try:
        import unicorn  # noqa: F401
    except ImportError:
        return False
    return True
