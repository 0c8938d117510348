"""/proc/interrupts as Linux prints it (kernel/irq/proc.c show_interrupts)."""

from __future__ import annotations

from typing import Any


def proc_interrupts(rows: list[dict[str, Any]], ncpus: int,
                    system_rows: list[tuple[str, list[int], str]] | None = None) -> str:
    """Format IRQ rows (from Kernel.interrupt_rows) and system rows (name, counts, text)."""
    prec = 3
    out = [" " * (prec + 2) + "".join(f"CPU{i:<8d}" for i in range(ncpus)).rstrip()]
    for r in rows:
        counts = "".join(f"{c:10d} " for c in r["counts"])
        out.append(f"{r['irq']:>{prec}d}: {counts} {r['chip']:>8s} "
                   f"{r['hwirq']:>4d}-{r.get('trigger', 'edge'):<9s} {r['name']}".rstrip())
    for name, counts, text in system_rows or []:
        c = "".join(f"{x:10d} " for x in counts)
        out.append(f"{name:>{prec}s}: {c}  {text}".rstrip())
    return "\n".join(out)
