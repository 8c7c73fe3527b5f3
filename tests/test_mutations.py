"""End to end: what before triggers change is written, and nothing else is, on every path."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections, models
from django.db.models import Case, F, Value, When
from django.db.models.functions import Upper
from django.test.utils import CaptureQueriesContext

from tests.recorder import Recorder, record
from tests.testapp.models import (
    CodeThing,
    Customer,
    Item,
    ItemProxy,
    ManagerOnly,
    Restaurant,
    UuidThing,
)

Ctx = dict[str, Any]


def _items() -> Ctx:
    c1, c2 = Customer.objects.create(name="c1"), Customer.objects.create(name="c2")
    specs = [("a", 1, c1), ("b", 2, c1), ("c", 3, c2)]
    rows = {n: Item.objects.create(name=n, amount=a, customer=c) for n, a, c in specs}
    return {"c1": c1, "c2": c2, **rows}


def _restaurants() -> Ctx:
    return {n: Restaurant.objects.create(name=n, seats=i) for i, n in enumerate("rs", 1)}


def _manager_only() -> Ctx:
    return {n: ManagerOnly.objects.create(name=n, amount=i) for i, n in enumerate("mn", 1)}


def _assign(objs: list[Any], **values: Any) -> list[Any]:
    for obj in objs:
        for name, value in values.items():
            setattr(obj, name, value)
    return objs


def _save(obj: models.Model, update_fields: list[str] | None = None, **values: Any) -> None:
    _assign([obj], **values)
    obj.save(update_fields=update_fields)


# The field each model's test trigger changes, and the written field it derives it from.
MUTATED: dict[type[models.Model], tuple[str, str | None]] = {
    Item: ("note", "amount"),
    Restaurant: ("name", "seats"),
    ManagerOnly: ("name", "amount"),
    UuidThing: ("label", None),
    CodeThing: ("label", None),
}


def _derived(row: Any) -> str:
    """Return what the trigger writes into the mutated field, given the row's other values."""
    _, source = MUTATED[type(row)._meta.concrete_model]
    return "made" if source is None else f"{source}={getattr(row, source)}"


def _mutate(rows: list[Any], *_: Any) -> None:
    for row in rows:
        setattr(row, MUTATED[type(row)._meta.concrete_model][0], _derived(row))


def _assert_mutation_stored(model: type[models.Model], rec: Recorder, event: str) -> None:
    pks = rec.column("after", event, "pk")
    assert pks, "the trigger was not called"
    field = MUTATED[model][0]
    rows = list(model._base_manager.filter(pk__in=pks))
    assert len(rows) == len(set(pks))
    assert [getattr(row, field) for row in rows] == [_derived(row) for row in rows]
    # The after stage receives the rows as stored, mutation included.
    assert rec.column("after", event, MUTATED[model][0]) == [
        _derived(model._base_manager.get(pk=pk)) for pk in pks
    ]


UPDATE_PATHS: dict[str, tuple[type[models.Model], Callable[[], Ctx], Callable[[Ctx], Any]]] = {
    "save": (Item, _items, lambda c: _save(c["a"], amount=5)),
    "save_update_fields": (
        Item,
        _items,
        lambda c: _save(c["a"], update_fields=["amount"], amount=5),
    ),
    "save_deferred": (
        Item,
        _items,
        lambda c: _save(Item.objects.defer("note").get(name="a"), amount=5),
    ),
    "update_or_create": (
        Item,
        _items,
        lambda c: Item.objects.update_or_create(name="a", defaults={"amount": 5}),
    ),
    "bulk_update": (
        Item,
        _items,
        lambda c: Item.objects.bulk_update(_assign([c["a"], c["b"]], amount=5), ["amount"]),
    ),
    "bulk_update_stale": (
        Item,
        lambda: {**_items(), "behind": Item.objects.update(note="db", status="db")},
        lambda c: Item.objects.bulk_update(_assign([c["a"], c["b"]], amount=5), ["amount"]),
    ),
    "save_update_fields_stale": (
        Item,
        lambda: {**_items(), "behind": Item.objects.update(note="db", status="db")},
        lambda c: _save(c["a"], update_fields=["amount"], amount=5),
    ),
    "bulk_update_deferred": (
        Item,
        _items,
        lambda c: Item.objects.bulk_update(
            _assign(list(Item.objects.defer("note", "data").filter(name__in="ab")), amount=5),
            ["amount"],
        ),
    ),
    "update_value": (Item, _items, lambda c: Item.objects.update(amount=5)),
    "update_f": (Item, _items, lambda c: Item.objects.update(amount=F("amount") + 10)),
    "update_case_when": (
        Item,
        _items,
        lambda c: Item.objects.update(
            amount=Case(When(name="a", then=Value(7)), default=F("amount") * 2)
        ),
    ),
    "update_annotated": (
        Item,
        _items,
        lambda c: (
            Item.objects.annotate(twice=F("amount") * 2)
            .filter(twice__gte=4)
            .update(amount=F("twice"))
        ),
    ),
    "update_across_relation": (
        Item,
        _items,
        lambda c: Item.objects.filter(customer__name="c1").update(amount=F("amount") + 1),
    ),
    "related_update": (Item, _items, lambda c: c["c1"].item_set.update(amount=9)),
    "proxy_update": (Item, _items, lambda c: ItemProxy.objects.update(amount=4)),
    "save_update_fields_by_relation_name": (
        Item,
        _items,
        lambda c: _save(c["a"], update_fields=["customer"], customer=c["c2"]),
    ),
    "bulk_update_by_relation_name": (
        Item,
        _items,
        lambda c: Item.objects.bulk_update(
            _assign([c["a"], c["c"]], customer=c["c1"]), ["customer"]
        ),
    ),
    "update_relation": (Item, _items, lambda c: Item.objects.update(customer=c["c2"])),
    "restaurant_save_update_fields": (
        Restaurant,
        _restaurants,
        lambda c: _save(c["r"], update_fields=["seats"], seats=8),
    ),
    "restaurant_bulk_update": (
        Restaurant,
        _restaurants,
        lambda c: Restaurant.objects.bulk_update(_assign([c["r"], c["s"]], seats=8), ["seats"]),
    ),
    "restaurant_update": (Restaurant, _restaurants, lambda c: Restaurant.objects.update(seats=8)),
    "restaurant_update_parent_field": (
        Restaurant,
        _restaurants,
        lambda c: Restaurant.objects.update(name=Upper("name")),
    ),
    "restaurant_save_parent_field": (
        Restaurant,
        _restaurants,
        lambda c: _save(c["s"], update_fields=["name"], name="S"),
    ),
    "manager_only_bulk_update": (
        ManagerOnly,
        _manager_only,
        lambda c: ManagerOnly.objects.bulk_update(_assign([c["m"]], amount=5), ["amount"]),
    ),
    "manager_only_update": (
        ManagerOnly,
        _manager_only,
        lambda c: ManagerOnly.objects.update(amount=F("amount") + 1),
    ),
}


@pytest.mark.parametrize("path", UPDATE_PATHS)
def test_before_update_change_to_an_unwritten_field_is_persisted(using: str, path: str) -> None:
    """A field set by a before trigger is written though the operation did not name it."""
    model, setup, run = UPDATE_PATHS[path]
    ctx = setup()
    rec = record(
        model, stages=["before", "after"], events=["update"], hooks={("before", "update"): _mutate}
    )
    run(ctx)
    _assert_mutation_stored(model, rec, "update")


def _times_ten(rows: list[Any], *_: Any) -> None:
    for row in rows:
        source = MUTATED[type(row)._meta.concrete_model][1]
        assert source is not None
        setattr(row, source, getattr(row, source) * 10)


@pytest.mark.parametrize("path", UPDATE_PATHS)
def test_before_update_override_of_the_written_field_wins(using: str, path: str) -> None:
    """A before trigger overriding the very field being written has the last word."""
    model, setup, run = UPDATE_PATHS[path]
    ctx = setup()
    rec = record(
        model, stages=["before"], events=["update"], hooks={("before", "update"): _times_ten}
    )
    run(ctx)
    source = MUTATED[model][1]
    assert source is not None
    received = dict(
        zip(
            rec.column("before", "update", "pk"),
            rec.column("before", "update", source),
            strict=True,
        )
    )
    assert received
    stored = dict(model._base_manager.filter(pk__in=received).values_list("pk", source))
    assert stored == {pk: value * 10 for pk, value in received.items()}


CREATE_PATHS: dict[str, tuple[type[models.Model], Callable[[Ctx], Any]]] = {
    "save": (Item, lambda c: Item(name="x", amount=4).save()),
    "create": (Item, lambda c: Item.objects.create(name="x", amount=4)),
    "get_or_create": (Item, lambda c: Item.objects.get_or_create(name="x", amount=4)),
    "update_or_create": (
        Item,
        lambda c: Item.objects.update_or_create(name="x", defaults={"amount": 4}),
    ),
    "bulk_create": (
        Item,
        lambda c: Item.objects.bulk_create([Item(name="x", amount=4), Item(name="y", amount=5)]),
    ),
    "related_create": (Item, lambda c: c["c1"].item_set.create(name="x", amount=4)),
    "proxy_bulk_create": (Item, lambda c: ItemProxy.objects.bulk_create([ItemProxy(name="x")])),
    "restaurant_save": (Restaurant, lambda c: Restaurant(name="x", seats=4).save()),
    "restaurant_create": (Restaurant, lambda c: Restaurant.objects.create(name="x", seats=4)),
    "manager_only_create": (ManagerOnly, lambda c: ManagerOnly.objects.create(name="x", amount=2)),
    "manager_only_bulk_create": (
        ManagerOnly,
        lambda c: ManagerOnly.objects.bulk_create([ManagerOnly(amount=2), ManagerOnly(amount=3)]),
    ),
    "uuid_save": (UuidThing, lambda c: UuidThing(label="x").save()),
    "uuid_bulk_create": (UuidThing, lambda c: UuidThing.objects.bulk_create([UuidThing()])),
    "code_save": (CodeThing, lambda c: CodeThing(code="x").save()),
    "code_create": (CodeThing, lambda c: CodeThing.objects.create(code="x")),
}


@pytest.mark.parametrize("path", CREATE_PATHS)
def test_before_create_change_is_inserted(using: str, path: str) -> None:
    """Values set by a before-create trigger are the ones inserted."""
    model, run = CREATE_PATHS[path]
    ctx = _items()
    rec = record(
        model, stages=["before", "after"], events=["create"], hooks={("before", "create"): _mutate}
    )
    run(ctx)
    _assert_mutation_stored(model, rec, "create")


STALE_PATHS: dict[str, Callable[[Item], Any]] = {
    "bulk_update": lambda a: Item.objects.bulk_update(_assign([a], amount=5), ["amount"]),
    "save_update_fields": lambda a: _save(a, update_fields=["amount"], amount=5),
    "save_deferred": lambda a: _save(Item.objects.defer("note", "price").get(pk=a.pk), amount=5),
    "bulk_update_deferred": lambda a: Item.objects.bulk_update(
        _assign([Item.objects.defer("note", "price").get(pk=a.pk)], amount=5), ["amount"]
    ),
}


@pytest.mark.parametrize("path", STALE_PATHS)
def test_fields_nobody_changed_are_not_written(using: str, path: str) -> None:
    """A stale value on the instance is not written back because a before trigger ran."""
    a = Item.objects.create(name="a", amount=1, note="old", price=1)
    a.refresh_from_db()
    Item.objects.filter(pk=a.pk).update(note="db", price=9)  # behind the instance's back

    def set_status(new: list[Item], old: list[Item]) -> None:
        for row in new:
            row.status = "seen"

    rec = record(
        Item, stages=["before"], events=["update"], hooks={("before", "update"): set_status}
    )
    STALE_PATHS[path](a)
    assert rec.of("before", "update")
    row = Item.objects.values("amount", "status", "note", "price").get(pk=a.pk)
    assert row == {"amount": 5, "status": "seen", "note": "db", "price": 9}


JSON_PATHS: dict[str, Callable[[Ctx], Any]] = {
    "save": lambda c: _save(c["a"], amount=5),
    "save_update_fields": lambda c: _save(c["a"], update_fields=["amount"], amount=5),
    "bulk_update": lambda c: Item.objects.bulk_update(_assign([c["a"]], amount=5), ["amount"]),
    "update_value": lambda c: Item.objects.filter(name="a").update(amount=5),
    "update_f": lambda c: Item.objects.filter(name="a").update(amount=F("amount") + 4),
}


@pytest.mark.parametrize("path", JSON_PATHS)
def test_in_place_json_change_is_detected_and_old_keeps_the_stored_document(
    using: str, path: str
) -> None:
    """new.data["k"] = 1 in a before trigger is written; old.data stays the stored document."""
    ctx = _items()
    Item.objects.filter(name="a").update(data={"keep": [1]})
    ctx["a"].refresh_from_db()

    def touch(new: list[Item], old: list[Item]) -> None:
        for row in new:
            row.data["k"] = 1
            row.data["keep"].append(2)

    rec = record(
        Item, stages=["before", "after"], events=["update"], hooks={("before", "update"): touch}
    )
    JSON_PATHS[path](ctx)
    assert Item.objects.get(name="a").data == {"keep": [1, 2], "k": 1}
    assert rec.column("after", "update", "data") == [{"keep": [1, 2], "k": 1}]
    assert rec.column("after", "update", "data", side="old") == [{"keep": [1]}]


@pytest.mark.parametrize("path", ["save", "create", "bulk_create"])
def test_in_place_json_change_on_create_is_inserted(using: str, path: str) -> None:
    """A before-create trigger filling a JSON document in place has it inserted."""

    def touch(new: list[Item]) -> None:
        for row in new:
            row.data["k"] = [row.name]

    record(Item, stages=["before"], events=["create"], hooks={("before", "create"): touch})
    if path == "save":
        Item(name="x").save()
    elif path == "create":
        Item.objects.create(name="x")
    else:
        Item.objects.bulk_create([Item(name="x")])
    assert Item.objects.get(name="x").data == {"k": ["x"]}


FK_PATHS: dict[str, Callable[[Ctx], Any]] = {
    "save_update_fields": lambda c: _save(c["a"], update_fields=["amount"], amount=5),
    "bulk_update": lambda c: Item.objects.bulk_update(_assign([c["a"]], amount=5), ["amount"]),
    "update": lambda c: Item.objects.filter(name="a").update(amount=5),
}


@pytest.mark.parametrize("path", FK_PATHS)
def test_before_change_of_a_relation_is_persisted(using: str, path: str) -> None:
    """Assigning a related instance (row.customer = other) in a before trigger writes its id."""
    ctx = _items()
    c2 = ctx["c2"]

    def move(new: list[Item], old: list[Item]) -> None:
        for row in new:
            row.customer = c2

    record(Item, stages=["before"], events=["update"], hooks={("before", "update"): move})
    FK_PATHS[path](ctx)
    assert Item.objects.values_list("customer_id", "amount").get(name="a") == (c2.pk, 5)


@pytest.mark.parametrize("path", ["save", "bulk_update", "update"])
def test_changes_to_old_are_ignored(using: str, path: str) -> None:
    """Changing old in a before trigger writes nothing and does not leak into new."""
    ctx = _items()

    def scribble(new: list[Item], old: list[Item]) -> None:
        for row in old:
            row.note = "scribbled"
            row.amount = -5

    rec = record(
        Item, stages=["before", "after"], events=["update"], hooks={("before", "update"): scribble}
    )
    if path == "save":
        _save(ctx["a"], status="done")
    elif path == "bulk_update":
        Item.objects.bulk_update(_assign([ctx["a"]], status="done"), ["status"])
    else:
        Item.objects.filter(name="a").update(status="done")
    assert Item.objects.values_list("note", "amount", "status").get(name="a") == ("", 1, "done")
    assert rec.column("after", "update", "note") == [""]


@pytest.mark.parametrize("path", ["update_f", "bulk_update"])
def test_mutation_of_some_rows_writes_every_row_once(using: str, path: str) -> None:
    """Rows a before trigger changed get the same write as the others, once, plus the change."""
    _items()

    def mark_even(new: list[Item], old: list[Item]) -> None:
        for row in new:
            if row.amount % 2 == 0:
                row.note = "even"

    record(Item, stages=["before"], events=["update"], hooks={("before", "update"): mark_even})
    if path == "update_f":
        count = Item.objects.update(amount=F("amount") + 1)
    else:
        objs = list(Item.objects.order_by("-pk"))
        for obj in objs:
            obj.amount += 1
        count = Item.objects.bulk_update(objs, ["amount"])
    assert count == 3
    assert sorted(Item.objects.values_list("name", "amount", "note")) == [
        ("a", 2, "even"),
        ("b", 3, ""),
        ("c", 4, "even"),
    ]


WRITES_AMOUNT: dict[str, Callable[[Ctx], Any]] = {
    "save_update_fields": lambda c: _save(c["a"], update_fields=["amount"], amount=5),
    "bulk_update": lambda c: Item.objects.bulk_update(
        _assign([c["a"], c["b"]], amount=5), ["amount"]
    ),
    "update_value": lambda c: Item.objects.filter(name__in="ab").update(amount=5),
    "update_f": lambda c: Item.objects.filter(name__in="ab").update(amount=F("amount") + 1),
}


def _assigned_columns(sql: str) -> set[str]:
    """Return the columns an UPDATE statement assigns (ignoring key comparisons in CASE)."""
    assignments = sql.split(" SET ", 1)[1].rsplit(" WHERE ", 1)[0]
    return set(re.findall(r'[`"](\w+)[`"] = ', assignments)) - {"id"}


@pytest.mark.parametrize("mutates", [False, True], ids=["untouched", "note_changed"])
@pytest.mark.parametrize("path", WRITES_AMOUNT)
def test_update_statements_assign_only_the_written_and_changed_columns(
    using: str, path: str, mutates: bool
) -> None:
    """The UPDATEs assign amount, plus note only when a before trigger changed it."""
    ctx = _items()

    def maybe_touch(new: list[Item], old: list[Item]) -> None:
        for row in new:
            if mutates:
                row.note = "changed"

    record(Item, stages=["before"], events=["update"], hooks={("before", "update"): maybe_touch})
    with CaptureQueriesContext(connections[using]) as queries:
        WRITES_AMOUNT[path](ctx)
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert updates
    assigned = set().union(*(_assigned_columns(sql) for sql in updates))
    assert assigned == ({"amount", "note"} if mutates else {"amount"})
