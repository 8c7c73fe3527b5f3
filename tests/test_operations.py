"""End to end: every ORM write path fires its event, with the right rows, on every database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db import connections, models, transaction
from django.db.models import Case, Count, Exists, F, OuterRef, Sum, Value, When
from django.db.models.functions import Coalesce, Concat, NullIf, Upper
from django.test.utils import CaptureQueriesContext

from bulk_triggers import HasChanged, bypass
from bulk_triggers.trigger import STAGES
from tests.keysapp.models import KeysMember
from tests.recorder import Row, record, shape, stored
from tests.routers import routed_to
from tests.testapp.models import (
    CodeThing,
    Customer,
    Item,
    ItemProxy,
    ItemProxyProxy,
    ManagerOnly,
    Place,
    Restaurant,
    UuidThing,
)

Ctx = dict[str, Any]


# --- building data (always before any trigger is defined, so setup fires nothing) ---


def _items(*specs: tuple[str, int]) -> Ctx:
    return {name: Item.objects.create(name=name, amount=amount) for name, amount in specs}


def _abc() -> Ctx:
    return _items(("a", 1), ("b", 2), ("c", 3))


def _customers() -> Ctx:
    c1, c2 = Customer.objects.create(name="c1"), Customer.objects.create(name="c2")
    rows = {
        "a": Item.objects.create(name="a", amount=1, customer=c1),
        "b": Item.objects.create(name="b", amount=2, customer=c1),
        "c": Item.objects.create(name="c", amount=3, customer=c2),
    }
    return {"c1": c1, "c2": c2, **rows}


def _restaurant() -> Ctx:
    return {"r": Restaurant.objects.create(name="r", seats=3)}


def _manager_only() -> Ctx:
    return {
        "m": ManagerOnly.objects.create(name="m", amount=1),
        "n": ManagerOnly.objects.create(name="n", amount=2),
    }


def _save(obj: models.Model, update_fields: list[str] | None = None, **values: Any) -> None:
    for name, value in values.items():
        setattr(obj, name, value)
    obj.save(update_fields=update_fields)


def _set(objs: list[Any], **values: Any) -> list[Any]:
    for obj in objs:
        for name, value in values.items():
            setattr(obj, name, value)
    return objs


def _item_rows(*specs: tuple[str, int]) -> list[Row]:
    return [{"name": name, "amount": amount} for name, amount in specs]


@dataclass(frozen=True)
class Op:
    """One write path: how to prepare it, run it, and which rows each stage must receive."""

    id: str
    event: str | None
    run: Callable[[Ctx], Any]
    setup: Callable[[], Ctx] = dict
    new: list[Row] | None = None
    old: list[Row] | None = None
    model: type[models.Model] = Item
    created: int = 0

    def __str__(self) -> str:
        return self.id


A1, B2 = _item_rows(("a", 1), ("b", 2))

OPS = [
    # create
    Op("save_new", "create", lambda c: Item(name="a", amount=1).save(), new=[A1], created=1),
    Op("create", "create", lambda c: Item.objects.create(name="a", amount=1), new=[A1], created=1),
    Op(
        "get_or_create_creating",
        "create",
        lambda c: Item.objects.get_or_create(name="a", defaults={"amount": 1}),
        new=[A1],
        created=1,
    ),
    Op(
        "get_or_create_getting",
        None,
        lambda c: Item.objects.get_or_create(name="a", defaults={"amount": 9}),
        setup=_abc,
    ),
    Op(
        "update_or_create_creating",
        "create",
        lambda c: Item.objects.update_or_create(name="a", defaults={"amount": 1}),
        new=[A1],
        created=1,
    ),
    Op(
        "bulk_create",
        "create",
        lambda c: Item.objects.bulk_create([Item(name="a", amount=1), Item(name="b", amount=2)]),
        new=[A1, B2],
        created=2,
    ),
    Op(
        "related_create",
        "create",
        lambda c: c["c1"].item_set.create(name="d", amount=4),
        setup=_customers,
        new=_item_rows(("d", 4)),
        created=1,
    ),
    Op(
        "proxy_save_new",
        "create",
        lambda c: ItemProxy(name="a", amount=1).save(),
        new=[A1],
        created=1,
    ),
    Op(
        "proxy_create",
        "create",
        lambda c: ItemProxy.objects.create(name="a", amount=1),
        new=[A1],
        created=1,
    ),
    Op(
        "proxy_proxy_bulk_create",
        "create",
        lambda c: ItemProxyProxy.objects.bulk_create(
            [ItemProxyProxy(name="a", amount=1), ItemProxyProxy(name="b", amount=2)]
        ),
        new=[A1, B2],
        created=2,
    ),
    Op(
        "uuid_save_new",
        "create",
        lambda c: UuidThing(label="u").save(),
        model=UuidThing,
        new=[{"label": "u"}],
        created=1,
    ),
    Op(
        "uuid_create",
        "create",
        lambda c: UuidThing.objects.create(label="u"),
        model=UuidThing,
        new=[{"label": "u"}],
        created=1,
    ),
    Op(
        "code_save_new_pk",
        "create",
        lambda c: CodeThing(code="n", label="x").save(),
        setup=lambda: {"e": CodeThing.objects.create(code="e", label="old")},
        model=CodeThing,
        new=[{"code": "n", "label": "x"}],
        created=1,
    ),
    Op(
        "restaurant_save_new",
        "create",
        lambda c: Restaurant(name="r", seats=3).save(),
        model=Restaurant,
        new=[{"name": "r", "seats": 3}],
        created=1,
    ),
    Op(
        "restaurant_save_over_existing_place",
        "create",
        lambda c: Restaurant(place_ptr=c["p"], name="r", seats=2).save(),
        setup=lambda: {"p": Place.objects.create(name="p")},
        model=Restaurant,
        new=[{"name": "r", "seats": 2}],
        created=1,
    ),
    Op(
        "restaurant_create",
        "create",
        lambda c: Restaurant.objects.create(name="r", seats=3),
        model=Restaurant,
        new=[{"name": "r", "seats": 3}],
        created=1,
    ),
    Op(
        "manager_only_create",
        "create",
        lambda c: ManagerOnly.objects.create(name="m", amount=1),
        model=ManagerOnly,
        new=[{"name": "m", "amount": 1}],
        created=1,
    ),
    Op(
        "manager_only_bulk_create",
        "create",
        lambda c: ManagerOnly.objects.bulk_create([ManagerOnly(name="m"), ManagerOnly(name="n")]),
        model=ManagerOnly,
        new=[{"name": "m"}, {"name": "n"}],
        created=2,
    ),
    # update
    Op(
        "save_existing",
        "update",
        lambda c: _save(c["a"], amount=5),
        setup=_abc,
        new=_item_rows(("a", 5)),
        old=[A1],
    ),
    Op(
        "save_update_fields",
        "update",
        lambda c: _save(c["a"], update_fields=["amount"], amount=5, note="unsaved"),
        setup=_abc,
        new=_item_rows(("a", 5)),
        old=[{"name": "a", "amount": 1, "note": ""}],
    ),
    Op(
        "update_or_create_updating",
        "update",
        lambda c: Item.objects.update_or_create(name="a", defaults={"amount": 5}),
        setup=_abc,
        new=_item_rows(("a", 5)),
        old=[A1],
    ),
    Op(
        "bulk_update",
        "update",
        lambda c: Item.objects.bulk_update(_set([c["a"], c["b"]], amount=7), ["amount"]),
        setup=_abc,
        new=_item_rows(("a", 7), ("b", 7)),
        old=[A1, B2],
    ),
    Op(
        "update_values",
        "update",
        lambda c: Item.objects.filter(name__in=["a", "b"]).update(amount=7, status="done"),
        setup=_abc,
        new=[{"name": n, "amount": 7, "status": "done"} for n in "ab"],
        old=[{**A1, "status": "new"}, {**B2, "status": "new"}],
    ),
    Op(
        "update_json_value",
        "update",
        lambda c: Item.objects.filter(name="a").update(data={"k": [1, 2]}),
        setup=_abc,
        new=[{"name": "a", "data": {"k": [1, 2]}}],
        old=[{"name": "a", "data": {}}],
    ),
    Op(
        "update_f",
        "update",
        lambda c: Item.objects.filter(name__in=["a", "b"]).update(amount=F("amount") + 10),
        setup=_abc,
        new=_item_rows(("a", 11), ("b", 12)),
        old=[A1, B2],
    ),
    Op(
        "update_case_when",
        "update",
        lambda c: Item.objects.filter(name__in=["a", "b"]).update(
            amount=Case(When(name="a", then=Value(10)), default=Value(20))
        ),
        setup=_abc,
        new=_item_rows(("a", 10), ("b", 20)),
        old=[A1, B2],
    ),
    Op(
        "update_upper",
        "update",
        lambda c: Item.objects.filter(name__in=["a", "b"]).update(name=Upper("name")),
        setup=_abc,
        new=[{"name": "A"}, {"name": "B"}],
        old=[{"name": "a"}, {"name": "b"}],
    ),
    Op(
        "update_concat",
        "update",
        lambda c: Item.objects.filter(name__in=["a", "b"]).update(note=Concat("name", Value("!"))),
        setup=_abc,
        new=[{"name": "a", "note": "a!"}, {"name": "b", "note": "b!"}],
        old=[{"name": "a", "note": ""}, {"name": "b", "note": ""}],
    ),
    Op(
        "update_coalesce",
        "update",
        lambda c: Item.objects.filter(name__in=["a", "b"]).update(
            note=Coalesce(NullIf("note", Value("")), "name")
        ),
        setup=_abc,
        new=[{"name": "a", "note": "a"}, {"name": "b", "note": "b"}],
        old=[{"name": "a", "note": ""}, {"name": "b", "note": ""}],
    ),
    Op(
        "related_update",
        "update",
        lambda c: c["c1"].item_set.update(status="x"),
        setup=_customers,
        new=[{"name": "a", "status": "x"}, {"name": "b", "status": "x"}],
        old=[{"name": "a", "status": "new"}, {"name": "b", "status": "new"}],
    ),
    Op(
        "proxy_save_existing",
        "update",
        lambda c: _save(ItemProxy.objects.get(name="a"), amount=5),
        setup=_abc,
        new=_item_rows(("a", 5)),
        old=[A1],
    ),
    Op(
        "proxy_update",
        "update",
        lambda c: ItemProxy.objects.filter(name="a").update(amount=5),
        setup=_abc,
        new=_item_rows(("a", 5)),
        old=[A1],
    ),
    Op(
        "proxy_proxy_bulk_update",
        "update",
        lambda c: ItemProxyProxy.objects.bulk_update(
            _set(list(ItemProxyProxy.objects.filter(name="a")), amount=5), ["amount"]
        ),
        setup=_abc,
        new=_item_rows(("a", 5)),
        old=[A1],
    ),
    Op(
        "uuid_save_existing",
        "update",
        lambda c: _save(c["u"], label="v"),
        setup=lambda: {"u": UuidThing.objects.create(label="u")},
        model=UuidThing,
        new=[{"label": "v"}],
        old=[{"label": "u"}],
    ),
    Op(
        "code_save_existing_pk",
        "update",
        lambda c: CodeThing(code="e", label="new").save(),
        setup=lambda: {"e": CodeThing.objects.create(code="e", label="old")},
        model=CodeThing,
        new=[{"code": "e", "label": "new"}],
        old=[{"code": "e", "label": "old"}],
    ),
    Op(
        "restaurant_save_existing",
        "update",
        lambda c: _save(c["r"], name="r2", seats=4),
        setup=_restaurant,
        model=Restaurant,
        new=[{"name": "r2", "seats": 4}],
        old=[{"name": "r", "seats": 3}],
    ),
    Op(
        "restaurant_update",
        "update",
        lambda c: Restaurant.objects.filter(name="r").update(seats=5),
        setup=_restaurant,
        model=Restaurant,
        new=[{"name": "r", "seats": 5}],
        old=[{"name": "r", "seats": 3}],
    ),
    Op(
        "restaurant_update_parent_field",
        "update",
        lambda c: Restaurant.objects.filter(seats=3).update(name="r2"),
        setup=_restaurant,
        model=Restaurant,
        new=[{"name": "r2", "seats": 3}],
        old=[{"name": "r", "seats": 3}],
    ),
    Op(
        "manager_only_bulk_update",
        "update",
        lambda c: ManagerOnly.objects.bulk_update(_set([c["m"]], amount=9), ["amount"]),
        setup=_manager_only,
        model=ManagerOnly,
        new=[{"name": "m", "amount": 9}],
        old=[{"name": "m", "amount": 1}],
    ),
    Op(
        "manager_only_update_or_create_updating",
        "update",
        lambda c: ManagerOnly.objects.update_or_create(name="m", defaults={"amount": 5}),
        setup=_manager_only,
        model=ManagerOnly,
        new=[{"name": "m", "amount": 5}],
        old=[{"name": "m", "amount": 1}],
    ),
    Op(
        "manager_only_update_or_create_creating",
        "create",
        lambda c: ManagerOnly.objects.update_or_create(name="x", defaults={"amount": 5}),
        setup=_manager_only,
        model=ManagerOnly,
        new=[{"name": "x", "amount": 5}],
        created=1,
    ),
    Op(
        "manager_only_get_or_create_creating",
        "create",
        lambda c: ManagerOnly.objects.get_or_create(name="x", defaults={"amount": 5}),
        setup=_manager_only,
        model=ManagerOnly,
        new=[{"name": "x", "amount": 5}],
        created=1,
    ),
    Op(
        "manager_only_update",
        "update",
        lambda c: ManagerOnly.objects.update(amount=F("amount") * 3),
        setup=_manager_only,
        model=ManagerOnly,
        new=[{"name": "m", "amount": 3}, {"name": "n", "amount": 6}],
        old=[{"name": "m", "amount": 1}, {"name": "n", "amount": 2}],
    ),
    # delete
    Op("model_delete", "delete", lambda c: c["a"].delete(), setup=_abc, old=[A1]),
    Op(
        "model_delete_of_a_row_gone_meanwhile",
        None,
        lambda c: c["a"].delete(),
        setup=lambda: {**_abc(), "gone": Item.objects.filter(name="a").delete()},
    ),
    Op(
        "queryset_delete",
        "delete",
        lambda c: Item.objects.filter(name__in=["a", "b"]).delete(),
        setup=_abc,
        old=[A1, B2],
    ),
    Op(
        "related_delete",
        "delete",
        lambda c: c["c1"].item_set.all().delete(),
        setup=_customers,
        old=[A1, B2],
    ),
    Op(
        "proxy_model_delete",
        "delete",
        lambda c: ItemProxy.objects.get(name="a").delete(),
        setup=_abc,
        old=[A1],
    ),
    Op(
        "proxy_queryset_delete",
        "delete",
        lambda c: ItemProxyProxy.objects.filter(name__in=["a", "b"]).delete(),
        setup=_abc,
        old=[A1, B2],
    ),
    Op(
        "restaurant_delete",
        "delete",
        lambda c: c["r"].delete(),
        setup=_restaurant,
        model=Restaurant,
        old=[{"name": "r", "seats": 3}],
    ),
    Op(
        "restaurant_queryset_delete",
        "delete",
        lambda c: Restaurant.objects.filter(seats=3).delete(),
        setup=_restaurant,
        model=Restaurant,
        old=[{"name": "r", "seats": 3}],
    ),
    Op(
        "restaurant_delete_keep_parents",
        "delete",
        lambda c: c["r"].delete(keep_parents=True),
        setup=_restaurant,
        model=Restaurant,
        old=[{"name": "r", "seats": 3}],
    ),
    Op(
        "customer_delete_cascading",
        "delete",
        lambda c: c["c1"].delete(),
        setup=_customers,
        model=Customer,
        old=[{"name": "c1"}],
    ),
    Op(
        "customer_queryset_delete_cascading",
        "delete",
        lambda c: Customer.objects.filter(name__in=["c1", "c2"]).delete(),
        setup=_customers,
        model=Customer,
        old=[{"name": "c1"}, {"name": "c2"}],
    ),
    Op(
        "manager_only_delete",
        "delete",
        lambda c: ManagerOnly.objects.filter(name="m").delete(),
        setup=_manager_only,
        model=ManagerOnly,
        old=[{"name": "m", "amount": 1}],
    ),
]


def _members() -> Ctx:
    return {
        name: KeysMember.objects.create(tenant=1, number=n, name=name, amount=n)
        for n, name in enumerate("abc", start=1)
    }


def _member_rows(*specs: tuple[str, int]) -> list[Row]:
    return [{"name": name, "amount": amount} for name, amount in specs]


# The same paths on a model with a composite primary key (tenant, number).
OPS += [
    Op(
        f"composite_{op_id}",
        event,
        run,
        setup=setup,
        new=new,
        old=old,
        model=KeysMember,
        created=created,
    )
    for op_id, event, run, setup, new, old, created in [
        (
            "save_new",
            "create",
            lambda c: KeysMember(tenant=1, number=1, name="a", amount=1).save(),
            dict,
            _member_rows(("a", 1)),
            None,
            1,
        ),
        (
            "create",
            "create",
            lambda c: KeysMember.objects.create(tenant=1, number=1, name="a", amount=1),
            dict,
            _member_rows(("a", 1)),
            None,
            1,
        ),
        (
            "bulk_create",
            "create",
            lambda c: KeysMember.objects.bulk_create(
                [KeysMember(tenant=1, number=n, name=x, amount=n) for n, x in ((1, "a"), (2, "b"))]
            ),
            dict,
            _member_rows(("a", 1), ("b", 2)),
            None,
            2,
        ),
        (
            "save_existing",
            "update",
            lambda c: _save(c["a"], amount=5),
            _members,
            _member_rows(("a", 5)),
            _member_rows(("a", 1)),
            0,
        ),
        (
            "save_update_fields",
            "update",
            lambda c: _save(c["a"], update_fields=["amount"], amount=5, note="unsaved"),
            _members,
            _member_rows(("a", 5)),
            [{"name": "a", "amount": 1, "note": ""}],
            0,
        ),
        (
            "update_or_create_updating",
            "update",
            lambda c: KeysMember.objects.update_or_create(
                tenant=1, number=1, defaults={"amount": 5}
            ),
            _members,
            _member_rows(("a", 5)),
            _member_rows(("a", 1)),
            0,
        ),
        (
            "bulk_update",
            "update",
            lambda c: KeysMember.objects.bulk_update(_set([c["b"], c["a"]], amount=7), ["amount"]),
            _members,
            _member_rows(("a", 7), ("b", 7)),
            _member_rows(("a", 1), ("b", 2)),
            0,
        ),
        (
            "update_f",
            "update",
            lambda c: KeysMember.objects.filter(name__in=["a", "b"]).update(
                amount=F("amount") + 10
            ),
            _members,
            _member_rows(("a", 11), ("b", 12)),
            _member_rows(("a", 1), ("b", 2)),
            0,
        ),
        (
            "update_key_column",
            "update",
            lambda c: KeysMember.objects.filter(name__in=["a", "b"]).update(
                number=F("number") + 100
            ),
            _members,
            [{"name": "a", "number": 101}, {"name": "b", "number": 102}],
            [{"name": "a", "number": 1}, {"name": "b", "number": 2}],
            0,
        ),
        ("model_delete", "delete", lambda c: c["a"].delete(), _members, None, [A1], 0),
        (
            "queryset_delete",
            "delete",
            lambda c: KeysMember.objects.filter(pk__in=[(1, 1), (1, 2)]).delete(),
            _members,
            None,
            [A1, B2],
            0,
        ),
    ]
]

CREATES = [op for op in OPS if op.event == "create"]


def _project(rows: list[Row] | None, expected: list[Row] | None) -> list[Row] | None:
    """Keep, of each received row, only the keys that the expectation names."""
    if rows is None or expected is None:
        return rows
    keys = expected[0].keys()
    return [{key: row.get(key) for key in keys} for row in rows]


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("op", OPS, ids=str)
def test_operation_calls_its_event_with_its_rows(
    using: str, op: Op, stage: str, django_capture_on_commit_callbacks: Any
) -> None:
    """Each write path calls exactly its event's method of the stage, once, with its rows."""
    ctx = op.setup()
    rec = record(op.model, stages=[stage])
    with django_capture_on_commit_callbacks(using=using, execute=True):
        op.run(ctx)
    assert rec.events() == ([] if op.event is None else [(stage, op.event)])
    for call in rec.calls:
        assert (_project(call.new, op.new), _project(call.old, op.old)) == (op.new, op.old)
        assert call.using == using


@pytest.mark.parametrize("op", OPS, ids=str)
def test_operation_result_and_rows_are_djangos(using: str, op: Op) -> None:
    """With a trigger on every stage, the return value and the stored rows are Django's own."""
    record(op.model)
    with transaction.atomic(using=using):
        with bypass():
            ctx = op.setup()
            expected = (shape(op.run(ctx)), stored(op.model))
        transaction.set_rollback(True, using=using)
    ctx = op.setup()
    assert (shape(op.run(ctx)), stored(op.model)) == expected


@pytest.mark.parametrize("op", [op for op in OPS if op.event is not None], ids=str)
def test_before_stage_sees_the_table_before_the_write_and_after_stage_after_it(
    using: str, op: Op
) -> None:
    """The before stage runs before the SQL write, the after stage once it is done."""
    ctx = op.setup()
    initial = stored(op.model)
    seen: dict[str, list[Row]] = {}

    def look(stage: str) -> Callable[..., None]:
        return lambda *rows: seen.setdefault(stage, stored(op.model))

    assert op.event is not None
    record(op.model, hooks={(s, op.event): look(s) for s in ("before", "after")})
    op.run(ctx)
    assert seen == {"before": initial, "after": stored(op.model)}
    assert seen["before"] != seen["after"]


@pytest.mark.parametrize("op", CREATES, ids=str)
def test_create_after_stage_has_primary_keys_and_the_same_instances(using: str, op: Op) -> None:
    """After-create rows carry the stored primary keys and are the instances of the before stage."""
    ctx = op.setup()
    before_pks = set(op.model._base_manager.values_list("pk", flat=True))
    rec = record(op.model, stages=["before", "after"], events=["create"])
    op.run(ctx)
    before, after = rec.one("before", "create"), rec.one("after", "create")
    inserted = set(op.model._base_manager.values_list("pk", flat=True)) - before_pks
    assert len(inserted) == op.created
    assert set(after.column("pk")) == inserted
    assert after.new_objects is not None and before.new_objects is not None
    assert all(a is b for a, b in zip(after.new_objects, before.new_objects, strict=True))
    assert all(obj._state.adding is False for obj in after.new_objects)


def test_bulk_create_hands_the_callers_objects_to_both_stages(using: str) -> None:
    """bulk_create's triggers receive the very objects passed in, which it returns."""
    objs = [Item(name="a"), Item(name="b")]
    rec = record(Item, stages=["before", "after"], events=["create"])
    returned = Item.objects.bulk_create(objs)
    assert [o.pk for o in returned] == rec.column("after", "create", "pk")
    for stage in ("before", "after"):
        received = rec.one(stage, "create").new_objects
        assert received is not None and all(a is b for a, b in zip(received, objs, strict=True))


@pytest.mark.parametrize(
    "model",
    [Item, ItemProxy, ItemProxyProxy],
    ids=lambda m: m.__name__,
)
def test_rows_are_instances_of_the_model_the_operation_went_through(
    using: str, model: type[Item]
) -> None:
    """Through a proxy, the triggers of the concrete model receive instances of that proxy."""
    _abc()
    rec = record(Item, stages=["before"])
    model.objects.filter(name="a").update(amount=4)
    model.objects.bulk_update(_set(list(model.objects.filter(name="b")), amount=5), ["amount"])
    model.objects.filter(name="c").delete()
    model.objects.bulk_create([model(name="d")])
    kinds: dict[str, set[type]] = {}
    for call in rec.calls:
        rows = call.new_objects if call.new_objects is not None else call.old_objects
        kinds.setdefault(call.event, set()).update(type(row) for row in rows or [])
    assert kinds == {"create": {model}, "update": {model}, "delete": {model}}


PROXY_PATHS: dict[str, Callable[[type[Item]], Any]] = {
    "create": lambda m: m.objects.create(name="d"),
    "save_new": lambda m: m(name="d").save(),
    "bulk_create": lambda m: m.objects.bulk_create([m(name="d")]),
    "save_existing": lambda m: _save(m.objects.get(name="a"), amount=5),
    "bulk_update": lambda m: m.objects.bulk_update(
        _set(list(m.objects.all()), amount=5), ["amount"]
    ),
    "update": lambda m: m.objects.filter(name="a").update(amount=5),
    "model_delete": lambda m: m.objects.get(name="a").delete(),
    "queryset_delete": lambda m: m.objects.filter(name="a").delete(),
}


@pytest.mark.parametrize("path", PROXY_PATHS)
@pytest.mark.parametrize(
    ("through", "fires"),
    [(Item, False), (ItemProxy, True), (ItemProxyProxy, True)],
    ids=["Item", "ItemProxy", "ItemProxyProxy"],
)
def test_proxy_trigger_fires_only_through_its_proxy(
    using: str, path: str, through: type[Item], fires: bool
) -> None:
    """A trigger declared on ItemProxy ignores operations on Item, and sees those via the proxy."""
    _abc()
    rec = record(ItemProxy, stages=["after"])
    PROXY_PATHS[path](through)
    assert len(rec.calls) == (1 if fires else 0)


SAVE_CHOICES: dict[str, tuple[type[models.Model], Callable[[], Any], str]] = {
    "uuid_new": (UuidThing, lambda: UuidThing(label="x").save(), "create"),
    "uuid_existing": (UuidThing, lambda: _save(UuidThing.objects.get(), label="x"), "update"),
    "code_new": (CodeThing, lambda: CodeThing(code="n", label="x").save(), "create"),
    "code_existing": (CodeThing, lambda: CodeThing(code="e", label="x").save(), "update"),
    "code_force_insert": (
        CodeThing,
        lambda: CodeThing(code="f", label="x").save(force_insert=True),
        "create",
    ),
    "code_force_update": (
        CodeThing,
        lambda: CodeThing(code="e", label="x").save(force_update=True),
        "update",
    ),
}


@pytest.mark.parametrize("path", SAVE_CHOICES)
def test_save_chooses_create_or_update_like_django(using: str, path: str) -> None:
    """A default pk (UUID) saves new rows as creates; a natural pk updates only a stored row."""
    UuidThing.objects.create(label="u")
    CodeThing.objects.create(code="e", label="old")
    model, run, event = SAVE_CHOICES[path]
    count = model._base_manager.count()
    rec = record(model, stages=["before", "after"])
    run()
    assert rec.events() == [("before", event), ("after", event)]
    assert rec.column("after", event, "label") == ["x"]
    assert model._base_manager.filter(label="x").count() == 1
    assert model._base_manager.count() == count + (event == "create")


def test_saving_an_instance_whose_row_is_gone_is_a_create(using: str) -> None:
    """Django inserts an instance whose row was deleted meanwhile: triggers see a create."""
    item = Item.objects.create(name="gone", amount=1)
    Item.objects.filter(pk=item.pk).delete()
    rec = record(Item, stages=["before", "after"])
    item.note = "x"
    item.save()
    assert rec.events() == [("before", "create"), ("after", "create")]
    assert Item.objects.values_list("pk", "note").get() == (item.pk, "x")


def test_bulk_update_of_a_deleted_row_skips_it_and_returns_djangos_count(using: str) -> None:
    """bulk_update() hands triggers only the stored rows and returns Django's matched count."""
    ctx = _abc()
    Item.objects.filter(name="b").delete()
    rec = record(Item, stages=["before", "after"], events=["update"])
    objs = _set([ctx["a"], ctx["b"], ctx["c"]], amount=9)
    with transaction.atomic(using=using):
        with bypass():
            expected = Item.objects.bulk_update(objs, ["amount"])
        transaction.set_rollback(True, using=using)
    assert Item.objects.bulk_update(objs, ["amount"]) == expected == 2
    for stage in ("before", "after"):
        assert rec.column(stage, "update", "name") == ["a", "c"]
        assert rec.column(stage, "update", "name", side="old") == ["a", "c"]
    assert sorted(Item.objects.values_list("name", "amount")) == [("a", 9), ("c", 9)]


@pytest.mark.parametrize(
    "path",
    ["bulk_update_reversed", "update_case_when", "save_each"],
)
def test_new_and_old_are_the_same_row_after_condition_filtering(using: str, path: str) -> None:
    """With a condition keeping only some rows, new[i] and old[i] still describe one row."""
    ctx = _items(("a", 1), ("b", 2), ("c", 3), ("d", 4))
    rec = record(
        Item, stages=["before", "after"], events=["update"], condition=HasChanged("amount")
    )
    if path == "bulk_update_reversed":
        objs = [ctx[n] for n in "dcba"]
        ctx["b"].amount, ctx["d"].amount = 20, 40
        Item.objects.bulk_update(objs, ["amount", "note"])
    elif path == "update_case_when":
        Item.objects.update(
            amount=Case(
                When(name="b", then=Value(20)), When(name="d", then=Value(40)), default=F("amount")
            )
        )
    else:
        ctx["b"].amount, ctx["d"].amount = 20, 40
        for name in "dcba":
            ctx[name].save()
    for stage in ("before", "after"):
        pairs = [
            (n["pk"], n["name"], n["amount"], o["pk"], o["name"], o["amount"])
            for call in rec.of(stage, "update")
            for n, o in zip(call.new or [], call.old or [], strict=True)
        ]
        assert sorted(pairs) == [
            (ctx["b"].pk, "b", 20, ctx["b"].pk, "b", 2),
            (ctx["d"].pk, "d", 40, ctx["d"].pk, "d", 4),
        ]


@pytest.mark.parametrize("path", ["save", "save_update_fields", "bulk_update"])
def test_old_is_the_stored_row_not_the_instance(using: str, path: str) -> None:
    """old holds what is stored before the write, after-stage new what is stored after it."""
    a = _items(("a", 1))["a"]
    Item.objects.filter(pk=a.pk).update(amount=50, note="db")  # behind the instance's back
    rec = record(Item, stages=["before", "after"], events=["update"])
    a.status = "edited"
    if path == "save":
        a.save()
    elif path == "save_update_fields":
        a.save(update_fields=["status"])
    else:
        Item.objects.bulk_update([a], ["status"])
    before, after = rec.one("before", "update"), rec.one("after", "update")
    for call in (before, after):
        assert call.old == [{**call.old[0], "amount": 50, "note": "db", "status": "new"}]
        assert call.old_objects is not None and call.old_objects[0] is not a
    assert before.column("status") == ["edited"]
    stored_row = Item.objects.values().get(pk=a.pk)
    assert after.new == [{**stored_row, "pk": a.pk}]  # after: the stored values


RELATED_WRITES: dict[str, tuple[Callable[[Ctx], Any], list[tuple[str, str | None, str | None]]]] = {
    # name -> (run, [(item name, customer before, customer after)] per update call, in order)
    "add": (lambda c: c["c1"].item_set.add(c["c"]), [("c", "c2", "c1")]),
    "add_not_bulk": (lambda c: c["c1"].item_set.add(c["c"], bulk=False), [("c", "c2", "c1")]),
    "update": (
        lambda c: c["c1"].item_set.update(amount=F("amount")),
        [("a", "c1", "c1"), ("b", "c1", "c1")],
    ),
    "remove": (lambda c: c["c1"].item_set.remove(c["a"]), [("a", "c1", None)]),
    "clear": (lambda c: c["c1"].item_set.clear(), [("a", "c1", None), ("b", "c1", None)]),
}


@pytest.mark.parametrize("name", RELATED_WRITES)
def test_related_manager_writes_fire_update_with_the_relation_change(using: str, name: str) -> None:
    """add()/remove()/clear() of a reverse foreign key are updates of the items moved."""
    ctx = _customers()
    names = {ctx["c1"].pk: "c1", ctx["c2"].pk: "c2", None: None}
    rec = record(Item, stages=["before", "after"])
    run, expected = RELATED_WRITES[name]
    run(ctx)
    assert {call.event for call in rec.calls} == {"update"}
    for stage in ("before", "after"):
        rows = [
            (new["name"], names[old["customer_id"]], names[new["customer_id"]])
            for call in rec.of(stage, "update")
            for new, old in zip(call.new or [], call.old or [], strict=True)
        ]
        assert rows == expected
    moved = {n: names[c] for n, c in Item.objects.values_list("name", "customer_id")}
    assert all(moved[item] == after for item, _, after in expected)


def _available_other_aliases() -> list[Any]:
    return [
        pytest.param(alias, marks=pytest.mark.django_db(databases=["default", alias]))
        for alias in ("postgresql", "mysql")
        if alias in settings.DATABASES
    ]


EXPLICIT_ALIAS_PATHS: dict[str, Callable[[str], Any]] = {
    "save_using": lambda db: Item.objects.using(db).get(pk=1000).save(using=db),
    "save_update_fields_using": lambda db: (
        Item.objects.using(db).get(pk=1000).save(using=db, update_fields=["amount"])
    ),
    "bulk_update_using": lambda db: Item.objects.using(db).bulk_update(
        list(Item.objects.using(db).filter(pk=1000)), ["amount"]
    ),
    "update_using": lambda db: (
        Item.objects.using(db).filter(pk=1000).update(amount=F("amount") + 1)
    ),
    "db_manager_update": lambda db: Item.objects.db_manager(db).filter(pk=1000).update(note="n"),
    "delete_using": lambda db: Item.objects.using(db).filter(pk=1000).delete(),
    "model_delete_using": lambda db: Item.objects.using(db).get(pk=1000).delete(using=db),
}


@pytest.mark.parametrize("path", EXPLICIT_ALIAS_PATHS)
@pytest.mark.parametrize("other", _available_other_aliases())
def test_explicit_alias_is_used_for_old_rows_and_self_using(other: str, path: str) -> None:
    """Writing with .using(alias) loads old from that alias, even when the router says default."""
    with routed_to("default"):
        Item.objects.using("default").create(id=1000, name="a", amount=1)
        Item.objects.using(other).create(id=1000, name="a", amount=100)
        rec = record(Item, stages=["before", "after"], events=["update", "delete"])
        EXPLICIT_ALIAS_PATHS[path](other)
        default_row = Item.objects.using("default").get(pk=1000)
    assert rec.calls and {call.using for call in rec.calls} == {other}
    assert {o["amount"] for call in rec.calls for o in call.old or []} == {100}
    assert (default_row.amount, default_row.note) == (1, "")


@pytest.mark.parametrize("other", _available_other_aliases())
def test_explicit_alias_create_paths_insert_there(other: str) -> None:
    """create/bulk_create/save(using=) with a non-routed alias insert and dispatch on that alias."""
    with routed_to("default"):
        rec = record(Item, stages=["after"], events=["create"])
        Item.objects.db_manager(other).create(name="a")
        Item.objects.using(other).bulk_create([Item(name="b")])
        Item(name="c").save(using=other)
        names = sorted(Item.objects.using(other).values_list("name", flat=True))
        assert not Item.objects.using("default").exists()
    assert names == ["a", "b", "c"]
    assert [call.using for call in rec.calls] == [other] * 3


# --- bad input: refused before any trigger runs, exactly as Django refuses it ---


@dataclass(frozen=True)
class Bad:
    id: str
    run: Callable[[Ctx], Any]
    model: type[models.Model] = Item
    setup: Callable[[], Ctx] = field(default=_abc)

    def __str__(self) -> str:
        return self.id


BAD = [
    Bad("bulk_update_unsaved", lambda c: Item.objects.bulk_update([Item(name="x")], ["amount"])),
    Bad("bulk_update_no_fields", lambda c: Item.objects.bulk_update([c["a"]], [])),
    Bad("bulk_update_primary_key", lambda c: Item.objects.bulk_update([c["a"]], ["id"])),
    Bad("bulk_update_unknown_field", lambda c: Item.objects.bulk_update([c["a"]], ["nope"])),
    Bad(
        "bulk_update_non_concrete_field",
        lambda c: Customer.objects.bulk_update([c["c1"]], ["item"]),
        model=Customer,
        setup=_customers,
    ),
    Bad("bulk_update_batch_size_0", lambda c: Item.objects.bulk_update([c["a"]], ["amount"], 0)),
    Bad("bulk_create_batch_size_0", lambda c: Item.objects.bulk_create([Item(name="x")], 0)),
    Bad(
        "bulk_create_mti",
        lambda c: Restaurant.objects.bulk_create([Restaurant(name="r")]),
        model=Restaurant,
    ),
    Bad(
        "bulk_create_update_conflicts_without_fields",
        lambda c: Item.objects.bulk_create([Item(name="x")], update_conflicts=True),
    ),
    Bad(
        "bulk_create_ignore_and_update_conflicts",
        lambda c: Item.objects.bulk_create(
            [Item(name="x")], ignore_conflicts=True, update_conflicts=True
        ),
    ),
    Bad("update_sliced", lambda c: Item.objects.all()[:1].update(amount=9)),
    Bad("update_unknown_field", lambda c: Item.objects.update(nonexistent_field=1)),
    Bad(
        "update_reverse_relation",
        lambda c: Customer.objects.update(item=None),
        model=Customer,
        setup=_customers,
    ),
    Bad("update_aggregate", lambda c: Item.objects.update(amount=Sum("amount"))),
    Bad("update_joined_reference", lambda c: Item.objects.update(note=F("customer__name"))),
    Bad(
        "update_after_union",
        lambda c: (
            Item.objects.filter(name="a").union(Item.objects.filter(name="b")).update(amount=9)
        ),
    ),
    Bad("delete_sliced", lambda c: Item.objects.all()[:1].delete()),
    Bad("delete_after_values", lambda c: Item.objects.values("name").delete()),
    Bad(
        "delete_after_union",
        lambda c: Item.objects.filter(name="a").union(Item.objects.filter(name="b")).delete(),
    ),
    Bad("save_unknown_update_field", lambda c: c["a"].save(update_fields=["nope"])),
    Bad(
        "create_reverse_one_to_one",
        lambda c: Place.objects.create(name="p", restaurant=None),
        model=Place,
    ),
    Bad("model_delete_unsaved", lambda c: Item(name="x").delete()),
    Bad(
        "save_force_update_of_missing_row",
        lambda c: Item(pk=10**6, name="x").save(force_update=True),
    ),
    Bad(
        "save_force_insert_and_force_update",
        lambda c: c["a"].save(force_insert=True, force_update=True),
    ),
]


def _state(*models_: type[models.Model]) -> list[list[Row]]:
    return [stored(model) for model in models_]


def _raised(run: Callable[[], Any], using: str) -> BaseException:
    """Return what ``run`` raises, in a savepoint that Django may mark for rollback."""
    try:
        with transaction.atomic(using=using):
            run()
    except Exception as exc:
        return exc
    raise AssertionError("the operation did not raise")


@pytest.mark.parametrize("bad", BAD, ids=str)
def test_bad_input_is_refused_with_djangos_exception_before_any_trigger(
    using: str, bad: Bad
) -> None:
    """Django's own exception (type and message), no trigger call, and nothing written."""
    ctx = bad.setup()
    rec = record(bad.model)
    with bypass():
        expected = _raised(lambda: bad.run(ctx), using)
    state = _state(Item, Customer, Place)
    got = _raised(lambda: bad.run(ctx), using)
    assert (type(got), str(got)) == (type(expected), str(expected))
    assert rec.calls == []
    assert _state(Item, Customer, Place) == state


def test_unknown_update_field_is_field_does_not_exist(using: str) -> None:
    """update(nonexistent_field=1) raises FieldDoesNotExist as Django does."""
    record(Item)
    with pytest.raises(FieldDoesNotExist):
        Item.objects.update(nonexistent_field=1)


@pytest.mark.parametrize(
    "run",
    [
        lambda c: Item.objects.bulk_create([Item(name="x"), Customer(name="y")]),
        lambda c: Item.objects.bulk_update([c["a"], c["c1"]], ["name"]),
    ],
    ids=["bulk_create", "bulk_update"],
)
def test_objects_of_another_model_are_refused_naming_both_models(
    using: str, run: Callable[[Ctx], Any]
) -> None:
    """Objects of another model raise a TypeError naming both models, before any trigger runs."""
    ctx = {**_customers()}
    rec = record(Item)
    state = _state(Item, Customer)
    with pytest.raises(TypeError) as info:
        run(ctx)
    assert "Item" in str(info.value) and "Customer" in str(info.value)
    assert rec.calls == []
    assert _state(Item, Customer) == state


EMPTY: dict[str, Callable[[], Any]] = {
    "bulk_create": lambda: Item.objects.bulk_create([]),
    "bulk_update": lambda: Item.objects.bulk_update([], ["amount"]),
    "update_none": lambda: Item.objects.none().update(amount=1),
    "delete_none": lambda: Item.objects.none().delete(),
}


@pytest.mark.parametrize("path", EMPTY)
def test_empty_input_costs_no_query_and_fires_nothing(using: str, path: str) -> None:
    """Empty input returns Django's value, runs no query and calls no trigger."""
    _abc()
    rec = record(Item)
    with bypass():
        expected = EMPTY[path]()
    with CaptureQueriesContext(connections[using]) as queries:
        result = EMPTY[path]()
    assert result == expected
    assert [q["sql"] for q in queries.captured_queries] == []
    assert rec.calls == []


@pytest.mark.parametrize(
    "run",
    [
        lambda: Item.objects.filter(name="nope").delete(),
        lambda: Item.objects.filter(name="nope").update(amount=1),
        lambda: Item.objects.filter(name="nope").update(amount=F("amount") + 1),
    ],
    ids=["delete", "update", "update_f"],
)
def test_operation_matching_no_row_fires_nothing_and_returns_djangos(
    using: str, run: Callable[[], Any]
) -> None:
    """An update or delete whose queryset matches no row calls no trigger and returns Django's."""
    _abc()
    rec = record(Item)
    with bypass():
        expected = run()
    assert run() == expected
    assert rec.calls == []


DELETES: dict[str, Callable[[], models.QuerySet[Any]]] = {
    "across_relation": lambda: Item.objects.filter(customer__name="c1"),
    "distinct": lambda: Item.objects.filter(customer__name__startswith="c").distinct(),
    "annotated": lambda: Item.objects.annotate(twice=F("amount") * 2).filter(twice__gt=2),
    "aggregate_annotated": lambda: Item.objects.annotate(n=Count("customer__item")).filter(n__gt=1),
    "select_related": lambda: Item.objects.select_related("customer").filter(amount__gte=2),
    "ordered": lambda: Item.objects.order_by("-amount"),
    "exists": lambda: Item.objects.filter(
        Exists(Customer.objects.filter(pk=OuterRef("customer_id"), name="c2"))
    ),
    "only": lambda: Item.objects.only("name").filter(amount=1),
    "extra_where": lambda: Item.objects.extra(where=["amount >= 2"]),
    "pk_in_subquery": lambda: Item.objects.filter(
        pk__in=Item.objects.filter(amount__gte=2).values("pk")
    ),
    "select_for_update": lambda: Item.objects.select_for_update().filter(amount=3),
    "proxy": lambda: ItemProxy.objects.filter(amount=2),
    "customer_cascade": lambda: Customer.objects.filter(name="c1"),
}


@pytest.mark.parametrize("name", DELETES)
def test_queryset_delete_shapes_return_djangos_result_and_hand_over_the_rows(
    using: str, name: str
) -> None:
    """delete() through joins, annotations, distinct…: Django's result; old = the rows deleted."""
    _customers()
    model = DELETES[name]().model._meta.concrete_model
    initial = {row["id"]: row for row in model._base_manager.values()}
    rec = record(model, stages=["before", "after"], events=["delete"])
    with transaction.atomic(using=using):
        matched = set(DELETES[name]().values_list("pk", flat=True))
        with bypass():
            expected = DELETES[name]().delete()
        expected_rows = stored(Item), stored(Customer)
        transaction.set_rollback(True, using=using)
    assert matched
    assert DELETES[name]().delete() == expected
    assert (stored(Item), stored(Customer)) == expected_rows
    for stage in ("before", "after"):
        old = {r["pk"]: r for call in rec.of(stage, "delete") for r in call.old or []}
        assert set(old) == matched
        assert all({k: v for k, v in old[pk].items() if k != "pk"} == initial[pk] for pk in old)


CONFLICTS: dict[str, dict[str, Any]] = {
    "ignore_conflicts": {"ignore_conflicts": True},
    "update_conflicts": {
        "update_conflicts": True,
        "unique_fields": ["code"],
        "update_fields": ["label"],
    },
    "update_conflicts_without_unique_fields": {
        "update_conflicts": True,
        "update_fields": ["label"],
    },
}


def _outcome(run: Callable[[], Any], using: str, rollback: bool) -> tuple[Any, ...]:
    """Return ("ok", result shape, stored rows) or ("raised", type, message), in a savepoint."""
    try:
        with transaction.atomic(using=using):
            result = ("ok", shape(run()), stored(CodeThing))
            transaction.set_rollback(rollback, using=using)
    except Exception as exc:
        return ("raised", type(exc), str(exc))
    return result


@pytest.mark.parametrize("options", CONFLICTS)
def test_bulk_create_conflict_options_behave_as_django(using: str, options: str) -> None:
    """ignore_conflicts / update_conflicts: Django's result, error and rows; create for "n" only."""
    CodeThing.objects.create(code="e", label="old")
    rec = record(CodeThing, stages=["before", "after"], events=["create"])

    def run() -> Any:
        objs = [CodeThing(code="e", label="dup"), CodeThing(code="n", label="new")]
        return CodeThing.objects.bulk_create(objs, **CONFLICTS[options])

    with bypass():
        expected = _outcome(run, using, rollback=True)
    got = _outcome(run, using, rollback=False)
    assert got == expected
    if got[0] == "ok":
        assert rec.column("before", "create", "code") == ["n"]  # "e" was skipped or updated
    else:
        assert rec.calls == []


UPDATE_FIELDS_SHAPES: dict[str, Callable[[], Any]] = {
    "list": lambda: ["amount"],
    "tuple": lambda: ("amount",),
    "set": lambda: {"amount"},
    "generator": lambda: (name for name in ["amount"]),
    "dict_keys": lambda: {"amount": None}.keys(),
}


@pytest.mark.parametrize("shape_", UPDATE_FIELDS_SHAPES)
def test_save_update_fields_accepts_any_iterable_as_django_does(using: str, shape_: str) -> None:
    """save(update_fields=<any iterable>) writes those fields and fires update once."""
    a = _abc()["a"]
    rec = record(Item, stages=["before", "after"], events=["update"])
    a.amount, a.note = 42, "unsaved"
    a.save(update_fields=UPDATE_FIELDS_SHAPES[shape_]())
    assert Item.objects.values_list("amount", "note").get(pk=a.pk) == (42, "")
    assert rec.events() == [("before", "update"), ("after", "update")]
    assert rec.column("after", "update", "amount") == [42]


@pytest.mark.parametrize(
    "run",
    [
        lambda c: ItemProxy.objects.bulk_update(_set([c["a"], c["b"]], amount=9), ["amount"]),
        lambda c: len(ItemProxy.objects.bulk_create([Item(name="x"), ItemProxy(name="y")])),
    ],
    ids=["bulk_update", "bulk_create"],
)
def test_proxy_manager_accepts_instances_of_its_concrete_model_as_django_does(
    using: str, run: Callable[[Ctx], Any]
) -> None:
    """Instances of the concrete model through a proxy's manager: Django's result, triggers run."""
    ctx = _abc()
    rec = record(Item, stages=["after"])
    with transaction.atomic(using=using):
        with bypass():
            expected = (run(ctx), stored(Item))
        transaction.set_rollback(True, using=using)
    ctx = {name: Item.objects.get(name=name) for name in "abc"}
    assert (run(ctx), stored(Item)) == expected
    assert len(rec.calls) == 1 and len(rec.calls[0].new or []) == 2
