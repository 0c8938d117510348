"""Golden figures of the built-in scenarios: exact event counts, end times and books.

``python tests/golden/golden.py`` prints them; ``--write`` rewrites scenarios.json (do it
only for a change that is meant to alter behaviour, and say why in the commit).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from irqsim.scenarios import ScenarioOptions, load_all

GOLDEN = Path(__file__).with_name("scenarios.json")
OPTIONS = ScenarioOptions(requests=80, mean_gap_ns=10_000.0, seed=7, trace=True)


def figures(name: str) -> dict[str, Any]:
    """Run scenario ``name`` with OPTIONS: what a refactor must not change."""
    _, fn = load_all()[name]
    res = fn(OPTIONS)
    m = res.machine
    acc = m.accounting()
    return {
        "end_ns": m.now,
        "events_run": m.engine.events_run,
        "trace_events": len(m.ctx.tracer),
        "accounting": {k: acc[k] for k in ("raised", "delivered", "merged", "in_flight")}
        | {"dropped": acc["dropped"], "pending": acc["pending"]},
        "irq_counts": {str(r["irq"]): r["counts"] for r in m.kernel.interrupt_rows()},
        "cpu_time_ns": m.cpu_time(),
        "diagnostics": len(m.ctx.diagnostics),
    }


def all_figures() -> dict[str, dict[str, Any]]:
    return {name: figures(name) for name in sorted(load_all())}


if __name__ == "__main__":
    out = all_figures()
    text = json.dumps(out, indent=1, sort_keys=True) + "\n"
    if "--write" in sys.argv:
        GOLDEN.write_text(text)
        print(f"wrote {GOLDEN}")
    else:
        print(text)
