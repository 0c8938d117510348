"""The VT-d remapping unit as hardware: registers, the interrupt entry cache and its
invalidation queue, request decoding, every fault reason, fault recording and the fault event,
posted-format hits. Each test names the VT-d section and the behaviour of
reference/vtd-posted.md section 10 it checks."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from irqsim.fabric.memory import SystemMemory
from irqsim.fabric.tlp import Tlp, TlpType
from irqsim.iommu.vtd import REMAPPED_WIDE, Iommu
from irqsim.sim.accounting import Reason
from irqsim.sim.context import SimContext
from irqsim.spec import vtd as s

TABLE = 0x10_0000
QUEUE = 0x20_0000
STATUS = 0x20_1000
PID_ADDR = 0x30_0040
SID = 0x0108                                     # 01:01.0


class Unit:
    """An Iommu with its memory, the messages it generates, and request helpers."""

    def __init__(self, **kw: object) -> None:
        self.ctx = SimContext()
        self.mem = SystemMemory()
        self.io = Iommu(self.ctx, self.mem, **kw)  # type: ignore[arg-type]
        self.sent: list[Tlp] = []
        self.io.send = lambda t, d: self.sent.append(t)
        self.tail = 0

    # -- programming --------------------------------------------------------------------
    def gcmd(self, bits: int) -> None:
        self.io.mmio_write(s.GCMD.offset, 4, bits)

    def enable(self, size_s: int = 7, eime: bool = False, cfi: bool = False) -> None:
        """Linux's order: QI, IRTA, SIRTP, global IEC invalidation, IRE (and CFI)."""
        io = self.io
        io.mmio_write(s.IQA.offset, 8, QUEUE)
        self.gcmd(s.GCMD_QIE)
        io.mmio_write(s.IRTA.offset, 8, TABLE | int(eime) << 11 | size_s)
        self.gcmd(s.GCMD_QIE | s.GCMD_SIRTP)
        self.submit(s.IEC_DESC.encode(type=4, g=0))
        self.gcmd(s.GCMD_QIE | s.GCMD_IRE | (s.GCMD_CFI if cfi else 0))

    def submit(self, *descs: int) -> None:
        for d in descs:
            self.mem.write(QUEUE + 16 * self.tail, 16, d)
            self.tail += 1
        self.io.mmio_write(s.IQT.offset, 4, self.tail << 4)

    def flush(self, index: int | None = None, im: int = 0) -> None:
        d = (s.IEC_DESC.encode(type=4, g=0) if index is None
             else s.IEC_DESC.encode(type=4, g=1, im=im, iidx=index))
        self.submit(d)

    def irte(self, index: int, lo: int, hi: int = 0) -> None:
        self.mem.write(TABLE + 16 * index, 16, hi << 64 | lo)

    # -- requests -----------------------------------------------------------------------
    def request(self, addr: int, data: int = 0, sid: int = SID) -> Tlp | None:
        led = self.ctx.ledger
        t = Tlp(TlpType.MWR, sid, addr, data, 4)
        t.iid = led.raise_("dev")
        led.launch(t.iid, "dev")
        return self.io.interrupt_request(t)

    def dropped(self) -> dict[str, int]:
        return dict(self.ctx.ledger.dropped)


def remappable(handle: int, shv: bool = False) -> int:
    """A remappable-format address (VT-d 5.1.2.2): HANDLE[14:0] in 19:5, HANDLE[15] in 2."""
    return 0xFEE00010 | (handle & 0x7FFF) << 5 | (handle >> 15 & 1) << 2 | int(shv) << 3


def remapped(vector: int, apic_id: int, x2: bool = False, **f: int) -> int:
    """A present remapped-format IRTE low qword (fixed, physical, edge unless ``f`` says)."""
    return s.IRTE_LOW.encode(p=1, v=vector, dst=apic_id if x2 else apic_id << 8, **f)


def sid_check(sid: int, sq: int = 0, svt: int = 1) -> int:
    return s.IRTE_HIGH.encode(sid=sid, sq=sq, svt=svt)


def fault_reasons(u: Unit) -> list[int]:
    return [r["reason"] for r in u.io.fault_records()]


# -- registers ------------------------------------------------------------------------------
def test_capabilities_are_declared_and_read_as_halves() -> None:
    """VT-d 10.4.2-10.4.3: CAP.PI, NFR, FRO and ECAP.QI/IR/EIM as configured; 8-byte registers
    read in two DWORDs give the same value."""
    u = Unit(nfr=4)
    cap = u.io.mmio_read(s.CAP.offset, 8)
    assert s.CAP.decode(cap) == {"fro": 0x20, "nfr": 3, "pi": 1}
    lo, hi = u.io.mmio_read(s.CAP.offset, 4), u.io.mmio_read(s.CAP.offset + 4, 4)
    assert hi << 32 | lo == cap
    ecap = s.ECAP.decode(u.io.mmio_read(s.ECAP.offset, 8))
    assert (ecap["qi"], ecap["ir"], ecap["eim"]) == (1, 1, 1)
    assert not Unit(pi=False).io.mmio_read(s.CAP.offset, 8) & s.CAP_PI


def test_gcmd_reads_zero_persistent_bits_follow_and_one_shot_bits_latch() -> None:
    """VT-d 10.4.4-10.4.5: GCMD reads 0; QIE/IRE/CFI are persistent (clearing them in the
    next write clears the status); SIRTP sets IRTPS, which stays set."""
    u = Unit()
    u.enable(cfi=True)
    g = u.io.mmio_read(s.GSTS.offset, 4)
    assert g & s.GSTS_QIES and g & s.GSTS_IRES and g & s.GSTS_IRTPS and g & s.GSTS_CFIS
    assert u.io.mmio_read(s.GCMD.offset, 4) == 0
    u.gcmd(s.GCMD_QIE | s.GCMD_IRE)                  # CFI left out: cleared
    g = u.io.mmio_read(s.GSTS.offset, 4)
    assert not g & s.GSTS_CFIS and g & s.GSTS_IRES and g & s.GSTS_IRTPS
    u.gcmd(s.GCMD_QIE)
    assert not u.io.mmio_read(s.GSTS.offset, 4) & s.GSTS_IRES


def test_ire_without_a_table_pointer_is_refused_with_a_diagnostic() -> None:
    """VT-d 10.4.4: enabling remapping before SIRTP latched a table is refused."""
    u = Unit()
    u.gcmd(s.GCMD_IRE)
    assert not u.io.remapping_enabled
    assert [d.rule_id for d in u.ctx.diagnostics] == ["VTD-IRE-WITHOUT-TABLE"]


def test_command_completes_after_the_configured_delay() -> None:
    """Reference 2.2: the model completes a command some time after the write; GSTS shows it
    only then."""
    u = Unit(cmd_delay_ns=500)
    u.io.mmio_write(s.IRTA.offset, 8, TABLE)
    u.gcmd(s.GCMD_SIRTP)
    assert not u.io.mmio_read(s.GSTS.offset, 4) & s.GSTS_IRTPS
    u.ctx.engine.run()
    assert u.ctx.engine.now == 500 and u.io.mmio_read(s.GSTS.offset, 4) & s.GSTS_IRTPS


def test_irta_takes_effect_only_at_sirtp() -> None:
    """Behaviour 2 (VT-d 10.4.29): a new IRTA changes nothing until SIRTP."""
    u = Unit()
    u.enable()
    u.irte(3, remapped(0x40, 1))
    u.mem.write(0x50_0000 + 16 * 3, 16, remapped(0x77, 2))
    u.io.mmio_write(s.IRTA.offset, 8, 0x50_0000 | 7)
    out = u.request(remappable(3))
    assert out is not None and out.data & 0xFF == 0x40
    u.gcmd(s.GCMD_QIE | s.GCMD_IRE | s.GCMD_SIRTP)
    u.flush()
    out = u.request(remappable(3))
    assert out is not None and out.data & 0xFF == 0x77


def test_fault_registers_are_rw1c_and_ro_as_declared() -> None:
    """VT-d 10.4.14: FRCD.F is write-1-to-clear; FSTS.PPF is read-only (the OR of the F
    bits); writes to CAP are ignored with a diagnostic."""
    u = Unit()
    u.enable()
    u.request(remappable(300))                       # 0x21: beyond 256 entries
    assert u.io.mmio_read(s.FSTS.offset, 4) & s.FSTS_PPF
    u.io.mmio_write(s.FSTS.offset, 4, s.FSTS_PPF)   # RO: no effect
    assert u.io.mmio_read(s.FSTS.offset, 4) & s.FSTS_PPF
    fro = 0x20 * 16
    assert u.io.mmio_read(fro + 12, 4) >> 31 == 1
    u.io.mmio_write(fro + 12, 4, 1 << 31)
    assert u.io.mmio_read(fro + 12, 4) >> 31 == 0
    assert not u.io.mmio_read(s.FSTS.offset, 4) & s.FSTS_PPF
    u.io.mmio_write(s.CAP.offset, 4, 1)
    assert "VTD-RO-WRITE" in [d.rule_id for d in u.ctx.diagnostics]


# -- invalidation queue and the IEC ----------------------------------------------------------
def test_wait_descriptor_writes_status_and_sets_iwc() -> None:
    """VT-d 6.5.2.8: an invalidation wait descriptor with SW writes its status data, with IF
    sets ICS.IWC (write 1 to clear); IQH follows IQT."""
    u = Unit()
    u.enable()
    u.submit(s.INV_WAIT_DESC.encode(type=5, sw=1, if_=1, fn=1, status_data=0xC0FFEE,
                                    status_address=STATUS >> 2))
    assert u.mem.read(STATUS, 4) == 0xC0FFEE
    assert u.io.mmio_read(s.ICS.offset, 4) & s.ICS_IWC
    assert u.io.mmio_read(s.IQH.offset, 8) == u.io.mmio_read(s.IQT.offset, 8) == u.tail << 4
    u.io.mmio_write(s.ICS.offset, 4, 1)
    assert not u.io.mmio_read(s.ICS.offset, 4) & s.ICS_IWC


def test_bad_descriptor_sets_iqe_and_stops_the_queue() -> None:
    """VT-d 6.5.2.10: an unknown descriptor type sets FSTS.IQE, IQH stays on it, and later
    descriptors wait; the fault event is raised (FECTL.IM is set at reset: IP)."""
    u = Unit()
    u.enable()
    head = u.tail
    u.submit(0xF, s.INV_WAIT_DESC.encode(type=5, sw=1, status_data=1,
                                         status_address=STATUS >> 2))
    assert u.io.mmio_read(s.FSTS.offset, 4) & s.FSTS_IQE
    assert u.io.mmio_read(s.IQH.offset, 8) >> 4 == head
    assert u.mem.read(STATUS, 4) == 0
    assert u.io.mmio_read(s.FECTL.offset, 4) & s.FECTL_IP
    assert "VTD-IQ-ERROR" in [d.rule_id for d in u.ctx.diagnostics]


def test_iec_serves_a_stale_entry_until_invalidated() -> None:
    """Behaviour 13 (VT-d 6.5.2.7): a changed IRTE takes effect only after an IEC
    invalidation covering it: an index invalidation of another entry does not, one with a
    mask covering it does, a global one does. The driver that forgets to invalidate keeps
    sending to the old CPU."""
    u = Unit()
    u.enable()
    u.irte(5, remapped(0x40, 1))
    assert u.request(remappable(5)).address >> 12 & 0xFF == 1  # type: ignore[union-attr]
    u.irte(5, remapped(0x41, 2))
    out = u.request(remappable(5))
    assert out is not None and (out.address >> 12 & 0xFF, out.data & 0xFF) == (1, 0x40)
    u.flush(6)                                           # another entry only
    assert u.request(remappable(5)).data & 0xFF == 0x40  # type: ignore[union-attr]
    u.flush(4, im=1)                                     # entries 4-5
    assert u.request(remappable(5)).data & 0xFF == 0x41  # type: ignore[union-attr]
    u.irte(5, remapped(0x42, 3))
    u.flush()
    assert u.request(remappable(5)).data & 0xFF == 0x42  # type: ignore[union-attr]
    assert u.io.iec_hits >= 2


def test_without_an_iec_every_request_reads_memory() -> None:
    """Reference 2.3: with the IEC off (as QEMU) a changed IRTE is used at once."""
    u = Unit(iec=False)
    u.enable()
    u.irte(5, remapped(0x40, 1))
    u.request(remappable(5))
    u.irte(5, remapped(0x41, 1))
    assert u.request(remappable(5)).data & 0xFF == 0x41  # type: ignore[union-attr]


# -- decoding and delivery --------------------------------------------------------------------
def test_ires_clear_passes_every_request_through() -> None:
    """Behaviour 1: with IRES = 0 a remappable-looking write is not looked up; no fault."""
    u = Unit()
    t = Tlp(TlpType.MWR, SID, remappable(3), 5, 4)
    assert u.io.interrupt_request(t) is t
    assert u.io.fault_records() == [] and u.io.iec_misses == 0


def test_handle_subhandle_are_added_and_handle15_is_address_bit_2() -> None:
    """Behaviour 3 (VT-d 5.1.2.2): SHV = 0 ignores the data; SHV = 1 adds data[15:0] to the
    handle (not concatenation); HANDLE[15] is address bit 2."""
    u = Unit()
    u.enable(size_s=15)
    u.irte(0x8005, remapped(0x50, 4))
    u.irte(0x8007, remapped(0x52, 4))
    u.irte(0x0005, remapped(0x60, 4))
    assert u.request(remappable(0x8005), data=2).data & 0xFF == 0x50  # type: ignore[union-attr]
    assert u.request(remappable(0x8005, shv=True), data=2).data & 0xFF == 0x52  # type: ignore
    assert u.request(remappable(0x0005)).data & 0xFF == 0x60  # type: ignore[union-attr]


def test_delivered_message_comes_from_the_irte_only() -> None:
    """Behaviour 9 (VT-d 9.10): vector, destination, delivery, trigger and destination modes
    and RH come from the IRTE, whatever the request's data says; xAPIC DST is bits 47:40,
    x2APIC DST bits 63:32 (a 32-bit destination on the APIC bus)."""
    u = Unit()
    u.enable()
    u.irte(1, remapped(0x66, 7, dm=1, rh=1, tm=1, dlm=1))
    out = u.request(remappable(1, shv=True), data=0)
    assert out is not None
    assert out.address & 0xFFFFFFFF == 0xFEE0700C           # dest 7, RH, logical
    assert out.data == 0x66 | 1 << 8 | 1 << 15 | 1 << 14     # lowest, level, assert
    x = Unit()
    x.enable(eime=True)
    x.irte(1, remapped(0x66, 0x1234, x2=True))
    out = x.request(remappable(1))
    assert out is not None and out.address & REMAPPED_WIDE
    assert (out.address >> 12 & 0xFF) | (out.address >> 32 & 0x7FFFFF00) == 0x1234


def test_compatibility_format_passes_only_with_cfis_and_xapic_mode() -> None:
    """Behaviour 6 (VT-d 5.1.2.1): compatibility format is blocked (0x25) unless EIME = 0 and
    CFIS = 1; then it is delivered unchanged."""
    for eime, cfi, passes in ((False, True, True), (False, False, False), (True, True, False)):
        u = Unit()
        u.enable(eime=eime, cfi=cfi)
        t = u.request(0xFEE01000, 0x33)
        assert (t is not None) == passes
        if not passes:
            assert fault_reasons(u) == [0x25]
            assert u.dropped() == {Reason.VTD_COMPAT_BLOCKED: 1}


# -- faults -------------------------------------------------------------------------------------
def test_each_fault_reason_blocks_records_and_names_its_reason() -> None:
    """VT-d 7.1.3 (reference 5.1): one request per condition, each dropped under its Reason
    with the fault record naming reason, source-id and index."""
    cases = []
    u = Unit(pi=False, nfr=16)
    u.enable()
    u.irte(1, remapped(0x40, 1))
    u.irte(2, 0)                                                 # not present
    u.irte(3, remapped(0x40, 1) | 1 << 12)                       # reserved bit 12
    u.irte(4, remapped(0x40, 1), sid_check(0x0200))              # another SID
    u.irte(5, s.IRTE_POSTED_LOW.encode(p=1, im=1, vv=3))        # posted without CAP.PI
    cases = [(remappable(1, shv=True), 1 << 16, 0x20, 1), (remappable(300), 0, 0x21, 300),
             (remappable(2), 0, 0x22, 2), (remappable(3), 0, 0x24, 3),
             (remappable(4), 0, 0x26, 4), (remappable(5), 0, 0x24, 5)]
    for addr, data, _, _ in cases:
        assert u.request(addr, data) is None
    assert [(r["reason"], r["index"], r["sid"]) for r in u.io.fault_records()] == [
        (fr, idx, SID) for _, _, fr, idx in cases]
    assert sum(u.dropped().values()) == len(cases)
    assert u.ctx.ledger.in_flight == 0


def test_read_failure_is_fault_0x23() -> None:
    """VT-d 7.1.3: a table beyond memory cannot be read: 0x23."""
    u = Unit()
    u.mem = u.io.memory = SystemMemory(size=TABLE + 16)
    u.enable()
    assert u.request(remappable(4)) is None and fault_reasons(u) == [0x23]
    assert u.dropped() == {Reason.VTD_READ_FAILED: 1}


def test_upper_address_is_fault_0x20() -> None:
    """Behaviour 5: a non-zero upper address dword is 0x20."""
    u = Unit()
    u.enable()
    assert u.request(remappable(1) | 1 << 32) is None and fault_reasons(u) == [0x20]


def test_fpd_suppresses_recording_of_qualified_faults_only() -> None:
    """Behaviour 7 (VT-d 7.1.3): FPD = 1 on a not-present entry drops without a record."""
    u = Unit()
    u.enable()
    u.irte(2, s.IRTE_LOW.encode(fpd=1))
    assert u.request(remappable(2)) is None
    assert u.io.fault_records() == [] and u.dropped() == {Reason.VTD_NOT_PRESENT: 1}
    u.irte(9, s.IRTE_LOW.encode(fpd=1))
    assert u.request(remappable(9), data=1 << 16) is None


def test_xapic_dst_reserved_bits_fault_but_are_valid_in_x2apic_mode() -> None:
    """Behaviour 8 (VT-d 9.10): in xAPIC mode DST bits 39:32 and 63:48 are reserved (0x24);
    the same entry is valid in x2APIC mode."""
    lo = s.IRTE_LOW.encode(p=1, v=0x40, dst=0x0001_0203)
    u = Unit()
    u.enable()
    u.irte(1, lo)
    assert u.request(remappable(1)) is None and fault_reasons(u) == [0x24]
    x = Unit()
    x.enable(eime=True)
    x.irte(1, lo)
    assert x.request(remappable(1)) is not None


def test_source_id_qualifiers_and_bus_range() -> None:
    """Behaviours 10-11 (VT-d 9.10 SVT/SQ): SQ = 11 ignores the function; SQ = 00 does not;
    SVT = 10 accepts the bus range start..end only."""
    u = Unit()
    u.enable()
    u.irte(1, remapped(0x40, 1), sid_check(0x0108, sq=3))
    u.irte(2, remapped(0x40, 1), sid_check(0x0108, sq=0))
    u.irte(3, remapped(0x40, 1), sid_check(0x0101, svt=2))          # bus 1..1
    assert u.request(remappable(1), sid=0x010B) is not None          # 01:01.3
    assert u.request(remappable(1), sid=0x0110) is None             # 01:02.0
    assert u.request(remappable(2), sid=0x010B) is None
    assert u.request(remappable(3), sid=0x01F8) is not None
    assert u.request(remappable(3), sid=0x0208) is None
    assert fault_reasons(u) == [0x26, 0x26, 0x26]


def test_first_fault_sends_one_event_msi_and_sets_ppf() -> None:
    """Behaviour 14 (VT-d 7.3.2): FECTL.IM = 0: the first fault sends the fault-event MSI
    (FEADDR, FEDATA) and sets PPF; further faults while PPF is set send none."""
    u = Unit()
    u.enable()
    u.io.mmio_write(s.FEDATA.offset, 4, 0x4D)
    u.io.mmio_write(s.FEADDR.offset, 4, 0xFEE02000)
    u.io.mmio_write(s.FECTL.offset, 4, 0)
    u.request(remappable(400))
    u.request(remappable(401))
    assert [(t.address, t.data) for t in u.sent] == [(0xFEE02000, 0x4D)]
    assert u.io.mmio_read(s.FSTS.offset, 4) & s.FSTS_PPF


def test_masked_fault_event_is_pending_until_unmasked() -> None:
    """Behaviour 16: with IM = 1 a fault sets IP and sends nothing; clearing IM sends it and
    clears IP."""
    u = Unit()
    u.enable()
    u.request(remappable(400))
    assert u.sent == [] and u.io.mmio_read(s.FECTL.offset, 4) & s.FECTL_IP
    u.io.mmio_write(s.FECTL.offset, 4, 0)
    assert len(u.sent) == 1 and not u.io.mmio_read(s.FECTL.offset, 4) & s.FECTL_IP


def test_fault_overflow_and_rearm() -> None:
    """Behaviour 15 (VT-d 7.3.1): with every FRCD valid the next fault sets PFO and is not
    recorded; clearing F and PFO re-arms recording."""
    u = Unit(nfr=2)
    u.enable()
    for i in range(3):
        u.request(remappable(300 + i))
    assert [r["index"] for r in u.io.fault_records()] == [300, 301]
    assert u.io.mmio_read(s.FSTS.offset, 4) & s.FSTS_PFO
    fro = 0x20 * 16
    for i in range(2):
        u.io.mmio_write(fro + 16 * i + 12, 4, 1 << 31)
    u.io.mmio_write(s.FSTS.offset, 4, s.FSTS_PFO)
    u.request(remappable(310))
    assert [r["index"] for r in u.io.fault_records()] == [310]


# -- posted interrupts ---------------------------------------------------------------------
def posted_irte(vv: int, urgent: bool = False, pda: int = PID_ADDR) -> tuple[int, int]:
    return (s.IRTE_POSTED_LOW.encode(p=1, im=1, vv=vv, urg=int(urgent), pda_l=pda >> 6),
            s.IRTE_POSTED_HIGH.encode(pda_h=pda >> 32))


def pid(on: int = 0, sn: int = 0, nv: int = 0xF2, ndst: int = 3 << 8) -> int:
    return s.PID.encode(on=on, sn=sn, nv=nv, ndst=ndst)


def test_posting_sets_pir_and_notifies_once_per_on_edge() -> None:
    """Behaviours 17-18 (VT-d 5.2.3): PIR[VV] is set; a notification (NV to NDST, physical,
    fixed, edge) only when ON was 0 and SN = 0; a second posting before the CPU processes it
    sets another PIR bit and sends nothing."""
    u = Unit()
    u.enable()
    u.irte(1, *posted_irte(0x31))
    u.irte(2, *posted_irte(0x32))
    u.mem.write(PID_ADDR, 64, pid())
    n = u.request(remappable(1))
    assert n is not None and (n.address, n.data) == (0xFEE03000, 0xF2)
    assert u.request(remappable(2)) is None
    p = u.mem.read(PID_ADDR, 64)
    assert p & s.PID_ON and p >> 0x31 & 1 and p >> 0x32 & 1
    assert u.io.pir_pending() == 2 and u.io.notifications == 1


def test_suppressed_notification_unless_urgent() -> None:
    """Behaviour 17: SN = 1 posts without notifying and leaves ON = 0; URG overrides SN."""
    u = Unit()
    u.enable()
    u.irte(1, *posted_irte(0x31))
    u.irte(2, *posted_irte(0x40, urgent=True))
    u.mem.write(PID_ADDR, 64, pid(sn=1))
    assert u.request(remappable(1)) is None
    assert not u.mem.read(PID_ADDR, 64) & s.PID_ON
    assert u.request(remappable(2)) is not None
    assert u.mem.read(PID_ADDR, 64) & s.PID_ON


def test_pid_outside_memory_is_fault_0x27() -> None:
    """VT-d 5.2.3: a descriptor that cannot be read blocks with 0x27."""
    u = Unit()
    u.enable()
    u.irte(1, *posted_irte(0x31, pda=0x1_0000_0000_0000))
    assert u.request(remappable(1)) is None and fault_reasons(u) == [0x27]


# -- property: every request ends somewhere named -----------------------------------------------
@settings(max_examples=150, deadline=None)
@given(lo=st.integers(0, (1 << 64) - 1), hi=st.integers(0, (1 << 64) - 1),
       handle=st.integers(0, 0xFFFF), shv=st.booleans(), data=st.integers(0, (1 << 32) - 1),
       compat=st.booleans(), eime=st.booleans(), cfi=st.booleans(), pi=st.booleans(),
       sid=st.integers(0, 0xFFFF), pidv=st.integers(0, (1 << 320) - 1))
def test_every_request_ends_delivered_posted_or_blocked_with_a_reason(
        lo: int, hi: int, handle: int, shv: bool, data: int, compat: bool, eime: bool,
        cfi: bool, pi: bool, sid: int, pidv: int) -> None:
    """Reference 6 and 7.2: any IRTE content and any request format ends as a message to
    deliver, a posted PIR bit (landed or merged), or a drop under a VT-d Reason; the books
    balance (raised = in flight + dropped + merged + posted)."""
    u = Unit(pi=pi)
    u.enable(size_s=15, eime=eime, cfi=cfi)
    lo = lo & ~(0xFFFF_FFC0 << 32) | PID_ADDR >> 6 << 38 if lo & s.IRTE_IM and hi & 1 else lo
    u.irte(handle, lo, hi)
    u.mem.write(PID_ADDR, 64, pidv)
    addr = 0xFEE00000 | (data & 0xFF) << 12 if compat else remappable(handle, shv)
    led = u.ctx.ledger
    out = u.request(addr, data if shv or compat else data & 0xFFFF, sid)
    posted = len(u.io.posted_pids.get(PID_ADDR, {}))
    vtd = {r for r in Reason if r.name.startswith("VTD_")}
    assert set(led.dropped) <= vtd
    assert sum(led.dropped.values()) + led.merged + posted + (
        out is not None and out.iid == 1) == 1
    assert led.raised == led.in_flight + sum(led.dropped.values()) + led.merged + posted
    if out is None and not led.merged and not posted:
        assert len(led.dropped) == 1


def test_new_declarations_match_the_specification() -> None:
    """VT-d 10.4.14 (FRCD), 6.5.2.7 (IEC descriptor), 6.5.2.8 (wait descriptor), 5.1.5.1
    (remappable I/O APIC entry): masks transcribed from the specification."""
    from irqsim.spec.ioapic import IOREDTBL_REMAPPABLE, remappable_rte
    assert s.FRCD.w1cmask == 1 << 127
    assert s.FRCD.field("fr").lsb == 96 and s.FRCD.field("sid").lsb == 64
    assert s.IEC_DESC.reserved_mask == ((1 << 128) - 1) & ~(0xF | 1 << 4 | 0x1F << 27
                                                              | 0xFFFF << 32)
    assert s.INV_WAIT_DESC.field("status_address").lsb == 66
    assert s.INV_WAIT_DESC.reserved_mask == 0xFFFFFF80 | 3 << 64
    assert IOREDTBL_REMAPPABLE.reserved_mask == ((1 << 48) - 1) & ~((1 << 17) - 1)
    rte = remappable_rte(0x8003, 5, True, True, True)
    assert rte == 1 << 48 | 3 << 49 | 1 << 11 | 5 | 1 << 13 | 1 << 15 | 1 << 16
    assert s.PID.size == 64 and s.PID.field("ndst").lsb == 288
    # Reference 3.1's example: xAPIC ID 4, vector 0x50, fixed, physical, edge; and x2APIC.
    assert s.IRTE_LOW.encode(p=1, v=0x50, dst=4 << 8) == 0x0000_0400_0050_0001
    assert s.IRTE_LOW.encode(p=1, v=0x50, dst=4) == 0x0000_0004_0050_0001
    # Posted format (VT-d 9.11): URG 14, IM 15, VV 23:16, PDA[31:6] 63:38, PDA[63:32] 127:96.
    assert s.IRTE_POSTED_LOW.encode(urg=1, im=1, vv=0xAB, pda_l=0x3FFFFFF) == (
        1 << 14 | 1 << 15 | 0xAB << 16 | 0x3FFFFFF << 38)
    assert s.IRTE_POSTED_HIGH.encode(pda_h=0xFFFFFFFF, svt=1) == 0xFFFFFFFF << 32 | 1 << 18


OPS = st.lists(st.one_of(
    st.tuples(st.just("write"), st.integers(0, 7), st.integers(0x20, 0xFF)),
    st.tuples(st.just("inval"), st.integers(0, 7), st.integers(0, 3)),
    st.tuples(st.just("global"), st.just(0), st.just(0)),
    st.tuples(st.just("request"), st.integers(0, 7), st.just(0))), max_size=40)


@settings(max_examples=100, deadline=None)
@given(ops=OPS)
def test_iec_follows_the_invalidation_rules(ops: list[tuple[str, int, int]]) -> None:
    """VT-d 6.5.2.7 (reference 2.3): an entry, once read, is served from the IEC until a
    global invalidation or an index invalidation whose 2^IM-aligned range covers it; a model
    cache with those rules predicts every delivered vector."""
    u = Unit()
    u.enable()
    memory = {i: 0x20 for i in range(8)}
    for i in range(8):
        u.irte(i, remapped(0x20, 1))
    cache: dict[int, int] = {}
    for op, i, v in ops:
        if op == "write":
            memory[i] = v
            u.irte(i, remapped(v, 1))
        elif op == "inval":
            u.flush(i, im=v)
            cache = {j: w for j, w in cache.items() if j >> v != i >> v}
        elif op == "global":
            u.flush()
            cache.clear()
        else:
            want = cache.setdefault(i, memory[i])
            out = u.request(remappable(i))
            assert out is not None and out.data & 0xFF == want
