"""NUMA as the firmware describes it (ACPI SRAT, SLIT, _PXM) and the costs that follow.

``NumaInfo`` is data the board builds from its topology: each CPU's proximity domain (SRAT
Processor Local x2APIC Affinity), the memory ranges each node owns (SRAT Memory Affinity),
the distance matrix (SLIT: 10 on the diagonal, ``numa_slit_remote`` between nodes) and each
root port's node (its _PXM). Hardware uses it to price accesses (the root complex prices a
CPU's RAM access by the distance from the CPU's node to the address's home node; an
interrupt message crossing to another node pays ``msi_hop_remote_node``); the OS reads it
like Linux reads the tables (``cpu_to_node``, ``dev_to_node``, node-local allocations).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from irqsim.cpu.topology import Topology
from irqsim.sim.timing import TimingModel

NUMA_NO_NODE = -1


@dataclass(slots=True)
class NumaInfo:
    """SRAT/SLIT/_PXM content: CPU and memory affinity, distances, root-port nodes."""

    cpu_node: list[int]
    memory: list[tuple[int, int, int]]              # (base, size, node)
    distance: list[list[int]]
    apic_node: dict[int, int] = field(default_factory=dict)    # APIC ID -> node
    port_node: dict[int, int] = field(default_factory=dict)    # root port device -> node

    @classmethod
    def build(cls, topology: Topology, apic_ids: list[int], memory_size: int,
              timing: TimingModel) -> NumaInfo:
        """One memory range per node (RAM split evenly), SLIT from the timing model."""
        n = topology.nodes
        cpu_node = [topology.node_of(i) for i in range(len(apic_ids))]
        chunk = memory_size // n
        memory = [(k * chunk, chunk, k) for k in range(n)]
        local, remote = timing.numa_slit_local, timing.numa_slit_remote
        distance = [[local if a == b else remote for b in range(n)] for a in range(n)]
        return cls(cpu_node, memory, distance, dict(zip(apic_ids, cpu_node, strict=True)))

    @property
    def nodes(self) -> int:
        return len(self.distance)

    def node_of_addr(self, addr: int) -> int:
        """Home node of physical address ``addr`` (NUMA_NO_NODE outside the SRAT ranges)."""
        for base, size, node in self.memory:
            if base <= addr < base + size:
                return node
        return NUMA_NO_NODE

    def node_cpus(self, node: int) -> list[int]:
        return [c for c, n in enumerate(self.cpu_node) if n == node]

    def mem_cost(self, base_ns: int, cpu: int, addr: int) -> int:
        """A RAM access's cost from CPU ``cpu``: ``base_ns`` (local) scaled by the SLIT
        distance to the address's home node (reference §9: local 10, remote 21)."""
        home = self.node_of_addr(addr)
        if home < 0:
            return base_ns
        here = self.cpu_node[cpu]
        if here == home:
            return base_ns
        return base_ns * self.distance[here][home] // self.distance[here][here]


def line_transfer_ns(timing: TimingModel, topology: Topology, a: int, b: int) -> int:
    """What moving one cache line written on CPU ``a`` to CPU ``b`` costs: 0 on one core
    (L1/L2 shared by SMT siblings), ``cacheline_same_node`` within a node (through the
    shared L3), ``cacheline_remote_node`` across nodes (through the remote home agent)."""
    if topology.core_of(a) == topology.core_of(b):
        return 0
    if topology.node_of(a) == topology.node_of(b):
        return timing.cacheline_same_node
    return timing.cacheline_remote_node
