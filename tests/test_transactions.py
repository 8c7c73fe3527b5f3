"""Atomicity of an operation with its triggers, refused batches, and the commit stage."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from pytest_django.fixtures import Settings

from bulk_triggers import IsEqual, Trigger, bypass
from tests.testapp.models import Customer, Item, Log

Snapshot = tuple[list[dict[str, Any]], ...]


def snapshot() -> Snapshot:
    """Return every row of Item, Customer and Log, in primary key order."""
    return tuple(list(model.objects.order_by("pk").values()) for model in (Item, Customer, Log))


@pytest.fixture
def seeded(using: str) -> Snapshot:
    """Store items a, b, c and a log row, with no trigger running; return the snapshot."""
    Item.objects.bulk_create(
        [Item(name="a", amount=1), Item(name="b", amount=2), Item(name="c", amount=3)]
    )
    Log.objects.create(kind="seed")
    return snapshot()


def define(name: str, **namespace: Any) -> Any:
    """Define the trigger ``name`` on Item with the given class attributes and methods."""
    namespace.setdefault("__module__", __name__)
    return types.new_class(name, (Trigger[Item],), {}, lambda ns: ns.update(namespace))


def _save_existing() -> None:
    row = Item.objects.get(name="a")
    row.amount = 10
    row.save()


def _save_update_fields() -> None:
    row = Item.objects.get(name="a")
    row.amount = 10
    row.save(update_fields=["amount"])


def _bulk_update() -> None:
    rows = list(Item.objects.filter(name__in=["a", "b"]))
    for row in rows:
        row.amount += 10
    Item.objects.bulk_update(rows, ["amount"])


# name -> (event, operation)
OPERATIONS: dict[str, tuple[str, Callable[[], Any]]] = {
    "save-new": ("create", lambda: Item(name="new", amount=5).save()),
    "create": ("create", lambda: Item.objects.create(name="new", amount=5)),
    "get_or_create": ("create", lambda: Item.objects.get_or_create(name="new")),
    "update_or_create-new": (
        "create",
        lambda: Item.objects.update_or_create(name="new", defaults={"amount": 5}),
    ),
    "bulk_create": (
        "create",
        lambda: Item.objects.bulk_create([Item(name="new"), Item(name="newer")]),
    ),
    "save-existing": ("update", _save_existing),
    "save-update_fields": ("update", _save_update_fields),
    "update_or_create": (
        "update",
        lambda: Item.objects.update_or_create(name="a", defaults={"amount": 9}),
    ),
    "bulk_update": ("update", _bulk_update),
    "update-values": ("update", lambda: Item.objects.update(amount=7, note="x")),
    "update-expression": (
        "update",
        lambda: Item.objects.filter(amount__gte=2).update(amount=F("amount") * 2),
    ),
    "delete-instance": ("delete", lambda: Item.objects.get(name="a").delete()),
    "delete-queryset": ("delete", lambda: Item.objects.filter(amount__lte=2).delete()),
}


class Boom(Exception):
    """The exception the failing triggers raise."""


def failing_trigger(event: str, stage: str, boom: BaseException) -> Any:
    """Define a trigger that writes elsewhere in every stage, then raises ``boom`` in ``stage``."""

    def side_effects(rows: list[Item], current: str) -> None:
        Log.objects.create(kind=f"{current}-{event}", ref=str(len(rows)))
        Customer.objects.create(name=current)
        if current == "before" and event != "delete":
            for row in rows:
                row.note = "touched"
        if current == stage:
            raise boom

    def method(current: str) -> Callable[..., None]:
        if event == "update":
            return lambda self, new, old: side_effects(new, current)
        return lambda self, rows: side_effects(rows, current)

    return define("Failing", **{f"on_{s}_{event}": method(s) for s in ("before", "after")})


@pytest.mark.parametrize("stage", ["before", "after"])
@pytest.mark.parametrize("operation", OPERATIONS)
def test_exception_in_stage_rolls_back(seeded: Snapshot, operation: str, stage: str) -> None:
    """An exception in any stage propagates unchanged and leaves every table as it was."""
    event, run = OPERATIONS[operation]
    boom = Boom(f"{operation} {stage}")
    failing_trigger(event, stage, boom)
    with pytest.raises(Boom) as raised:
        run()
    assert raised.value is boom
    assert snapshot() == seeded


@pytest.mark.parametrize("stage", ["before", "after"])
@pytest.mark.parametrize("operation", ["create", "update-values", "delete-queryset"])
def test_base_exception_rolls_back(seeded: Snapshot, operation: str, stage: str) -> None:
    """Exceptions outside Exception (KeyboardInterrupt) roll back as well."""
    event, run = OPERATIONS[operation]
    interrupt = KeyboardInterrupt()
    failing_trigger(event, stage, interrupt)
    with pytest.raises(KeyboardInterrupt) as raised:
        run()
    assert raised.value is interrupt
    assert snapshot() == seeded


def test_exception_is_not_retried(seeded: Snapshot) -> None:
    """A trigger that raises TypeError is called once, not retried another way."""
    calls: list[int] = []

    def on_before_update(self: Any, new: list[Item], old: list[Item]) -> None:
        calls.append(len(new))
        raise TypeError("from the trigger")

    define("Picky", on_before_update=on_before_update)
    with pytest.raises(TypeError, match="from the trigger"):
        Item.objects.update(amount=1)
    assert calls == [3]
    assert snapshot() == seeded


def refuse_negative(self: Any, new: list[Item], *old: Any) -> None:
    """Refuse the whole batch when any row has a negative amount."""
    bad = [row.name for row in new if row.amount < 0]
    if bad:
        raise ValidationError({"amount": f"negative for {', '.join(bad)}"})


def refuse_deleting_b(self: Any, old: list[Item]) -> None:
    """Refuse the whole batch when it would delete the item named b."""
    if any(row.name == "b" for row in old):
        raise ValidationError({"amount": "b must stay"})


def _bulk_update_one_negative() -> None:
    rows = list(Item.objects.order_by("name"))
    for row in rows:
        row.amount = -1 if row.name == "b" else 50
    Item.objects.bulk_update(rows, ["amount"])


REFUSED: dict[str, Callable[[], Any]] = {
    "bulk_create": lambda: Item.objects.bulk_create(
        [Item(name="x", amount=1), Item(name="y", amount=-1), Item(name="z", amount=1)]
    ),
    "bulk_update": _bulk_update_one_negative,
    "update": lambda: Item.objects.update(amount=F("amount") - 2),
    "save": lambda: Item(name="x", amount=-1).save(),
    "delete": lambda: Item.objects.filter(amount__gte=1).delete(),
}


@pytest.mark.parametrize("operation", REFUSED)
def test_validation_error_refuses_whole_batch(seeded: Snapshot, operation: str) -> None:
    """A ValidationError from a before trigger refuses every row of the operation."""
    after: list[int] = []
    define(
        "Guard",
        on_before_create=refuse_negative,
        on_before_update=refuse_negative,
        on_before_delete=refuse_deleting_b,
        on_after_create=lambda self, new: after.append(len(new)),
        on_after_update=lambda self, new, old: after.append(len(new)),
        on_after_delete=lambda self, old: after.append(len(old)),
    )
    with pytest.raises(ValidationError) as raised:
        REFUSED[operation]()
    assert "amount" in raised.value.message_dict
    assert snapshot() == seeded
    assert after == []


def _bulk_update_below_floor() -> None:
    rows = list(Item.objects.all())
    for row in rows:
        row.amount = -5000
    Item.objects.bulk_update(rows, ["amount"])


def _save_below_floor() -> None:
    row = Item.objects.get(name="a")
    row.amount = -5000
    row.save()


def _bulk_create_duplicate() -> None:
    existing = Item.objects.get(name="b")
    Item.objects.bulk_create([Item(name="fresh"), Item(pk=existing.pk, name="dup")])


def _mutated_below_floor() -> None:
    Item.objects.update(note="push")


WRITE_ERRORS: dict[str, Callable[[], Any]] = {
    "update-check": lambda: Item.objects.update(amount=-5000),
    "update-expression-check": lambda: Item.objects.update(amount=F("amount") - 5000),
    "bulk_update-check": _bulk_update_below_floor,
    "save-check": _save_below_floor,
    "create-check": lambda: Item.objects.create(name="x", amount=-5000),
    "bulk_create-check": lambda: Item.objects.bulk_create(
        [Item(name="x"), Item(name="y", amount=-5000)]
    ),
    "bulk_create-unique": _bulk_create_duplicate,
    "before-mutation-check": _mutated_below_floor,
}


@pytest.mark.parametrize("operation", WRITE_ERRORS)
def test_database_error_in_write_rolls_back(seeded: Snapshot, operation: str) -> None:
    """A failing write undoes what before triggers wrote elsewhere and runs no after trigger."""
    after: list[str] = []

    def before(self: Any, new: list[Item], *old: Any) -> None:
        Log.objects.create(kind="before", ref=str(len(new)))
        Customer.objects.create(name="before")
        for row in new:
            if row.note == "push":
                row.amount = -5000

    define(
        "Watcher",
        on_before_create=before,
        on_before_update=before,
        on_after_create=lambda self, new: after.append("create"),
        on_after_update=lambda self, new, old: after.append("update"),
        on_commit_create=lambda self, new: after.append("commit"),
        on_commit_update=lambda self, new, old: after.append("commit"),
    )
    with pytest.raises(IntegrityError):
        WRITE_ERRORS[operation]()
    assert after == []
    assert snapshot() == seeded


def recording_commit_trigger(calls: list[tuple[str, list[Any], list[Any]]], **attrs: Any) -> Any:
    """Define a trigger recording (event, new names/amounts, old amounts) of every commit call."""
    return define(
        "Committed",
        on_commit_create=lambda self, new: calls.append(("create", [r.name for r in new], [])),
        on_commit_update=lambda self, new, old: calls.append(
            ("update", [(r.name, r.amount) for r in new], [r.amount for r in old])
        ),
        on_commit_delete=lambda self, old: calls.append(("delete", [], [r.name for r in old])),
        **attrs,
    )


COMMITTED: dict[str, tuple[Callable[[], Any], tuple[str, list[Any], list[Any]]]] = {
    "create": (
        lambda: Item.objects.bulk_create([Item(name="x"), Item(name="y")]),
        ("create", ["x", "y"], []),
    ),
    "update": (
        lambda: Item.objects.filter(name__in=["a", "b"]).update(amount=F("amount") + 10),
        ("update", [("a", 11), ("b", 12)], [1, 2]),
    ),
    "delete": (
        lambda: Item.objects.filter(name="c").delete(),
        ("delete", [], ["c"]),
    ),
}


@pytest.mark.parametrize("event", COMMITTED)
def test_commit_stage_runs_on_commit(
    seeded: Snapshot, using: str, event: str, django_capture_on_commit_callbacks: Any
) -> None:
    """on_commit_* runs when the transaction commits, not when the operation returns."""
    calls: list[tuple[str, list[Any], list[Any]]] = []
    recording_commit_trigger(calls)
    run, expected = COMMITTED[event]
    with django_capture_on_commit_callbacks(using=using, execute=True) as callbacks:
        run()
        assert calls == []
    assert len(callbacks) >= 1
    assert calls == [expected]


def test_commit_stage_gets_rows_passing_condition(
    seeded: Snapshot, using: str, django_capture_on_commit_callbacks: Any
) -> None:
    """The commit stage receives only the rows that pass the trigger's condition."""
    calls: list[tuple[str, list[Any], list[Any]]] = []
    recording_commit_trigger(calls, condition=IsEqual("amount", 12))
    with django_capture_on_commit_callbacks(using=using, execute=True):
        Item.objects.update(amount=F("amount") + 10)
        Item.objects.filter(name="a").update(note="no match")
    assert calls == [("update", [("b", 12)], [2])]


def test_commit_stage_skipped_after_failure(
    seeded: Snapshot, using: str, django_capture_on_commit_callbacks: Any
) -> None:
    """An operation undone by an after-stage exception schedules no commit-stage call."""
    calls: list[tuple[str, list[Any], list[Any]]] = []
    recording_commit_trigger(calls)

    def on_after_update(self: Any, new: list[Item], old: list[Item]) -> None:
        raise Boom()

    define("Breaker", on_after_update=on_after_update)
    with django_capture_on_commit_callbacks(using=using, execute=True) as callbacks:
        with pytest.raises(Boom):
            Item.objects.update(amount=0)
        Item.objects.create(name="later")
    assert calls == [("create", ["later"], [])]
    assert len(callbacks) == 1


@pytest.mark.parametrize("event", COMMITTED)
def test_commit_stage_receives_chunks(
    seeded: Snapshot,
    using: str,
    event: str,
    settings: Settings,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Commit-stage methods are called once per chunk, with that chunk's rows."""
    settings.BULK_TRIGGERS = {"CHUNK_SIZE": 2}
    Item.objects.bulk_create([Item(name=f"n{i}", amount=i) for i in range(3)])
    calls: list[tuple[str, list[Any], list[Any]]] = []
    recording_commit_trigger(calls)
    run = {
        "create": lambda: Item.objects.bulk_create([Item(name=f"m{i}") for i in range(5)]),
        "update": lambda: Item.objects.update(note="chunked"),
        "delete": lambda: Item.objects.all().delete(),
    }[event]
    with django_capture_on_commit_callbacks(using=using, execute=True):
        run()
    sizes = [len(new) or len(old) for _, new, old in calls]
    assert sizes == ([2, 2, 1] if event == "create" else [2, 2, 2])
    rows = [row for _, new, old in calls for row in (new or old)]
    assert len(rows) == len({repr(row) for row in rows}) == sum(sizes)


@pytest.mark.django_db(transaction=True)
def test_commit_stage_waits_for_outermost_transaction(using: str) -> None:
    """Inside nested atomic blocks, on_commit_* runs once the outermost one commits."""
    calls: list[tuple[str, list[Any], list[Any]]] = []
    recording_commit_trigger(calls)
    with transaction.atomic(using=using):
        with transaction.atomic(using=using):
            Item.objects.create(name="x")
        assert calls == []
        Item.objects.filter(name="x").update(amount=4)
        assert calls == []
    assert calls == [("create", ["x"], []), ("update", [("x", 4)], [0])]


@pytest.mark.django_db(transaction=True)
def test_commit_stage_runs_in_autocommit(using: str) -> None:
    """Outside any transaction, on_commit_* runs as soon as the operation commits."""
    calls: list[tuple[str, list[Any], list[Any]]] = []
    recording_commit_trigger(calls)
    row = Item.objects.create(name="x")
    assert calls == [("create", ["x"], [])]
    row.delete()
    assert calls[1:] == [("delete", [], ["x"])]


@pytest.mark.django_db(transaction=True)
def test_commit_stage_never_runs_on_rollback(using: str) -> None:
    """When the caller's transaction rolls back, no on_commit_* runs, now or later."""
    calls: list[tuple[str, list[Any], list[Any]]] = []
    recording_commit_trigger(calls)
    with pytest.raises(Boom), transaction.atomic(using=using):
        Item.objects.create(name="x")
        Item.objects.update(amount=3)
        Item.objects.all().delete()
        raise Boom()
    assert calls == []
    assert not Item.objects.exists()
    Item.objects.create(name="after")
    assert calls == [("create", ["after"], [])]


@pytest.mark.django_db(transaction=True)
def test_commit_stage_skips_rolled_back_savepoint(using: str) -> None:
    """Work undone by a rolled-back savepoint gets no on_commit_*; the rest does."""
    calls: list[tuple[str, list[Any], list[Any]]] = []
    recording_commit_trigger(calls)
    with transaction.atomic(using=using):
        Item.objects.create(name="kept")
        with pytest.raises(Boom), transaction.atomic(using=using):
            Item.objects.create(name="undone")
            raise Boom()
    assert calls == [("create", ["kept"], [])]


@pytest.mark.parametrize("failure", ["python", "database"])
def test_failed_operation_leaves_outer_transaction_usable(
    seeded: Snapshot, using: str, failure: str
) -> None:
    """A trigger failure caught inside the caller's atomic block leaves that block usable."""
    seed_log = Log.objects.get(kind="seed")

    def on_after_update(self: Any, new: list[Item], old: list[Item]) -> None:
        Log.objects.create(kind="attempt")
        if failure == "python":
            raise Boom()
        Log.objects.create(pk=seed_log.pk, kind="duplicate")

    define("Fragile", on_after_update=on_after_update)
    expected = Boom if failure == "python" else IntegrityError
    with transaction.atomic(using=using):
        Item.objects.create(name="before")
        with pytest.raises(expected):
            Item.objects.update(amount=99)
        assert not transaction.get_connection(using).needs_rollback
        Item.objects.create(name="after")
        Log.objects.create(kind="after")
    names = sorted(Item.objects.values_list("name", flat=True))
    assert names == ["a", "after", "b", "before", "c"]
    assert sorted(Item.objects.values_list("amount", flat=True)) == [0, 0, 1, 2, 3]
    assert sorted(Log.objects.values_list("kind", flat=True)) == ["after", "seed"]


def _save_on(alias: str) -> None:
    row = Item.objects.using(alias).get(name="a")
    row.amount = 2
    row.save(using=alias)


def _bulk_update_on(alias: str) -> None:
    rows = list(Item.objects.using(alias).all())
    for row in rows:
        row.amount = 2
    Item.objects.using(alias).bulk_update(rows, ["amount"])


ON_ALIAS: dict[str, Callable[[str], Any]] = {
    "update": lambda alias: Item.objects.using(alias).filter(name="a").update(amount=2),
    "save": _save_on,
    "bulk_update": _bulk_update_on,
}


@pytest.mark.django_db(databases=["default", "postgresql", "mysql"])
@pytest.mark.parametrize("operation", ON_ALIAS)
@pytest.mark.parametrize("alias", ["postgresql", "mysql"])
def test_operation_on_explicit_alias(alias: str, operation: str) -> None:
    """An operation on a database the router would not pick reads, runs and rolls back there."""
    Item.objects.using(alias).create(name="a", amount=1)
    seen: list[tuple[str, list[int]]] = []

    def on_before_update(self: Any, new: list[Item], old: list[Item]) -> None:
        seen.append((self.using, [row.amount for row in old]))
        Log.objects.using(self.using).create(kind="before")

    def on_after_update(self: Any, new: list[Item], old: list[Item]) -> None:
        raise Boom()

    define("Elsewhere", on_before_update=on_before_update, on_after_update=on_after_update)
    with pytest.raises(Boom):
        ON_ALIAS[operation](alias)
    assert seen == [(alias, [1])]
    assert list(Item.objects.using(alias).values_list("amount", flat=True)) == [1]
    assert not Log.objects.using(alias).exists()
    assert not Item.objects.using("default").exists()


@pytest.mark.parametrize("operation", ["bulk_create", "bulk_update", "update", "delete"])
def test_failure_in_last_chunk_undoes_earlier_chunks(
    seeded: Snapshot, settings: Settings, operation: str
) -> None:
    """Chunks of one operation are one atomic unit: a failure in the last undoes them all."""
    settings.BULK_TRIGGERS = {"CHUNK_SIZE": 2}
    with bypass():
        Item.objects.bulk_create([Item(name=f"n{i}", amount=10 + i) for i in range(2)])
    before = snapshot()
    chunks: list[int] = []

    def fail_on_last(self: Any, rows: list[Item], *old: Any) -> None:
        chunks.append(len(rows))
        Log.objects.create(kind=f"chunk {len(chunks)}")
        if len(chunks) == 3:
            raise ValidationError("refused in the last chunk")

    define(
        "LastChunk",
        on_after_create=fail_on_last,
        on_after_update=fail_on_last,
        on_after_delete=fail_on_last,
    )

    def bulk_update() -> None:
        rows = list(Item.objects.order_by("pk"))
        for row in rows:
            row.amount += 1
        Item.objects.bulk_update(rows, ["amount"])

    run = {
        "bulk_create": lambda: Item.objects.bulk_create([Item(name=f"m{i}") for i in range(5)]),
        "bulk_update": bulk_update,
        "update": lambda: Item.objects.update(amount=F("amount") + 1),
        "delete": lambda: Item.objects.all().delete(),
    }[operation]
    with pytest.raises(ValidationError):
        run()
    assert chunks[:2] == [2, 2]
    assert len(chunks) == 3
    assert snapshot() == before
