"""The timing model: every per-stage cost in one object.

Defaults come from seed 003 (``shared/seeds/003_*.txt``); the ``SOURCES`` table
names the line each figure is taken from. Latencies are never stored as totals:
they emerge from the stages the simulated hardware and software go through.
All values are integer nanoseconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any


@dataclass(slots=True)
class TimingModel:
    """Per-stage costs in ns (integers)."""

    # Device side (seed 003, "MSI-X Latency" breakdown, steps 1-3)
    device_event_detect: int = 50
    msix_table_read: int = 50
    msi_capability_read: int = 50
    tlp_generation: int = 50
    # Fabric (step 4: 50-100 ns per hop; Gen3 x1 10-30 ns per 64 bytes)
    pcie_hop: int = 75
    pcie_ns_per_64_bytes: int = 20
    # Root complex (step 5) and the interrupt path after it (steps 6-7)
    root_complex: int = 75
    iommu_passthrough: int = 0
    msg_to_lapic: int = 75
    lapic_delivery: int = 75
    # CPU (steps 8-9 and "Latency Contributors Breakdown")
    cpu_acceptance: int = 50
    context_save: int = 30
    handler_dispatch: int = 60
    handler_base: int = 150
    context_restore: int = 60
    # Software accesses (seed 003: xAPIC MMIO ~30-40 ns, x2APIC MSR ~10-20 ns)
    lapic_mmio_access: int = 35
    lapic_msr_access: int = 15
    device_mmio_read: int = 500
    device_mmio_write: int = 40
    config_access: int = 200
    memory_read: int = 80
    memory_write: int = 40

    def with_(self, **changes: int) -> TimingModel:
        """A copy with some costs changed; unknown names raise ValueError."""
        known = {f.name for f in fields(self)}
        for k, v in changes.items():
            if k not in known:
                raise ValueError(f"timing: unknown stage {k!r}")
            if not isinstance(v, int) or v < 0:
                raise ValueError(f"timing: {k} must be a non-negative integer ns, got {v!r}")
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


SOURCES: dict[str, str] = {
    "device_event_detect": "003 MSI-X Latency step 1: device event detection 50-100 ns",
    "msix_table_read": "003 MSI-X Latency step 2: MSI-X table read (local BAR) 50-100 ns",
    "msi_capability_read": "003 MSI Latency step 2: MSI capability read (cached) 50-100 ns",
    "tlp_generation": "003 MSI-X Latency step 3: Memory Write TLP generation 50-100 ns",
    "pcie_hop": "003 MSI Latency step 4: PCIe transmission 50-100 ns per hop",
    "pcie_ns_per_64_bytes": "003 PCIe Transmission box: Gen3 x1 ~10-30 ns per 64 bytes",
    "root_complex": "003 MSI-X Latency step 5: root complex processing 50-100 ns",
    "iommu_passthrough": "interrupt remapping off: compatibility-format write passes through",
    "msg_to_lapic": "003 MSI-X Latency step 6: interrupt message to LAPIC 50-100 ns",
    "lapic_delivery": "003 MSI-X Latency step 7: LAPIC delivery 50-100 ns",
    "cpu_acceptance": "003 MSI-X Latency step 8: CPU interrupt acceptance 50 ns",
    "context_save": "003 step 8 box: pipeline flush & context save 20-40 ns",
    "handler_dispatch": "003 step 9 box: handler dispatch 40-80 ns",
    "handler_base": "003 IPI receiver overhead: handler execution ~200-500 cycles",
    "context_restore": "003 Contributors: context save/restore 40-80 ns",
    "lapic_mmio_access": "003 LAPIC: MMIO register access (xAPIC) ~30-40 ns",
    "lapic_msr_access": "003 LAPIC: MSR register access (x2APIC) ~10-20 ns",
    "device_mmio_read": "non-posted read round trip across PCIe (irqsim choice)",
    "device_mmio_write": "posted write leaving the CPU (irqsim choice)",
    "config_access": "ECAM configuration access (irqsim choice)",
    "memory_read": "DRAM read (irqsim choice)",
    "memory_write": "DRAM write (irqsim choice)",
}
