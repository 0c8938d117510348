"""Parameter sweeps: points from ``--set`` lists, run on a process pool or on Ray, written as
one tidy table (a row per point x metric, the swept parameters as columns) plus every run's
JSON (docs/experiments.md)."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import itertools
import json
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from irqsim.experiments.loader import Experiment, ExperimentError, load_text
from irqsim.experiments.schema import MAX_SEED

MANIFEST = "sweep.json"
RUNS = "runs"
TABLE = "results"
FIXED_COLUMNS = ("point", "seed", "metric", "device", "cpu", "value")


@dataclass(frozen=True)
class Point:
    """One run of a sweep: the swept values, the replicate index and its seed."""

    index: int
    params: dict[str, Any]
    rep: int
    seed: int

    @property
    def id(self) -> str:
        """Stable name: the index and a hash of the values and seed (files, resume)."""
        h = hashlib.sha256(json.dumps([self.params, self.rep, self.seed], sort_keys=True,
                                      default=str).encode()).hexdigest()[:8]
        return f"p{self.index:04d}-{h}"

    def overrides(self) -> list[tuple[str, Any]]:
        """What to set in the file for this point (the values, then ``run.seed``)."""
        return [*self.params.items(), ("run.seed", self.seed)]


def derive_seed(base: int, params: dict[str, Any], rep: int) -> int:
    """A seed for a point, fixed by the file's seed, the point's values and the replicate
    (so a point keeps its seed whatever else the sweep contains)."""
    text = json.dumps([base, sorted(params.items()), rep], default=str)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") & MAX_SEED


def expand(sets: list[tuple[str, list[Any]]], base_seed: int, zip_: bool = False,
           seeds: int = 1) -> list[Point]:
    """The points of a sweep: the cartesian product of the value lists (or their zip), each
    repeated ``seeds`` times with derived seeds; ``run.seed`` given as a swept path is used
    as is."""
    paths = [p for p, _ in sets]
    lists = [vs for _, vs in sets]
    if zip_ and len({len(v) for v in lists}) > 1:
        raise ValueError("--zip needs the same number of values in every --set, got "
                         + ", ".join(f"{p}: {len(v)}" for p, v in sets))
    combos: Iterable[tuple[Any, ...]] = zip(*lists, strict=True) if zip_ \
        else itertools.product(*lists)
    points: list[Point] = []
    for combo in combos:
        params = dict(zip(paths, combo, strict=True))
        for rep in range(seeds):
            if "run.seed" in params:
                seed = int(params["run.seed"]) if seeds == 1 else \
                    derive_seed(int(params["run.seed"]), params, rep)
            else:
                seed = derive_seed(base_seed, params, rep)
            points.append(Point(len(points), params, rep, seed))
    return points


# -- one point -------------------------------------------------------------------------------
def run_point(text: str, name: str, base_dir: str, overrides: list[tuple[str, Any]],
              allow: tuple[str, ...] = ()) -> dict[str, Any]:
    """Run one point (in a worker process or a Ray task) under the diagnostics policy
    ``allow`` (``--allow``): the run's JSON plus its engine events, the latency CDFs, the
    wall time and ``diagnostics_reported`` (rule id -> count, the ids not allowed: what
    ``--strict`` trips on); ``error`` instead when it could not run."""
    from irqsim.experiments.builder import budget_of, run_experiment
    from irqsim.sim.budget import BudgetExceeded
    from irqsim.sim.rules import DiagPolicy
    from irqsim.views.report import as_json
    t0 = time.monotonic()
    policy = DiagPolicy(frozenset(allow))
    try:
        exp = load_text(text, name, Path(base_dir), overrides)
        with budget_of(exp).active(), policy.active():
            res = run_experiment(exp, trace=False)
    except ExperimentError as e:
        return {"error": "; ".join(e.problems)}
    except BudgetExceeded as e:
        return {"error": f"run budget: {e.report}"}
    except Exception as e:      # a broken point must not sink the sweep: an error row
        import traceback
        return {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
    m = res.machine
    out = as_json(res)
    out["events_run"] = m.engine.events_run
    out["latency_cdf_ns"] = latency_cdfs(m)
    smp = getattr(m.kernel, "smp", None)
    if smp is not None and "ipi_requests" not in out:
        out["ipi_requests"] = smp.summary()
    out["diagnostics_reported"] = dict(sorted(policy.reported.items()))
    out["wall_s"] = round(time.monotonic() - t0, 3)
    return out


def latency_cdfs(m: Any, points: int = 101) -> dict[str, list[list[float]]]:
    """Per device, the latency CDF at ``points`` evenly spaced quantiles: [ns, fraction]."""
    rec = m.recorder
    if rec is None:
        return {}
    out = {}
    for src, hists in sorted(rec.rows.items()):
        h = hists[0]
        if not h.n:
            continue
        out[src] = [[h.percentile(100 * i / (points - 1)) if i else h.min, i / (points - 1)]
                    for i in range(points)]
    return out


def metrics(res: dict[str, Any]) -> list[tuple[str, str, str, float]]:
    """A run's figures as (metric, device, cpu, value) rows (docs/experiments.md lists them);
    deterministic: the wall time is kept out."""
    rows: list[tuple[str, str, str, float]] = []
    sim_ns = res["simulated_ns"]
    sim_s = sim_ns / 1e9 if sim_ns else 0.0
    rows.append(("simulated_ns", "", "", sim_ns))
    rows.append(("events", "", "", res.get("events_run", 0)))
    handled = 0
    for dev, s in res["latency_ns"].items():
        for stat in ("count", "min", "median", "p99", "max"):
            rows.append((f"latency_{stat}_ns" if stat != "count" else "handled", dev, "",
                         s[stat]))
        for stage, v in s.get("stages", {}).items():
            rows.append((f"stage_{_slug(stage)}_median_ns", dev, "", v))
        handled += s["count"]
        rows.append(("handled_per_s", dev, "", s["count"] / sim_s if sim_s else 0.0))
    rows.append(("handled", "", "", handled))
    rows.append(("handled_per_s", "", "", handled / sim_s if sim_s else 0.0))
    acc = res["accounting"]
    for k in ("raised", "delivered", "merged"):
        rows.append((f"irq_{k}", "", "", acc[k]))
    rows.append(("irq_dropped", "", "", sum(acc["dropped"].values())))
    rows.append(("accounting_balanced", "", "", 1 if acc["balanced"] else 0))
    busy_all = total_all = 0
    for c in res["cpu_time_ns"]:
        cpu = str(c["cpu"])
        total = sum(v for k, v in c.items() if k != "cpu")
        busy = total - c.get("idle", 0)
        busy_all += busy
        total_all += total
        for k, v in c.items():
            if k != "cpu":
                rows.append((f"cpu_{k}_ns", "", cpu, v))
        rows.append(("cpu_busy_pct", "", cpu, 100 * busy / total if total else 0.0))
        irq = c.get("hardirq", 0) + c.get("softirq", 0)
        rows.append(("cpu_irq_pct", "", cpu, 100 * irq / total if total else 0.0))
    rows.append(("cpu_busy_pct", "", "all", 100 * busy_all / total_all if total_all else 0.0))
    for r in res["interrupts"]:
        if r["count"]:
            dev = r["device"] if not r.get("system") else str(r["irq"])
            rows.append(("interrupts", dev, str(r["cpu"]), r["count"]))
            rows.append(("interrupt_rate_per_s", dev, str(r["cpu"]),
                         r["count"] / sim_s if sim_s else 0.0))
    for r in res.get("ipi_requests", []):          # IPIs by kind (os/ipi.py summary)
        rows.append(("ipis", r["kind"], "", r["count"]))
        rows.append(("ipi_latency_mean_ns", r["kind"], "", r["latency_mean_ns"]))
        rows.append(("ipi_latency_max_ns", r["kind"], "", r["latency_max_ns"]))
    for r in res.get("ipi_latency", []):           # the ipi scenario: by where the target is
        rows.append(("ipi_call_single_mean_ns", r["hop"], "", r["mean_ns"]))
    nets = res.get("networks")
    if nets:                                    # several NICs: device = NIC[:app|stack]
        for nic, net in nets.items():
            rows += [(mt, f"{nic}:{dev}" if dev else nic, cpu, v)
                     for mt, dev, cpu, v in _network_metrics(net)]
    else:
        rows += _network_metrics(res.get("network"))
    rows += _nvme_metrics(res.get("nvme"))
    rows += _vm_metrics(res)
    rows.append(("diagnostics", "", "", len(res["diagnostics"])))
    return rows


NET_FIGURES = ("offered_mpps", "throughput_mpps", "throughput_gbps", "interrupts_per_s",
               "cpu_busy_pct", "cpu_cores_busy", "missed")


def _network_metrics(net: dict[str, Any] | None) -> list[tuple[str, str, str, float]]:
    """A NIC run's figures (nic-10g, a ``nic`` device with traffic): over the traffic
    window, packet latency (``app``: arrival to the reader, ``stack``: to the protocol
    stack), and per queue its interrupts and packets per interrupt."""
    if not net:
        return []
    rows: list[tuple[str, str, str, float]] = [(f"net_{k}", "", "", net[k])
                                               for k in NET_FIGURES if k in net]
    for kind in ("app", "stack"):
        lat = net.get(f"latency_{kind}_ns", {})
        for stat in ("median", "p99", "max"):
            if stat in lat:
                rows.append((f"net_latency_{stat}_ns", kind, "", lat[stat]))
    for q in net.get("queues", []):
        dev = f"queue{q['queue']}"
        rows.append(("net_queue_interrupts_per_s", dev, str(q["cpu"]), q["irq_per_s"]))
        rows.append(("net_queue_pkts_per_irq", dev, str(q["cpu"]), q["pkts_per_irq"]))
    return rows


def _vm_metrics(res: dict[str, Any]) -> list[tuple[str, str, str, float]]:
    """A described machine's VMs: device event to guest handler entry, and per vCPU its
    guest interrupts, interrupt-caused VM exits and posted notifications taken in the guest."""
    rows: list[tuple[str, str, str, float]] = []
    lat = res.get("guest_latency_ns") or {}
    for stat in ("median", "p99", "max"):
        if lat.get("count"):
            rows.append((f"guest_latency_{stat}_ns", "", "", lat[stat]))
    irqs = exits = 0
    for vcpu, v in (res.get("vm_interrupts") or {}).items():
        rows.append(("vm_guest_irqs", vcpu, "", v["guest_irqs"]))
        rows.append(("vm_interrupt_exits", vcpu, "", v["interrupt_exits"]))
        rows.append(("vm_posted_notifications", vcpu, "", v["posted_notifications"]))
        irqs += v["guest_irqs"]
        exits += v["interrupt_exits"]
    if irqs:
        rows.append(("vm_exits_per_interrupt", "", "", exits / irqs))
    return rows


def _nvme_metrics(nvme: dict[str, Any] | None) -> list[tuple[str, str, str, float]]:
    """An NVMe run's read latency by completion kind (irq, poll) and its vector signals."""
    if not nvme:
        return []
    rows: list[tuple[str, str, str, float]] = []
    for kind, st in nvme.get("latency_ns", {}).items():
        for stat in ("median", "p99"):
            if stat in st:
                rows.append((f"nvme_read_{stat}_ns", kind, "", st[stat]))
    agg = nvme.get("aggregation", {})
    if "signals" in agg:
        rows.append(("nvme_signals", "", "", agg["signals"]))
    return rows


def _slug(name: str) -> str:
    """A stage name as a metric name part: 'root complex+IOMMU+msg' -> root_complex_iommu_msg."""
    name = name.lower().replace("/", "")
    return "_".join("".join(c if c.isalnum() else " " for c in name).split())


# -- the sweep -------------------------------------------------------------------------------
@dataclass
class Sweep:
    """A sweep of an experiment file: its text, the swept paths and values, the points."""

    file: Path
    text: str
    sets: list[tuple[str, list[Any]]]
    zip: bool
    seeds: int
    points: list[Point] = field(default_factory=list)
    allow: tuple[str, ...] = ()        # --allow: rule ids counted, not reported
    strict: bool = False               # --strict: the table gets a "strict" column

    @property
    def params(self) -> list[str]:
        return [p for p, _ in self.sets]

    @property
    def columns(self) -> list[str]:
        """The table's columns: the point, the swept paths, ``strict`` (with --strict),
        then seed, metric, device, cpu, value."""
        return ["point", *self.params, *(["strict"] if self.strict else []),
                *FIXED_COLUMNS[1:]]

    def manifest(self) -> dict[str, Any]:
        return {"version": 1, "file": self.file.name, "sets": [[p, v] for p, v in self.sets],
                "zip": self.zip, "seeds": self.seeds, "allow": sorted(self.allow),
                "strict": self.strict,
                "text_sha256": hashlib.sha256(self.text.encode()).hexdigest(),
                "points": [{"id": p.id, **asdict(p)} for p in self.points]}


def plan(file: Path, sets: list[tuple[str, list[Any]]], zip_: bool = False, seeds: int = 1,
         allow: tuple[str, ...] = (), strict: bool = False) -> tuple[Sweep, Experiment]:
    """Read the file, expand the points and validate every one of them (nothing runs if
    any point is invalid: :class:`ExperimentError` lists the problems)."""
    from irqsim.experiments.loader import load_file
    base = load_file(file)
    sw = Sweep(file, base.source, sets, zip_, seeds, allow=tuple(sorted(allow)),
               strict=strict)
    try:
        sw.points = expand(sets, base.spec.run.seed, zip_, seeds)
    except ValueError as e:
        raise ExperimentError([str(e)]) from None
    problems: list[str] = []
    seen: set[str] = set()
    for pt in sw.points:
        try:
            load_file(file, pt.overrides())
        except ExperimentError as e:
            for p in e.problems:
                msg = f"{p} [point {', '.join(f'{k}={v!r}' for k, v in pt.params.items())}]"
                if p not in seen:
                    problems.append(msg)
                    seen.add(p)
    if problems:
        raise ExperimentError(problems)
    return sw, base


def _ignore_sigint() -> None:
    """Pool workers leave Ctrl-C to the parent, which stops them and keeps what finished."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


OnDone = Callable[[Point, dict[str, Any]], None]


def execute(sw: Sweep, out: Path, backend: str = "local", jobs: int = 0,
            ray_address: str | None = None, resume: bool = False,
            on_done: OnDone | None = None) -> tuple[int, int]:
    """Run the sweep's points not yet in ``out/runs`` (``resume``) and write the table.

    Each finished point's JSON is written as it arrives; on Ctrl-C (KeyboardInterrupt,
    also from ``on_done``) the pool is stopped, the table is written from the finished
    points and the exception goes on. Returns (points run now, points skipped)."""
    runs = out / RUNS
    _prepare(sw, out, resume)
    todo = [p for p in sw.points if not (runs / f"{p.id}.json").exists()]
    skipped = len(sw.points) - len(todo)
    args = (sw.text, str(sw.file), str(sw.file.resolve().parent))

    def done(p: Point, res: dict[str, Any]) -> None:
        record = {"point": p.id, "params": p.params, "rep": p.rep, "seed": p.seed,
                  "result": res}
        tmp = runs / f"{p.id}.json.tmp"
        tmp.write_text(json.dumps(record, indent=1, default=str))
        tmp.replace(runs / f"{p.id}.json")
        if on_done is not None:
            on_done(p, res)

    try:
        if backend == "ray":
            _run_ray(todo, args, sw.allow, jobs, ray_address, done)
        elif jobs == 1 or len(todo) <= 1:
            for p in todo:
                done(p, run_point(*args, p.overrides(), sw.allow))
        else:
            _run_pool(todo, args, sw.allow, jobs, done)
    finally:
        write_table(sw, out)
    return len(todo), skipped


def _prepare(sw: Sweep, out: Path, resume: bool) -> None:
    """Create ``out``; with ``resume``, check it holds this very sweep."""
    mpath = out / MANIFEST
    if mpath.exists():
        old = json.loads(mpath.read_text())
        if resume and old != sw.manifest():
            raise ExperimentError([f"{out}: --resume: the directory holds another sweep (the "
                                   "file's text, --set, --zip or --seeds differ)"])
        if not resume:
            shutil.rmtree(out / RUNS, ignore_errors=True)
    (out / RUNS).mkdir(parents=True, exist_ok=True)
    mpath.write_text(json.dumps(sw.manifest(), indent=1, default=str))
    (out / "experiment.toml").write_text(sw.text)


def _run_pool(todo: list[Point], args: tuple[str, str, str], allow: tuple[str, ...],
              jobs: int, done: Callable[[Point, dict[str, Any]], None]) -> None:
    pool = ProcessPoolExecutor(max_workers=jobs or os.cpu_count() or 1,
                               initializer=_ignore_sigint)
    futs: dict[Future[dict[str, Any]], Point] = {
        pool.submit(run_point, *args, p.overrides(), allow): p for p in todo}
    try:
        pending = set(futs)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in sorted(finished, key=lambda f: futs[f].index):
                done(futs[f], f.result())
    except BaseException:
        # Stop at once: queued points are cancelled, running workers terminated (the pool
        # has no public way to stop a running task).
        for f in futs:
            f.cancel()
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()


def _run_ray(todo: list[Point], args: tuple[str, str, str], allow: tuple[str, ...],
             jobs: int, address: str | None,
             done: Callable[[Point, dict[str, Any]], None]) -> None:
    try:
        import ray
    except ImportError:
        raise ExperimentError(["--backend ray needs the ray extra: pip install "
                               "'irqsim[ray]'"]) from None
    started = not ray.is_initialized()
    if started:
        kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                              "logging_level": "ERROR"}
        if address:
            kw["address"] = address
        else:
            kw["num_cpus"] = jobs or os.cpu_count() or 1
        ray.init(**kw)
    refs: dict[Any, Point] = {}
    try:
        task = ray.remote(run_point)
        refs = {task.remote(*args, p.overrides(), allow): p for p in todo}
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for r in ready:
                done(refs[r], ray.get(r))
    except BaseException:
        for r in refs:
            ray.cancel(r, force=True)
        raise
    finally:
        if started:
            ray.shutdown()


# -- the table -------------------------------------------------------------------------------
def load_runs(out: Path) -> list[dict[str, Any]]:
    """The finished points' records in ``out/runs``, in point order."""
    return [json.loads(f.read_text()) for f in sorted((out / RUNS).glob("*.json"))]


def strict_verdict(res: dict[str, Any]) -> str:
    """A point's ``strict`` column: ``ok``, or the rule ids it reported (``RULE xN; ...``),
    or ``error`` when it did not run."""
    if "error" in res:
        return "error"
    rep = res.get("diagnostics_reported", {})
    return "; ".join(f"{rid} x{n}" for rid, n in rep.items()) if rep else "ok"


def table_rows(sw_params: list[str], records: list[dict[str, Any]], strict: bool = False,
               ) -> list[dict[str, Any]]:
    """The tidy table: one row per point x metric, the swept parameters as columns (and,
    with ``strict``, the point's :func:`strict_verdict`)."""
    rows = []
    for rec in records:
        res = rec["result"]
        base = {"point": rec["point"], **{p: rec["params"].get(p) for p in sw_params},
                **({"strict": strict_verdict(res)} if strict else {}), "seed": rec["seed"]}
        if "error" in res:
            rows.append({**base, "metric": "error", "device": res["error"], "cpu": "",
                         "value": float("nan")})
            continue
        for metric, dev, cpu, value in metrics(res):
            rows.append({**base, "metric": metric, "device": dev, "cpu": cpu, "value": value})
    return rows


def write_table(sw: Sweep, out: Path) -> list[dict[str, Any]]:
    """results.csv and results.jsonl (and results.parquet when pyarrow is installed)."""
    rows = table_rows(sw.params, load_runs(out), sw.strict)
    columns = sw.columns
    with (out / f"{TABLE}.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)
    with (out / f"{TABLE}.jsonl").open("w") as f:
        for r in rows:
            f.write(json.dumps(r, default=str) + "\n")
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return rows
    typed = [{**r, "value": float(r["value"])} for r in rows]
    # Swept values of mixed types have no Arrow column type: then CSV and JSONL only.
    with contextlib.suppress(pa.ArrowInvalid, pa.ArrowTypeError):
        pq.write_table(pa.Table.from_pylist(typed), out / f"{TABLE}.parquet")
    return rows


def read_table(out: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """The swept parameter names and the rows of a sweep directory's table."""
    man = json.loads((out / MANIFEST).read_text())
    params = [p for p, _ in man["sets"]]
    with (out / f"{TABLE}.jsonl").open() as f:
        return params, [json.loads(line) for line in f if line.strip()]
