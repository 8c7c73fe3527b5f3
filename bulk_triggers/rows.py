"""Reading the stored rows that triggers receive as ``old``, under lock, in chunks."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from inspect import getattr_static
from typing import Any, TypeVar, cast
from weakref import WeakKeyDictionary

from django.db import connections, models
from django.db.models.base import ModelState
from django.db.models.expressions import Col
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init
from django.db.models.sql.query import Query

from bulk_triggers import conf

QS = TypeVar("QS", bound=models.QuerySet[Any])


def locked(queryset: QS, *, only_self: bool = False) -> QS:
    """Return ``queryset`` with ``SELECT … FOR UPDATE`` where the backend supports it.

    With ``only_self``, lock only the model's own table when the backend can say so
    (``FOR UPDATE OF``), so that joins in a filter do not lock related rows.
    """
    features = connections[queryset.db].features
    if not features.has_select_for_update:
        return queryset
    if only_self and features.has_select_for_update_of:
        return cast(QS, queryset.select_for_update(of=("self",)))
    return cast(QS, queryset.select_for_update())


def load_by_pk(
    model: type[models.Model], pks: Iterable[Any], using: str
) -> dict[Any, models.Model]:
    """Return the stored rows with the given primary keys, locked in key order, in one query.

    Reads through the model's base manager on ``using``, so that neither a default
    manager's filters nor the database router hide or redirect rows.
    """
    queryset = model._base_manager.db_manager(using).filter(pk__in=list(pks))
    # Primary key order makes InnoDB range-scan just these keys and lock them in the
    # same order as every other writer, instead of scanning (and waiting on) other rows.
    return {row.pk: row for row in locked(queryset.order_by("pk"))}


# Per connection object (one per thread and alias): compiled statements and converters
# hold on to the connection they were made for.
_one_row: WeakKeyDictionary[Any, dict[type[models.Model], tuple[str, Any, Any, int]]] = (
    WeakKeyDictionary()
)


def load_one(model: type[models.Model], pk: Any, using: str) -> models.Model | None:
    """Return the stored row with primary key ``pk``, locked, or None: one query.

    What :func:`load_by_pk` does for one row, without building and compiling a
    queryset each time (a ``save()`` pays this on every call): the statement is compiled
    once per model and database, then executed with the key as its only parameter.
    """
    connection = connections[using]
    compiled = _one_row.setdefault(connection, {})
    if model not in compiled:
        queryset = locked(model._base_manager.db_manager(using).filter(pk=pk).order_by())
        compiler = queryset.query.get_compiler(using)
        sql, params = compiler.as_sql()
        if len(params) != 1 or compiler.col_count != len(model._meta.concrete_fields):
            return load_by_pk(model, [pk], using).get(pk)  # An unusual shape: the long way.
        fields = [column[0] for column in compiler.select[: compiler.col_count]]
        compiled[model] = (sql, compiler, compiler.get_converters(fields), compiler.col_count)
    sql, compiler, converters, width = compiled[model]
    value = model._meta.pk.get_db_prep_value(pk, connection, prepared=False)
    with connection.cursor() as cursor:
        cursor.execute(sql, [value])
        row = cursor.fetchone()
    if row is None:
        return None
    if converters:
        row = next(iter(compiler.apply_converters([row], converters)))
    attnames = [field.attname for field in model._meta.concrete_fields]
    return row_builder(model, using, attnames)(row[:width])


def selection(queryset: models.QuerySet[Any], using: str) -> models.QuerySet[Any]:
    """Return a plain queryset that selects each row of ``queryset`` exactly once.

    A query with joins, grouping or ``distinct`` could repeat or merge rows, and could
    not be locked on every backend; it becomes ``pk IN (subquery)``. A simple query is
    kept as it is, annotations included, so update expressions may refer to them.
    """
    query = queryset.query
    simple = (
        len(query.alias_map) <= 1
        and not query.distinct
        and query.group_by is None
        and not any(
            getattr(annotation, "contains_aggregate", False)
            for annotation in query.annotations.values()
        )
    )
    model = queryset.model
    if simple:
        chained: Query = query.chain()
        chained.clear_ordering(force=True)
        chained.clear_limits()
        chained.select_related = False
        chained.clear_deferred_loading()
        return models.QuerySet(model=model, query=chained, using=using)
    pks = queryset.order_by().values("pk")
    rows: models.QuerySet[Any] = model._base_manager.db_manager(using).filter(pk__in=pks)
    return with_annotations(rows.order_by(), query)


def with_annotations(queryset: QS, source: Query) -> QS:
    """Return ``queryset`` with the annotations of ``source`` that read only its own row.

    ``update()`` may refer to such annotations (``update(f=F("annotation"))``); ones that
    aggregate or read joined tables cannot be carried over (nor used by ``update()``).
    """
    base = source.base_table
    for name, annotation in source.annotations.items():
        if getattr(annotation, "contains_aggregate", False):
            continue
        columns = [expr for expr in annotation.flatten() if isinstance(expr, Col)]
        if all(column.alias == base for column in columns):
            queryset.query.add_annotation(annotation, name)
    return queryset


def in_chunks(queryset: models.QuerySet[Any], size: int | None = None) -> Iterator[Sequence[Any]]:
    """Yield the rows of ``queryset`` in primary key order, ``CHUNK_SIZE`` at a time.

    Each chunk is one locked query that continues after the last key of the previous
    chunk, so memory is bounded by the chunk and rows changed or deleted by earlier
    chunks are neither skipped nor seen twice.
    """
    size = size or conf.get("CHUNK_SIZE")
    queryset = locked(queryset.order_by("pk"), only_self=True)
    last: Any = None
    pk_index = _pk_index(queryset)
    while True:
        page = queryset if last is None else queryset.filter(pk__gt=last)
        # One row more than the chunk says whether another query is needed, so an
        # operation on exactly CHUNK_SIZE rows does not end with an empty SELECT.
        rows = list(page[: size + 1])
        chunk = rows[:size]
        if chunk:
            yield chunk
        if len(rows) <= size:
            return
        last = chunk[-1][pk_index] if pk_index is not None else chunk[-1].pk


def _pk_index(queryset: models.QuerySet[Any]) -> int | None:
    """Return where the primary key sits in a ``values_list`` row, or None for instances."""
    fields = queryset._fields  # type: ignore[attr-defined]
    if fields is None:
        return None
    pk = queryset.model._meta.pk
    for index, name in enumerate(fields):
        if name in ("pk", pk.name, pk.attname):
            return index
    raise ValueError("in_chunks() needs the primary key among the selected values.")


def row_builder(
    model: type[models.Model], using: str, attnames: Sequence[str]
) -> Callable[[Sequence[Any]], models.Model]:
    """Return a function that makes an instance, as loaded from ``using``, from its columns.

    ``attnames`` are all the model's concrete attnames, in field order. Where nothing can
    observe the difference (no ``pre_init``/``post_init`` receiver, plain field
    descriptors, neither ``__init__`` nor ``from_db()`` overridden) the values go straight
    into the instance ``__dict__``, which is several times faster than ``Model.from_db``;
    otherwise ``from_db`` is used.
    """
    if not builds_plainly(model):
        from_db = model.from_db
        field_names = list(attnames)
        return lambda values: from_db(using, field_names, values)
    names = tuple(attnames)
    create = object.__new__

    def build(values: Sequence[Any]) -> models.Model:
        instance: models.Model = create(model)
        state = ModelState()
        state.adding = False
        state.db = using
        namespace = instance.__dict__
        namespace["_state"] = state
        namespace.update(zip(names, values, strict=True))
        return instance

    return build


def builds_plainly(model: type[models.Model]) -> bool:
    """Return whether :func:`row_builder` may fill instances without ``from_db()``."""
    return not (pre_init.has_listeners(model) or post_init.has_listeners(model)) and _plain(model)


_plain_cache: dict[type[models.Model], bool] = {}
_MODEL_FROM_DB: Any = models.Model.from_db.__func__  # type: ignore[attr-defined]


def _plain(model: type[models.Model]) -> bool:
    """Return whether the model builds instances as Django's own ``Model`` does.

    That is: every concrete field's descriptor stores values as they are, and the model
    overrides neither ``__init__`` nor ``from_db()`` (which may set attributes of their own).
    """
    try:
        return _plain_cache[model]
    except KeyError:
        pass
    own_init = model.__init__ is not models.Model.__init__
    own_from_db = getattr(model.from_db, "__func__", None) is not _MODEL_FROM_DB
    plain = (
        not own_init
        and not own_from_db
        and all(
            type(getattr_static(model, field.attname, None))
            in (DeferredAttribute, ForeignKeyDeferredAttribute)
            for field in model._meta.concrete_fields
        )
    )
    _plain_cache[model] = plain
    return plain
