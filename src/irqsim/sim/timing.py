"""The timing model: every per-stage cost in one object.

Defaults come from seed 003 (``shared/seeds/003_*.txt``); the ``SOURCES`` table
names the line each figure is taken from. Latencies are never stored as totals:
they emerge from the stages the simulated hardware and software go through.
All values are integer nanoseconds, except ``tsc_khz`` (a frequency, as Linux's
``tsc_khz``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
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
    # INTx path (seed 003 "Legacy INTx Path", "INTx Limitations", "I/O APIC Latency")
    intx_message: int = 150
    rc_to_ioapic: int = 150
    ioapic_processing: int = 150
    ioapic_to_lapic: int = 75
    ioapic_eoi: int = 150
    # Legacy platform (docs/legacy-pc.md): ISA IRQs reach the chipset as a serialized IRQ
    # stream, a conventional PCI INTx# pin goes through the chipset's PIRQ router, the
    # CPU's INTA cycles to the 8259 and port I/O to the 8259/ELCR are chipset I/O cycles.
    serirq_frame: int = 2100
    pirq_route: int = 30
    pic_inta: int = 1000
    pci33_read: int = 540
    legacy_port_io: int = 1000
    # Inter-processor interrupts (seed 003 "IPI Latency"): the sender's APIC builds the message,
    # the interconnect carries it one hop whose cost depends on where the target sits.
    ipi_send: int = 17
    ipi_icr_idle_wait: int = 17
    ipi_hop_same_core: int = 150
    ipi_hop_same_socket: int = 600
    ipi_hop_cross_socket: int = 4200
    ipi_receiver_overhead: int = 115
    tlb_flush_local: int = 100
    # NMI (seed 003 "NMI Performance Impact")
    nmi_delivery: int = 300
    nmi_handler: int = 1000
    # VT-d interrupt remapping (reference/vtd-posted.md 8: no public figure exists; seed 003's
    # "+50-100 ns for remapping" has no source). Request decode and index check, an IRTE from
    # the interrupt entry cache or from memory, the posted-interrupt descriptor's atomic
    # update, a fault record written.
    ir_decode: int = 5
    ir_iec_hit: int = 5
    ir_iec_miss: int = 100
    ir_pid_update: int = 150
    ir_fault_record: int = 100
    # Networking (docs/networking.md): NIC DMA, softirq/NAPI, stack and application costs.
    nic_rx_dma: int = 300
    softirq_entry: int = 100
    net_rx_action_base: int = 100
    napi_poll_base: int = 200
    napi_rx_packet: int = 167
    app_wakeup: int = 1500
    app_rx_packet: int = 100
    app_tx_packet: int = 150
    tx_clean_packet: int = 30
    busy_poll_loop: int = 100
    pmd_rx_packet: int = 40
    pmd_loop: int = 50
    # NUMA (docs/performance-platform.md): SLIT distances scale RAM accesses to another node;
    # cache-line transfers between CPUs; the extra hop of an interrupt or IPI to another node.
    numa_slit_local: int = 10
    numa_slit_remote: int = 21
    cacheline_same_node: int = 70
    cacheline_remote_node: int = 140
    msi_hop_remote_node: int = 250
    ipi_hop_remote_node: int = 6900
    # NVMe (docs/nvme.md): media time of a read/write, driver CPU cost per request.
    nvme_media_read: int = 10_000
    nvme_sw_submit: int = 500
    nvme_sw_complete: int = 500
    # Clocks: the APIC timer counts the bus (core crystal) clock; the TSC runs at tsc_khz.
    apic_bus_cycle_ns: int = 10
    tsc_khz: int = 3_000_000
    # Real guest code (irqsim.guest): one instruction at ~3 GHz and IPC 1 (picoseconds), and
    # a port write to a hypervisor-only test device (QEMU's pc-testdev, isa-debug-exit),
    # which on KVM is a VM exit and re-entry: ~1-2 us round trip (kvm-unit-tests
    # x86/vmexit.c "io" test; reference/vtd-posted.md 8 gives VM exit figures of the same
    # order). The interrupt such a write raises is delivered within it, as on KVM.
    guest_insn_ps: int = 333
    guest_trap_io: int = 1500
    # Virtualization (docs/virt.md): VMX transitions and APIC virtualization. Seed 003 gives
    # only the exit and entry figures; the others have no public source (irqsim choices).
    vm_exit: int = 333
    vm_entry: int = 333
    kvm_exit_handling: int = 333
    event_injection: int = 50
    posted_intr_processing: int = 50
    virtual_intr_delivery: int = 50
    vfio_irqfd_inject: int = 400
    vcpu_wakeup: int = 1000

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
    "device_mmio_read": "non-posted read round trip across PCIe (irqsim choice); each shared-line "
                        "status read is one (003 l.2037-2041 handler polls shared devices "
                        "100-500 ns, l.1205 polling overhead 100-500 ns)",
    "device_mmio_write": "posted write leaving the CPU (irqsim choice)",
    "config_access": "ECAM configuration access (irqsim choice)",
    "memory_read": "DRAM read (irqsim choice)",
    "memory_write": "DRAM write (irqsim choice)",
    "intx_message": "003 l.1998-2001 Legacy INTx Path step 2: Assert INTx pin/message 100-200 ns "
                    "(also l.1200 PCIe message to root complex 100-200 ns)",
    "rc_to_ioapic": "003 l.1201 INTx Limitations: root complex to I/O APIC ~100-200 ns",
    "ioapic_processing": "003 l.438 (and l.1202) I/O APIC processing ~100-200 ns",
    "ioapic_to_lapic": "003 l.439 (and l.1203) I/O APIC to LAPIC message ~50-100 ns",
    "ioapic_eoi": "003 l.2053-2057 Legacy INTx Path step 10: EOI to I/O APIC ~100-200 ns",
    "serirq_frame": "Serialized IRQ Support for PCI Systems 6.0: a continuous-mode frame "
                    "(start frame, 21 IRQ data frames of 3 clocks, stop frame) is ~68 PCI "
                    "clocks at 33 MHz, ~2.1 us; an ISA IRQ change rides the next frame",
    "pirq_route": "conventional PCI INTx# through the chipset's PIRQ router to an I/O APIC or "
                  "8259 input: one 33 MHz PCI clock (irqsim choice)",
    "pic_inta": "003 8259 PIC 'requires serial acknowledgment protocol (slow)': two INTA "
                "pulses (8259A datasheet 'Interrupt Sequence') as a chipset I/O cycle, sized "
                "like legacy_port_io (irqsim choice)",
    "pci33_read": "PCI Local Bus 3.0 3.5.1.1: a target's initial latency is at most 16 "
                  "clocks; a single-DWORD read (address phase, wait states, data, "
                  "turnaround) is ~18 clocks of 30 ns at 33 MHz, on top of the PCIe-side "
                  "device_mmio_read: a conventional PCI status read ~1 us",
    "legacy_port_io": "an I/O port access to the chipset's legacy block (8259, ELCR): ~1 us, "
                      "the figure Linux's io_delay relies on for a port 0x80 write "
                      "(arch/x86/kernel/io_delay.c)",
    "ipi_send": "003 IPI transmission: Local APIC message generation ~50 cycles (3 GHz)",
    "ipi_icr_idle_wait": "003 IPI sender overhead: wait for delivery status ~50 cycles (xAPIC)",
    "ipi_hop_same_core": "003 IPI latency by topology: same core (SMT) 0.5-1 us end to end; hop ="
                         " ~0.74 us minus the modelled sender and receiver stages (docs/ipi.md)",
    "ipi_hop_same_socket": "003 IPI real measurement: same socket 1.2 us (table 1-2 us); hop = "
                           "total minus the modelled sender and receiver stages (docs/ipi.md)",
    "ipi_hop_cross_socket": "003 IPI real measurement: cross-socket 4.8 us (table 3-6 us); hop = "
                            "total minus the modelled sender and receiver stages (docs/ipi.md)",
    "ipi_receiver_overhead": "003 IPI receiver: kernel entry/exit overhead (PTI, mitigations) "
                             "~200-500 cycles, charged by the OS's system-vector handlers",
    "tlb_flush_local": "flush_tlb_func: INVLPG / CR3 reload (irqsim choice, ~300 cycles)",
    "nmi_delivery": "003 NMI Performance Impact: NMI delivery ~300-500 ns (LAPIC to handler)",
    "nmi_handler": "003 NMI Performance Impact: handler execution ~1-10 us",
    "ir_decode": "VT-d remapping request decode and index check: no public figure (reference "
                 "vtd-posted.md 8; seed 003's +50-100 ns for remapping is unsourced); irqsim "
                 "choice, a few ns",
    "ir_iec_hit": "VT-d IRTE from the interrupt entry cache: no public figure (reference "
                  "vtd-posted.md 8 assumes a few ns)",
    "ir_iec_miss": "VT-d IRTE read from memory on an IEC miss: no public figure (reference "
                   "vtd-posted.md 8 assumes one memory read, ~100 ns)",
    "ir_pid_update": "VT-d posted-interrupt descriptor read-modify-write: no public figure "
                     "(reference vtd-posted.md 8 assumes about one uncached RMW)",
    "ir_fault_record": "VT-d fault record write: no public figure (irqsim choice: one "
                       "memory-speed write, ~100 ns)",
    "nic_rx_dma": "packet + descriptor write-back DMA after the frame's last bit: four "
                  "transfers (packet data, descriptor) x pcie_hop 75 ns (003 MSI Latency "
                  "step 4: 50-100 ns per hop)",
    "softirq_entry": "irq_exit -> __do_softirq entry and exit: a kernel entry/exit path, "
                     "003 IPI Performance Comparison 'System call 50-150 ns' (mid-range)",
    "net_rx_action_base": "net_rx_action set-up per round: 003 'System call 50-150 ns' class "
                          "of kernel path (mid-range)",
    "napi_poll_base": "driver poll call: ring check and doorbell, 003 l.1205 'Polling "
                      "overhead ~100-500 ns' (its low half)",
    "napi_rx_packet": "per-packet driver + stack (skb, GRO, IP/UDP) to the socket: 003 "
                      "Coalescing 'Performance Example' 'Per-packet processing: ~500 cycles "
                      "@ 3 GHz = ~167 ns'",
    "app_wakeup": "try_to_wake_up + context switch of a sleeping reader: 003 IPI Performance "
                  "Comparison 'Context switch 1-3 us' (its low half)",
    "app_rx_packet": "recvmsg per packet in the application: 003 'System call 50-150 ns' "
                     "(mid-range)",
    "app_tx_packet": "sendmsg per packet through the stack to ndo_start_xmit: 003 'System "
                     "call 50-150 ns' (its top: the send path does more)",
    "tx_clean_packet": "TX completion cleaning per packet in the NAPI poll (a descriptor and "
                       "an skb reference dropped): 003 'Atomic operation (local) 10-30 ns'",
    "busy_poll_loop": "one busy-poll iteration on an empty ring: 003 l.1205 'Polling "
                      "overhead ~100-500 ns' (its bottom)",
    "pmd_rx_packet": "poll-mode driver per packet (descriptor read, mbuf hand-off, no kernel "
                     "entry): 003 'Mutex (uncontended) 20-50 ns' class, ~120 cycles",
    "pmd_loop": "poll-mode driver empty rx_burst iteration: 003 'Mutex (uncontended) "
                "20-50 ns' class (its top)",
    "numa_slit_local": "ACPI SLIT: a node's distance to itself is 10 (reference "
                       "nic-moderation.md section 9)",
    "numa_slit_remote": "reference nic-moderation.md section 9: SLIT-style remote distance 21; "
                        "a remote RAM access costs memory_read x 21/10 (seed 003 local 70 ns vs "
                        "remote 140 ns, ratio 2: no primary source, a parameter)",
    "cacheline_same_node": "003 Affinity Tuning: interrupt and application on one CPU saves "
                           "~200-500 ns (cache hot); ~4 lines handed over at ~70 ns each via "
                           "the shared L3 (irqsim choice inside the seed's band)",
    "cacheline_remote_node": "003 NUMA-Aware Affinity: local 70 ns vs remote 140 ns memory; a "
                             "line owned by a CPU on another node comes through its home agent",
    "msi_hop_remote_node": "003 IPI transmission: NUMA remote node ~500-1000 cycles vs same "
                           "socket ~100-200 (3 GHz): ~750 cycles = 250 ns more for a message "
                           "crossing to a CPU on another node",
    "ipi_hop_remote_node": "003 IPI real measurement: remote NUMA node IPI 7.5 us; hop = total "
                           "minus the modelled sender and receiver stages, as for cross socket "
                           "(4.8 us -> 4200 ns): 7.5 us -> 6900 ns",
    "nvme_media_read": "low-latency NVMe SSD read ~10 us (Intel Optane SSD DC P4800X datasheet: "
                       "read latency < 10 us; M: from memory), an irqsim choice for the media",
    "nvme_sw_submit": "003 'NVMe SSD at 1M IOPS: 1 us per operation budget': half of it for "
                      "blk-mq + nvme_queue_rq (submission), the other half for completion",
    "nvme_sw_complete": "003 'NVMe SSD at 1M IOPS: 1 us per operation budget': half for "
                        "nvme_irq / nvme_poll + blk_mq_complete_request",
    "apic_bus_cycle_ns": "APIC timer input: 100 MHz bus / core crystal clock (irqsim choice; "
                         "KVM's default is 1 ns)",
    "tsc_khz": "003 cycle figures are quoted at 3 GHz",
    "vm_exit": "003 Posted Interrupts, traditional delivery step 3: VM exit ~1000 cycles (3 GHz); "
               "reference vtd-posted.md 8: ~1350 cycles for a whole exit+entry on AMD Zen",
    "vm_entry": "003 Posted Interrupts, traditional delivery step 7: VM entry ~1000 cycles",
    "kvm_exit_handling": "no public figure (irqsim choice): KVM's exit dispatch and handler, "
                         "sized so exit + handling + entry ~ 3000 cycles, reference 8's "
                         "unsourced 'typical' per injected interrupt",
    "event_injection": "no public figure (irqsim choice): delivering the VM-entry "
                       "interruption-information event through the guest IDT",
    "posted_intr_processing": "no public figure (irqsim choice): SDM 29.6 microcode steps "
                              "besides its PID memory accesses (charged as memory_read/write)",
    "virtual_intr_delivery": "no public figure (irqsim choice): SDM 29.2.2 RVI recognition and "
                             "delivery; the guest's IDT dispatch adds context_save + "
                             "handler_dispatch",
    "vfio_irqfd_inject": "no public figure (irqsim choice): vfio_msihandler -> eventfd -> "
                         "irqfd -> kvm_set_msi -> the local APIC emulation",
    "vcpu_wakeup": "no public figure (irqsim choice): kvm_vcpu_wake_up to the vCPU thread "
                   "running (try_to_wake_up + context switch)",
}


# The timing model of machines built without one (experiment files' ``[timing]`` overrides
# apply to built-in scenarios through it); None: the defaults above.
_DEFAULT: ContextVar[TimingModel | None] = ContextVar("irqsim_default_timing", default=None)


def default_timing() -> TimingModel:
    """The timing model a machine built without one gets (see :func:`timing_defaults`)."""
    t = _DEFAULT.get()
    return TimingModel() if t is None else replace(t)


@contextmanager
def timing_defaults(model: TimingModel) -> Iterator[TimingModel]:
    """Machines built inside the ``with`` block without a timing model get a copy of
    ``model``."""
    token = _DEFAULT.set(model)
    try:
        yield model
    finally:
        _DEFAULT.reset(token)
