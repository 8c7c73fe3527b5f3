"""Nested dispatch: triggers writing to triggered models, and the MAX_DEPTH guard."""

from __future__ import annotations

import types
from typing import Any

import pytest
from django.db.models import F
from pytest_django.fixtures import Settings

from bulk_triggers import IsEqual, Trigger, TriggerDepthError, WasEqual, bypass
from tests.testapp.models import Customer, Item, Log


@pytest.fixture
def max_depth_3(settings: Settings) -> int:
    """Lower MAX_DEPTH to 3 for the test."""
    settings.BULK_TRIGGERS = {"MAX_DEPTH": 3}
    return 3


def snapshot() -> tuple[list[dict[str, Any]], ...]:
    """Return every row of Item, Customer and Log, in primary key order."""
    return tuple(list(model.objects.order_by("pk").values()) for model in (Item, Customer, Log))


def test_trigger_writing_to_triggered_model_dispatches(using: str) -> None:
    """A trigger's write to another model with triggers runs that model's triggers."""

    class OpenAccount(Trigger[Item]):
        def on_after_create(self, new: list[Item]) -> None:
            Customer.objects.bulk_create([Customer(name=f"for {row.name}") for row in new])

    class Welcome(Trigger[Customer]):
        def on_before_create(self, new: list[Customer]) -> None:
            for customer in new:
                customer.name = customer.name.upper()

        def on_after_create(self, new: list[Customer]) -> None:
            Log.objects.bulk_create([Log(kind="welcome", ref=c.name) for c in new])

    Item.objects.bulk_create([Item(name="a"), Item(name="b")])
    assert sorted(Customer.objects.values_list("name", flat=True)) == ["FOR A", "FOR B"]
    assert sorted(Log.objects.values_list("ref", flat=True)) == ["FOR A", "FOR B"]


def test_nested_dispatch_from_before_stage(using: str) -> None:
    """A before trigger may write to a triggered model; the inner operation dispatches too."""

    class Owner(Trigger[Item]):
        def on_before_create(self, new: list[Item]) -> None:
            for row in new:
                row.customer = Customer.objects.create(name=f"owner of {row.name}")

    class CountCustomers(Trigger[Customer]):
        def on_after_create(self, new: list[Customer]) -> None:
            Log.objects.create(kind="customer", ref=new[0].name)

    row = Item.objects.create(name="a")
    assert row.customer is not None
    assert Item.objects.get(pk=row.pk).customer_id == row.customer.pk
    assert list(Log.objects.values_list("ref", flat=True)) == ["owner of a"]


def test_self_recursion_stopped_by_condition(using: str, max_depth_3: int) -> None:
    """A trigger may update its own model within MAX_DEPTH when its condition stops it."""

    class CountUp(Trigger[Item]):
        condition = ~WasEqual("amount", 1)

        def on_after_update(self, new: list[Item], old: list[Item]) -> None:
            Item.objects.filter(pk__in=[row.pk for row in new]).update(amount=F("amount") + 1)

    row = Item.objects.create(name="a", amount=-1)
    Item.objects.filter(pk=row.pk).update(amount=0)
    row.refresh_from_db()
    assert row.amount == 2


def test_self_recursion_raises_depth_error(using: str, max_depth_3: int) -> None:
    """A self-recursive trigger past MAX_DEPTH raises TriggerDepthError naming the chain."""
    calls: list[int] = []

    class Forever(Trigger[Item]):
        def on_after_update(self, new: list[Item], old: list[Item]) -> None:
            calls.append(len(new))
            Item.objects.filter(pk__in=[row.pk for row in new]).update(amount=F("amount") + 1)

    row = Item.objects.create(name="a")
    before = snapshot()
    with pytest.raises(TriggerDepthError) as raised:
        Item.objects.filter(pk=row.pk).update(amount=10)
    label = f"{Forever.__module__}.{Forever.__qualname__}"
    chain = raised.value.chain
    assert all(isinstance(link, str) for link in chain)
    assert sum(label in link for link in chain) == max_depth_3
    assert len(calls) == max_depth_3
    assert label in str(raised.value)
    assert snapshot() == before


def test_depth_error_rolls_back_outer_triggers_writes(using: str, max_depth_3: int) -> None:
    """The whole outer operation is rolled back, including what its other triggers wrote."""

    class Journal(Trigger[Item]):
        order = -1

        def on_before_update(self, new: list[Item], old: list[Item]) -> None:
            for row in new:
                row.note = "journaled"
            Log.objects.create(kind="before", ref=str(len(new)))

        def on_after_update(self, new: list[Item], old: list[Item]) -> None:
            Log.objects.create(kind="after", ref=str(len(new)))
            Customer.objects.create(name="side effect")

    class Forever(Trigger[Item]):
        def on_after_update(self, new: list[Item], old: list[Item]) -> None:
            Item.objects.bulk_update(new, ["amount"])

    Item.objects.bulk_create([Item(name="a"), Item(name="b")])
    before = snapshot()
    rows = list(Item.objects.all())
    for row in rows:
        row.amount = 7
    with pytest.raises(TriggerDepthError):
        Item.objects.bulk_update(rows, ["amount"])
    assert snapshot() == before


def test_depth_error_names_every_trigger_of_a_cycle(using: str, max_depth_3: int) -> None:
    """A cycle across two models is stopped, and the chain names triggers of both."""

    class ItemToCustomer(Trigger[Item]):
        def on_after_create(self, new: list[Item]) -> None:
            Customer.objects.create(name="c")

    class CustomerToItem(Trigger[Customer]):
        def on_after_create(self, new: list[Customer]) -> None:
            Item.objects.create(name="i")

    before = snapshot()
    with pytest.raises(TriggerDepthError) as raised:
        Item.objects.create(name="start")
    chain = " ".join(raised.value.chain)
    assert ItemToCustomer.__qualname__ in chain
    assert CustomerToItem.__qualname__ in chain
    assert snapshot() == before


def test_depth_error_through_instance_save(using: str, max_depth_3: int) -> None:
    """Recursion through save() is guarded too, and the first save is undone."""

    class Resave(Trigger[Item]):
        def on_after_update(self, new: list[Item], old: list[Item]) -> None:
            for row in new:
                row.amount += 1
                row.save(update_fields=["amount"])

    row = Item.objects.create(name="a", amount=0)
    before = snapshot()
    row.note = "changed"
    with pytest.raises(TriggerDepthError):
        row.save()
    assert snapshot() == before


def test_bypass_around_inner_write_stops_recursion(using: str, max_depth_3: int) -> None:
    """bypass() around a trigger's own write keeps it from recursing."""

    class Normalise(Trigger[Item]):
        def on_after_update(self, new: list[Item], old: list[Item]) -> None:
            with bypass(Normalise):
                Item.objects.filter(pk__in=[row.pk for row in new]).update(amount=F("amount") + 100)

    row = Item.objects.create(name="a")
    Item.objects.filter(pk=row.pk).update(amount=1)
    row.refresh_from_db()
    assert row.amount == 101


def test_depth_resets_after_an_operation(using: str, max_depth_3: int) -> None:
    """Operations one after another do not add up towards MAX_DEPTH."""

    class Chain(Trigger[Item]):
        condition = ~IsEqual("amount", 1)

        def on_after_update(self, new: list[Item], old: list[Item]) -> None:
            Item.objects.filter(pk__in=[row.pk for row in new]).update(amount=1)

    row = Item.objects.create(name="a")
    for value in range(10, 20):
        Item.objects.filter(pk=row.pk).update(amount=value)
    row.refresh_from_db()
    assert row.amount == 1


def test_depth_resets_after_a_depth_error(using: str, max_depth_3: int) -> None:
    """After a TriggerDepthError, later operations start from depth zero again."""
    recursing = [True]

    class Maybe(Trigger[Item]):
        def on_after_update(self, new: list[Item], old: list[Item]) -> None:
            if recursing[0]:
                Item.objects.filter(pk__in=[row.pk for row in new]).update(amount=F("amount") + 1)

    row = Item.objects.create(name="a")
    with pytest.raises(TriggerDepthError):
        Item.objects.filter(pk=row.pk).update(amount=1)
    recursing[0] = False
    assert Item.objects.filter(pk=row.pk).update(amount=5) == 1
    row.refresh_from_db()
    assert row.amount == 5


@pytest.mark.parametrize("stage", ["before", "after"])
def test_default_max_depth_is_16(using: str, settings: Settings, stage: str) -> None:
    """Without a MAX_DEPTH setting, recursion stops after 16 levels, from either stage."""
    settings.BULK_TRIGGERS = {}
    calls: list[int] = []

    def recurse(self: Any, new: list[Item], old: list[Item]) -> None:
        calls.append(1)
        Item.objects.filter(pk__in=[row.pk for row in new]).update(note=str(len(calls)))

    namespace = {"__module__": __name__, f"on_{stage}_update": recurse}
    recursive = types.new_class("Recursive", (Trigger[Item],), {}, lambda ns: ns.update(namespace))
    row = Item.objects.create(name="a")
    before = snapshot()
    with pytest.raises(TriggerDepthError) as raised:
        Item.objects.filter(pk=row.pk).update(amount=1)
    assert raised.value.max_depth == 16
    assert len(calls) == 16
    assert sum(recursive.__qualname__ in link for link in raised.value.chain) == 16
    assert snapshot() == before


def test_inner_exception_propagates_unchanged(using: str) -> None:
    """An exception raised by a nested trigger reaches the outer caller as the same object."""
    boom = ValueError("inner")

    class Outer(Trigger[Item]):
        def on_after_create(self, new: list[Item]) -> None:
            Log.objects.create(kind="outer")
            Customer.objects.create(name="inner")

    class Inner(Trigger[Customer]):
        def on_after_create(self, new: list[Customer]) -> None:
            raise boom

    before = snapshot()
    with pytest.raises(ValueError) as raised:
        Item.objects.create(name="a")
    assert raised.value is boom
    assert snapshot() == before


def test_nested_commit_stage_waits_for_outer_commit(
    using: str, django_capture_on_commit_callbacks: Any
) -> None:
    """A nested operation's commit stage runs once the outer transaction commits."""
    committed: list[str] = []

    class Outer(Trigger[Item]):
        def on_after_create(self, new: list[Item]) -> None:
            Customer.objects.create(name=f"for {new[0].name}")

        def on_commit_create(self, new: list[Item]) -> None:
            committed.append(f"item {new[0].name}")

    class Inner(Trigger[Customer]):
        def on_commit_create(self, new: list[Customer]) -> None:
            committed.append(f"customer {new[0].name}")

    with django_capture_on_commit_callbacks(using=using, execute=True):
        Item.objects.create(name="a")
        assert committed == []
    assert sorted(committed) == ["customer for a", "item a"]
