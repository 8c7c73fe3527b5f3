"""Locking and keyset iteration: which rows an operation locks, how strongly, in what order.

The rule is to lock no more than Django's own statement would: each chunk's rows in
primary key order, on PostgreSQL ``FOR NO KEY UPDATE`` unless a referenced key is
written, and on MySQL/MariaDB only the rows written (keys first, then a lock by key).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import Any, TypeVar, cast

from django.db import connections, models
from django.db.models.fields.reverse_related import ForeignObjectRel
from django.db.models.sql.query import Query
from django.db.models.sql.where import WhereNode

from bulk_triggers import conf
from bulk_triggers.key_arrays import with_keys

QS = TypeVar("QS", bound=models.QuerySet[Any])


def locked(queryset: QS, *, only_self: bool = False, no_key: bool = False) -> QS:
    """Return ``queryset`` with ``SELECT … FOR UPDATE`` where the backend supports it.

    With ``only_self``, lock only the model's own table when the backend can say so
    (``FOR UPDATE OF``), so that joins in a filter do not lock related rows. With
    ``no_key``, take PostgreSQL's ``FOR NO KEY UPDATE``: the lock Django's own UPDATE
    takes when it changes no column a foreign key can reference, which does not block
    the ``FOR KEY SHARE`` check of a child row being inserted.
    """
    features = connections[queryset.db].features
    if not features.has_select_for_update:
        return queryset
    options: dict[str, Any] = {}
    if only_self and features.has_select_for_update_of:
        options["of"] = ("self",)
    if no_key and features.has_select_for_no_key_update:
        options["no_key"] = True
    return cast(QS, queryset.select_for_update(**options))


def key_attnames(model: type[models.Model]) -> frozenset[str]:
    """Return the attnames a foreign key references: the primary key and ``to_field`` targets.

    Writing one of them is a key change, which needs ``FOR UPDATE`` on PostgreSQL.
    """
    try:
        return _key_cache[model]
    except KeyError:
        pass
    opts = model._meta
    names = {field.attname for field in opts.pk_fields}
    # Hidden relations too (related_name="+"): their foreign keys check the key all the
    # same. Relations to a proxy's concrete model or to a multi-table parent count too.
    for relation in opts.get_fields(include_hidden=True):
        if isinstance(relation, ForeignObjectRel):
            targets = getattr(relation.field, "foreign_related_fields", ())
            names.update(target.attname for target in targets)
    _key_cache[model] = frozen = frozenset(names)
    return frozen


_key_cache: dict[type[models.Model], frozenset[str]] = {}


def writes_key(model: type[models.Model], attnames: Iterable[str] | None) -> bool:
    """Return whether writing ``attnames`` (None: every field) may change a referenced key."""
    keys = key_attnames(model)
    if attnames is None:
        return bool(keys - {field.attname for field in model._meta.pk_fields})
    return not keys.isdisjoint(attnames)


def writes_pk(model: type[models.Model], attnames: Iterable[str]) -> bool:
    """Return whether writing ``attnames`` changes a primary key column (of a composite too)."""
    return not {field.attname for field in model._meta.pk_fields}.isdisjoint(attnames)


def pk_order(model: type[models.Model]) -> list[str]:
    """Return the ``order_by()`` arguments of primary key order (each column of a composite)."""
    return [field.attname for field in model._meta.pk_fields]


def filters_on_window(queryset: models.QuerySet[Any]) -> bool:
    """Return whether the filter of ``queryset`` uses a window function.

    Django hands such a filter to the database inside its UPDATE or DELETE, which
    refuses it; a chunked read would instead number the rows of each chunk anew.
    """
    return any(
        getattr(node, "contains_over_clause", False) for node in _nodes(queryset.query.where)
    )


def reads_beyond_row(queryset: models.QuerySet[Any]) -> bool:
    """Return whether a row matches the filter of ``queryset`` depends on other rows.

    Subqueries (``pk IN (…)`` of a joined or grouped :func:`selection`, ``Exists``, a
    slice, an aggregate over the table) see what earlier chunks wrote, and a window
    function would number each chunk anew; such a filter is evaluated once, for the
    whole operation, by :func:`in_chunks`.
    """
    return any(
        isinstance(node, Query)
        or getattr(node, "subquery", False)
        or getattr(node, "contains_over_clause", False)
        for node in _nodes(queryset.query.where)
    )


def _nodes(node: Any) -> Iterator[Any]:
    """Yield ``node`` and every expression below it, down to (not into) subqueries."""
    yield node
    if isinstance(node, Query) or getattr(node, "subquery", False):
        return
    if isinstance(node, WhereNode):
        children: Iterable[Any] = node.children
    else:
        children = node.get_source_expressions() if hasattr(node, "get_source_expressions") else ()
    for child in children:
        if child is not None:
            yield from _nodes(child)


def in_chunks(
    queryset: models.QuerySet[Any],
    size: int | None = None,
    *,
    no_key: bool = False,
    pin: bool = False,
    skip: Collection[Any] = (),
) -> Iterator[Sequence[Any]]:
    """Yield the rows of ``queryset`` in primary key order, ``CHUNK_SIZE`` at a time, locked.

    Each chunk is locked just before it is yielded, in key order, so memory is bounded
    by the chunk and rows changed or deleted by earlier chunks are neither skipped nor
    seen twice. The set of keys is read once, up front (keys only), when ``pin`` is set
    (the operation changes primary keys) or the filter depends on other rows (see
    :func:`reads_beyond_row`, then the pinned keys are the selection, as Django's
    pre-selected keys are on MySQL). Rows whose key is in ``skip`` (rows the operation
    has already moved there) are left out. On MySQL/MariaDB, whose locking reads lock
    every row they scan, each chunk's keys are found by a non-locking read and then
    locked by key with the filter re-applied, so the operation waits on no row that it
    does not write. ``no_key`` is :func:`locked`'s.
    """
    size = size or conf.get("CHUNK_SIZE")
    ordered = queryset.order_by(*pk_order(queryset.model))
    beyond = reads_beyond_row(queryset)
    if pin or beyond:
        keys = iter(list(_keys(ordered)))  # Keys only: memory grows with the rows here.
        by_key = _without_filter(ordered) if beyond else ordered
        yield from _locked_by_key(by_key, _batches(keys, size), no_key, skip)
    elif connections[queryset.db].vendor == "mysql":
        yield from _locked_by_key(ordered, _key_pages(ordered, size), no_key, skip)
    else:
        yield from _locked_pages(ordered, size, no_key, skip)


def _keys(queryset: models.QuerySet[Any]) -> models.QuerySet[Any]:
    """Return the non-locking read of the keys of ``queryset`` (tuples for a composite key)."""
    names = pk_order(queryset.model)
    return queryset.values_list(*names, flat=len(names) == 1)


def _without_filter(queryset: QS) -> QS:
    """Return ``queryset`` (one table, see :func:`selection`) with its filter dropped."""
    chained = queryset._chain()  # type: ignore[attr-defined]
    chained.query.where = WhereNode()
    return cast(QS, chained)


def _batches(keys: Iterator[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for key in keys:
        batch.append(key)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _key_pages(ordered: models.QuerySet[Any], size: int) -> Iterator[list[Any]]:
    """Yield the keys of ``ordered`` a chunk at a time, each page a non-locking keyset read."""
    keys = _keys(ordered)
    last: Any = None
    while True:
        page = keys if last is None else keys.filter(pk__gt=last)
        # One key more than the chunk says whether another read is needed.
        found = list(page[: size + 1])
        if found[:size]:
            yield found[:size]
        if len(found) <= size:
            return
        last = found[size - 1]


def _locked_by_key(
    ordered: models.QuerySet[Any],
    batches: Iterator[list[Any]],
    no_key: bool,
    skip: Collection[Any],
) -> Iterator[Sequence[Any]]:
    """Yield, per batch of keys, the rows of ``ordered`` with those keys, locked by key."""
    rows = locked(ordered, only_self=True, no_key=no_key)
    for batch in batches:
        wanted = [key for key in batch if key not in skip] if skip else batch
        chunk = list(with_keys(rows, wanted)) if wanted else []
        if chunk:
            yield chunk


def _locked_pages(
    ordered: models.QuerySet[Any], size: int, no_key: bool, skip: Collection[Any]
) -> Iterator[Sequence[Any]]:
    """Yield the rows of ``ordered`` a chunk at a time, each a locking keyset read."""
    queryset = locked(ordered, only_self=True, no_key=no_key)
    key_of = _key_reader(queryset)
    last: Any = None
    while True:
        page = queryset if last is None else queryset.filter(pk__gt=last)
        # One row more than the chunk says whether another query is needed, so an
        # operation on exactly CHUNK_SIZE rows does not end with an empty SELECT.
        rows = list(page[: size + 1])
        chunk = rows[:size]
        kept = [row for row in chunk if key_of(row) not in skip] if skip else chunk
        if kept:
            yield kept
        if len(rows) <= size:
            return
        last = key_of(chunk[-1])


def _key_reader(queryset: models.QuerySet[Any]) -> Callable[[Any], Any]:
    """Return how to read the primary key (a tuple for a composite) from a row of ``queryset``."""
    fields = queryset._fields  # type: ignore[attr-defined]
    if fields is None:
        return lambda row: row.pk
    opts = queryset.model._meta
    by_name: dict[str, Any] = {"pk": opts.pk, opts.pk.name: opts.pk}
    for field in opts.concrete_fields:
        by_name[field.name] = by_name[field.attname] = field
    positions = {by_name[name]: index for index, name in enumerate(fields) if name in by_name}
    if opts.pk in positions:
        index = positions[opts.pk]
        return lambda row: row[index]
    if not all(field in positions for field in opts.pk_fields):
        raise ValueError("in_chunks() needs the primary key among the selected values.")
    indexes = [positions[field] for field in opts.pk_fields]
    return lambda row: tuple(row[index] for index in indexes)
