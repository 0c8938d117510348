"""The training run of a profile-guided compiled build (``build_compiled.py --pgo``).

Runs, against the instrumented build on ``PYTHONPATH``, what the hot path does in use:
bench_msix.py's workload at 1 and 64 CPUs with tracing off and on and with interrupt
remapping, and every built-in scenario once. The compiler then lays out and optimises the
code for these paths (hot code together, cold code apart)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_msix
from irqsim.scenarios import ScenarioOptions, load_all

sys.path.insert(0, str(bench_msix.ANCHORS))
try:
    from workload import Workload  # type: ignore[import-not-found]
except ImportError:                 # the anchors absent: the bench's own copy of it
    from irqsim_bench_workload import Workload  # type: ignore[import-not-found,no-redef]


def main() -> None:
    for cpus in (1, 64):
        for trace in (False, True):
            wl = Workload(n_total=20_000, n_cpus=cpus, load=0.95, seed=1, iommu=True)
            bench_msix.run_irqsim(wl, trace)
        bench_msix.run_irqsim(Workload(n_total=10_000, n_cpus=cpus, load=0.95, seed=2,
                                       iommu=True), False, intremap=True)
    for _, run in load_all().values():
        run(ScenarioOptions(requests=200, seed=1, trace=False))


if __name__ == "__main__":
    main()
