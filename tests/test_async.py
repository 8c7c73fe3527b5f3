"""The async ORM twins fire the same events as their sync counterparts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.db.models import F

from bulk_triggers import Trigger, bypass
from tests.routers import routed_to
from tests.testapp.models import Item, Log

pytestmark = pytest.mark.django_db(transaction=True)

Call = tuple[str, str, str, list[Any], list[Any]]


@pytest.fixture
async def routed(using: str) -> AsyncIterator[str]:
    """Route the test's queries to its database; close the async ORM's connections after."""
    with routed_to(using):
        yield using
    await sync_to_async(connections.close_all)()


def recording_trigger(calls: list[Call]) -> type[Trigger[Item]]:
    """Define a trigger recording (stage, event, alias, new, old) of every method call."""

    def rows(objs: list[Item] | None) -> list[Any]:
        return sorted((o.name, o.amount) for o in objs or [])

    class Recorder(Trigger[Item]):
        def on_before_create(self, new: list[Item]) -> None:
            calls.append(("before", "create", self.using, rows(new), []))

        def on_after_create(self, new: list[Item]) -> None:
            calls.append(("after", "create", self.using, rows(new), []))

        def on_commit_create(self, new: list[Item]) -> None:
            calls.append(("commit", "create", self.using, rows(new), []))

        def on_before_update(self, new: list[Item], old: list[Item]) -> None:
            calls.append(("before", "update", self.using, rows(new), rows(old)))

        def on_after_update(self, new: list[Item], old: list[Item]) -> None:
            calls.append(("after", "update", self.using, rows(new), rows(old)))

        def on_commit_update(self, new: list[Item], old: list[Item]) -> None:
            calls.append(("commit", "update", self.using, rows(new), rows(old)))

        def on_before_delete(self, old: list[Item]) -> None:
            calls.append(("before", "delete", self.using, [], rows(old)))

        def on_after_delete(self, old: list[Item]) -> None:
            calls.append(("after", "delete", self.using, [], rows(old)))

        def on_commit_delete(self, old: list[Item]) -> None:
            calls.append(("commit", "delete", self.using, [], rows(old)))

    return Recorder


def seed() -> None:
    """Replace every item by a, b and c, without running triggers."""
    with bypass():
        Item.objects.all().delete()
        Item.objects.bulk_create(
            [Item(name="a", amount=1), Item(name="b", amount=2), Item(name="c", amount=3)]
        )


def _save_existing() -> None:
    row = Item.objects.get(name="a")
    row.amount = 10
    row.save()


async def _asave_existing() -> None:
    row = await Item.objects.aget(name="a")
    row.amount = 10
    await row.asave()


def _save_update_fields() -> None:
    row = Item.objects.get(name="a")
    row.amount, row.note = 10, "ignored"
    row.save(update_fields=["amount"])


async def _asave_update_fields() -> None:
    row = await Item.objects.aget(name="a")
    row.amount, row.note = 10, "ignored"
    await row.asave(update_fields=["amount"])


def _bulk_update() -> None:
    rows = list(Item.objects.filter(name__in=["a", "b"]))
    for row in rows:
        row.amount += 10
    Item.objects.bulk_update(rows, ["amount"])


async def _abulk_update() -> None:
    rows = [row async for row in Item.objects.filter(name__in=["a", "b"])]
    for row in rows:
        row.amount += 10
    await Item.objects.abulk_update(rows, ["amount"])


def _delete_instance() -> None:
    Item.objects.get(name="b").delete()


async def _adelete_instance() -> None:
    row = await Item.objects.aget(name="b")
    await row.adelete()


async def _asave_new() -> None:
    await Item(name="new", amount=5).asave()


async def _acreate() -> None:
    await Item.objects.acreate(name="new", amount=5)


async def _aget_or_create() -> None:
    await Item.objects.aget_or_create(name="new", defaults={"amount": 5})


async def _aupdate_or_create_new() -> None:
    await Item.objects.aupdate_or_create(name="new", defaults={"amount": 5})


async def _aupdate_or_create() -> None:
    await Item.objects.aupdate_or_create(name="a", defaults={"amount": 9})


async def _abulk_create() -> None:
    await Item.objects.abulk_create([Item(name="new", amount=5), Item(name="newer")])


async def _aupdate() -> None:
    await Item.objects.filter(amount__gte=2).aupdate(amount=F("amount") * 2)


async def _adelete_queryset() -> None:
    await Item.objects.filter(amount__lte=2).adelete()


# name -> (sync twin, async operation, the events it fires)
TWINS: dict[str, tuple[Callable[[], Any], Callable[[], Awaitable[Any]], str]] = {
    "asave-new": (lambda: Item(name="new", amount=5).save(), _asave_new, "create"),
    "asave-existing": (_save_existing, _asave_existing, "update"),
    "asave-update_fields": (_save_update_fields, _asave_update_fields, "update"),
    "acreate": (lambda: Item.objects.create(name="new", amount=5), _acreate, "create"),
    "aget_or_create": (
        lambda: Item.objects.get_or_create(name="new", defaults={"amount": 5}),
        _aget_or_create,
        "create",
    ),
    "aupdate_or_create-new": (
        lambda: Item.objects.update_or_create(name="new", defaults={"amount": 5}),
        _aupdate_or_create_new,
        "create",
    ),
    "aupdate_or_create": (
        lambda: Item.objects.update_or_create(name="a", defaults={"amount": 9}),
        _aupdate_or_create,
        "update",
    ),
    "abulk_create": (
        lambda: Item.objects.bulk_create([Item(name="new", amount=5), Item(name="newer")]),
        _abulk_create,
        "create",
    ),
    "abulk_update": (_bulk_update, _abulk_update, "update"),
    "aupdate": (
        lambda: Item.objects.filter(amount__gte=2).update(amount=F("amount") * 2),
        _aupdate,
        "update",
    ),
    "adelete-instance": (_delete_instance, _adelete_instance, "delete"),
    "adelete-queryset": (
        lambda: Item.objects.filter(amount__lte=2).delete(),
        _adelete_queryset,
        "delete",
    ),
}


def stored() -> list[tuple[str, int, str]]:
    """Return (name, amount, note) of every item."""
    return sorted(Item.objects.values_list("name", "amount", "note"))


@pytest.mark.parametrize("operation", TWINS)
async def test_async_twin_fires_same_events(routed: str, operation: str) -> None:
    """Each async operation fires the events of its sync twin, with the same rows."""
    run_sync, run_async, event = TWINS[operation]
    calls: list[Call] = []
    await sync_to_async(seed)()
    recording_trigger(calls)
    await sync_to_async(run_sync)()
    sync_calls, sync_rows = list(calls), await sync_to_async(stored)()
    calls.clear()
    await sync_to_async(seed)()
    await run_async()
    assert [(stage, ev) for stage, ev, *_ in calls] == [
        ("before", event),
        ("after", event),
        ("commit", event),
    ]
    assert {alias for _, _, alias, *_ in calls} == {routed}
    assert calls == sync_calls
    assert await sync_to_async(stored)() == sync_rows


async def test_async_before_mutation_written(routed: str) -> None:
    """A before trigger's change is written by aupdate, as by update."""

    class Stamp(Trigger[Item]):
        def on_before_update(self, new: list[Item], old: list[Item]) -> None:
            for row in new:
                row.note = f"was {row.amount - 1}"

    await sync_to_async(seed)()
    await Item.objects.filter(name="a").aupdate(amount=F("amount") + 1)
    row = await Item.objects.aget(name="a")
    assert (row.amount, row.note) == (2, "was 1")


@pytest.mark.parametrize("stage", ["before", "after"])
async def test_async_exception_rolls_back(routed: str, stage: str) -> None:
    """An exception in a trigger propagates unchanged out of an async operation and rolls back."""
    boom = RuntimeError("boom")

    def note_then_fail(current: str) -> None:
        Log.objects.create(kind=current)
        if current == stage:
            raise boom

    class Explosive(Trigger[Item]):
        def on_before_update(self, new: list[Item], old: list[Item]) -> None:
            note_then_fail("before")

        def on_after_update(self, new: list[Item], old: list[Item]) -> None:
            note_then_fail("after")

    await sync_to_async(seed)()
    before = await sync_to_async(stored)()
    with pytest.raises(RuntimeError) as raised:
        await Item.objects.aupdate(amount=50)
    assert raised.value is boom
    assert await sync_to_async(stored)() == before
    assert await Log.objects.acount() == 0
