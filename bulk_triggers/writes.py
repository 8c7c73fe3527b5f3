"""Write ``bulk_update()``'s rows with one statement per batch, joined against their values.

Django's ``bulk_update()`` writes ``UPDATE … SET f = CASE WHEN pk = 1 THEN … END WHERE pk
IN (…)``: Python and SQL work per row that grows with the batch. Here each batch is one
``UPDATE`` joined against a list of values (``UPDATE … FROM unnest(%s::type[], …)`` on
PostgreSQL, ``UPDATE … FROM (VALUES …)`` on SQLite ≥ 3.33, a ``UNION ALL`` derived table
on MariaDB/MySQL), with
Django's own batches, its own ``get_db_prep_save()`` parameters and the casts its CASE
carries, so that every row stores what Django's statement would have stored.

:func:`can_fast_write` decides, up front, when that holds; otherwise the caller keeps
Django's path. :func:`fast_bulk_update` assumes it said yes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

__all__ = ["can_fast_write", "fast_bulk_update"]

# MariaDB/MySQL interpolate parameters client-side and have no limit of their own; this
# bounds the statement's size instead (its packet must fit max_allowed_packet).
# PostgreSQL's (65,535 per statement) is never near: it gets one array per column.
_MYSQL_MAX_PARAMS = 65535
# UPDATE … FROM arrived in SQLite 3.33.
_SQLITE_UPDATE_FROM = (3, 33, 0)
# The alias of the joined values: unlike "v", no model's table is named so.
_VALUES = "bulk_triggers_values"


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
    if not _supported(connection) or not _plain_query(queryset):
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
    if not all(_joinable(field, model, connection) for field in resolved):
        return False
    if not all(obj._is_pk_set() for obj in objs):  # type: ignore[attr-defined]
        return False
    attnames = [field.attname for field in resolved]
    # An expression (F(), Case, Value(…) of expressions) is compiled per row by Django's
    # CASE, against the row being written; a list of parameters cannot carry it.
    return not any(
        hasattr(getattr(obj, attname), "resolve_expression") for obj in objs for attname in attnames
    )


def _supported(connection: BaseDatabaseWrapper) -> bool:
    if connection.vendor == "sqlite":
        return sqlite3.sqlite_version_info >= _SQLITE_UPDATE_FROM
    return connection.vendor in ("postgresql", "mysql")


def _plain_query(queryset: models.QuerySet[Any]) -> bool:
    """Whether the queryset is the whole table: Django's update() would honour a filter."""
    query = queryset.query
    return (
        not query.where
        and not query.is_sliced
        and query.combinator is None
        and queryset._fields is None  # type: ignore[attr-defined]
    )


def _joinable(field: Any, model: type[models.Model], connection: BaseDatabaseWrapper) -> bool:
    """Whether a join against a list of parameters can write ``field`` as Django would."""
    opts = model._meta.concrete_model._meta  # type: ignore[union-attr]
    if not getattr(field, "concrete", False) or field.many_to_many or field.primary_key:
        return False  # Django refuses these with its own message.
    # A multi-table-inherited parent's field lives in another table; Django updates it there.
    if field not in opts.local_concrete_fields:
        return False
    # Django refuses to write a generated column. A custom placeholder other than
    # BinaryField's (GIS fields) may compile SQL of its own with the query's compiler.
    if getattr(field, "generated", False):
        return False
    if _has_placeholder(field) and not isinstance(field, models.BinaryField):
        return False
    if connection.vendor == "postgresql":
        return field.cast_db_type(connection) is not None
    return True


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
    statement = _Statement(queryset.model, resolved, connection)
    updated = 0
    with transaction.atomic(using=using, savepoint=False), connection.cursor() as cursor:
        for start in range(0, len(objs), size):
            for rows in statement.split(statement.rows(objs[start : start + size])):
                cursor.execute(*statement.sql(rows))
                updated += cursor.rowcount
    return updated


class _Statement:
    """The SQL and parameters of one vendor's joined UPDATE for one model and its fields."""

    def __init__(
        self, model: type[models.Model], fields: Sequence[Any], connection: BaseDatabaseWrapper
    ) -> None:
        opts = model._meta.concrete_model._meta  # type: ignore[union-attr]
        self.connection = connection
        self.pk = opts.pk
        self.fields = list(fields)
        self.attnames = [field.attname for field in fields]
        quote = connection.ops.quote_name
        self.table = quote(opts.db_table)
        self.pk_column = quote(opts.pk.column)
        self.columns = [quote(field.column) for field in fields]
        self.aliases = [quote("pk"), *(quote(f"c{n}") for n in range(len(fields)))]
        self.preparers: list[Callable[[Any], Any]] = [
            field_preparer(field, connection) for field in fields
        ]
        self.placeholders = [
            _placeholder(self.pk, connection),
            *(_placeholder(field, connection) for field in fields),
        ]
        # BinaryField's placeholder depends on the value (MySQL's "_binary %s" but for NULL).
        self.per_value = [
            (position, field)
            for position, field in enumerate(fields, start=1)
            if _has_placeholder(field) and _own_placeholder(field, b"", connection) != "%s"
        ]
        self.width = len(self.placeholders)
        limit = connection.features.max_query_params or _MYSQL_MAX_PARAMS
        arrays = connection.vendor == "postgresql"  # one parameter per column
        self.rows_per_statement = None if arrays else max(limit // self.width, 1)

    def rows(self, batch: Sequence[models.Model]) -> list[list[Any]]:
        """Return one parameter row per distinct primary key, the batch's first object's."""
        prepare_pk = self.pk.get_db_prep_value
        connection = self.connection
        pairs = list(zip(self.attnames, self.preparers, strict=True))
        rows: dict[Any, list[Any]] = {}
        for obj in batch:
            key = prepare_pk(obj.pk, connection)
            if key not in rows:
                rows[key] = [key, *(prepare(getattr(obj, name)) for name, prepare in pairs)]
        return list(rows.values())

    def split(self, rows: list[list[Any]]) -> list[list[list[Any]]]:
        """Split rows (distinct keys, so in any order) to respect the parameter limit."""
        step = self.rows_per_statement or len(rows) or 1
        return [rows[start : start + step] for start in range(0, len(rows), step)]

    def sql(self, rows: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
        """Return the statement writing ``rows`` and its parameters."""
        vendor = self.connection.vendor
        if vendor == "postgresql":
            return self._postgresql(), [list(column) for column in zip(*rows, strict=True)]
        params = [value for row in rows for value in row]
        if not self.per_value:
            shared = self.placeholders
            placeholders = [shared] * len(rows)
        else:
            placeholders = [self._row_placeholders(row) for row in rows]
        if vendor == "sqlite":
            return self._sqlite(placeholders), params
        return self._mysql(placeholders), params

    def _row_placeholders(self, row: Sequence[Any]) -> list[str]:
        placeholders = list(self.placeholders)
        for position, field in self.per_value:
            own = _own_placeholder(field, row[position], self.connection)
            placeholders[position] = placeholders[position].replace("%s", own)
        return placeholders

    def _assignments(self, qualify: str = "") -> str:
        return ", ".join(
            f"{qualify}{column} = {_VALUES}.{alias}"
            for column, alias in zip(self.columns, self.aliases[1:], strict=True)
        )

    def _where(self) -> str:
        return f"{self.table}.{self.pk_column} = {_VALUES}.{self.aliases[0]}"

    def _postgresql(self) -> str:
        # One array per column: three parameters instead of 3,000 for 1,000 rows of two
        # fields, and each element cast to the column's type as Django casts its CASE.
        arrays = ", ".join(self.placeholders)
        return (
            f"UPDATE {self.table} SET {self._assignments()} FROM unnest({arrays}) "
            f"AS {_VALUES} ({', '.join(self.aliases)}) WHERE {self._where()}"
        )

    def _sqlite(self, placeholders: list[list[str]]) -> str:
        # Not a WITH … UPDATE: Python's sqlite3 reports no rowcount for a statement that
        # does not start with UPDATE. SQLite names the columns of VALUES column1, column2, …
        values = ", ".join(_joined(row) for row in placeholders)
        assignments = ", ".join(
            f"{column} = {_VALUES}.column{n}" for n, column in enumerate(self.columns, start=2)
        )
        return (
            f"UPDATE {self.table} SET {assignments} FROM (VALUES {values}) AS {_VALUES} "
            f"WHERE {self.table}.{self.pk_column} = {_VALUES}.column1"
        )

    def _mysql(self, placeholders: list[list[str]]) -> str:
        # MariaDB's VALUES cannot name its columns in a derived table: the first SELECT does.
        first, *rest = placeholders
        selects = [", ".join(f"{p} AS {a}" for p, a in zip(first, self.aliases, strict=True))]
        selects.extend(", ".join(row) for row in rest)
        derived = " UNION ALL SELECT ".join(selects)
        # The values drive the join and each row is found by its primary key, so InnoDB
        # locks only the rows written: scanning the table would lock every row it reads
        # (and deadlock concurrent writers), as a small table's plan otherwise does.
        return (
            f"UPDATE (SELECT {derived}) AS {_VALUES} STRAIGHT_JOIN {self.table} "
            f"FORCE INDEX (PRIMARY) ON {self._where()} "
            f"SET {self._assignments(self.table + '.')}"
        )


def _joined(placeholders: list[str]) -> str:
    return "(" + ", ".join(placeholders) + ")"


def _has_placeholder(field: Any) -> bool:
    # get_placeholder_sql() replaces get_placeholder() in Django 6.1.
    return hasattr(field, "get_placeholder_sql") or hasattr(field, "get_placeholder")


def _own_placeholder(field: Any, value: Any, connection: BaseDatabaseWrapper) -> str:
    """Return BinaryField's SQL around one parameter (``value`` is never an expression)."""
    if hasattr(field, "get_placeholder_sql"):
        sql, _ = field.get_placeholder_sql(value, None, connection)
        return str(sql)
    return str(field.get_placeholder(value, None, connection))


def field_preparer(field: Any, connection: BaseDatabaseWrapper) -> Callable[[Any], Any]:
    """Return what turns a value into the parameter Django's ``Value(…, for_save)`` binds."""
    prepare = field.get_db_prep_save

    def prepared(value: Any) -> Any:
        return prepare(value, connection=connection)

    return prepared


def _placeholder(field: Any, connection: BaseDatabaseWrapper) -> str:
    """Return a parameter's SQL with the cast Django's CASE gives it on this backend.

    PostgreSQL: Django casts the CASE to the column's cast type
    (``requires_casted_case_in_updates``); SQLite: Django's ``Value`` of a decimal is
    ``CAST(… AS NUMERIC)``; MariaDB/MySQL: no cast.
    """
    if connection.vendor == "postgresql":  # an array of the column's values
        return f"CAST(%s AS {field.cast_db_type(connection)}[])"
    if connection.vendor == "sqlite" and field.get_internal_type() == "DecimalField":
        return "CAST(%s AS NUMERIC)"
    return "%s"
