"""The helpers of bulk_triggers.testing, in pytest and in Django's TestCase."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from django.test import TestCase

from bulk_triggers import Trigger
from bulk_triggers.registry import registry
from bulk_triggers.testing import (
    capture_triggers,
    isolated_registry,
    only_triggers,
    run_commit_stage,
)
from tests.testapp.models import Item, Log


def define_pair() -> tuple[type[Any], type[Any]]:
    """Define two triggers on Item that log what they saw."""

    class Stamp(Trigger[Item]):
        def on_before_create(self, new: list[Item]) -> None:
            for item in new:
                item.note = "stamped"

    class Count(Trigger[Item]):
        def on_after_create(self, new: list[Item]) -> None:
            Log.objects.create(kind="count", after=len(new))

    return Stamp, Count


def test_capture_records_calls_while_triggers_run(using: str) -> None:
    """capture_triggers() records trigger, stage, event, rows and alias; triggers still run."""
    with isolated_registry():
        stamp, count = define_pair()
        with capture_triggers() as captured:
            Item.objects.bulk_create([Item(name="a"), Item(name="b")])
    assert [(c.trigger, c.method) for c in captured.calls] == [
        (stamp, "on_before_create"),
        (count, "on_after_create"),
    ]
    assert [item.name for item in captured.calls[0].new or []] == ["a", "b"]
    assert captured.calls[0].old is None and captured.calls[0].using == using
    assert len(captured.of(stage="after")) == 1
    assert Item.objects.filter(note="stamped").count() == 2
    assert Log.objects.get(kind="count").after == 2


def test_capture_records_a_call_that_raises(using: str) -> None:
    """A call that raises is recorded too, so a test can see what the trigger received."""
    with isolated_registry():

        class Refuse(Trigger[Item]):
            def on_before_delete(self, old: list[Item]) -> None:
                raise RuntimeError("no")

        item = Item.objects.create(name="kept")
        with capture_triggers() as captured, pytest.raises(RuntimeError):
            item.delete()
    assert [(c.method, [row.pk for row in c.old or []]) for c in captured.calls] == [
        ("on_before_delete", [item.pk])
    ]
    assert Item.objects.filter(pk=item.pk).exists()


def test_only_triggers_runs_just_the_named_ones(using: str) -> None:
    """only_triggers() skips every other trigger for the duration of the block."""
    with isolated_registry():
        _stamp, count = define_pair()
        with only_triggers(count), capture_triggers() as captured:
            Item.objects.create(name="x")
        assert [c.trigger for c in captured.calls] == [count]
        assert Item.objects.get(name="x").note == ""
        Item.objects.create(name="y")
        assert Item.objects.get(name="y").note == "stamped"


def test_only_triggers_refuses_non_triggers() -> None:
    """only_triggers() names what it was given when that is not a trigger."""
    with pytest.raises(TypeError, match="Item"), only_triggers(Item):  # type: ignore[arg-type]
        pass


def test_isolated_registry_forgets_triggers_defined_inside() -> None:
    """Triggers defined in isolated_registry() are gone afterwards; removed ones come back."""
    before = list(registry)
    with isolated_registry():
        stamp, count = define_pair()
        assert stamp in registry and count in registry
    assert stamp not in registry and count not in registry
    assert list(registry) == before


def define_committer() -> type[Any]:
    """Define a trigger that logs, at the commit stage, how many rows it was given."""

    class Committed(Trigger[Item]):
        def on_commit_update(self, new: list[Item], old: list[Item]) -> None:
            Log.objects.using(self.using).create(kind="committed", after=len(new))

    return Committed


@pytest.mark.parametrize("scope", ["named", "every"])
def test_run_commit_stage_runs_what_the_test_transaction_holds_back(using: str, scope: str) -> None:
    """In a test's transaction, commit-stage methods run when run_commit_stage()'s block ends."""
    with isolated_registry():
        define_committer()
        item = Item.objects.create(name="a")
        Item.objects.filter(pk=item.pk).update(name="b")
        assert not Log.objects.filter(kind="committed").exists()  # TestCase never commits.
        with run_commit_stage(*([using] if scope == "named" else [])) as ran:
            Item.objects.filter(pk=item.pk).update(name="c")
            assert not Log.objects.filter(kind="committed").exists()
        logged = list(Log.objects.filter(kind="committed").values_list("after", flat=True))
    assert (logged, len(ran)) == ([1], 1)


def test_run_commit_stage_skips_work_rolled_back_in_the_block(using: str) -> None:
    """An operation rolled back inside the block (a savepoint) queues no commit-stage call."""
    with isolated_registry():
        define_committer()
        item = Item.objects.create(name="a")
        with run_commit_stage(using) as ran:
            with pytest.raises(RuntimeError), transaction.atomic(using=using):
                Item.objects.filter(pk=item.pk).update(name="b")
                raise RuntimeError("roll back")
            Item.objects.filter(pk=item.pk).update(name="c")
        logged = list(Log.objects.filter(kind="committed").values_list("after", flat=True))
    assert (logged, len(ran)) == ([1], 1)


class HelpersInTestCase(TestCase):
    """The same helpers work in a Django TestCase (enterContext() on Python 3.11+)."""

    databases = {"default"}

    def setUp(self) -> None:
        scope = isolated_registry()
        scope.__enter__()
        self.addCleanup(scope.__exit__, None, None, None)
        self.stamp, self.count = define_pair()

    def test_capture_in_testcase(self) -> None:
        """capture_triggers() works inside TestCase's transaction."""
        with capture_triggers() as captured:
            Item.objects.create(name="tc")
        self.assertEqual([c.trigger for c in captured.calls], [self.stamp, self.count])
        self.assertEqual(Item.objects.get(name="tc").note, "stamped")

    def test_run_commit_stage_in_testcase(self) -> None:
        """run_commit_stage() runs commit-stage methods inside TestCase's transaction."""
        define_committer()
        item = Item.objects.create(name="tc")
        with run_commit_stage():
            Item.objects.filter(pk=item.pk).update(name="tc2")
        self.assertEqual(Log.objects.filter(kind="committed").count(), 1)
