"""Query counts: plain Django's cost without triggers, a constant extra with them."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections, models, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from bulk_triggers import bypass
from bulk_triggers.registry import registry
from bulk_triggers.trigger import EVENTS
from tests.recorder import Recorder, record
from tests.testapp.models import Item

Ctx = dict[str, Any]


def _plain() -> models.QuerySet[Item]:
    """Return Django's own QuerySet over Item, which knows nothing of triggers."""
    return models.QuerySet(model=Item)


def _items(count: int = 3) -> Ctx:
    with bypass():
        Item.objects.bulk_create(Item(name=f"i{n:04}", amount=n) for n in range(count))
    return {"items": list(Item.objects.order_by("pk"))}


def _changed(objs: list[Item]) -> list[Item]:
    for obj in objs:
        obj.amount += 1
    return objs


def _save(obj: Item, *, plain: bool, **kwargs: Any) -> None:
    obj.amount += 1
    if plain:
        models.Model.save(obj, **kwargs)
    else:
        obj.save(**kwargs)


# name -> (event, run with triggers' manager, run with Django's own code)
OPERATIONS: dict[str, tuple[str, Callable[[Ctx], Any], Callable[[Ctx], Any]]] = {
    "save_new": (
        "create",
        lambda c: Item(name="x").save(),
        lambda c: models.Model.save(Item(name="x")),
    ),
    "save_existing": (
        "update",
        lambda c: _save(c["items"][0], plain=False),
        lambda c: _save(c["items"][0], plain=True),
    ),
    "save_update_fields": (
        "update",
        lambda c: _save(c["items"][0], plain=False, update_fields=["amount"]),
        lambda c: _save(c["items"][0], plain=True, update_fields=["amount"]),
    ),
    "create": (
        "create",
        lambda c: Item.objects.create(name="x"),
        lambda c: _plain().create(name="x"),
    ),
    "get_or_create_creating": (
        "create",
        lambda c: Item.objects.get_or_create(name="x"),
        lambda c: _plain().get_or_create(name="x"),
    ),
    "get_or_create_getting": (
        "create",
        lambda c: Item.objects.get_or_create(name="i0001"),
        lambda c: _plain().get_or_create(name="i0001"),
    ),
    "update_or_create_creating": (
        "create",
        lambda c: Item.objects.update_or_create(name="x", defaults={"amount": 5}),
        lambda c: _plain().update_or_create(name="x", defaults={"amount": 5}),
    ),
    "update_or_create_updating": (
        "update",
        lambda c: Item.objects.update_or_create(name="i0001", defaults={"amount": 5}),
        lambda c: _plain().update_or_create(name="i0001", defaults={"amount": 5}),
    ),
    "bulk_create": (
        "create",
        lambda c: Item.objects.bulk_create([Item(name="x"), Item(name="y")]),
        lambda c: _plain().bulk_create([Item(name="x"), Item(name="y")]),
    ),
    "bulk_update": (
        "update",
        lambda c: Item.objects.bulk_update(_changed(c["items"]), ["amount"]),
        lambda c: _plain().bulk_update(_changed(c["items"]), ["amount"]),
    ),
    "update": (
        "update",
        lambda c: Item.objects.filter(amount__gt=0).update(status="done"),
        lambda c: _plain().filter(amount__gt=0).update(status="done"),
    ),
    "update_f": (
        "update",
        lambda c: Item.objects.update(amount=F("amount") + 1),
        lambda c: _plain().update(amount=F("amount") + 1),
    ),
    "queryset_delete": (
        "delete",
        lambda c: Item.objects.filter(amount__gt=0).delete(),
        lambda c: _plain().filter(amount__gt=0).delete(),
    ),
    "model_delete": (
        "delete",
        lambda c: c["items"][0].delete(),
        lambda c: models.Model.delete(c["items"][0]),
    ),
}


def _kinds(queries: CaptureQueriesContext) -> list[str]:
    """Return the first word of each statement: SELECT, UPDATE, SAVEPOINT, RELEASE..."""
    return [q["sql"].split(None, 1)[0].upper() for q in queries.captured_queries]


def _rolled_back_run(using: str, run: Callable[[], Any]) -> list[str]:
    """Run ``run`` in a savepoint that is rolled back; return the statements it issued."""
    with transaction.atomic(using=using):
        with CaptureQueriesContext(connections[using]) as queries:
            run()
        transaction.set_rollback(True, using=using)
    return _kinds(queries)


def _inactive(scenario: str, event: str) -> contextlib.AbstractContextManager[Any]:
    """Define triggers that do not apply to ``event``; return the context that keeps it so."""
    if scenario == "no_trigger":
        return contextlib.nullcontext()
    if scenario == "other_events":
        record(Item, events=[e for e in EVENTS if e != event])
        return contextlib.nullcontext()
    rec = record(Item)
    return {
        "bypass_all": bypass,
        "bypass_model": lambda: bypass(Item),
        "bypass_trigger": lambda: bypass(rec.trigger),  # type: ignore[arg-type]
    }[scenario]()


@pytest.mark.parametrize(
    "scenario", ["no_trigger", "other_events", "bypass_all", "bypass_model", "bypass_trigger"]
)
@pytest.mark.parametrize("name", OPERATIONS)
def test_without_an_active_trigger_the_operation_issues_djangos_statements(
    using: str, name: str, scenario: str
) -> None:
    """With no active trigger for the event, the statements are exactly plain Django's."""
    event, run, run_plain = OPERATIONS[name]
    ctx = _items()
    expected = _rolled_back_run(using, lambda: run_plain(ctx))
    ctx = {"items": list(Item.objects.order_by("pk"))}
    with _inactive(scenario, event):
        got = _rolled_back_run(using, lambda: run(ctx))
    assert got == expected
    assert expected, "the operation issued no statement at all"


def test_get_or_create_getting_costs_djangos_queries_with_create_triggers(using: str) -> None:
    """get_or_create finding its row fires nothing and costs nothing over Django."""
    _items()
    rec = record(Item)
    expected = _rolled_back_run(using, lambda: _plain().get_or_create(name="i0001"))
    assert _rolled_back_run(using, lambda: Item.objects.get_or_create(name="i0001")) == expected
    assert rec.calls == []


# name -> (event, run(rows, plain)): ``plain`` runs Django's own QuerySet instead of ours
BULK: dict[str, tuple[str, Callable[[int, bool], Any]]] = {
    "bulk_create": (
        "create",
        lambda n, plain: (_plain() if plain else Item.objects).bulk_create(
            Item(name=f"new{i}") for i in range(n)
        ),
    ),
    "bulk_update": (
        "update",
        lambda n, plain: (_plain() if plain else Item.objects).bulk_update(
            _changed(list(Item.objects.filter(name__startswith="i"))), ["amount"]
        ),
    ),
    "update": (
        "update",
        lambda n, plain: (
            (_plain() if plain else Item.objects).filter(name__startswith="i").update(status="done")
        ),
    ),
    "update_f": (
        "update",
        lambda n, plain: (_plain() if plain else Item.objects).update(amount=F("amount") * 2),
    ),
    "update_across_relation": (
        "update",
        lambda n, plain: (
            (_plain() if plain else Item.objects)
            .filter(customer__name__isnull=True, name__startswith="i")
            .update(note="x")
        ),
    ),
    "delete": (
        "delete",
        lambda n, plain: (
            (_plain() if plain else Item.objects).filter(name__startswith="i").delete()
        ),
    ),
}


def _extra_statements(using: str, name: str, rows: int) -> tuple[list[str], Recorder]:
    """Return the statements the operation adds to Django's own for ``rows`` rows."""
    event, run = BULK[name]
    _items(rows)
    plain = _rolled_back_run(using, lambda: run(rows, True))
    with registry.isolated():
        rec = record(Item, stages=["before", "after"], events=[event])
        triggered = _rolled_back_run(using, lambda: run(rows, False))
    Item.objects.all().delete()
    extra = list(triggered)
    for kind in plain:
        assert kind in extra, f"{kind} of Django's own statements is missing: {triggered}"
        extra.remove(kind)
    return sorted(extra), rec


@pytest.mark.parametrize("name", BULK)
def test_extra_statements_do_not_grow_with_the_number_of_rows(using: str, name: str) -> None:
    """The statements triggers add over Django's are the same for 10 rows and for 1,000."""
    small, small_rec = _extra_statements(using, name, 10)
    large, large_rec = _extra_statements(using, name, 1000)
    assert small == large
    event = BULK[name][0]
    side = "old" if event == "delete" else "new"
    assert len(small_rec.column("before", event, "pk", side)) == 10
    assert len(large_rec.column("after", event, "pk", side)) == 1000
    assert [len(c.new or c.old or []) for c in large_rec.calls] == [1000, 1000]


@pytest.mark.parametrize("name", ["save_existing", "save_update_fields", "model_delete"])
def test_single_instance_writes_load_old_with_one_locked_query(using: str, name: str) -> None:
    """Saving or deleting one instance with triggers reads its stored row once, not more."""
    event, run, run_plain = OPERATIONS[name]
    ctx = _items()
    plain = _rolled_back_run(using, lambda: run_plain(ctx))
    ctx = {"items": list(Item.objects.order_by("pk"))}
    record(Item, stages=["before", "after"], events=[event])
    with CaptureQueriesContext(connections[using]) as queries:
        run(ctx)
    selects = [q["sql"] for q in queries.captured_queries if q["sql"].upper().startswith("SELECT")]
    assert len(selects) == plain.count("SELECT") + 1
    if connections[using].features.has_select_for_update:
        assert any(re.search(r" FOR (NO KEY )?UPDATE", sql) for sql in selects)


@pytest.mark.parametrize("name", [name for name in BULK if name != "bulk_create"])
def test_old_rows_are_loaded_with_a_lock_where_the_backend_has_one(using: str, name: str) -> None:
    """The SELECT that loads old rows takes a row lock (FOR [NO KEY] UPDATE) where there is one."""
    event, run = BULK[name]
    _items(5)
    record(Item, stages=["before"], events=[event])
    with CaptureQueriesContext(connections[using]) as queries:
        run(5, False)
    loads = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    locking = connections[using].features.has_select_for_update
    assert loads
    assert [bool(re.search(r" FOR (NO KEY )?UPDATE", sql)) for sql in loads][-1] is locking
