"""Run-time control: ``BULK_TRIGGERS["DISABLED"]``, ``is_bypassed`` and ``max_reentry``."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from pytest_django.fixtures import Settings as SettingsWrapper

import bulk_triggers
from bulk_triggers import (
    Trigger,
    TriggerDefinitionError,
    TriggerDepthError,
    bypass,
    is_bypassed,
    runtime,
)
from bulk_triggers.checks import check_triggers
from tests.tasksapp.models import TaskItem, TaskRecord


def _disable(settings: SettingsWrapper, *labels: str) -> None:
    settings.BULK_TRIGGERS = {**settings.BULK_TRIGGERS, "DISABLED": list(labels)}


def _save(using: str) -> None:
    item = TaskItem.objects.using(using).get()
    item.value += 1
    item.save()


def _bulk_update(using: str) -> None:
    items = list(TaskItem.objects.using(using).all())
    TaskItem.objects.using(using).bulk_update(items, ["value"])


def _update(using: str) -> None:
    TaskItem.objects.using(using).update(value=2)


WRITES = [_save, _bulk_update, _update]


@pytest.mark.parametrize("write", WRITES, ids=[w.__name__ for w in WRITES])
@pytest.mark.django_db
def test_disabled_trigger_does_not_run(
    using: str, settings: SettingsWrapper, write: Callable[[str], None]
) -> None:
    """A trigger listed in DISABLED is skipped; the model's other triggers still run."""
    ran: list[str] = []

    class Off(Trigger[TaskItem]):
        def on_before_update(self, new: list[TaskItem], old: list[TaskItem]) -> None:
            ran.append("off")

    class On(Trigger[TaskItem]):
        def on_before_update(self, new: list[TaskItem], old: list[TaskItem]) -> None:
            ran.append("on")

    class OffChild(Off):
        pass

    TaskItem.objects.using(using).create(name="a")
    _disable(settings, Off.label)
    write(using)
    assert ran == ["on", "off"]  # OffChild, which the parent's path does not name.
    ran.clear()
    _disable(settings, Off.label, OffChild.label)
    write(using)
    assert ran == ["on"]
    _disable(settings)
    write(using)
    assert ran == ["on", "off", "on", "off"]


def test_disabled_names_are_checked(settings: SettingsWrapper) -> None:
    """``manage.py check`` reports a DISABLED entry that names no trigger, and only that."""

    class Known(Trigger[TaskItem]):
        def on_after_create(self, new: list[TaskItem]) -> None:
            pass

    _disable(settings, "shop.triggers.NoSuchTrigger", "tests.tasksapp.models.TaskItem")
    errors = [m for m in check_triggers() if m.id == "bulk_triggers.E020"]
    assert [("NoSuchTrigger" in m.msg, "TaskItem" in m.msg) for m in errors] == [
        (True, False),
        (False, True),
    ]
    _disable(settings, "bulk_triggers.Trigger")
    assert not [m for m in check_triggers() if m.id == "bulk_triggers.E020"]


def test_disabled_must_be_a_list_of_paths(settings: SettingsWrapper) -> None:
    """A bare string is refused: it would disable nothing, character by character."""
    _disable(settings)
    settings.BULK_TRIGGERS = {**settings.BULK_TRIGGERS, "DISABLED": "shop.triggers.Notify"}
    with pytest.raises(ImproperlyConfigured, match="DISABLED"):
        bulk_triggers.conf.disabled()


def test_is_bypassed(settings: SettingsWrapper) -> None:
    """``is_bypassed`` answers for triggers and models, following bypass() and DISABLED."""

    class Audit(Trigger[TaskItem]):
        def on_after_create(self, new: list[TaskItem]) -> None:
            pass

    assert not is_bypassed(Audit) and not is_bypassed(TaskItem)
    with bypass(Audit):
        assert is_bypassed(Audit) and not is_bypassed(TaskItem)
    with bypass(TaskItem):
        assert is_bypassed(Audit) and is_bypassed(TaskItem) and not is_bypassed(TaskRecord)
    with bypass():
        assert is_bypassed(Audit) and is_bypassed(TaskRecord)
    _disable(settings, Audit.label)
    assert is_bypassed(Audit) and not is_bypassed(TaskItem)
    with pytest.raises(TypeError, match="is_bypassed"):
        is_bypassed(int)
    assert bulk_triggers.is_bypassed is is_bypassed


def _echo(limit: int | None) -> list[list[int]]:
    """Define a trigger that updates its own rows again, plus the next row each time."""
    seen: list[list[int]] = []

    class Echo(Trigger[TaskItem]):
        max_reentry = limit

        def on_after_update(self, new: list[TaskItem], old: list[TaskItem]) -> None:
            seen.append(sorted(row.pk for row in new))
            pks = [row.pk for row in new]
            later = TaskItem.objects.using(self.using).filter(pk__gt=max(pks)).order_by("pk")
            extra = list(later.values_list("pk", flat=True)[:1])
            TaskItem.objects.using(self.using).filter(pk__in=[*pks, *extra]).update(value=1)

    return seen


@pytest.mark.parametrize("limit", [1, 2])
@pytest.mark.django_db
def test_max_reentry_stops_a_row_entering_again(using: str, limit: int) -> None:
    """Each row enters the method at most ``max_reentry`` times; new rows still enter."""
    a, b, c, d = (TaskItem.objects.using(using).create(name=n).pk for n in "abcd")
    seen = _echo(limit)
    TaskItem.objects.using(using).filter(pk=a).update(value=1)
    if limit == 1:
        assert seen == [[a], [b], [c], [d]]
    else:
        assert seen == [[a], [a, b], [b, c], [c, d], [d]]
    seen.clear()
    TaskItem.objects.using(using).filter(pk=a).update(value=1)
    assert seen[0] == [a]  # A new operation chain counts afresh.


@pytest.mark.django_db
def test_without_max_reentry_the_depth_guard_stops_it(using: str) -> None:
    """With no limit, the same recursion runs into the depth guard."""
    a = TaskItem.objects.using(using).create(name="a").pk
    _echo(None)
    with pytest.raises(TriggerDepthError):
        TaskItem.objects.using(using).filter(pk=a).update(value=1)


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"max_reentry": 0}, "max_reentry must be a positive integer"),
        ({"max_reentry": True}, "max_reentry must be a positive integer"),
        ({"task": 1}, "task must be True or False"),
        ({"task_options": {"queue": "x"}}, "task_options must be a dict with keys"),
        ({"task_options": ["queue_name"]}, "task_options must be a dict with keys"),
    ],
)
def test_bad_run_time_attributes(attributes: dict[str, Any], message: str) -> None:
    """Bad run-time attributes are refused where the trigger is defined, naming it."""
    with pytest.raises(TriggerDefinitionError, match=f"Bad.*{message}"):
        types.new_class("Bad", (Trigger[TaskItem],), exec_body=lambda ns: ns.update(attributes))


def test_task_trigger_needs_a_tasks_framework(monkeypatch: pytest.MonkeyPatch) -> None:
    """``task = True`` without django.tasks or the backport is refused at definition."""
    monkeypatch.setattr(runtime, "tasks_framework", lambda: None)
    with pytest.raises(TriggerDefinitionError, match="no Tasks framework is installed"):

        class Notify(Trigger[TaskItem]):
            task = True

            def on_commit_create(self, new: list[TaskItem]) -> None:
                pass
