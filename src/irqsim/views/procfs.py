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
    for name, sys_counts, text in system_rows or []:
        c = "".join(f"{x:10d} " for x in sys_counts)
        out.append(f"{name:>{prec}s}: {c}  {text}".rstrip())
    return "\n".join(out)


def mpstat(times: list[dict[str, int]]) -> str:
    """CPU utilisation per CPU and for all, as ``mpstat -P ALL`` prints its Average lines.

    ``times`` holds one dict per CPU with the simulated ns spent in ``hardirq``, ``softirq``,
    ``task`` (kernel code run outside interrupts: boot, probes, scripts; shown as %sys)
    and ``idle``. Columns irqsim never fills (%usr, %nice, %iowait, %steal, %guest,
    %gnice) print 0.00 as mpstat does on an idle field."""
    cols = ("%usr", "%nice", "%sys", "%iowait", "%irq", "%soft", "%steal", "%guest",
            "%gnice", "%idle")
    out = ["Average:     CPU" + "".join(f"{c:>8s}" for c in cols)]

    def row(name: str, t: dict[str, int]) -> str:
        total = sum(t.values()) or 1
        pct = {"%sys": t["task"] + t.get("poll", 0), "%irq": t["hardirq"],
               "%soft": t["softirq"], "%guest": t.get("guest", 0),
               "%idle": t["idle"]}
        return f"Average:     {name:>3s}" + "".join(
            f"{100 * pct.get(c, 0) / total:8.2f}" for c in cols)

    keys = ("hardirq", "softirq", "task", "idle", "poll", "guest")
    out.append(row("all", {k: sum(t.get(k, 0) for t in times) for k in keys}))
    out.extend(row(str(i), t) for i, t in enumerate(times))
    return "\n".join(out)
