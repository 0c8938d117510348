"""Experiment-file keys for what landed after the format (issue 13 finish): the knobs of
nic-10g, nvme, vtd-remap, vtd-fault and vm-posted, the ``[platform]`` section, the
described machine's NUMA nodes, ``nic``/``nvme``/``sriov-nic`` devices and ``traffic``
workloads, and ``sweep --allow/--strict``. Each test checks that a key changes the run the
way the spec it comes from says, not only that it parses (docs/experiments.md)."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from irqsim.cli import main
from irqsim.experiments.builder import run_experiment
from irqsim.experiments.export import dump_toml, export_scenario
from irqsim.experiments.loader import ExperimentError, load_text, set_path
from irqsim.experiments.schema import scenario_knobs
from irqsim.scenarios import ScenarioResult

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "experiments"


def scenario(name: str, requests: int, *sets: tuple[str, Any], gap: float = 20_000.0,
             ) -> ScenarioResult:
    """Run built-in ``name`` from its exported file with ``sets`` applied."""
    text = export_scenario(name, requests=requests, mean_gap_ns=gap)
    return run_experiment(load_text(text, f"{name}.toml", Path("."), list(sets)))


def problems(text: str, *sets: tuple[str, Any]) -> str:
    with pytest.raises(ExperimentError) as ei:
        load_text(text, "f.toml", Path("."), list(sets))
    return "\n".join(ei.value.problems)


def cli(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


# -- level 1: the scenarios' knobs --------------------------------------------------------
def test_nic10g_rx_usecs_trades_interrupts_and_cpu_for_latency() -> None:
    """nic-moderation.md section 3 (ABSOLUTE timer): with adaptive off and no frame
    condition, rx-usecs 64 fires at most once per 64 us per queue where rx-usecs 0 fires
    per completion: far fewer interrupts and less CPU, at a higher packet latency; the
    title names the static setting."""
    base = (("scenario.adaptive", False), ("scenario.rx_frames", 0))
    fast = scenario("nic-10g", 10, *base, ("scenario.rx_usecs", 0))
    slow = scenario("nic-10g", 10, *base, ("scenario.rx_usecs", 64))
    nf, ns = fast.extra["network"], slow.extra["network"]
    assert nf["delivered"] == ns["delivered"] == nf["generated"]   # line rate, all handled
    assert ns["interrupts_per_s"] * 10 < nf["interrupts_per_s"]
    for q in ns["queues"]:            # 100 us of traffic: one fire per 64 us (+ the drain)
        assert q["interrupts"] <= 100 // 64 + 1
    assert ns["cpu_busy_pct"] < nf["cpu_busy_pct"] - 20
    assert ns["latency_app_ns"]["p99"] > nf["latency_app_ns"]["p99"] + 30_000
    assert "rx-usecs 64" in slow.title and fast.machine.accounting()["balanced"]


def test_nic10g_queues_traffic_and_rss_knobs() -> None:
    """queues = N gives N vectors; a Poisson arrival process at pps carries that rate
    (traffic.py); rss_equal 2 (ethtool -X equal 2) puts every flow on queues 0-1, so only
    their vectors fire (RSS indirection, reference section 1.2)."""
    r = scenario("nic-10g", 10, ("scenario.queues", 4), ("scenario.pattern", "poisson"),
                 ("scenario.pps", 1e6), ("scenario.rss_equal", 2))
    net = r.extra["network"]
    assert 0.85 < net["offered_mpps"] < 1.15
    per_queue = {q["queue"]: q["interrupts"] for q in net["queues"]}
    assert len(per_queue) == 4
    assert per_queue[0] and per_queue[1] and not per_queue[2] and not per_queue[3]


def test_nic10g_numa_nodes_and_remapping_move_interrupt_latency() -> None:
    """Two NUMA nodes (one per socket): the queues whose vector targets node 1 pay the
    inter-socket hop, so the p99 of device-to-handler latency rises; remapping on adds the
    IRTE lookup to every message (VT-d 5.1; docs/vtd.md) and names the chip IR-PCI-MSIX."""
    base = (("scenario.adaptive", False), ("scenario.rx_usecs", 32), ("scenario.rx_frames", 0))
    flat = scenario("nic-10g", 5, *base)
    numa = scenario("nic-10g", 5, *base, ("scenario.nodes", 2))
    remap = scenario("nic-10g", 5, *base, ("platform.intremap", "on"))
    lat = {k: r.machine.recorder.summary()["eth0"] for k, r in
           (("flat", flat), ("numa", numa), ("remap", remap))}
    assert lat["numa"]["p99"] > lat["flat"]["p99"]
    assert lat["remap"]["median"] > lat["flat"]["median"]
    chips = {str(row.get("chip", "")) for row in remap.machine.kernel.interrupt_rows()}
    assert any(c.startswith("IR-PCI-MSIX") for c in chips)
    assert remap.machine.iommu.remapped > 0 and flat.machine.iommu.remapped == 0


def test_nvme_knobs_aggregation_poll_and_node() -> None:
    """Set Features 08h (NVMe 2.0 5.27.1.8): with THR/TIME 0 every completion signals at
    once; poll_every 0 issues no polled read; node 1 places the controller there."""
    r = scenario("nvme", 30, ("scenario.aggregation_thr", 0), ("scenario.aggregation_time", 0),
                 ("scenario.poll_every", 0), ("scenario.node", 1), gap=5000)
    rep = r.extra["nvme"]
    assert rep["device_node"] == 1
    assert rep["aggregation"]["by_cause"]["threshold"] == 0
    assert "poll" not in rep["latency_ns"] or not rep["latency_ns"]["poll"].get("count")
    dflt = scenario("nvme", 30, gap=5000).extra["nvme"]
    assert dflt["aggregation"]["by_cause"]["threshold"] > 0 and dflt["device_node"] == 0


def test_vtd_knobs_intremap_off_and_no_misprogrammed_irte() -> None:
    """vtd-remap intremap = "off": no IRTE, compatibility-format messages (PCI-MSIX chips);
    vtd-fault without the misprogrammed IRTE: no fault reason 0x24 (reserved field set)."""
    off = scenario("vtd-remap", 5, ("scenario.intremap", "off"))
    assert off.machine.iommu.remapped == 0 and off.machine.accounting()["balanced"]
    on = scenario("vtd-remap", 5)
    assert on.machine.iommu.remapped > 0
    clean = scenario("vtd-fault", 8, ("scenario.misprogram_irte", False))
    assert 0x24 not in clean.extra["faults"].values() and "0x24" not in clean.extra["faults"]
    assert "0x24" in scenario("vtd-fault", 8).extra["faults"]


def test_vm_posted_knobs_exits_without_posting() -> None:
    """Without APICv and posted IRTEs each guest interrupt costs VM exits (SDM 29.6: posted
    interrupts avoid them); with both on, the running vCPU takes none."""
    posted = scenario("vm-posted", 10, gap=10_000)
    plain = scenario("vm-posted", 10, ("scenario.posted", False), ("scenario.apicv", False),
                     gap=10_000)
    m_p, m_n = posted.machine, plain.machine
    assert m_p.accounting()["balanced"] and m_n.accounting()["balanced"]
    e_p = sum(v.interrupt_exits() for v in m_p.kvm.vcpus)      # type: ignore[attr-defined]
    e_n = sum(v.interrupt_exits() for v in m_n.kvm.vcpus)      # type: ignore[attr-defined]
    assert e_n > e_p
    assert "exits" in " ".join(plain.notes)


def test_knob_combinations_are_errors_with_the_line() -> None:
    """A knob combination the scenario refuses is one error naming the file and the line
    of the knob it is about: posted interrupts need APICv; pps needs a non-line pattern; a
    value out of range is the field's own error."""
    text = export_scenario("vm-posted")
    msg = problems(text, ("scenario.apicv", False))
    line = next(i for i, t in enumerate(text.splitlines(), 1)   # the knob the message names
                if t.startswith("posted = true"))
    assert f"f.toml:{line}: scenario.posted: posted interrupts need apicv = true" in msg
    msg = problems(export_scenario("nic-10g"), ("scenario.pps", 5.0))
    assert "pps applies to the poisson and bursty patterns" in msg
    msg = problems(export_scenario("nic-10g"), ("scenario.queues", 0),
                   ("scenario.pattern", "ring"))
    assert "scenario.queues" in msg and "scenario.pattern" in msg


# -- [platform] -----------------------------------------------------------------------------
def test_platform_keys_reach_a_builtin_scenarios_machine() -> None:
    """[platform] applies to every machine a scenario builds: intremap = "on" remaps seed
    002's MSI-X (IR-PCI-MSIX), cstates = "skx" gives idle residency, a /proc/irq write
    moves an IRQ (or reports Linux's error), irqbalance runs cycles."""
    r = scenario("seed002", 5, ("platform.intremap", "on"), ("platform.cstates", "skx"),
                 ("platform.smp_affinity_list", {"24": "0", "999": "0"}),
                 ("platform.irqbalance_ns", 100_000))
    m = r.machine
    assert m.iommu.remapped > 0 and m.accounting()["balanced"]
    assert any(sum(row.values()) for row in m.cstate_residency())
    writes = {w["path"]: w["error"] for w in r.extra["platform"]["writes"]}
    assert writes["/proc/irq/24/smp_affinity_list"] is None
    assert "No such file" in writes["/proc/irq/999/smp_affinity_list"]
    assert r.extra["platform"]["irqbalance"]["cycles"] >= 1
    assert any(n.startswith("platform: echo 0 > /proc/irq/999") for n in r.notes)


def test_platform_affinity_moves_the_irq_and_vtd_options_apply() -> None:
    """smp_affinity_list 1 on a 2-CPU machine: the NIC queue's interrupts are then counted
    on CPU 1 (/proc/interrupts); [platform.vtd] nfr = 1 is the unit's fault-recording
    register count (CAP.NFR + 1)."""
    text = (EXAMPLES / "two-nics-switch.toml").read_text()
    exp = load_text(text, "f", EXAMPLES, [("workloads.0.requests", 5), ("workloads.1.count", 2),
                                          ("platform.vtd", {"nfr": 1}),
                                          ("platform.smp_affinity_list", {"24": "3"})])
    r = run_experiment(exp)
    desc = r.machine.kernel.irqs[24]
    assert desc.cpu == 3 and sum(desc.counts) == desc.counts[3] > 0
    assert len(r.machine.iommu.frcd) == 1


def test_platform_validation_one_error_per_problem() -> None:
    """Bad isolcpus, a non-number IRQ and an unknown C-state table: three errors."""
    msg = problems(export_scenario("seed002"), ("platform.isolcpus", "x-y"),
                   ("platform.smp_affinity_list", {"a": "0"}), ("platform.cstates", "c99"))
    assert msg.count("\n") == 2
    assert "platform.isolcpus" in msg and "platform.smp_affinity_list" in msg \
        and "platform.cstates" in msg


# -- level 2: NUMA, nic + traffic, nvme, sriov-nic --------------------------------------------
NIC_MACHINE = """version = 1
[machine.topology]
sockets = 2
cores = 2
nodes = 2

[[devices]]
model = "nic"
name = "eth0"
node = 1
queues = 4
adaptive = false
rx_usecs = 16
rx_frames = 0

[[devices]]
model = "nvme"
aggregation_thr = 3
aggregation_time = 1

[[devices]]
model = "sriov-nic"
num_vfs = 2

[[workloads]]
kind = "traffic"
device = "eth0"
pattern = "poisson"
pps = 2_000_000
duration_ns = 200_000

[[workloads]]
kind = "requests"
device = "nvme"
requests = 10
mean_gap_ns = 5000

[[workloads]]
kind = "requests"
device = "sriov-nic"
requests = 5
mean_gap_ns = 5000
"""


def test_described_machine_with_nic_traffic_nvme_and_vfs() -> None:
    """A described 2-node machine: the NIC sits on node 1 (its root port in the SRAT's
    proximity domain 1), carries the traffic's 2 Mpps with rx-usecs 16 (at most one
    interrupt per 16 us per queue); the NVMe controller aggregates (threshold signals);
    the SR-IOV NIC's 2 VFs each get their MSI-X vectors and handle their events."""
    r = run_experiment(load_text(NIC_MACHINE, "m.toml", Path(".")))
    m = r.machine
    assert m.accounting()["balanced"] and m.numa is not None
    net = r.extra["network"]
    assert 1.8 < net["throughput_mpps"] < 2.2
    assert all(q["interrupts"] <= 200 // 16 + 1 for q in net["queues"])
    pdev = next(p for p in m.kernel.devices if p.slot.endswith("01:00.0"))
    assert m.kernel.dev_to_node(pdev) == 1
    assert r.extra["nvme"]["aggregation"]["by_cause"]["threshold"] > 0
    summ = m.recorder.summary()
    assert summ["sriov-nic-vf0"]["count"] and summ["sriov-nic-vf1"]["count"]


def test_described_machine_reference_errors() -> None:
    """Traffic must go to a 'nic' device (once per NIC), a node and the readers' CPUs
    must exist."""
    msg = problems(NIC_MACHINE, ("workloads.0.device", "nvme"), ("devices.0.node", 5),
                   ("devices.0.app_cpus", [0, 9]))
    assert "workloads[0].device: not a 'nic' device" in msg
    assert "devices[0].app_cpus: CPUs of 0-3 (got [0, 9])" in msg
    assert "devices[0].node: no such NUMA node (0-1)" in msg
    assert "workloads[1].device: one traffic workload per NIC" in problems(
        NIC_MACHINE, ("workloads.1", {"kind": "traffic", "device": "eth0",
                                      "duration_ns": 1000}))
    assert "machine.topology: topology: 3 NUMA node(s)" in problems(
        NIC_MACHINE, ("machine.topology.nodes", 3))


# -- sweep --allow / --strict -------------------------------------------------------------------
def test_sweep_strict_marks_points_and_exits_4(tmp_path: Path) -> None:
    """--strict: the table's 'strict' column names the rules each point reported
    (VTD-IR-FAULT: the forged writes and the misprogrammed IRTE, VT-d 7.1) and the sweep
    exits 4 naming the points; --allow VTD-IR-FAULT makes every point 'ok' and exit 0."""
    f = tmp_path / "vf.toml"
    f.write_text(export_scenario("vtd-fault", requests=4))
    out = tmp_path / "s"
    code, _, err = cli("sweep", str(f), "--set", "scenario.misprogram_irte=true,false",
                       "--jobs", "1", "--no-plots", "--strict", "--out", str(out))
    assert code == 4
    assert err.count("--strict: point p000") == 2 and "VTD-IR-FAULT x" in err
    with (out / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:3] == ["point", "scenario.misprogram_irte", "strict"]
    assert all(r["strict"].startswith("VTD-IR-FAULT x") for r in rows)
    code, _, err = cli("sweep", str(f), "--set", "scenario.misprogram_irte=true,false",
                       "--jobs", "1", "--no-plots", "--strict", "--allow", "VTD-IR-FAULT",
                       "--out", str(tmp_path / "t"))
    assert code == 0, err
    with (tmp_path / "t" / "results.csv").open() as fh:
        assert {r["strict"] for r in csv.DictReader(fh)} == {"ok"}
    code, _, _ = cli("sweep", str(f), "--set", "scenario.misprogram_irte=true",
                     "--jobs", "1", "--no-plots", "--out", str(tmp_path / "u"))
    assert code == 0                                     # without --strict: no verdict
    code, _, err = cli("sweep", str(out), "--jobs", "1", "--no-plots", "--out",
                       str(tmp_path / "again"))         # a directory keeps its policy
    assert code == 4 and "--strict: point" in err


# -- [[vms]] ---------------------------------------------------------------------------------
def test_vm_with_an_assigned_nic_posted_or_not() -> None:
    """[[vms]]: the NIC's queues reach the guest through vfio-pci. With posted IRTEs (VT-d
    9.11, SDM 29.6) the device's interrupts go straight to the PID: fewer VM exits and a
    lower device-to-guest latency than without APICv (host IRQ, VM exit, injection); with
    APICv but no posted IRTE, KVM posts from the host handler (notifications, still the
    host IRQ). The books balance every way."""
    text = (EXAMPLES / "vm-assigned-nic.toml").read_text()
    small = [("workloads.0.requests", 20), ("workloads.1.requests", 5)]
    out = {}
    for name, sets in (("posted", []), ("apicv", [("vms.0.assign.0.posted", False)]),
                       ("none", [("vms.0.assign.0.posted", False), ("vms.0.apicv", False)])):
        r = run_experiment(load_text(text, "vm.toml", EXAMPLES, [*small, *sets]))
        assert r.machine.accounting()["balanced"]
        vi = r.extra["vm_interrupts"]
        assert sum(v["guest_irqs"] for v in vi.values()) >= 30   # 2 x 20, a few merged
        out[name] = (r.extra["guest_latency_ns"]["median"],
                     sum(v["interrupt_exits"] for v in vi.values()),
                     sum(v["posted_notifications"] for v in vi.values()))
    assert out["posted"][1] < out["none"][1] and out["posted"][0] < out["none"][0]
    assert out["posted"][0] < out["apicv"][0]
    assert out["none"][2] == 0 < out["apicv"][2]


def test_vm_reference_errors() -> None:
    """A vCPU on a taken CPU, an assigned device that is not an mq-nic, posting without
    remapping: one error each, with their lines."""
    text = (EXAMPLES / "vm-assigned-nic.toml").read_text()
    msg = problems(text, ("vms.0.vcpus.1.cpu", 1), ("vms.0.assign.0.device", "virtio-blk"),
                   ("platform.intremap", "off"))
    assert "vms[0].vcpus[1].cpu: CPU taken by vm0 vCPU0 (got 1)" in msg
    assert "vms[0].assign[0].device: not an mq-nic device (nic0)" in msg
    assert "vms[0].assign[0].posted: posted interrupts need [platform] intremap" in msg
    assert "posted interrupts need apicv = true" in problems(text, ("vms.0.apicv", False))


NIC_KNOB_VALUES = st.fixed_dictionaries({
    "queues": st.integers(1, 64), "ring_size": st.integers(64, 8192),
    "adaptive": st.booleans(), "adaptive_algo": st.sampled_from(["dim", "itr"]),
    "rx_usecs": st.integers(1, 10_000), "rx_frames": st.integers(0, 8192),
    "napi_weight": st.integers(1, 1024), "link_gbps": st.sampled_from([1, 10, 25.0, 100]),
    "pattern": st.sampled_from(["poisson", "bursty"]), "pps": st.floats(1, 200e6),
    "rss_weights": st.lists(st.integers(1, 9), max_size=1)})


@settings(max_examples=40, deadline=None)
@given(NIC_KNOB_VALUES)
def test_nic_knobs_round_trip_through_the_file(values: dict[str, Any]) -> None:
    """Any valid nic-10g knob values written into the file (tomli-w) and read back give
    the scenario exactly those knobs (an integer where a float is expected is that float;
    nothing else is coerced)."""
    import tomllib
    raw = tomllib.loads(export_scenario("nic-10g"))
    for k, v in values.items():
        set_path(raw, f"scenario.{k}", v)
    exp = load_text(dump_toml(raw), "f.toml", Path("."))
    assert exp.params is not None
    knobs = scenario_knobs(exp.params)
    for k, v in values.items():
        assert getattr(knobs, k) == v and (type(getattr(knobs, k)) is type(v)
                                           or (isinstance(v, int) and k in ("link_gbps",)))


IOAPIC_MACHINE = """version = 1
[machine.topology]
cores = 2
[machine.kernel]
directed_eoi = true
[platform]
intremap = "on"
[[platform.ioapics]]
id = 0
[[platform.ioapics]]
id = 1
base = 0xFEC01000
gsi_base = 24
[[devices]]
model = "legacy-intx"
[[workloads]]
kind = "requests"
device = "*"
requests = 20
mean_gap_ns = 20000
"""


def test_platform_ioapics_in_the_madt_and_their_version() -> None:
    """[[platform.ioapics]]: both I/O APICs are in the MADT with their GSI bases; a level
    INTx line under remapping is EOIed through the EOI register of a version 0x20 I/O APIC
    but by rewriting the RTE (edge and back) on a 0x11 one (Linux eoi_ioapic_pin; 82093AA
    has no EOI register): more MMIO writes, more hardirq time for the same interrupts."""
    hard = {}
    for version in (0x20, 0x11):
        r = run_experiment(load_text(IOAPIC_MACHINE, "io.toml", Path("."),
                                     [("platform.ioapics.0.version", version)]))
        m = r.machine
        assert [(io.id, io.address, io.gsi_base) for io in m.acpi.madt.ioapics] == [
            (0, 0xFEC00000, 0), (1, 0xFEC01000, 24)]
        assert m.accounting()["balanced"] and m.recorder.summary()["legacy-intx"]["count"]
        hard[version] = sum(c["hardirq"] for c in m.cpu_time())
    assert hard[0x11] > hard[0x20]
    msg = problems(IOAPIC_MACHINE, ("platform.ioapics.1.gsi_base", 10))
    assert "GSI ranges overlap" in msg


def test_vm_vcpu_preemption_delays_posted_interrupts() -> None:
    """[[vms.vcpus]] preempt_every_ns: while the host runs another task on vCPU0's CPU
    (SN set, docs/virt.md), interrupts posted to it wait: the guest p99 latency grows to
    about the preemption length, from a few us without."""
    text = (EXAMPLES / "vm-assigned-nic.toml").read_text()
    p99 = {}
    for every in (0, 100_000):
        r = run_experiment(load_text(text, "vm.toml", EXAMPLES, [
            ("workloads.0.requests", 30), ("workloads.1.requests", 5),
            ("vms.0.vcpus.0.preempt_every_ns", every), ("vms.0.vcpus.0.preempt_ns", 30_000)]))
        assert r.machine.accounting()["balanced"]
        p99[every] = r.extra["guest_latency_ns"]["p99"]
    assert p99[0] < 10_000 < 20_000 < p99[100_000] < 40_000


def test_two_nics_each_with_its_own_driver_and_traffic() -> None:
    """Two 'nic' devices: each gets its own driver instance (queues, moderation) and its
    own traffic; each NIC's report carries its own rate and its queue count, and the sweep
    table names the NIC in the device column."""
    from irqsim.experiments.sweep import metrics
    from irqsim.views.report import as_json
    text = """version = 1
[machine.topology]
cores = 4
[[devices]]
model = "nic"
name = "eth0"
queues = 2
[[devices]]
model = "nic"
name = "eth1"
queues = 4
adaptive = false
rx_usecs = 20
rx_frames = 0
[[workloads]]
kind = "traffic"
device = "eth0"
pattern = "poisson"
pps = 1_000_000
duration_ns = 200_000
[[workloads]]
kind = "traffic"
device = "eth1"
pattern = "poisson"
pps = 3_000_000
duration_ns = 200_000
"""
    r = run_experiment(load_text(text, "two.toml", Path(".")))
    assert r.machine.accounting()["balanced"]
    nets = r.extra["networks"]
    assert 0.8 < nets["eth0"]["throughput_mpps"] < 1.2
    assert 2.6 < nets["eth1"]["throughput_mpps"] < 3.4
    assert len(nets["eth0"]["queues"]) == 2 and len(nets["eth1"]["queues"]) == 4
    rows = metrics({**as_json(r), "events_run": 0})
    devs = {d for m, d, _, _ in rows if m == "net_throughput_mpps"}
    assert devs == {"eth0", "eth1"}


def test_nic10g_busy_polling_and_pmd_knobs() -> None:
    """nic-moderation.md section 6 (busy polling): net.core.busy_read makes the readers
    spin for packets, so latency falls and CPU busy rises; a poll-mode driver (DPDK row)
    takes no interrupts at all while keeping line rate, its threads on app_cpus."""
    base = scenario("nic-10g", 10).extra["network"]
    busy = scenario("nic-10g", 10, ("scenario.busy_read_us", 50)).extra["network"]
    assert busy["latency_app_ns"]["p99"] < base["latency_app_ns"]["p99"]
    assert busy["cpu_busy_pct"] > base["cpu_busy_pct"]
    pmd = scenario("nic-10g", 10, ("scenario.pmd", True), ("scenario.queues", 4),
                   ("scenario.app_cpus", [4, 5, 6, 7])).extra["network"]
    assert pmd["interrupts_per_s"] == 0 and pmd["throughput_mpps"] > 14.5
    assert "busy_poll_us: one value per queue" in problems(
        export_scenario("nic-10g"), ("scenario.busy_poll_us", [1, 2]))


def test_platform_isolcpus_keeps_managed_irqs_on_housekeeping_cpus() -> None:
    """isolcpus=managed_irq (kernel/irq/manage.c, reference 7.2): a managed vector whose mask
    has a housekeeping CPU avoids the isolated ones. NVMe with 2 I/O queues on 8 CPUs: the
    masks are 0-3 and 4-7; the vectors go to 3 and 7, with 2-3,6-7 isolated to 1 and 5."""
    text = """version = 1
[machine.topology]
cores = 8
[[devices]]
model = "nvme"
io_queues = 2
[[workloads]]
kind = "requests"
device = "nvme"
requests = 3
mean_gap_ns = 5000
"""
    def cpus(*sets: tuple[str, Any]) -> list[int]:
        r = run_experiment(load_text(text, "iso.toml", Path("."), list(sets)))
        return [q["cpu"] for q in r.extra["nvme"]["queues"]]
    assert cpus() == [3, 7]
    assert cpus(("platform.isolcpus", "managed_irq,2-3,6-7")) == [1, 5]


def test_platform_irqbalance_spreads_irqs_pinned_to_cpu0() -> None:
    """Reference 8 (irqbalance): a NIC on node 1 whose four queue IRQs were all written to
    CPU 0 is spread back over node 1's CPUs by irqbalance's periodic cycles (moves through
    /proc/irq; a write while a move is still in flight, EBUSY, is retried next cycle)."""
    text = """version = 1
[machine.topology]
sockets = 2
cores = 2
nodes = 2
[platform]
irqbalance_ns = 100_000
smp_affinity_list = { "24" = "0", "25" = "0", "26" = "0", "27" = "0" }
[[devices]]
model = "mq-nic"
name = "eth0"
queues = 4
node = 1
[[workloads]]
kind = "requests"
device = "eth0"
requests = 100
mean_gap_ns = 5000
"""
    r = run_experiment(load_text(text, "bal.toml", Path(".")))
    k = r.machine.kernel
    assert r.extra["platform"]["irqbalance"]["moves"] > 0
    assert all(w["error"] is None for w in r.extra["platform"]["writes"])
    assert {k.irqs[irq].cpu for irq in (24, 25, 26, 27)} <= {2, 3}
    assert r.machine.accounting()["balanced"]


def test_nic10g_netdev_budget_squeezes_net_rx() -> None:
    """net.core.netdev_budget (reference section 5, net_rx_action): with 128 us moderation
    each interrupt brings ~240 packets per queue; a budget of 8 ends NET_RX runs with work
    left (softnet_stat time_squeeze), the default 300 does not."""
    base = (("scenario.adaptive", False), ("scenario.rx_usecs", 128),
            ("scenario.rx_frames", 0))
    def squeeze(budget: int) -> int:
        r = scenario("nic-10g", 10, *base, ("scenario.netdev_budget", budget))
        return sum(s["time_squeeze"] for s in r.extra["network"]["softnet"])
    assert squeeze(300) == 0 < squeeze(8)


def test_every_example_file_validates() -> None:
    """examples/experiments/*.toml are valid files (the hand-edited ones too); the
    rx-usecs example is nic-10g with static moderation and remapping off, as its comment
    says."""
    from irqsim.experiments.loader import load_file
    for f in sorted(EXAMPLES.glob("*.toml")):
        load_file(f)
    exp = load_file(EXAMPLES / "nic-moderation.toml")
    assert exp.params is not None
    k = scenario_knobs(exp.params)
    assert (k.adaptive, k.rx_usecs, k.rx_frames) == (False, 32, 0)
    assert exp.spec.platform.intremap == "off"


def test_schema_describes_each_scenarios_knobs() -> None:
    """`irqsim scenarios schema`: [scenario] is one schema per built-in scenario (by its
    name) with the knobs, their bounds and help; every example file validates against it
    (jsonschema, when installed) and a knob out of bounds does not."""
    import json
    import tomllib
    code, out, _ = cli("scenarios", "schema")
    assert code == 0
    doc = json.loads(out)
    knob = doc["$defs"]["Scenario_nic_10g"]["properties"]["rx_usecs"]
    assert knob["description"].startswith("ethtool -C rx-usecs") and knob["minimum"] == 0
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema absent")
    check = jsonschema.Draft202012Validator(doc)       # checked once (validate() each time)
    for f in sorted(EXAMPLES.glob("*.toml")):
        check.validate(tomllib.loads(f.read_text()))
    bad = tomllib.loads(export_scenario("nic-10g"))
    bad["scenario"]["rx_usecs"] = -1
    with pytest.raises(jsonschema.ValidationError):
        check.validate(bad)


def test_a_point_that_crashes_is_an_error_row(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A point whose run raises (a model bug, a refused setting) becomes an 'error' row
    naming the exception, with the traceback in its JSON; the other points are kept."""
    from irqsim.scenarios import SCENARIOS, ScenarioOptions, load_all
    from irqsim.scenarios.seed002 import run_seed002
    load_all()

    def fragile(o: ScenarioOptions) -> ScenarioResult:
        if o.requests == 2:
            raise RuntimeError("kaput")
        m, _ = run_seed002(seed=o.seed, trace=False)
        return ScenarioResult(m, "fragile", "virtio-blk")
    monkeypatch.setitem(SCENARIOS, "fragile", ("fails at 2 requests", fragile))
    f = tmp_path / "f.toml"
    f.write_text('version = 1\n[scenario]\nname = "fragile"\nrequests = 1\n')
    code, _, err = cli("sweep", str(f), "--set", "scenario.requests=1,2", "--jobs", "1",
                       "--no-plots", "--out", str(tmp_path / "o"))
    assert code == 0 and "point failed" in err and "RuntimeError: kaput" in err
    with (tmp_path / "o" / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    errors = [r for r in rows if r["metric"] == "error"]
    assert len(errors) == 1 and errors[0]["device"] == "RuntimeError: kaput"
    assert any(r["metric"] == "handled" for r in rows)
    runs = sorted((tmp_path / "o" / "runs").glob("*.json"))
    assert any("Traceback" in p.read_text() for p in runs)


def test_nic10g_irq_mode_and_tx_knobs() -> None:
    """Seed 003 "Performance Summary" (MSI row; reference sections 2-3 and the TX path): the
    NIC on MSI has one queue and one vector, so every packet is processed on that queue's
    CPU; a sender thread per queue (``tx_pps``) transmits frames that the poll cleans; MSI
    or INTx with several queues is refused (one vector)."""
    msi = scenario("nic-10g", 10, ("scenario.irq_mode", "msi"),
                   ("scenario.queues", 1)).extra["network"]
    assert len(msi["queues"]) == 1 and msi["queues"][0]["interrupts"] > 0
    assert [s["processed"] > 0 for s in msi["softnet"]].count(True) == 1
    base = scenario("nic-10g", 10).extra["network"]["tx"]
    tx = scenario("nic-10g", 10, ("scenario.tx_pps", 200_000.0)).extra["network"]["tx"]
    assert base["sent"] == 0 and tx["sent"] > 0 and tx["cleaned"] > 0
    assert "irq_mode 'intx' has one vector" in problems(
        export_scenario("nic-10g"), ("scenario.irq_mode", "intx"))


def test_platform_pcie_link_sets_every_link() -> None:
    """PCIe 7.5.3.6/7.5.3.8 (LnkCap, LnkSta) and seed 003's Generation and Width table: with
    [platform] pcie_gen/pcie_width every link trains at that speed and width, and a slower,
    narrower link makes the MSI-X path slower by its serialization."""
    from irqsim.pci.express import link_capability
    fast = scenario("seed002", 20, ("platform.pcie_gen", 5), ("platform.pcie_width", 16))
    slow = scenario("seed002", 20, ("platform.pcie_gen", 1), ("platform.pcie_width", 1))
    for r, want in ((fast, (5, 16)), (slow, (1, 1))):
        links = [link_capability(f.config) for f in r.machine.devices]
        assert links and all(lk is not None and (lk.gen, lk.width) == want for lk in links)
    fast_min, slow_min = (min(d["min"] for d in r.machine.recorder.summary().values())
                          for r in (fast, slow))
    assert slow_min > fast_min
    assert "pcie_gen" in problems(export_scenario("seed002"), ("platform.pcie_gen", 7))


# -- the legacy platform in a described machine ----------------------------------------------
LEGACY_MACHINE = (EXAMPLES / "legacy-machine.toml").read_text()


@pytest.mark.parametrize("noapic", [True, False])
def test_described_legacy_machine_pit_isa_and_conventional_pin(noapic: bool) -> None:
    """``platform.pic`` builds the 8259 pair and the 8254 (docs/legacy-pc.md): the OS
    programs the PIT at HZ = 1000 (LATCH 1193, mode 2) and takes exactly ``ticks`` timer
    interrupts; the ISA device and the conventional PCI pin (_PRT PIC-mode route to IRQ
    11) interrupt through the 8259 under ``noapic`` (XT-PIC rows, Linux show_interrupts),
    through the I/O APIC otherwise (IRQ 0 on GSI 2 by the MADT override; the PCI pin on
    GSI 20, level: fasteoi)."""
    from irqsim.views.procfs import proc_interrupts
    r = run_experiment(load_text(LEGACY_MACHINE, "legacy.toml", Path("."),
                                 [("platform.noapic", noapic)]))
    m = r.machine
    assert m.accounting()["balanced"]
    assert m.pit is not None and m.pit.ticks == 20
    assert m.pit.counters[0].n == 1193 and m.pit.counters[0].mode == 0      # shut down
    k = m.kernel
    text = proc_interrupts(k.interrupt_rows(), len(m.cpus), [])
    if noapic:
        rows = [(0, "timer"), (1, "i8042"), (8, "rtc0"), (11, r"legacy:00:05\.0")]
        for irq, name in rows:
            assert re.search(rf"^\s+{irq}:(\s+\d+){{2}}\s+XT-PIC\s+{name}", text, re.M), text
    else:
        assert re.search(r"^\s+0:\s+20\s+0\s+IO-APIC\s+2-edge\s+timer$", text, re.M), text
        assert re.search(r"^\s+1:(\s+\d+){2}\s+IO-APIC\s+1-edge\s+i8042$", text, re.M), text
        assert re.search(r"^\s+8:(\s+\d+){2}\s+IO-APIC\s+8-edge\s+rtc0$", text, re.M), text
        assert re.search(r"^\s+\d+:(\s+\d+){2}\s+IO-APIC\s+20-fasteoi\s+legacy:00:05\.0$",
                         text, re.M), text
    summ = m.recorder.summary()
    assert summ["pit"]["count"] == 20 and summ["pci-legacy"]["count"] == 10
    assert m.rtc is not None and m.rtc.interrupts == 10 and summ["rtc0"]["count"] == 10


def test_described_legacy_machine_errors() -> None:
    """The legacy keys need the 8259 (``platform.pic``); ISA lines are not shared; gsi and
    isa_irq belong to a conventional function; IRQ 2 is the cascade, IRQ 8 the RTC's."""
    msg = problems(LEGACY_MACHINE, ("platform.pic", False))
    assert "noapic and timer_8259 need pic = true" in msg
    msg = problems(LEGACY_MACHINE, ("platform.pic", False), ("platform.noapic", False))
    assert "devices[0] (model isa), devices[1].isa_irq, workloads[0] (kind pit), " \
           "workloads[3] (kind rtc): needs platform.pic = true" in msg
    assert "IRQ 8 is the RTC's" in problems(LEGACY_MACHINE, ("devices.0.irq", 8))
    assert "two ISA devices on one IRQ" in problems(
        LEGACY_MACHINE, ("devices.1", {"model": "isa", "name": "kbd2", "irq": 1}))
    assert "gsi and isa_irq are for a conventional = true function" in problems(
        LEGACY_MACHINE, ("devices.1.conventional", False))
    assert "IRQ 2 is the 8259 cascade" in problems(LEGACY_MACHINE, ("devices.0.irq", 2))
