"""Issue 9: Django's own behaviour first and unchanged, on every model shape.

Refusals before any trigger, deferred fields, models overriding ``__init__``/``from_db()``,
primary keys of another Python type, and commit-stage copies taken as written.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.db.models.signals import post_save, pre_save

from bulk_triggers import bypass
from tests.recorder import record
from tests.shapesapp.models import (
    ShAccount,
    ShFromDbOrder,
    ShInitOrder,
    ShOrder,
    ShPlain,
    ShUuid,
)
from tests.test_model_shapes import _set, _sync

Ctx = dict[str, Any]


def seed() -> Ctx:
    """Create the rows every test starts from (before any trigger exists)."""
    acc = ShAccount.objects.create(name="acc")
    return {
        "acc": acc,
        "o": ShOrder.objects.create(quantity=1, account=acc, data={"a": [1]}),
        "o2": ShOrder.objects.create(quantity=2),
    }


def _deleted_meanwhile(c: Ctx) -> None:
    order = c["o"]
    with bypass():
        ShOrder._base_manager.filter(pk=order.pk).delete()
    order.status = "paid"
    order.save(update_fields=["status"])


def _bulk_update_unsaved_related(c: Ctx) -> None:
    c["o"].account = ShAccount(name="unsaved")
    ShOrder.objects.bulk_update([c["o"]], ["account"])


REFUSED: dict[str, Callable[[Ctx], Any]] = {
    "save-unsaved-related": lambda c: ShOrder(account=ShAccount(name="x")).save(),
    "create-unsaved-related": lambda c: ShOrder.objects.create(account=ShAccount(name="x")),
    "save-new-update_fields": lambda c: ShOrder().save(update_fields=["status"]),
    "save-new-force_update": lambda c: ShOrder().save(force_update=True),
    "save-force_insert-update_fields": lambda c: c["o"].save(
        force_insert=True, update_fields=["status"]
    ),
    "save-update_fields-deleted-row": _deleted_meanwhile,
    "save-force_update-missing-row": lambda c: ShOrder(pk=10**6).save(force_update=True),
    "save-update_fields-missing-row": lambda c: ShOrder(pk=10**6).save(update_fields=["status"]),
    "bulk_create-unsaved-related": lambda c: ShOrder.objects.bulk_create(
        [ShOrder(account=ShAccount(name="x"))]
    ),
    "bulk_update-unsaved-related": _bulk_update_unsaved_related,
    "bulk_update-key-of-wrong-type": lambda c: ShOrder.objects.bulk_update(
        [ShOrder(pk="abc", status="x")], ["status"]
    ),
    "bulk_update-uuid-key-of-wrong-type": lambda c: ShUuid.objects.bulk_update(
        [ShUuid(id="not-a-uuid", label="x")], ["label"]
    ),
    "manager-only-create-unsaved-related": lambda c: ShPlain.objects.create(
        account=ShAccount(name="x")
    ),
    "manager-only-bulk_create-unsaved-related": lambda c: ShPlain.objects.bulk_create(
        [ShPlain(account=ShAccount(name="x"))]
    ),
    "asave-unsaved-related": lambda c: _sync(ShOrder(account=ShAccount(name="x")).asave),
    "asave-update_fields-missing-row": lambda c: _sync(
        lambda: ShOrder(pk=10**6).asave(update_fields=["status"])
    ),
    "abulk_update-unsaved-related": lambda c: _sync(
        lambda: ShOrder.objects.abulk_update(
            [_set(c["o"], account=ShAccount(name="x"))], ["account"]
        )
    ),
}


def _outcome(run: Callable[[Ctx], Any], ctx: Ctx, using: str) -> tuple[type, str]:
    refusals = (ValueError, DatabaseError, ValidationError)
    with pytest.raises(refusals) as info, transaction.atomic(using=using):
        run(ctx)
    return type(info.value), str(info.value)


@pytest.mark.parametrize("operation", REFUSED)
def test_django_refusals_come_before_any_trigger(using: str, operation: str) -> None:
    """What Django refuses is refused with its own exception, and no trigger runs."""
    with bypass():
        expected = _outcome(REFUSED[operation], seed(), using)
    ctx = seed()
    recorders = [record(ShOrder), record(ShPlain), record(ShUuid)]
    assert _outcome(REFUSED[operation], ctx, using) == expected
    assert [recorder.calls for recorder in recorders] == [[], [], []]


def _counting(sender: Any, **kwargs: Any) -> None:
    SIGNALS.append(kwargs.get("signal"))


SIGNALS: list[Any] = []


def test_save_with_every_field_deferred_is_a_full_save(using: str) -> None:
    """only("pk").save() writes every field, sends signals and refreshes auto_now, as Django."""
    order = seed()["o"]
    stamp = order.touched
    recorder = record(ShOrder, events=["update"])
    SIGNALS.clear()
    pre_save.connect(_counting, sender=ShOrder)
    post_save.connect(_counting, sender=ShOrder)
    try:
        loaded = ShOrder.objects.only("pk").get(pk=order.pk)
        loaded.save()
    finally:
        pre_save.disconnect(_counting, sender=ShOrder)
        post_save.disconnect(_counting, sender=ShOrder)
    assert [pre_save, post_save] == SIGNALS
    stored = ShOrder.objects.get(pk=order.pk)
    assert stored.touched > stamp
    assert (stored.quantity, stored.data) == (1, {"a": [1]})
    after = recorder.one("after", "update")
    assert after.new[0]["touched"] == stored.touched
    assert after.old[0]["touched"] == stamp
    assert recorder.events() == [("before", "update"), ("after", "update")]


def test_deferred_fields_do_not_alias_old_to_new(
    using: str, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """A before trigger changing a deferred field in place changes neither old nor commit rows."""
    order = seed()["o"]
    settings.BULK_TRIGGERS = {**settings.BULK_TRIGGERS, "PROTECT_OLD": True}

    def change(new: list[ShOrder], old: list[ShOrder]) -> None:
        new[0].data["k"] = 1

    recorder = record(ShOrder, events=["update"], hooks={("before", "update"): change})
    loaded = ShOrder.objects.only("status").get(pk=order.pk)
    loaded.status = "paid"
    with django_capture_on_commit_callbacks(using=using, execute=True):
        loaded.save()
        loaded.data["later"] = 2  # the caller's change after the write
    stored = ShOrder.objects.get(pk=order.pk)
    assert (stored.status, stored.data) == ("paid", {"a": [1], "k": 1})
    for stage in ("after", "commit"):
        call = recorder.one(stage, "update")
        assert (call.old[0]["data"], call.new[0]["data"]) == ({"a": [1]}, {"a": [1], "k": 1})
    commit = recorder.one("commit", "update")
    assert commit.old_objects[0].data == {"a": [1]}  # type: ignore[index]
    assert commit.new_objects[0].data == {"a": [1], "k": 1}  # type: ignore[index]


def _scribble(rows: list[Any], *more: Any) -> None:
    for row in rows:
        row.status = "scribbled"


def _scribble_old(old: list[Any]) -> None:
    _scribble(old)


AS_WRITTEN: dict[str, tuple[str, Callable[[Ctx], Any]]] = {
    "save": ("update", lambda c: c["o"].save()),
    "save-update_fields": ("update", lambda c: c["o"].save(update_fields=["quantity"])),
    "create": ("create", lambda c: ShOrder.objects.create(quantity=3)),
    "bulk_create": ("create", lambda c: ShOrder.objects.bulk_create([ShOrder(quantity=3)])),
    "bulk_update": ("update", lambda c: ShOrder.objects.bulk_update([c["o"]], ["quantity"])),
    "update": ("update", lambda c: ShOrder.objects.update(quantity=4)),
    "delete-instance": ("delete", lambda c: c["o"].delete()),
    "delete-queryset": ("delete", lambda c: ShOrder.objects.all().delete()),
}


@pytest.mark.parametrize("operation", AS_WRITTEN)
def test_commit_stage_gets_rows_as_written_not_after_stage_changes(
    using: str, operation: str, django_capture_on_commit_callbacks: Any
) -> None:
    """What an after trigger changes on its rows does not reach the commit stage."""
    ctx = seed()
    event, run = AS_WRITTEN[operation]
    hook = _scribble_old if event == "delete" else _scribble
    recorder = record(ShOrder, events=[event], hooks={("after", event): hook})
    with django_capture_on_commit_callbacks(using=using, execute=True):
        run(ctx)
    side = "old" if event == "delete" else "new"
    statuses = recorder.column("commit", event, "status", side)
    assert statuses and "scribbled" not in statuses
    assert [
        row.status
        for call in recorder.of("commit", event)
        for row in getattr(call, f"{side}_objects")
    ] == statuses


# What each model's own __init__/from_db() sets on a row loaded with status "new".
CUSTOM_INIT = [
    (ShInitOrder, "_initial_status", lambda row: "new"),
    (ShFromDbOrder, "_loaded_values", lambda row: {"id": row.pk, "status": "new"}),
]
BUILT: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "update": ("update", lambda model: model.objects.update(status="paid")),
    "save": ("update", lambda model: _set_save(model.objects.get())),
    "bulk_update": ("update", lambda model: _bulk_update(model)),
    "delete-queryset": ("delete", lambda model: model.objects.all().delete()),
    "delete-instance": ("delete", lambda model: model.objects.get().delete()),
}


def _set_save(row: Any) -> None:
    row.status = "paid"
    row.save()


def _bulk_update(model: Any) -> None:
    row = model.objects.get()
    row.status = "paid"
    model.objects.bulk_update([row], ["status"])


@pytest.mark.parametrize(("model", "attribute", "expected"), CUSTOM_INIT, ids=["init", "from_db"])
@pytest.mark.parametrize("operation", BUILT)
def test_rows_of_models_overriding_init_or_from_db_are_built_by_them(
    using: str, model: Any, attribute: str, expected: Any, operation: str
) -> None:
    """old (and update()'s new) rows carry what the model's __init__ or from_db() sets."""
    model.objects.create(status="new")
    event, run = BUILT[operation]
    recorder = record(model, stages=["before"], events=[event])
    run(model)
    call = recorder.one("before", event)
    rows = list(call.old_objects or [])
    if operation == "update":
        rows += call.new_objects or []
    assert rows
    for row in rows:
        assert getattr(row, attribute) == expected(row)


PK_TYPES: dict[str, Callable[[list[Any]], list[Any]]] = {
    "str": lambda pks: [str(pk) for pk in pks],
    "mixed": lambda pks: [pk if i % 2 else str(pk) for i, pk in enumerate(pks)],
}


@pytest.mark.parametrize("kind", PK_TYPES)
@pytest.mark.parametrize("model", [ShOrder, ShUuid], ids=["int", "uuid"])
def test_bulk_update_matches_keys_of_another_python_type(using: str, model: Any, kind: str) -> None:
    """bulk_update() with keys given as str (or mixed) runs triggers for every row Django writes."""
    rows = [model.objects.create() for _ in range(3)]
    field = "status" if model is ShOrder else "label"
    keys = PK_TYPES[kind]([row.pk for row in rows])
    objs = [model(pk=key, **{field: f"v{i}"}) for i, key in enumerate(keys)]
    if model is ShOrder:
        for obj, row in zip(objs, rows, strict=True):
            obj.touched = row.touched
    recorder = record(model, stages=["before", "after"], events=["update"])
    with bypass():
        expected = model.objects.bulk_update(
            [model(pk=key, **{field: f"v{i}"}) for i, key in enumerate(keys)], [field]
        )
    count = model.objects.bulk_update(objs, [field])
    assert count == expected == 3
    seen = recorder.column("after", "update", field)
    assert sorted(seen) == ["v0", "v1", "v2"]
    assert sorted(model.objects.values_list(field, flat=True)) == ["v0", "v1", "v2"]


def test_uuid_keys_as_strings(using: str) -> None:
    """A UUID given as its string names the row stored under that UUID."""
    thing = ShUuid.objects.create(label="a")
    recorder = record(ShUuid, stages=["after"], events=["update"])
    ShUuid.objects.bulk_update([ShUuid(id=str(thing.pk), label="b")], ["label"])
    assert recorder.column("after", "update", "id", "old") == [uuid.UUID(str(thing.pk))]
