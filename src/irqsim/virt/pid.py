"""The posted-interrupt descriptor (PID): 64 bytes in simulated memory (VT-d 9.12; SDM 29.6;
reference/vtd-posted.md 7.1). Layout from :data:`irqsim.spec.vtd.PID`: PIR in bytes 0-31, then
a 64-bit control word (ON bit 0, SN bit 1, NV bits 23:16, NDST bits 63:32), as Linux's
``struct pi_desc``.

Software (KVM) reaches it with the CPU's locked accesses (:meth:`irqsim.cpu.cpu.Cpu.locked`);
hardware (the CPU's posted-interrupt processing, the remapping unit) through the memory at
the instant it acts. The descriptor also remembers which interrupt (ledger id) each PIR bit
carries, as the LAPIC's ``irr_meta`` does for IRR bits.
"""

from __future__ import annotations

from collections.abc import Callable

from irqsim.fabric.memory import SystemMemory
from irqsim.spec.vtd import PID, PID_ALIGN, PID_SIZE

PIR_OFFSET = 0
CONTROL_OFFSET = PID.field("on").lsb // 8            # 32: the control qword
_CTRL_LSB = CONTROL_OFFSET * 8
ON = PID.mask("on") >> _CTRL_LSB                    # bit 0 of the control word
SN = PID.mask("sn") >> _CTRL_LSB                    # bit 1
NV_SHIFT = PID.field("nv").lsb - _CTRL_LSB           # 16
NV_MASK = 0xFF << NV_SHIFT
NDST_SHIFT = PID.field("ndst").lsb - _CTRL_LSB       # 32
NDST_MASK = 0xFFFFFFFF << NDST_SHIFT

__all__ = ["CONTROL_OFFSET", "NDST_SHIFT", "NV_SHIFT", "ON", "SN", "PostedDescriptor",
           "ndst_for"]


def ndst_for(apic_id: int, x2apic: bool) -> int:
    """NDST for a CPU: the 32-bit x2APIC ID, or the xAPIC ID in bits 15:8 (VT-d 9.12)."""
    return apic_id & 0xFFFFFFFF if x2apic else (apic_id << 8) & 0xFF00


def control(on: bool = False, sn: bool = False, nv: int = 0, ndst: int = 0) -> int:
    """A control word from its fields."""
    return (ON if on else 0) | (SN if sn else 0) | (nv & 0xFF) << NV_SHIFT | ndst << NDST_SHIFT


class PostedDescriptor:
    """One vCPU's PID at ``addr`` (64-byte aligned) in ``memory``."""

    __slots__ = ("addr", "external", "memory", "meta")

    def __init__(self, memory: SystemMemory, addr: int) -> None:
        if addr % PID_ALIGN:
            raise ValueError(f"a posted-interrupt descriptor is {PID_ALIGN}-byte aligned, "
                             f"got {addr:#x}")
        self.memory = memory
        self.addr = addr
        self.meta: dict[int, int] = {}       # vector -> ledger id of the posted interrupt
        # Who else posts here and keeps its own ids (the remapping unit's take_posted).
        self.external: Callable[[int, int], int] | None = None
        memory.write_bytes(addr, bytes(PID_SIZE))

    @property
    def ctrl_addr(self) -> int:
        return self.addr + CONTROL_OFFSET

    def pir_word_addr(self, vector: int) -> int:
        """The 64-bit PIR word holding ``vector``'s bit."""
        return self.addr + PIR_OFFSET + (vector >> 6) * 8

    # -- what the memory holds now (hardware view, no cost) ----------------------------
    def pir(self) -> int:
        return int.from_bytes(self.memory.read_bytes(self.addr + PIR_OFFSET, 32), "little")

    def control(self) -> int:
        return self.memory.read(self.ctrl_addr, 8)

    @property
    def on(self) -> bool:
        return bool(self.control() & ON)

    @property
    def sn(self) -> bool:
        return bool(self.control() & SN)

    @property
    def nv(self) -> int:
        return self.control() >> NV_SHIFT & 0xFF

    @property
    def ndst(self) -> int:
        return self.control() >> NDST_SHIFT & 0xFFFFFFFF

    def take(self, vector: int) -> int:
        """The ledger id the PIR bit ``vector`` carries (forgotten: it moves to vIRR)."""
        iid = self.meta.pop(vector, 0)
        if not iid and self.external is not None:
            iid = self.external(self.addr, vector)
        return iid

    # -- hardware atomic operations (one instant each) ----------------------------------
    def post(self, vector: int, urgent: bool = False, honour_sn: bool = True) -> bool:
        """Atomically set PIR[vector] and decide the notification (VT-d 5.2.3 with
        ``honour_sn``; the CPU-side posting of KVM ignores SN): notify iff ON was 0 and
        (SN = 0 or URG = 1), and set ON only then. Returns whether to notify."""
        w = self.pir_word_addr(vector)
        mem = self.memory
        mem.write(w, 8, mem.read(w, 8) | 1 << (vector & 63))
        c = mem.read(self.ctrl_addr, 8)
        notify = not c & ON and (not (honour_sn and c & SN) or urgent)
        if notify:
            mem.write(self.ctrl_addr, 8, c | ON)
        return notify

    def take_pir(self) -> int:
        """Read and clear the PIR (xchg per chunk, SDM 29.6 step 3); returns its bits."""
        bits = self.pir()
        if bits:
            self.memory.write_bytes(self.addr + PIR_OFFSET, bytes(32))
        return bits

    def clear_on(self) -> None:
        c = self.control()
        self.memory.write(self.ctrl_addr, 8, c & ~ON)
