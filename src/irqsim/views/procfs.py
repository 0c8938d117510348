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
        if r["chip"] == "XT-PIC":
            # The 8259's chip has no irq domain and no flow name: Linux prints the chip
            # name, a blank hwirq column and the actions ("  0:  ...  XT-PIC      timer").
            out.append(f"{r['irq']:>{prec}d}: {counts} {r['chip']:>8s} {'':>{prec}s}  "
                       f"{r['name']}".rstrip())
            continue
        out.append(f"{r['irq']:>{prec}d}: {counts} {r['chip']:>8s} "
                   f"{r['hwirq']:>4d}-{r.get('trigger', 'edge'):<9s} {r['name']}".rstrip())
    for name, sys_counts, text in system_rows or []:
        c = "".join(f"{x:10d} " for x in sys_counts)
        out.append(f"{name:>{prec}s}: {c}  {text}".rstrip())
    return "\n".join(out)


def mpstat(times: list[dict[str, int]]) -> str:
    """CPU utilisation per CPU and for all, as ``mpstat -P ALL`` prints its Average lines.

    ``times`` holds one dict per CPU with the simulated ns spent in ``hardirq``, ``softirq``,
    ``task`` (kernel code run outside interrupts: boot, probes, scripts; shown as %sys),
    ``poll`` (busy polling: mpstat counts it in %sys; when any CPU has some, a ``%poll``
    column shows it apart and %sys excludes it), ``guest`` (guest code run by the Unicorn
    front-end: %guest) and ``idle``. Columns irqsim never fills (%usr, %nice, %iowait,
    %steal, %gnice) print 0.00 as mpstat does on an idle
    field."""
    keys = ("hardirq", "softirq", "task", "idle", "poll", "guest")
    split = any(t.get("poll", 0) for t in times)
    cols = ("%usr", "%nice", "%sys", "%iowait", "%irq", "%soft", "%steal", "%guest",
            "%gnice") + (("%poll",) if split else ()) + ("%idle",)
    out = ["Average:     CPU" + "".join(f"{c:>8s}" for c in cols)]

    def row(name: str, t: dict[str, int]) -> str:
        total = sum(t.values()) or 1
        poll = t.get("poll", 0)
        pct = {"%sys": t["task"] + (0 if split else poll), "%poll": poll,
               "%irq": t["hardirq"], "%soft": t["softirq"], "%guest": t.get("guest", 0),
               "%idle": t["idle"]}
        return f"Average:     {name:>3s}" + "".join(
            f"{100 * pct.get(c, 0) / total:8.2f}" for c in cols)

    out.append(row("all", {k: sum(t.get(k, 0) for t in times) for k in keys}))
    out.extend(row(str(i), t) for i, t in enumerate(times))
    return "\n".join(out)
