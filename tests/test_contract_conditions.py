"""API.md "Conditions" and "More conditions": truth rules, paths, reprs, as documented."""

from __future__ import annotations

import types
from typing import Any

import pytest
from django.core import checks
from django.core.exceptions import FieldDoesNotExist
from django.db import connections
from django.test.utils import CaptureQueriesContext

from bulk_triggers import (
    AllChange,
    AnyChange,
    ChangesFrom,
    ChangesTo,
    Condition,
    HasChanged,
    IsEqual,
    IsGreaterThan,
    IsGreaterThanOrEqual,
    IsIn,
    IsLessThan,
    IsLessThanOrEqual,
    IsNotEqual,
    IsNull,
    Trigger,
    TriggerDefinitionError,
    WasEqual,
    bypass,
)
from tests.conformapp.models import ConfAccount, ConfOrder, ConfOwner
from tests.conformapp.spy import Log, spy


def account(**values: Any) -> ConfAccount:
    """Return an unsaved account with ``values``."""
    return ConfAccount(code="c", **values)


CREATE = (account(status="vip", balance=5), None)
UPDATE = (account(status="vip", balance=5), account(status="new", balance=3))
SAME = (account(status="new", balance=3), account(status="new", balance=3))
DELETE = (None, account(status="vip", balance=5))

TRUTH = [
    (HasChanged("status"), CREATE, True),
    (HasChanged("status"), UPDATE, True),
    (HasChanged("status"), SAME, False),
    (HasChanged("status"), DELETE, False),
    (ChangesTo("status", "vip"), CREATE, True),
    (ChangesTo("status", "new"), CREATE, False),
    (ChangesTo("status", "vip"), UPDATE, True),
    (ChangesTo("status", "new"), SAME, False),
    (ChangesTo("status", "vip"), DELETE, False),
    (ChangesFrom("status", "new"), CREATE, False),
    (ChangesFrom("status", "new"), UPDATE, True),
    (ChangesFrom("status", "new"), SAME, False),
    (ChangesFrom("status", "vip"), DELETE, False),
    (WasEqual("status", "vip"), CREATE, False),
    (WasEqual("status", "new"), UPDATE, True),
    (WasEqual("status", "vip"), UPDATE, False),
    (IsEqual("status", "vip"), CREATE, True),
    (IsEqual("status", "vip"), UPDATE, True),
    (IsEqual("status", "new"), UPDATE, False),
    (IsEqual("status", "vip"), DELETE, True),
    (IsNotEqual("status", "vip"), DELETE, False),
    (IsNotEqual("status", "new"), UPDATE, True),
    (IsGreaterThan("balance", 4), UPDATE, True),
    (IsGreaterThan("balance", 5), UPDATE, False),
    (IsGreaterThanOrEqual("balance", 5), UPDATE, True),
    (IsLessThan("balance", 6), CREATE, True),
    (IsLessThan("balance", 5), CREATE, False),
    (IsLessThanOrEqual("balance", 5), DELETE, True),
    (IsLessThanOrEqual("balance", 4), DELETE, False),
    (IsIn("status", ["vip", "gold"]), UPDATE, True),
    (IsIn("status", (s for s in ["new"])), UPDATE, False),
    (IsIn("status", {"vip"}), DELETE, True),
    (IsNull("owner"), UPDATE, True),
    (IsNull("balance"), UPDATE, False),
    (AnyChange(), CREATE, True),
    (AnyChange(), UPDATE, True),
    (AnyChange(), SAME, False),
    (AnyChange(), DELETE, False),
    (AnyChange("name"), UPDATE, False),
    (AnyChange(exclude=("status", "balance")), UPDATE, False),
    (AllChange("status", "balance"), UPDATE, True),
    (AllChange("status", "name"), UPDATE, False),
    (AllChange("status"), CREATE, True),
    (AllChange("status"), DELETE, False),
    (HasChanged("status") & IsEqual("balance", 5), UPDATE, True),
    (HasChanged("status") & IsEqual("balance", 3), UPDATE, False),
    (HasChanged("name") | IsEqual("balance", 5), UPDATE, True),
    (~HasChanged("status"), UPDATE, False),
    (~HasChanged("status"), SAME, True),
]


@pytest.mark.parametrize(("condition", "rows", "expected"), TRUTH, ids=repr)
def test_truth_rules(condition: Condition, rows: tuple[Any, Any], expected: bool) -> None:
    """Each built-in condition follows API.md's rule on create, update and delete."""
    assert condition.check(*rows) is expected


@pytest.mark.parametrize("rows", [CREATE, UPDATE, SAME, DELETE], ids=["c", "u", "s", "d"])
@pytest.mark.parametrize("value", ["vip", "new", None, 5])
def test_is_not_equal_is_exactly_not_is_equal(rows: tuple[Any, Any], value: Any) -> None:
    """``IsNotEqual(f, v)`` is ``~IsEqual(f, v)`` whatever the rows and the value."""
    for field in ("status", "owner", "balance"):
        assert IsNotEqual(field, value).check(*rows) is (~IsEqual(field, value)).check(*rows)


@pytest.mark.parametrize(
    "condition", [IsGreaterThan, IsGreaterThanOrEqual, IsLessThan, IsLessThanOrEqual]
)
def test_ordering_comparisons_with_none_are_false(condition: type[Condition]) -> None:
    """An ordering comparison with None on either side is false, not an error."""
    row = account(balance=None)
    assert condition("balance", 3).check(row, None) is False
    assert condition("balance", None).check(account(balance=3), None) is False
    assert condition("balance", None).check(row, None) is False


def test_is_in_compares_instances_by_primary_key(using: str) -> None:
    """``IsIn`` with model instances (from any iterable) matches the foreign key's id."""
    with bypass():
        owners = [ConfOwner.objects.create(email=f"{i}@x") for i in range(3)]
    row = account(owner=owners[1])
    assert IsIn("owner", (o for o in owners[:2])).check(row, None) is True
    assert IsIn("owner", ConfOwner.objects.filter(pk=owners[2].pk)).check(row, None) is False
    assert IsIn("owner", [owners[1].pk]).check(row, None) is True


def test_foreign_key_compared_by_id_without_a_query(using: str) -> None:
    """A ``ForeignKey`` condition reads the stored id and runs no query."""
    with bypass():
        first, second = (ConfOwner.objects.create(email=f"{i}@x") for i in range(2))
        ConfAccount.objects.create(code="c", owner=first)
    new, old = ConfAccount.objects.get(code="c"), ConfAccount.objects.get(code="c")
    new.owner_id = second.pk
    with CaptureQueriesContext(connections[using]) as queries:
        assert HasChanged("owner").check(new, old) is True
        assert IsEqual("owner", second.pk).check(new, old) is True
        assert WasEqual("owner", first.pk).check(new, old) is True
    assert len(queries) == 0


def test_only_rows_passing_the_condition_reach_the_method(using: str) -> None:
    """A method gets the rows passing its condition, and is not called when none pass."""
    with bypass():
        ConfAccount.objects.bulk_create(ConfAccount(code=f"c{i}", balance=i) for i in range(4))
    log = Log()
    spy(ConfAccount, log, condition=ChangesTo("status", "vip"), events=("update",))
    ConfAccount.objects.filter(balance__lt=2).update(status="vip")
    ConfAccount.objects.filter(balance__lt=2).update(status="vip")
    assert [(c.stage, sorted(r["code"] for r in c.new or [])) for c in log.calls] == [
        ("before", ["c0", "c1"]),
        ("after", ["c0", "c1"]),
    ]


def test_condition_sees_earlier_before_triggers_changes(using: str) -> None:
    """A condition is evaluated just before its trigger, seeing earlier triggers' changes."""
    log = Log()

    class Promote(Trigger[ConfAccount]):
        order = 1

        def on_before_create(self, new: list[ConfAccount]) -> None:
            new[0].status = "vip"

    spy(ConfAccount, log, condition=IsEqual("status", "vip"), stages=("before",), order=2)
    ConfAccount.objects.create(code="x")
    assert len(log.calls) == 1


def test_any_change_exclude_auto_ignores_auto_now(using: str) -> None:
    """A save changing only ``auto_now`` passes ``AnyChange()``, not with ``exclude_auto``."""
    with bypass():
        obj = ConfAccount.objects.create(code="x")
    plain, no_auto, named = Log(), Log(), Log()
    spy(
        ConfAccount,
        plain,
        condition=AnyChange(),
        events=("update",),
        stages=("after",),
        name="Plain",
    )
    spy(
        ConfAccount,
        no_auto,
        condition=AnyChange(exclude_auto=True),
        events=("update",),
        stages=("after",),
        name="NoAuto",
    )
    spy(
        ConfAccount,
        named,
        condition=AnyChange("touched", "name", exclude_auto=True),
        events=("update",),
        stages=("after",),
        name="Named",
    )
    obj.save()
    assert (len(plain.calls), len(no_auto.calls), len(named.calls)) == (1, 0, 0)
    obj.name = "renamed"
    obj.save()
    assert (len(plain.calls), len(no_auto.calls), len(named.calls)) == (2, 1, 1)


def _orders() -> tuple[ConfOrder, ConfAccount, ConfAccount]:
    with bypass():
        owner = ConfOwner.objects.create(email="boss@x")
        plain = ConfAccount.objects.create(code="a", status="new")
        vip = ConfAccount.objects.create(code="b", status="vip", owner=owner)
        order = ConfOrder.objects.create(account=plain)
    return order, plain, vip


def test_paths_follow_old_stored_key_and_new_key_about_to_be_written(using: str) -> None:
    """``account__status``: ``old`` through the stored key, ``new`` through the new key."""
    order, _plain, vip = _orders()
    seen: dict[str, bool] = {}

    class Moved(Trigger[ConfOrder]):
        def on_before_update(self, new: list[ConfOrder], old: list[ConfOrder]) -> None:
            row = (new[0], old[0])
            seen["changed"] = HasChanged("account__status").check(*row)
            seen["to_vip"] = ChangesTo("account__status", "vip").check(*row)
            seen["was_new"] = WasEqual("account__status", "new").check(*row)
            seen["email"] = IsEqual("account__owner__email", "boss@x").check(*row)

    order.account = vip
    order.save()
    assert seen == {"changed": True, "to_vip": True, "was_new": True, "email": True}


def test_a_none_along_the_path_gives_none(using: str) -> None:
    """A path through a null key yields None: ``IsNull`` true, comparisons false, no error."""
    order, _plain, _vip = _orders()
    log = Log()
    spy(
        ConfOrder,
        log,
        condition=IsNull("account__owner__email")
        & IsNull("billed__name")
        & ~IsGreaterThan("billed__balance", 0)
        & IsEqual("billed__owner__email", None),
        events=("update",),
        stages=("before",),
    )
    ConfOrder.objects.filter(pk=order.pk).update(total=3)
    assert len(log.calls) == 1


def test_path_conditions_on_update_through_queryset(using: str) -> None:
    """``queryset.update(account=...)`` gives ``new`` the key about to be written."""
    order, _plain, vip = _orders()
    log = Log()
    spy(
        ConfOrder,
        log,
        condition=ChangesTo("account__status", "vip"),
        events=("update",),
        stages=("before",),
    )
    ConfOrder.objects.filter(pk=order.pk).update(account=vip)
    ConfOrder.objects.filter(pk=order.pk).update(account=vip)
    assert len(log.calls) == 1


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (HasChanged("status"), "HasChanged('status')"),
        (ChangesTo("status", "vip"), "ChangesTo('status', 'vip')"),
        (ChangesFrom("status", None), "ChangesFrom('status', None)"),
        (IsEqual("balance", 3), "IsEqual('balance', 3)"),
        (WasEqual("balance", 3), "WasEqual('balance', 3)"),
        (IsNotEqual("balance", 3), "IsNotEqual('balance', 3)"),
        (IsGreaterThan("balance", 3), "IsGreaterThan('balance', 3)"),
        (IsGreaterThanOrEqual("balance", 3), "IsGreaterThanOrEqual('balance', 3)"),
        (IsLessThan("balance", 3), "IsLessThan('balance', 3)"),
        (IsLessThanOrEqual("balance", 3), "IsLessThanOrEqual('balance', 3)"),
        (IsNull("account__owner"), "IsNull('account__owner')"),
        (AllChange("a", "b"), "AllChange('a', 'b')"),
        (AnyChange(), "AnyChange()"),
        (HasChanged("a") & HasChanged("b"), "HasChanged('a') & HasChanged('b')"),
        (HasChanged("a") | HasChanged("b"), "HasChanged('a') | HasChanged('b')"),
        (~HasChanged("a"), "~HasChanged('a')"),
    ],
)
def test_reprs_show_class_and_arguments(condition: Condition, expected: str) -> None:
    """Each condition's repr is its class and arguments; combinations use ``&``, ``|``, ``~``."""
    assert repr(condition) == expected


def test_combined_reprs_keep_their_grouping() -> None:
    """A combination's repr says how it groups, and names every part."""
    text = repr(~(HasChanged("a") | IsEqual("b", 1)) & AnyChange("c", exclude_auto=True))
    assert text.startswith("~(") and " | " in text and " & " in text
    for part in ("HasChanged('a')", "IsEqual('b', 1)", "AnyChange('c'", "exclude_auto=True"):
        assert part in text
    assert "IsIn('f', " in repr(IsIn("f", [1, 2]))


def test_custom_condition_repr_shows_constructor_arguments() -> None:
    """A custom ``Condition`` subclass shows its constructor's arguments by default."""

    class Above(Condition):
        def __init__(self, limit: int, *, strict: bool = False) -> None:
            self.limit, self.strict = limit, strict

        def check(self, new: Any, old: Any) -> bool:
            return bool(new is not None and new.balance > self.limit)

    assert repr(Above(3, strict=True)) == "Above(3, strict=True)"
    assert repr(Above(3) & HasChanged("x")) == "Above(3) & HasChanged('x')"
    assert (Above(3) & HasChanged("balance")).check(account(balance=4), account(balance=1))


@pytest.mark.parametrize(
    "condition",
    [HasChanged("nope"), IsEqual("account__nope", 1), AnyChange("nope"), IsIn("nope", [1])],
)
def test_condition_on_a_missing_field_names_trigger_and_field(condition: Condition) -> None:
    """A condition naming a missing field fails at definition or in ``manage.py check``."""
    body = {"condition": condition, "on_after_update": lambda self, new, old: None}
    try:
        types.new_class("BadField", (Trigger[ConfOrder],), {}, lambda ns: ns.update(body))
    except (TriggerDefinitionError, FieldDoesNotExist) as error:
        message = str(error)
    else:
        message = " ".join(str(m) for m in checks.run_checks())
    assert "BadField" in message and "nope" in message
