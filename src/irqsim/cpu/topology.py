"""CPU topology: sockets, cores and SMT threads, and the APIC IDs they produce.

The x2APIC ID of a logical processor is built from its position as CPUID leaf 0Bh/1Fh
describes it (Intel SDM vol. 3, 10.12.8.1 and vol. 2 CPUID): the SMT thread in the low
``thread_bits`` bits, the core above it, the package (socket) above both::

    apic_id = socket << (core_bits + thread_bits) | core << thread_bits | thread

Field widths are rounded up to whole bits, so IDs are not simply 0..N-1 (a socket of 6
cores with 2 threads uses core IDs 0-5 in a 3-bit field: socket 1 starts at ID 16).
Seed 003 draws the same fields at the *top* of the 32-bit ID (socket in bit 31); the SDM puts
the thread in the low bits, which this module follows (docs/lapic.md).

NUMA nodes (``nodes``, what the firmware's SRAT reports): 1 means one node for the whole
machine; fewer nodes than sockets groups whole sockets (``sockets // nodes`` per node); more
nodes than sockets splits each socket's cores (sub-NUMA clustering, ``nodes // sockets`` per
socket). CPU numbers are socket-major, so each node's CPUs are one contiguous range unless
the socket is split (docs/performance-platform.md).
"""

from __future__ import annotations

from dataclasses import dataclass


def _bits(n: int) -> int:
    """Bits needed to number ``n`` items (0 for one item)."""
    return (n - 1).bit_length() if n > 1 else 0


@dataclass(frozen=True, slots=True)
class Topology:
    """``sockets`` x ``cores`` per socket x ``threads`` per core logical processors."""

    sockets: int = 1
    cores: int = 1
    threads: int = 1
    thread_bits: int | None = None
    core_bits: int | None = None
    nodes: int = 1

    def __post_init__(self) -> None:
        for name in ("sockets", "cores", "threads"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"topology: {name} must be an integer >= 1, got {v!r}")
        if self.thread_bits is not None and (1 << self.thread_bits) < self.threads:
            raise ValueError(f"topology: {self.threads} threads do not fit in "
                             f"{self.thread_bits} bit(s)")
        if self.core_bits is not None and (1 << self.core_bits) < self.cores:
            raise ValueError(f"topology: {self.cores} cores do not fit in {self.core_bits} "
                             f"bit(s)")
        n = self.nodes
        if not isinstance(n, int) or n < 1 or not (
                (n <= self.sockets and self.sockets % n == 0)
                or (n > self.sockets and n % self.sockets == 0
                    and self.cores % (n // self.sockets) == 0)):
            raise ValueError(f"topology: {n!r} NUMA node(s) must group whole sockets or split "
                             f"each socket's {self.cores} cores evenly")
        if self.sockets << self.socket_shift > 1 << 32:
            raise ValueError("topology: APIC IDs do not fit in 32 bits")

    @classmethod
    def flat(cls, ncpus: int) -> Topology:
        """One socket of ``ncpus`` single-threaded cores (IDs 0..ncpus-1)."""
        return cls(1, ncpus, 1)

    @property
    def tbits(self) -> int:
        """Width of the SMT field."""
        return _bits(self.threads) if self.thread_bits is None else self.thread_bits

    @property
    def cbits(self) -> int:
        """Width of the core field."""
        return _bits(self.cores) if self.core_bits is None else self.core_bits

    @property
    def socket_shift(self) -> int:
        """Bit position of the socket (package) field."""
        return self.tbits + self.cbits

    @property
    def ncpus(self) -> int:
        return self.sockets * self.cores * self.threads

    def apic_id(self, socket: int, core: int, thread: int) -> int:
        """x2APIC ID of one logical processor."""
        if not (0 <= socket < self.sockets and 0 <= core < self.cores
                and 0 <= thread < self.threads):
            raise ValueError(f"topology: no processor at socket {socket} core {core} "
                             f"thread {thread}")
        return socket << self.socket_shift | core << self.tbits | thread

    def ids(self) -> list[int]:
        """APIC IDs in CPU-number order: socket-major, then core, then thread."""
        s, t = self.socket_shift, self.tbits
        return [so << s | c << t | th for so in range(self.sockets) for c in range(self.cores)
                for th in range(self.threads)]

    def place(self, apic_id: int) -> tuple[int, int, int]:
        """(socket, core, thread) of an APIC ID."""
        t, c = self.tbits, self.cbits
        return (apic_id >> (t + c), (apic_id >> t) & ((1 << c) - 1), apic_id & ((1 << t) - 1))

    def core_key(self, apic_id: int) -> int:
        """Equal for logical processors on one core (the ID without the thread bits)."""
        return apic_id >> self.tbits

    def socket_key(self, apic_id: int) -> int:
        """Equal for logical processors in one socket."""
        return apic_id >> self.socket_shift

    def node_of(self, cpu: int) -> int:
        """NUMA node of CPU number ``cpu`` (socket-major numbering, as ``ids``)."""
        per_socket = self.cores * self.threads
        socket = cpu // per_socket
        if self.nodes <= self.sockets:
            return socket // (self.sockets // self.nodes)
        split = self.nodes // self.sockets
        core = (cpu // self.threads) % self.cores
        return socket * split + core // (self.cores // split)

    def socket_of(self, cpu: int) -> int:
        """Socket (package) of CPU number ``cpu``."""
        return cpu // (self.cores * self.threads)

    def core_of(self, cpu: int) -> int:
        """Machine-wide core index of CPU number ``cpu`` (SMT siblings share it)."""
        return cpu // self.threads

    def node_cpus(self, node: int, ncpus: int | None = None) -> list[int]:
        """CPU numbers of ``node`` (among the first ``ncpus``)."""
        n = self.ncpus if ncpus is None else ncpus
        return [c for c in range(n) if self.node_of(c) == node]

    def __str__(self) -> str:
        numa = f", {self.nodes} NUMA nodes" if self.nodes > 1 else ""
        return (f"{self.sockets} socket(s) x {self.cores} core(s) x {self.threads} thread(s) "
                f"= {self.ncpus} CPUs (APIC ID = socket<<{self.socket_shift} | "
                f"core<<{self.tbits} | thread){numa}")
