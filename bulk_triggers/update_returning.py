"""``QuerySet.update()`` with after triggers only, on PostgreSQL: one statement per chunk.

With no before trigger nothing can change what a row stores between the read and the
write, so each chunk is read, written and returned by one statement::

    WITH read (c0, …, tid) AS MATERIALIZED (SELECT <columns>, ctid FROM t WHERE <filter>
                                            AND pk > %s ORDER BY pk LIMIT <chunk + 1>),
         old AS (SELECT * FROM read ORDER BY c0 LIMIT <chunk>),
         new AS (UPDATE t SET … FROM old WHERE t.pk = old.c0 AND t.ctid = old.tid
                 RETURNING old.c0 AS k, t.<written and generated columns>)
    SELECT read.c0, …, new.* FROM read LEFT JOIN new ON new.k = read.c0

The row read past the chunk, not written, says whether another chunk follows.

The ``SET`` clause is what Django's own ``update()`` compiles (its ``UpdateQuery``, so
``F()``, ``Case``, annotations, ``to_field`` keys, JSON and the rest store what Django
stores), and the returned columns go through the converters of Django's compiler for
the read, so ``old`` and ``new`` hold what loading the rows would give (generated columns
included, as stored).

The read takes no lock: the UPDATE locks each row once, as Django's own does. A locking
read in the same statement would reach a row twice (locked at its newest version, then
updated from the version the statement's snapshot sees), and three transactions
updating one row then deadlock where Django's UPDATE only waits. ``t.ctid = old.tid``
makes the UPDATE write a row only if it is still the version read, so ``old`` is exactly
the row replaced; a row another transaction changed meanwhile comes back unwritten, and is
read and written again by a statement of its own.

:func:`returning_update` says when this is exact; otherwise ``TriggerQuerySet.update()``
keeps its two statements per chunk (a locked read, then the write).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connections, models
from django.db.models.expressions import RawSQL
from django.db.models.sql.subqueries import UpdateQuery
from django.db.models.sql.where import WhereNode

from bulk_triggers import conf
from bulk_triggers.computed import generated_attnames
from bulk_triggers.dispatch import Dispatch
from bulk_triggers.field_kinds import INTEGER_KEYS
from bulk_triggers.gc_pause import paused
from bulk_triggers.paths import hops
from bulk_triggers.rows import filters_on_window, reads_beyond_row, selection, writes_key, writes_pk
from bulk_triggers.update_rows import Patch, build_rows

__all__ = ["ReturningUpdate", "returning_update"]

# The alias of the locked old rows: unlike "old", no model's table is named so.
_OLD = "bulk_triggers_old"
_NEW = "bulk_triggers_new"
_READ = "bulk_triggers_read"
# Primary keys whose order in Python is the database's: the last key of a chunk, the
# largest in Python, is then where the next chunk starts. Text keys sort by collation.
_ORDERED_KEYS = INTEGER_KEYS | {"UUIDField"}


class ReturningUpdate:
    """One ``update(**values)`` written chunk by chunk with ``UPDATE … FROM … RETURNING``.

    Args:
        queryset: The rows to update (a simple one: see :func:`returning_update`).
        update_sql: Django's ``UPDATE t SET …`` for the values, without a ``WHERE``.
        update_params: Its parameters.
        written: The attnames the values write.
        using: The database alias.
    """

    def __init__(
        self,
        queryset: models.QuerySet[Any],
        update_sql: str,
        update_params: Sequence[Any],
        written: Sequence[str],
        using: str,
    ) -> None:
        model: type[models.Model] = queryset.model
        opts = model._meta
        self.model = model
        self.using = using
        self.attnames = [field.attname for field in opts.concrete_fields]
        self.width = len(self.attnames)
        self.pk_index = opts.concrete_fields.index(opts.pk)
        # Only what the statement can change comes back new: the written and generated
        # columns; every other column of new is old's (the row is locked), copied.
        changing = {*written, *generated_attnames(model)}
        self.returned = [i for i, name in enumerate(self.attnames) if name in changing]
        self.update_sql = update_sql
        self.update_params = tuple(update_params)
        quote = connections[using].ops.quote_name
        table = quote(opts.db_table)
        # Not locked: the UPDATE locks each row as Django's does, once. A row whose
        # version changed since the read (its ctid) is skipped by the UPDATE and written
        # again by a statement of its own (:meth:`run`).
        tid = RawSQL(f"{table}.ctid", (), output_field=models.TextField())
        ordered = selection(queryset, using).order_by(opts.pk.attname)
        self.old = ordered.annotate(bulk_triggers_tid=tid).values_list(
            *self.attnames, "bulk_triggers_tid"
        )
        aliases = [quote(f"c{n}") for n in range(self.width)]
        key = aliases[self.pk_index]
        columns: list[Any] = [field.column for field in opts.concrete_fields]
        news = "".join(f", {table}.{quote(columns[i])}" for i in self.returned)
        self.key = key
        self.columns = f"{', '.join(aliases)}, tid"
        self.aliases = aliases
        self.update = (
            f"{update_sql} FROM {_OLD} WHERE {table}.{quote(opts.pk.column)} = "
            f"{_OLD}.{key} AND {table}.ctid = {_OLD}.tid RETURNING {_OLD}.{key} AS k{news}"
        )

    def _statement(self, old_sql: str, limit: int | None) -> str:
        """Return the statement writing what ``old_sql`` reads (with ``limit``: one row less)."""
        if limit is None:
            source = _OLD
            read = f"WITH {_OLD} ({self.columns}) AS MATERIALIZED ({old_sql})"
        else:
            source = _READ
            read = (
                f"WITH {_READ} ({self.columns}) AS MATERIALIZED ({old_sql}), {_OLD} AS "
                f"(SELECT * FROM {_READ} ORDER BY {self.key} LIMIT {int(limit)})"
            )
        return (
            f"{read}, {_NEW} AS ({self.update}) "
            f"SELECT {', '.join(f'{source}.{alias}' for alias in self.aliases)}, {_NEW}.* "
            f"FROM {source} LEFT JOIN {_NEW} ON {_NEW}.k = {source}.{self.key}"
        )

    def run(self, dispatch: Dispatch) -> int:
        """Write every chunk, run its after stage, and return the rows Django would count."""
        size = conf.get("CHUNK_SIZE")
        # New's written and generated columns come back converted: no converter of its own.
        width = self.width
        patch = Patch([], [(i, width + n, []) for n, i in enumerate(self.returned)], [], None)
        updated = 0
        last: Any = None
        while True:
            page = self.old if last is None else self.old.filter(pk__gt=last)
            with paused():  # The chunk's rows live until it is done: nothing to collect.
                rows, changed, read = self._write(page[: size + 1], size)
            more = len(read) > size
            if more:  # The row after the chunk, read but not written.
                changed.remove(read.pop(read.index(max(read))))
            while changed:  # Changed by another transaction since read: read them again.
                again, changed, _ = self._write(self.old.filter(pk__in=changed))
                rows.extend(again)
            # RETURNING's order is the join's: triggers get rows in key order, as elsewhere.
            rows.sort(key=lambda row: row[self.pk_index])
            updated += len(rows)
            if rows:
                new, old, _ = build_rows(self.model, self.using, self.attnames, rows, patch)
                # Condition paths load related rows here: no table they read was written.
                dispatch.before(new, old)
                dispatch.after(new, old)
            if not more:
                return updated
            last = max(read)

    def _write(
        self, page: models.QuerySet[Any], limit: int | None = None
    ) -> tuple[list[list[Any]], list[Any], list[Any]]:
        """Write what ``page`` reads (the first ``limit``); return the rows (old, then new),
        the keys not written (changed since the read, or past ``limit``), the keys read."""
        compiler = page.query.get_compiler(self.using)
        try:
            old_sql, old_params = compiler.as_sql()
        except EmptyResultSet:  # filter(pk__in=[]): no row, and no statement, as in Django.
            return [], [], []
        connection = connections[self.using]
        with connection.cursor() as cursor:
            statement = self._statement(old_sql, limit)
            cursor.execute(statement, (*old_params, *self.update_params))
            fetched = cursor.fetchall()
        columns = [column[0] for column in compiler.select[: self.width]]
        converters = compiler.get_converters(columns)
        if converters:  # The same converters for each column's old and new value.
            at = {index: self.width + 1 + n for n, index in enumerate(self.returned)}
            both = {**converters, **{at[p]: c for p, c in converters.items() if p in at}}
            fetched = list(compiler.apply_converters(fetched, both))
        written, changed, read = [], [], []
        for row in fetched:
            key = row[self.pk_index]
            read.append(key)
            if row[self.width] is None:
                changed.append(key)
            else:
                written.append([*row[: self.width], *row[self.width + 1 :]])
        return written, changed, read


def returning_update(
    queryset: models.QuerySet[Any], values: dict[str, Any], dispatch: Dispatch, using: str
) -> ReturningUpdate | None:
    """Return the one-statement-per-chunk update of ``values``, or None where it is not exact.

    Call after Django's refusals have run. None means the two-statement path runs, when:

    - a before trigger exists: it must see and may change ``new`` before the write;
    - the database is not PostgreSQL: MariaDB's UPDATE has no RETURNING, and SQLite's
      cannot return the joined old row;
    - the primary key is composite, or of a type Python may order otherwise than the
      database (text under a collation): chunks follow the key;
    - the model inherits from a concrete model: the update writes several tables;
    - a primary key or a key a foreign key references is written: rows move, or need
      ``FOR UPDATE`` and pinned keys;
    - the filter joins, groups, is distinct, reads other rows (subqueries, ``Exists``) or
      numbers rows (a window), or the queryset already locks (``select_for_update()``):
      the read would not be the keyset read the locks and counts are defined by;
    - a condition path leads back to the model's own table, which the related rows
      would then be read from after the write instead of before.
    """
    connection = connections[using]
    model: type[models.Model] = queryset.model
    opts = model._meta
    query = queryset.query
    if dispatch.has_before or connection.vendor != "postgresql":
        return None
    if getattr(opts, "is_composite_pk", False) or opts.pk.get_internal_type() not in _ORDERED_KEYS:
        return None
    if opts.concrete_model._meta.parents:  # type: ignore[union-attr]
        return None
    written = [opts.get_field(name).attname for name in values]  # type: ignore[union-attr]
    if writes_pk(model, written) or writes_key(model, written):
        return None
    simple = (
        len(query.alias_map) <= 1
        and not query.distinct
        and query.group_by is None
        and not query.is_sliced
        and not query.select_for_update
        and not query.extra_tables
        and query.combinator is None
        and not any(getattr(a, "contains_aggregate", False) for a in query.annotations.values())
    )
    if not simple or reads_beyond_row(queryset) or filters_on_window(queryset):
        return None
    if any(_reaches_own_table(model, path) for path in dispatch.paths):
        return None
    # What Django's update() compiles: its UpdateQuery, annotations inlined into the
    # values, then cleared; the filter goes into the locked subquery instead.
    update: Any = query.chain(UpdateQuery)
    update.add_update_values(values)
    if update.related_updates or not update.values:
        return None
    update.clear_select_clause()
    update.clear_ordering(force=True)
    update.where = WhereNode()
    sql, params = update.get_compiler(using).as_sql()
    if not sql.startswith(f"UPDATE {connection.ops.quote_name(opts.db_table)} SET "):
        return None  # A shape of Django's statement this module was not written for.
    return ReturningUpdate(queryset, sql, params, written, using)


def _reaches_own_table(model: type[models.Model], path: str) -> bool:
    """Return whether a condition path (``parent__status``) passes through the model's table."""
    concrete = model._meta.concrete_model
    return any(
        field.related_model._meta.concrete_model is concrete for field in hops(model, path)[0]
    )
