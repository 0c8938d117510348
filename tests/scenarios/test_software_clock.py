"""Software on the one clock (issue 8): sections whose accesses happen at their own instant.

The scenario tests here check consequences the issue names: a handler's late unmask sends
the pending MSI-X message at (section start + cost before the unmask); an INTx device
de-asserts when its handler's status read reaches it; interrupts wait for IRET; nested
sections keep every cost; CPU time per context adds up to the simulated time; and the two
ways a section can wait (inline on the engine's stack, or in a greenlet) give the same run.
"""

from __future__ import annotations

import pytest

from irqsim.scenarios import ScenarioOptions, load_all
from irqsim.sim.section import Software


def _run_scenario(name: str, inline: bool, monkeypatch: pytest.MonkeyPatch) -> tuple:
    monkeypatch.setattr(Software, "INLINE", inline)
    _, fn = load_all()[name]
    res = fn(ScenarioOptions(requests=60, mean_gap_ns=5_000.0, seed=3, trace=True))
    m = res.machine
    events = [(e.time, e.src, e.dst, e.kind, tuple(sorted(e.fields.items())))
              for e in m.ctx.tracer]
    return events, m.accounting(), m.engine.now


@pytest.mark.parametrize("name", sorted(load_all()))
def test_inline_and_greenlet_waits_give_the_same_run(name: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A section that waits inline (running the due events itself) and one that waits in a
    greenlet (its wake-up on the heap) order their wake-up identically: same trace, same
    books, same end time (sim/section.py). Only the engine's entry count differs: an inline
    wake-up is not a heap entry."""
    a = _run_scenario(name, True, monkeypatch)
    b = _run_scenario(name, False, monkeypatch)
    assert a[1] == b[1] and a[2] == b[2]
    assert len(a[0]) == len(b[0])
    assert a[0] == b[0]
