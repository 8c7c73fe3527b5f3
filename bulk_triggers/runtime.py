"""Run-time control of triggers: checks of ``max_reentry``, ``task`` and ``DISABLED``.

Definition checks run where a trigger class is defined; the settings check runs in
``manage.py check``. Nothing here imports a Tasks framework: it only asks whether one
is installed.
"""

from __future__ import annotations

from functools import cache
from importlib.util import find_spec
from typing import Any

from django.core import checks
from django.utils.module_loading import import_string

from bulk_triggers import conf
from bulk_triggers.exceptions import TriggerDefinitionError

TASK_OPTIONS = ("queue_name", "priority", "backend")


@cache
def tasks_framework() -> str | None:
    """Return the module of the installed Tasks framework, or None when there is none.

    ``django.tasks`` (Django 6.0+) wins over the ``django-tasks`` backport.
    """
    for name in ("django.tasks", "django_tasks"):
        try:
            if find_spec(name) is not None:
                return name
        except ModuleNotFoundError:
            continue
    return None


def check_run_time_attributes(cls: Any) -> None:
    """Raise TriggerDefinitionError for a bad ``max_reentry``, ``task`` or ``task_options``."""
    label = f"{cls.__module__}.{cls.__qualname__}"
    limit = cls.max_reentry
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise TriggerDefinitionError(
            f"Trigger {label}.max_reentry must be a positive integer or None, got {limit!r}."
        )
    if not isinstance(cls.task, bool):
        raise TriggerDefinitionError(
            f"Trigger {label}.task must be True or False, got {cls.task!r}."
        )
    options = cls.task_options
    unknown = set(options) - set(TASK_OPTIONS) if isinstance(options, dict) else None
    if unknown is None or unknown:
        raise TriggerDefinitionError(
            f"Trigger {label}.task_options must be a dict with keys among {TASK_OPTIONS}, "
            f"got {options!r}."
        )
    if cls.task and tasks_framework() is None:
        raise TriggerDefinitionError(
            f"Trigger {label} sets task = True, but no Tasks framework is installed: use "
            "Django 6.0 or later (django.tasks), or install the django-tasks backport "
            "(pip install 'bulk-triggers[tasks]')."
        )


def check_settings() -> list[checks.CheckMessage]:
    """Return an error per ``BULK_TRIGGERS["DISABLED"]`` entry that names no trigger."""
    from bulk_triggers.trigger import TriggerMeta

    messages: list[checks.CheckMessage] = []
    for label in sorted(conf.disabled()):
        try:
            found = import_string(label)
        except ImportError:
            found = None
        if not isinstance(found, TriggerMeta):
            messages.append(
                checks.Error(
                    f'settings.BULK_TRIGGERS["DISABLED"] names {label!r}, which is not a '
                    "trigger, so it disables nothing.",
                    hint="Use the trigger's dotted path as `manage.py triggers` lists it.",
                    id="bulk_triggers.E020",
                )
            )
    return messages
