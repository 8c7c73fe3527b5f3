"""Issue 9: triggers see exactly what is stored, on every write path and model shape.

One table of operations (save, create, get_or_create/update_or_create, bulk_create,
bulk_update, update, related managers, async twins) over models with a
``ForeignKey(to_field=...)``, a ``GeneratedField``, a ``db_default``, ``auto_now``, a
datetime and JSON: every row the after and commit stages receive must equal the row
stored in the database.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import connections
from django.db.models import F, Value
from django.db.models.expressions import DatabaseDefault
from django.db.models.functions import Coalesce, Now
from django.test.utils import CaptureQueriesContext

from bulk_triggers import ChangesFrom, ChangesTo, Condition, IsEqual, WasEqual, bypass
from bulk_triggers.computed import pending, read_back
from tests.recorder import Recorder, record
from tests.shapesapp.models import ShAccount, ShOrder, ShParcel, ShWarehouse

Ctx = dict[str, Any]
DUE = datetime(2030, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
NAIVE = pytest.mark.filterwarnings("ignore:DateTimeField .* received a naive datetime")


def seed() -> Ctx:
    """Create the rows every operation starts from (before any trigger exists)."""
    acc = ShAccount.objects.create(name="acc")
    w1 = ShWarehouse.objects.create(code="W1")
    w2 = ShWarehouse.objects.create(code="W2")
    return {
        "acc": acc,
        "o": ShOrder.objects.create(quantity=1, account=acc),
        "o2": ShOrder.objects.create(quantity=2, due=DUE),
        "w1": w1,
        "w2": w2,
        "p": ShParcel.objects.create(warehouse=w1),
    }


def _sync(make: Callable[[], Awaitable[Any]]) -> Any:
    """Run an async ORM call from a sync test, in this thread and its transaction."""

    async def run() -> Any:
        return await make()

    return async_to_sync(run)()


def _set(obj: Any, **values: Any) -> Any:
    for name, value in values.items():
        setattr(obj, name, value)
    return obj


def _fresh_fk(c: Ctx) -> ShOrder:
    """An order whose account was assigned unsaved and saved afterwards (item 9)."""
    acc = c.get("late") or ShAccount(name="late")
    order = _set(c["o"], account=acc)
    acc.save()
    return order  # type: ignore[no-any-return]


def _new_with_fresh_fk(c: Ctx) -> ShOrder:
    acc = c.get("late") or ShAccount(name="late")
    order = ShOrder(quantity=3, account=acc)
    acc.save()
    return order


OPERATIONS: dict[str, Callable[[Ctx], Any]] = {
    # create
    "save-new": lambda c: ShOrder(quantity=3).save(),
    "create": lambda c: ShOrder.objects.create(quantity=3),
    "get_or_create": lambda c: ShOrder.objects.get_or_create(quantity=3, status="goc"),
    "bulk_create": lambda c: ShOrder.objects.bulk_create([ShOrder(quantity=3), ShOrder()]),
    "acreate": lambda c: _sync(lambda: ShOrder.objects.acreate(quantity=3)),
    "abulk_create": lambda c: _sync(lambda: ShOrder.objects.abulk_create([ShOrder(quantity=3)])),
    "create-Now": lambda c: ShOrder.objects.create(due=Now()),
    "bulk_create-Now": lambda c: ShOrder.objects.bulk_create([ShOrder(due=Now()), ShOrder()]),
    "save-new-fk-filled": lambda c: _new_with_fresh_fk(c).save(),
    "bulk_create-fk-filled": lambda c: ShOrder.objects.bulk_create([_new_with_fresh_fk(c)]),
    # update
    "save": lambda c: _set(c["o"], quantity=5).save(),
    "save-update_fields-dirty": lambda c: _set(c["o"], quantity=5, status="dirty").save(
        update_fields=["quantity", "touched"]
    ),
    "save-F": lambda c: _set(c["o"], quantity=F("quantity") + 4).save(),
    "save-Now": lambda c: _set(c["o"], due=Now()).save(),
    "save-fk-filled": lambda c: _fresh_fk(c).save(),
    "update": lambda c: ShOrder.objects.filter(pk=c["o"].pk).update(quantity=5),
    "update-F": lambda c: ShOrder.objects.update(quantity=F("quantity") + 4),
    "update-coalesce": lambda c: ShOrder.objects.update(due=Coalesce("due", Value(DUE))),
    "update_or_create": lambda c: ShOrder.objects.update_or_create(
        pk=c["o"].pk, defaults={"quantity": 5}
    ),
    "bulk_update": lambda c: ShOrder.objects.bulk_update([_set(c["o"], quantity=5)], ["quantity"]),
    "bulk_update-F": lambda c: ShOrder.objects.bulk_update(
        [_set(c["o"], quantity=F("quantity") + 4), _set(c["o2"], quantity=F("quantity") * 3)],
        ["quantity"],
    ),
    "bulk_update-fk-filled": lambda c: ShOrder.objects.bulk_update([_fresh_fk(c)], ["account"]),
    "asave": lambda c: _sync(_set(c["o"], quantity=5).asave),
    "aupdate": lambda c: _sync(lambda: ShOrder.objects.filter(pk=c["o"].pk).aupdate(quantity=5)),
    "abulk_update": lambda c: _sync(
        lambda: ShOrder.objects.abulk_update([_set(c["o"], quantity=5)], ["quantity"])
    ),
    "save-naive": lambda c: _set(c["o"], due=datetime(2030, 1, 2, 3, 4)).save(),
    "update-naive": lambda c: ShOrder.objects.update(due=datetime(2030, 1, 2, 3, 4)),
    "bulk_update-naive": lambda c: ShOrder.objects.bulk_update(
        [_set(c["o"], due=datetime(2030, 1, 2))], ["due"]
    ),
    # ForeignKey(to_field="code")
    "to_field-update": lambda c: ShParcel.objects.filter(pk=c["p"].pk).update(warehouse=c["w2"]),
    "to_field-add": lambda c: c["w2"].parcels.add(c["p"]),
    "to_field-set": lambda c: c["w2"].parcels.set([c["p"]]),
    "to_field-remove": lambda c: c["w1"].parcels.remove(c["p"]),
    "to_field-save": lambda c: _set(c["p"], warehouse=c["w2"]).save(),
    "to_field-bulk_update": lambda c: ShParcel.objects.bulk_update(
        [_set(c["p"], warehouse=c["w2"])], ["warehouse"]
    ),
    "to_field-bulk_create": lambda c: ShParcel.objects.bulk_create([ShParcel(warehouse=c["w2"])]),
    "to_field-create": lambda c: ShParcel.objects.create(warehouse=c["w2"]),
}
# Django warns about the naive datetimes these operations write, as it should.
_PARAMS = [pytest.param(name, marks=[NAIVE] if "naive" in name else []) for name in OPERATIONS]


def _stored_rows() -> dict[tuple[str, Any], dict[str, Any]]:
    rows = {}
    for model in (ShOrder, ShParcel):
        for values in model._base_manager.values(*[f.attname for f in model._meta.concrete_fields]):
            rows[(model.__name__, values["id"])] = values
    return rows


def _seen(recorders: dict[str, Recorder], stage: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, row)
        for name, recorder in recorders.items()
        for call in recorder.calls
        if call.stage == stage and call.new is not None
        for row in call.new
    ]


@pytest.mark.parametrize("operation", _PARAMS)
def test_after_and_commit_stages_see_stored_rows(
    using: str, operation: str, django_capture_on_commit_callbacks: Any
) -> None:
    """Every row the after and commit stages receive equals the row as stored."""
    ctx = seed()
    recorders = {"ShOrder": record(ShOrder), "ShParcel": record(ShParcel)}
    with django_capture_on_commit_callbacks(using=using, execute=True):
        OPERATIONS[operation](ctx)
    stored = _stored_rows()
    for stage in ("after", "commit"):
        seen = _seen(recorders, stage)
        assert seen, f"no {stage} stage ran"
        for model, row in seen:
            values = {k: v for k, v in row.items() if k != "pk"}
            assert values == stored[(model, row["pk"])], f"{stage} stage of {model}"


def test_generated_column_before_stage_holds_stored_value(using: str) -> None:
    """Before update() writes, new holds the generated column's stored value (documented)."""
    o = seed()["o"]
    recorder = record(ShOrder, stages=["before", "after"], events=["update"])
    ShOrder.objects.filter(pk=o.pk).update(quantity=5)
    assert recorder.column("before", "update", "doubled") == [2]
    assert recorder.column("after", "update", "doubled") == [10]


def test_to_field_before_change_writes_the_target_key(using: str) -> None:
    """A before trigger changing another field makes update() write the code, not the pk."""
    ctx = seed()
    recorder = record(
        ShParcel,
        events=["update"],
        hooks={("before", "update"): lambda new, old: [_set(row, note="moved") for row in new]},
    )
    ctx["w2"].parcels.add(ctx["p"])
    assert recorder.column("before", "update", "warehouse_id") == ["W2"]
    assert list(ShParcel.objects.values_list("warehouse_id", "note")) == [("W2", "moved")]


TO_FIELD_CONDITIONS: dict[str, Callable[[Ctx], Condition]] = {
    "IsEqual": lambda c: IsEqual("warehouse", c["w2"]),
    "ChangesTo": lambda c: ChangesTo("warehouse", c["w2"]),
    "ChangesFrom": lambda c: ChangesFrom("warehouse", c["w1"]),
    "WasEqual": lambda c: WasEqual("warehouse", c["w1"]),
}


@pytest.mark.parametrize("condition", TO_FIELD_CONDITIONS)
@pytest.mark.parametrize("operation", ["to_field-update", "to_field-add", "to_field-save"])
def test_to_field_conditions_compare_the_target_key(
    using: str, operation: str, condition: str
) -> None:
    """Conditions on a to_field foreign key given an instance compare the key it stores."""
    ctx = seed()
    recorder = record(ShParcel, events=["update"], condition=TO_FIELD_CONDITIONS[condition](ctx))
    OPERATIONS[operation](ctx)
    assert recorder.column("before", "update", "warehouse_id") == ["W2"]


FK_FILLED: dict[str, tuple[str, Callable[[Ctx], Any]]] = {
    "save-new": ("create", lambda c: _new_with_fresh_fk(c).save()),
    "bulk_create": ("create", lambda c: ShOrder.objects.bulk_create([_new_with_fresh_fk(c)])),
    "save": ("update", lambda c: _fresh_fk(c).save()),
    "bulk_update": ("update", lambda c: ShOrder.objects.bulk_update([_fresh_fk(c)], ["account"])),
}


@pytest.mark.parametrize("operation", FK_FILLED)
def test_fk_ids_filled_before_the_before_stage(using: str, operation: str) -> None:
    """The id of a related object saved after assignment is on new, and conditions see it."""
    ctx = seed()
    late = ctx["late"] = ShAccount(name="late")
    event, run = FK_FILLED[operation]
    recorder = record(ShOrder, stages=["before"], events=[event])
    matching = record(
        ShOrder, stages=["before"], events=[event], condition=IsEqual("account", late)
    )
    run(ctx)
    assert recorder.column("before", event, "account_id") == [late.pk]
    assert matching.column("before", event, "account_id") == [late.pk]


@pytest.mark.parametrize("operation", ["save-F", "bulk_update-F"])
def test_expression_on_instance_reaches_before_stage_as_assigned(
    using: str, operation: str
) -> None:
    """Before triggers get the F() expression assigned; after triggers the stored number."""
    ctx = seed()
    recorder = record(ShOrder, stages=["before", "after"], events=["update"])
    OPERATIONS[operation](ctx)
    before = recorder.column("before", "update", "quantity")
    assert all(hasattr(value, "resolve_expression") for value in before)
    after = recorder.one("after", "update")
    stored = dict(ShOrder.objects.values_list("pk", "quantity"))
    assert [row["quantity"] for row in after.new] == [stored[row["pk"]] for row in after.new]


COSTED: dict[str, Callable[[list[ShOrder]], Any]] = {
    "bulk_update-F": lambda orders: ShOrder.objects.bulk_update(
        [_set(o, quantity=F("quantity") + 1) for o in orders], ["quantity"]
    ),
    "update": lambda orders: ShOrder.objects.update(quantity=F("quantity") + 1),
    "bulk_create": lambda orders: ShOrder.objects.bulk_create([ShOrder() for _ in orders]),
}


@pytest.mark.parametrize("operation", COSTED)
def test_read_back_costs_one_query_per_chunk(using: str, operation: str) -> None:
    """Reading computed values back adds statements that do not grow with the rows."""
    record(ShOrder)
    counts = []
    for size in (2, 6):
        with bypass():
            ShOrder._base_manager.all().delete()
            orders = [ShOrder.objects.create(quantity=i) for i in range(size)]
        with CaptureQueriesContext(connections[using]) as queries:
            COSTED[operation](orders)
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_rows_without_primary_key_are_not_read_back(using: str) -> None:
    """A row with no key (MySQL's bulk_create returns none) is passed on as it is."""
    row = ShOrder(quantity=3)
    names = pending(ShOrder, [row])
    assert set(names) >= {"doubled", "rank"}
    with CaptureQueriesContext(connections[using]) as queries:
        result = read_back(ShOrder, [row], names, using)
    assert result == [row] and result[0] is row
    assert len(queries) == 0


def test_before_stage_sees_what_the_write_will_compute_as_django_holds_it(using: str) -> None:
    """Before triggers get DatabaseDefault for an unset db_default and auto_now's old value."""
    order = seed()["o"]
    loaded_stamp = order.touched
    recorder = record(ShOrder, stages=["before", "after"], events=["create", "update"])
    ShOrder.objects.create(quantity=3)
    order.save()
    (rank,) = recorder.column("before", "create", "rank")
    assert isinstance(rank, DatabaseDefault)
    assert recorder.column("after", "create", "rank") == [7]
    assert recorder.column("before", "update", "touched") == [loaded_stamp]
    assert recorder.column("after", "update", "touched") == [order.touched] != [loaded_stamp]
