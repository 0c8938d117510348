"""irqsim: a register-accurate, timed model of x86 interrupt delivery from PCIe devices."""

__version__ = "0.1.0"
