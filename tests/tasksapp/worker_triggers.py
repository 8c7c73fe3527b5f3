"""The triggers of the worker tests: one task trigger, one plain commit-stage trigger.

Imported by the writer (``scenario.py``) and, through the task payload, by the workers;
never by the test suite's own process.
"""

from __future__ import annotations

import os
import time

from bulk_triggers import Trigger
from tests.tasksapp.models import TaskItem, TaskRecord
from tests.tasksapp.worker_settings import QUEUE


def _record(
    trigger: Trigger[TaskItem], kind: str, new: list[TaskItem], old: list[TaskItem]
) -> None:
    assert trigger.context is not None
    TaskRecord.objects.using(trigger.using).bulk_create(
        TaskRecord(
            kind=kind,
            item_id=row.pk,
            old_value=before.value,
            new_value=row.value,
            key=trigger.task_key or "",
            operation_id=trigger.context.operation_id,
            actor=trigger.context.data.get("actor"),
            worker=os.environ.get("TASKS_TEST_WORKER", "writer"),
        )
        for row, before in zip(new, old, strict=True)
    )


class NotifyTask(Trigger[TaskItem]):
    """Record, in a worker, what the commit stage of each chunk received."""

    task = True
    task_options = {"queue_name": QUEUE}

    def on_commit_update(self, new: list[TaskItem], old: list[TaskItem]) -> None:
        # Long enough for the other worker to claim the next chunk meanwhile.
        time.sleep(float(os.environ.get("TASKS_TEST_TASK_SECONDS", "0.3")))
        _record(self, "task", new, old)


class NotifyOnCommit(Trigger[TaskItem]):
    """Record, in the writing process, what a plain commit stage received."""

    def on_commit_update(self, new: list[TaskItem], old: list[TaskItem]) -> None:
        _record(self, "plain", new, old)
