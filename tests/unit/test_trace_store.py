"""The tracer's flat event store (issue 12, tracing-on cost): an event recorded through a
declared shape and ``emitN`` is, for every reader, the event ``emit(**fields)`` records —
whatever the tracer's bounds (``limit``), sampling (``keep_deliveries`` /
``sample_deliveries``, issue 14) and sink; and shapes name only kinds of the TraceKind
table (issue 9)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irqsim.sim.trace import SHAPES, FixedShapes, Tracer, TraceShape, shape

KINDS = ["device-event", "MWr", "handler-entry", "iret", "eoi", "sw"]
NAMES = ["vector", "source", "address", "IF", "label"]
VALUES = st.one_of(st.integers(-3, 2**64), st.booleans(), st.sampled_from(
    ["a/msix0", "b/msix1", "", "x"]), st.none())
EVENT = st.tuples(st.integers(0, 10**9), st.sampled_from(["a", "b", "CPU0"]),
                  st.sampled_from(["a", "PCIe Bus", "Driver"]), st.sampled_from(KINDS),
                  st.lists(st.sampled_from(NAMES), unique=True, max_size=4), st.data())


def _config(draw_limit: int | None, keep: int | None, sample: int | None,
            sink: bool) -> tuple[Tracer, io.StringIO | None]:
    out = io.StringIO() if sink else None
    return Tracer(on=True, limit=draw_limit, keep_deliveries=keep, sample_deliveries=sample,
                  sink=out), out


def _emit_shaped(tr: Tracer, sh: TraceShape, time: int, src: str, dst: str,
                 values: list[Any]) -> None:
    [tr.emit0, tr.emit1, tr.emit2, tr.emit3, tr.emit4][len(values)](sh, time, src, dst,
                                                                     *values)


@settings(max_examples=60, deadline=None)
@given(events=st.lists(EVENT, max_size=40), limit=st.none() | st.integers(0, 30),
       keep=st.none() | st.integers(0, 5), sample=st.none() | st.integers(0, 5),
       sink=st.booleans())
def test_emit_n_records_what_emit_with_fields_records(events: list[Any], limit: int | None,
                                                      keep: int | None, sample: int | None,
                                                      sink: bool) -> None:
    """Events, JSON lines, text, length, ``on`` and the sink agree event for event."""
    old, old_sink = _config(limit, keep, sample, sink)
    new, new_sink = _config(limit, keep, sample, sink)
    for time, src, dst, kind, names, data in events:
        values = [data.draw(VALUES) for _ in names]
        old.emit(time, src, dst, kind, **dict(zip(names, values, strict=True)))
        _emit_shaped(new, shape(kind, *names), time, src, dst, values)
    assert [(e.time, e.src, e.dst, e.kind, list(e.fields.items())) for e in new.events] == \
        [(e.time, e.src, e.dst, e.kind, list(e.fields.items())) for e in old.events]
    assert new.to_jsonl() == old.to_jsonl()
    assert [str(e) for e in new] == [str(e) for e in old]
    assert (len(new), new.on, new.streamed) == (len(old), old.on, old.streamed)
    if sink:
        assert new_sink is not None and old_sink is not None
        assert new_sink.getvalue() == old_sink.getvalue()


def _put_bound(tr: Tracer, sh: TraceShape, time: int, values: list[Any]) -> None:
    [tr.put0, tr.put1, tr.put2, tr.put3, tr.put4][len(values)](sh, time, *values)


@settings(max_examples=60, deadline=None)
@given(events=st.lists(st.tuples(EVENT, st.integers(0, 4)), max_size=40),
       limit=st.none() | st.integers(0, 30), keep=st.none() | st.integers(0, 5),
       sample=st.none() | st.integers(0, 5), sink=st.booleans())
def test_bound_shape_records_what_emit_with_fields_records(
        events: list[Any], limit: int | None, keep: int | None, sample: int | None,
        sink: bool) -> None:
    """A shape bound to its source, destination and last values (``bind``), recorded with
    ``putN`` and the other values, reads back as ``emit(**fields)`` with all of them: events,
    JSON lines, text, length, ``on``, the sink, under every bound and sampling."""
    old, old_sink = _config(limit, keep, sample, sink)
    new, new_sink = _config(limit, keep, sample, sink)
    for (time, src, dst, kind, names, data), fixed in events:
        values = [data.draw(VALUES) for _ in names]
        old.emit(time, src, dst, kind, **dict(zip(names, values, strict=True)))
        k = min(fixed, len(values))
        bound = shape(kind, *names).bind(src, dst, *values[len(values) - k:])
        _put_bound(new, bound, time, values[:len(values) - k])
    assert [(e.time, e.src, e.dst, e.kind, list(e.fields.items())) for e in new.events] == \
        [(e.time, e.src, e.dst, e.kind, list(e.fields.items())) for e in old.events]
    assert new.to_jsonl() == old.to_jsonl()
    assert [str(e) for e in new] == [str(e) for e in old]
    assert (len(new), new.on, new.streamed) == (len(old), old.on, old.streamed)
    if sink:
        assert new_sink is not None and old_sink is not None
        assert new_sink.getvalue() == old_sink.getvalue()


def test_bound_shapes_keep_their_base_and_refuse_extra_values() -> None:
    """A bound shape names its base shape (what the sampling and the sink read) and cannot
    fix more values than the shape has fields."""
    eoi = shape("eoi", "vector")
    b = eoi.bind("LAPIC0", "LAPIC0")
    assert (b.base, b.bound, b.src, b.dst, b.kind, b.names) == \
        (eoi, True, "LAPIC0", "LAPIC0", "eoi", ("vector",))
    assert not eoi.bound and eoi.base is eoi
    with pytest.raises(ValueError):
        eoi.bind("a", "b", 1, 2)


def test_events_read_between_emits_and_after_clear() -> None:
    """Reading ``events`` midway and clearing keep the store and its views in step."""
    tr = Tracer(on=True)
    eoi = shape("eoi", "vector")
    tr.emit1(eoi, 1, "LAPIC0", "LAPIC0", 0x20)
    assert [e.fields for e in tr.events] == [{"vector": 0x20}]
    tr.emit(2, "a", "b", "sw", label="x")
    tr.emit0(shape("iret"), 3, "CPU0", "CPU0")
    assert [(e.time, e.kind, e.fields) for e in tr.events] == [
        (1, "eoi", {"vector": 0x20}), (2, "sw", {"label": "x"}), (3, "iret", {})]
    assert [e.time for e in tr.of_kind("sw", "iret")] == [2, 3]
    tr.clear()
    assert len(tr) == 0 and tr.events == []
    tr.emit1(eoi, 4, "LAPIC0", "LAPIC0", 0x21)
    assert [(e.time, e.fields) for e in tr.events] == [(4, {"vector": 0x21})]


def test_emit_n_records_nothing_when_off_and_follows_late_configuration() -> None:
    """``on`` False records nothing; a sink or limit set after construction applies."""
    tr = Tracer(on=False)
    tr.emit1(shape("eoi", "vector"), 1, "L", "L", 1)
    assert len(tr) == 0
    tr.on = True
    tr.sink = out = io.StringIO()
    tr.limit = 1
    tr.emit1(shape("eoi", "vector"), 2, "L", "L", 2)
    tr.emit1(shape("eoi", "vector"), 3, "L", "L", 3)
    assert len(tr) == 1 and tr.streamed == 2
    assert [json.loads(s)["time"] for s in out.getvalue().splitlines()] == [2, 3]


def test_shapes_are_shared_and_name_only_table_kinds() -> None:
    """One shape object per (kind, names); a kind outside TraceKind or a repeated field
    name is refused where the shape is declared."""
    assert shape("eoi", "vector") is shape("eoi", "vector") is SHAPES[("eoi", ("vector",))]
    assert shape("MWr", "address", "source").source_at == 1
    with pytest.raises(ValueError):
        shape("no-such-kind", "x")
    with pytest.raises(ValueError):
        shape("eoi", "vector", "vector")


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.integers(-2**70, 2**70) | st.sampled_from(
    [0xFEE00000, 0xFEE01000, 1000, 257, -1]), max_size=60))
def test_box_gives_an_equal_int_and_reuses_a_cached_one(values: list[int]) -> None:
    """``box`` returns an int equal to its argument (so recorded fields and time steps read
    back unchanged), the same object for a repeat of the last value of its cache slot."""
    tr = Tracer(on=True)
    for v in values:
        o = tr.box(v)
        assert type(o) is int and o == v
        assert tr.box(v) is o


@settings(max_examples=60, deadline=None)
@given(msgs=st.lists(st.tuples(st.sampled_from(["nic/msix0", "nic/msix1", "x/msi"]),
                               st.sampled_from([0xFEE00000, 0xFEE01000, 2**40]),
                               st.integers(0, 300), st.integers(0, 2)), max_size=30),
       limit=st.none() | st.integers(0, 20), sink=st.booleans())
def test_fixed_shapes_record_what_emit_with_fields_records(
        msgs: list[tuple[str, int, int, int]], limit: int | None, sink: bool) -> None:
    """An interrupt message's event through ``FixedShapes.of2`` / ``of3`` (every value in
    the shape, ``put0``) reads back as ``emit`` with its values, also after a source's
    values change (the driver rewrote its entry) and for an equal source string that is
    another object; a repeat reuses the source's shape."""
    old, old_sink = _config(limit, None, None, sink)
    new, new_sink = _config(limit, None, None, sink)
    mwr = FixedShapes(shape("MWr", "address", "data", "requester", "source"), "nic",
                      "PCIe Bus")
    iw = FixedShapes(shape("interrupt-write", "address", "data", "source"), "PCIe Bus",
                     "IOMMU")
    for t, (name, address, data, rid) in enumerate(msgs):
        # an equal string made anew at every other event (the cache keys on the object)
        source = name if t % 2 else "".join([name[:1], name[1:]])
        old.emit(t, "nic", "PCIe Bus", "MWr", address=address, data=data, requester=rid,
                 source=source)
        old.emit(t, "PCIe Bus", "IOMMU", "interrupt-write", address=address, data=data,
                 source=source)
        sh = mwr.of3(source, address, data, rid)
        assert mwr.of3(source, address, data, rid) is sh
        new.put0(sh, t)
        new.put0(iw.of2(source, address, data), t)
    assert new.to_jsonl() == old.to_jsonl()
    assert (len(new), new.on, new.streamed) == (len(old), old.on, old.streamed)
    if sink:
        assert new_sink is not None and old_sink is not None
        assert new_sink.getvalue() == old_sink.getvalue()
    with pytest.raises(ValueError):
        FixedShapes(shape("eoi", "vector"), "a", "b")
