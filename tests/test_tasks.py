"""Task triggers in process: payloads, inline runs, and enqueueing with the transaction."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from importlib import import_module
from typing import Any

import pytest
from django.db import transaction
from pytest_django.fixtures import Settings as SettingsWrapper

import bulk_triggers
from bulk_triggers import Trigger, runtime, tasks, worker
from bulk_triggers.testing import capture_tasks, capture_triggers
from tests.tasksapp.models import TaskItem

WHEN = datetime.datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=datetime.timezone.utc)


def _notify(seen: list[dict[str, Any]], **attributes: Any) -> type[Trigger[TaskItem]]:
    """Define a task trigger recording what each commit-stage call received."""

    class Notify(Trigger[TaskItem]):
        task = True

        def on_commit_update(self, new: list[TaskItem], old: list[TaskItem]) -> None:
            assert self.context is not None
            seen.append(
                {
                    "new": [
                        (r.pk, r.value, r.amount, r.changed_at, r.data, r.parent_id) for r in new
                    ],
                    "old": [(r.pk, r.value) for r in old],
                    "key": self.task_key,
                    "data": dict(self.context.data),
                    "operation": self.context.operation,
                    "atomic": transaction.get_connection(self.using).in_atomic_block,
                }
            )

        locals().update(attributes)

    return Notify


def _items(using: str, count: int) -> list[TaskItem]:
    parent = TaskItem.objects.using(using).create(name="parent")
    TaskItem.objects.using(using).bulk_create(
        TaskItem(name=f"i{i}", value=i, parent=parent) for i in range(count)
    )
    return list(TaskItem.objects.using(using).exclude(pk=parent.pk).order_by("pk"))


def _write(using: str, items: list[TaskItem]) -> None:
    for item in items:
        item.value += 100
        item.amount = Decimal("12.34")
        item.changed_at = WHEN
        item.data = {"tags": ["a", 1], "n": None}
    TaskItem.objects.using(using).bulk_update(items, ["value", "amount", "changed_at", "data"])


@pytest.mark.django_db(transaction=True)
def test_inline_run_sees_the_rows_as_written(using: str, settings: SettingsWrapper) -> None:
    """Run inline after the commit, each chunk's task rebuilds new/old as written."""
    settings.BULK_TRIGGERS = {**settings.BULK_TRIGGERS, "CHUNK_SIZE": 3}
    seen: list[dict[str, Any]] = []
    _notify(seen)
    items = _items(using, 7)
    parent_id = items[0].parent_id
    with (
        capture_tasks() as captured,
        bulk_triggers.context(actor=5),
        transaction.atomic(using=using),
    ):
        _write(using, items)
        assert not seen  # Not before the commit.
    assert len(captured) == 3 and [len(call["new"]) for call in seen] == [3, 3, 1]
    new = [row for call in seen for row in call["new"]]
    expected = [
        (i.pk, i.value, Decimal("12.34"), WHEN, {"tags": ["a", 1], "n": None}, parent_id)
        for i in items
    ]
    assert new == expected
    assert [row for call in seen for row in call["old"]] == [(i.pk, i.value - 100) for i in items]
    assert {call["operation"] for call in seen} == {"bulk_update"}
    assert all(call["data"] == {"actor": 5} and not call["atomic"] for call in seen)
    assert [call["key"] for call in seen] == [payload["key"] for payload in captured.payloads]


@pytest.mark.django_db
def test_payload_names_trigger_rows_and_key(using: str, settings: SettingsWrapper) -> None:
    """A payload is JSON naming trigger, event, alias and rows; keys are operation:trigger:n."""
    settings.BULK_TRIGGERS = {**settings.BULK_TRIGGERS, "CHUNK_SIZE": 2}
    notify = _notify([])
    items = _items(using, 3)
    with capture_tasks(run=False) as captured, bulk_triggers.context(reason="import"):
        _write(using, items)
    first, _ = captured.payloads
    assert json.loads(json.dumps(first)) == first
    operation_id = first["context"]["operation_id"]
    assert [p["key"] for p in captured.payloads] == [
        f"{operation_id}:{notify.label}:0",
        f"{operation_id}:{notify.label}:1",
    ]
    assert (first["trigger"], first["event"], first["alias"], first["model"]) == (
        notify.label,
        "update",
        using,
        "tasksapp.TaskItem",
    )
    pk_index = first["fields"].index("id")
    assert [row[pk_index] for p in captured.payloads for row in p["rows"][0]] == [
        i.pk for i in items
    ]
    assert first["context"]["data"] == {"reason": "import"}


@pytest.mark.django_db
def test_large_chunks_are_split_under_the_payload_limit(
    using: str, settings: SettingsWrapper
) -> None:
    """Past TASK_PAYLOAD_BYTES a chunk's rows spread over several tasks, each row once."""
    settings.BULK_TRIGGERS = {**settings.BULK_TRIGGERS, "TASK_PAYLOAD_BYTES": 600}
    _notify([])
    items = _items(using, 10)
    with capture_tasks(run=False) as captured:
        _write(using, items)
    sizes = [len(json.dumps(p["rows"])) for p in captured.payloads]
    assert len(sizes) > 1 and all(size <= 600 for size in sizes)
    pk_index = captured.payloads[0]["fields"].index("id")
    pks = [row[pk_index] for p in captured.payloads for row in p["rows"][0]]
    assert pks == [i.pk for i in items]


@pytest.mark.parametrize("savepoint", [False, True], ids=["transaction", "savepoint"])
@pytest.mark.django_db(transaction=True)
def test_rollback_never_runs_the_task(using: str, savepoint: bool) -> None:
    """A rolled back operation, or savepoint, runs no task; the committed one does."""
    seen: list[dict[str, Any]] = []
    _notify(seen)
    items = _items(using, 2)
    with capture_tasks(), transaction.atomic(using=using):
        try:
            with transaction.atomic(using=using):
                _write(using, items[:1])
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
        _write(using, items[1:])
        if not savepoint:
            transaction.set_rollback(True, using=using)
    assert [call["new"][0][0] for call in seen] == ([items[1].pk] if savepoint else [])


@pytest.mark.django_db
def test_other_triggers_keep_their_commit_stage(using: str) -> None:
    """Only the task trigger's calls become tasks; a plain one still runs on commit."""
    plain: list[int] = []
    _notify([])

    class Plain(Trigger[TaskItem]):
        def on_commit_update(self, new: list[TaskItem], old: list[TaskItem]) -> None:
            plain.extend(row.pk for row in new)

    items = _items(using, 2)
    with capture_tasks(run=False) as captured, django_capture_on_commit(using) as callbacks:
        _write(using, items)
    for callback in callbacks:
        callback()
    assert len(captured) == 1 and plain == [i.pk for i in items]


def django_capture_on_commit(using: str) -> Any:
    """Return the TestCase helper that collects on_commit callbacks of ``using``."""
    from django.test import TestCase

    return TestCase.captureOnCommitCallbacks(using=using)


def _backend(name: str) -> dict[str, Any]:
    framework = runtime.tasks_framework()
    paths = {
        "database": "django_tasks_db.DatabaseBackend",
        "immediate": f"{framework}.backends.immediate.ImmediateBackend",
    }
    return {"default": {"BACKEND": paths[name]}}


@pytest.mark.parametrize("outcome", ["commit", "rollback", "savepoint"])
@pytest.mark.django_db
def test_database_backend_enqueues_with_the_data(
    using: str, settings: SettingsWrapper, outcome: str
) -> None:
    """django-tasks-db's task row is written in the operation's transaction and shares its fate."""
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = _backend("database")
    _notify([])
    items = _items(using, 2)
    tasks = DBTaskResult.objects.using(using)
    with transaction.atomic(using=using):
        try:
            with transaction.atomic(using=using):
                _write(using, items)
                assert tasks.count() == 1  # Enqueued inside the transaction.
                if outcome != "commit":
                    raise RuntimeError("roll back")
        except RuntimeError:
            pass
        if outcome == "rollback":
            transaction.set_rollback(True, using=using)
    if outcome == "commit":
        (task,) = tasks.all()
        assert task.task_path == "bulk_triggers.worker.run_commit_stage"
        (payload,) = task.args_kwargs["args"]
        assert payload["rows"][0][0][payload["fields"].index("id")] == items[0].pk
    else:
        assert tasks.count() == 0


@pytest.mark.django_db(transaction=True)
def test_other_backends_enqueue_on_commit(using: str, settings: SettingsWrapper) -> None:
    """With a backend outside the database (here Immediate), enqueueing waits for the commit."""
    settings.TASKS = _backend("immediate")
    seen: list[dict[str, Any]] = []
    _notify(seen)
    items = _items(using, 2)
    with transaction.atomic(using=using):
        _write(using, items)
        assert not seen
    assert [row[0] for row in seen[0]["new"]] == [i.pk for i in items]


@pytest.mark.django_db(transaction=True)
def test_a_failing_task_is_the_backends_failure(using: str, settings: SettingsWrapper) -> None:
    """A task's exception fails the task in its backend; the committed data stays."""
    settings.TASKS = _backend("immediate")
    signals = import_module(f"{runtime.tasks_framework()}.signals")
    finished: list[Any] = []

    def failing(self: Any, new: list[TaskItem], old: list[TaskItem]) -> None:
        raise ValueError("mail server down")

    _notify([], on_commit_update=failing)
    items = _items(using, 1)
    receiver = lambda sender, task_result, **kwargs: finished.append(task_result)  # noqa: E731
    signals.task_finished.connect(receiver)
    try:
        _write(using, items)
    finally:
        signals.task_finished.disconnect(receiver)
    (result,) = finished
    assert result.status.name == "FAILED" and "mail server down" in result.errors[0].traceback
    assert TaskItem.objects.using(using).get(pk=items[0].pk).value == items[0].value


@pytest.mark.django_db
def test_rebuilding_rows_makes_no_query(using: str, django_assert_num_queries: Any) -> None:
    """A worker rebuilds new/old from the payload alone, as stored instances."""
    _notify([])
    items = _items(using, 2)
    with capture_tasks(run=False) as captured:
        _write(using, items)
    with django_assert_num_queries(0, using=using):
        new, old = tasks.rebuild(captured.payloads[0])
    assert [(r.pk, r.value, r._state.adding, r._state.db) for r in new] == [
        (i.pk, i.value, False, using) for i in items
    ]
    assert [r.value for r in old] == [i.value - 100 for i in items]


@pytest.mark.django_db
def test_database_backend_elsewhere_enqueues_on_commit(
    using: str, settings: SettingsWrapper
) -> None:
    """The task row goes in the transaction only when it is written to the same database."""
    settings.TASKS = _backend("database")
    backend = worker.backend({})
    assert tasks.in_transaction(backend, using)
    assert not tasks.in_transaction(backend, f"not-{using}")
    settings.TASKS = _backend("immediate")
    assert not tasks.in_transaction(worker.backend({}), using)


@pytest.mark.django_db(transaction=True)
def test_capture_triggers_sees_the_stages_that_stay_in_process(using: str) -> None:
    """capture_triggers records a task trigger's after call; capture_tasks its commit stage."""
    after: list[int] = []

    def on_after_update(self: Any, new: list[TaskItem], old: list[TaskItem]) -> None:
        after.extend(row.pk for row in new)

    notify = _notify([], on_after_update=on_after_update)
    items = _items(using, 2)
    with capture_triggers() as calls, capture_tasks() as captured:
        _write(using, items)
    assert [(c.trigger, c.method) for c in calls.calls] == [(notify, "on_after_update")]
    assert len(captured) == 1 and after == [i.pk for i in items]
