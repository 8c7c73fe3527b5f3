"""Task triggers: hand a trigger's commit stage to Django's Tasks framework.

A trigger with ``task = True`` gets, instead of an ``on_commit`` callback, one task per
chunk (split further to stay under ``BULK_TRIGGERS["TASK_PAYLOAD_BYTES"]``) whose JSON
payload holds the rows as written, so a worker rebuilds ``new`` and ``old`` without
reading the database. With a database backend writing through the operation's own
database (``django-tasks-db``), the task is enqueued inside the operation's transaction
and commits or rolls back with the data; with any other backend it is enqueued once the
transaction commits (a crash between the commit and the enqueue loses it).

This module imports no Tasks framework; :mod:`bulk_triggers.worker` does, when the
first task is enqueued.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.db import models, router, transaction
from django.utils.module_loading import import_string

from bulk_triggers import conf
from bulk_triggers.operation import Operation, OperationContext, context
from bulk_triggers.registry import registry
from bulk_triggers.scope import enter, leave

if TYPE_CHECKING:
    from bulk_triggers.trigger import TriggerMeta

__all__ = ["CapturedTasks", "capture_tasks", "payloads", "rebuild", "run_payload"]

Pending = list[tuple["TriggerMeta", tuple[list[Any], ...]]]

# Backends whose enqueue() writes a row of this model through the Django ORM: enqueued
# inside the operation's transaction when that row goes to the operation's database.
_DATABASE_BACKENDS = {
    "django_tasks_db.backend.DatabaseBackend": "django_tasks_database.DBTaskResult",
    "django_tasks.backends.database.backend.DatabaseBackend": "django_tasks_database.DBTaskResult",
}
_capture: ContextVar[CapturedTasks | None] = ContextVar("bulk_triggers_tasks", default=None)


def hand_off(pending: Pending, event: str, using: str, operation: Operation) -> Pending:
    """Enqueue (or schedule) the task triggers' calls; return the other triggers' calls."""
    if not any(trigger.task for trigger, _ in pending):
        return pending
    rest: Pending = []
    for trigger, args in pending:
        if not trigger.task:
            rest.append((trigger, args))
            continue
        for payload in payloads(trigger, event, using, operation, args):
            _enqueue(trigger, payload, using)
    return rest


def payloads(
    trigger: TriggerMeta, event: str, using: str, operation: Operation, args: tuple[list[Any], ...]
) -> Iterator[dict[str, Any]]:
    """Yield the JSON-able payloads of one commit-stage call, each under the size limit."""
    rows = args[0]
    model = type(rows[0])
    attnames = [f.attname for f in model._meta.concrete_fields]
    encoded = [[_encode(model, row) for row in rows_of] for rows_of in args]
    limit = conf.get("TASK_PAYLOAD_BYTES")
    start, size = 0, 0
    for index in range(len(rows)):
        row_size = sum(len(json.dumps(values[index])) for values in encoded)
        if index > start and size + row_size > limit:
            yield _payload(trigger, event, using, operation, model, attnames, encoded, start, index)
            start, size = index, 0
        size += row_size
    yield _payload(trigger, event, using, operation, model, attnames, encoded, start, len(rows))


def _payload(
    trigger: TriggerMeta,
    event: str,
    using: str,
    operation: Operation,
    model: type[models.Model],
    attnames: list[str],
    encoded: list[list[list[Any]]],
    start: int,
    stop: int,
) -> dict[str, Any]:
    number = operation.task_number(trigger.label)
    return {
        "trigger": trigger.label,
        "event": event,
        "alias": using,
        "model": model._meta.label,
        "fields": attnames,
        "rows": [values[start:stop] for values in encoded],
        "key": f"{operation.context.operation_id}:{trigger.label}:{number}",
        "context": operation.context.as_dict(),
    }


def _encode(model: type[models.Model], row: models.Model) -> list[Any]:
    values = []
    for f in model._meta.concrete_fields:
        value = getattr(row, f.attname)
        if value is None or isinstance(f, models.JSONField) or type(value) in (str, int, bool):
            values.append(value)
        else:
            values.append(f.value_to_string(row))
    return values


def _trigger(label: str) -> TriggerMeta:
    """Return the registered trigger ``label``, importing its module if need be."""
    found = next((t for t in registry if t.label == label), None)
    return found if found is not None else import_string(label)


def rebuild(payload: dict[str, Any]) -> tuple[list[Any], ...]:
    """Return the method's arguments (``new``, ``old`` …) rebuilt from a payload.

    The instances are built with ``Model.from_db`` from the values written by the
    operation; no query is made.
    """
    model = apps.get_model(payload["model"])
    fields = [model._meta.get_field(name) for name in _names(model, payload["fields"])]
    alias, attnames = payload["alias"], payload["fields"]
    return tuple(
        [
            model.from_db(
                alias, attnames, [_decode(f, v) for f, v in zip(fields, row, strict=True)]
            )
            for row in rows
        ]
        for rows in payload["rows"]
    )


def _names(model: type[models.Model], attnames: Sequence[str]) -> list[str]:
    by_attname = {f.attname: f.name for f in model._meta.concrete_fields}
    return [by_attname[name] for name in attnames]


def _decode(f: Any, value: Any) -> Any:
    if value is None or isinstance(f, models.JSONField):
        return value
    return f.to_python(value)


def _enqueue(trigger: TriggerMeta, payload: dict[str, Any], using: str) -> None:
    capture = _capture.get()
    if capture is not None:
        capture.add(payload, using)
        return
    from bulk_triggers import worker

    options = trigger.task_options
    if in_transaction(worker.backend(options), using):
        worker.enqueue(payload, options)
    else:
        transaction.on_commit(lambda: worker.enqueue(payload, options), using=using)


def in_transaction(backend: object, using: str) -> bool:
    """Return whether ``backend`` stores tasks through the ORM in the database ``using``."""
    path = f"{type(backend).__module__}.{type(backend).__qualname__}"
    if path not in _DATABASE_BACKENDS:
        return False
    return router.db_for_write(apps.get_model(_DATABASE_BACKENDS[path])) == using


def run_payload(payload: dict[str, Any]) -> None:
    """Run the commit-stage method a payload describes, as a worker does.

    Operations the method starts share the payload's operation id and user data. Its
    exception propagates: the task fails, and retrying it is the backend's business.
    """
    trigger = _trigger(payload["trigger"])
    args = rebuild(payload)
    ctx = OperationContext.from_dict(payload["context"])
    instance = trigger()
    instance.using = payload["alias"]
    instance.context = ctx
    instance.task_key = payload["key"]
    method = trigger._methods[("commit", payload["event"])]
    with context(**ctx.data):
        token = enter(f"{trigger.label}.on_commit_{payload['event']}", Operation(ctx, None))
        try:
            method(instance, *args)
        finally:
            leave(token)


@dataclass
class CapturedTasks:
    """The payloads :func:`capture_tasks` recorded, in the order they were enqueued."""

    payloads: list[dict[str, Any]] = field(default_factory=list)
    run: bool = True

    def add(self, payload: dict[str, Any], using: str) -> None:
        """Record ``payload``; run it inline once the transaction commits, if asked to."""
        # The JSON round trip shows what a worker would get, and catches what is not JSON.
        payload = json.loads(json.dumps(payload))
        self.payloads.append(payload)
        if self.run:
            transaction.on_commit(lambda: run_payload(payload), using=using)

    def __len__(self) -> int:
        return len(self.payloads)


@contextmanager
def capture_tasks(*, run: bool = True) -> Iterator[CapturedTasks]:
    """Record task triggers' payloads instead of enqueueing them; by default, run them.

    With ``run=True`` each payload runs inline, as Django's ``ImmediateBackend`` would,
    once the transaction commits (never on rollback); with ``run=False`` it is only
    recorded, for the test to assert on. No Tasks backend is needed either way.
    """
    captured = CapturedTasks(run=run)
    token = _capture.set(captured)
    try:
        yield captured
    finally:
        _capture.reset(token)
