"""Golden traces (issue 12, tracing-on cost): however the tracer stores and emits events,
every reader gives what the dict-per-event tracer gave — each built-in scenario's events
(time, src, dst, kind, fields, in order) as JSON lines and as text, the sampled tracer with a
sink the CLI uses (keep_deliveries / sample_deliveries: seeds 000/001's sequence diagrams of
one undisturbed delivery), and the CLI's text and Mermaid output. Rewritten only by
``python tests/golden/trace_golden.py --write`` for a change meant to alter the trace."""

from __future__ import annotations

import json

import pytest
from trace_golden import GOLDEN, SEED002, _h, cli, figures_of, sampled, scenario_trace

from irqsim.scenarios import load_all

WANT = json.loads(GOLDEN.read_text())


def test_seed002_trace_event_by_event() -> None:
    """Seed 002's flow: every event's time, src, dst, kind and fields as recorded, in order."""
    got = [json.loads(line) for line in scenario_trace("seed002").to_jsonl().splitlines()]
    want = [json.loads(line) for line in SEED002.read_text().splitlines()]
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert list(g.items()) == list(w.items()), f"event {i}"


@pytest.mark.parametrize("name", sorted(load_all()))
def test_scenario_trace_matches_its_golden(name: str) -> None:
    """JSON lines, text lines and of_kind of every built-in scenario's trace."""
    if name not in WANT["scenarios"]:
        pytest.fail(f"new scenario {name!r}: add its golden trace with "
                    "`python tests/golden/trace_golden.py --write` and review the diff")
    assert figures_of(scenario_trace(name)) == WANT["scenarios"][name]


@pytest.mark.parametrize("name", ["mixed", "seed002", "vm-posted"])
def test_sampled_tracer_with_a_sink_matches_its_golden(name: str) -> None:
    """The kept deliveries, the sampled undisturbed ones and the streamed JSON lines."""
    assert sampled(name) == WANT["sampled"][name]


def test_cli_trace_views_match_their_golden() -> None:
    """``irqsim demo`` text and Mermaid output, built from the sampled trace."""
    for args, want in WANT["cli"].items():
        assert _h(cli(*args.split())) == want, args
