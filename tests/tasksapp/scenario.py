"""The writer process of the worker tests: ``python -m tests.tasksapp.scenario COMMAND``.

Commands: ``setup N`` (migrate, create N items), ``write`` (bulk_update every item with a
context, then overwrite the values without triggers), ``write-and-die`` (the same write,
SIGKILLed right after its COMMIT, before any on_commit callback), ``report`` (print what
the commit stages recorded, as JSON).
"""

from __future__ import annotations

import json
import os
import signal
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.tasksapp.worker_settings")
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402
from django.db.models import Max, Min  # noqa: E402

import bulk_triggers  # noqa: E402
from tests.tasksapp.models import TaskItem, TaskRecord  # noqa: E402


def setup(count: int) -> None:
    call_command("migrate", verbosity=0)
    TaskItem.objects.bulk_create(TaskItem(name=f"i{i}", value=i) for i in range(count))


def write(die: bool) -> None:
    import tests.tasksapp.worker_triggers  # noqa: F401  (defines the triggers)

    items = list(TaskItem.objects.order_by("pk"))
    for item in items:
        item.value = item.value * 10 + 7
    with bulk_triggers.context(actor=42, reason="import"), transaction.atomic():
        if die:
            # The first on_commit callback: the process dies between COMMIT and the rest.
            transaction.on_commit(lambda: os.kill(os.getpid(), signal.SIGKILL))
        TaskItem.objects.bulk_update(items, ["value"])
    with bulk_triggers.bypass():
        TaskItem.objects.update(value=-1)  # Workers must not re-read the rows.


def report() -> None:
    from django_tasks_db.models import DBTaskResult

    records = list(
        TaskRecord.objects.values_list(
            "kind", "item_id", "old_value", "new_value", "key", "actor", "worker"
        )
    )
    statuses = sorted(DBTaskResult.objects.values_list("status", flat=True))
    span = DBTaskResult.objects.aggregate(start=Min("started_at"), end=Max("finished_at"))
    seconds = (span["end"] - span["start"]).total_seconds() if span["end"] else None
    print(json.dumps({"records": records, "db_tasks": statuses, "seconds": seconds}))


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "setup":
        setup(int(args[0]))
    elif command in ("write", "write-and-die"):
        write(command == "write-and-die")
    else:
        report()
