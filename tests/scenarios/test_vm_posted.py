"""Posted interrupts and VMs end to end (SDM 25.2, 26.6.2, 29.1.2, 29.6; KVM posted_intr.c;
reference/vtd-posted.md 7.3-7.5 and behaviours 19-22)."""

from __future__ import annotations

import json

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from irqsim.cli import main
from irqsim.devices.nic import MultiQueueNic
from irqsim.scenarios import ScenarioOptions
from irqsim.scenarios.virt import (
    NIC_IDS,
    VirtSpec,
    build_vm_posted,
    run_path,
    summarize,
    vm_posted,
)
from irqsim.sim.timing import TimingModel
from irqsim.spec.vmx import (
    EXIT_APIC_ACCESS,
    EXIT_EOI_INDUCED,
    EXIT_EXTERNAL_INTERRUPT,
    EXIT_HLT,
    EXIT_INTERRUPT_WINDOW,
    POSTED_INTR_VECTOR,
    POSTED_INTR_WAKEUP_VECTOR,
)
from irqsim.virt.board import VirtMachine
from irqsim.virt.kvm import Kvm
from irqsim.virt.pid import ndst_for
from irqsim.virt.vfio import VfioPci
from irqsim.virt.vmx import BLOCKED, GUEST, ROOT, Vcpu


def _vm(apicv: bool = True, halt: bool = False, start: bool = True,
        ) -> tuple[VirtMachine, MultiQueueNic, Kvm, Vcpu]:
    """2 CPUs; a one-queue NIC assigned to a VM whose one vCPU runs on CPU1; host vector on
    CPU0 (not running a guest), guest vector 0x41."""
    m = VirtMachine(ncpus=2, ledger_debug=True)
    nic = MultiQueueNic(m.ctx, 1, name="nic0")
    m.add_device(nic)
    vfio = VfioPci(NIC_IDS, 1, host_cpus=[0])
    m.kernel.register_driver(vfio)
    m.boot()
    kvm = m.start_kvm(apicv=apicv)
    vcpu = kvm.create_vcpu("vm0", 0, 1, halt_when_idle=halt)
    vfio.route(kvm, 0, vcpu, 0x41)
    if start:
        kvm.start(vcpu)
        m.run(until=m.now + 10_000)
    return m, nic, kvm, vcpu


def _count(m: VirtMachine, name: str, cpu: int) -> int:
    row = m.kernel.system_counters.get(name)
    return row[0][cpu] if row else 0


def _ipi(m: VirtMachine, src: int, dst: int, vector: int) -> None:
    k = m.kernel
    k.run_on(m.cpus[src], lambda: k.smp.send_mask(m.cpus[src], [dst], vector))


def test_notification_in_non_root_mode_is_processed_without_an_exit() -> None:
    """Behaviour 19 (SDM 29.6): the notification vector reaching a CPU that runs the vCPU with
    'process posted interrupts' causes no VM exit: ON cleared, the LAPIC EOIed, PIR moved to
    vIRR, the guest takes the vector."""
    m, nic, _, vcpu = _vm()
    assert vcpu.state == GUEST
    nic.rx(0)
    m.run()
    assert vcpu.exits == {} and vcpu.posted_notifications == 1
    assert vcpu.guest_irqs == {0x41: 1}
    assert vcpu.pid is not None and vcpu.pid.pir() == 0 and not vcpu.pid.on
    lapic = m.lapics[1]
    assert lapic.irr == 0 and lapic.isr == 0            # the notification retired
    assert _count(m, "PIN", 1) == 0                      # no host handler ran on CPU1
    assert vcpu.vapic.isr == 0 and vcpu.vapic.irr == 0   # the guest EOIed (virtualized)
    assert m.accounting()["balanced"]


def test_notification_in_root_mode_is_a_host_interrupt_and_entry_does_not_read_the_pir(
        ) -> None:
    """Behaviour 20: 0xF2 on a CPU in root mode runs the host's handler (PIN); the PIR stays
    pending; a VM entry alone does not consume it; KVM's sync before the next entry does."""
    m, _, kvm, vcpu = _vm(start=False)
    pid = vcpu.pid
    assert pid is not None and vcpu.state != GUEST
    pid.meta[0x41] = m.ctx.ledger.raise_("test")
    pid.post(0x41, honour_sn=False)
    _ipi(m, 0, 1, POSTED_INTR_VECTOR)
    m.run()
    assert _count(m, "PIN", 1) == 1
    assert pid.pir() == 1 << 0x41
    vcpu.enter()                                         # hardware entry, no sync
    m.run()
    assert pid.pir() == 1 << 0x41 and vcpu.vapic.irr == 0 and not vcpu.guest_irqs
    kvm.preempt(vcpu, 0)                                 # an exit, then KVM's own entry
    m.run()
    assert pid.pir() == 0 and vcpu.guest_irqs == {0x41: 1}
    assert m.accounting()["balanced"]


def test_preempted_vcpu_gets_no_notification_and_sees_the_interrupt_at_its_next_entry(
        ) -> None:
    """Behaviour 21 (KVM vmx_vcpu_pi_put): a preempted vCPU has SN = 1; a posting notifies
    nothing (the unit's rule: no ON, no message); KVM sets ON at load and syncs at entry."""
    m, nic, kvm, vcpu = _vm()
    pid = vcpu.pid
    assert pid is not None
    t0 = m.now
    kvm.preempt(vcpu, 50_000)
    m.run(until=t0 + 10_000)
    assert vcpu.state != GUEST and pid.sn
    assert not pid.post(0x51)                            # VT-d 5.2.3: SN suppresses
    pid.meta[0x51] = m.ctx.ledger.raise_("test")
    nic.rx(0)
    m.run(until=t0 + 40_000)
    assert vcpu.posted_notifications == 0 and not vcpu.guest_irqs
    assert pid.pir() == 1 << 0x41 | 1 << 0x51
    m.run()
    assert vcpu.state == GUEST and not pid.sn and pid.pir() == 0
    assert vcpu.guest_irqs == {0x41: 1, 0x51: 1}
    assert vcpu.posted_notifications == 0
    assert m.accounting()["balanced"]


def test_blocked_vcpu_is_woken_by_the_wakeup_vector() -> None:
    """Behaviour 21 (KVM pi_enable_wakeup_handler, pi_wakeup_handler): a vCPU halted in HLT
    has NV = 0xF1 and NDST = its CPU; a posting's notification runs the host 0xF1 handler,
    which wakes it; it takes the interrupt and blocks again."""
    m, _, kvm, vcpu = _vm(halt=True)
    pid = vcpu.pid
    assert pid is not None
    assert vcpu.state == BLOCKED and vcpu.exits[EXIT_HLT] == 1
    assert pid.nv == POSTED_INTR_WAKEUP_VECTOR and not pid.sn
    assert pid.ndst == ndst_for(m.lapics[1].apic_id, x2apic=False)
    assert vcpu in kvm.wakeup_list[1]
    pid.meta[0x41] = m.ctx.ledger.raise_("test")
    assert pid.post(0x41)                                # as the remapping unit does
    _ipi(m, 0, 1, pid.nv)                                # its notification: NV to NDST
    m.run()
    assert _count(m, "PIW", 1) == 1
    assert vcpu.guest_irqs == {0x41: 1}
    assert vcpu.state == BLOCKED and vcpu.exits[EXIT_HLT] == 2 and pid.nv == 0xF1
    assert m.accounting()["balanced"]


def test_exits_per_interrupt_on_each_path() -> None:
    """Behaviour 22: without APICv an interrupt costs an external-interrupt exit on the host
    vector's CPU, a kick exit on the target and an EOI (APIC-access) exit; with APICv only
    the first (the target processes 0xF2 in non-root mode); with VT-d posting none, and no
    host code runs; bare metal none."""
    spec = VirtSpec(requests=12, mean_gap_ns=50_000.0)
    bare, exit_, apicv, posted = (run_path(p, spec)
                                  for p in ("bare", "vm_exit", "apicv", "posted"))
    assert summarize(bare)["exits_per_interrupt"] == 0
    n = sum(exit_.vcpus[1].guest_irqs.values())
    assert n >= 10                     # packets close together merge in vIRR
    assert exit_.vcpus[0].exits == {EXIT_EXTERNAL_INTERRUPT: n}
    assert exit_.vcpus[1].exits == {EXIT_EXTERNAL_INTERRUPT: n, EXIT_APIC_ACCESS: n}
    assert summarize(exit_)["exits_per_interrupt"] == 3.0
    n = sum(apicv.vcpus[1].guest_irqs.values())
    assert apicv.vcpus[1].exits == {} and apicv.vcpus[1].posted_notifications == n
    # at most one (an interrupt that finds vCPU0 already in root mode costs none)
    assert set(apicv.vcpus[0].exits) == {EXIT_EXTERNAL_INTERRUPT}
    assert n - 2 <= apicv.vcpus[0].exits[EXIT_EXTERNAL_INTERRUPT] <= n
    assert 0.8 <= summarize(apicv)["exits_per_interrupt"] <= 1.0
    s = summarize(posted)
    assert posted.vcpus[0].exits == {} and posted.vcpus[1].exits == {}
    assert sum(posted.vcpus[1].guest_irqs.values()) == 12
    assert posted.vfio is not None and posted.vfio.forwarded == 0
    assert s["exits_per_interrupt"] == 0 and s["root_ns"] == 0
    assert posted.machine.iommu.posted == 12
    for r in (bare, exit_, apicv, posted):
        assert r.machine.accounting()["balanced"]


def test_latency_moves_by_the_exits_on_the_critical_path() -> None:
    """Latency emerges from the stages: 100 ns more per VM exit moves the no-APICv path by
    200 ns (the exit on the host vector's CPU and the kick exit; the EOI exit comes after the
    handler entry), the APICv path by 100 ns, VT-d posting and bare metal not at all."""
    spec = VirtSpec(requests=5, mean_gap_ns=50_000.0)
    slow = TimingModel().with_(vm_exit=TimingModel().vm_exit + 100)
    for path, shift in (("bare", 0), ("vm_exit", 200), ("apicv", 100), ("posted", 0)):
        a = summarize(run_path(path, spec))["median_ns"]
        b = summarize(run_path(path, spec, timing=slow))["median_ns"]
        assert b - a == shift, path


def test_vtd_posting_reaches_a_blocked_vcpu_through_the_wakeup_vector() -> None:
    """VT-d 5.2.3 with KVM's blocked state: the unit posts into the PID of a vCPU halted in
    HLT and notifies NV = 0xF1 at NDST; the host's 0xF1 handler wakes the vCPU; it takes the
    interrupt; nothing goes through the host vector."""
    r = build_vm_posted(ledger_debug=True)
    m = r.machine
    v1 = r.vcpus[1]
    assert v1.state == BLOCKED
    r.nic.rx(1)
    m.run()
    assert v1.guest_irqs == {0x42: 1} and _count(m, "PIW", 2) == 1
    assert r.vfio is not None and r.vfio.forwarded == 0
    assert m.iommu.notifications == 1 and v1.state == BLOCKED
    assert m.accounting()["balanced"]


def test_eoi_exit_bitmap_makes_the_virtual_eoi_exit() -> None:
    """SDM 29.1.2: EOI virtualization exits (EOI-induced) only for vectors whose EOI-exit
    bitmap bit is set."""
    m, nic, _, vcpu = _vm()
    nic.rx(0)
    m.run()
    assert vcpu.exits == {}
    vcpu.eoi_exit_bitmap = 1 << 0x41
    nic.rx(0)
    m.run()
    assert vcpu.exits == {EXIT_EOI_INDUCED: 1} and vcpu.guest_irqs == {0x41: 2}
    assert vcpu.state == GUEST and m.accounting()["balanced"]


def test_interrupt_window_exiting_injects_when_the_guest_can_take_it() -> None:
    """Without APICv (SDM 26.6.2, 25.2): two interrupts pending; the higher is injected; at
    its EOI exit the guest still has IF = 0, so KVM arms interrupt-window exiting; the IRET
    exits and the second is injected at the next entry."""
    m, _, kvm, vcpu = _vm(apicv=False)
    k = m.kernel

    def two() -> None:
        kvm.deliver(vcpu, 0x41)
        kvm.deliver(vcpu, 0x51)
    k.run_on(m.cpus[0], two)
    m.run()
    assert vcpu.guest_irqs == {0x41: 1, 0x51: 1}
    assert vcpu.exits[EXIT_INTERRUPT_WINDOW] == 1 and vcpu.exits[EXIT_APIC_ACCESS] == 2
    assert vcpu.state == GUEST and m.accounting()["balanced"]


def test_posted_processing_without_virtual_interrupt_delivery_fails_vm_entry() -> None:
    """SDM 26.2.1.1: 'process posted interrupts' needs virtual-interrupt delivery: the VM
    entry fails and says which rule."""
    m, _, kvm, vcpu = _vm(start=False)
    vcpu.proc2 = 0
    kvm.start(vcpu)
    m.run()
    assert vcpu.state == ROOT
    assert [d.rule_id for d in m.ctx.diagnostics] == ["VMX-ENTRY-PI-CONTROLS"]


def test_vm_posted_scenario_balances_and_shows_every_vcpu_state() -> None:
    """The vm-posted scenario: every interrupt accounted for under the debug ledger; vCPU0
    takes its interrupts without exits except when preempted; vCPU1 blocks and is woken."""
    r = build_vm_posted(ledger_debug=True)
    m = r.machine
    kvm = r.kvm
    assert kvm is not None
    for i in range(30):
        m.engine.at(m.now + 5_000 + 7_000 * i, lambda _, q=i % 2: r.nic.rx(q))
    m.engine.at(m.now + 60_000, lambda _: kvm.preempt(r.vcpus[0], 20_000))
    m.run()
    v0, v1 = r.vcpus
    assert sum(v0.guest_irqs.values()) > 0 and sum(v1.guest_irqs.values()) > 0
    assert v0.exits[EXIT_EXTERNAL_INTERRUPT] == 1          # the reschedule IPI only
    assert v1.exits[EXIT_HLT] >= sum(v1.guest_irqs.values()) > 0
    assert v1.state == BLOCKED and v0.state == GUEST
    assert m.accounting()["balanced"]
    res = vm_posted(ScenarioOptions(requests=20, mean_gap_ns=10_000.0, trace=False))
    assert res.machine.accounting()["balanced"]


def test_compare_virt_json_keys() -> None:
    """irqsim compare-virt --format json: keys bare, vm_exit, apicv, posted, each with
    median_ns, p99_ns, exits_per_interrupt and root CPU time."""
    out = CliRunner().invoke(main, ["compare-virt", "--format", "json", "--requests", "10"])
    assert out.exit_code == 0, out.output
    res = json.loads(out.output)
    assert set(res) == {"bare", "vm_exit", "apicv", "posted"}
    for r in res.values():
        assert {"median_ns", "p99_ns", "exits_per_interrupt", "root_ns"} <= set(r)
    med = [res[k]["median_ns"] for k in ("bare", "posted", "apicv", "vm_exit")]
    assert med == sorted(med) and res["posted"]["exits_per_interrupt"] == 0
    bad = CliRunner().invoke(main, ["compare-virt", "--requests", "0"])
    assert bad.exit_code == 2


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40_000), st.sampled_from(["rx0", "rx1", "preempt0",
                                                                    "preempt1", "direct"])),
                min_size=1, max_size=25),
       st.sampled_from(["emulated", "apicv", "vtd"]))
def test_any_mix_of_postings_preemptions_and_blocking_balances(
        ops: list[tuple[int, str]], mode: str) -> None:
    """Invariant (reference 10; the ledger's rule): whatever the timing of device interrupts,
    direct deliveries, preemptions (SN) and blocking (HLT, NV = 0xF1), with KVM's emulated
    APIC, APICv or VT-d posting, every interrupt ends delivered to a guest or the host, or
    merged: nothing stays in a PIR or vIRR once the machine is idle, and the debug ledger
    never sees an impossible step."""
    m = VirtMachine(ncpus=3, ledger_debug=True, intremap=mode == "vtd")
    nic = MultiQueueNic(m.ctx, 2, name="nic0")
    m.add_device(nic)
    vfio = VfioPci(NIC_IDS, 2, host_cpus=[0])
    m.kernel.register_driver(vfio)
    m.boot()
    kvm = m.start_kvm(apicv=mode != "emulated")
    vcpus = [kvm.create_vcpu("vm0", 0, 1), kvm.create_vcpu("vm0", 1, 2, halt_when_idle=True)]
    for q in range(2):
        assert vfio.route(kvm, q, vcpus[q], 0x41 + 0x10 * q, posted=mode == "vtd") \
            == (mode == "vtd")
    for v in vcpus:
        kvm.start(v)
    t0 = m.now + 5_000

    def act(arg: tuple[str]) -> None:
        what = arg[0]
        if what.startswith("rx"):
            nic.rx(int(what[2]))
        elif what.startswith("preempt"):
            kvm.preempt(vcpus[int(what[-1])], 3_000)
        else:
            m.kernel.run_on(m.cpus[0], lambda: kvm.deliver(vcpus[1], 0x61))
    for t, what in ops:
        m.engine.at(t0 + t, act, (what,))
    m.run()
    acc = m.accounting()
    assert acc["balanced"] and acc["in_flight"] == 0
    assert sum(acc["pending"].values()) == 0
    assert all(v.state in (GUEST, BLOCKED) for v in vcpus)


def test_without_acknowledge_on_exit_the_host_takes_the_vector_after_the_exit() -> None:
    """SDM 24.7.1 / 27.2.2: with 'acknowledge interrupt on exit' the exit takes the vector
    from the LAPIC (INTA at the exit, vector in the exit information); without it the vector
    stays in IRR and the host takes it through its own INTA once KVM enables interrupts."""
    acked = {}
    for ack in (True, False):
        m, nic, kvm, vcpu = _vm(apicv=False, start=False)
        host = kvm.create_vcpu("vm1", 0, 0)              # the NIC's host vector's CPU
        if not ack:
            host.exit_ctls = 0
        kvm.start(host)
        kvm.start(vcpu)
        m.run(until=m.now + 10_000)
        nic.rx(0)
        m.run()
        assert host.exits == {EXIT_EXTERNAL_INTERRUPT: 1} and vcpu.guest_irqs == {0x41: 1}
        acked[ack] = host.exit_info
        assert m.cpus[0].accepted >= 1 and m.accounting()["balanced"]
    assert acked[True] == 1 << 31 | m.kernel.irqs[24].vector and acked[False] == 0


def test_the_python_example_in_docs_virt_runs() -> None:
    """docs/virt.md's Python API example runs as written (one interrupt to the guest, no
    exit, books balanced)."""
    from pathlib import Path
    text = (Path(__file__).parents[2] / "docs" / "virt.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    env: dict[str, object] = {"print": lambda *a: None}
    exec(compile(code, "docs/virt.md", "exec"), env)
    vcpu = env["vcpu"]
    assert isinstance(vcpu, Vcpu) and vcpu.guest_irqs == {0x41: 1} and not vcpu.exits


def test_x2apic_ndst_is_the_32_bit_apic_id() -> None:
    """VT-d 9.12: in x2APIC mode NDST is the 32-bit APIC ID; KVM's load writes it and the
    notification reaches a CPU whose APIC ID does not fit 8 bits."""
    m = VirtMachine(ncpus=2, x2apic=True, apic_ids=[0, 300])
    nic = MultiQueueNic(m.ctx, 1, name="nic0")
    m.add_device(nic)
    vfio = VfioPci(NIC_IDS, 1, host_cpus=[0])
    m.kernel.register_driver(vfio)
    m.boot()
    kvm = m.start_kvm()
    vcpu = kvm.create_vcpu("vm0", 0, 1)
    vfio.route(kvm, 0, vcpu, 0x41)
    kvm.start(vcpu)
    m.run(until=m.now + 10_000)
    assert vcpu.pid is not None and vcpu.pid.ndst == 300 == ndst_for(300, x2apic=True)
    nic.rx(0)
    m.run()
    assert vcpu.guest_irqs == {0x41: 1} and vcpu.posted_notifications == 1 and not vcpu.exits


def test_the_demo_draws_one_delivery_into_the_guest() -> None:
    """irqsim demo --scenario vm-posted: the delivery diagram follows the interrupt from the
    device to the guest's handler and its virtualized EOI, with a Guest lifeline."""
    out = CliRunner().invoke(main, ["demo", "--scenario", "vm-posted", "--format", "mermaid",
                                    "--requests", "20"])
    assert out.exit_code == 0, out.output
    delivery = out.output.split("One interrupt from nic0")[1]
    assert "participant Guest as Guest (vCPU)" in out.output
    for step in ("Hardware event occurs", "Notification vector in non-root mode",
                 "Virtual-interrupt delivery: vector 0x4", "Guest EOI (virtualized)"):
        assert step in delivery, step


def test_vtd_posting_to_a_preempted_vcpu_sends_nothing_until_its_next_load() -> None:
    """VT-d 5.2.3 with KVM's preempted state (SN = 1): the unit sets the PIR bit and sends no
    notification (ON stays 0); KVM's load sets ON because the PIR is not empty and syncs it
    before the entry; the guest takes the interrupt with no exit for it."""
    r = build_vm_posted(ledger_debug=True)
    m = r.machine
    kvm = r.kvm
    assert kvm is not None
    v0 = r.vcpus[0]
    pid = v0.pid
    assert pid is not None
    t0 = m.now
    kvm.preempt(v0, 40_000)
    m.run(until=t0 + 10_000)
    assert pid.sn and v0.state != GUEST
    sent = m.iommu.notifications
    r.nic.rx(0)
    m.run(until=t0 + 30_000)
    assert m.iommu.notifications == sent and not pid.on and pid.pir() == 1 << 0x41
    assert not v0.guest_irqs
    m.run()
    assert v0.guest_irqs == {0x41: 1} and not pid.sn and pid.pir() == 0
    assert v0.exits == {EXIT_EXTERNAL_INTERRUPT: 1}          # the reschedule IPI only
    assert m.accounting()["balanced"]


def test_unposting_an_entry_sends_it_through_the_host_vector_again() -> None:
    """intel_ir_set_vcpu_affinity(NULL): the IRTE goes back to remapped format, so the device's
    next interrupt reaches the host vector, VFIO's handler forwards it and KVM posts it
    (CPU-side); before, the unit posted it with no host code."""
    r = build_vm_posted(ledger_debug=True)
    m = r.machine
    vfio = r.vfio
    assert vfio is not None
    r.nic.rx(0)
    m.run()
    assert vfio.forwarded == 0 and r.vcpus[0].guest_irqs == {0x41: 1}
    vfio.unpost(0)
    m.run()
    r.nic.rx(0)
    m.run()
    assert vfio.forwarded == 1 and r.vcpus[0].guest_irqs == {0x41: 2}
    assert m.accounting()["balanced"]
