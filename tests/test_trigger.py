"""Trigger classes: registration, validation at class definition, and how they are called."""

from __future__ import annotations

import sys
import types
from typing import Any, TypeVar

import pytest
from django.db import models

from bulk_triggers import (
    ChangesTo,
    Condition,
    HasChanged,
    IsEqual,
    Trigger,
    TriggerDefinitionError,
)
from bulk_triggers.registry import registry
from tests.testapp.models import Customer, Item, ItemProxy, Log

M = TypeVar("M", bound=models.Model)


def define(name: str, base: Any = Item, **namespace: Any) -> Any:
    """Define the trigger class ``name`` on ``base`` (a model, or a generic trigger alias)."""
    parent = Trigger[base] if isinstance(base, type) and issubclass(base, models.Model) else base
    namespace.setdefault("__module__", __name__)
    return types.new_class(name, (parent,), {}, lambda ns: ns.update(namespace))


def snapshot() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return every row of Item and Log, in primary key order."""
    return (
        list(Item.objects.order_by("pk").values()),
        list(Log.objects.order_by("pk").values()),
    )


def test_subclassing_registers() -> None:
    """Defining a subclass registers it for its model and events; no decorator needed."""

    class Stamp(Trigger[Item]):
        def on_before_update(self, new: list[Item], old: list[Item]) -> None:
            pass

    assert Stamp in registry
    assert registry.for_model(Item, "update") == (Stamp,)
    assert registry.for_model(Item, "create") == ()
    assert registry.for_model(Customer, "update") == ()


def test_model_attribute() -> None:
    """The model comes from the type argument and is available as ``.model``."""

    class OnCustomer(Trigger[Customer]):
        def on_after_create(self, new: list[Customer]) -> None:
            pass

    class OnProxy(Trigger[ItemProxy]):
        def on_after_create(self, new: list[ItemProxy]) -> None:
            pass

    assert OnCustomer.model is Customer
    assert OnProxy.model is ItemProxy


def test_generic_base_is_not_registered() -> None:
    """A trigger generic in a TypeVar is a base; each concrete subclass is registered."""

    class Audit(Trigger[M]):
        def on_after_update(self, new: list[M], old: list[M]) -> None:
            pass

    assert Audit not in registry
    assert registry.for_model(Item, "update") == ()

    class ItemAudit(Audit[Item]):
        pass

    class CustomerAudit(Audit[Customer]):
        pass

    assert ItemAudit.model is Item
    assert CustomerAudit.model is Customer
    assert registry.for_model(Item, "update") == (ItemAudit,)
    assert registry.for_model(Customer, "update") == (CustomerAudit,)
    assert Audit not in registry


def test_generic_base_two_levels() -> None:
    """A generic base may itself subclass another generic base before being made concrete."""

    class Base(Trigger[M]):
        order = 3

        def on_after_delete(self, old: list[M]) -> None:
            pass

    class Middle(Base[M]):
        pass

    class Concrete(Middle[Item]):
        pass

    assert Base not in registry and Middle not in registry
    assert registry.for_model(Item, "delete") == (Concrete,)
    assert Concrete.order == 3


def test_order_then_definition_order() -> None:
    """Triggers are sorted by ``order``, and ties keep definition order."""

    late = define("Late", order=10, on_after_update=_update)
    first_zero = define("FirstZero", order=0, on_after_update=_update)
    early = define("Early", order=-5, on_after_update=_update)
    second_zero = define("SecondZero", on_after_update=_update)
    assert registry.for_model(Item, "update") == (early, first_zero, second_zero, late)


def test_order_decides_execution(using: str) -> None:
    """The triggers of one operation run in registry order, stage by stage."""
    ran: list[str] = []

    def recording(name: str, order: int) -> None:
        def on_before_update(self: Any, new: list[Item], old: list[Item]) -> None:
            ran.append(f"before {name}")

        def on_after_update(self: Any, new: list[Item], old: list[Item]) -> None:
            ran.append(f"after {name}")

        define(
            name, order=order, on_before_update=on_before_update, on_after_update=on_after_update
        )

    recording("B", 1)
    recording("A", -1)
    recording("C", 1)
    Item.objects.create(name="x")
    Item.objects.update(amount=1)
    assert ran == ["before A", "before B", "before C", "after A", "after B", "after C"]


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [
        ("on_after_updte", "on_after_update"),
        ("on_before_save", None),
        ("on_after_created", "on_after_create"),
        ("on_comit_delete", "on_commit_delete"),
    ],
)
def test_event_method_typo(typo: str, suggestion: str | None) -> None:
    """A method starting with ``on_`` that is not an event fails at class definition."""

    def method(self: Any, new: Any, old: Any = None) -> None:
        pass

    with pytest.raises(TriggerDefinitionError) as raised:
        define("Typo", **{typo: method})
    message = str(raised.value)
    assert "Typo" in message
    assert typo in message
    if suggestion:
        assert f"'{suggestion}'" in message
    assert not any(t.__name__ == "Typo" for t in registry)


def test_typo_in_class_statement() -> None:
    """The typical typo in a class statement is refused and names trigger and fix."""
    with pytest.raises(TriggerDefinitionError, match=r"ShipOrder.*on_after_updte.*on_after_update"):

        class ShipOrder(Trigger[Item]):
            def on_after_updte(self, new: list[Item], old: list[Item]) -> None:
                pass


def test_helpers_without_on_prefix_are_allowed() -> None:
    """Methods and attributes not starting with ``on_`` are the trigger's own business."""

    class Helpful(Trigger[Item]):
        threshold = 3

        def once(self) -> int:
            return self.threshold

        def on_after_create(self, new: list[Item]) -> None:
            self.once()

    assert Helpful().once() == 3
    assert Helpful in registry


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("on_before_update", "def on_before_update(self, new): pass"),
        ("on_after_update", "def on_after_update(self): pass"),
        ("on_before_create", "def on_before_create(self, new, old): pass"),
        ("on_after_delete", "def on_after_delete(self, old, new): pass"),
        ("on_commit_update", "def on_commit_update(self, new, old, extra): pass"),
        ("on_before_delete", "def on_before_delete(old): pass"),
        ("on_after_create", "on_after_create = staticmethod(lambda: None)"),
        ("on_after_create", "on_after_create = 'not a method'"),
    ],
)
def test_wrong_signature(name: str, source: str) -> None:
    """An event method that cannot take the event's arguments fails at class definition."""
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    with pytest.raises(TriggerDefinitionError, match=rf"Mistyped.*{name}"):
        define("Mistyped", **{name: namespace[name]})


@pytest.mark.parametrize(
    "source",
    [
        "def on_before_update(self, new, old, extra=None): pass",
        "def on_before_update(self, *rows): pass",
        "def on_before_update(self, new, *args, **kwargs): pass",
        "def on_before_update(self, items, previous): pass",
    ],
)
def test_compatible_signatures_accepted(source: str) -> None:
    """Any method that accepts the event's positional arguments is fine."""
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    trigger = define("Flexible", on_before_update=namespace["on_before_update"])
    assert registry.for_model(Item, "update") == (trigger,)


def test_async_method_refused() -> None:
    """An ``async def`` event method fails at class definition."""
    with pytest.raises(TriggerDefinitionError, match=r"Eager.*on_after_create"):

        class Eager(Trigger[Item]):
            async def on_after_create(self, new: list[Item]) -> None:
                pass


@pytest.mark.parametrize(
    ("condition", "field"),
    [
        (HasChanged("stauts"), "stauts"),
        (ChangesTo("customer_name", "x"), "customer_name"),
        (HasChanged("status") & ~IsEqual("amout", 0), "amout"),
        (~(IsEqual("status", "x") | HasChanged("nope")), "nope"),
    ],
    ids=repr,
)
def test_condition_on_missing_field(condition: Any, field: str) -> None:
    """A condition naming a field the model lacks fails naming trigger and field."""
    with pytest.raises(TriggerDefinitionError) as raised:
        define("Misnamed", condition=condition, on_after_update=_update)
    message = str(raised.value)
    assert "Misnamed" in message
    assert repr(field) in message or field in message
    assert registry.for_model(Item, "update") == ()


def test_condition_on_inherited_field() -> None:
    """Conditions may name fields by name or attname, including those of parent models."""
    from tests.testapp.models import Restaurant

    define("ByAttname", condition=IsEqual("customer_id", 1), on_after_update=_update)
    define("ByParentField", Restaurant, condition=HasChanged("name"), on_after_update=_update)
    assert len(registry.for_model(Item, "update")) == 1
    assert len(registry.for_model(Restaurant, "update")) == 1


def _update(self: Any, new: list[Any], old: list[Any]) -> None:
    pass


@pytest.mark.parametrize(
    "condition",
    ["status", lambda new, old: True, HasChanged, ("status",), True],
    ids=["string", "lambda", "class", "tuple", "bool"],
)
def test_condition_must_be_a_condition_instance(condition: Any) -> None:
    """A ``condition`` that is not a Condition instance fails at class definition."""
    with pytest.raises(TriggerDefinitionError, match=r"Loose.*condition"):
        define("Loose", condition=condition, on_after_update=_update)


@pytest.mark.parametrize("order", ["1", 1.5, None, True])
def test_order_must_be_an_integer(order: Any) -> None:
    """A non-integer ``order`` fails at class definition."""
    with pytest.raises(TriggerDefinitionError, match=r"Disorderly.*order"):
        define("Disorderly", order=order, on_after_update=_update)


@pytest.mark.parametrize("argument", [int, str, object, "Item", Item(name="instance")], ids=repr)
def test_type_argument_must_be_a_model(argument: Any) -> None:
    """A type argument that is not a model class fails at class definition."""
    with pytest.raises(TriggerDefinitionError, match="NotAModel"):
        define("NotAModel", Trigger[argument], on_after_create=lambda self, new: None)


def test_called_directly_without_database() -> None:
    """A trigger is plain Python: call its method in a unit test, with no database."""

    class Ship(Trigger[Item]):
        condition = ChangesTo("status", "shipped")

        def on_before_update(self, new: list[Item], old: list[Item]) -> None:
            for row, previous in zip(new, old, strict=True):
                row.note = f"{previous.status} -> {row.status}"

    new, old = Item(name="a", status="shipped"), Item(name="a", status="paid")
    Ship().on_before_update([new], [old])
    assert new.note == "paid -> shipped"
    assert old.note == ""
    assert Ship.condition.check(new, old) is True


def test_using_set_by_dispatcher(using: str) -> None:
    """``self.using`` is the alias of the operation being dispatched, in every stage."""
    seen: list[tuple[str, str]] = []

    class Where(Trigger[Item]):
        def on_before_create(self, new: list[Item]) -> None:
            seen.append(("before", self.using))

        def on_after_update(self, new: list[Item], old: list[Item]) -> None:
            seen.append(("after", self.using))

    row = Item.objects.using(using).create(name="a")
    Item.objects.using(using).filter(pk=row.pk).update(amount=3)
    assert seen == [("before", using), ("after", using)]


@pytest.mark.parametrize("stage", ["before", "after"])
def test_returning_a_value_raises(using: str, stage: str) -> None:
    """An event method that returns something raises TypeError naming it, and rolls back."""
    row = Item.objects.create(name="a", amount=1)

    def method(self: Any, new: list[Item], old: list[Item]) -> list[Item]:
        Log.objects.create(kind="wrote")
        return new

    trigger = define("Returner", **{f"on_{stage}_update": method})
    before = snapshot()
    with pytest.raises(TypeError) as raised:
        Item.objects.filter(pk=row.pk).update(amount=2)
    assert trigger.label in str(raised.value)
    assert f"on_{stage}_update" in str(raised.value)
    assert snapshot() == before


def raise_from_trigger(stage: str, event: str, exc: BaseException) -> Any:
    """Store a row, define a trigger raising ``exc`` in ``stage``, then run ``event`` on the row."""
    row = Item.objects.create(name="a")

    def method(self: Any, *rows: Any) -> None:
        raise exc

    trigger = define("Exploding", **{f"on_{stage}_{event}": method})
    operation = {
        "create": lambda: Item.objects.create(name="b"),
        "update": lambda: Item.objects.filter(pk=row.pk).update(amount=1),
        "delete": lambda: Item.objects.filter(pk=row.pk).delete(),
    }[event]
    with pytest.raises(type(exc)) as raised:
        operation()
    assert raised.value is exc
    return trigger


STAGE_EVENTS = [
    ("before", "create"),
    ("after", "create"),
    ("before", "update"),
    ("after", "delete"),
]


@pytest.mark.parametrize(("stage", "event"), STAGE_EVENTS)
def test_exception_is_the_same_object(using: str, stage: str, event: str) -> None:
    """An exception escaping a trigger reaches the caller as the very object raised."""
    raise_from_trigger(stage, event, LookupError("boom"))


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes need Python 3.11")
@pytest.mark.parametrize(("stage", "event"), STAGE_EVENTS)
def test_exception_carries_a_note(using: str, stage: str, event: str) -> None:
    """An exception escaping a trigger has a note naming the trigger, the stage and the event."""
    boom = LookupError("boom")
    trigger = raise_from_trigger(stage, event, boom)
    notes = "\n".join(getattr(boom, "__notes__", []))
    assert trigger.label in notes
    assert f"on_{stage}_{event}" in notes
    assert event in notes


def test_mutating_old_is_ignored(using: str) -> None:
    """Changes a before trigger makes to ``old`` are not written anywhere."""
    row = Item.objects.create(name="a", amount=1, note="kept")

    class Meddler(Trigger[Item]):
        def on_before_update(self, new: list[Item], old: list[Item]) -> None:
            for previous in old:
                previous.note = "meddled"
                previous.amount = 99

    Item.objects.filter(pk=row.pk).update(amount=2)
    row.refresh_from_db()
    assert (row.amount, row.note) == (2, "kept")


def test_condition_filters_rows_and_keeps_pairs(using: str) -> None:
    """A method receives only passing rows, with new[i] and old[i] still the same row."""
    Item.objects.bulk_create([Item(name=f"r{i}", amount=i) for i in range(6)])
    received: list[list[tuple[str, int, int]]] = []

    class EvenOnly(Trigger[Item]):
        condition = IsEqual("status", "even")

        def on_after_update(self, new: list[Item], old: list[Item]) -> None:
            received.append([(n.name, n.amount, o.amount) for n, o in zip(new, old, strict=True)])

    rows = list(Item.objects.order_by("amount"))
    for row in rows:
        row.status = "even" if row.amount % 2 == 0 else "odd"
        row.amount += 10
    Item.objects.bulk_update(rows, ["status", "amount"])
    assert received == [[("r0", 10, 0), ("r2", 12, 2), ("r4", 14, 4)]]


@pytest.mark.parametrize("event", ["create", "update", "delete"])
def test_method_not_called_when_no_row_passes(using: str, event: str) -> None:
    """When no row passes the condition the method is not called at all, not with []."""
    row = Item.objects.create(name="a", status="new")
    called: list[str] = []
    arguments = {"create": "self, new", "update": "self, new, old", "delete": "self, old"}[event]
    namespace: dict[str, Any] = {"called": called}
    for stage in ("before", "after"):
        exec(
            f"def on_{stage}_{event}({arguments}): called.append({stage!r})",
            namespace,
        )
    define(
        "Never",
        condition=IsEqual("status", "never"),
        **{f"on_{s}_{event}": namespace[f"on_{s}_{event}"] for s in ("before", "after")},
    )
    {
        "create": lambda: Item.objects.bulk_create([Item(name="b"), Item(name="c")]),
        "update": lambda: Item.objects.update(amount=3),
        "delete": lambda: Item.objects.filter(pk=row.pk).delete(),
    }[event]()
    assert called == []


def test_condition_sees_earlier_before_triggers(using: str) -> None:
    """A condition is evaluated just before its trigger, after earlier triggers changed new."""
    row = Item.objects.create(name="a", amount=5, status="paid")
    seen: list[tuple[str, str]] = []

    class Ship(Trigger[Item]):
        order = 1

        def on_before_update(self, new: list[Item], old: list[Item]) -> None:
            for item in new:
                if item.amount > 10:
                    item.status = "shipped"

    class Notify(Trigger[Item]):
        order = 2
        condition = ChangesTo("status", "shipped")

        def on_before_update(self, new: list[Item], old: list[Item]) -> None:
            seen.extend((n.status, o.status) for n, o in zip(new, old, strict=True))

    class TooEarly(Trigger[Item]):
        order = 0
        condition = ChangesTo("status", "shipped")

        def on_before_update(self, new: list[Item], old: list[Item]) -> None:
            seen.append(("too early", ""))

    Item.objects.filter(pk=row.pk).update(amount=20)
    assert seen == [("shipped", "paid")]
    row.refresh_from_db()
    assert row.status == "shipped"


def test_delete_condition_tests_deleted_rows(using: str) -> None:
    """On delete, IsEqual tests the deleted rows and change conditions let nothing through."""
    Item.objects.bulk_create([Item(name="a", status="x"), Item(name="b", status="y")])
    got: list[str] = []

    class Equal(Trigger[Item]):
        condition = IsEqual("status", "x")

        def on_before_delete(self, old: list[Item]) -> None:
            got.extend(f"equal:{row.name}" for row in old)

    class Changed(Trigger[Item]):
        condition = HasChanged("status")

        def on_before_delete(self, old: list[Item]) -> None:
            got.extend(f"changed:{row.name}" for row in old)

    Item.objects.all().delete()
    assert got == ["equal:a"]


def test_order_applies_to_commit_stage(using: str, django_capture_on_commit_callbacks: Any) -> None:
    """The commit stage runs triggers in the same order as the other stages."""
    ran: list[str] = []
    for name, order in (("Second", 2), ("First", 1), ("Third", 3)):
        define(
            name,
            order=order,
            on_commit_create=lambda self, new, name=name: ran.append(name),
        )
    with django_capture_on_commit_callbacks(using=using, execute=True):
        Item.objects.create(name="x")
    assert ran == ["First", "Second", "Third"]


def test_plain_mixin_allowed() -> None:
    """A trigger may mix in plain classes, and inherits event methods from them."""
    ran: list[int] = []

    class CountingMixin:
        def on_after_create(self, new: list[Item]) -> None:
            ran.append(len(new))

    class Counted(CountingMixin, Trigger[Item]):
        pass

    assert Counted.model is Item
    assert registry.for_model(Item, "create") == (Counted,)
    Counted().on_after_create([Item(name="a")])
    assert ran == [1]


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("def on_after_updte(self, new, old): pass", "on_after_updte"),
        ("def on_after_update(self, new): pass", "on_after_update"),
        ("async def on_after_create(self, new): pass", "on_after_create"),
    ],
    ids=["typo", "signature", "async"],
)
def test_event_methods_from_mixins_are_checked(source: str, name: str) -> None:
    """Event methods a trigger inherits from a plain mixin are validated like its own."""
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    mixin = type("AuditMixin", (), {name: namespace[name]})
    with pytest.raises(TriggerDefinitionError, match=name):
        types.new_class(
            "Mixed", (mixin, Trigger[Item]), {}, lambda ns: ns.update({"__module__": __name__})
        )


def test_generic_base_condition_checked_on_concrete_model() -> None:
    """A generic base's condition is checked against each concrete model it is bound to."""

    class StatusAudit(Trigger[M]):
        condition = HasChanged("status")

        def on_after_update(self, new: list[M], old: list[M]) -> None:
            pass

    class ItemStatusAudit(StatusAudit[Item]):
        pass

    assert registry.for_model(Item, "update") == (ItemStatusAudit,)
    with pytest.raises(TriggerDefinitionError, match=r"CustomerStatusAudit.*'status'"):

        class CustomerStatusAudit(StatusAudit[Customer]):
            pass

    assert registry.for_model(Customer, "update") == ()


def test_custom_condition_fields_checked() -> None:
    """The fields a custom condition declares in field_names() are checked too."""

    class Reads(Condition):
        def __init__(self, *names: str) -> None:
            self.names = names

        def check(self, new: Any, old: Any) -> bool:
            return True

        def field_names(self) -> tuple[str, ...]:
            return self.names

    define("Fine", condition=Reads("amount", "customer"), on_after_update=_update)
    with pytest.raises(TriggerDefinitionError, match=r"Unfit.*'ammount'"):
        define("Unfit", condition=Reads("name", "ammount"), on_after_update=_update)


def _save_shipped(row: Item) -> None:
    row.status = "shipped"
    row.save()


def _bulk_update_shipped(row: Item) -> None:
    row.status = "shipped"
    Item.objects.bulk_update([row], ["status"])


SHIP: dict[str, Any] = {
    "update": lambda row: Item.objects.filter(pk=row.pk).update(status="shipped"),
    "save": _save_shipped,
    "bulk_update": _bulk_update_shipped,
}


@pytest.mark.parametrize("operation", SHIP)
def test_changing_old_is_refused_before_later_triggers_see_it(
    using: str, operation: str, settings: Any
) -> None:
    """With PROTECT_OLD (DEBUG's default), a trigger changing old fails, naming it; no write.

    old is shared by the triggers of one operation (copying it per trigger would cost a
    copy of every row per call), so a change would reach later triggers: development
    refuses it at the trigger that made it.
    """
    settings.BULK_TRIGGERS = {"PROTECT_OLD": True}
    row = Item.objects.create(name="a", status="paid")
    seen: list[tuple[str, str, str]] = []

    class Vandal(Trigger[Item]):
        order = 0

        def on_before_update(self, new: list[Item], old: list[Item]) -> None:
            for previous in old:
                previous.status = "shipped"

    class Shipped(Trigger[Item]):
        order = 1
        condition = ChangesTo("status", "shipped")

        def on_before_update(self, new: list[Item], old: list[Item]) -> None:
            seen.extend(("before", n.status, o.status) for n, o in zip(new, old, strict=True))

    with pytest.raises(TypeError, match=rf"{Vandal.label}\.on_before_update changed old\[0\]"):
        SHIP[operation](row)
    assert seen == []
    assert Item.objects.get(pk=row.pk).status == "paid"
