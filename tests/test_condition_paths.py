"""Condition paths through relations (``account__status``) on every write path."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from bulk_triggers import (
    AnyChange,
    ChangesTo,
    Condition,
    HasChanged,
    IsEqual,
    IsGreaterThan,
    IsNull,
    Trigger,
    TriggerDefinitionError,
)
from tests.condsapp.models import CondAccount, CondOrder, CondOwner, CondProfile

Operation = Callable[[list[CondOrder], CondAccount], Any]


def seen_by(condition: Condition, event: str) -> list[int]:
    """Define a trigger with ``condition`` and return the list its after stage fills."""
    received: list[int] = []
    argument = "old" if event == "delete" else "new"

    def method(self: Any, *rows: list[CondOrder]) -> None:
        received.extend(sorted(row.pk for row in rows[0 if argument == "new" else -1]))

    namespace = {"condition": condition, f"on_after_{event}": method, "__module__": __name__}
    types.new_class("Seen", (Trigger[CondOrder],), {}, lambda ns: ns.update(namespace))
    return received


def accounts() -> tuple[CondAccount, CondAccount]:
    """Return an active account owned by ada@example.com and a frozen one without owner."""
    owner = CondOwner.objects.create(email="ada@example.com")
    active = CondAccount.objects.create(code="a", status="active", owner=owner)
    frozen = CondAccount.objects.create(code="f", status="frozen")
    return active, frozen


def _save(orders: list[CondOrder], target: CondAccount) -> None:
    for order in orders:
        order.account = target
        order.save()


def _save_fields(orders: list[CondOrder], target: CondAccount) -> None:
    for order in orders:
        order.account_id = target.pk
        order.save(update_fields=["account"])


def _update(orders: list[CondOrder], target: CondAccount) -> None:
    CondOrder.objects.filter(pk__in=[o.pk for o in orders]).update(account=target)


def _bulk_update(orders: list[CondOrder], target: CondAccount) -> None:
    for order in orders:
        order.account = target
    CondOrder.objects.bulk_update(orders, ["account"])


UPDATES = {"save": _save, "save_fields": _save_fields, "update": _update, "bulk": _bulk_update}


@pytest.mark.parametrize("operation", UPDATES.values(), ids=UPDATES.keys())
def test_path_on_update_follows_old_and_new_keys(using: str, operation: Operation) -> None:
    """On update, old follows the stored key and new the key about to be written."""
    active, frozen = accounts()
    moving = [CondOrder.objects.create(account=active) for _ in range(2)]
    staying = CondOrder.objects.create(account=frozen)
    received = seen_by(ChangesTo("account__status", "frozen"), "update")
    operation([*moving, staying], frozen)
    assert received == sorted(o.pk for o in moving)


@pytest.mark.parametrize(
    "operation",
    [
        lambda rows: CondOrder.objects.bulk_create(rows),
        lambda rows: [CondOrder.objects.create(account=row.account) for row in rows],
    ],
    ids=["bulk_create", "create"],
)
def test_path_on_create_reads_new(using: str, operation: Callable[[list[CondOrder]], Any]) -> None:
    """On create, a path reads the related row the new key points to."""
    active, frozen = accounts()
    received = seen_by(IsEqual("account__owner__email", "ada@example.com"), "create")
    operation([CondOrder(account=active), CondOrder(account=frozen), CondOrder()])
    assert received == list(CondOrder.objects.filter(account=active).values_list("pk", flat=True))


@pytest.mark.parametrize(
    "operation",
    [
        lambda: CondOrder.objects.all().delete(),
        lambda: [order.delete() for order in CondOrder.objects.order_by("pk")],
    ],
    ids=["queryset", "instance"],
)
def test_path_on_delete_reads_the_deleted_row(using: str, operation: Callable[[], Any]) -> None:
    """On delete, a path reads through the deleted row's stored key."""
    active, frozen = accounts()
    kept = CondOrder.objects.create(account=active).pk
    CondOrder.objects.create(account=frozen)
    received = seen_by(IsEqual("account__status", "active"), "delete")
    operation()
    assert received == [kept]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (IsNull("account__status"), ["none"]),
        (IsEqual("account__owner__email", None), ["none", "frozen"]),
        (IsNull("account__owner"), ["none", "frozen"]),
        (IsGreaterThan("account__owner__email", "a"), ["active"]),
        (IsEqual("billing__status", "frozen"), ["frozen"]),
        (IsEqual("profile__level", 3), ["active"]),
    ],
    ids=repr,
)
def test_none_along_the_path_and_other_relations(
    using: str, condition: Condition, expected: list[str]
) -> None:
    """A None along a path gives None; to_field and one-to-one relations are followed."""
    active, frozen = accounts()
    orders = {
        "active": CondOrder.objects.create(
            account=active, profile=CondProfile.objects.create(level=3)
        ),
        "frozen": CondOrder.objects.create(account=frozen, billing=frozen),
        "none": CondOrder.objects.create(),
    }
    received = seen_by(condition, "update")
    CondOrder.objects.update(status="touched")
    assert received == sorted(orders[name].pk for name in expected)


def _count(using: str, operation: Callable[[], Any]) -> int:
    with CaptureQueriesContext(connections[using]) as queries:
        operation()
    return len(queries)


@pytest.mark.parametrize(("path", "hops"), [("account__status", 1), ("account__owner__email", 2)])
@pytest.mark.parametrize("chunk_size", [2000, 2])
def test_one_query_per_relation_per_chunk(
    using: str, settings: Any, path: str, hops: int, chunk_size: int
) -> None:
    """Related rows cost one query per hop per chunk, whatever the number of rows."""
    settings.BULK_TRIGGERS = {"CHUNK_SIZE": chunk_size}
    for n in range(5):
        owner = CondOwner.objects.create(email=f"{n}@example.com")
        CondOrder.objects.create(account=CondAccount.objects.create(code=str(n), owner=owner))
    chunks = 1 if chunk_size > 5 else 3
    seen_by(AnyChange("status"), "update")  # No SQL form: every row is loaded, as below.
    baseline = _count(using, lambda: CondOrder.objects.update(status="one"))
    seen_by(HasChanged(path), "update")
    with_path = _count(using, lambda: CondOrder.objects.update(status="two"))
    assert with_path - baseline == hops * chunks


def test_chunks_sharing_related_rows_read_them_once(using: str, settings: Any) -> None:
    """A chunk whose related rows the previous chunk loaded costs no further query."""
    settings.BULK_TRIGGERS = {"CHUNK_SIZE": 2}
    active, frozen = accounts()
    CondOrder.objects.bulk_create([CondOrder(account=active) for _ in range(5)])
    seen_by(AnyChange("status"), "update")  # No SQL form: every row is loaded, as below.
    baseline = _count(using, lambda: CondOrder.objects.update(account=frozen))
    received = seen_by(ChangesTo("account__status", "active"), "update")
    assert _count(using, lambda: CondOrder.objects.update(account=active)) == baseline + 1
    assert len(received) == 5


def test_path_reads_related_rows_as_stored_before_the_write(using: str) -> None:
    """A related row changed by the same operation is read as stored before the chunk's write."""
    parent = CondOrder.objects.create(status="new")
    child = CondOrder.objects.create(status="new", parent=parent)
    received = seen_by(IsEqual("parent__status", "new"), "update")
    CondOrder.objects.update(status="done")
    assert received == [child.pk]


def test_path_without_dispatch_follows_the_instance() -> None:
    """Outside a dispatch, a path reads the related objects held in memory."""
    order = CondOrder(account=CondAccount(code="x", status="gold", owner=CondOwner(email="e")))
    assert IsEqual("account__owner__email", "e").check(order, None) is True
    assert HasChanged("account__status").check(order, CondOrder(account=CondAccount(code="y")))


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("account__nope", r"CondAccount has no concrete field 'nope'"),
        ("acount__status", r"CondOrder has no field 'acount'"),
        ("status__length", r"'status' in 'status__length' is not a ForeignKey"),
        ("lines__sku", r"'lines' in 'lines__sku' is not a ForeignKey"),
        ("account__owner", None),
        ("parent__parent__account__code", None),
    ],
)
def test_paths_are_validated_at_definition(path: str, message: str | None) -> None:
    """Each hop must be a forward ForeignKey/OneToOneField, the end a concrete field."""

    def define() -> None:
        class Checked(Trigger[CondOrder]):
            condition = HasChanged(path)

            def on_after_update(self, new: list[CondOrder], old: list[CondOrder]) -> None:
                pass

    if message is None:
        define()
        return
    with pytest.raises(TriggerDefinitionError, match=rf"Checked.*{path!r}.*{message}"):
        define()


def test_incomparable_value_names_trigger_and_field_and_writes_nothing(using: str) -> None:
    """A comparison of incomparable types raises naming field and trigger; nothing is written."""
    order = CondOrder.objects.create(status="new")

    class Compares(Trigger[CondOrder]):
        condition = IsGreaterThan("status", 5)

        def on_before_update(self, new: list[CondOrder], old: list[CondOrder]) -> None:
            pass

    with pytest.raises(TypeError, match=r"condsapp.CondOrder.status") as raised:
        CondOrder.objects.update(status="changed")
    if sys.version_info >= (3, 11):  # exception notes need Python 3.11
        assert any("Compares" in note for note in raised.value.__notes__)
    order.refresh_from_db()
    assert order.status == "new"


def test_key_changed_by_a_before_trigger_is_followed(using: str) -> None:
    """A later trigger's path follows the key an earlier before trigger wrote on new."""
    active, frozen = accounts()
    order = CondOrder.objects.create(account=active)

    class Move(Trigger[CondOrder]):
        order = 1

        def on_before_update(self, new: list[CondOrder], old: list[CondOrder]) -> None:
            for row in new:
                row.account_id = frozen.pk

    received = seen_by(ChangesTo("account__status", "frozen"), "update")
    CondOrder.objects.update(status="moved")
    assert received == [order.pk]
