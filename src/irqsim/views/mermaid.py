"""Mermaid sequence diagrams drawn from the trace, with the seeds' participants."""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from irqsim.sim.kinds import TraceKind
from irqsim.sim.trace import TraceEvent

PARTICIPANTS = (
    ("OS", "Operating System"), ("Driver", "Device Driver"), ("PCI", "PCI Config Space"),
    ("Device", "PCIe Device"), ("PCIe", "PCIe Bus"), ("IOMMU", "IOMMU/VT-d"),
    ("LAPIC", "Local APIC"), ("CPU", "CPU"),
)
# Shown only when a diagram uses them, before the participant named second ("": last).
OPTIONAL = (("IOAPIC", "I/O APIC", "LAPIC"), ("PIC", "8259 PIC", "LAPIC"),
            ("Guest", "Guest (vCPU)", ""))
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
    if name.startswith("8259"):
        return "PIC"
    if name.startswith(("Switch", "RootPort")):
        return "PCIe"
    if "/vCPU" in name:                 # a VM's vCPU (irqsim.virt): the guest
        return "Guest"
    return "Device"


class _Missing:
    """A field the event does not carry."""


_MISSING = _Missing()


class _LabelFormatter(string.Formatter):
    """str.format plus the ``?YES|NO`` and ``+YES|NO`` specs of the TraceKind table."""

    def get_value(self, key: int | str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        return kwargs.get(str(key), _MISSING)

    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec[:1] == "?":
            yes, _, no = format_spec[1:].partition("|")
            return yes if value is not _MISSING and value else no
        if format_spec[:1] == "+":
            yes, _, no = format_spec[1:].partition("|")
            if value is _MISSING:
                return no
            return yes.replace("@x", f"{value:#x}") if "@x" in yes else yes.replace("@", str(value))
        if value is _MISSING:
            return ""
        return format(value, format_spec)


_FORMATTER = _LabelFormatter()


def label(e: TraceEvent) -> str:
    """The Mermaid arrow text of ``e``: its kind's label template (irqsim.sim.kinds) over its
    fields, or ``kind field=value...`` for a kind without one."""
    f = e.fields
    try:
        template = TraceKind(e.kind).label
    except ValueError:
        template = None
    if template is None:
        extra = ", ".join(f"{a}={b}" for a, b in f.items())
        return f"{e.kind} {extra}".strip()
    return _FORMATTER.vformat(template, (), {**f, "kind": e.kind})



_INSTANCE = re.compile(r"^(LAPIC|CPU)\d+$")

# Seed 000's wording for the branches a delivery can take.
MASKED = "Vector Masked"
CANNOT_ACCEPT = "CPU Cannot Accept (IF=0 or TPR blocks or Higher Priority ISR)"
# The event that starts a branch: the kind that ends it and the field both share.
REMAP = "IOMMU Enabled"
_CLOSES = {"msix-masked": ("msix-unmask-send", "entry"),
           "msi-masked": ("msi-unmask-send", "vector"), "irr-set": ("inta", "vector"),
           "ir-lookup": ("ir-result", "index")}
_END_FIELD = {"msix-unmask-send": "entry", "ir-result": "index"}


def _end_key(e: TraceEvent) -> tuple[str, str, object]:
    """The key a branch that ``e`` would end is stored under."""
    return e.kind, e.src, e.fields.get(_END_FIELD.get(e.kind, "vector"))


def _branch(e: TraceEvent) -> tuple[str, str, tuple[str, str, object]] | None:
    """(title, note, closing key) when ``e`` starts a branch of seed 000's diagram, else None:
    a masked vector sets its Pending bit (closed by the unmask that sends it), or a vector
    enters the IRR while the CPU cannot take it (closed by its INTA)."""
    f = e.fields
    if e.kind in ("msix-masked", "msi-masked"):
        note = "Interrupt queued in device"
    elif e.kind == "ir-lookup":
        note = "Interrupt remapping: look up, validate, remap"
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
    title = {"irr-set": CANNOT_ACCEPT, "ir-lookup": REMAP}.get(e.kind, MASKED)
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
            used.insert([a for a, _ in used].index(before) if before else len(used),
                        (alias, name))
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
        text = label(e).replace(";", ",").replace("#", "")
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
    ``device`` (its event up to the IRET that ends its handler; to a guest: up to the guest
    handler's EOI)."""
    setup: list[TraceEvent] = []
    for e in events:
        if e.kind == "device-event":
            break
        setup.append(e)
    n = len(events)
    vm = any(e.kind == "vm-entry" for e in events)      # a delivery ends in a guest
    for start in range(len(setup), n):
        e = events[start]
        if e.kind != "device-event" or e.src != device:
            continue
        chunk: list[TraceEvent] = []
        clean = True
        entered = guest = False
        for e2 in events[start:]:
            src_field = str(e2.fields.get("source", ""))
            if (e2.kind == "device-event" and e2 is not e) or (
                    src_field and not src_field.startswith(device)):
                clean = False
                break
            chunk.append(e2)
            if e2.kind == "handler-entry":
                entered = True
            if e2.kind == "guest-handler":
                entered = guest = True
            if entered and (e2.kind == "virtual-eoi" or (e2.kind == "vm-exit" and guest)
                            or (e2.kind == "iret" and not guest and not vm)):
                break
        if clean and entered:
            return setup, chunk
    return setup, []
