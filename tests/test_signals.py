"""Django's own signals are unchanged by triggers: sent by save()/delete(), not by bulk writes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db.models import signals

from bulk_triggers import Trigger
from tests.testapp.models import Item

SIGNALS = {
    "pre_save": signals.pre_save,
    "post_save": signals.post_save,
    "pre_delete": signals.pre_delete,
    "post_delete": signals.post_delete,
}


@pytest.fixture
def sent() -> Iterator[list[str]]:
    """Record the Item signals sent while the test runs."""
    received: list[str] = []
    receivers = {}
    for name, signal in SIGNALS.items():

        def receiver(sender: Any, name: str = name, **kwargs: Any) -> None:
            received.append(name)

        receivers[name] = receiver
        signal.connect(receiver, sender=Item)
    yield received
    for name, signal in SIGNALS.items():
        signal.disconnect(receivers[name], sender=Item)


@pytest.fixture
def triggered() -> None:
    """Give Item a trigger for every event."""

    class Everything(Trigger[Item]):
        def on_after_create(self, new: list[Item]) -> None:
            pass

        def on_after_update(self, new: list[Item], old: list[Item]) -> None:
            pass

        def on_after_delete(self, old: list[Item]) -> None:
            pass


@pytest.mark.usefixtures("triggered")
def test_instance_operations_send_their_signals_once(using: str, sent: list[str]) -> None:
    """save() of a new and an existing row and delete() send Django's signals, once each."""
    item = Item.objects.create(name="a")
    item.amount = 2
    item.save()
    item.delete()
    assert sent == ["pre_save", "post_save", "pre_save", "post_save", "pre_delete", "post_delete"]


@pytest.mark.usefixtures("triggered")
def test_bulk_operations_send_none(using: str, sent: list[str]) -> None:
    """bulk_create, bulk_update and update() send no signal, as in plain Django."""
    items = Item.objects.bulk_create([Item(name="a"), Item(name="b")])
    Item.objects.bulk_update(items, ["name"])
    Item.objects.update(amount=3)
    assert sent == []


@pytest.mark.usefixtures("triggered")
def test_queryset_delete_sends_delete_signals_per_row(using: str, sent: list[str]) -> None:
    """queryset.delete() sends Django's delete signals for each row, as it does without us."""
    Item.objects.bulk_create([Item(name="a"), Item(name="b")])
    Item.objects.all().delete()
    assert sent == ["pre_delete", "pre_delete", "post_delete", "post_delete"]
