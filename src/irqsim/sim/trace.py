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

    Events are stored as plain tuples and turned into :class:`TraceEvent` objects
    when read, so recording costs one tuple per hop.
    """

    __slots__ = ("_raw", "_views", "limit", "on")

    def __init__(self, on: bool = False, limit: int | None = None) -> None:
        self.on = on
        self.limit = limit
        self._raw: list[tuple[int, str, str, str, dict[str, Any]]] = []
        self._views: list[TraceEvent] = []

    def emit(self, time: int, src: str, dst: str, kind: str, **fields: Any) -> None:
        """Record one event (callers check ``on`` first on hot paths)."""
        if self.on and (self.limit is None or len(self._raw) < self.limit):
            self._raw.append((time, src, dst, kind, fields))

    def __bool__(self) -> bool:
        """A tracer is always truthy, even with no events (``__len__`` would say otherwise)."""
        return True

    @property
    def events(self) -> list[TraceEvent]:
        """The recorded events, in emission order."""
        views, raw = self._views, self._raw
        if len(views) < len(raw):
            views.extend(TraceEvent(*r) for r in raw[len(views):])
        return views

    def __iter__(self) -> Iterator[TraceEvent]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self._raw)

    def of_kind(self, *kinds: str) -> list[TraceEvent]:
        return [e for e in self.events if e.kind in kinds]

    def to_jsonl(self) -> str:
        return "\n".join(json.dumps(e.as_dict()) for e in self.events)

    def clear(self) -> None:
        self._raw.clear()
        self._views.clear()
