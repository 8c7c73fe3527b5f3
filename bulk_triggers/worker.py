"""The task that runs a task trigger's commit stage, on whichever Tasks framework exists.

Imported only when a task trigger enqueues or a worker runs a task: it imports
``django.tasks`` (Django 6.0+) or the ``django-tasks`` backport, never a backend.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from bulk_triggers.runtime import tasks_framework
from bulk_triggers.tasks import run_payload

_framework: Any = import_module(tasks_framework() or "django.tasks")


@_framework.task()
def run_commit_stage(payload: dict[str, Any]) -> None:
    """Run the commit-stage method of one chunk of a task trigger's rows."""
    run_payload(payload)


def backend(options: dict[str, Any]) -> Any:
    """Return the Tasks backend a trigger's ``task_options`` name (the default one)."""
    return _framework.task_backends[options.get("backend", "default")]


def enqueue(payload: dict[str, Any], options: dict[str, Any]) -> Any:
    """Enqueue one payload with the trigger's ``task_options``; return the task result."""
    return run_commit_stage.using(**options).enqueue(payload)
