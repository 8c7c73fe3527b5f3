"""Values the database computes on write, read back so that after triggers see them stored.

A ``GeneratedField``, a ``db_default`` left to the database, or an expression assigned to
an instance (``order.quantity = F("quantity") + 1``) is only known once the row is
written. The after stage must see what is stored, so those columns are read back in one
query per chunk, and only for models and rows that have such values: the write paths of
every other model cost nothing more.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from typing import Any, TypeVar
from uuid import UUID

from django.conf import settings
from django.db import models

from bulk_triggers.snapshot import MISSING, clone

M = TypeVar("M", bound=models.Model)

# Types of field values that are never expressions nor naive datetimes.
_PLAIN = frozenset(
    {int, str, float, bool, type(None), Decimal, UUID, date, time, timedelta, dict, list, bytes}
)


@cache
def generated_attnames(model: type[models.Model]) -> tuple[str, ...]:
    """Return the attnames of the model's generated columns (``GeneratedField``)."""
    return tuple(f.attname for f in model._meta.concrete_fields if getattr(f, "generated", False))


@cache
def _datetime_attnames(model: type[models.Model]) -> frozenset[str]:
    return frozenset(
        f.attname for f in model._meta.concrete_fields if f.get_internal_type() == "DateTimeField"
    )


def pending(model: type[models.Model], rows: Sequence[models.Model]) -> tuple[str, ...]:
    """Return the attnames whose stored value differs from what ``rows`` hold, or may.

    That is generated columns, expressions (``F()``, a ``db_default`` left to the
    database) and, with ``USE_TZ``, naive datetimes (stored aware). Call it before the
    write: Django 6.0+ replaces assigned expressions during ``save()``.
    """
    names = dict.fromkeys(generated_attnames(model))
    datetimes = _datetime_attnames(model) if settings.USE_TZ else frozenset()
    for row in rows:
        for name, value in row.__dict__.items():
            kind = type(value)
            if kind in _PLAIN:
                continue  # Most values: decided without a slower look at the value.
            if kind is datetime:
                if name in datetimes and value.tzinfo is None:
                    names[name] = None
            elif _unresolved(value):
                names[name] = None
    return tuple(names)


def read_back(
    model: type[M],
    rows: Sequence[M],
    names: Sequence[str],
    using: str,
    *,
    own: bool = False,
) -> list[M]:
    """Return ``rows`` holding the stored values of ``names`` (see :func:`pending`).

    Rows the operation built itself (``own``) are changed in place; a caller's instance
    that differs from the stored row is left as Django leaves it and replaced by a copy,
    so the caller never sees a change Django would not make. Rows without a primary key
    (a backend that returns none from a bulk insert) are passed on as they are.
    """
    if not names:  # Nothing the database computed: the rows hold what is stored.
        return list(rows)
    generated = set(generated_attnames(model))
    wanted = [
        name
        for name in names
        if name in generated or any(_stale(row.__dict__.get(name, MISSING)) for row in rows)
    ]
    key = model._meta.pk.to_python
    keys = [None if row.pk is None else key(row.pk) for row in rows]
    if not wanted or not any(k is not None for k in keys):
        return list(rows)
    manager = model._base_manager.db_manager(using)
    selected = manager.filter(pk__in=[k for k in keys if k is not None])
    stored = {values[0]: values[1:] for values in selected.values_list("pk", *wanted)}
    result = []
    for row, pk in zip(rows, keys, strict=True):
        values = stored.get(pk)
        state = row.__dict__
        if values is not None and any(
            state.get(name, MISSING) != value for name, value in zip(wanted, values, strict=True)
        ):
            row = row if own else clone(row)
            row.__dict__.update(zip(wanted, values, strict=True))
        result.append(row)
    return result


def _unresolved(value: Any) -> bool:
    return hasattr(value, "resolve_expression") and not isinstance(value, models.Model)


def _naive(value: Any) -> bool:
    return isinstance(value, datetime) and value.tzinfo is None


def _stale(value: Any) -> bool:
    """Return whether a value on an instance, after its write, may not be what is stored."""
    return value is MISSING or _unresolved(value) or _naive(value)
