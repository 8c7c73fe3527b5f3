"""The task that runs a task trigger's commit stage, on whichever Tasks framework exists.

Imported only when a task trigger enqueues or a worker runs a task: it imports
``django.tasks`` (Django 6.0+) or the ``django-tasks`` backport, never a backend.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

from bulk_triggers.runtime import tasks_framework
from bulk_triggers.tasks import run_payload

_framework: Any = import_module(tasks_framework() or "django.tasks")
_task: Callable[..., Callable[[Callable[..., None]], Any]] = _framework.task


def _first_queue() -> str:
    """Return a queue the default backend accepts: the task is validated when defined.

    Each trigger's ``task_options["queue_name"]`` applies when it enqueues.
    """
    queues = getattr(_framework.task_backends["default"], "queues", None)
    return "default" if not queues or "default" in queues else sorted(queues)[0]


@_task(queue_name=_first_queue())
def run_commit_stage(payload: dict[str, Any]) -> None:
    """Run the commit-stage method of one chunk of a task trigger's rows."""
    run_payload(payload)


def backend(options: dict[str, Any]) -> Any:
    """Return the Tasks backend a trigger's ``task_options`` name (the default one)."""
    return _framework.task_backends[options.get("backend", "default")]


def enqueue(payload: dict[str, Any], options: dict[str, Any]) -> Any:
    """Enqueue one payload with the trigger's ``task_options``; return the task result."""
    return run_commit_stage.using(**options).enqueue(payload)
