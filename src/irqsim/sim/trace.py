"""Structured trace of every hop: (time, source, destination, kind, fields).

Components hold a reference to the machine's :class:`Tracer` and test its
``on`` attribute before building an event, so tracing off costs one attribute
read per hop.

A hot call site declares its event's shape once, at module level — the kind and the field
names, as data (:func:`shape`) — and records with the emit of its arity and positional
values::

    _T_EOI: Final = shape("eoi", "vector")
    ...
    if tracer.on:
        tracer.emit1(_T_EOI, now, self.name, self.name, v)

which records exactly what ``tracer.emit(now, self.name, self.name, "eoi", vector=v)``
does (that form stays for cold call sites and users). Where the source and destination are
fixed per component (a LAPIC's ``eoi`` is from and to itself), the component binds the shape
to them once, with any trailing field values that are fixed too, and records with ``putN``
and the other values only (two list slots less per event)::

    self._t_eoi = _T_EOI.bind(self.name, self.name)         # in __init__
    ...
    if tracer.on:
        tracer.put1(self._t_eoi, now, v)

Every reader (:class:`TraceEvent`, ``events``, ``of_kind``, ``to_jsonl``, the sink, the
sampling) derives the field names, and for a bound shape the endpoints and fixed values, from
the shape.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Final, final


@dataclass(slots=True, frozen=True)
class TraceEvent:
    """One hop or state change."""

    time: int
    src: str
    dst: str
    kind: str
    fields: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"time": self.time, "src": self.src, "dst": self.dst, "kind": self.kind,
                **self.fields}

    def __str__(self) -> str:
        extra = " ".join(f"{k}={_fmt(v)}" for k, v in self.fields.items())
        return f"{self.time:>10} ns  {self.src:<14} -> {self.dst:<14} {self.kind:<18} {extra}"


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int) and (v > 255 or v < 0):
        return hex(v)
    return str(v)


@final
class TraceShape:
    """An event's kind and field names, in the order the event lists them; a *bound* shape
    (:meth:`bind`) also carries the source, the destination and the trailing field values
    that are the same at every event of its call site."""

    __slots__ = ("arity", "base", "bound", "dst", "kind", "names", "source_at", "src",
                 "stored", "tail")

    def __init__(self, kind: str, names: tuple[str, ...]) -> None:
        self.kind = kind
        self.names = names
        self.arity = len(names)
        # where the ``source`` field is (the sampling reads it), -1: none
        self.source_at = names.index("source") if "source" in names else -1
        self.base = self
        self.bound = False
        self.src = ""
        self.dst = ""
        self.tail: tuple[Any, ...] = ()
        self.stored = 2 + self.arity     # slots after the time step: src, dst, values

    def bind(self, src: str, dst: str, *tail: Any) -> TraceShape:
        """This shape with the source, destination and last ``len(tail)`` field values
        fixed: a call site whose endpoints never change (a LAPIC's ``irr-set`` is from and
        to itself) records with :meth:`Tracer.put1` etc. only the time and the other values.
        Made once per component (in its ``__init__``), not per event."""
        if len(tail) > self.arity:
            raise ValueError(f"trace shape {self.kind!r}: {len(tail)} fixed values for "
                             f"{self.arity} fields")
        b = TraceShape(self.kind, self.names)
        b.base = self
        b.bound = True
        b.src = src
        b.dst = dst
        b.tail = tail
        b.stored = self.arity - len(tail)
        return b

    def fields(self, values: tuple[Any, ...] | list[Any]) -> dict[str, Any]:
        """The event's fields: each name with its value."""
        return dict(zip(self.names, values, strict=True))

    def matches(self, fields: dict[str, Any]) -> bool:
        """True when ``fields`` has this shape's names, in its order."""
        if len(fields) != self.arity:
            return False
        names = self.names
        for i, name in enumerate(fields):  # noqa: SIM110  (no generator per emit)
            if name != names[i]:
                return False
        return True

    def __repr__(self) -> str:
        if self.bound:
            return (f"TraceShape({self.kind!r}, {self.names!r}).bind({self.src!r}, "
                    f"{self.dst!r}{''.join(', ' + repr(v) for v in self.tail)})")
        return f"TraceShape({self.kind!r}, {self.names!r})"


@final
class _Fixed:
    """A bound shape with every field fixed, its source and its integer values (compared
    natively)."""

    __slots__ = ("a", "b", "c", "shape", "source")

    def __init__(self, source: str, a: int, b: int, c: int, shape: TraceShape) -> None:
        self.source = source
        self.a = a
        self.b = b
        self.c = c
        self.shape = shape


# FixedShapes' cache: slots per call site (a power of two), by the source string's address
_FIXED_SLOTS: Final = 256


@final
class FixedShapes:
    """The bound shapes of one call site whose fields are a few integers and a ``source``
    (last), each of which repeats for a given source: an interrupt message's address, data
    and requester are its MSI-X entry's until the driver rewrites it. :meth:`of2` /
    :meth:`of3` give the shape with every value fixed, so the event is stored as its shape
    and time step only (``Tracer.put0``). A shape is made at a source's first event and
    when its values change; it is found again through a direct-mapped cache keyed by the
    source string object's address (``id``: no hashing, which would box a 64-bit value),
    then a dict by source."""

    __slots__ = ("_by_source", "_slots", "dst", "shape", "src")

    def __init__(self, sh: TraceShape, src: str, dst: str) -> None:
        if sh.bound or sh.names[-1:] != ("source",):
            raise ValueError(f"{sh!r}: FixedShapes needs an unbound shape ending in 'source'")
        self.shape = sh
        self.src = src
        self.dst = dst
        self._slots: list[_Fixed | None] = [None] * _FIXED_SLOTS
        self._by_source: dict[str, _Fixed] = {}

    def of2(self, source: str, a: int, b: int) -> TraceShape:
        """The shape of an event with field values ``(a, b, source)``."""
        i = (id(source) >> 6) & (_FIXED_SLOTS - 1)
        f = self._slots[i]
        if f is None or f.source is not source or f.a != a or f.b != b:
            f = self._by_source.get(source)
            if f is None or f.a != a or f.b != b:
                f = _Fixed(source, a, b, 0, self.shape.bind(self.src, self.dst, a, b, source))
                self._by_source[source] = f
            self._slots[i] = f
        return f.shape

    def of3(self, source: str, a: int, b: int, c: int) -> TraceShape:
        """The shape of an event with field values ``(a, b, c, source)``."""
        i = (id(source) >> 6) & (_FIXED_SLOTS - 1)
        f = self._slots[i]
        if f is None or f.source is not source or f.a != a or f.b != b or f.c != c:
            f = self._by_source.get(source)
            if f is None or f.a != a or f.b != b or f.c != c:
                f = _Fixed(source, a, b, c,
                           self.shape.bind(self.src, self.dst, a, b, c, source))
                self._by_source[source] = f
            self._slots[i] = f
        return f.shape


# Every shape made so far, by (kind, field names): one object per distinct shape.
SHAPES: Final[dict[tuple[str, tuple[str, ...]], TraceShape]] = {}


# The last shape ``Tracer.emit`` used for each kind (most kinds have one).
_LAST: Final[dict[str, TraceShape]] = {}


def _shape(kind: str, names: tuple[str, ...]) -> TraceShape:
    key = (kind, names)
    sh = SHAPES.get(key)
    if sh is None:
        sh = SHAPES[key] = TraceShape(kind, names)
    return sh


def shape(kind: str, *names: str) -> TraceShape:
    """The shape of events of ``kind`` (a :class:`~irqsim.sim.kinds.TraceKind` value) with
    fields ``names``, for a call site's ``emitN``; declared once at module level."""
    from irqsim.sim.kinds import TraceKind
    TraceKind(kind)                      # ValueError if the kind is not in the table
    if len(set(names)) != len(names):
        raise ValueError(f"trace shape {kind!r}: repeated field name in {names}")
    return _shape(str(kind), names)


class Tracer:
    """Record of events; ``on`` gates recording.

    Events are stored flat in one list of plain values — per event its shape, its time as
    the step from the previous event's (mostly under 257 ns: CPython's cached small ints, so
    no int object is kept per event; larger steps share int objects through :meth:`box`),
    source, destination (not for a bound shape) and field values (not a bound shape's fixed
    ones; an interrupt message's are all fixed, :class:`FixedShapes`) — and turned into
    :class:`TraceEvent` objects when read. Recording allocates nothing beyond what the
    values are (no dict, tuple or other container the garbage collector would count or
    scan), so a long trace costs a few list slots per event.

    Memory stays bounded on long runs: ``limit`` caps the events kept; ``keep_deliveries``
    keeps every event up to that many device events, then, for ``sample_deliveries`` more,
    only the first undisturbed delivery of each device (its device event up to the IRET
    of its handler, with no other device's event or message in between: what the
    sequence diagrams show); ``sink`` (a text file) receives every event as a JSON line as
    it happens. With nothing left to keep and no sink, tracing turns itself off (``on``
    False), so the rest of the run costs what an untraced one does.
    """

    __slots__ = ("_box_o", "_box_v", "_chunk", "_deliveries", "_done", "_entered", "_flat",
                 "_keep_deliveries", "_keeping", "_last", "_limit", "_n", "_plain", "_pos",
                 "_sample_deliveries", "_sink", "_view_t", "_views", "on", "streamed")

    def __init__(self, on: bool = False, limit: int | None = None,
                 keep_deliveries: int | None = None, sample_deliveries: int | None = None,
                 sink: IO[str] | None = None) -> None:
        self.on = on
        self._limit = limit
        self._keep_deliveries = keep_deliveries
        self._sample_deliveries = sample_deliveries
        self._sink = sink
        self.streamed = 0
        self._deliveries = 0
        self._keeping = limit != 0
        self._chunk: list[tuple[TraceShape, int, str, str, tuple[Any, ...]]] | None = None
        self._done: set[str] = set()        # devices whose undisturbed delivery is kept
        self._entered = False
        self._flat: list[Any] = []          # per event: shape, time step, src, dst, values...
        self._last = 0                      # the time of the last event stored
        self._n = 0                         # events kept
        self._pos = 0                       # where in _flat the events not yet viewed start
        self._views: list[TraceEvent] = []
        self._view_t = 0                    # the time of the last event viewed
        self._plain = False
        # The last int object made for each of 256 classes of values (box); value i < 256
        # is in slot i
        self._box_v: list[int] = list(range(256))
        self._box_o: list[object] = list(range(256))
        self._settle()

    # -- configuration (a change takes effect at the next event) ---------------------------
    def _settle(self) -> None:
        """``_plain``: every event is kept as it comes (no sink, limit or sampling)."""
        self._plain = self._keeping and self._sink is None and self._limit is None \
            and self._keep_deliveries is None

    @property
    def limit(self) -> int | None:
        return self._limit

    @limit.setter
    def limit(self, value: int | None) -> None:
        self._limit = value
        self._settle()

    @property
    def keep_deliveries(self) -> int | None:
        return self._keep_deliveries

    @keep_deliveries.setter
    def keep_deliveries(self, value: int | None) -> None:
        self._keep_deliveries = value
        self._settle()

    @property
    def sample_deliveries(self) -> int | None:
        return self._sample_deliveries

    @sample_deliveries.setter
    def sample_deliveries(self, value: int | None) -> None:
        self._sample_deliveries = value

    @property
    def sink(self) -> IO[str] | None:
        return self._sink

    @sink.setter
    def sink(self, value: IO[str] | None) -> None:
        self._sink = value
        self._settle()

    # -- recording ----------------------------------------------------------------------------
    def box(self, v: int) -> object:
        """``v`` as an int object: the one made for an equal value before if it is still
        cached (a direct-mapped cache of 256), else a new one. Values over 256 are a new
        32-byte object each time Python boxes them; a trace keeps them, and most repeat
        (the time step over a handler body)."""
        i = (v ^ (v >> 12)) & 255
        if self._box_v[i] == v:
            return self._box_o[i]
        o: object = v
        self._box_v[i] = v
        self._box_o[i] = o
        return o

    def emit(self, time: int, src: str, dst: str, kind: str, **fields: Any) -> None:
        """Record one event (callers check ``on`` first on hot paths)."""
        if not self.on:
            return
        sh = _LAST.get(kind)
        if sh is None or not sh.matches(fields):
            sh = _LAST[kind] = _shape(kind, tuple(fields))
        if self._plain:
            f = self._flat
            f.append(sh)
            step = time - self._last
            f.append(step if step <= 256 else self.box(step))
            self._last = time
            f.append(src)
            f.append(dst)
            for v in fields.values():
                f.append(v)
            self._n += 1
        else:
            self._record(sh, time, src, dst, tuple(fields.values()))

    def emit0(self, sh: TraceShape, time: int, src: str, dst: str) -> None:
        """Record an event of shape ``sh`` (no fields)."""
        if self._plain and self.on:
            f = self._flat
            f.append(sh)
            step = time - self._last
            f.append(step if step <= 256 else self.box(step))
            self._last = time
            f.append(src)
            f.append(dst)
            self._n += 1
        elif self.on:
            self._record(sh, time, src, dst, ())

    def emit1(self, sh: TraceShape, time: int, src: str, dst: str, a: Any) -> None:
        """Record an event of shape ``sh`` with its one field's value."""
        if self._plain and self.on:
            f = self._flat
            f.append(sh)
            step = time - self._last
            f.append(step if step <= 256 else self.box(step))
            self._last = time
            f.append(src)
            f.append(dst)
            f.append(a)
            self._n += 1
        elif self.on:
            self._record(sh, time, src, dst, (a,))

    def emit2(self, sh: TraceShape, time: int, src: str, dst: str, a: Any, b: Any) -> None:
        """Record an event of shape ``sh`` with its two fields' values."""
        if self._plain and self.on:
            f = self._flat
            f.append(sh)
            step = time - self._last
            f.append(step if step <= 256 else self.box(step))
            self._last = time
            f.append(src)
            f.append(dst)
            f.append(a)
            f.append(b)
            self._n += 1
        elif self.on:
            self._record(sh, time, src, dst, (a, b))

    def emit3(self, sh: TraceShape, time: int, src: str, dst: str, a: Any, b: Any,
              c: Any) -> None:
        """Record an event of shape ``sh`` with its three fields' values."""
        if self._plain and self.on:
            f = self._flat
            f.append(sh)
            step = time - self._last
            f.append(step if step <= 256 else self.box(step))
            self._last = time
            f.append(src)
            f.append(dst)
            f.append(a)
            f.append(b)
            f.append(c)
            self._n += 1
        elif self.on:
            self._record(sh, time, src, dst, (a, b, c))

    def emit4(self, sh: TraceShape, time: int, src: str, dst: str, a: Any, b: Any, c: Any,
              d: Any) -> None:
        """Record an event of shape ``sh`` with its four fields' values."""
        if self._plain and self.on:
            f = self._flat
            f.append(sh)
            step = time - self._last
            f.append(step if step <= 256 else self.box(step))
            self._last = time
            f.append(src)
            f.append(dst)
            f.append(a)
            f.append(b)
            f.append(c)
            f.append(d)
            self._n += 1
        elif self.on:
            self._record(sh, time, src, dst, (a, b, c, d))

    # A bound shape's events (TraceShape.bind): the source, destination and fixed trailing
    # values are the shape's; the store keeps the shape, the time step and the other values.
    def put0(self, sh: TraceShape, time: int) -> None:
        """Record an event of the bound shape ``sh`` (no values besides the shape's)."""
        if self._plain and self.on:
            f = self._flat
            f.append(sh)
            step = time - self._last
            f.append(step if step <= 256 else self.box(step))
            self._last = time
            self._n += 1
        elif self.on:
            self._record(sh.base, time, sh.src, sh.dst, sh.tail)

    def put1(self, sh: TraceShape, time: int, a: Any) -> None:
        """Record an event of the bound shape ``sh`` with its first field's value."""
        if self._plain and self.on:
            f = self._flat
            f.append(sh)
            step = time - self._last
            f.append(step if step <= 256 else self.box(step))
            self._last = time
            f.append(a)
            self._n += 1
        elif self.on:
            self._record(sh.base, time, sh.src, sh.dst, (a, *sh.tail))

    def put2(self, sh: TraceShape, time: int, a: Any, b: Any) -> None:
        """Record an event of the bound shape ``sh`` with its first two fields' values."""
        if self._plain and self.on:
            f = self._flat
            f.append(sh)
            step = time - self._last
            f.append(step if step <= 256 else self.box(step))
            self._last = time
            f.append(a)
            f.append(b)
            self._n += 1
        elif self.on:
            self._record(sh.base, time, sh.src, sh.dst, (a, b, *sh.tail))

    def put3(self, sh: TraceShape, time: int, a: Any, b: Any, c: Any) -> None:
        """Record an event of the bound shape ``sh`` with its first three fields' values."""
        if self._plain and self.on:
            f = self._flat
            f.append(sh)
            step = time - self._last
            f.append(step if step <= 256 else self.box(step))
            self._last = time
            f.append(a)
            f.append(b)
            f.append(c)
            self._n += 1
        elif self.on:
            self._record(sh.base, time, sh.src, sh.dst, (a, b, c, *sh.tail))

    def put4(self, sh: TraceShape, time: int, a: Any, b: Any, c: Any, d: Any) -> None:
        """Record an event of the bound shape ``sh`` with its first four fields' values."""
        if self._plain and self.on:
            f = self._flat
            f.append(sh)
            step = time - self._last
            f.append(step if step <= 256 else self.box(step))
            self._last = time
            f.append(a)
            f.append(b)
            f.append(c)
            f.append(d)
            self._n += 1
        elif self.on:
            self._record(sh.base, time, sh.src, sh.dst, (a, b, c, d, *sh.tail))

    def _record(self, sh: TraceShape, time: int, src: str, dst: str,
                values: tuple[Any, ...]) -> None:
        """One event through the sink, the limit and the sampling (``on`` is true)."""
        sink = self._sink
        if sink is not None:
            sink.write(json.dumps({"time": time, "src": src, "dst": dst, "kind": sh.kind,
                                   **sh.fields(values)}) + "\n")
            self.streamed += 1
        if not self._keeping:
            return
        if self._keep_deliveries is not None:
            keep = self._keep_deliveries
            if sh.kind == "device-event":
                self._deliveries += 1
                sample = self._sample_deliveries
                if sample is not None and self._deliveries > keep + sample:
                    self._stop_keeping()
                    return
            if self._deliveries > keep:
                self._sample(sh, time, src, dst, values)
                return
        self._append(sh, time, src, dst, values)

    def _append(self, sh: TraceShape, time: int, src: str, dst: str,
                values: tuple[Any, ...]) -> None:
        f = self._flat
        f.append(sh)
        step = time - self._last
        f.append(step if step <= 256 else self.box(step))
        self._last = time
        f.append(src)
        f.append(dst)
        f.extend(values)
        self._n += 1
        if self._limit is not None and self._n >= self._limit:
            self._stop_keeping()

    def _sample(self, sh: TraceShape, time: int, src: str, dst: str,
                values: tuple[Any, ...]) -> None:
        """Past the kept deliveries: buffer one device's delivery; keep it if undisturbed."""
        kind = sh.kind
        if kind == "device-event":
            self._chunk = [] if src not in self._done else None
            self._entered = False
        chunk = self._chunk
        if chunk is None:
            return
        device = chunk[0][2] if chunk else src
        source = values[sh.source_at] if sh.source_at >= 0 else ""
        if source and not str(source).startswith(device):
            self._chunk = None
            return
        chunk.append((sh, time, src, dst, values))
        if kind == "handler-entry":
            self._entered = True
        elif kind == "iret" and self._entered:
            for ev in chunk:
                self._append(ev[0], ev[1], ev[2], ev[3], ev[4])
            self._done.add(device)
            self._chunk = None

    def _stop_keeping(self) -> None:
        self._keeping = False
        self._plain = False
        if self._sink is None:
            self.on = False

    # -- reading ------------------------------------------------------------------------------
    def __bool__(self) -> bool:
        """A tracer is always truthy, even with no events (``__len__`` would say otherwise)."""
        return True

    @property
    def events(self) -> list[TraceEvent]:
        """The recorded events, in emission order."""
        views = self._views
        flat = self._flat
        i = self._pos
        t = self._view_t
        end = len(flat)
        while i < end:
            sh: TraceShape = flat[i]
            t += flat[i + 1]
            if sh.bound:
                j = i + 2 + sh.stored
                values = flat[i + 2:j]
                values.extend(sh.tail)
                views.append(TraceEvent(t, sh.src, sh.dst, sh.kind, sh.fields(values)))
            else:
                j = i + 4 + sh.arity
                views.append(TraceEvent(t, flat[i + 2], flat[i + 3], sh.kind,
                                        sh.fields(flat[i + 4:j])))
            i = j
        self._pos = i
        self._view_t = t
        return views

    def __iter__(self) -> Iterator[TraceEvent]:
        return iter(self.events)

    def __len__(self) -> int:
        return self._n

    def of_kind(self, *kinds: str) -> list[TraceEvent]:
        return [e for e in self.events if e.kind in kinds]

    def to_jsonl(self) -> str:
        return "\n".join(json.dumps(e.as_dict()) for e in self.events)

    def clear(self) -> None:
        """Forget every event so far (a seekable sink is emptied too)."""
        self._flat.clear()
        self._views.clear()
        self._n = 0
        self._pos = 0
        self._last = self._view_t = 0
        self._deliveries = 0
        self._keeping = self._limit != 0
        self._settle()
        sink = self._sink
        if sink is not None and sink.seekable():
            sink.seek(0)
            sink.truncate()
            self.streamed = 0


# What a builder's ``trace`` argument takes: on/off, or a configured tracer.
TraceOption = bool | Tracer
