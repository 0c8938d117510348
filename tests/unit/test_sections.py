"""Software sections on the one clock (sim/section.py, issue 8): each access happens at the
section's instant; waits, posted writes, tails, preemption, blocking, task queueing and INIT
behave the same whether a section waits inline or in a greenlet."""

from __future__ import annotations

import pytest

from apic_helpers import raw_machine
from irqsim.machine import Machine
from irqsim.sim.section import Software

BASE = 0xFEE00000


@pytest.fixture(params=[True, False], ids=["inline", "greenlet"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    monkeypatch.setattr(Software, "INLINE", request.param)
    return bool(request.param)


def test_top_level_section_runs_to_its_end_on_the_clock(mode: bool) -> None:
    """A script run with Cpu.run returns when its section has ended: the engine's clock is at
    its last instant, each access happened at start + the cost before it."""
    m = Machine(ncpus=1, trace=True)
    cpu = m.cpus[0]
    t0 = m.now
    seen: list[int] = []

    def body(_: object) -> None:
        cpu.spend(1_000)
        seen.append(cpu.clock)
        cpu.read(BASE + 0x30)                       # LAPIC version: 35 ns
        seen.append(cpu.clock)
        cpu.spend(500)
    sec = cpu.run(body)
    assert sec.finished and seen == [t0 + 1_000, t0 + 1_035]
    assert m.now == t0 + 1_535 and sec.busy == 1_535
    assert cpu.cpu_time()["task"] == 1_535


def test_a_read_waits_for_events_due_before_it(mode: bool) -> None:
    """An event due during the section's computation runs before the section's next read,
    at its own time (the engine is brought to the section's instant)."""
    m = Machine(ncpus=1)
    cpu = m.cpus[0]
    order: list[tuple[str, int]] = []
    m.engine.at(m.now + 400, lambda _: order.append(("event", m.now)))

    def body(_: object) -> None:
        cpu.spend(1_000)
        cpu.read(BASE + 0x30)
        order.append(("read", m.now))
    t0 = m.now
    m.engine.at(t0, lambda _: cpu.run(body))
    m.run()
    assert order == [("event", t0 + 400), ("read", t0 + 1_000)]


def test_writes_are_posted_at_their_instant(mode: bool) -> None:
    """A write ahead of the engine takes effect at its instant while the software goes on:
    a TPR write at start + 1 us is seen by an event at +1.5 us, not by one at +0.5 us."""
    m = raw_machine(1, cli=False)
    cpu, lapic = m.cpus[0], m.lapics[0]
    tpr: list[int] = []
    t0 = m.now + 100
    m.engine.at(t0 + 500, lambda _: tpr.append(lapic.tpr))
    m.engine.at(t0 + 1_500, lambda _: tpr.append(lapic.tpr))

    def body(_: object) -> None:
        cpu.spend(1_000)
        cpu.write(BASE + 0x80, 4, 0x40)
        cpu.spend(2_000)
    m.engine.at(t0, lambda _: cpu.run(body))
    m.run()
    assert tpr == [0, 0x40] and m.now == t0 + 3_000 + m.ctx.timing.lapic_mmio_access


def test_an_interrupt_preempts_a_task_and_shifts_its_rest(mode: bool) -> None:
    """With IF=1 an interrupt preempts a task section: the task's remaining time, and a
    write it posted for later, move by the handler's duration (SDM 6.8.1 at task level)."""
    from helpers import nic_machine

    m, nics, drv = nic_machine(handler_ns=2_000)
    cpu, lapic = m.cpus[0], m.lapics[0]
    secs = []
    t0 = m.now + 1_000
    task0, hard0 = cpu.cpu_time()["task"], cpu.cpu_time()["hardirq"]

    def task(_: object) -> None:
        cpu.spend(3_000)
        cpu.write(BASE + 0x80, 4, 0x10)            # posted at t0 + 3 us
        cpu.spend(3_000)
    m.engine.at(t0, lambda _: secs.append(cpu.run(task)))
    m.engine.at(t0 + 500, lambda _: nics[0].rx(0))
    tpr_at: list[tuple[int, int]] = []
    m.engine.at(t0 + 3_100, lambda _: tpr_at.append((m.now, lapic.tpr)))
    m.run()
    assert len(drv.calls) == 1
    hard = cpu.cpu_time()["hardirq"] - hard0
    assert hard > 2_000
    assert secs[0].finished and secs[0].clock == t0 + 6_035 + hard
    assert tpr_at == [(t0 + 3_100, 0)] and lapic.tpr == 0x10
    assert cpu.cpu_time()["task"] - task0 == 6_035


def test_a_preempted_task_keeps_its_posted_writes_in_order(mode: bool) -> None:
    """Three writes a task posted ahead of the engine (the first is recorded apart from the
    others: sim/section.py) are all held by a preemption and each takes effect later by the
    handler's duration, in the order they were posted: just before and just after each
    shifted instant the TPR reads the value before and the value it wrote."""
    from helpers import nic_machine

    mmio = None

    def play(probes: list[int]) -> tuple[int, list[int]]:
        nonlocal mmio
        m, nics, drv = nic_machine(handler_ns=2_000)
        cpu, lapic = m.cpus[0], m.lapics[0]
        mmio = m.ctx.timing.lapic_mmio_access
        t0 = m.now + 1_000
        hard0 = cpu.cpu_time()["hardirq"]

        def task(_: object) -> None:
            for k, tpr in enumerate((0x10, 0x20, 0x30)):
                cpu.spend(3_000 if k == 0 else 500)
                cpu.write(BASE + 0x80, 4, tpr)      # the first posted at t0 + 3 us
            cpu.spend(2_000)
        m.engine.at(t0, lambda _: cpu.run(task))
        m.engine.at(t0 + 500, lambda _: nics[0].rx(0))
        seen: list[int] = []
        for t in probes:
            m.engine.at(t0 + t, lambda _: seen.append(lapic.tpr))
        m.run()
        assert len(drv.calls) == 1 and lapic.tpr == 0x30
        return cpu.cpu_time()["hardirq"] - hard0, seen

    hard, _ = play([])
    assert hard > 2_000 and mmio is not None
    due = [3_000 + hard + k * (500 + mmio) for k in range(3)]
    _, seen = play([t + d for t in due for d in (-1, 1)])
    assert seen == [0, 0x10, 0x10, 0x20, 0x20, 0x30]


def test_task_started_during_a_handler_waits_for_iret(mode: bool) -> None:
    """A task section started while the CPU is in a handler waits in the run queue and
    starts at the IRET."""
    from helpers import nic_machine

    m, nics, _drv = nic_machine(handler_ns=2_000, trace=True)
    cpu = m.cpus[0]
    started: list[int] = []
    nics[0].rx(0)
    m.run(until=m.now + 1_000)                       # the handler runs
    assert cpu.frames
    m.engine.at(m.now, lambda _: cpu.run(lambda _a: started.append(m.now)))
    m.run()
    iret = next(e.time for e in m.ctx.tracer.of_kind("iret"))
    assert started == [iret]


def test_a_spinning_sender_is_busy_until_the_acknowledgements(mode: bool) -> None:
    """smp_call_function_single(wait=true) from a task: the sender's section spins until the
    target has run the function (csd lock), and all of it is the sender's task time."""
    m = Machine(ncpus=2)
    m.boot()
    k = m.kernel
    t_task0 = m.cpus[0].cpu_time()["task"]
    reqs = []
    m.engine.at(m.now, lambda _: reqs.append(
        k.smp.call_function_single(0, 1, func=lambda c: k.cpus[c].spend(5_000))))
    m.run()
    req = reqs[0]
    assert req.done and req.latency > 5_000
    assert m.cpus[0].cpu_time()["task"] - t_task0 >= req.latency


def test_init_abandons_the_running_handler_cleanly(mode: bool) -> None:
    """INIT while a handler section waits: the section never continues, no exception
    escapes, the CPU waits for SIPI with no frames (SDM 8.4.4)."""
    from helpers import nic_machine

    m, nics, _drv = nic_machine(handler_ns=5_000)
    cpu = m.cpus[0]
    nics[0].rx(0)
    m.run(until=m.now + 1_000)
    assert cpu.frames
    m.engine.at(m.now + 10, lambda _: cpu.init_signal())
    m.run()
    assert not cpu.frames and cpu.state == "wait-for-SIPI"


def test_init_abandons_queued_tasks_and_a_reset_cpu_runs_no_software(mode: bool) -> None:
    """INIT while a task waits in the run queue behind a handler: the task is abandoned with
    the rest (found by the guest fuzz, seed 21); software started on a CPU in wait-for-SIPI
    never runs (SDM 8.4.1), with a diagnostic, and the script that started it returns."""
    from helpers import nic_machine

    m, nics, _drv = nic_machine(handler_ns=5_000)
    cpu = m.cpus[0]
    nics[0].rx(0)
    m.run(until=m.now + 1_000)
    queued = []
    m.engine.at(m.now, lambda _: queued.append(cpu.run(lambda _a: None)))
    m.engine.at(m.now + 10, lambda _: cpu.init_signal())
    m.run()
    assert queued[0].abandoned and not queued[0].finished and not cpu.runq
    late = cpu.run(lambda _a: None)         # from the top level: returns at once
    assert late.abandoned and any(d.rule_id == "CPU-WAIT-FOR-SIPI" for d in m.ctx.diagnostics)


def test_kernel_spend_charges_the_running_section_and_nothing_outside(mode: bool) -> None:
    """`Kernel.spend` (bound to `Software.charge`) moves the running section's clock and
    busy time (docs/timing.md "Software time"); outside any section it charges nothing."""
    m = Machine(ncpus=1)
    k, cpu = m.kernel, m.cpus[0]
    t0 = m.now
    k.spend(700)                                    # no section: nothing to charge
    assert m.now == t0 and m.ctx.sw.current is None

    def body(_: object) -> None:
        k.spend(1_200)
    sec = cpu.run(body)
    assert sec.busy == 1_200 and m.now == t0 + 1_200
