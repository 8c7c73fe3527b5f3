"""What each value of ``QuerySet.update(**values)`` stores, computed and read as the column.

:class:`~bulk_triggers.update_plan.UpdatePlan` selects, per row, an expression computing
what the column will store (:func:`as_stored`), without converters (:class:`Raw`), so
that the value can be written back as it came and shown to triggers as the column reads
(:func:`converters`); a literal is bound as Django binds it (:func:`literal_param`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import models
from django.db.models import ExpressionWrapper, Value
from django.db.models.functions import Cast
from django.db.models.sql import Query
from django.utils import timezone

from bulk_triggers.field_kinds import AUTO, INTEGER, shipped

__all__ = [
    "Raw",
    "as_read",
    "as_stored",
    "converters",
    "literal_param",
    "quantizer",
    "to_python",
    "typed_apart",
]


_NUMERIC = INTEGER | {"DecimalField", "FloatField"}
_NUMERIC_SOURCES = _NUMERIC | AUTO
_TEMPORAL = frozenset({"DateTimeField", "DateField", "TimeField"})


def quantizer(field: Any) -> Callable[[Any], Any]:
    """Round a computed decimal as reading the column would (SQLite stores it unrounded)."""
    exponent = Decimal(1).scaleb(-field.decimal_places)

    def quantize(value: Any) -> Any:
        return value if value is None else Decimal(value).quantize(exponent, context=field.context)

    return quantize


class _AsColumn(ExpressionWrapper):  # type: ignore[type-arg]
    """An expression read back as its column would be: with the field's converters only.

    ExpressionWrapper would add ``int()`` for an integer field, which SQLite's column
    does not apply to the value it stores.
    """

    def get_db_converters(self, connection: Any) -> list[Any]:
        return list(self.output_field.get_db_converters(connection))


class _RawField(models.Field):  # type: ignore[type-arg]
    """A type no backend converts: the selected value stays as the driver returned it."""

    def get_internal_type(self) -> str:
        return "BulkTriggersRawField"


class Raw(ExpressionWrapper):  # type: ignore[type-arg]
    """An expression selected without converters: the update plan applies them itself."""

    def __init__(self, expression: Any) -> None:
        super().__init__(expression, output_field=_RawField())

    def get_db_converters(self, connection: Any) -> list[Any]:
        return []


def converters(expression: Any, connection: Any) -> list[tuple[Callable[..., Any], Any]]:
    """Return what the query would apply to the expression's value: backend's, then field's."""
    found = connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)
    return [(convert, expression) for convert in found]


def literal_param(field: Any, value: Any, connection: Any) -> Any:
    """Return the parameter Django's UPDATE binds for a literal (a model instance: its key)."""
    if hasattr(value, "prepare_database_save"):
        value = value.prepare_database_save(field)
    return field.get_db_prep_save(value, connection=connection)


def typed_apart(field: Any, value: Any) -> bool:
    """Return whether an expression for a numeric column is known to compute something else.

    ``update(amount=Upper("code"))``: Django's UPDATE hands the text to the column, which
    PostgreSQL refuses, MariaDB's strict mode refuses unless it reads as a number, and
    SQLite stores as it is. A CAST in the SELECT would make a number of it instead (0 for
    ``"ABC"``), so such a column is neither cast nor carried: Django's own UPDATE writes
    it, and refuses it as Django does. An expression whose type cannot be told here (an
    annotation's name) is taken as numeric, as before.
    """
    if not hasattr(value, "resolve_expression") or field.get_internal_type() not in _NUMERIC:
        return False
    try:
        resolved = value.resolve_expression(Query(field.model), allow_joins=True, for_save=True)
        output = resolved._output_field_or_none
    except Exception:  # Not resolvable on its own (an annotation): Django's checks decide.
        return False
    while output is not None and getattr(output, "is_relation", False):
        output = output.target_field  # A foreign key compares as the key it stores.
    return output is not None and output.get_internal_type() not in _NUMERIC_SOURCES


def as_stored(field: Any, value: Any, vendor: str, apart: bool) -> Any:
    """Return the expression that computes what the column will store, or None for a literal.

    Storing a number rounds or truncates it to the column's type (2.5 in an integer
    column, 3.525 in a DECIMAL(10, 2)); CAST does the same in the SELECT, by the
    database's own rules. SQLite stores a non-integral value in an integer column as it
    is, so there the expression is only told its field, for the field's converters; so
    is an expression of another type (``apart``: :func:`typed_apart`), never cast.
    """
    expression = hasattr(value, "resolve_expression")
    kind = field.get_internal_type()
    if (vendor == "sqlite" and kind in INTEGER) or apart:
        return _AsColumn(value, output_field=field) if expression else None
    if kind in _NUMERIC:
        return Cast(value if expression else Value(value, output_field=field), output_field=field)
    if not expression:
        return None
    if vendor == "mysql" and kind in _TEMPORAL:
        # MariaDB types COALESCE(column, literal) and the like as text, which the
        # backend's datetime converters cannot read: CAST gives the column's type.
        return Cast(value, output_field=field)
    return _AsColumn(value, output_field=field)


_DRIVER_VALUES = frozenset(
    {str, int, float, bool, bytes, Decimal, date, datetime, time, timedelta, UUID, type(None)}
)


def as_read(field: Any, value: Any, connection: Any) -> Any:
    """Return the literal ``update(field=value)`` stores as reading the column gives it back.

    A field Django ships: :func:`to_python`. A field of another class may store something
    else than ``to_python()`` makes of the value (a list kept as comma-separated text):
    its parameter, as Django's ``UPDATE`` binds it, goes through the converters a read of
    the column applies (the field's ``from_db_value()``), when the parameter is a value a
    driver hands back as it is. A parameter the driver adapts is left to ``to_python()``.
    """
    if shipped(field):
        value = to_python(field, value)
        if field.get_internal_type() == "JSONField":
            return _json_as_read(field, value)
        if isinstance(value, datetime) and settings.USE_TZ and timezone.is_aware(value):
            return value.astimezone(connection.timezone)  # A read gives the connection's zone.
        return value
    param = literal_param(field, value, connection)
    if type(param) not in _DRIVER_VALUES:
        return to_python(field, value)
    column = _AsColumn(Value(param), output_field=field)
    for convert, expression in converters(column, connection):
        param = convert(param, expression, connection)
    return param


def _json_as_read(field: Any, value: Any) -> Any:
    """Return a JSON literal as the column reads it back: tuples as lists, keys as text."""
    if value is None:
        return None
    try:
        return json.loads(json.dumps(value, cls=field.encoder), cls=field.decoder)
    except (TypeError, ValueError):  # Not JSON: Django's UPDATE raises its own error.
        return value


def to_python(field: Any, value: Any) -> Any:
    """Return the value ``update(field=value)`` stores, as reading the column gives it back.

    A model instance is stored as the key its relation points at (``to_field``), and a
    naive datetime, with time zones on, as Django makes it aware when it writes it, and a
    member of a ``choices`` enumeration as its value (a ``TextChoices`` member is a ``str``
    that ``CharField.to_python()`` keeps).
    """
    if isinstance(value, models.Model):
        target = getattr(field, "target_field", None)
        return value.pk if target is None else getattr(value, target.attname)
    if value is None:
        return None
    if isinstance(value, models.Choices):
        value = value.value
    value = field.to_python(value)
    if (
        settings.USE_TZ
        and isinstance(value, datetime)
        and field.get_internal_type() == "DateTimeField"
        and timezone.is_naive(value)
    ):
        return timezone.make_aware(value, timezone.get_default_timezone())
    return value
