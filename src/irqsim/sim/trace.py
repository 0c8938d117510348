"""Structured trace of every hop: (time, source, destination, kind, fields).

Components hold a reference to the machine's :class:`Tracer` and test its
``on`` attribute before building an event, so tracing off costs one attribute
read per hop.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any


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


class Tracer:
    """Record of events; ``on`` gates recording.

    Events are stored column-wise in five lists of plain values and turned into
    :class:`TraceEvent` objects when read. Recording allocates no object the garbage
    collector tracks (the field dicts hold only ints and strings), so a long trace does not
    slow the simulation down through collections.

    Memory stays bounded on long runs: ``limit`` caps the events kept; ``keep_deliveries``
    keeps every event up to that many device events, then, for ``sample_deliveries`` more,
    only the first undisturbed delivery of each device (its device event up to the IRET
    of its handler, with no other device's event or message in between: what the
    sequence diagrams show); ``sink`` (a text file) receives every event as a JSON line as
    it happens. With nothing left to keep and no sink, tracing turns itself off (``on``
    False), so the rest of the run costs what an untraced one does.
    """

    __slots__ = ("_chunk", "_deliveries", "_done", "_dst", "_entered", "_fields", "_keeping",
                 "_kind", "_src", "_time", "_views", "keep_deliveries", "limit", "on",
                 "sample_deliveries", "sink", "streamed")

    def __init__(self, on: bool = False, limit: int | None = None,
                 keep_deliveries: int | None = None, sample_deliveries: int | None = None,
                 sink: IO[str] | None = None) -> None:
        self.on = on
        self.limit = limit
        self.keep_deliveries = keep_deliveries
        self.sample_deliveries = sample_deliveries
        self.sink = sink
        self.streamed = 0
        self._deliveries = 0
        self._keeping = limit != 0
        self._chunk: list[tuple[int, str, str, str, dict[str, Any]]] | None = None
        self._done: set[str] = set()        # devices whose undisturbed delivery is kept
        self._entered = False
        self._time: list[int] = []
        self._src: list[str] = []
        self._dst: list[str] = []
        self._kind: list[str] = []
        self._fields: list[dict[str, Any]] = []
        self._views: list[TraceEvent] = []

    def emit(self, time: int, src: str, dst: str, kind: str, **fields: Any) -> None:
        """Record one event (callers check ``on`` first on hot paths)."""
        if not self.on:
            return
        if self.sink is not None:
            self.sink.write(json.dumps({"time": time, "src": src, "dst": dst, "kind": kind,
                                        **fields}) + "\n")
            self.streamed += 1
        if not self._keeping:
            return
        if self.keep_deliveries is not None:
            if kind == "device-event":
                self._deliveries += 1
                if self.sample_deliveries is not None and \
                        self._deliveries > self.keep_deliveries + self.sample_deliveries:
                    self._stop_keeping()
                    return
            if self._deliveries > self.keep_deliveries:
                self._sample(time, src, dst, kind, fields)
                return
        self._append(time, src, dst, kind, fields)

    def _append(self, time: int, src: str, dst: str, kind: str, fields: dict[str, Any]) -> None:
        self._time.append(time)
        self._src.append(src)
        self._dst.append(dst)
        self._kind.append(kind)
        self._fields.append(fields)
        if self.limit is not None and len(self._time) >= self.limit:
            self._stop_keeping()

    def _sample(self, time: int, src: str, dst: str, kind: str, fields: dict[str, Any]) -> None:
        """Past the kept deliveries: buffer one device's delivery; keep it if undisturbed."""
        if kind == "device-event":
            self._chunk = [] if src not in self._done else None
            self._entered = False
        chunk = self._chunk
        if chunk is None:
            return
        device = chunk[0][1] if chunk else src
        source = fields.get("source", "")
        if source and not str(source).startswith(device):
            self._chunk = None
            return
        chunk.append((time, src, dst, kind, fields))
        if kind == "handler-entry":
            self._entered = True
        elif kind == "iret" and self._entered:
            for ev in chunk:
                self._append(*ev)
            self._done.add(device)
            self._chunk = None

    def _stop_keeping(self) -> None:
        self._keeping = False
        if self.sink is None:
            self.on = False

    def __bool__(self) -> bool:
        """A tracer is always truthy, even with no events (``__len__`` would say otherwise)."""
        return True

    @property
    def events(self) -> list[TraceEvent]:
        """The recorded events, in emission order."""
        views = self._views
        n = len(views)
        if n < len(self._time):
            views.extend(map(TraceEvent, self._time[n:], self._src[n:], self._dst[n:],
                             self._kind[n:], self._fields[n:]))
        return views

    def __iter__(self) -> Iterator[TraceEvent]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self._time)

    def of_kind(self, *kinds: str) -> list[TraceEvent]:
        return [e for e in self.events if e.kind in kinds]

    def to_jsonl(self) -> str:
        return "\n".join(json.dumps(e.as_dict()) for e in self.events)

    def clear(self) -> None:
        """Forget every event so far (a seekable sink is emptied too)."""
        for col in (self._time, self._src, self._dst, self._kind, self._fields, self._views):
            col.clear()
        self._deliveries = 0
        self._keeping = self.limit != 0
        if self.sink is not None and self.sink.seekable():
            self.sink.seek(0)
            self.sink.truncate()
            self.streamed = 0


# What a builder's ``trace`` argument takes: on/off, or a configured tracer.
TraceOption = bool | Tracer
