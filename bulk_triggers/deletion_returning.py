"""``QuerySet.delete()`` of a model Django fast-deletes: no collector, and no read when it can.

Where Django itself would fast-delete the queryset (one ``DELETE`` statement, no rows
loaded), nothing but the model's own triggers can fire, and the collector would only
hold the rows: :func:`delete_loaded` reads each chunk, runs the before stage, deletes
the keys it read and runs the after stage. When the delete triggers have no before
stage either, :func:`delete_returning` reads nothing before the write: each chunk is
deleted by one statement that returns the deleted rows' columns, and the after stage
receives instances built from exactly those rows. The chunk is the next ``CHUNK_SIZE``
rows of the filter in primary key order (locked in that order on PostgreSQL, as
:func:`~bulk_triggers.keyset.in_chunks` locks them).

Both return None wherever they would not be exact, and the caller takes the
collector's path; each reason is stated where it is checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from operator import itemgetter
from typing import Any

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connections, models, transaction

from bulk_triggers import conf
from bulk_triggers.deletion_collector import TriggerCollector, triggers_of
from bulk_triggers.dispatch import Dispatch
from bulk_triggers.field_kinds import INTEGER_KEYS
from bulk_triggers.key_arrays import with_keys
from bulk_triggers.related import path_names
from bulk_triggers.rows import in_chunks, reads_beyond_row, row_builder, selection

__all__ = ["delete_loaded", "delete_returning", "returns_deleted_rows"]

# Keys whose order Python and every database agree on, so the next chunk can start
# after the largest key returned (RETURNING gives rows in no promised order).
_ORDERED_KEYS = INTEGER_KEYS


def returns_deleted_rows(vendor: str, version: tuple[int, ...], mariadb: bool = False) -> bool:
    """Return whether the server can ``DELETE … RETURNING`` the deleted rows' columns.

    PostgreSQL always could; SQLite from 3.35; MariaDB from 10.5, with ``ORDER BY`` and
    ``LIMIT`` (MySQL never). Django has no feature flag for it:
    ``can_return_rows_from_bulk_insert`` and ``can_return_columns_from_insert`` are
    about INSERT.
    """
    if vendor == "postgresql":
        return True
    if vendor == "sqlite":
        return version >= (3, 35)
    return vendor == "mysql" and mariadb and version >= (10, 5)


def _server_returns(connection: Any) -> bool:
    """Return :func:`returns_deleted_rows` for the server behind ``connection``."""
    vendor = connection.vendor
    if vendor == "sqlite":
        return returns_deleted_rows(vendor, connection.Database.sqlite_version_info)
    if vendor == "mysql":
        version = connection.mysql_version
        return returns_deleted_rows(vendor, version, bool(connection.mysql_is_mariadb))
    return returns_deleted_rows(vendor, ())


def delete_returning(
    queryset: models.QuerySet[Any], using: str
) -> tuple[int, dict[str, int]] | None:
    """Delete ``queryset`` a chunk at a time, one ``DELETE … RETURNING`` each, with after triggers.

    Returns Django's ``(count, {label: count})``, or None (having done nothing) when the
    collector's path must run instead.
    """
    model = queryset.model
    triggers = triggers_of(model, "delete")
    if not triggers or any(("before", "delete") in t._methods for t in triggers):
        return None  # Before triggers must see (and may refuse) the rows first.
    connection = connections[using]
    if not _server_returns(connection):
        return None
    if not _fast_for_django(queryset, using):
        return None
    opts = model._meta
    if len(opts.pk_fields) != 1 or opts.pk.get_internal_type() not in _ORDERED_KEYS:
        return None  # Keyset pages continue from the largest key: integers only.
    rows = selection(queryset, using)
    if len(rows.query.alias_map) > 1 or reads_beyond_row(rows):
        # A join becomes ``pk IN (subquery)`` on the table itself, which later chunks'
        # deletes would change (and MariaDB refuses in a DELETE): load keys first instead.
        return None
    if path_names([trigger.condition for trigger in triggers]):
        return None  # Conditions on related rows load them before the write.
    statement = _Statement(rows, using)
    if statement.columns is None:
        return None  # A field selected through SQL of its own (select_format).
    dispatch = Dispatch(model, "delete", using, triggers, operation="delete")
    total = 0
    with transaction.atomic(using=using):
        for chunk in statement.chunks():
            total += len(chunk)
            dispatch.before(None, chunk)  # No before method: counts rows for add_error().
            dispatch.after(None, chunk)
    return total, ({model._meta.label: total} if total else {})


def delete_loaded(queryset: models.QuerySet[Any], using: str) -> tuple[int, dict[str, int]] | None:
    """Delete ``queryset``, whose model Django fast-deletes, chunk by chunk with triggers.

    What the collector's path does for such a model (a locked read of the chunk, the
    before stage, a delete of exactly the keys read, the after stage), without building
    a collector per chunk: Django's would collect the rows and nothing else. The keys
    are taken before the before stage, so a trigger changing ``old`` cannot redirect
    the delete; on PostgreSQL they are one array parameter (``pk = ANY(%s)``). Returns
    None (having done nothing) when the collector's path must run instead.
    """
    model = queryset.model
    triggers = triggers_of(model, "delete")
    if not triggers or len(model._meta.pk_fields) != 1:
        return None
    if not _fast_for_django(queryset, using):
        return None
    attnames = [field.attname for field in model._meta.concrete_fields]
    build = row_builder(model, using, attnames)
    plain: models.QuerySet[Any] = models.QuerySet(model=model, using=using)
    dispatch = Dispatch(model, "delete", using, triggers, operation="delete")
    total = 0
    with transaction.atomic(using=using):
        for rows in in_chunks(selection(queryset, using).values_list(*attnames)):
            old = [build(row) for row in rows]
            keys = [obj.pk for obj in old]
            dispatch.before(None, old)
            total += with_keys(plain, keys)._raw_delete(using)
            dispatch.after(None, old)
    return total, ({model._meta.label: total} if total else {})


def _fast_for_django(queryset: models.QuerySet[Any], using: str) -> bool:
    """Return whether Django's own collector would delete ``queryset`` with one statement.

    That rules out cascades, ``SET_*``, ``PROTECT``/``RESTRICT`` relations, generic
    relations, multi-table parents and children, and ``pre_delete``/``post_delete``
    receivers (which make Django load the rows).
    """
    collector = TriggerCollector(using=using, origin=queryset)
    collector.can_fast_delete(queryset)
    return queryset.model in collector.fast


class _Statement:
    """A chunk's ``DELETE … RETURNING`` for one filter, whose WHERE Django compiles.

    The WHERE is compiled as Django's own DELETE compiles it; the returned columns are
    the model's concrete columns, converted with the converters of Django's SELECT of
    them, so that the rows are what loading them would give.
    """

    def __init__(self, rows: models.QuerySet[Any], using: str) -> None:
        self.connection = connection = connections[using]
        model = rows.model
        opts = model._meta
        self.model, self.using = model, using
        self.attnames = [field.attname for field in opts.concrete_fields]
        self.key_index = self.attnames.index(opts.pk.attname)
        qn = connection.ops.quote_name
        self.table = qn(opts.db_table)
        self.key = f"{self.table}.{qn(opts.pk.column)}"
        self.compiler = compiler = rows.values_list(*self.attnames).query.get_compiler(using)
        select = compiler.get_select()[0]
        plain = [(f"{self.table}.{qn(field.column)}", ()) for field in opts.concrete_fields]
        self.columns: str | None = None
        if [(sql, tuple(params)) for _, (sql, params), _ in select] == plain:
            self.columns = ", ".join(qn(field.column) for field in opts.concrete_fields)
        self.converters = compiler.get_converters([column for column, _, _ in select])
        self.empty = False
        self.where, self.params = "", []
        try:
            self.where, params = compiler.compile(rows.query.where)
            self.params = list(params)
        except FullResultSet:
            pass  # No filter: every row.
        except EmptyResultSet:
            self.empty = True  # A filter no row can match (``pk__in=[]``): Django's 0.

    def chunks(self) -> Iterator[list[models.Model]]:
        """Delete and yield the rows a chunk at a time, each chunk in primary key order."""
        if self.empty:
            return
        size = conf.get("CHUNK_SIZE")
        build = row_builder(self.model, self.using, self.attnames)
        last: Any = None
        while True:
            sql, params = self._sql(size, last)
            with self.connection.cursor() as cursor:
                cursor.execute(sql, params)
                raw = list(cursor.fetchall())
            if not raw:
                return
            raw.sort(key=itemgetter(self.key_index))  # Integer keys: the database's order.
            last = raw[-1][self.key_index]
            loaded: Iterable[Sequence[Any]] = raw
            if self.converters:
                loaded = self.compiler.apply_converters(raw, self.converters)
            yield [build(row) for row in loaded]
            if len(raw) < size and self.connection.vendor != "postgresql":
                return
            # On PostgreSQL a row deleted by another transaction while the chunk waited
            # for its lock drops out of the LIMIT, so a short chunk does not prove that
            # no rows are left; the next, empty, DELETE does.

    def _sql(self, size: int, last: Any) -> tuple[str, list[Any]]:
        """Return the DELETE of the next ``size`` rows after key ``last`` (None: the first)."""
        conditions = [f"({self.where})"] if self.where else []
        params = list(self.params)
        if last is not None:
            conditions.append(f"{self.key} > %s")
            params.append(last)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        page = f"ORDER BY {self.key} ASC LIMIT {int(size)}"
        if self.connection.vendor == "mysql":
            # MariaDB's single-table DELETE takes ORDER BY and LIMIT itself, and refuses
            # a subquery on the table it deletes from.
            return f"DELETE FROM {self.table}{where} {page} RETURNING {self.columns}", params
        lock = " FOR UPDATE" if self.connection.vendor == "postgresql" else ""
        pick = f"SELECT {self.key} FROM {self.table}{where} {page}{lock}"
        return (
            f"DELETE FROM {self.table} WHERE {self.key} IN ({pick}) RETURNING {self.columns}",
            params,
        )
