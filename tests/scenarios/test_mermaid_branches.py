"""The branches of seeds 000/001 (vector masked, CPU cannot accept) drawn as ``opt`` blocks in
the one-delivery diagram when, and only when, the run took them (issue 9 item 5)."""

from __future__ import annotations

from test_software_clock import _masked_pending_machine

from helpers import nic_machine
from irqsim.scenarios import ScenarioOptions, load_all
from irqsim.sim.trace import TraceEvent
from irqsim.views.mermaid import CANNOT_ACCEPT, MASKED, sequence_diagram
from irqsim.views.report import render


def _block(diagram: str, title: str) -> list[str]:
    """The lines of the first ``opt title`` block, its ``end`` included."""
    lines = [x.strip() for x in diagram.splitlines()]
    start = lines.index(f"opt {title}")
    return lines[start:start + lines[start:].index("end") + 1]


def test_masked_entry_is_an_opt_block_closed_by_the_unmask_that_sends_it() -> None:
    """Seed 000's "else Vector Masked: Set Pending bit; Interrupt queued in device": the
    masked entry's Pending bit, up to the unmask that sends it (PCI 6.8.2.9), sits in one
    ``opt Vector Masked`` block; the message it sends is drawn after the block."""
    m, nic, _ = _masked_pending_machine(handler_ns=10_000)
    nic.rx(0)
    m.run()
    diagram = sequence_diagram(m.ctx.tracer)
    assert MASKED == "Vector Masked"
    block = _block(diagram, MASKED)
    assert "Vector masked: set Pending bit 1" in block[1]
    assert block[2] == "Note right of Device: Interrupt queued in device"
    assert "Entry 1 unmasked with Pending bit set: send and clear it" in block[-2]
    assert diagram.count("opt ") == 1 and diagram.count("    end") == 1


def test_interrupt_raised_in_a_handler_waits_in_irr_inside_a_cannot_accept_block() -> None:
    """Seed 000's "else CPU Cannot Accept (IF=0 ...): Interrupt remains PENDING in IRR": a
    second vector that reaches the IRR while the first one's handler runs with IF=0 opens the
    block, and the INTA that finally takes it (after the IRET) closes it."""
    m, nics, drv = nic_machine(queues=2, handler_ns=10_000, trace=True)
    nic = nics[0]
    nic.rx(0)
    m.engine.after(2_000, lambda _: nic.rx(1))
    m.run()
    v1 = m.kernel.irqs[m.kernel.pci_irq_vector(drv.pdevs[0], 1)].vector
    block = _block(sequence_diagram(m.ctx.tracer), CANNOT_ACCEPT)
    assert f"place vector {v1:#x} in IRR" in block[1]
    assert block[2] == "Note right of LAPIC: Interrupt remains PENDING in IRR (IF=0)"
    assert any("IRET" in x for x in block)
    assert f"INTA: IRR->ISR, vector {v1:#x}" in block[-2]


def test_vector_below_the_processor_priority_names_tpr_or_isr() -> None:
    """A vector whose priority class is not above the PPR class waits too (SDM 10.8.3.1)."""
    events = [TraceEvent(0, "LAPIC0", "LAPIC0", "irr-set",
                         {"vector": 0x41, "ppr": 0x40, "if_flag": True}),
              TraceEvent(5, "LAPIC0", "CPU0", "inta", {"vector": 0x41, "ppr": 0})]
    block = _block(sequence_diagram(events), CANNOT_ACCEPT)
    assert "PPR 0x40 blocks it: TPR or higher-priority ISR" in block[2]
    assert "INTA" in block[3] and block[4] == "end"
    accepted = [TraceEvent(0, "LAPIC0", "LAPIC0", "irr-set",
                           {"vector": 0x51, "ppr": 0x40, "if_flag": True})]
    assert "opt " not in sequence_diagram(accepted)


def test_seed002_undisturbed_delivery_has_no_branch() -> None:
    """Seed 002's one undisturbed delivery takes neither branch: no ``opt``/``alt`` block."""
    res = load_all()["seed002"][1](ScenarioOptions(requests=30, seed=3))
    diagram = render(res, "mermaid")
    assert diagram.count("sequenceDiagram") == 2
    assert "opt " not in diagram and "alt " not in diagram
