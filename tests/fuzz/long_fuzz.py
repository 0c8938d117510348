"""The long fuzz profile (``make fuzz``): random guest operations from the shared table in
tests/fuzz/guest_ops.py, without hypothesis's shrinking, for millions of operations.

    IRQSIM_FUZZ_OPS=10000000 python tests/fuzz/long_fuzz.py [--seed N]

Every exception or invariant violation is caught, counted by kind and place, reported with
the operation that caused it and the seed to replay it, and the harness is rebuilt. Prints
operations, crashes, ledger violations and budget stops; exit status 1 if anything failed.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from guest_ops import WEIGHTED, GuestHarness

OPS_PER_MACHINE = 2_000     # a fresh machine now and then: the state space is reachable fast


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=int(os.environ.get("IRQSIM_FUZZ_OPS", "100000")))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("IRQSIM_FUZZ_SEED", "1")))
    a = ap.parse_args(argv)
    rng = random.Random(a.seed)
    failures: Counter[str] = Counter()
    replay: dict[str, list[tuple[str, list[int]]]] = {}
    first: dict[str, str] = {}
    kinds: Counter[str] = Counter()
    h = GuestHarness()
    trail: list[tuple[str, list[int]]] = []     # operations on the current machine
    done = stops = checks = 0
    reasons: Counter[str] = Counter()
    t0 = time.perf_counter()
    while done < a.ops:
        op = rng.choice(WEIGHTED)
        args = [d.draw(rng) for d in op.args]
        trail.append((op.name, args))
        try:
            h.do(op, *args)
        except Exception as e:
            kind = "ledger" if isinstance(e, AssertionError) and "ledger" in str(e) else (
                "invariant" if isinstance(e, AssertionError) else "crash")
            tb = traceback.extract_tb(e.__traceback__)[-1]
            key = f"{kind}: {type(e).__name__} at {Path(tb.filename).name}:{tb.lineno}"
            failures[key] += 1
            kinds[kind] += 1
            if key not in first:
                first[key] = f"op {done} {op.name}{tuple(args)}: {e}"[:400]
                replay[key] = list(trail)
            h = GuestHarness()
            trail = []
        done += 1
        if done % OPS_PER_MACHINE == 0:
            stops += h.budget_stops
            reasons += h.stop_reasons
            checks += h.quiescent_checks
            h = GuestHarness()
            trail = []
        if done % 100_000 == 0:
            rate = done / (time.perf_counter() - t0)
            print(f"  {done} operations, {sum(failures.values())} failures "
                  f"({rate:.0f} ops/s)", file=sys.stderr)
    stops += h.budget_stops
    reasons += h.stop_reasons
    checks += h.quiescent_checks
    dt = time.perf_counter() - t0
    print(f"guest fuzz (seed {a.seed}): {done} operations in {dt:.1f} s, "
          f"{checks} quiescent ledger checks, {stops} runs stopped by their budget; fresh "
          f"machines after: {dict(reasons)}")
    print(f"crashes: {kinds['crash']}, invariant violations: {kinds['invariant']}, "
          f"ledger violations: {kinds['ledger']}")
    for key, n in failures.most_common():
        print(f"  {n:>7} x {key}\n          first: {first[key]}")
        print(f"          replay (fresh machine): {replay[key]}"[:4000])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
