"""``irqsim tune`` (issue 11 "Views and commands"): seed 003's Performance Summary rows as
runs of the model, and the single-queue NIC on MSI and INTx its MSI/INTx rows need."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

pytest.importorskip("numpy")

from irqsim.cli import main
from irqsim.drivers.netnic import NetConfig
from irqsim.net import tune
from irqsim.net.moderation import Coalesce
from irqsim.net.setup import build_net, run_net, summary
from irqsim.os.pci_irq import IrqMode
from irqsim.sim.timing import TimingModel, timing_defaults
from irqsim.spec.nic import NIC_DEVICE

MS1, MS5 = 1_000_000, 5_000_000


def _row(config: str, table: str) -> tune.Experiment:
    return next(e for e in tune.EXPERIMENTS if e.config == config and e.table == table)


def test_nic_on_msi_and_intx_reads_icr_and_costs_more_than_msix() -> None:
    """Seed 003 Performance Summary order MSI-X < MSI < INTx: the same single-queue NIC on
    MSI and on INTx (an I/O APIC line, asserted while ICR holds a cause, deasserted by the
    handler's read-to-clear of ICR) delivers every packet; each handler's ICR read (a
    non-posted read, device_mmio_read) and INTx's I/O APIC hops make the wire-to-socket
    median grow in that order; the books balance."""
    med = {}
    for mode in ("msix", "msi", "intx"):
        cfg = NetConfig(queues=1, queue_cpus=[0], rx=Coalesce(usecs=0, frames=1),
                        irq_mode=mode)
        r = build_net(cfg, pattern="poisson", pps=50_000, duration_ns=2_000_000)
        run_net(r)
        s = summary(r)
        assert s["delivered"] == s["generated"] > 50
        assert r.machine.accounting()["balanced"]
        pdev = next(p for p in r.machine.kernel.devices if p.device == NIC_DEVICE)
        assert pdev.irq_mode == {"msix": IrqMode.MSIX, "msi": IrqMode.MSI,
                                 "intx": IrqMode.INTX}[mode]
        if mode != "msix":
            assert r.driver.misc_irq == r.driver.queues[0].irq
            assert not r.nic.icr and not r.nic.intx_status
        med[mode] = s["latency_stack_ns"]["median"]
    t = TimingModel()
    assert med["msi"] - med["msix"] >= t.device_mmio_read - 100
    assert med["intx"] > med["msi"]
    with pytest.raises(ValueError, match="queues must be 1"):
        build_net(NetConfig(queues=2, irq_mode="msi"), duration_ns=10_000)


def test_tune_rows_emerge_from_the_timing_model() -> None:
    """The figures are measured, not stored: the aggressive-coalescing row's typical latency
    sits inside rx-usecs 100 (ABSOLUTE: up to 100 us after the first completion); doubling
    the per-packet stack cost moves the no-coalescing row's latency by that much."""
    agg = tune.run_experiment(_row("MSI-X + aggressive", "latency"), duration_ns=MS5)
    assert 10 < agg["latency_us"]["typical"] < 100 < agg["latency_us"]["max"] < 105
    assert agg["warmup_ns"] == 0                    # fixed settings: nothing to settle
    assert agg["inside_seed_range"] and agg["accounting_balanced"]
    e = _row("MSI-X + no coalescing", "latency")
    base = tune.run_experiment(e, duration_ns=MS5)
    t = TimingModel()
    with timing_defaults(t.with_(napi_rx_packet=2 * t.napi_rx_packet)):
        slow = tune.run_experiment(e, duration_ns=MS5)
    d = slow["latency_us"]["typical"] - base["latency_us"]["typical"]
    assert d == pytest.approx(t.napi_rx_packet / 1000, abs=0.05)


def test_tune_throughput_rows_single_queue_saturates_one_core() -> None:
    """Throughput rows: the single-queue MSI NIC at line rate saturates its queue's CPU (the
    seed's '100 % (1 core)': the busiest CPU at 100 %, the reader on a second CPU), delivers
    what that core can process and misses the rest (ring full, NIC-RX-RING-FULL); 8 queues
    with coalescing deliver line rate (10 Gb/s on the wire) on part of the 8 CPUs."""
    msi = tune.run_experiment(_row("MSI (single queue)", "throughput"), duration_ns=MS1)
    assert msi["busiest_cpu_pct"] == pytest.approx(100, abs=0.5)
    assert 1 < msi["cores_busy"] < 2 and msi["seed"]["cpu_scope"] == "busiest CPU"
    assert 1 < msi["throughput_gbps"] < 9 and msi["missed"] > 0
    assert msi["diagnostics"].get("NIC-RX-RING-FULL", 0) > 0
    co = tune.run_experiment(_row("MSI-X (8 queues) + coalescing", "throughput"),
                             duration_ns=MS1)
    assert co["throughput_gbps"] >= 9.9 and 12.5 < co["cpu_pct"] < 100
    assert co["interrupts_per_s"] > 0 and co["accounting_balanced"]


def test_tune_command_json_and_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """CLI: JSON is a list of rows with config, latency_us {min, typical, max} or
    throughput_gbps and cpu_pct, seed and inside_seed_range; text prints both tables with
    the seed's figures (two cheap rows here; the full command is docs/tuning.md's table)."""
    monkeypatch.setattr(tune, "EXPERIMENTS", (_row("DPDK", "latency"),
                                              _row("MSI (single queue)", "throughput")))
    r = CliRunner().invoke(main, ["tune", "--format", "json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    lat, thr = rows
    assert lat["config"] == "DPDK" and set(lat["latency_us"]) == {"min", "typical", "max"}
    assert lat["latency_us"]["min"] <= lat["latency_us"]["typical"] <= lat["latency_us"]["max"]
    assert lat["seed"] == {"latency_us": {"min": 0.2, "typical": 1, "max": 2}}
    assert isinstance(lat["inside_seed_range"], bool)
    assert thr["config"] == "MSI (single queue)"
    assert {"throughput_gbps", "cpu_pct", "seed", "inside_seed_range"} <= set(thr)
    assert thr["seed"]["throughput_gbps"] == [3, 5]
    r = CliRunner().invoke(main, ["tune", "--table", "latency"])
    assert r.exit_code == 0, r.output
    assert "Latency comparison" in r.output and "DPDK" in r.output
    assert "0.2/1/2" in r.output and "MSI (single queue)" not in r.output
    r = CliRunner().invoke(main, ["tune", "--format", "yaml"])
    assert r.exit_code == 2


def test_tune_rows_are_the_seed_tables_rows() -> None:
    """The rows are seed 003's "Latency Comparison" (7) and "Throughput vs CPU Usage" (7)
    rows, by the seed's names, each with the seed's figures and no figure of irqsim's own."""
    lat = [e.config for e in tune.EXPERIMENTS if e.table == "latency"]
    thr = [e.config for e in tune.EXPERIMENTS if e.table == "throughput"]
    assert lat == ["MSI-X + no coalescing", "MSI-X + adaptive", "MSI-X + aggressive",
                   "MSI + no coalescing", "INTx", "Busy polling", "DPDK"]
    assert thr == ["INTx", "MSI (single queue)", "MSI-X (8 queues) + coalescing",
                   "MSI-X (8 queues) + no coalescing", "NAPI (polling)", "Busy polling",
                   "DPDK"]
    for e in tune.EXPERIMENTS:
        assert (e.seed_latency_us is not None) == (e.table == "latency")
        assert (e.seed_gbps is not None) == (e.table == "throughput")
        assert set(vars(e)) == {"config", "table", "setup", "make", "seed_latency_us",
                                "seed_gbps", "seed_cpu_pct", "seed_cpu_scope", "seed_note"}
