"""Conditions on unsaved instances: pure Python, no database (any query would error here)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from bulk_triggers import ChangesFrom, ChangesTo, Condition, HasChanged, IsEqual, WasEqual
from tests.testapp.models import Customer, Item


def item(**values: Any) -> Item:
    """Return an unsaved Item with ``values``; nothing touches the database."""
    return Item(name="x", **values)


class AmountAbove(Condition):
    """A custom condition: the new amount is above a threshold."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold

    def check(self, new: Any, old: Any) -> bool:
        return new is not None and new.amount > self.threshold

    def field_names(self) -> tuple[str, ...]:
        return ("amount",)


OLD = {"status": "new", "amount": 5}

# (condition, new values, expected) where old is always OLD: the update case.
UPDATE_CASES = [
    (HasChanged("status"), {"status": "paid", "amount": 5}, True),
    (HasChanged("status"), {"status": "new", "amount": 9}, False),
    (ChangesTo("status", "paid"), {"status": "paid", "amount": 5}, True),
    (ChangesTo("status", "paid"), {"status": "void", "amount": 5}, False),
    (ChangesTo("status", "new"), {"status": "new", "amount": 9}, False),
    (ChangesFrom("status", "new"), {"status": "paid", "amount": 5}, True),
    (ChangesFrom("status", "new"), {"status": "new", "amount": 9}, False),
    (ChangesFrom("status", "paid"), {"status": "void", "amount": 5}, False),
    (IsEqual("amount", 9), {"status": "new", "amount": 9}, True),
    (IsEqual("amount", 5), {"status": "new", "amount": 9}, False),
    (WasEqual("amount", 5), {"status": "new", "amount": 9}, True),
    (WasEqual("amount", 9), {"status": "new", "amount": 9}, False),
]


@pytest.mark.parametrize(("condition", "new", "expected"), UPDATE_CASES, ids=repr)
def test_update_compares_new_and_old(
    condition: Condition, new: dict[str, Any], expected: bool
) -> None:
    """On update each condition compares the row's new values with its old ones."""
    assert condition.check(item(**new), item(**OLD)) is expected


CREATE_CASES = [
    (HasChanged("status"), True),
    (HasChanged("amount"), True),
    (ChangesTo("status", "paid"), True),
    (ChangesTo("status", "new"), False),
    (ChangesFrom("status", "paid"), False),
    (ChangesFrom("status", "new"), False),
    (IsEqual("status", "paid"), True),
    (IsEqual("status", "new"), False),
    (WasEqual("status", "paid"), False),
    (WasEqual("status", "new"), False),
]


@pytest.mark.parametrize(("condition", "expected"), CREATE_CASES, ids=repr)
def test_create_has_no_old(condition: Condition, expected: bool) -> None:
    """On create (old is None) HasChanged holds, ChangesTo tests new, ChangesFrom/WasEqual fail."""
    assert condition.check(item(status="paid"), None) is expected


DELETE_CASES = [
    (HasChanged("status"), False),
    (ChangesTo("status", "paid"), False),
    (ChangesTo("status", "new"), False),
    (ChangesFrom("status", "paid"), False),
    (IsEqual("status", "paid"), True),
    (IsEqual("status", "new"), False),
    (WasEqual("status", "paid"), True),
    (WasEqual("status", "new"), False),
]


@pytest.mark.parametrize(("condition", "expected"), DELETE_CASES, ids=repr)
def test_delete_has_no_new(condition: Condition, expected: bool) -> None:
    """On delete (new is None) IsEqual tests the deleted row and change conditions fail."""
    assert condition.check(None, item(status="paid")) is expected


@pytest.mark.parametrize(
    ("condition", "new", "expected"),
    [
        (HasChanged("status") & HasChanged("amount"), {"status": "paid", "amount": 6}, True),
        (HasChanged("status") & HasChanged("amount"), {"status": "paid", "amount": 5}, False),
        (HasChanged("status") | HasChanged("amount"), {"status": "new", "amount": 6}, True),
        (HasChanged("status") | HasChanged("amount"), {"status": "new", "amount": 5}, False),
        (~HasChanged("status"), {"status": "new", "amount": 6}, True),
        (~HasChanged("status"), {"status": "paid", "amount": 5}, False),
        (~~IsEqual("amount", 5), {"status": "new", "amount": 5}, True),
        (HasChanged("status") & ~IsEqual("amount", 0), {"status": "paid", "amount": 0}, False),
        (HasChanged("status") & ~IsEqual("amount", 0), {"status": "paid", "amount": 1}, True),
        (
            (ChangesTo("status", "paid") | ChangesTo("status", "void")) & WasEqual("amount", 5),
            {"status": "void", "amount": 0},
            True,
        ),
        (
            ChangesTo("status", "paid") | ChangesTo("status", "void") & WasEqual("amount", 0),
            {"status": "void", "amount": 0},
            False,
        ),
    ],
    ids=repr,
)
def test_composition(condition: Condition, new: dict[str, Any], expected: bool) -> None:
    """&, | and ~ combine conditions with Python's usual precedence."""
    assert condition.check(item(**new), item(**OLD)) is expected


@pytest.mark.parametrize(
    ("condition", "new", "old", "expected"),
    [
        (~HasChanged("status"), None, {"status": "x"}, True),
        (HasChanged("status") | IsEqual("status", "x"), None, {"status": "x"}, True),
        (HasChanged("status") & IsEqual("status", "x"), {"status": "x"}, None, True),
        (~WasEqual("status", "x"), {"status": "x"}, None, True),
    ],
    ids=repr,
)
def test_composition_on_create_and_delete(
    condition: Condition, new: dict[str, Any] | None, old: dict[str, Any] | None, expected: bool
) -> None:
    """Composed conditions follow the create/delete semantics of their parts."""
    new_row = None if new is None else item(**new)
    old_row = None if old is None else item(**old)
    assert condition.check(new_row, old_row) is expected


def test_custom_condition() -> None:
    """A Condition subclass implementing check() works alone and composed."""
    above = AmountAbove(10)
    assert above.check(item(amount=11), item(amount=0)) is True
    assert above.check(item(amount=10), item(amount=0)) is False
    both = above & HasChanged("status")
    assert both.check(item(amount=11, status="paid"), item(amount=11)) is True
    assert both.check(item(amount=11), item(amount=11)) is False
    assert (~above).check(item(amount=1), None) is True


def test_condition_without_check_is_not_silently_true() -> None:
    """A Condition subclass that forgets check() raises instead of passing every row."""

    class Forgetful(Condition):
        pass

    with pytest.raises(NotImplementedError, match="Forgetful"):
        Forgetful().check(item(), item())


@pytest.mark.parametrize("name", ["customer", "customer_id"])
def test_foreign_key_compared_by_id(name: str) -> None:
    """A ForeignKey is compared by its id, without loading the related object."""
    new, old = Item(customer_id=5), Item(customer_id=6)
    assert HasChanged(name).check(new, old) is True
    assert HasChanged(name).check(new, Item(customer_id=5)) is False
    assert ChangesTo(name, 5).check(new, old) is True
    assert ChangesFrom(name, 6).check(new, old) is True
    assert IsEqual(name, 5).check(new, old) is True
    assert WasEqual(name, 6).check(new, old) is True
    assert "customer" not in new._state.fields_cache


def test_foreign_key_unset_on_create() -> None:
    """A null ForeignKey compares as None without a query."""
    assert IsEqual("customer", None).check(Item(), None) is True
    assert ChangesTo("customer", 5).check(Item(customer_id=5), None) is True


def test_changes_to_model_instance() -> None:
    """ChangesTo/IsEqual with a model instance as value compare its primary key."""
    five = Customer(id=5, name="five")
    assert ChangesTo("customer", five).check(Item(customer_id=5), Item(customer_id=6)) is True
    assert ChangesTo("customer", five).check(Item(customer_id=6), Item(customer_id=5)) is False
    assert ChangesFrom("customer", five).check(Item(customer_id=6), Item(customer_id=5)) is True
    assert IsEqual("customer", five).check(None, Item(customer_id=5)) is True
    assert WasEqual("customer", Customer(id=7)).check(Item(customer_id=5), Item(customer_id=7))


def test_changes_to_model_instance_with_loaded_relation() -> None:
    """A new row whose relation is set by instance compares by id as well."""
    five, six = Customer(id=5, name="five"), Customer(id=6, name="six")
    assert ChangesTo("customer", five).check(Item(customer=five), Item(customer=six)) is True
    assert HasChanged("customer").check(Item(customer=five), Item(customer=Customer(id=5))) is False


def test_json_field_compared_by_value() -> None:
    """Equal JSON documents that are different objects are not a change."""
    assert HasChanged("data").check(item(data={"a": [1]}), item(data={"a": [1]})) is False
    assert HasChanged("data").check(item(data={"a": [1, 2]}), item(data={"a": [1]})) is True


def test_decimal_compared_by_value() -> None:
    """Decimals compare by value, whatever their exponent."""
    assert (
        HasChanged("price").check(item(price=Decimal("1.0")), item(price=Decimal("1.00"))) is False
    )
    assert ChangesTo("price", Decimal("2")).check(item(price=Decimal("2.00")), item()) is True


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (HasChanged("status"), "HasChanged('status')"),
        (ChangesTo("status", "paid"), "ChangesTo('status', 'paid')"),
        (ChangesFrom("amount", 0), "ChangesFrom('amount', 0)"),
        (IsEqual("note", ""), "IsEqual('note', '')"),
        (WasEqual("customer", None), "WasEqual('customer', None)"),
        (
            HasChanged("status") & ~IsEqual("amount", 0),
            "HasChanged('status') & ~IsEqual('amount', 0)",
        ),
        (
            (HasChanged("status") | HasChanged("amount")) & IsEqual("note", ""),
            "(HasChanged('status') | HasChanged('amount')) & IsEqual('note', '')",
        ),
        (
            HasChanged("status") | HasChanged("amount") & IsEqual("note", ""),
            "HasChanged('status') | (HasChanged('amount') & IsEqual('note', ''))",
        ),
        (
            ~(HasChanged("status") & HasChanged("amount")),
            "~(HasChanged('status') & HasChanged('amount'))",
        ),
        (
            HasChanged("a") & HasChanged("b") & HasChanged("c"),
            "HasChanged('a') & HasChanged('b') & HasChanged('c')",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_repr(condition: Condition, expected: str) -> None:
    """repr() reads as the Python expression that builds the condition."""
    assert repr(condition) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "HasChanged('status') & ~IsEqual('amount', 0)",
        "(HasChanged('status') | HasChanged('amount')) & IsEqual('note', '')",
        "~(ChangesTo('status', 'paid') | ChangesFrom('status', 'new'))",
    ],
)
def test_repr_round_trips(expression: str) -> None:
    """Evaluating a composed condition's repr builds an equal condition."""
    names = {
        "HasChanged": HasChanged,
        "ChangesTo": ChangesTo,
        "ChangesFrom": ChangesFrom,
        "IsEqual": IsEqual,
    }
    condition = eval(expression, names)
    assert eval(repr(condition), names) == condition


def test_equality_and_hash() -> None:
    """Conditions are equal, and hash alike, when they are built the same way."""
    assert HasChanged("status") == HasChanged("status")
    assert hash(HasChanged("status")) == hash(HasChanged("status"))
    assert HasChanged("status") != HasChanged("amount")
    assert ChangesTo("status", "a") != ChangesTo("status", "b")
    assert ChangesTo("status", "a") != IsEqual("status", "a")
    composed = HasChanged("status") & ~IsEqual("amount", 0)
    assert composed == HasChanged("status") & ~IsEqual("amount", 0)
    assert hash(composed) == hash(HasChanged("status") & ~IsEqual("amount", 0))
    assert composed != HasChanged("status") | ~IsEqual("amount", 0)
    assert composed != ~IsEqual("amount", 0) & HasChanged("status")
    assert ChangesTo("customer", Customer(id=5)) == ChangesTo("customer", 5)
    assert len({HasChanged("status"), HasChanged("status"), ~HasChanged("status")}) == 2


@pytest.mark.parametrize("other", ["status", None, True, 1, lambda new, old: True, HasChanged])
@pytest.mark.parametrize("operator", ["&", "|"])
def test_combining_with_non_condition_raises(other: object, operator: str) -> None:
    """Combining a condition with anything but a Condition instance raises TypeError."""
    condition = HasChanged("status")
    with pytest.raises(TypeError):
        if operator == "&":
            condition & other
        else:
            condition | other
    with pytest.raises(TypeError):
        if operator == "&":
            other & condition
        else:
            other | condition


@pytest.mark.parametrize(
    "build",
    [
        lambda: HasChanged(),  # type: ignore[call-arg]
        lambda: HasChanged("status", "paid"),
        lambda: ChangesTo("status"),  # type: ignore[call-arg]
        lambda: IsEqual(),  # type: ignore[call-arg]
        lambda: WasEqual("a", 1, 2),  # type: ignore[call-arg]
        lambda: HasChanged(""),
        lambda: HasChanged(5),  # type: ignore[arg-type]
    ],
    ids=["no-field", "extra-value", "missing-value", "nothing", "two-values", "empty", "not-str"],
)
def test_wrong_arguments_raise(build: Any) -> None:
    """A condition built with the wrong arguments fails where it is built."""
    with pytest.raises(TypeError):
        build()


def test_conditions_with_unhashable_values() -> None:
    """Conditions on JSON values compare by value and can still be hashed."""
    condition = ChangesTo("data", {"state": ["a"]})
    assert condition.check(item(data={"state": ["a"]}), item(data={})) is True
    assert condition.check(item(data={"state": ["a"]}), item(data={"state": ["a"]})) is False
    assert hash(condition) == hash(ChangesTo("data", {"state": ["a"]}))
    assert condition == ChangesTo("data", {"state": ["a"]})
