"""Mermaid sequence diagrams drawn from the trace, with the seeds' participants."""

from __future__ import annotations

import re
from collections.abc import Iterable

from irqsim.sim.trace import TraceEvent

PARTICIPANTS = (
    ("OS", "Operating System"), ("Driver", "Device Driver"), ("PCI", "PCI Config Space"),
    ("Device", "PCIe Device"), ("PCIe", "PCIe Bus"), ("IOMMU", "IOMMU/VT-d"),
    ("LAPIC", "Local APIC"), ("CPU", "CPU"),
)
# Shown only when a diagram uses them, before the participant named second.
OPTIONAL = (("IOAPIC", "I/O APIC", "LAPIC"),)
_FIXED = {"OS": "OS", "Driver": "Driver", "PCI Config Space": "PCI", "PCIe Device": "Device",
          "PCIe Bus": "PCIe", "IOMMU": "IOMMU", "Memory": "PCIe", "LAPIC": "LAPIC",
          "CPU": "CPU", "APIC bus": "LAPIC", "Root Complex": "PCIe"}


def participant(name: str) -> str:
    """Map a trace endpoint to one of the seeds' participants."""
    if name in _FIXED:
        return _FIXED[name]
    if name.startswith("LAPIC"):
        return "LAPIC"
    if name.startswith("CPU"):
        return "CPU"
    if name.startswith("IOAPIC"):
        return "IOAPIC"
    if name.startswith(("Switch", "RootPort")):
        return "PCIe"
    return "Device"


def _label(e: TraceEvent) -> str:
    f = e.fields
    k = e.kind
    if k == "sw":
        return str(f.get("label", ""))
    if k == "device-event":
        return f"Hardware event occurs ({f.get('what', '')})"
    if k == "msix-sample":
        return (f"Read table entry {f.get('entry')}, check mask: "
                f"{'masked' if f.get('masked') else 'not masked'}")
    if k == "msix-masked":
        return f"Vector masked: set Pending bit {f.get('entry')} ({f.get('pba')})"
    if k == "msix-unmask-send":
        return f"Entry {f.get('entry')} unmasked with Pending bit set: send and clear it"
    if k == "MWr":
        if "data" in f:
            return (f"Post Memory Write (fire-and-forget) Addr={f['address']:#x} "
                    f"Data={f['data']:#x}")
        return f"Post Memory Write (DMA) Addr={f['address']:#x} len={f.get('length')}"
    if k == "dma-write":
        return f"Memory write lands at {f['address']:#x}"
    if k == "interrupt-write":
        return f"Memory write to {f['address']:#x} arrives (interrupt window)"
    if k == "msi-deliver":
        return f"Forward interrupt message: vector {f['vector']:#x} to APIC ID {f['dest']}"
    if k == "irr-set":
        return f"Decode message, place vector {f['vector']:#x} in IRR"
    if k == "irr-merged":
        return f"Vector {f['vector']:#x} already pending in IRR: merged"
    if k == "inta":
        return f"Assert INTR; INTA: IRR->ISR, vector {f['vector']:#x}"
    if k == "handler-entry":
        return f"Save context, clear IF, IDT[{f['vector']:#x}]: jump to ISR handler"
    if k == "eoi":
        return f"Clear ISR bit {f['vector']:#x}"
    if k == "iret":
        return "IRET: restore context (IF restored)"
    if k == "ipi-send":
        return (f"Write ICR: {f.get('mode')} IPI vector {f['vector']:#x} to "
                f"{'logical' if f.get('logical') else 'APIC ID'} {f.get('dest')} "
                f"(shorthand {f.get('shorthand')})")
    if k == "ipi-deliver":
        return f"IPI arrives: {f.get('mode')} vector {f['vector']:#x}"
    if k == "diagnostic":
        return f"Diagnostic: {f.get('message')}"
    if k.startswith(("Assert_INT", "Deassert_INT")):
        how = f" ({f['swizzled']})" if "swizzled" in f else ""
        gsi = f" to GSI {f['gsi']} ({f['shared']} asserting)" if "gsi" in f else ""
        return f"{k} message{how}{gsi}"
    if k == "intx-collapse":
        return (f"INT{f.get('pin')} already driven by another port: collapsed "
                f"({f.get('sharers')} asserting)")
    if k == "intx-held":
        return f"Interrupt Status set, INTx not asserted ({f.get('reason')})"
    if k == "ioapic-input":
        return (f"Input {f['pin']} {'asserted' if f.get('asserted') else 'deasserted'} "
                f"(level {f.get('level')})")
    if k == "ioapic-send":
        return (f"RTE {f['pin']} ({f.get('trigger')}): send vector {f['vector']:#x} to "
                f"{'logical' if f.get('logical') else 'APIC ID'} {f['dest']}")
    if k == "ioapic-masked":
        return f"RTE {f['pin']} masked: {f.get('trigger')} request {f.get('outcome')}"
    if k == "ioapic-eoi":
        return (f"EOI vector {f['vector']:#x}: clear Remote IRR of RTE {f['pin']}"
                f"{' (line still asserted: deliver again)' if f.get('asserted') else ''}")
    if k == "ioapic-rte":
        return (f"RTE {f['pin']} = vector {f['vector']:#x}, {f.get('trigger')}, "
                f"{'masked' if f.get('masked') else 'unmasked'}")
    if k == "msi-sample":
        return (f"Read MSI capability, message {f.get('vector')}: "
                f"{'masked' if f.get('masked') else 'not masked'}")
    if k == "msi-masked":
        return f"Message {f.get('vector')} masked: set Pending bit ({f.get('pending')})"
    if k == "msi-unmask-send":
        return f"Message {f.get('vector')} unmasked with Pending bit set: send and clear it"
    extra = ", ".join(f"{a}={b}" for a, b in f.items())
    return f"{k} {extra}".strip()


_INSTANCE = re.compile(r"^(LAPIC|CPU)\d+$")

# Seed 000's wording for the branches a delivery can take.
MASKED = "Vector Masked"
CANNOT_ACCEPT = "CPU Cannot Accept (IF=0 or TPR blocks or Higher Priority ISR)"
# The event that starts a branch: the kind that ends it and the field both share.
_CLOSES = {"msix-masked": ("msix-unmask-send", "entry"),
           "msi-masked": ("msi-unmask-send", "vector"), "irr-set": ("inta", "vector")}


def _end_key(e: TraceEvent) -> tuple[str, str, object]:
    """The key a branch that ``e`` would end is stored under."""
    return e.kind, e.src, e.fields.get("entry" if e.kind == "msix-unmask-send" else "vector")


def _branch(e: TraceEvent) -> tuple[str, str, tuple[str, str, object]] | None:
    """(title, note, closing key) when ``e`` starts a branch of seed 000's diagram, else None:
    a masked vector sets its Pending bit (closed by the unmask that sends it), or a vector
    enters the IRR while the CPU cannot take it (closed by its INTA)."""
    f = e.fields
    if e.kind in ("msix-masked", "msi-masked"):
        note = "Interrupt queued in device"
    elif e.kind == "irr-set":
        vector, ppr = int(f["vector"]), int(f.get("ppr", 0))
        if not f.get("if_flag", True):
            why = "IF=0"
        elif vector & 0xF0 <= ppr & 0xF0:
            why = f"PPR {ppr:#x} blocks it: TPR or higher-priority ISR"
        else:
            return None
        note = f"Interrupt remains PENDING in IRR ({why})"
    else:
        return None
    kind, field = _CLOSES[e.kind]
    title = MASKED if e.kind != "irr-set" else CANNOT_ACCEPT
    # The INTA is traced from the LAPIC, so the LAPIC's name matches for irr-set too.
    return title, note, (kind, e.src, f.get(field))


def sequence_diagram(events: Iterable[TraceEvent], title: str = "",
                     times: bool = True) -> str:
    """A ``sequenceDiagram`` block with one arrow (or self-call) per trace event."""
    lines = ["```mermaid", "sequenceDiagram"]
    events = list(events)
    used = list(PARTICIPANTS)
    seen = {participant(x) for e in events for x in (e.src, e.dst)}
    for alias, name, before in OPTIONAL:
        if alias in seen:
            used.insert([a for a, _ in used].index(before), (alias, name))
    # Several CPUs or Local APICs in one diagram (IPIs): one lifeline each, e.g. CPU0/LAPIC0.
    per_cpu = list(dict.fromkeys(x for e in events for x in (e.src, e.dst)
                                 if _INSTANCE.match(x)))
    instances = sum(1 for n in per_cpu if n.startswith("CPU")) > 1 or sum(
        1 for n in per_cpu if n.startswith("LAPIC")) > 1
    if instances:
        # An IPI diagram: one lifeline per CPU and LAPIC, and only the others it uses.
        used = [(a, n) for a, n in used if a not in ("LAPIC", "CPU") and a in seen]
        used += [(n, n) for n in per_cpu]

    def who(name: str) -> str:
        if instances and name in per_cpu:
            return name
        if instances and name == "APIC bus":
            return per_cpu[0]
        return participant(name)

    lines += [f"    participant {alias} as {name}" if alias != name else
              f"    participant {alias}" for alias, name in used]
    if title:
        lines.append(f"    Note over {used[0][0]},{used[-1][0]}: {title}")
    # Open ``opt`` blocks (seeds 000/001 branches the run took): (event key that closes it).
    blocks: list[tuple[str, str, object]] = []
    for e in events:
        a, b = who(e.src), who(e.dst)
        branch = _branch(e)
        if branch is not None:
            lines.append(f"{'    ' * (len(blocks) + 1)}opt {branch[0]}")
            blocks.append(branch[2])
        pad = "    " * (len(blocks) + 1)
        arrow = "-->>" if e.fields.get("reply") else "->>"
        text = _label(e).replace(";", ",").replace("#", "")
        if times:
            text = f"[{e.time} ns] {text}"
        lines.append(f"{pad}{a}{arrow}{b}: {text}")
        if branch is not None:
            lines.append(f"{pad}Note right of {a}: {branch[1]}")
        key = _end_key(e)
        if key in blocks:
            # Blocks opened inside this one and not closed yet end with it (valid nesting).
            for _ in range(len(blocks) - blocks.index(key)):
                blocks.pop()
                lines.append(f"{'    ' * (len(blocks) + 1)}end")
    while blocks:
        blocks.pop()
        lines.append(f"{'    ' * (len(blocks) + 1)}end")
    lines.append("```")
    return "\n".join(lines)


def setup_and_one_delivery(events: list[TraceEvent], device: str) -> tuple[list[TraceEvent],
                                                                          list[TraceEvent]]:
    """The set-up steps before the first device event, and one undisturbed delivery from
    ``device`` (its event up to the IRET that ends its handler)."""
    setup: list[TraceEvent] = []
    for e in events:
        if e.kind == "device-event":
            break
        setup.append(e)
    n = len(events)
    for start in range(len(setup), n):
        e = events[start]
        if e.kind != "device-event" or e.src != device:
            continue
        chunk: list[TraceEvent] = []
        clean = True
        entered = False
        for e2 in events[start:]:
            src_field = str(e2.fields.get("source", ""))
            if (e2.kind == "device-event" and e2 is not e) or (
                    src_field and not src_field.startswith(device)):
                clean = False
                break
            chunk.append(e2)
            if e2.kind == "handler-entry":
                entered = True
            if e2.kind == "iret" and entered:
                break
        if clean and entered:
            return setup, chunk
    return setup, []
