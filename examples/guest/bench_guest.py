"""Front-end costs, native instruction counting against the Python block hook (docs/guest.md
"Speed"): guest instructions per second, the host cost of an MMIO access irqsim handles, and
a self-IPI round trip. CPU time of this process (the machine is shared), best of ``--repeat``.

    PYTHONPATH=src python examples/guest/bench_guest.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from irqsim.guest.runner import GuestOptions, GuestRun

HERE = Path(__file__).resolve().parent
MODES = {"python-block": {"native": False}, "native": {"native": True}}


def measure(name: str, mode: dict[str, bool], repeat: int) -> tuple[float, int]:
    """(best CPU seconds, instructions) of running bench_NAME.bin."""
    best, insns = float("inf"), 0
    for _ in range(repeat):
        run = GuestRun(HERE / f"bench_{name}.bin", GuestOptions(flat_address=0x100000, **mode))
        t = time.process_time()
        res = run.run()
        best = min(best, time.process_time() - t)
        assert res.exit_code == 1, (name, res.status)
        insns = res.instructions
    return best, insns


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    for label, mode in MODES.items():
        alu_s, alu_n = measure("alu", mode, args.repeat)
        per_insn = alu_s / alu_n
        mmio_s, mmio_n = measure("mmio", mode, args.repeat)
        ipi_s, ipi_n = measure("ipi", mode, args.repeat)
        mmio_us = (mmio_s - mmio_n * per_insn) / 200_000 * 1e6
        ipi_us = ipi_s / 20_000 * 1e6
        print(f"{label:13s} {alu_n / alu_s / 1e6:7.1f} M insn/s   MMIO access "
              f"{mmio_us:5.2f} us beyond its instructions   self-IPI round trip "
              f"{ipi_us:6.1f} us ({ipi_n // 20_000} guest insns)")


if __name__ == "__main__":
    main()
