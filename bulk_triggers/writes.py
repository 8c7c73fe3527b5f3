"""Write ``bulk_update()``'s rows with one statement per batch, joined against their values.

Django's ``bulk_update()`` writes ``UPDATE … SET f = CASE WHEN pk = 1 THEN … END WHERE pk
IN (…)``: Python and SQL work per row that grows with the batch. Here each batch is one
``UPDATE`` joined against a list of values (``UPDATE … FROM unnest(%s::type[], …)`` on
PostgreSQL, ``UPDATE … FROM (VALUES …)`` on SQLite ≥ 3.33, a derived table on
MariaDB/MySQL, built by :mod:`bulk_triggers.joined`), with Django's own batches, its
own ``get_db_prep_save()`` parameters and the casts its CASE carries, so that every row
stores what Django's statement would have stored.

:func:`can_fast_write` decides, up front, when that holds; otherwise the caller keeps
Django's path. :func:`fast_bulk_update` assumes it said yes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import connections, models, transaction

from bulk_triggers.joined import JoinedUpdate, joinable, supported

__all__ = ["can_fast_write", "fast_bulk_update"]


def can_fast_write(
    queryset: models.QuerySet[Any],
    fields: Sequence[str],
    objs: Sequence[models.Model],
    batch_size: int | None = None,
) -> bool:
    """Return whether :func:`fast_bulk_update` stores exactly what Django's bulk_update() would.

    Anything Django refuses (no fields, a bad batch size, an object without a primary key,
    a non-concrete or primary key field) is left to Django, so that it raises its own
    exception. Does not query the database.
    """
    model = queryset.model
    connection = connections[queryset.db]
    if not supported(connection) or not _plain_query(queryset):
        return False
    if not fields or not objs or (batch_size is not None and batch_size <= 0):
        return False
    opts = model._meta
    # A composite primary key would need a join on several columns; Django's path has it.
    if getattr(opts, "is_composite_pk", False):
        return False
    try:
        resolved = [opts.get_field(name) for name in fields]
    except FieldDoesNotExist:
        return False  # Django raises it, after its own earlier checks.
    if not all(joinable(field, model, connection) for field in resolved):
        return False
    if not all(obj._is_pk_set() for obj in objs):  # type: ignore[attr-defined]
        return False
    attnames = [field.attname for field in resolved]
    # An expression (F(), Case, Value(…) of expressions) is compiled per row by Django's
    # CASE, against the row being written; a list of parameters cannot carry it.
    return not any(
        hasattr(getattr(obj, attname), "resolve_expression") for obj in objs for attname in attnames
    )


def _plain_query(queryset: models.QuerySet[Any]) -> bool:
    """Whether the queryset is the whole table: Django's update() would honour a filter."""
    query = queryset.query
    return (
        not query.where
        and not query.is_sliced
        and query.combinator is None
        and queryset._fields is None  # type: ignore[attr-defined]
    )


def fast_bulk_update(
    queryset: models.QuerySet[Any],
    objs: Sequence[models.Model],
    fields: Sequence[str],
    batch_size: int | None = None,
) -> int:
    """Write ``fields`` of ``objs`` as Django's bulk_update() does; return the rows matched.

    Batches are Django's, so duplicates resolve as Django resolves them: within a batch
    the first object of a row wins (CASE WHEN takes the first match), a later batch
    overwrites an earlier one; each batch counts the distinct rows it matched. A batch
    that would exceed the backend's parameter limit is split into several statements.
    Call only when :func:`can_fast_write` says yes.
    """
    opts = queryset.model._meta
    resolved: list[Any] = [opts.get_field(name) for name in fields]
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="bulk_update", fields=resolved)  # type: ignore[attr-defined]
    queryset._for_write = True  # type: ignore[attr-defined]
    using = queryset.db
    connection = connections[using]
    largest = connection.ops.bulk_batch_size([opts.pk, opts.pk, *resolved], objs)
    size = max(min(batch_size, largest) if batch_size else largest, 1)
    statement = JoinedUpdate(queryset.model, resolved, connection)
    updated = 0
    with transaction.atomic(using=using, savepoint=False), connection.cursor() as cursor:
        for start in range(0, len(objs), size):
            for rows in statement.split(statement.rows(objs[start : start + size])):
                cursor.execute(*statement.sql(rows))
                updated += cursor.rowcount
    return updated
