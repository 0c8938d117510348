"""Structured trace of every hop: (time, source, destination, kind, fields).

Components hold a reference to the machine's :class:`Tracer` and test its
``on`` attribute before building an event, so tracing off costs one attribute
read per hop.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


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
    """Append-only record of events; ``on`` gates recording.

    Events are stored column-wise in five lists of plain values and turned into
    :class:`TraceEvent` objects when read. Recording allocates no object the garbage
    collector tracks (the field dicts hold only ints and strings), so a long trace does not
    slow the simulation down through collections.
    """

    __slots__ = ("_dst", "_fields", "_kind", "_src", "_time", "_views", "limit", "on")

    def __init__(self, on: bool = False, limit: int | None = None) -> None:
        self.on = on
        self.limit = limit
        self._time: list[int] = []
        self._src: list[str] = []
        self._dst: list[str] = []
        self._kind: list[str] = []
        self._fields: list[dict[str, Any]] = []
        self._views: list[TraceEvent] = []

    def emit(self, time: int, src: str, dst: str, kind: str, **fields: Any) -> None:
        """Record one event (callers check ``on`` first on hot paths)."""
        if self.on and (self.limit is None or len(self._time) < self.limit):
            self._time.append(time)
            self._src.append(src)
            self._dst.append(dst)
            self._kind.append(kind)
            self._fields.append(fields)

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
        for col in (self._time, self._src, self._dst, self._kind, self._fields, self._views):
            col.clear()
