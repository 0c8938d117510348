"""The posted-interrupt descriptor and the virtual-APIC page as register/memory semantics
(VT-d 5.2.3, 9.12; SDM 29.1.2, 29.1.3, 29.2.1, 29.2.2, 29.6; reference/vtd-posted.md 7.1-7.3
and behaviours 17-18)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from irqsim.fabric.memory import SystemMemory
from irqsim.spec.vtd import PID
from irqsim.virt.pid import CONTROL_OFFSET, ON, SN, PostedDescriptor, control, ndst_for
from irqsim.virt.vapic import VirtualApic

vectors = st.integers(min_value=16, max_value=255)


def _pid(ctrl: int = 0) -> PostedDescriptor:
    pid = PostedDescriptor(SystemMemory(), 0x10000)
    pid.memory.write(pid.ctrl_addr, 8, ctrl)
    return pid


def test_pid_layout_follows_the_declaration() -> None:
    """VT-d 9.12: PIR bits 255:0, ON 256, SN 257, NV 279:272, NDST 319:288 (Linux pi_desc:
    control qword at byte 32, ON bit 0, SN bit 1, NV byte 2, NDST dword 1)."""
    assert CONTROL_OFFSET == 32 and ON == 1 and SN == 2
    whole = control(on=True, sn=True, nv=0xF2, ndst=0x0300) << 256
    assert PID.decode(whole) == {"pir": 0, "on": 1, "sn": 1, "nv": 0xF2, "ndst": 0x0300}
    assert ndst_for(3, x2apic=False) == 0x0300 and ndst_for(0x1234, x2apic=True) == 0x1234


@given(vectors, st.booleans(), st.booleans(), st.booleans(), st.integers(0, (1 << 256) - 1))
def test_post_sets_pir_always_and_notifies_only_on_an_on_edge(
        v: int, on: bool, sn: bool, urg: bool, pir: int) -> None:
    """Behaviour 17: PIR[VV] is set whatever SN, ON, URG; a notification (and ON := 1) only if
    ON was 0 and (SN = 0 or URG = 1)."""
    pid = _pid(control(on=on, sn=sn, nv=0xF2))
    pid.memory.write_bytes(pid.addr, pir.to_bytes(32, "little"))
    notify = pid.post(v, urgent=urg)
    assert pid.pir() == pir | 1 << v
    assert notify == (not on and (not sn or urg))
    assert pid.on == (on or notify)
    assert pid.sn == sn and pid.nv == 0xF2


@given(vectors, vectors)
def test_two_postings_before_processing_give_one_notification_and_two_bits(a: int,
                                                                           b: int) -> None:
    """Behaviour 18: the second posting finds ON = 1 and sends nothing."""
    pid = _pid(control(nv=0xF2))
    assert [pid.post(a), pid.post(b)] == [True, False]
    assert pid.pir() == 1 << a | 1 << b


def test_cpu_side_posting_ignores_sn() -> None:
    """KVM's vmx_deliver_posted_interrupt does not look at SN (the CPU ignores it, VT-d 9.12);
    the remapping unit honours it unless URG (VT-d 5.2.3)."""
    assert _pid(control(sn=True)).post(0x41, honour_sn=False)
    assert not _pid(control(sn=True)).post(0x41)
    assert _pid(control(sn=True)).post(0x41, urgent=True)


def test_empty_pir_sync_is_a_no_op() -> None:
    """SDM 29.6 step 4: RVI = max(RVI, highest PIR bit), unchanged when the PIR was empty."""
    va = VirtualApic()
    va.irr, va.rvi = 1 << 0x31, 0x31
    assert va.merge_pir(0) == []
    assert (va.irr, va.rvi) == (1 << 0x31, 0x31)


@given(st.lists(st.tuples(st.sampled_from(["post", "deliver", "eoi"]),
                          st.lists(vectors, min_size=1, max_size=4)), max_size=40),
       st.integers(0, 255))
def test_rvi_svi_vppr_rules_hold_over_any_sequence(ops: list[tuple[str, list[int]]],
                                                   tpr: int) -> None:
    """SDM 29.2.1/29.2.2/29.1.2/29.1.3 after every step: RVI is the highest vIRR bit (or 0),
    SVI the highest vISR bit (or 0), VPPR = VTPR if VTPR[7:4] >= SVI[7:4] else SVI & 0xF0;
    delivery is possible exactly when RVI[7:4] > VPPR[7:4] and moves RVI into vISR."""
    va = VirtualApic()
    va.tpr = tpr
    va.update_ppr()
    for op, vs in ops:
        if op == "post":
            bits = 0
            for v in vs:
                bits |= 1 << v
            va.merge_pir(bits)
        elif op == "deliver":
            if not va.recognizable():
                continue
            before = va.rvi
            v, _ = va.deliver()
            assert v == before and va.isr >> v & 1 and not va.irr >> v & 1
            assert va.ppr == v & 0xF0
        elif va.isr:
            v = va.virtual_eoi()
            assert not va.isr >> v & 1
            va.update_ppr()
        assert va.rvi == (va.irr.bit_length() - 1 if va.irr else 0)
        assert va.svi == (va.isr.bit_length() - 1 if va.isr else 0)
        expect = tpr if (tpr >> 4) >= (va.svi >> 4) else va.svi & 0xF0
        if op != "deliver":
            assert va.ppr == expect
        assert va.recognizable() == ((va.rvi >> 4) > (va.ppr >> 4))


def test_virtual_apic_page_reads_its_chunks() -> None:
    """SDM 29.1: VIRR at 0x200 + 0x10*i and VISR at 0x100 + 0x10*i, 32 vectors per chunk."""
    va = VirtualApic()
    va.merge_pir(1 << 0x41 | 1 << 0x20)
    assert va.read(0x220) == 1 << 1 and va.read(0x210) == 1 << 0
    va.deliver()
    assert va.read(0x120) == 1 << 1 and va.read(0xA0) == 0x40


def test_vmx_declarations_match_the_sdm() -> None:
    """Masks transcribed from SDM vol. 3C 24.6.1 (pin-based: bit 0 external-interrupt
    exiting, 3 NMI exiting, 5 virtual NMIs, 6 preemption timer, 7 process posted interrupts),
    24.6.2 (primary bit 2 interrupt-window exiting, 7 HLT exiting, 21 TPR shadow, 31
    secondary; secondary bit 0 virtualize APIC accesses, 4 x2APIC mode, 8 APIC-register
    virtualization, 9 virtual-interrupt delivery), 24.7.1 (exit control 15 acknowledge
    interrupt on exit), 24.8.3 (entry interruption information), 24.4.2 (RVI/SVI), 29.1
    (virtual-APIC page offsets)."""
    from irqsim.spec import vmx
    assert vmx.PIN_BASED.wmask == 0b1110_1001
    assert vmx.PROC_BASED.wmask == 1 << 2 | 1 << 7 | 1 << 21 | 1 << 31
    assert vmx.PROC_BASED2.wmask == 1 << 0 | 1 << 4 | 1 << 8 | 1 << 9
    assert vmx.EXIT_ACK_INTR == 1 << 15 and vmx.PIN_POSTED == 1 << 7
    assert vmx.ENTRY_INTR_INFO.encode(vector=0x41, type=0, valid=1) == 0x8000_0041
    assert vmx.GUEST_INTR_STATUS.decode(0x4151) == {"rvi": 0x51, "svi": 0x41}
    assert (vmx.VTPR, vmx.VPPR, vmx.VEOI, vmx.VISR, vmx.VIRR) == (0x80, 0xA0, 0xB0, 0x100,
                                                                  0x200)
    assert (vmx.POSTED_INTR_VECTOR, vmx.POSTED_INTR_WAKEUP_VECTOR) == (0xF2, 0xF1)
