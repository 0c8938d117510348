"""Golden traces: every event (time, src, dst, kind, fields) of each built-in scenario.

Made with the tracer as it was before the flat event storage (issue 12, tracing-on cost),
so a change of how events are stored or emitted must reproduce them exactly: the JSON lines
(``Tracer.to_jsonl``), the text lines (``str(TraceEvent)``), a sampled tracer with a sink
(what the CLI's text and Mermaid views and ``--trace FILE`` use) and the CLI's output.

``python tests/golden/trace_golden.py`` prints the figures; ``--write`` rewrites
traces.json and trace_seed002.jsonl (only for a change meant to alter the trace).
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from irqsim.cli import main as cli_main
from irqsim.scenarios import ScenarioOptions, load_all
from irqsim.sim.trace import Tracer

HERE = Path(__file__).parent
GOLDEN = HERE / "traces.json"
SEED002 = HERE / "trace_seed002.jsonl"


def _h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def options(trace: bool | Tracer = True, requests: int = 3) -> ScenarioOptions:
    return ScenarioOptions(requests=requests, mean_gap_ns=10_000.0, seed=7, trace=trace)


def scenario_trace(name: str) -> Tracer:
    """Scenario ``name``'s whole trace (3 requests)."""
    return load_all()[name][1](options()).machine.ctx.tracer


def figures_of(tr: Tracer) -> dict[str, Any]:
    return {"events": len(tr), "jsonl": _h(tr.to_jsonl()),
            "text": _h("\n".join(str(e) for e in tr)),
            "irr_set_iret": len(tr.of_kind("irr-set", "iret"))}


def sampled(name: str) -> dict[str, Any]:
    """A tracer that keeps 2 deliveries, samples 40 more and streams every event."""
    sink = io.StringIO()
    tr = Tracer(on=True, keep_deliveries=2, sample_deliveries=40, sink=sink)
    load_all()[name][1](options(tr, requests=30))
    return {"kept": figures_of(tr), "streamed": tr.streamed, "sink": _h(sink.getvalue())}


def cli(*args: str) -> str:
    res = CliRunner().invoke(cli_main, list(args))
    assert res.exit_code == 0, res.output
    return res.output


def all_figures() -> dict[str, Any]:
    out: dict[str, Any] = {"scenarios": {n: figures_of(scenario_trace(n))
                                         for n in sorted(load_all())}}
    out["sampled"] = {n: sampled(n) for n in ("mixed", "seed002", "vm-posted")}
    out["cli"] = {" ".join(a): _h(cli(*a)) for a in (
        ("demo", "--format", "mermaid", "--requests", "30"),
        ("demo", "--format", "text", "--requests", "30", "--scenario", "mixed"),
        ("demo", "--format", "mermaid", "--requests", "10", "--scenario", "vm-posted"))}
    return out


if __name__ == "__main__":
    figs = all_figures()
    text = json.dumps(figs, indent=1, sort_keys=True) + "\n"
    if "--write" in sys.argv:
        GOLDEN.write_text(text)
        SEED002.write_text(scenario_trace("seed002").to_jsonl() + "\n")
        print(f"wrote {GOLDEN} and {SEED002}")
    else:
        print(text)
