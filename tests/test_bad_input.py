"""Bad input: each mistake raises an error that names what is wrong, and writes nothing.

"Nothing" includes what triggers would have written elsewhere: every test seeds rows,
runs the mistake, and compares every table with its snapshot. A witness trigger writes
a ``Log`` row in each before stage and records its after stage, so a refused operation
that ran its before stage and was not rolled back shows in the snapshot.

Covered elsewhere, not repeated here: the class-definition errors one by one
(``test_trigger.py``: typos, signatures, conditions, ``order``, model argument),
``bypass()`` rejecting the usual non-targets (``test_bypass.py``), the check messages
(``test_checks.py``), ``PROTECT_OLD`` for one update (``test_conf.py``), exceptions and
database errors in each stage (``test_transactions.py``).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import FieldDoesNotExist
from django.db.models import F
from django.test.utils import isolate_apps
from pytest_django.fixtures import Settings

from bulk_triggers import Condition, HasChanged, Trigger, TriggerDefinitionError, bypass
from bulk_triggers.checks import check_triggers
from bulk_triggers.models import TriggerModelMixin
from bulk_triggers.registry import registry
from tests.testapp.models import Customer, Item, Log

Snapshot = tuple[list[dict[str, Any]], ...]


def snapshot() -> Snapshot:
    """Return every row of Item, Customer and Log, in primary key order."""
    return tuple(
        list(model._base_manager.order_by("pk").values()) for model in (Item, Customer, Log)
    )


def define(name: str, **namespace: Any) -> Any:
    """Define the trigger class ``name`` on Item with ``namespace``."""
    namespace.setdefault("__module__", __name__)
    return types.new_class(name, (Trigger[Item],), {}, lambda ns: ns.update(namespace))


@pytest.fixture
def after_calls() -> list[str]:
    """Define a witness trigger: it logs in every before stage and records every after stage."""
    calls: list[str] = []

    def before(event: str) -> Callable[..., None]:
        def method(self: Any, rows: list[Item], *old: Any) -> None:
            Log.objects.create(kind=f"witness before {event}", ref=str(len(rows)))

        return method

    def after(event: str) -> Callable[..., None]:
        return lambda self, rows, *old: calls.append(event)

    events = ("create", "update", "delete")
    define(
        "Witness",
        order=-10,
        **{f"on_before_{event}": before(event) for event in events},
        **{f"on_after_{event}": after(event) for event in events},
    )
    return calls


@pytest.fixture
def seeded(using: str, after_calls: list[str]) -> Snapshot:
    """Store a customer and three items, before any trigger the test defines; return the state."""
    with bypass():
        customer = Customer.objects.create(name="c")
        Item.objects.bulk_create(
            Item(name=name, amount=amount, customer=customer, data={"k": amount})
            for name, amount in (("a", 1), ("b", 2), ("c", 3))
        )
    return snapshot()


def described(exc: BaseException) -> str:
    """Return an exception's message and notes, where a trigger's name may appear."""
    return "\n".join([str(exc), *getattr(exc, "__notes__", [])])


def assert_untouched(seeded: Snapshot, after_calls: list[str]) -> None:
    """Every table is as seeded and no after stage ran."""
    assert snapshot() == seeded
    assert after_calls == []


# ---------------------------------------------------------------------------------------
# A trigger for a model that is not installed


def test_trigger_for_a_model_not_installed_fails_the_check() -> None:
    """A trigger on a model whose app is not in INSTALLED_APPS is E004, naming both."""
    with isolate_apps():

        class Stray(TriggerModelMixin):
            class Meta:
                app_label = "not_installed"

        class OnStray(Trigger[Stray]):
            def on_after_create(self, new: list[Stray]) -> None:
                pass

        messages = [m for m in check_triggers() if m.id == "bulk_triggers.E004"]
    assert len(messages) == 1
    assert OnStray.label in messages[0].msg
    assert "not_installed.Stray" in messages[0].msg
    assert "INSTALLED_APPS" in messages[0].msg + (messages[0].hint or "")


# ---------------------------------------------------------------------------------------
# Class definitions that fail register nothing, not even their valid methods


DEFINITION_ERRORS: dict[str, tuple[dict[str, Any], str]] = {
    "event-typo": ({"on_before_updte": lambda self, new, old: None}, "on_before_updte"),
    "wrong-signature": ({"on_before_update": lambda self, new: None}, "on_before_update"),
    "missing-field": ({"condition": HasChanged("amout")}, "amout"),
    "condition-string": ({"condition": "amount"}, "condition"),
    "condition-callable": ({"condition": lambda new, old: True}, "condition"),
    "condition-class": ({"condition": HasChanged}, "condition"),
    "order-string": ({"order": "first"}, "order"),
}


@pytest.mark.parametrize("mistake", DEFINITION_ERRORS)
def test_failed_definition_registers_none_of_its_methods(
    seeded: Snapshot, after_calls: list[str], mistake: str
) -> None:
    """A class with one mistake and one valid method fails, naming both, and never runs."""
    namespace, named = DEFINITION_ERRORS[mistake]

    def on_after_update(self: Any, new: list[Item], old: list[Item]) -> None:
        Log.objects.create(kind="broken trigger ran")

    with pytest.raises(TriggerDefinitionError) as raised:
        define("HalfGood", on_after_update=on_after_update, **namespace)
    assert "HalfGood" in str(raised.value)
    assert named in str(raised.value)
    assert not any(trigger.__name__ == "HalfGood" for trigger in registry)
    Item.objects.filter(name="a").update(amount=F("amount") + 10)
    assert not Log.objects.filter(kind="broken trigger ran").exists()
    assert Item.objects.get(name="a").amount == 11


# ---------------------------------------------------------------------------------------
# Conditions that fail when they are checked


class ReadsMissingField(Condition):
    """Reads ``stauts`` (a typo) without declaring it in field_names()."""

    def check(self, new: Any, old: Any) -> bool:
        return bool(new.stauts == "paid")


class ForgetsCheck(Condition):
    """Never implements check()."""


class NarrowCheck(Condition):
    """Implements check() without the ``old`` parameter."""

    def check(self, new: Any) -> bool:  # type: ignore[override]
        return True


@pytest.mark.parametrize(
    "condition",
    [ReadsMissingField(), ForgetsCheck(), NarrowCheck()],
    ids=lambda condition: type(condition).__name__,
)
@pytest.mark.parametrize("operation", ["update", "save"])
def test_broken_condition_names_the_trigger_and_changes_nothing(
    seeded: Snapshot, after_calls: list[str], condition: Condition, operation: str
) -> None:
    """A condition that raises fails the operation naming the trigger; nothing is written."""

    def run() -> None:
        define(
            "Guarded",
            condition=condition,
            on_before_update=lambda self, new, old: Log.objects.create(kind="guarded"),
            on_after_update=lambda self, new, old: Log.objects.create(kind="guarded"),
        )
        if operation == "update":
            Item.objects.filter(amount__gte=2).update(amount=F("amount") + 1)
        else:
            item = Item.objects.get(name="a")
            item.amount = 5
            item.save()

    with pytest.raises(Exception) as raised:  # refused at definition, or when checked
        run()
    assert_untouched(seeded, after_calls)
    if isinstance(raised.value, TriggerDefinitionError) or sys.version_info >= (3, 11):
        assert f"{__name__}.Guarded" in described(raised.value)


# ---------------------------------------------------------------------------------------
# bypass() given something that is neither a trigger nor a model


@pytest.mark.parametrize(
    "targets",
    [(Trigger[Item],), (Item, 42), (Item.objects,), (Item.objects.all(),)],
    ids=["generic-alias", "model-and-int", "manager", "queryset"],
)
def test_bypass_refuses_non_targets_before_its_block_runs(
    seeded: Snapshot, after_calls: list[str], targets: tuple[Any, ...]
) -> None:
    """bypass() names the bad target and refuses it before the block can write anything."""
    with pytest.raises(TypeError) as raised, bypass(*targets):
        Item.objects.update(amount=0)
    assert repr(targets[-1]) in str(raised.value)
    assert_untouched(seeded, after_calls)


def test_bypass_decorator_refuses_at_decoration(seeded: Snapshot, after_calls: list[str]) -> None:
    """@bypass(<not a target>) fails where the function is decorated, not when it runs."""
    with pytest.raises(TypeError, match="'Item'"):

        @bypass("Item")  # type: ignore[arg-type]
        def reset() -> None:
            Item.objects.update(amount=0)

    assert_untouched(seeded, after_calls)


# ---------------------------------------------------------------------------------------
# Wrong objects handed to bulk operations


def _item(name: str) -> Item:
    return Item.objects.get(name=name)


REFUSED_INPUT: dict[str, tuple[Callable[[], Any], type[Exception], tuple[str, ...]]] = {
    "bulk_create-with-a-customer": (
        lambda: Item.objects.bulk_create([Item(name="x"), Customer(name="intruder")]),
        TypeError,
        ("bulk_create", "testapp.Item", "Customer"),
    ),
    "bulk_create-with-a-dict": (
        lambda: Item.objects.bulk_create([Item(name="x"), {"name": "y"}]),  # type: ignore[list-item]
        TypeError,
        ("bulk_create", "testapp.Item", "dict"),
    ),
    "bulk_update-with-a-customer": (
        lambda: Item.objects.bulk_update([_item("a"), Customer.objects.get()], ["name"]),
        TypeError,
        ("bulk_update", "testapp.Item", "Customer"),
    ),
    "bulk_update-with-an-unsaved-item": (
        lambda: Item.objects.bulk_update([_item("a"), Item(name="new", amount=7)], ["amount"]),
        ValueError,
        ("primary key",),
    ),
    "bulk_update-of-an-unknown-field": (
        lambda: Item.objects.bulk_update([_item("a")], ["amout"]),
        FieldDoesNotExist,
        ("amout",),
    ),
    "bulk_update-of-the-primary-key": (
        lambda: Item.objects.bulk_update([_item("a")], ["id"]),
        ValueError,
        ("primary key",),
    ),
    "update-of-an-unknown-field": (
        lambda: Item.objects.update(amout=1),
        FieldDoesNotExist,
        ("amout",),
    ),
}


@pytest.mark.parametrize("mistake", REFUSED_INPUT)
def test_wrong_objects_are_refused_before_any_trigger(
    seeded: Snapshot, after_calls: list[str], mistake: str
) -> None:
    """Mixed models, unsaved objects, unknown fields: refused, named, nothing written."""
    operation, expected, fragments = REFUSED_INPUT[mistake]
    with pytest.raises(expected) as raised:
        operation()
    for fragment in fragments:
        assert fragment in str(raised.value)
    assert_untouched(seeded, after_calls)


def test_bulk_update_skips_rows_deleted_meanwhile(seeded: Snapshot, after_calls: list[str]) -> None:
    """An object whose row is gone is not written and reaches no trigger, as in Django."""
    gone, kept = _item("a"), _item("b")
    with bypass():
        Item.objects.filter(pk=gone.pk).delete()
    gone.amount = kept.amount = 50
    assert Item.objects.bulk_update([gone, kept], ["amount"]) == 1
    assert after_calls == ["update"]
    assert list(Item.objects.values_list("name", "amount")) == [("b", 50), ("c", 3)]


# ---------------------------------------------------------------------------------------
# Triggers that return a value or change ``old``


OPERATIONS: dict[str, tuple[str, Callable[[], Any]]] = {
    "create": ("create", lambda: Item.objects.create(name="x", amount=1)),
    "save-new": ("create", lambda: Item(name="x", amount=1).save()),
    "bulk_create": ("create", lambda: Item.objects.bulk_create([Item(name="x"), Item(name="y")])),
    "save": ("update", lambda: _item("a").save()),
    "bulk_update": ("update", lambda: Item.objects.bulk_update([_item("a")], ["amount"])),
    "update": ("update", lambda: Item.objects.filter(amount__gte=2).update(note="n")),
    "delete-instance": ("delete", lambda: _item("a").delete()),
    "delete-queryset": ("delete", lambda: Item.objects.filter(amount__gte=2).delete()),
}


def _with_old(event: str, body: Callable[[list[Item], list[Item]], Any]) -> Callable[..., Any]:
    """Build an event method for ``event`` that calls ``body(rows, old)``."""
    if event == "update":
        return lambda self, new, old: body(new, old)
    if event == "delete":
        return lambda self, old: body(old, old)
    return lambda self, new: body(new, [])


@pytest.mark.parametrize("stage", ["before", "after"])
@pytest.mark.parametrize("operation", OPERATIONS)
def test_trigger_returning_a_value_is_named_and_undone(
    seeded: Snapshot, after_calls: list[str], operation: str, stage: str
) -> None:
    """An event method that returns something raises TypeError naming it; nothing is written."""
    event, run = OPERATIONS[operation]

    def returns(rows: list[Item], old: list[Item]) -> list[Item]:
        Log.objects.create(kind="returner ran")
        return rows

    trigger = define("Returner", **{f"on_{stage}_{event}": _with_old(event, returns)})
    with pytest.raises(TypeError) as raised:
        run()
    assert f"{trigger.label}.on_{stage}_{event}" in str(raised.value)
    assert "return" in str(raised.value)
    assert snapshot() == seeded
    assert after_calls == ([] if stage == "before" else [event])  # the witness runs first


MUTATIONS: dict[str, Callable[[Item], None]] = {
    "amount": lambda row: setattr(row, "amount", 99),
    "customer_id": lambda row: setattr(row, "customer_id", None),
    "data": lambda row: row.data.update(k="changed in place"),
}


@pytest.mark.parametrize("field", MUTATIONS)
@pytest.mark.parametrize("stage", ["before", "after"])
@pytest.mark.parametrize(
    "operation", [name for name, (event, _) in OPERATIONS.items() if event != "create"]
)
def test_trigger_changing_old_is_named_and_undone(
    seeded: Snapshot,
    after_calls: list[str],
    settings: Settings,
    operation: str,
    stage: str,
    field: str,
) -> None:
    """With PROTECT_OLD, changing old raises TypeError naming trigger and field; nothing written."""
    settings.BULK_TRIGGERS = {**settings.BULK_TRIGGERS, "PROTECT_OLD": True}
    event, run = OPERATIONS[operation]

    def meddles(rows: list[Item], old: list[Item]) -> None:
        Log.objects.create(kind="meddler ran")
        MUTATIONS[field](old[0])

    trigger = define("Meddler", **{f"on_{stage}_{event}": _with_old(event, meddles)})
    with pytest.raises(TypeError) as raised:
        run()
    message = str(raised.value)
    assert f"{trigger.label}.on_{stage}_{event}" in message
    assert f".{field}" in message
    assert snapshot() == seeded
    assert after_calls == ([] if stage == "before" else [event])
