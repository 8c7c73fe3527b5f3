"""The observer hook (bulk_triggers.observers) and the call recorder the toolbar panel uses."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from bulk_triggers import Trigger, observers
from bulk_triggers.contrib.debug_toolbar.recorder import CallRecorder, RecordedCall
from bulk_triggers.observers import TriggerCall, observing
from bulk_triggers.testing import capture_triggers
from tests.toolbarapp.models import ToolbarNote, ToolbarOrder


def define_triggers() -> tuple[type[Trigger[Any]], type[Trigger[Any]]]:
    """Define a trigger on orders that writes notes, and one on notes that reads orders."""

    class WriteNotes(Trigger[ToolbarOrder]):
        def on_after_create(self, new: list[ToolbarOrder]) -> None:
            ToolbarNote.objects.bulk_create([ToolbarNote(order=o, text=o.name) for o in new])

    class StampNotes(Trigger[ToolbarNote]):
        def on_before_create(self, new: list[ToolbarNote]) -> None:
            orders = ToolbarOrder.objects.filter(pk__in=[note.order_id for note in new]).count()
            for note in new:
                note.text = f"{note.text} (1 of {orders})"

    return WriteNotes, StampNotes


def shape(call: RecordedCall) -> tuple[Any, ...]:
    """Return what the recorder says of ``call`` and, nested, of the calls under it."""
    return (
        call.label,
        call.stage,
        call.event,
        call.model,
        call.rows,
        call.using,
        call.depth,
        [shape(inner) for inner in call.calls],
    )


def place_two_orders() -> None:
    """Create two orders in one bulk_create."""
    ToolbarOrder.objects.bulk_create([ToolbarOrder(name="tea"), ToolbarOrder(name="cake")])


def test_recorder_nests_the_calls_a_trigger_write_dispatches(using: str) -> None:
    """A trigger's write runs the other model's triggers, recorded under the trigger's call."""
    write_notes, stamp_notes = define_triggers()
    with observing(CallRecorder()) as recorder:
        place_two_orders()
    assert isinstance(recorder, CallRecorder)
    assert [shape(call) for call in recorder.calls] == [
        (
            f"{write_notes.label}.on_after_create",
            "after",
            "create",
            "toolbarapp.ToolbarOrder",
            2,
            using,
            0,
            [
                (
                    f"{stamp_notes.label}.on_before_create",
                    "before",
                    "create",
                    "toolbarapp.ToolbarNote",
                    2,
                    using,
                    1,
                    [],
                )
            ],
        )
    ]
    assert sorted(ToolbarNote.objects.values_list("text", flat=True)) == [
        "cake (1 of 2)",
        "tea (1 of 2)",
    ]


def test_recorder_times_each_call_including_its_nested_calls(using: str) -> None:
    """Every call has a duration once it has returned; a parent's covers its children's."""
    define_triggers()
    with observing(CallRecorder()) as recorder:
        place_two_orders()
    assert isinstance(recorder, CallRecorder)
    (outer,) = recorder.calls
    (inner,) = outer.calls
    assert outer.duration is not None and inner.duration is not None
    assert 0 <= inner.duration <= outer.duration


def test_recorder_gives_each_query_to_the_innermost_running_call(using: str) -> None:
    """A call's queries are the ones it issued itself, each with its database alias."""
    define_triggers()
    with observing(CallRecorder()) as recorder:
        place_two_orders()
    assert isinstance(recorder, CallRecorder)
    (outer,) = recorder.calls
    (inner,) = outer.calls
    outer_sql = [query.sql.lower() for query in outer.queries]
    assert any(sql.startswith("insert") and "toolbarapp_toolbarnote" in sql for sql in outer_sql)
    assert not any("count(" in sql for sql in outer_sql)
    assert len(inner.queries) == 1
    assert "count(" in inner.queries[0].sql.lower()
    assert {query.using for query in [*outer.queries, *inner.queries]} == {using}
    assert all(query.duration >= 0 for query in [*outer.queries, *inner.queries])


def test_recorder_ignores_queries_outside_trigger_calls(using: str) -> None:
    """The operation's own statements, and those after the outermost call, are not recorded."""
    define_triggers()

    def writes_orders(sql: str) -> bool:
        return sql.lower().startswith(("insert", "update")) and "toolbarorder" in sql.lower()

    with (
        CaptureQueriesContext(connections[using]) as everything,
        observing(CallRecorder()) as recorder,
    ):
        place_two_orders()
        ToolbarOrder.objects.filter(name="tea").update(total=3)
    assert isinstance(recorder, CallRecorder)
    recorded = [query.sql for call in recorder.walk() for query in call.queries]
    assert 0 < len(recorded) < len(everything)
    assert sum(writes_orders(query["sql"]) for query in everything) == 2
    assert not any(writes_orders(sql) for sql in recorded)


def test_recorder_names_the_exception_a_call_raised(using: str) -> None:
    """A call that raises is recorded with its duration and exception, then queries stop."""

    class Refuse(Trigger[ToolbarOrder]):
        def on_before_create(self, new: list[ToolbarOrder]) -> None:
            ToolbarOrder.objects.count()
            raise ValueError("no orders today")

    with observing(CallRecorder()) as recorder, pytest.raises(ValueError, match="no orders"):
        place_two_orders()
    assert isinstance(recorder, CallRecorder)
    (call,) = recorder.calls
    assert (call.label, call.error, len(call.queries)) == (
        f"{Refuse.label}.on_before_create",
        "ValueError",
        1,
    )
    assert call.duration is not None
    ToolbarOrder.objects.count()
    assert len(call.queries) == 1
    assert not ToolbarOrder.objects.exists()


class Journal:
    """An observer writing down what it is told, under its own name."""

    def __init__(self, name: str, entries: list[tuple[str, ...]]) -> None:
        self.name = name
        self.entries = entries

    def started(self, call: TriggerCall) -> None:
        self.entries.append((self.name, "started", call.trigger.__name__, call.method))

    def finished(self, call: TriggerCall, error: BaseException | None) -> None:
        outcome = type(error).__name__ if error else "returned"
        self.entries.append((self.name, outcome, call.trigger.__name__, call.method))


def test_observers_are_told_around_each_call_innermost_last(using: str) -> None:
    """Observers hear a call start in the order installed and its end in reverse, nested."""
    define_triggers()
    entries: list[tuple[str, ...]] = []
    with observing(Journal("a", entries)), observing(Journal("b", entries)):
        place_two_orders()
    assert entries == [
        ("a", "started", "WriteNotes", "on_after_create"),
        ("b", "started", "WriteNotes", "on_after_create"),
        ("a", "started", "StampNotes", "on_before_create"),
        ("b", "started", "StampNotes", "on_before_create"),
        ("b", "returned", "StampNotes", "on_before_create"),
        ("a", "returned", "StampNotes", "on_before_create"),
        ("b", "returned", "WriteNotes", "on_after_create"),
        ("a", "returned", "WriteNotes", "on_after_create"),
    ]


def test_observer_sees_the_rows_the_method_receives(using: str) -> None:
    """A call's new and old are the method's own lists, and the operation's model and alias."""
    seen: list[tuple[Any, ...]] = []

    class Rename(Trigger[ToolbarOrder]):
        def on_before_update(self, new: list[ToolbarOrder], old: list[ToolbarOrder]) -> None:
            seen.append(("method", new, old))

    class Watch(Journal):
        def started(self, call: TriggerCall) -> None:
            seen.append(("observer", call.new, call.old, call.rows, call.model, call.using))

    place_two_orders()
    with observing(Watch("w", [])):
        ToolbarOrder.objects.update(total=5)
    (observed, method) = seen
    assert observed[1] is method[1] and observed[2] is method[2]
    assert observed[3:] == (2, ToolbarOrder, using)


def test_an_observer_raising_on_start_stops_the_call(using: str) -> None:
    """An observer raising on start stops the call; it is not told of the end, the others are."""
    define_triggers()
    entries: list[tuple[str, ...]] = []

    class Broken(Journal):
        def started(self, call: TriggerCall) -> None:
            raise RuntimeError("observer bug")

    with (
        observing(Journal("a", entries)),
        observing(Broken("b", entries)),
        pytest.raises(RuntimeError, match="observer bug"),
    ):
        place_two_orders()
    assert entries == [
        ("a", "started", "WriteNotes", "on_after_create"),
        ("a", "RuntimeError", "WriteNotes", "on_after_create"),
    ]
    assert not ToolbarOrder.objects.exists()


def test_without_observers_the_dispatcher_calls_the_method_directly(
    using: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no observer installed, no observer code runs around a trigger call."""
    define_triggers()
    runs: list[TriggerCall] = []
    real_run = observers.run

    def counting_run(watching: Any, call: TriggerCall, *args: Any) -> Any:
        runs.append(call)
        return real_run(watching, call, *args)

    monkeypatch.setattr(observers, "run", counting_run)
    place_two_orders()
    assert runs == []
    with capture_triggers() as captured:
        ToolbarOrder.objects.bulk_create([ToolbarOrder(name="jam")])
    assert len(runs) == len(captured) == 2
    assert observers.current() == ()


def test_observers_belong_to_the_thread_or_task_that_installed_them() -> None:
    """Another thread, or an asyncio task started outside the block, sees no observer."""
    seen: dict[str, tuple[Any, ...]] = {}

    async def look(name: str) -> None:
        seen[name] = observers.current()

    async def tasks() -> None:
        outside = asyncio.create_task(look("task started outside"))
        with observing(Journal("j", [])):
            await asyncio.create_task(look("task started inside"))
            thread = threading.Thread(target=lambda: seen.update(thread=observers.current()))
            thread.start()
            thread.join()
        await outside

    asyncio.run(tasks())
    assert [len(seen[name]) for name in ("task started outside", "task started inside")] == [0, 1]
    assert seen["thread"] == ()
