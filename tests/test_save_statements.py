"""Statements of one ``save()`` with triggers, in autocommit: one transaction, nothing more.

Each save with an applying trigger is one transaction (BEGIN … COMMIT) holding Django's
own write and, without ``SAVE_OLD_FROM_LOAD``, the locked read of the stored row: never
a savepoint of its own on top, nor a read the triggers do not need.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from bulk_triggers import HasChanged, bypass
from tests.recorder import Recorder, record
from tests.testapp.models import Item

pytestmark = pytest.mark.django_db(transaction=True)


class Boom(Exception):
    """Raised by a failing trigger."""


@pytest.fixture(params=[True, False], ids=["from_load", "exact"])
def from_load(request: pytest.FixtureRequest, settings: Any) -> bool:
    on: bool = request.param
    settings.BULK_TRIGGERS = {**settings.BULK_TRIGGERS, "SAVE_OLD_FROM_LOAD": on}
    return on


def _kinds(using: str, run: Callable[[], Any]) -> list[str]:
    """Return the first word of each statement ``run()`` sends to ``using``."""
    with CaptureQueriesContext(connections[using]) as queries:
        run()
    return [q["sql"].split(None, 1)[0].upper() for q in queries.captured_queries]


def _loaded(using: str) -> Item:
    with bypass():
        Item.objects.create(name="a", amount=1)
    return Item.objects.get(name="a")


def test_update_with_a_before_trigger(using: str, from_load: bool) -> None:
    """BEGIN, UPDATE, COMMIT from the load; the locked SELECT only on the exact path."""
    recorder = record(Item, stages=["before"], events=["update"])
    row = _loaded(using)
    row.amount = 5
    read = [] if from_load else ["SELECT"]
    assert _kinds(using, row.save) == ["BEGIN", *read, "UPDATE", "COMMIT"]
    assert recorder.one("before", "update").column("amount", "old") == [1]
    # The next save of the same instance: the same statements again.
    row.amount = 6
    assert _kinds(using, row.save) == ["BEGIN", *read, "UPDATE", "COMMIT"]
    assert recorder.of("before", "update")[-1].column("amount", "old") == [5]
    assert Item.objects.get(pk=row.pk).amount == 6


def test_update_with_before_and_after_triggers(using: str, from_load: bool) -> None:
    """No read back when the database computed nothing: the after stage costs nothing."""
    recorder = record(Item, stages=["before", "after"], events=["update"])
    row = _loaded(using)
    row.amount = 5
    read = [] if from_load else ["SELECT"]
    assert _kinds(using, row.save) == ["BEGIN", *read, "UPDATE", "COMMIT"]
    assert recorder.one("after", "update").column("amount") == [5]


def test_new_row(using: str) -> None:
    """A new row: BEGIN, INSERT, COMMIT, and the create triggers see it."""
    recorder = record(Item, stages=["before", "after"], events=["create"])
    row = Item(name="n", amount=3)
    kinds = _kinds(using, row.save)
    assert [kinds[0], kinds[-1]] == ["BEGIN", "COMMIT"]
    assert "INSERT" in kinds and "SAVEPOINT" not in kinds and "SELECT" not in kinds[:-2]
    assert recorder.one("after", "create").column("pk") == [row.pk]


def test_new_row_with_an_explicit_key_has_no_savepoint(using: str) -> None:
    """A new instance with a key not stored yet: the lookup and the insert, one transaction."""
    recorder = record(Item, stages=["before", "after"], events=["create", "update"])
    row = Item(pk=4242, name="k", amount=3)
    kinds = _kinds(using, row.save)
    assert [kinds[0], kinds[1], kinds[-1]] == ["BEGIN", "SELECT", "COMMIT"]
    assert "INSERT" in kinds
    assert "SAVEPOINT" not in kinds and "RELEASE" not in kinds
    assert recorder.one("after", "create").column("pk") == [4242]
    assert recorder.of("before", "update") == []
    assert Item.objects.filter(pk=4242).exists()


def test_new_row_with_an_explicit_key_is_undone_by_a_failing_after_trigger(using: str) -> None:
    """Without its own savepoint, the insert is still undone with the transaction."""

    def fail(new: Any) -> None:
        raise Boom

    record(Item, stages=["after"], events=["create"], hooks={("after", "create"): fail})
    with pytest.raises(Boom):
        Item(pk=4243, name="k", amount=3).save()
    assert not Item.objects.filter(pk=4243).exists()
    assert connections[using].get_autocommit()


def test_a_caught_trigger_error_inside_the_callers_transaction(using: str, from_load: bool) -> None:
    """Caught inside the caller's atomic block: the row as it was, the transaction usable."""

    def fail(new: Any, old: Any) -> None:
        raise Boom

    record(Item, stages=["after"], events=["update"], hooks={("after", "update"): fail})
    row = _loaded(using)
    with transaction.atomic(using=using):
        row.amount = 9
        with pytest.raises(Boom):
            row.save()
        assert Item.objects.get(pk=row.pk).amount == 1  # The transaction still answers.
        with bypass():
            Item.objects.filter(pk=row.pk).update(note="still usable")
    stored = Item.objects.get(pk=row.pk)
    assert (stored.amount, stored.note) == (1, "still usable")


def test_a_trigger_defined_after_the_first_save_fires(using: str, from_load: bool) -> None:
    """Nothing cached by a save hides a trigger registered later, or a changed condition."""
    first = record(Item, stages=["before"], events=["update"])
    row = _loaded(using)
    row.amount = 2
    row.save()
    later: Recorder = record(Item, stages=["after"], events=["update"])
    row.amount = 3
    row.save()
    assert later.one("after", "update").column("amount", "old") == [2]
    assert len(first.of("before", "update")) == 2
    # A condition set on the trigger after it ran is the one the next save checks.
    later.trigger.condition = HasChanged("name")  # type: ignore[attr-defined]
    row.amount = 4
    row.save()
    assert len(later.of("after", "update")) == 1
    row.name = "renamed"
    row.save()
    assert len(later.of("after", "update")) == 2
