"""Softirq context on the CPU (kernel/softirq.c; docs/networking.md): raised in a hard IRQ
it runs at the last IRET before the interrupted task resumes, interrupts preempt it, its
time is softirq time; raised from task context it goes to ksoftirqd."""

from __future__ import annotations

from irqsim.machine import Machine
from irqsim.os.softirq import NET_RX, TASKLET


def machine() -> Machine:
    m = Machine(ncpus=2, latency=False)
    m.boot()
    return m


def test_softirq_from_an_event_runs_before_the_task_and_is_softirq_time() -> None:
    """Raised from outside software (an hrtimer) while a task runs: the softirq preempts
    the task, runs its handler for its cost, then the task resumes; the four contexts add
    up to the simulated time."""
    m = machine()
    k, cpu = m.kernel, m.cpus[0]
    sirq = k.softirq
    log: list[tuple[str, int]] = []

    def handler(c):  # type: ignore[no-untyped-def]
        log.append(("softirq", c.clock))
        k.spend(5_000)

    sirq.open_softirq(TASKLET, handler)

    def task(_: object) -> None:
        log.append(("task-start", cpu.clock))
        k.spend(10_000)
        cpu.read(m.kernel.lapic_base + 0x30)        # an access: the task syncs here
        log.append(("task-end", cpu.clock))

    t0 = m.now
    m.engine.at(t0 + 100, lambda _: cpu.run(task))
    m.engine.at(t0 + 2_000, lambda _: sirq.raise_softirq(cpu, TASKLET))
    before = cpu.cpu_time()
    m.run()
    after = cpu.cpu_time()
    soft = after["softirq"] - before["softirq"]
    assert [e for e, _ in log] == ["task-start", "softirq", "task-end"]
    assert soft >= 5_000
    assert log[-1][1] >= t0 + 100 + 10_000 + 5_000        # the task waited for it
    assert sirq.counts[TASKLET][0] == 1
    assert sum(after.values()) == m.now


def test_raised_from_task_context_wakes_ksoftirqd() -> None:
    """raise_softirq from a task (not in an interrupt) wakes ksoftirqd, a thread whose time
    counts as softirq; NET_RX with an empty poll list does nothing else."""
    m = machine()
    k, cpu = m.kernel, m.cpus[1]
    sirq = k.softirq
    before = cpu.cpu_time()["softirq"]
    k.run_on(cpu, lambda: sirq.raise_softirq(cpu, NET_RX))
    m.run()
    assert [c.ksoftirqd_wakes for c in sirq.cpus] == [0, 1] + [0] * (len(m.cpus) - 2)
    assert sirq.counts[NET_RX][1] == 1
    assert cpu.cpu_time()["softirq"] > before
    assert "NET_RX:" in sirq.proc_softirqs() and "BLOCK:" in sirq.proc_softirqs()
