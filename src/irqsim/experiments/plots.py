"""Plots of a sweep's table with matplotlib (the ``plot`` extra): line, cdf, bar, heatmap,
each written as PNG and SVG (docs/experiments.md)."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

KINDS = ("line", "cdf", "bar", "heatmap")


class PlotError(Exception):
    """A plot that cannot be drawn from this table (unknown column or metric...)."""


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise PlotError("plots need matplotlib: pip install 'irqsim[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")


def _num(v: Any) -> Any:
    return v if isinstance(v, int | float) and not isinstance(v, bool) else str(v)


def _sortkey(v: Any) -> tuple[int, Any]:
    return (0, v) if isinstance(v, int | float) and not isinstance(v, bool) else (1, str(v))


def _label(col: str) -> str:
    return col.removeprefix("scenario.")


def values(rows: list[dict[str, Any]], metric: str, device: str | None, cpu: str | None,
           ) -> list[dict[str, Any]]:
    """Rows of ``metric`` for one device and cpu (default: the aggregate row if there is
    one, else every row)."""
    sel = [r for r in rows if r["metric"] == metric]
    if not sel:
        known = sorted({r["metric"] for r in rows})
        raise PlotError(f"no metric {metric!r} in the table (metrics: {', '.join(known)})")
    if device is not None:
        sel = [r for r in sel if r["device"] == device]
    if cpu is not None:
        sel = [r for r in sel if r["cpu"] == cpu]
    elif any(r["cpu"] == "all" for r in sel):
        sel = [r for r in sel if r["cpu"] == "all"]
    return sel


def _x_of(rows: list[dict[str, Any]], x: str, point_x: dict[str, float]) -> list[Any]:
    return [point_x[r["point"]] if point_x else r[x] for r in rows]


def _hues(hue: str | None) -> list[str]:
    """``--hue`` as its columns: one, or several joined by commas (a series per
    combination of their values)."""
    return [h.strip() for h in hue.split(",")] if hue else []


def _series(rows: list[dict[str, Any]], x: str, hue: str | None, point_x: dict[str, float],
            ) -> dict[str, dict[Any, list[float]]]:
    """{series label: {x: [values]}}; a series per hue value (and per device when the
    metric has several and none was chosen)."""
    devs = sorted({r["device"] for r in rows})
    out: dict[str, dict[Any, list[float]]] = defaultdict(lambda: defaultdict(list))
    xs = _x_of(rows, x, point_x)
    for r, xv in zip(rows, xs, strict=True):
        parts = [f"{_label(h)}={r[h]}" for h in _hues(hue)]
        if len(devs) > 1:
            parts.append(r["device"] or "(total)")
        v = r["value"]
        if isinstance(v, int | float) and not math.isnan(v):
            out[", ".join(parts) or "value"][_num(xv)].append(float(v))
    return out


def plot(rows: list[dict[str, Any]], params: list[str], runs: list[dict[str, Any]],
         kind: str, x: str | None, y: str | None, hue: str | None, out_base: Path,
         device: str | None = None, cpu: str | None = None, point: str | None = None,
         title: str | None = None, where: dict[str, Any] | None = None) -> list[Path]:
    """Draw one plot; returns the PNG and SVG paths (``out_base`` + suffix). ``where``
    keeps only the points with these parameter values (cdf)."""
    plt = _pyplot()
    if kind not in KINDS:
        raise PlotError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    columns = set(rows[0]) if rows else set()
    if kind == "heatmap" and len(_hues(hue)) > 1:
        raise PlotError("--kind heatmap takes one --hue column (its rows)")
    for name, col in (("--hue", h) for h in _hues(hue)):
        if col not in columns:
            raise PlotError(f"{name} {col!r} is not a column (columns: "
                            f"{', '.join(sorted(columns))})")
    facets = [None]
    sel: list[dict[str, Any]] = []
    point_x: dict[str, float] = {}
    if kind in ("line", "bar"):
        if x is None or y is None:
            raise PlotError(f"--kind {kind} needs --x and --y")
        sel = values(rows, y, device, cpu)
        if x not in columns:
            xm = values(rows, x, None, None)
            xm = [r for r in xm if r["device"] == ""] or xm
            point_x = {r["point"]: r["value"] for r in xm}
            sel = [r for r in sel if r["point"] in point_x]
        devs = sorted({r["device"] for r in sel})
        if len(devs) > 1:
            facets = devs[:6]          # one panel per device
    elif kind == "cdf" and device is None:
        devs = sorted({d for rec in runs for d in rec["result"].get("latency_cdf_ns", {})})
        if len(devs) > 1:
            facets = devs[:6]
    n = len(facets)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n + 1.5 if n > 1 else 7, 4.5), dpi=110,
                             sharey=True, squeeze=False)
    ax = axes[0][0]
    try:
        if kind == "cdf":
            for fa, dev in zip(axes[0], facets, strict=True):
                _cdf(fa, runs, params, hue, dev if dev is not None else device, point, where,
                     legend=fa is axes[0][-1])
                if dev is not None:
                    fa.set_title(dev, fontsize=9)
                    fa.set_ylabel("")
            ax.set_ylabel("fraction of interrupts")
        elif kind == "heatmap":
            point = _heatmap(fig, ax, rows, x or "cpu", hue or "device",
                             y or "interrupt_rate_per_s", device, point)
        else:
            assert x is not None and y is not None
            for fa, dev in zip(axes[0], facets, strict=True):
                part = sel if dev is None else [r for r in sel if r["device"] == dev]
                series = _series(part, x, hue, point_x)
                (_line if kind == "line" else _bar)(fa, series, bool(point_x))
                fa.set_xlabel(_label(x))
                if dev is not None:
                    fa.set_title(dev or "(total)", fontsize=9)
                if (len(series) > 1 or hue) and fa is axes[0][-1]:
                    fa.legend(fontsize=8)
            ax.set_ylabel(y)
        title = title or _default_title(kind, x, y, hue) + (
            f" (point {point})" if kind == "heatmap" and point else "")
        if n > 1:
            fig.suptitle(title, fontsize=10)
        else:
            ax.set_title(title, fontsize=10)
        fig.tight_layout()
        out_base.parent.mkdir(parents=True, exist_ok=True)
        paths = [out_base.with_suffix(".png"), out_base.with_suffix(".svg")]
        for p in paths:
            fig.savefig(p)
        return paths
    finally:
        plt.close(fig)


def _default_title(kind: str, x: str | None, y: str | None, hue: str | None) -> str:
    if kind == "cdf":
        return "Latency CDF (device event to handler entry)"
    if kind == "heatmap":
        return f"{y or 'interrupt_rate_per_s'} by {hue or 'device'} and {x or 'cpu'}"
    return f"{y} against {_label(x or '')}" + (
        f" by {', '.join(_label(h) for h in _hues(hue))}" if hue else "")


def _line(ax: Any, series: dict[str, dict[Any, list[float]]], scatter: bool) -> None:
    for label, pts in series.items():
        xs = sorted(pts, key=_sortkey)
        means = [sum(pts[v]) / len(pts[v]) for v in xs]
        lo = [min(pts[v]) for v in xs]
        hi = [max(pts[v]) for v in xs]
        pos = xs if all(isinstance(v, int | float) for v in xs) else list(range(len(xs)))
        (line,) = ax.plot(pos, means, marker="o", linestyle="" if scatter else "-",
                          label=label)
        if any(h > low for h, low in zip(hi, lo, strict=True)):
            ax.fill_between(pos, lo, hi, alpha=0.15, color=line.get_color())
        if pos is not xs:
            ax.set_xticks(pos, [str(v) for v in xs])
    ax.grid(alpha=0.3)


def _bar(ax: Any, series: dict[str, dict[Any, list[float]]], _: bool) -> None:
    cats = sorted({v for pts in series.values() for v in pts}, key=_sortkey)
    n = max(len(series), 1)
    width = 0.8 / n
    for i, (label, pts) in enumerate(series.items()):
        pos = [c + (i - (n - 1) / 2) * width for c in range(len(cats))]
        ax.bar(pos, [sum(pts.get(c, [0])) / max(len(pts.get(c, [])), 1) for c in cats],
               width=width, label=label)
    ax.set_xticks(range(len(cats)), [str(c) for c in cats])
    ax.grid(axis="y", alpha=0.3)


def _cdf(ax: Any, runs: list[dict[str, Any]], params: list[str], hue: str | None,
         device: str | None, point: str | None, where: dict[str, Any] | None = None,
         legend: bool = True) -> None:
    drawn = 0
    for rec in runs:
        if point is not None and rec["point"] != point:
            continue
        if where and any(rec["params"].get(k) != v for k, v in where.items()):
            continue
        cdfs = rec["result"].get("latency_cdf_ns", {})
        for dev, pts in sorted(cdfs.items()):
            if device is not None and dev != device:
                continue
            shown = _hues(hue) or params
            label = ", ".join(f"{_label(p)}={rec['params'].get(p)}" for p in shown)
            if len(cdfs) > 1 and device is None:
                label = f"{label} {dev}".strip()
            if len({rec['seed'] for rec in runs}) > 1 and not hue:
                label += f" seed {rec['seed'] % 1000}"
            ax.step([p[0] for p in pts], [p[1] for p in pts], where="post", label=label)
            drawn += 1
    if not drawn:
        raise PlotError("no latency samples to draw (no device interrupt was handled"
                        + (f" for device {device!r}" if device else "") + ")")
    ax.set_xlabel("latency (ns)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    if drawn <= 16 and legend:
        ax.legend(fontsize=7)


def _heatmap(fig: Any, ax: Any, rows: list[dict[str, Any]], x: str, hue: str, y: str,
             device: str | None, point: str | None) -> str | None:
    """Draw the grid; returns the point it shows (None: every point, averaged)."""
    sel = [r for r in rows if r["metric"] == y]
    if not sel:
        raise PlotError(f"no metric {y!r} in the table")
    if device is not None:
        sel = [r for r in sel if r["device"] == device]
    if (x in ("cpu", "device") or hue in ("cpu", "device")) and point is None:
        point = sel[0]["point"] if sel else None
    if point is not None:
        sel = [r for r in sel if r["point"] == point]
    if not sel:
        raise PlotError(f"no {y!r} rows for the chosen point/device")
    cols = sorted({r[x] for r in sel}, key=_sortkey)
    lines = sorted({r[hue] for r in sel}, key=_sortkey)
    acc: dict[tuple[Any, Any], list[float]] = defaultdict(list)
    for r in sel:
        acc[(r[hue], r[x])].append(float(r["value"]))
    grid = [[sum(acc[(h, c)]) / len(acc[(h, c)]) if acc.get((h, c)) else 0.0 for c in cols]
            for h in lines]
    im = ax.imshow(grid, aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(cols)), [str(c) for c in cols], fontsize=8)
    ax.set_yticks(range(len(lines)), [str(h) for h in lines], fontsize=8)
    ax.set_xlabel(_label(x))
    ax.set_ylabel(_label(hue))
    fig.colorbar(im, ax=ax, label=y)
    if len(cols) * len(lines) <= 64:
        top = max((v for row in grid for v in row), default=0.0)
        for i, row in enumerate(grid):
            for j, v in enumerate(row):
                ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=7,
                        color="white" if v < top / 2 else "black")
    return point


def default_plots(rows: list[dict[str, Any]], params: list[str], runs: list[dict[str, Any]],
                  out: Path) -> list[Path]:
    """The plots a sweep writes beside its table: p50/p99 latency (and IPI latency, when
    there are IPIs) against the first swept parameter (hue: the second), latency CDFs,
    throughput against CPU busy, and the interrupt rate per queue and CPU of the first
    point."""
    if not rows or not params:
        return []
    _pyplot()                       # PlotError naming the extra when matplotlib is absent
    x = params[0]
    hue = ",".join(params[1:]) or None
    paths: list[Path] = []
    metrics = {r["metric"] for r in rows}
    todo: list[dict[str, Any]] = []
    if "net_latency_p99_ns" in metrics:         # a NIC with traffic: packets, CPU, IRQs
        todo += [{"kind": "line", "x": x, "y": "net_latency_p99_ns", "hue": hue,
                  "device": "app", "title": "p99 packet latency, arrival to the reader "
                                            f"(ns), against {_label(x)}"},
                 {"kind": "line", "x": x, "y": "net_cpu_busy_pct", "hue": hue,
                  "title": f"CPU busy % over the traffic window against {_label(x)}"},
                 {"kind": "line", "x": x, "y": "net_interrupts_per_s", "hue": hue,
                  "title": f"NIC interrupts per second against {_label(x)}"}]
    if "nvme_read_p99_ns" in metrics:           # NVMe reads, interrupt-driven ones
        todo.append({"kind": "line", "x": x, "y": "nvme_read_p99_ns", "hue": hue,
                     "device": "irq", "title": "p99 NVMe read latency (interrupt-driven) "
                                               f"against {_label(x)}"})
    if "guest_latency_p99_ns" in metrics:       # VMs: device event to the guest handler
        todo.append({"kind": "line", "x": x, "y": "guest_latency_p99_ns", "hue": hue,
                     "title": f"p99 device-to-guest latency against {_label(x)}"})
    for stat in ("p99", "median"):
        if f"latency_{stat}_ns" in metrics:
            todo.append({"kind": "line", "x": x, "y": f"latency_{stat}_ns", "hue": hue})
    for ipi in ("ipi_call_single_mean_ns", "ipi_latency_mean_ns"):
        if ipi in metrics:
            todo.append({"kind": "line", "x": x, "y": ipi, "hue": hue})
    if "net_throughput_mpps" in metrics:
        todo.append({"kind": "line", "x": "net_cpu_busy_pct", "y": "net_throughput_mpps",
                     "hue": x, "title": "Packet throughput (Mpps) against CPU busy %"})
    elif "handled_per_s" in metrics:
        todo.append({"kind": "line", "x": "cpu_busy_pct", "y": "handled_per_s", "hue": x,
                     "device": "", "title": "Throughput (interrupts handled/s) against CPU "
                                            "busy %"})
    # CDFs along the first parameter, the others at their first value (one curve per x).
    first = runs[0]["params"] if runs else {}
    todo.append({"kind": "cdf", "x": None, "y": None, "hue": x,
                 "where": {p: first.get(p) for p in params[1:]},
                 "title": "Latency CDF (device event to handler entry)" + "".join(
                     f", {_label(p)}={first.get(p)}" for p in params[1:])})
    todo.append({"kind": "heatmap", "x": "cpu", "y": "interrupt_rate_per_s", "hue": "device"})
    for spec in todo:
        name = "_".join(_slug(str(v)) for v in (spec["kind"], spec.get("y"), spec.get("x"))
                        if v)
        try:
            paths += plot(rows, params, runs, spec["kind"], spec["x"], spec["y"], spec["hue"],
                          out / name, device=spec.get("device"), title=spec.get("title"),
                          where=spec.get("where"))
        except PlotError:
            continue
    return paths
