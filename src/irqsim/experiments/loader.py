"""Reading and validating experiment files: TOML text -> :class:`Experiment`.

Every problem is reported, one line each, as ``FILE:LINE: PATH: message (got VALUE)``;
tomllib gives no positions for values, so :func:`key_lines` finds the line of each key
path in the text (table headers, arrays of tables, dotted keys).
"""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from irqsim.experiments.schema import (
    ExperimentFile,
    ScenarioParams,
    scenario_knobs,
    scenario_params_model,
)

Path_ = tuple[str | int, ...]


class ExperimentError(Exception):
    """A file that cannot be run; ``problems`` has one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class Experiment:
    """A validated experiment: the model, the raw data it came from, and its file."""

    spec: ExperimentFile
    raw: dict[str, Any]
    source: str
    base_dir: Path
    params: ScenarioParams | None = None
    lines: dict[Path_, int] = field(default_factory=dict)


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r'^\s*((?:[A-Za-z0-9_-]+|"[^"]*")(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"))*)'
                  r"\s*=")


def _split_key(k: str) -> list[str]:
    return [p.strip().strip('"') for p in k.split(".")]


def key_lines(text: str) -> dict[Path_, int]:
    """The 1-based line of every table header and key path in TOML ``text`` (arrays of
    tables get their index: ``("devices", 1, "model")``). Multi-line values are skipped
    over only as far as the key line goes, which is all an error needs."""
    out: dict[Path_, int] = {}
    counts: dict[tuple[str | int, ...], int] = {}
    table: tuple[str | int, ...] = ()
    for no, line in enumerate(text.splitlines(), 1):
        h = _HEADER.match(line)
        if h and not _KEY.match(line):
            names = _split_key(h.group(2))
            if h.group(1) == "[[":
                base = (*_resolve(tuple(names[:-1]), counts), names[-1])
                idx = counts.get(base, -1) + 1
                counts[base] = idx
                table = (*base, idx)
            else:
                table = _resolve(tuple(names), counts)
            _mark(out, table, no)
            continue
        k = _KEY.match(line)
        if k:
            _mark(out, (*table, *_split_key(k.group(1))), no)
    return out


def _mark(out: dict[Path_, int], path: Path_, no: int) -> None:
    """Line ``no`` for ``path`` and for the tables it defines implicitly (``[a.b]``)."""
    for i in range(1, len(path) + 1):
        out.setdefault(path[:i], no)


def _resolve(names: tuple[str, ...], counts: dict[tuple[str | int, ...], int],
             ) -> tuple[str | int, ...]:
    """A header path with the current index of each array of tables it goes through."""
    path: tuple[str | int, ...] = ()
    for n in names:
        path = (*path, n)
        if path in counts:
            path = (*path, counts[path])
    return path


def line_of(lines: dict[Path_, int], loc: Path_) -> int | None:
    """The line of ``loc`` or of its nearest enclosing key or table."""
    for i in range(len(loc), 0, -1):
        if loc[:i] in lines:
            return lines[loc[:i]]
    return None


def _fmt_loc(loc: Path_) -> str:
    out = ""
    for p in loc:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(file)"


def _problems(e: ValidationError, name: str, lines: dict[Path_, int], prefix: Path_ = ()
              ) -> list[str]:
    out = []
    for err in e.errors():
        # Drop pydantic's union-member tags (the discriminator value after a list index,
        # 'function-after[...]').
        raw_loc = err["loc"]
        loc = (*prefix, *(p for i, p in enumerate(raw_loc) if isinstance(p, int) or not (
            "[" in p or (p in _TAGS and i > 0 and isinstance(raw_loc[i - 1], int)))))
        line = line_of(lines, loc)
        where = f"{name}:{line}" if line else name
        msg = err["msg"].removeprefix("Value error, ")
        shown = repr(err["input"])
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        got = "" if err["type"] in ("missing", "model_type") or isinstance(
            err["input"], dict) else f" (got {shown})"
        out.append(f"{where}: {_fmt_loc(loc)}: {msg}{got}")
    return out


_TAGS = {"virtio-net", "virtio-blk", "virtio-rng", "msi-event", "legacy-intx", "mq-nic",
         "nic", "nvme", "sriov-nic", "dump", "requests", "ipi", "traffic"}


def _line_key(problem: str) -> int:
    """Sort key: the line number after the file name (0 when there is none)."""
    m = re.match(r"[^:]*:(\d+):", problem)
    return int(m.group(1)) if m else 0


def parse_value(text: str) -> Any:
    """A ``--set`` value: a TOML value (``100``, ``1.5``, ``true``, ``"x"``, ``[1, 2]``),
    else the text itself as a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def set_path(raw: dict[str, Any], path: str, value: Any) -> None:
    """Set dotted ``path`` (list items by index: ``devices.0.msix_vectors``) in ``raw``,
    creating tables as needed; raises KeyError naming the path when it cannot."""
    parts = path.split(".")
    node: Any = raw
    for i, p in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not p.isdigit() or int(p) >= len(node):
                raise KeyError(f"{path}: {'.'.join(parts[:i])} has no item {p}")
            if last:
                node[int(p)] = value
            else:
                node = node[int(p)]
        elif isinstance(node, dict):
            if last:
                node[p] = value
            else:
                node = node.setdefault(p, {})
        else:
            raise KeyError(f"{path}: {'.'.join(parts[:i])} is not a table")


def load_text(text: str, name: str, base_dir: Path,
              sets: list[tuple[str, Any]] | None = None) -> Experiment:
    """Parse and validate ``text`` (named ``name`` in errors), after applying ``sets``
    (path, value) overrides; raises :class:`ExperimentError` listing every problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ExperimentError([f"{name}: not valid TOML: {e}"]) from None
    lines = key_lines(text)
    raw = copy.deepcopy(raw)
    problems = []
    for path, value in sets or []:
        try:
            set_path(raw, path, value)
        except KeyError as e:
            problems.append(f"{name}: --set {e.args[0]}")
    if problems:
        raise ExperimentError(problems)
    return validate(raw, name, base_dir, text, lines)


def validate(raw: dict[str, Any], name: str, base_dir: Path, text: str = "",
             lines: dict[Path_, int] | None = None) -> Experiment:
    """Validate parsed data; every problem in one :class:`ExperimentError`."""
    lines = lines if lines is not None else key_lines(text)
    problems: list[str] = []
    spec: ExperimentFile | None = None
    try:
        spec = ExperimentFile.model_validate(raw)
    except ValidationError as e:
        problems += _problems(e, name, lines)
    params: ScenarioParams | None = None
    scen = raw.get("scenario")
    if isinstance(scen, dict):
        params, more = _scenario_params(scen, name, lines)
        problems += more
    if problems or spec is None:
        raise ExperimentError(sorted(problems, key=_line_key) or [f"{name}: invalid"])
    _check_references(spec, name, lines, problems)
    if problems:
        raise ExperimentError(problems)
    return Experiment(spec, raw, text, base_dir, params, lines)


def _scenario_params(scen: dict[str, Any], name: str, lines: dict[Path_, int],
                     ) -> tuple[ScenarioParams | None, list[str]]:
    from irqsim.scenarios import load_all
    known = load_all()
    sname = scen.get("name")
    if sname not in known:
        line = line_of(lines, ("scenario", "name"))
        where = f"{name}:{line}" if line else name
        return None, [f"{where}: scenario.name: unknown scenario (got {sname!r}; choose "
                      f"from {', '.join(known)})"]
    try:
        params = scenario_params_model(sname).model_validate(scen)
    except ValidationError as e:
        return None, _problems(e, name, lines, ("scenario",))
    try:                    # the knobs' own checks (combinations: their __post_init__)
        scenario_knobs(params)
    except ValueError as e:
        # A message that starts with a knob's name is about that key: its line.
        first = re.split(r"[\s:]", str(e), maxsplit=1)[0]
        loc: Path_ = ("scenario", first) if first in type(params).model_fields \
            else ("scenario",)
        line = line_of(lines, loc)
        where = f"{name}:{line}" if line else name
        return None, [f"{where}: {_fmt_loc(loc)}: {e}"]
    return params, []


def _check_references(spec: ExperimentFile, name: str, lines: dict[Path_, int],
                      problems: list[str]) -> None:
    """Names the models cannot check alone: switch ports, device names in workloads."""
    def bad(loc: Path_, msg: str, got: Any) -> None:
        line = line_of(lines, loc)
        problems.append(f"{name}:{line}: {_fmt_loc(loc)}: {msg} (got {got!r})" if line
                        else f"{name}: {_fmt_loc(loc)}: {msg} (got {got!r})")

    switches: dict[str, int] = {}
    for i, sw in enumerate(spec.platform.switches):
        if sw.name in switches:
            bad(("platform", "switches", i, "name"), "switch name used twice", sw.name)
        if not _port_ok(sw.port, switches):
            bad(("platform", "switches", i, "port"), "no such port: 'root' or SWITCH.N with "
                "an earlier switch", sw.port)
        switches[sw.name] = sw.ports
    for i, d in enumerate(spec.devices):
        port = getattr(d, "port", "root")
        if not _port_ok(port, switches):
            bad(("devices", i, "port"), "no such port: 'root' or SWITCH.N", port)
    names = spec.device_names()
    dumps = {n for n, d in zip(names, spec.devices, strict=True) if d.model == "dump"}
    seen: set[str] = set()
    for i, n in enumerate(names):
        if n in seen and n not in dumps:
            bad(("devices", i, "name"), "device name used twice", n)
        seen.add(n)

    def known(dev: str) -> bool:
        return dev in seen or any(dev.startswith(f"{d}@") for d in dumps)

    hint = f"a device name ({', '.join(names)})" if names else "a device name (no devices)"
    ncpus = _ncpus(spec)
    if spec.machine is not None:
        for dev, cpus in spec.machine.kernel.affinity.items():
            if not known(dev):
                bad(("machine", "kernel", "affinity", dev), f"not {hint}", dev)
            if not cpus or any(c >= ncpus for c in cpus):
                bad(("machine", "kernel", "affinity", dev), f"CPUs must be a non-empty list "
                    f"of 0-{ncpus - 1}", cpus)
    nodes = spec.machine.topology.nodes if spec.machine else 1
    nics = [n for n, d in zip(names, spec.devices, strict=True) if d.model == "nic"]
    for i, d in enumerate(spec.devices):
        node = getattr(d, "node", 0)
        if node >= nodes:
            bad(("devices", i, "node"), f"no such NUMA node (0-{nodes - 1})", node)
        app = getattr(d, "app_cpus", None) or []
        if any(c >= ncpus for c in app):
            bad(("devices", i, "app_cpus"), f"CPUs of 0-{ncpus - 1}", app)
        if node and getattr(d, "port", "root") != "root":
            bad(("devices", i, "node"), "a node is for a new root port (port = 'root'); "
                "below a switch the device is on the switch's node", node)
    _check_vms(spec, names, ncpus, bad)
    traffic: set[str] = set()
    for i, w in enumerate(spec.workloads):
        if w.kind == "traffic":
            if w.device not in nics:
                bad(("workloads", i, "device"), "not a 'nic' device "
                    f"({', '.join(nics) or 'there is none'})", w.device)
            elif w.device in traffic:
                bad(("workloads", i, "device"), "one traffic workload per NIC", w.device)
            traffic.add(w.device)
        if w.kind == "requests" and w.device != "*" and not known(w.device):
            bad(("workloads", i, "device"), f"not {hint} or '*'", w.device)
        if w.kind == "ipi":
            for key in ("src", "dst"):
                v = getattr(w, key)
                if isinstance(v, int) and not 0 <= v < ncpus:
                    bad(("workloads", i, key), f"no such CPU (0-{ncpus - 1})", v)


def _check_vms(spec: ExperimentFile, names: list[str], ncpus: int,
               bad: Callable[[Path_, str, Any], None]) -> None:
    """vCPUs on distinct existing CPUs, one KVM (apicv the same), assigned devices that
    are mq-nics assigned once, posted routes with remapping on."""
    models = dict(zip(names, (d.model for d in spec.devices), strict=True))
    used: dict[int, str] = {}
    assigned: set[str] = set()
    vm_names: set[str] = set()
    for i, vm in enumerate(spec.vms):
        if vm.name in vm_names:
            bad(("vms", i, "name"), "VM name used twice", vm.name)
        vm_names.add(vm.name)
        if vm.apicv != spec.vms[0].apicv:
            bad(("vms", i, "apicv"), "every VM has the same apicv (KVM's enable_apicv)",
                vm.apicv)
        for j, v in enumerate(vm.vcpus):
            if v.cpu >= ncpus:
                bad(("vms", i, "vcpus", j, "cpu"), f"no such CPU (0-{ncpus - 1})", v.cpu)
            elif v.cpu in used:
                bad(("vms", i, "vcpus", j, "cpu"), f"CPU taken by {used[v.cpu]}", v.cpu)
            used.setdefault(v.cpu, f"{vm.name} vCPU{j}")
        for j, a in enumerate(vm.assign):
            if models.get(a.device) != "mq-nic":
                bad(("vms", i, "assign", j, "device"), "not an mq-nic device (" + (
                    ", ".join(n for n, m in models.items() if m == "mq-nic") or "none")
                    + ")", a.device)
            elif a.device in assigned:
                bad(("vms", i, "assign", j, "device"), "assigned twice", a.device)
            assigned.add(a.device)
            if any(c >= ncpus for c in a.host_cpus) or not a.host_cpus:
                bad(("vms", i, "assign", j, "host_cpus"), f"CPUs of 0-{ncpus - 1}",
                    a.host_cpus)
            if a.posted and spec.platform.intremap not in ("on", "nosid"):
                bad(("vms", i, "assign", j, "posted"), "posted interrupts need [platform] "
                    "intremap = \"on\" (or \"nosid\")", a.posted)


def _ncpus(spec: ExperimentFile) -> int:
    t = spec.machine.topology if spec.machine else None
    if t is None:
        return 1
    return t.ncpus or t.sockets * t.cores * t.threads


def _port_ok(port: str, switches: dict[str, int]) -> bool:
    if port == "root":
        return True
    sw, _, n = port.rpartition(".")
    return sw in switches and n.isdigit() and int(n) < switches[sw]


def load_file(path: str | Path, sets: list[tuple[str, Any]] | None = None) -> Experiment:
    """Read and validate the experiment file at ``path``."""
    p = Path(path)
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ExperimentError([f"{p}: cannot read: {getattr(e, 'strerror', None) or e}"]
                              ) from None
    exp = load_text(text, str(p), p.resolve().parent, sets)
    missing = [f"{p}:{line_of(exp.lines, ('devices', i, 'file'))}: devices[{i}].file: no "
               f"such file (got {d.file!r})" for i, d in enumerate(exp.spec.devices)
               if d.model == "dump" and not (exp.base_dir / d.file).exists()]
    if missing:
        raise ExperimentError(missing)
    return exp
