"""The benches parse their options with click, as the tool does, and keep argparse's lists
(``--cpus 1 64``) and their output (issue 9 item 5)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from benchcli import spread  # noqa: E402


def bench(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, str(ROOT / "bench" / name), *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_list_options_read_as_argparse_read_them() -> None:
    """``--cpus A B`` becomes click's ``--cpus A --cpus B``; other options are untouched."""
    assert spread(["--cpus", "1", "64", "--n", "5", "--repeat", "2"], ("--cpus",)) == [
        "--cpus", "1", "--cpus", "64", "--n", "5", "--repeat", "2"]
    assert spread(["--n", "5", "--cpus", "8"], ("--cpus",)) == ["--n", "5", "--cpus", "8"]


def test_ipi_bench_takes_a_cpu_list_and_prints_a_row_per_count() -> None:
    """``bench_ipi.py --cpus 2 4`` measures both machines, with the counts given."""
    out = bench("bench_ipi.py", "--cpus", "2", "4", "--ipis", "50", "--shootdowns", "1")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("IPI benchmark: 50 reschedule IPIs per storm, 1 shootdowns")
    assert [x.split("|")[0].strip() for x in lines[2:4]] == ["2", "4"]
    assert "2 CPUs:" in out.stdout and "4 CPUs:" in out.stdout


def test_mechanisms_bench_options_and_table() -> None:
    """``bench_mechanisms.py`` keeps ``--requests/--gap-ns/--sharers/--repeat``."""
    out = bench("bench_mechanisms.py", "--requests", "20", "--gap-ns", "5000", "--sharers",
                "1", "--repeat", "1")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == ("virtio-net, 2 queues x 20 requests, mean gap 5000 ns, 1 idle sharers "
                        "on the INTx line, 2 CPUs")
    assert [x.split("|")[0].strip() for x in lines[2:]] == ["msix", "msi", "intx"]


def test_callgrind_bench_rejects_sizes_as_a_usage_error() -> None:
    """A long run not longer than the short one is a usage error (exit status 2)."""
    out = bench("bench_callgrind.py", "--small", "10", "--large", "5")
    assert out.returncode == 2 and "--large must exceed --small" in out.stderr


def test_callgrind_bench_rejects_an_l2_without_cache_or_not_a_power_of_two() -> None:
    """``--l2`` sizes the simulated last level of ``--cache``: alone, or not a power of
    two (valgrind's cache geometry), it is a usage error naming the value."""
    for args in (("--l2", "1048576"), ("--cache", "--l2", "1000000")):
        out = bench("bench_callgrind.py", *args)
        assert out.returncode == 2 and "needs --cache and a power of two" in out.stderr


def test_msix_bench_prints_the_median_of_alternating_pairs() -> None:
    """``bench_msix.py --pairs N`` adds one line per CPU count with the median, quartiles
    and range of N irqsim/heapq pairs' ratios (where ../shared's anchors are present)."""
    out = bench("bench_msix.py", "--n", "300", "--cpus", "1", "2", "--repeat", "1",
                "--pairs", "2")
    assert out.returncode == 0, out.stderr
    if "anchors not found" in out.stdout:
        pytest.skip("../shared/bench/anchors absent: no pairs to run")
    tail = out.stdout.splitlines()[-3:]
    assert tail[0] == "alternating pairs (irqsim tracing off, then heapq), 2 per row:"
    for line, n in zip(tail[1:], (1, 2), strict=True):
        assert line.split(":")[0].strip() == f"{n} CPUs" and "vs heapq median" in line
