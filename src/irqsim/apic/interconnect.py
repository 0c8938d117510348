"""The interrupt interconnect between the root complex, I/O APICs and Local APICs.

Decodes MSI-format messages (address/data, SDM 10.11; declared in :mod:`irqsim.spec.msi`)
into destinations and delivers them; carries IPIs written to an ICR (SDM 10.6) and EOI
broadcasts. An IPI costs the sender's message generation (``ipi_send``) and one hop whose
length depends on where the target sits relative to the sender: the same core (SMT sibling),
the same socket, or another socket (``ipi_hop_*``, seed 003's IPI latency rows). Destination
decoding follows semantics.md A.11.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from irqsim.apic.lapic import (
    ESR_SEND_ACCEPT,
    ESR_SEND_ILLEGAL_VECTOR,
    R_HW_DISABLED,
    SVR_ENABLE,
    LocalApic,
)
from irqsim.sim.accounting import Reason
from irqsim.sim.context import SimContext
from irqsim.sim.rules import Rule, rule
from irqsim.sim.trace import shape
from irqsim.spec.lapic import (
    ICR_LEVEL_ASSERT,
    ICR_LOGICAL,
    ICR_MODE_SHIFT,
    ICR_SHORTHAND_SHIFT,
    ICR_TRIGGER_LEVEL,
    ICR_VECTOR,
)
from irqsim.spec.msi import (
    ADDR_DEST_MAX,
    ADDR_DEST_SHIFT,
    ADDR_LOGICAL,
    ADDR_REDIRECTION_HINT,
    DATA_MODE_BITS,
    DATA_MODE_SHIFT,
    DATA_TRIGGER_LEVEL,
    DATA_VECTOR,
    DELIVERY_MODE_NAMES,
    DM_EXTINT,
    DM_FIXED,
    DM_INIT,
    DM_LOWEST,
    DM_NMI,
    DM_SMI,
    DM_STARTUP,
)

# Trace events of the hot path (irqsim.sim.trace: kind and field names, once).
_T_MSI_DELIVER_MODE: Final = shape("msi-deliver", "vector", "dest", "source", "mode")

R_NO_DESTINATION = rule(
    "APIC-NO-DESTINATION", "SDM 10.11.1",
    "an interrupt message's destination must match a Local APIC")
R_MSI_DELIVERY_MODE = rule(
    "MSI-DELIVERY-MODE", "SDM 10.11.2",
    "an MSI's delivery mode must be one its target can take (start-up is reserved for MSIs)")
R_ICR_INVALID = rule(
    "LAPIC-ICR-INVALID", "SDM 10.6.1",
    "an IPI's delivery mode and destination shorthand must be a valid ICR combination")
R_SEND_ILLEGAL_VECTOR = rule(
    "LAPIC-SEND-ILLEGAL-VECTOR", "SDM 10.5.3",
    "an IPI with vector 0-15 sets ESR Send Illegal Vector")
R_SEND_ACCEPT_ERROR = rule(
    "LAPIC-SEND-ACCEPT-ERROR", "SDM 10.5.3",
    "an IPI accepted by no APIC sets ESR Send Accept Error")
R_ICR_DELIVERY_MODE = rule(
    "LAPIC-ICR-DELIVERY-MODE", "SDM 10.6.1",
    "an IPI's delivery mode must be one its target can take")

if TYPE_CHECKING:
    from irqsim.fabric.tlp import Tlp

# The remapping unit's output is an APIC-bus message, not a PCIe address: in x2APIC mode
# (IRTA.EIME) it carries a 32-bit destination, which irqsim marks with address bit 63 (not
# architectural; destination bits 30:8 in address bits 62:40). 0xFF is then APIC ID 255 and
# only 0xFFFFFFFF is a broadcast.
REMAPPED_WIDE_SHIFT: Final = 63
LowestPriorityPolicy = Callable[[list[LocalApic]], LocalApic]
SHORTHAND_NAMES = ("none", "self", "all-including-self", "all-excluding-self")
_COUNTED = (DM_FIXED, DM_LOWEST, DM_NMI)   # delivery modes the interrupt ledger counts


def lowest_tpr_then_id(candidates: list[LocalApic]) -> LocalApic:
    """Default lowest-priority arbitration (semantics.md F): lowest TPR, then lowest ID."""
    return min(candidates, key=lambda a: (a.tpr, a.apic_id))


class ApicIndex:
    """APIC ID -> the one Local APIC holding it: xAPIC IDs (0-255) in 256 slots read by index
    (every message's physical destination is looked up here), wider x2APIC IDs in a dict.
    Reads and writes like a dict."""

    __slots__ = ("_low", "_wide")

    def __init__(self) -> None:
        self._low: list[LocalApic | None] = [None] * 256
        self._wide: dict[int, LocalApic] = {}

    def get(self, aid: int) -> LocalApic | None:
        """The APIC holding ID ``aid`` alone, or None."""
        if 0 <= aid < 256:
            return self._low[aid]
        return self._wide.get(aid)

    def __getitem__(self, aid: int) -> LocalApic:
        a = self.get(aid)
        if a is None:
            raise KeyError(aid)
        return a

    def __setitem__(self, aid: int, a: LocalApic) -> None:
        if 0 <= aid < 256:
            self._low[aid] = a
        else:
            self._wide[aid] = a

    def __delitem__(self, aid: int) -> None:
        self.__getitem__(aid)
        if 0 <= aid < 256:
            self._low[aid] = None
        else:
            del self._wide[aid]

    def __contains__(self, aid: object) -> bool:
        return isinstance(aid, int) and self.get(aid) is not None

    def pop(self, aid: int) -> LocalApic:
        a = self.__getitem__(aid)
        del self[aid]
        return a


class ApicBus:
    """Routes interrupt messages to Local APICs by destination."""

    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self.lapics: list[LocalApic] = []
        self.by_id = ApicIndex()                      # IDs held by exactly one APIC
        self._aliased: dict[int, list[LocalApic]] = {}  # IDs held by several APICs
        self._clusters: dict[int, list[LocalApic]] | None = None
        self.eoi_listeners: list[Callable[[int], None]] = []
        self.lowest_priority: LowestPriorityPolicy = lowest_tpr_then_id
        self.messages = 0
        self.ipis = 0
        t = ctx.timing
        self._hops = (t.ipi_hop_same_core, t.ipi_hop_same_socket, t.ipi_hop_cross_socket,
                      t.ipi_hop_remote_node)
        # APIC ID -> NUMA node (set by the board when it has several nodes): a cross-socket
        # IPI to another node takes seed 003's remote-node tier.
        self.node_of_apic: dict[int, int] | None = None

    # -- membership and the ID index ----------------------------------------------
    def add(self, lapic: LocalApic) -> None:
        lapic.bus = self
        self.lapics.append(lapic)
        self._index_add(lapic, lapic.apic_id)
        self._clusters = None

    def _index_add(self, a: LocalApic, aid: int) -> None:
        al = self._aliased.get(aid)
        if al is not None:
            al.append(a)
        elif aid in self.by_id:
            self._aliased[aid] = [self.by_id.pop(aid), a]
        else:
            self.by_id[aid] = a

    def _index_remove(self, a: LocalApic, aid: int) -> None:
        al = self._aliased.get(aid)
        if al is not None:
            if a in al:
                al.remove(a)
            if len(al) == 1:
                self.by_id[aid] = al[0]
                del self._aliased[aid]
        elif self.by_id.get(aid) is a:
            del self.by_id[aid]

    def apic_changed(self, lapic: LocalApic, old_id: int) -> None:
        """An APIC's ID, mode or logical ID changed: update the destination indexes."""
        if old_id != lapic.apic_id:
            self._index_remove(lapic, old_id)
            self._index_add(lapic, lapic.apic_id)
        self._clusters = None

    def hop_ns(self, src: LocalApic, dst: LocalApic) -> int:
        """Interconnect cost from ``src`` to ``dst`` (0 for a self-IPI)."""
        if src is dst:
            return 0
        if src.core_key == dst.core_key:
            return self._hops[0]
        if src.socket_key == dst.socket_key:
            return self._hops[1]
        nodes = self.node_of_apic
        if nodes is not None and nodes.get(src.apic_id) != nodes.get(dst.apic_id):
            return self._hops[3]
        return self._hops[2]

    # -- destination decoding ---------------------------------------------------------
    def targets(self, dest: int, logical: bool, wide: bool = False) -> list[LocalApic]:
        """APICs addressed by ``dest``: 8-bit (xAPIC/MSI) or 32-bit (``wide``, x2APIC ICR).

        Physical: every APIC whose ID equals ``dest``; 0xFF (0xFFFFFFFF when wide) is a
        broadcast. Logical: each APIC's own model (flat, cluster, x2APIC cluster).
        """
        bcast = 0xFFFFFFFF if wide else 0xFF
        if dest == bcast:
            return list(self.lapics)
        if not logical:
            a = self.by_id.get(dest)
            if a is not None:
                return [a]
            return list(self._aliased.get(dest, ()))
        if wide:
            bits = dest & 0xFFFF
            return [a for a in self._x2_cluster(dest >> 16) if a.ldr & bits]
        return [a for a in self.lapics if a.matches_logical(dest)]

    def _x2_cluster(self, cluster: int) -> list[LocalApic]:
        """x2APIC-mode APICs of one logical cluster (index rebuilt after any change)."""
        if self._clusters is None:
            idx: dict[int, list[LocalApic]] = {}
            for a in self.lapics:
                if a.x2apic:
                    idx.setdefault(a.ldr >> 16, []).append(a)
            self._clusters = idx
        return self._clusters.get(cluster, [])

    # -- MSI-format messages from devices / I/O APICs ---------------------------------
    def deliver_msi(self, tlp: Tlp) -> None:
        """An interrupt message arrives (a call in the middle of an event: the I/O APIC)."""
        self.deliver_msi_last(tlp, False)

    def deliver_msi_last(self, tlp: Tlp, last: bool = True) -> None:
        """An interrupt message arrives from the root complex: its delivery event, or its
        fold, of which this is the very last step (``last``), so the acceptance it starts
        may be folded too (``Cpu.intr_last``)."""
        ctx = self.ctx
        led = ctx.ledger
        led.land(tlp.iid, "APIC bus")
        self.messages += 1
        addr = tlp.address
        data = tlp.data
        vector = data & DATA_VECTOR
        mode = (data >> DATA_MODE_SHIFT) & DATA_MODE_BITS
        dest = (addr >> ADDR_DEST_SHIFT) & ADDR_DEST_MAX
        wide = False
        if addr >> 32:
            dest |= (addr >> 32) & 0x7FFFFF00    # extended destination (remapped x2APIC ID)
            wide = bool(addr >> REMAPPED_WIDE_SHIFT)
        logical = bool(addr & ADDR_LOGICAL)
        if mode == DM_FIXED and not logical and (dest != ADDR_DEST_MAX or wide):
            # Fast path: one physical destination, fixed delivery.
            a = self.by_id.get(dest)
            if a is not None and a.hw_enabled:
                if ctx.tracer.on:
                    ctx.tracer.put0(a.t_msi_deliver.of2(tlp.source, vector, dest),
                                    ctx.engine.now)
                a.accept_fixed(vector, bool(data & DATA_TRIGGER_LEVEL), tlp, last)
                return
        # An 8-bit logical MDA reaching an x2APIC-mode APIC is matched as cluster 0
        # (semantics.md A.11, kvm-unit-tests' I/O APIC logical test): matches_logical does it.
        targets = self.targets(dest, logical, wide)
        if not targets:
            led.drop(Reason.NO_DESTINATION, tlp.iid, "APIC bus")
            ctx.diag("APIC bus", R_NO_DESTINATION,
                     f"interrupt message to {'logical' if logical else 'physical'} "
                     f"destination {dest:#x} matched no Local APIC")
            return
        if mode == DM_LOWEST or (addr & ADDR_REDIRECTION_HINT and logical and mode == DM_FIXED):
            targets = [self._lowest(targets)]
        msgs = [tlp]
        if len(targets) > 1:                        # one message, one interrupt per target
            first = led.raise_("APIC bus", len(targets) - 1, tlp.iid)
            msgs += [tlp.fork(first + i) for i in range(len(targets) - 1)]
            if ctx.points.fork.on:
                for msg in msgs[1:]:
                    ctx.points.fork(msg.iid, tlp.iid)
        for a, msg in zip(targets, msgs, strict=True):
            iid = msg.iid
            if ctx.tracer.on:
                ctx.tracer.emit4(_T_MSI_DELIVER_MODE, ctx.engine.now, "IOMMU", a.name,
                                 vector, dest, tlp.source,
                                 DELIVERY_MODE_NAMES.get(mode, str(mode)))
            if not a.hw_enabled:
                led.drop(Reason.APIC_HW_DISABLED, iid, a.name)
                self._hw_disabled_diag(a, "interrupt message", vector)
            elif mode in (DM_FIXED, DM_LOWEST):
                a.accept_fixed(vector, bool(data & DATA_TRIGGER_LEVEL), msg)
            elif mode == DM_EXTINT and a.pic is not None:
                # The core will ask the 8259 for the vector: this message joins the
                # request pending in the 8259's IRR (docs/legacy-pc.md).
                led.merge(iid, a.name)
                a.extint_message()
            elif mode == DM_NMI:
                self._special(a, mode, vector, R_MSI_DELIVERY_MODE, iid)
                self._ends_at_core(iid)
            elif mode != DM_STARTUP and self._special(a, mode, vector,
                                                      R_MSI_DELIVERY_MODE, iid):
                led.deliver(iid, a.name)            # SMI / INIT consumed by the core
                self._ends_at_core(iid)
            else:
                led.drop(Reason.MSI_MODE, iid, a.name)
                if mode == DM_STARTUP:
                    ctx.diag(a.name, R_MSI_DELIVERY_MODE,
                             "start-up (110b) is reserved for MSIs")

    def _ends_at_core(self, iid: int) -> None:
        """An NMI-, SMI- or INIT-mode message goes to the core's pin: no handler entry will
        carry its id, so probes following it are told it goes no further."""
        tp = self.ctx.points.settled
        if tp.on:
            tp(iid)

    def _hw_disabled_diag(self, a: LocalApic, what: str, vector: int) -> None:
        """Say why an interrupt reaching an APIC with IA32_APIC_BASE.EN = 0 was dropped."""
        self.ctx.diag(a.name, R_HW_DISABLED,
                      f"{what} with vector {vector} dropped: IA32_APIC_BASE.EN is 0")

    def _lowest(self, targets: list[LocalApic]) -> LocalApic:
        """Lowest-priority choice among the software-enabled candidates (A.11 [SIM])."""
        if len(targets) == 1:
            return targets[0]
        enabled = [a for a in targets if a.svr & SVR_ENABLE and a.hw_enabled]
        return self.lowest_priority(enabled or targets)

    def _special(self, a: LocalApic, mode: int, vector: int, rule: Rule, iid: int = 0) -> bool:
        """NMI, SMI, INIT, start-up at one target; False if it could not be delivered (an
        NMI's ledger entry is settled by the CPU)."""
        ctx = self.ctx
        cpu = a.cpu
        if mode == DM_NMI:
            if cpu is not None and hasattr(cpu, "nmi"):
                cpu.nmi()
                return True
            ctx.ledger.drop(Reason.NMI_NO_CPU, iid, a.name)
            return False
        if mode == DM_SMI and cpu is not None and hasattr(cpu, "smi"):
            cpu.smi()
            return True
        if mode == DM_INIT and cpu is not None and hasattr(cpu, "init_signal"):
            cpu.init_signal()
            return True
        if mode == DM_STARTUP and cpu is not None and hasattr(cpu, "sipi"):
            cpu.sipi(vector)
            return True
        ctx.diag(a.name, rule, f"delivery mode {mode:03b} "
                 f"({DELIVERY_MODE_NAMES.get(mode, 'reserved')}) not deliverable here")
        return False

    # -- IPIs ---------------------------------------------------------------------------
    def send_ipi(self, src: LocalApic, icr_lo: int, dest: int) -> None:
        """An IPI written to ``src``'s ICR (``dest``: 8-bit xAPIC or 32-bit x2APIC field)."""
        ctx = self.ctx
        vector = icr_lo & ICR_VECTOR
        mode = (icr_lo >> ICR_MODE_SHIFT) & 7
        shorthand = (icr_lo >> ICR_SHORTHAND_SHIFT) & 3
        logical = bool(icr_lo & ICR_LOGICAL)
        tracer = ctx.tracer
        # SDM 10.6.1, table "Valid Combinations for the Local xAPIC ICR": the self and
        # all-including-self shorthands are valid only for Fixed (edge) delivery.
        if mode in (3, DM_EXTINT) or (shorthand in (1, 2) and mode != DM_FIXED):
            ctx.diag(src.name, R_ICR_INVALID,
                     f"{DELIVERY_MODE_NAMES.get(mode, 'reserved')} mode {mode:03b} with "
                     f"shorthand {SHORTHAND_NAMES[shorthand]} is not a valid IPI; not sent")
            return
        if mode == DM_INIT and not icr_lo & ICR_LEVEL_ASSERT and icr_lo & ICR_TRIGGER_LEVEL:
            if tracer.on:       # INIT level de-assert: no effect on P4 and later (A.11)
                tracer.emit(ctx.engine.now, src.name, src.name, "ipi-init-deassert")
            return
        if shorthand == 1:
            targets = [src]
        elif shorthand == 2:
            targets = list(self.lapics)
        elif shorthand == 3:
            targets = [a for a in self.lapics if a is not src]
        else:
            targets = self.targets(dest, logical, wide=src.x2apic)
        if mode in (DM_FIXED, DM_LOWEST) and vector < 16:
            src._error(ESR_SEND_ILLEGAL_VECTOR)
            ctx.diag(src.name, R_SEND_ILLEGAL_VECTOR,
                     f"IPI with vector {vector} (0-15 are reserved)")
        if not targets:
            src._error(ESR_SEND_ACCEPT)
            ctx.diag(src.name, R_SEND_ACCEPT_ERROR,
                     f"IPI to {'logical' if logical else 'physical'} destination {dest:#x} "
                     f"accepted by no APIC")
            return
        if mode == DM_LOWEST:
            targets = [self._lowest(targets)]
        self.ipis += 1
        counted = mode in _COUNTED
        t0 = ctx.engine.now + ctx.timing.ipi_send
        src._ipi_pending += len(targets)
        ledger = ctx.ledger
        at = ctx.engine.at
        hop = self.hop_ns
        arrive = self._ipi_arrive
        if tracer.on:
            tracer.emit(t0, src.name, "APIC bus", "ipi-send", vector=vector,
                        mode=DELIVERY_MODE_NAMES[mode], shorthand=SHORTHAND_NAMES[shorthand],
                        dest=dest, logical=logical, targets=len(targets))
        for a in targets:
            iid = 0
            if counted:
                iid = ledger.raise_(src.name)
                ledger.launch(iid, src.name)
            at(t0 + hop(src, a), arrive, (src, a, vector, mode, iid))

    def _ipi_arrive(self, arg: tuple[LocalApic, LocalApic, int, int, int]) -> None:
        src, a, vector, mode, iid = arg
        ctx = self.ctx
        src._ipi_pending -= 1
        counted = mode in _COUNTED
        if counted:
            ctx.ledger.land(iid, "APIC bus")
        if ctx.tracer.on:
            ctx.tracer.emit(ctx.engine.now, src.name, a.name, "ipi-deliver", vector=vector,
                            mode=DELIVERY_MODE_NAMES[mode])
        if not a.hw_enabled:
            if counted:
                ctx.ledger.drop(Reason.APIC_HW_DISABLED, iid, a.name)
                self._hw_disabled_diag(a, "IPI", vector)
        elif mode in (DM_FIXED, DM_LOWEST):
            a.accept_fixed(vector, False)
        else:
            self._special(a, mode, vector, R_ICR_DELIVERY_MODE, iid)

    def eoi_broadcast(self, vector: int) -> None:
        """Level-triggered EOI message to every I/O APIC (SDM 10.8.5)."""
        for fn in self.eoi_listeners:
            fn(vector)
