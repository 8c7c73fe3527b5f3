"""docs/known-limits.md, each limit shown to hold, so that fixing one updates the page."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import NotSupportedError, connections
from django.db.models import CharField, RestrictedError
from django.db.models.functions import Cast, Random, Substr

from bulk_triggers import Trigger, bypass
from bulk_triggers.testing import capture_triggers, isolated_registry
from tests.cascadesapp.models import CascBranch, CascRestricted, CascRoot
from tests.testapp.models import CodeThing, Customer, Item, Place, Restaurant
from tests.upsertsapp.models import UpsertPartial
from tests.upwriteapp.models import UwChild, UwPlain


def test_cascaded_rows_fire_their_delete_triggers(using: str) -> None:
    """Deleting a customer deletes its items by cascade, and Item's delete triggers see them."""
    customer = Customer.objects.create(name="c")
    item = Item.objects.create(name="i", customer=customer)
    with isolated_registry():

        class ItemGone(Trigger[Item]):
            def on_after_delete(self, old: list[Item]) -> None:
                pass

        with capture_triggers() as captured:
            assert Customer.objects.filter(pk=customer.pk).delete()[1] == {
                "testapp.Item": 1,
                "testapp.Customer": 1,
            }
    assert [[row.pk for row in call.old or []] for call in captured.calls] == [[item.pk]]
    assert not Item.objects.exists()


def test_child_model_operations_fire_the_parents_triggers_too(using: str) -> None:
    """Saving a multi-table child fires the parent's create triggers, then the child's."""
    with isolated_registry():

        class OnRestaurant(Trigger[Restaurant]):
            def on_after_create(self, new: list[Restaurant]) -> None:
                pass

        class OnPlace(Trigger[Place]):
            def on_after_create(self, new: list[Place]) -> None:
                pass

        with capture_triggers() as captured:
            restaurant = Restaurant.objects.create(name="r", seats=3)
    assert [call.trigger for call in captured.calls] == [OnPlace, OnRestaurant]
    assert [call.new for call in captured.calls] == [[restaurant], [restaurant]]


def test_ignore_conflicts_fires_create_only_for_inserted_rows(using: str) -> None:
    """Formerly a limit: objects the database skipped no longer reach the create triggers."""
    CodeThing.objects.create(code="a", label="kept")
    with isolated_registry():

        class Created(Trigger[CodeThing]):
            def on_after_create(self, new: list[CodeThing]) -> None:
                pass

        with capture_triggers() as captured:
            CodeThing.objects.bulk_create(
                [CodeThing(code="a", label="skipped"), CodeThing(code="b")], ignore_conflicts=True
            )
    rows: Any = captured.calls[0].new
    assert [thing.code for thing in rows] == ["b"]
    assert CodeThing.objects.get(code="a").label == "kept"


def test_ignore_conflicts_refuses_a_constraint_it_cannot_read(using: str) -> None:
    """A partial unique constraint cannot be pre-selected: NotSupportedError, nothing written."""
    with isolated_registry():

        class Created(Trigger[UpsertPartial]):
            def on_after_create(self, new: list[UpsertPartial]) -> None:
                pass

        objs = [UpsertPartial(code="x")]
        if not connections[using].features.supports_partial_indexes:  # MariaDB ignores it
            UpsertPartial.objects.bulk_create(objs, ignore_conflicts=True)
            assert UpsertPartial.objects.count() == 1
            return
        with pytest.raises(NotSupportedError, match="upsertpartial_active"):
            UpsertPartial.objects.bulk_create(objs, ignore_conflicts=True)
    assert not UpsertPartial.objects.exists()


def test_chunks_walk_the_rows_in_primary_key_order(using: str, settings: Any) -> None:
    """With CHUNK_SIZE 2, update() hands out chunks in primary key order, whatever the filter."""
    settings.BULK_TRIGGERS = {"CHUNK_SIZE": 2}
    pks = [Item.objects.create(name=name, amount=n).pk for n, name in enumerate("edcba")]
    with isolated_registry():

        class Seen(Trigger[Item]):
            def on_before_update(self, new: list[Item], old: list[Item]) -> None:
                pass

        with capture_triggers() as captured:
            Item.objects.order_by("-amount").update(note="x")
    assert [[row.pk for row in call.new or []] for call in captured.calls] == [
        pks[0:2],
        pks[2:4],
        pks[4:5],
    ]


def test_a_row_filter_is_evaluated_as_each_chunk_is_locked(using: str, settings: Any) -> None:
    """A row a trigger of the first chunk took out of the filter is not updated by the second."""
    settings.BULK_TRIGGERS = {"CHUNK_SIZE": 2}
    pks = [Item.objects.create(name=name).pk for name in "abcd"]
    with isolated_registry():

        class TakeOut(Trigger[Item]):
            def on_before_update(self, new: list[Item], old: list[Item]) -> None:
                with bypass():
                    Item.objects.filter(pk=pks[3]).update(status="held")

        assert Item.objects.filter(status="new").update(note="x") == 3
    assert list(Item.objects.order_by("pk").values_list("note", flat=True)) == ["x"] * 3 + [""]


def test_saving_a_loaded_row_deleted_meanwhile_skips_create_triggers(using: str) -> None:
    """With create triggers only, re-inserting a loaded row that was deleted fires nothing."""
    item = Item.objects.create(name="gone")
    Item.objects.filter(pk=item.pk).delete()
    with isolated_registry():

        class Created(Trigger[Item]):
            def on_after_create(self, new: list[Item]) -> None:
                pass

        with capture_triggers() as captured:
            item.save()
    assert captured.calls == []
    assert Item.objects.filter(pk=item.pk).exists()


def test_restrict_is_judged_per_chunk_of_a_large_delete(using: str, settings: Any) -> None:
    """Over CHUNK_SIZE rows, a RESTRICT row that only a later chunk cascades to is refused."""
    settings.BULK_TRIGGERS = {"CHUNK_SIZE": 1}
    first, second = CascRoot.objects.create(), CascRoot.objects.create()
    branch = CascBranch.objects.create(root=first)
    CascRestricted.objects.create(branch=branch, root=second)
    with isolated_registry():

        class BranchGone(Trigger[CascBranch]):
            def on_after_delete(self, old: list[CascBranch]) -> None:
                pass

        with pytest.raises(RestrictedError):
            CascRoot.objects.filter(pk__in=[first.pk, second.pk]).delete()
        settings.BULK_TRIGGERS = {"CHUNK_SIZE": 2}
        assert CascRoot.objects.filter(pk__in=[first.pk, second.pk]).delete()[0] == 4


def _seen_and_stored(
    model: Any, using: str, **values: Any
) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """Return, per row, the value before triggers saw for ``name`` and the value stored."""
    seen: dict[Any, Any] = {}
    name = next(iter(values))
    with isolated_registry():

        class Watch(Trigger[model]):  # type: ignore[valid-type]
            def on_before_update(self, new: list[Any], old: list[Any]) -> None:
                seen.update((row.pk, getattr(row, name)) for row in new)

        model.objects.update(**values)
    return seen, dict(model.objects.values_list("pk", name))


def test_volatile_expression_is_evaluated_once(using: str) -> None:
    """update(ratio=Random()) with triggers: before triggers see the value stored."""
    with bypass():
        UwPlain.objects.bulk_create(UwPlain(amount=n) for n in range(5))
    seen, stored = _seen_and_stored(UwPlain, using, ratio=Random())
    assert seen == stored


def test_parent_fields_evaluate_a_volatile_expression_again(using: str) -> None:
    """A child's update() of its parent's field keeps Django's UPDATE: Random() runs twice."""
    with bypass():
        for n in range(5):
            UwChild.objects.create(name=f"c{n}")
    # Wide enough for any random number: a value over the CAST length fails in strict MariaDB.
    volatile = Cast(Random(), output_field=CharField(max_length=40))
    seen, stored = _seen_and_stored(UwChild, using, name=Substr(volatile, 1, 20))
    assert seen.keys() == stored.keys()
    assert all(seen[pk] != stored[pk] for pk in stored)


@pytest.mark.parametrize("operation", ["update", "bulk_update", "save"])
def test_before_trigger_values_reach_after_triggers_as_assigned(using: str, operation: str) -> None:
    """A value a before trigger assigns reaches the after stage as assigned, not as stored,
    when the database changes it on the way (a decimal with more places than the column,
    a string for an integer column). Expressions and naive datetimes are read back."""
    item = Item.objects.create(name="i", amount=1, price=Decimal("1.00"))
    with isolated_registry():

        class Loose(Trigger[Item]):
            def on_before_update(self, new: list[Item], old: list[Item]) -> None:
                for row in new:
                    row.price = Decimal("2.345")
                    row.amount = "7"  # type: ignore[assignment]

            def on_after_update(self, new: list[Item], old: list[Item]) -> None:
                seen.extend((row.price, row.amount) for row in new)

        seen: list[tuple[Any, Any]] = []
        if operation == "update":
            Item.objects.filter(pk=item.pk).update(name="j")
        elif operation == "bulk_update":
            item.name = "j"
            Item.objects.bulk_update([item], ["name"])
        else:
            item.name = "j"
            item.save()
    assert seen == [(Decimal("2.345"), "7")]
    with bypass():
        stored = Item.objects.get(pk=item.pk)
    assert stored.amount == 7 and stored.price in (Decimal("2.34"), Decimal("2.35"))
