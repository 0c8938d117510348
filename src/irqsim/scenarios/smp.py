"""SMP scenarios: an IPI storm with TLB shootdowns on a two-socket machine, and the APIC
timer driving a periodic tick (seed 003 "Inter-Processor Interrupts", "LAPIC Timer")."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from irqsim.cpu.topology import Topology
from irqsim.machine import Machine
from irqsim.os.ipi import CallRequest
from irqsim.scenarios import ScenarioOptions, ScenarioResult, knobs_of, register
from irqsim.sim.trace import TraceOption

# Two sockets x 2 cores x 2 SMT threads, a 2-bit core field: APIC IDs 0-3 and 8-11.
IPI_TOPOLOGY = Topology(sockets=2, cores=2, threads=2, core_bits=2)


def hop_class(m: Machine, a: int, b: int) -> str:
    """Where CPU ``b`` sits relative to CPU ``a``: same core, same socket, cross socket."""
    la, lb = m.lapics[a], m.lapics[b]
    if la.core_key == lb.core_key:
        return "same core (SMT)"
    if la.socket_key == lb.socket_key:
        return "same socket"
    return "cross socket"


def ipi_latency_rows(m: Machine, reqs: list[CallRequest]) -> list[dict[str, Any]]:
    """Mean call-function-single round trip (call to acknowledgement) per hop class."""
    acc: dict[str, list[int]] = {}
    for r in reqs:
        if r.kind == "call-single" and r.done:
            acc.setdefault(hop_class(m, r.src, r.targets[0]), []).append(r.latency)
    order = ("same core (SMT)", "same socket", "cross socket")
    return [{"hop": h, "count": len(acc[h]), "mean_ns": sum(acc[h]) // len(acc[h]),
             "max_ns": max(acc[h])} for h in order if h in acc]


def build_ipi_machine(trace: TraceOption = False, x2apic: bool = True, tick_hz: int = 1000,
                      topology: Topology = IPI_TOPOLOGY) -> Machine:
    """The storm's machine, booted (x2APIC, 1 kHz periodic tick)."""
    m = Machine(topology=topology, trace=trace, x2apic=x2apic, tick_hz=tick_hz, latency=False)
    m.boot()
    return m


@dataclass
class IpiKnobs:
    """ipi's own knobs: the OS's APIC mode and periodic tick (the demo: x2APIC, 1 kHz)."""

    x2apic: bool = True
    tick_hz: int = 1000


@register("ipi", "Two sockets x 2 cores x 2 threads (APIC IDs 0-3, 8-11), x2APIC: an IPI storm "
                 "(reschedule, call-function, NMI) and TLB shootdowns with acknowledgements",
          span=lambda o: o.requests * max(1.0, o.mean_gap_ns / 4) + 70_000, knobs=IpiKnobs)
def ipi(opts: ScenarioOptions) -> ScenarioResult:
    kn = knobs_of(opts, IpiKnobs)
    m = build_ipi_machine(trace=opts.trace, x2apic=kn.x2apic, tick_hz=kn.tick_hz)
    k = m.kernel
    smp = k.smp
    n = len(m.cpus)
    tracer = m.ctx.tracer
    tracer.clear()
    # One traced cross-socket call-function IPI for the sequence diagram, then the storm.
    first = smp.call_function_single(0, n - 1)
    m.run(until=m.now + 20_000)
    tracer.on = False
    rng = random.Random(opts.seed)
    count = max(1, opts.requests)
    gap = max(1.0, opts.mean_gap_ns / 4)
    t = m.now
    kinds = ("resched", "call-single", "call-many", "tlb")
    for _ in range(count):
        t += max(1, int(rng.expovariate(1.0 / gap)))
        src = rng.randrange(n)
        kind = rng.choices(kinds, weights=(5, 5, 1, 1))[0]
        m.engine.at(t, _storm_step, (m, kind, src, rng.randrange(n)))
    m.engine.at(t + 1, lambda _: smp.send_nmi(0, list(range(1, n))))
    m.run(until=t + 50_000)
    reqs = smp.requests
    lat = ipi_latency_rows(m, reqs)
    mode = "x2APIC" if kn.x2apic else "xAPIC"
    notes = [f"topology: {m.topology}; {mode} mode; IPI hop costs from the timing model "
             f"(same core {m.ctx.timing.ipi_hop_same_core} ns, same socket "
             f"{m.ctx.timing.ipi_hop_same_socket} ns, cross socket "
             f"{m.ctx.timing.ipi_hop_cross_socket} ns)",
             "call-function-single round trip (call to acknowledgement) by where the target "
             "sits:"]
    notes += [f"  {r['hop']:<16} {r['count']:>5} calls  mean {r['mean_ns']:>6} ns  max "
              f"{r['max_ns']:>6} ns" for r in lat]
    notes.append("requests (latency = call to the last acknowledgement):")
    notes += [f"  {r['kind']:<14} {r['count']:>5}  targets {r['targets_mean']:>5.1f}  mean "
              f"{r['latency_mean_ns']:>6} ns  max {r['latency_max_ns']:>6} ns  ICR writes "
              f"{r['icr_writes']}" for r in smp.summary()]
    return ScenarioResult(m, f"IPI storm and TLB shootdowns on {n} CPUs in 2 sockets "
                          f"({mode})",
                          m.cpus[0].name, notes=notes,
                          extra={"ipi_latency": lat, "ipi_requests": smp.summary(),
                                 "first_call_latency_ns": first.latency,
                                 "mermaid_title": "One call-function IPI, CPU0 to CPU"
                                                  f"{n - 1} (cross socket)"})


def _storm_step(arg: tuple[Machine, str, int, int]) -> None:
    m, kind, src, dst = arg
    smp = m.kernel.smp
    n = len(m.cpus)
    if dst == src:
        dst = (src + 1) % n
    if kind == "resched":
        smp.send_reschedule(src, dst)
    elif kind == "call-single":
        smp.call_function_single(src, dst)
    elif kind == "call-many":
        smp.call_function_many(src, [c for c in range(n) if c % 2 == src % 2 and c != src])
    else:
        smp.flush_tlb_others(src)


@register("timer", "The Local APIC timer in periodic mode driving a 1 kHz tick on 4 CPUs "
                   "(LOC in /proc/interrupts), one CPU switched to TSC-deadline",
          span=lambda o: (o.requests + 7) * 1_000_000)
def timer(opts: ScenarioOptions) -> ScenarioResult:
    m = Machine(ncpus=4, trace=opts.trace, tick_hz=1000, latency=False)
    m.boot()
    k = m.kernel
    tracer = m.ctx.tracer
    tracer.clear()
    m.run(until=m.now + 1_100_000)          # the first tick of each CPU, traced
    tracer.on = False
    m.run(until=m.now + opts.requests * 1_000_000)     # --requests ticks of 1 ms
    cpu = m.cpus[3]
    lvtt = k.apic_read(cpu, 0x320)
    k.run_section(cpu, lambda: k.apic_write(cpu, 0x320, (lvtt & ~(3 << 17)) | 2 << 17))
    period = m.ctx.timing.tsc_khz                 # 1 ms of TSC ticks
    k.run_section(cpu, lambda: cpu.wrmsr(0x6E0, cpu.rdtsc() + period))
    k.smp.tick_handlers.append(lambda c: _rearm_deadline(k, c, period))
    m.run(until=m.now + 5_000_000)
    lapic = m.lapics[0]
    notes = [f"bus clock {1000 // m.ctx.timing.apic_bus_cycle_ns} MHz, TDCR divide "
             f"{lapic.divide}, TMICT {lapic.tmict}: one tick every "
             f"{lapic.tmict * lapic.divide * m.ctx.timing.apic_bus_cycle_ns} ns "
             "(period = TMICT ticks, KVM's choice)",
             f"ticks per CPU: {k.ticks} over {m.now} ns; CPU3 ran its last 5 ms in "
             "TSC-deadline mode (re-armed by its tick handler)"]
    return ScenarioResult(m, "APIC timer: periodic 1 kHz tick on 4 CPUs", m.cpus[0].name,
                          notes=notes, extra={"ticks": list(k.ticks),
                                              "mermaid_title": "APIC timer expiry to the "
                                                               "LOC handler on each CPU"})


def _rearm_deadline(k: Any, cpu: Any, period: int) -> None:
    if cpu.index == 3:
        cpu.wrmsr(0x6E0, cpu.rdtsc() + period)
