"""A model wired by ``TriggerManager`` alone fires on ``save()`` and ``delete()`` too.

API.md lists ``obj.save()`` and ``obj.delete()`` among the operations that fire "through
``TriggerModelMixin``, or ``TriggerManager`` / ``TriggerQuerySet`` on any model": these
tests hold the second half of that sentence, on every database.
"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test.utils import CaptureQueriesContext

from bulk_triggers import HasChanged, Trigger, TriggerDepthError
from tests.recorder import record
from tests.wiringapp.models import WiredChild, WiredItem, WiredItemProxy, WiredLine, WiredOverride


def test_save_fires_create_then_update(using: str) -> None:
    """A new row fires create; saving it again fires update with the stored old row."""
    recorder = record(WiredItem, stages=("before", "after"))
    item = WiredItem(name="a", amount=1)
    item.save()
    assert recorder.events() == [("before", "create"), ("after", "create")]
    recorder.clear()
    item.amount = 2
    item.save()
    call = recorder.one("after", "update")
    assert call.column("amount") == [2]
    assert call.column("amount", "old") == [1]


def test_before_update_changes_are_saved(using: str) -> None:
    item = WiredItem.objects.create(name="a", amount=1)

    class Double(Trigger[WiredItem]):
        def on_before_update(self, new: list[WiredItem], old: list[WiredItem]) -> None:
            for row in new:
                row.amount *= 2

    item.amount = 5
    item.save(update_fields=["amount"])
    assert WiredItem.objects.get(pk=item.pk).amount == 10


def test_create_and_update_or_create_dispatch_once(using: str) -> None:
    """create() leaves the dispatch to save(): one call per stage, not two."""
    recorder = record(WiredItem, stages=("before", "after"))
    WiredItem.objects.create(name="a")
    WiredItem.objects.update_or_create(name="a", defaults={"amount": 3})
    assert recorder.events() == [
        ("before", "create"),
        ("after", "create"),
        ("before", "update"),
        ("after", "update"),
    ]


def test_delete_fires_with_the_deleted_row(using: str) -> None:
    item = WiredItem.objects.create(name="gone", amount=4)
    recorder = record(WiredItem, events=("delete",))
    assert item.delete() == (1, {"wiringapp.WiredItem": 1})
    assert recorder.one("after", "delete").column("name", "old") == ["gone"]
    assert not WiredItem.objects.filter(pk=item.pk).exists()


def test_override_calling_super_dispatches_once(using: str) -> None:
    """save()/delete() overrides that call super() reach the wrapper once per call."""
    recorder = record(WiredOverride, stages=("before", "after"))
    row = WiredOverride(name="o")
    row.save()
    row.name = "p"
    row.save()
    row.delete()
    assert recorder.events() == [
        ("before", "create"),
        ("after", "create"),
        ("before", "update"),
        ("after", "update"),
        ("before", "delete"),
        ("after", "delete"),
    ]
    assert recorder.one("after", "update").column("saves") == [2]


def test_multi_table_child_dispatches_once(using: str) -> None:
    """A child inherits the parent's manager and wrapped save(): its own triggers fire once."""
    recorder = record(WiredChild, stages=("after",))
    child = WiredChild(name="c", extra=1)
    child.save()
    child.extra = 2
    child.save()
    assert recorder.events() == [("after", "create"), ("after", "update")]
    assert recorder.one("after", "update").column("extra", "old") == [1]


def test_proxy_save_fires_concrete_and_proxy_triggers(using: str) -> None:
    concrete = record(WiredItem, stages=("after",), events=("update",))
    proxy = record(WiredItemProxy, stages=("after",), events=("update",))
    item = WiredItemProxy.objects.create(name="x")
    item.amount = 7
    item.save()
    assert concrete.column("after", "update", "amount") == [7]
    assert proxy.column("after", "update", "amount") == [7]


def test_base_manager_writes_fire(using: str) -> None:
    """A reverse foreign key's add() writes through the base manager: it fires too."""
    item = WiredItem.objects.create(name="owner")
    line = WiredLine.objects.create(label="l")
    recorder = record(WiredLine, stages=("after",), events=("update",))
    item.lines.add(line)
    assert recorder.column("after", "update", "item_id") == [item.pk]


def test_trigger_saving_its_row_again_dispatches_again(using: str) -> None:
    """Nesting works as with the mixin: a save from a trigger is dispatched (and bounded)."""
    item = WiredItem.objects.create(name="loop", amount=0)

    class SaveAgain(Trigger[WiredItem]):
        condition = HasChanged("amount")

        def on_after_update(self, new: list[WiredItem], old: list[WiredItem]) -> None:
            for row in new:
                row.amount += 1
                row.save()

    item.amount = 1
    with pytest.raises(TriggerDepthError):
        item.save()
    assert WiredItem.objects.get(pk=item.pk).amount == 0  # Rolled back as one unit.


def test_no_trigger_save_costs_what_django_costs(using: str) -> None:
    """Without a trigger for the event, the wrapped save() issues Django's queries only."""
    item = WiredItem.objects.create(name="q")
    item.amount = 3
    with CaptureQueriesContext(connections[using]) as queries:
        item.save()
    assert [q["sql"].split(None, 1)[0].upper() for q in queries.captured_queries] == ["UPDATE"]


@pytest.mark.django_db(transaction=True)
async def test_async_twins_fire(using: str) -> None:
    """asave() and adelete() run the wrapped methods: they fire as save() and delete()."""
    recorder = record(WiredItem, stages=("after",))
    try:
        item = WiredItem(name="async", amount=1)
        await item.asave()
        item.amount = 2
        await item.asave()
        await item.adelete()
        assert recorder.events() == [
            ("after", "create"),
            ("after", "update"),
            ("after", "delete"),
        ]
        assert recorder.one("after", "update").column("amount", "old") == [1]
    finally:
        await sync_to_async(connections.close_all)()
