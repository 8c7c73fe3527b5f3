"""Reading the stored rows that triggers receive as ``old``, under lock, in chunks."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from inspect import getattr_static
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from django.db import connections, models
from django.db.models.base import ModelState
from django.db.models.expressions import Col
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init
from django.db.models.sql.query import Query

from bulk_triggers.keyset import (
    filters_on_window,
    in_chunks,
    locked,
    pk_order,
    reads_beyond_row,
    writes_key,
    writes_pk,
)

__all__ = [
    "filters_on_window",
    "in_chunks",
    "load_by_pk",
    "load_one",
    "locked",
    "reads_beyond_row",
    "row_builder",
    "selection",
    "with_annotations",
    "writes_key",
    "writes_pk",
]

QS = TypeVar("QS", bound=models.QuerySet[Any])


def load_by_pk(
    model: type[models.Model], pks: Iterable[Any], using: str, *, no_key: bool = False
) -> dict[Any, models.Model]:
    """Return the stored rows with the given primary keys, locked in key order, in one query.

    Reads through the model's base manager on ``using``, so that neither a default
    manager's filters nor the database router hide or redirect rows. ``no_key`` is
    :func:`locked`'s: pass it when the caller's write changes no referenced key.
    """
    queryset = model._base_manager.db_manager(using).filter(pk__in=list(pks))
    # Primary key order makes InnoDB range-scan just these keys and lock them in the
    # same order as every other writer, instead of scanning (and waiting on) other rows.
    ordered = queryset.order_by(*pk_order(model))
    return {row.pk: row for row in locked(ordered, no_key=no_key)}


# Per connection object (one per thread and alias): compiled statements and converters
# hold on to the connection they were made for. Keyed by model and lock strength.
_one_row: WeakKeyDictionary[
    Any, dict[tuple[type[models.Model], bool], tuple[str, Any, Any, int]]
] = WeakKeyDictionary()


def load_one(
    model: type[models.Model], pk: Any, using: str, *, no_key: bool = False
) -> models.Model | None:
    """Return the stored row with primary key ``pk``, locked, or None: one query.

    What :func:`load_by_pk` does for one row, without building and compiling a
    queryset each time (a ``save()`` pays this on every call): the statement is compiled
    once per model, lock strength and database, then executed with the key as its only
    parameter (a composite key, with its columns as parameters).
    """
    connection = connections[using]
    compiled = _one_row.setdefault(connection, {})
    width_of_key = len(model._meta.pk_fields)
    if (model, no_key) not in compiled:
        queryset = model._base_manager.db_manager(using).filter(pk=pk).order_by()
        compiler = locked(queryset, no_key=no_key).query.get_compiler(using)
        sql, params = compiler.as_sql()
        if len(params) != width_of_key or compiler.col_count != len(model._meta.concrete_fields):
            return load_by_pk(model, [pk], using, no_key=no_key).get(pk)  # The long way.
        fields = [column[0] for column in compiler.select[: compiler.col_count]]
        converters = compiler.get_converters(fields)
        compiled[(model, no_key)] = (sql, compiler, converters, compiler.col_count)
    sql, compiler, converters, width = compiled[(model, no_key)]
    parts = pk if width_of_key > 1 else (pk,)
    values = [
        field.get_db_prep_value(part, connection, prepared=False)
        for field, part in zip(model._meta.pk_fields, parts, strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
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
    overrides neither ``__init__`` nor ``from_db()`` (which may set attributes of their own;
    a ``from_db()`` marked ``bulk_triggers_plain`` sets nothing such rows need).
    """
    try:
        return _plain_cache[model]
    except KeyError:
        pass
    own_init = model.__init__ is not models.Model.__init__
    from_db = getattr(model.from_db, "__func__", None)
    own_from_db = from_db is not _MODEL_FROM_DB and not getattr(
        from_db, "bulk_triggers_plain", False
    )
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
