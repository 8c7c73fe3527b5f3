"""API.md: exceptions stay Django's own, raised before any trigger runs, database unchanged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db.models import F

from bulk_triggers import bypass
from tests.conformapp.models import ConfAccount, ConfBook, ConfEbook, ConfOrder, ConfStock
from tests.conformapp.spy import Log, spy


def _unsaved_order() -> ConfOrder:
    return ConfOrder(account=ConfAccount(code="unsaved"))


def _saved() -> list[ConfAccount]:
    return list(ConfAccount.objects.order_by("pk"))


UNKNOWN = ["nope"]
REFUSALS: dict[str, Callable[[], Any]] = {
    "bulk_create-batch_size-0": lambda: ConfAccount.objects.bulk_create(
        [ConfAccount(code="n")], batch_size=0
    ),
    "bulk_create-mti-child": lambda: ConfBook.objects.bulk_create([ConfBook(title="b")]),
    "bulk_create-unsaved-related": lambda: ConfOrder.objects.bulk_create([_unsaved_order()]),
    "bulk_create-bad-unique_fields-before-unsaved": lambda: ConfOrder.objects.bulk_create(
        [_unsaved_order()],
        update_conflicts=True,
        update_fields=["status"],
        unique_fields=["lines"],
    ),
    "bulk_create-bad-update_fields-before-unsaved": lambda: ConfOrder.objects.bulk_create(
        [_unsaved_order()],
        update_conflicts=True,
        update_fields=["lines"],
        unique_fields=["id"],
    ),
    "bulk_create-both-conflict-modes": lambda: ConfAccount.objects.bulk_create(
        [ConfAccount(code="n")], ignore_conflicts=True, update_conflicts=True
    ),
    "bulk_create-update_conflicts-no-fields": lambda: ConfAccount.objects.bulk_create(
        [ConfAccount(code="n")], update_conflicts=True
    ),
    "bulk_update-no-fields": lambda: ConfAccount.objects.bulk_update(_saved(), []),
    "bulk_update-pk-field": lambda: ConfAccount.objects.bulk_update(_saved(), ["id"]),
    "bulk_update-unsaved": lambda: ConfAccount.objects.bulk_update(
        [ConfAccount(code="x")], ["name"]
    ),
    "bulk_update-m2m": lambda: ConfAccount.objects.bulk_update(_saved(), ["tags"]),
    "bulk_update-unknown": lambda: ConfAccount.objects.bulk_update(_saved(), ["nope"]),
    "update-unknown-field": lambda: ConfAccount.objects.update(**{"nope": 1}),
    "update-sliced": lambda: ConfAccount.objects.all()[:1].update(name="x"),
    "update-aggregate": lambda: ConfAccount.objects.update(balance=F("orders__total")),
    "delete-sliced": lambda: ConfAccount.objects.all()[:1].delete(),
    "delete-values": lambda: ConfAccount.objects.values("code").delete(),
    "save-unsaved-related": lambda: _unsaved_order().save(),
    "save-unknown-update_fields": lambda: _saved()[0].save(update_fields=UNKNOWN),
    "create-unsaved-related": lambda: ConfOrder.objects.create(account=ConfAccount(code="u")),
    "composite-bulk_update-pk": lambda: ConfStock.objects.bulk_update(
        list(ConfStock.objects.all()), ["sku"]
    ),
    "composite-bulk_update-pk-other-part": lambda: ConfStock.objects.bulk_update(
        list(ConfStock.objects.all()), ["warehouse", "quantity"]
    ),
    "mti-bulk_update-parent-pk": lambda: ConfEbook.objects.bulk_update(
        list(ConfEbook.objects.all()), ["book_ptr"]
    ),
    "mti-bulk_update-grandparent-pk": lambda: ConfEbook.objects.bulk_update(
        list(ConfEbook.objects.all()), ["product_ptr"]
    ),
}


@pytest.mark.parametrize("name", REFUSALS)
def test_refusals_are_djangos_own_and_come_first(using: str, name: str) -> None:
    """With triggers, a bad call raises what Django raises, and no trigger runs."""
    with bypass():
        ConfAccount.objects.create(code="c0")
        ConfStock.objects.create(warehouse="w", sku="s")
        ConfEbook.objects.create(title="e")
    log = Log()
    for model in (ConfAccount, ConfOrder, ConfBook, ConfEbook, ConfStock):
        spy(model, log)
    with bypass(), pytest.raises(Exception) as django:
        REFUSALS[name]()
    with pytest.raises(Exception) as ours:
        REFUSALS[name]()
    assert (type(ours.value), str(ours.value)) == (type(django.value), str(django.value))
    assert log.calls == []
    assert list(ConfAccount.objects.values_list("code", flat=True)) == ["c0"]
