"""Comparisons, AnyChange/AllChange, repr and the pushdown hook: pure Python, no database."""

from __future__ import annotations

import datetime
import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import Q

from bulk_triggers import (
    AllChange,
    AnyChange,
    Condition,
    IsEqual,
    IsGreaterThan,
    IsGreaterThanOrEqual,
    IsIn,
    IsLessThan,
    IsLessThanOrEqual,
    IsNotEqual,
    IsNull,
    Trigger,
    WasEqual,
    WasGreaterThan,
    WasGreaterThanOrEqual,
    WasIn,
    WasLessThan,
    WasLessThanOrEqual,
    WasNotEqual,
    WasNull,
)
from bulk_triggers.testing import isolated_registry
from tests.condsapp.models import CondAccount, CondOrder
from tests.testapp.models import Customer, Item

NEW, OLD = {"amount": 5, "status": "paid"}, {"amount": 3, "status": "new"}

# (condition, update, create, delete): old is OLD and new is NEW where they exist.
TRUTH = [
    (IsGreaterThan("amount", 4), True, True, False),
    (IsGreaterThan("amount", 5), False, False, False),
    (IsGreaterThanOrEqual("amount", 5), True, True, False),
    (IsLessThan("amount", 4), False, False, True),
    (IsLessThanOrEqual("amount", 3), False, False, True),
    (IsNotEqual("status", "paid"), False, False, True),
    (IsIn("status", ["paid", "void"]), True, True, False),
    (IsIn("status", ("new",)), False, False, True),
    (IsNull("amount"), False, False, False),
    (WasGreaterThan("amount", 2), True, False, True),
    (WasGreaterThanOrEqual("amount", 4), False, False, False),
    (WasLessThan("amount", 4), True, False, True),
    (WasLessThanOrEqual("amount", 3), True, False, True),
    (WasNotEqual("status", "paid"), True, False, True),
    (WasIn("status", {"new", "void"}), True, False, True),
    (WasNull("amount"), False, False, False),
    (AnyChange(), True, True, False),
    (AnyChange("amount"), True, True, False),
    (AnyChange(exclude=["amount", "status"]), False, True, False),
    (AllChange("amount", "status"), True, True, False),
    (AllChange("amount", "name"), False, True, False),
]


def item(values: dict[str, Any]) -> Item:
    """Return an unsaved Item; nothing touches the database."""
    return Item(name="x", **values)


@pytest.mark.parametrize(("condition", "update", "create", "delete"), TRUTH, ids=repr)
def test_truth_table(condition: Condition, update: bool, create: bool, delete: bool) -> None:
    """Each condition follows the create/update/delete rules documented in the README."""
    assert condition.check(item(NEW), item(OLD)) is update
    assert condition.check(item(NEW), None) is create
    assert condition.check(None, item(OLD)) is delete


VALUES: list[Any] = [None, 0, 3, 5, "paid", "new"]


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("field", ["amount", "status", "customer"])
def test_is_not_equal_is_not_is_equal(field: str, value: Any) -> None:
    """IsNotEqual(f, v) agrees with ~IsEqual(f, v) on update, create and delete."""
    rows = [item({**NEW, "customer_id": 3}), item({**OLD, "customer_id": None}), None]
    for new in rows:
        for old in rows:
            if new is None and old is None:
                continue
            assert IsNotEqual(field, value).check(new, old) is (~IsEqual(field, value)).check(
                new, old
            )


@pytest.mark.parametrize(
    "condition",
    [IsGreaterThan, IsGreaterThanOrEqual, IsLessThan, IsLessThanOrEqual],
    ids=lambda kind: kind.__name__,
)
def test_ordering_with_none_is_false(condition: type[Condition]) -> None:
    """An ordering comparison with None on either side is false, never an error."""
    assert condition("amount", None).check(item({"amount": 5}), None) is False  # type: ignore[call-arg]
    assert condition("amount", 5).check(item({"amount": None}), None) is False  # type: ignore[call-arg]
    assert (~condition("amount", 5)).check(item({"amount": None}), None) is True  # type: ignore[call-arg]


def test_incomparable_types_name_the_field() -> None:
    """Comparing incomparable values raises a TypeError naming the model, field and values."""
    with pytest.raises(TypeError, match=r"IsGreaterThan\('amount', 'x'\).*testapp.Item\.amount"):
        IsGreaterThan("amount", "x").check(item({"amount": 5}), None)
    naive = datetime.datetime(2026, 1, 1)
    aware = naive.replace(tzinfo=datetime.timezone.utc)
    with pytest.raises(TypeError, match=r"condsapp.CondOrder\.updated_at.*datetime"):
        WasLessThan("updated_at", naive).check(None, CondOrder(updated_at=aware))


def test_is_in_accepts_any_iterable_and_instances() -> None:
    """IsIn takes generators and sets, and compares model instances by primary key."""
    assert IsIn("amount", (n for n in range(4, 6))).check(item({"amount": 5}), None) is True
    five = Customer(id=5, name="five")
    assert IsIn("customer", [five]).check(Item(customer_id=5), None) is True
    assert IsIn("customer", {five}).check(Item(customer_id=6), None) is False
    assert IsIn("customer", [None]).check(Item(), None) is True
    assert IsIn("data", [{"a": 1}]).check(item({"data": {"a": 1}}), None) is True


def test_to_field_relation_compares_the_target_field() -> None:
    """A model instance against a to_field ForeignKey compares the field it points to."""
    account = CondAccount(id=1, code="acme")
    order = CondOrder(billing_id="acme", account_id=1)
    assert IsEqual("billing", account).check(order, None) is True
    assert IsIn("billing", [account]).check(order, None) is True
    assert IsEqual("account", account).check(order, None) is True
    assert WasEqual("billing", CondAccount(id=2, code="other")).check(None, order) is False


@pytest.mark.parametrize("values", ["abc", b"abc", 5, None])
def test_is_in_refuses_a_non_iterable_or_string(values: Any) -> None:
    """IsIn with a string or non-iterable is refused where it is built."""
    with pytest.raises(TypeError, match="iterable"):
        IsIn("status", values)


def test_any_change_excludes_auto_now_and_named_fields() -> None:
    """AnyChange ignores excluded fields (by name or attname) and auto_now fields."""
    old = CondOrder(id=1, status="new", updated_at=datetime.datetime(2026, 1, 1))
    touched = CondOrder(id=1, status="new", updated_at=datetime.datetime(2026, 1, 2))
    assert AnyChange().check(touched, old) is True
    assert AnyChange(exclude_auto=True).check(touched, old) is False
    assert AnyChange("updated_at", "status", exclude_auto=True).check(touched, old) is False
    assert AnyChange(exclude=["updated_at"]).check(touched, old) is False
    moved = CondOrder(id=1, status="new", updated_at=old.updated_at, account_id=4)
    assert AnyChange(exclude=["account_id"]).check(moved, old) is False
    assert AnyChange(exclude=["account"]).check(moved, old) is False
    assert AnyChange(exclude=["status"]).check(moved, old) is True


def test_any_change_ignores_the_primary_key() -> None:
    """With no field named, AnyChange compares every concrete field but the primary key."""
    assert AnyChange().check(item({"amount": 1}), Item(id=9, name="x", amount=1)) is False


@pytest.mark.parametrize(
    "build",
    [
        lambda: AllChange(),
        lambda: AnyChange(5),
        lambda: AnyChange(exclude="status"),
        lambda: AllChange(""),
    ],
    ids=["all-none", "not-str", "exclude-str", "empty"],
)
def test_wrong_arguments_raise(build: Any) -> None:
    """AnyChange/AllChange built with the wrong arguments fail where they are built."""
    with pytest.raises(TypeError):
        build()


class Between(Condition):
    """A custom condition with a constructor and no repr of its own."""

    def __init__(self, low: int, high: int, *, field: str = "amount") -> None:
        self.low, self.high, self.field = low, high, field

    def check(self, new: Any, old: Any) -> bool:
        return new is not None and self.low <= getattr(new, self.field) <= self.high


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (IsGreaterThan("amount", 5), "IsGreaterThan('amount', 5)"),
        (IsIn("status", {"b", "a", "c"}), "IsIn('status', ('a', 'b', 'c'))"),
        (IsIn("customer", [Customer(id=3)]), "IsIn('customer', (3,))"),
        (IsNull("account__owner"), "IsNull('account__owner')"),
        (WasNotEqual("status", None), "WasNotEqual('status', None)"),
        (AnyChange(), "AnyChange()"),
        (
            AnyChange("a", exclude=("b",), exclude_auto=True),
            "AnyChange('a', exclude=('b',), exclude_auto=True)",
        ),
        (AllChange("a", "b"), "AllChange('a', 'b')"),
        (Between(1, 5, field="price"), "Between(1, 5, field='price')"),
        (~Between(1, 5) | IsNull("x"), "~Between(1, 5) | IsNull('x')"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_repr(condition: Condition, expected: str) -> None:
    """repr() shows the class and arguments; sets render sorted, so runs agree."""
    assert repr(condition) == expected


def test_equality_of_new_conditions() -> None:
    """The new conditions are equal, and hash alike, when built the same way."""
    assert IsIn("status", {"a", "b"}) == IsIn("status", ["a", "b"])
    assert hash(AnyChange("a", exclude_auto=True)) == hash(AnyChange("a", exclude_auto=True))
    assert AnyChange("a") != AllChange("a")
    assert IsGreaterThan("amount", 1) != WasGreaterThan("amount", 1)


@pytest.mark.parametrize(
    ("condition", "event", "expected"),
    [
        (WasEqual("status", "new"), "update", Q(status__exact="new")),
        (WasIn("status", ["a"]), "delete", Q(status__in=("a",))),
        (IsEqual("status", "new"), "delete", Q(status__exact="new")),
        (IsEqual("status", "new"), "update", None),
        (IsNotEqual("status", "new"), "delete", None),
        (WasGreaterThan("amount", 1), "update", Q(amount__gt=1)),
        (WasNull("amount"), "update", Q(amount__isnull=True)),
        (WasEqual("amount", 1) & IsEqual("status", "x"), "update", Q(amount__exact=1)),
        (WasEqual("amount", 1) | IsEqual("status", "x"), "update", None),
        (~WasEqual("amount", 1), "update", None),
        (AnyChange(), "update", None),
        (WasEqual("amount", 1), "create", None),
    ],
    ids=repr,
)
def test_as_q_pushdown_hook(condition: Condition, event: str, expected: Q | None) -> None:
    """as_q() gives a filter on stored rows that rows able to pass must match, or None."""
    assert condition.as_q(event) == expected


def test_listing_is_stable_from_run_to_run() -> None:
    """`manage.py triggers` JSON shows custom and set-valued conditions without addresses."""
    with isolated_registry():

        class Listed(Trigger[Item]):
            condition = Between(1, 5) & IsIn("status", {"b", "a"}) | AnyChange(exclude_auto=True)

            def on_after_update(self, new: list[Item], old: list[Item]) -> None:
                pass

        out = StringIO()
        call_command("triggers", "testapp.Item", "--format", "json", stdout=out)
    (entry,) = json.loads(out.getvalue())[0]["events"]["update"]["after"]
    assert entry["condition"] == (
        "(Between(1, 5) & IsIn('status', ('a', 'b'))) | AnyChange(exclude_auto=True)"
    )
