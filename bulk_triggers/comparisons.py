"""Comparison conditions: ordering, membership and nullness, on ``new`` or (``Was…``) ``old``.

``Is…`` conditions test ``new`` (on delete: the deleted row), as ``IsEqual`` does.
``Was…`` conditions test the stored row before the operation, so they are false on
create. An ordering comparison with ``None`` on either side is false, as in SQL.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from typing import Any

from django.db import models

from bulk_triggers.field_conditions import FieldCondition, comparable, expected, value_at

__all__ = [
    "IsGreaterThan",
    "IsGreaterThanOrEqual",
    "IsIn",
    "IsLessThan",
    "IsLessThanOrEqual",
    "IsNull",
    "WasGreaterThan",
    "WasGreaterThanOrEqual",
    "WasIn",
    "WasLessThan",
    "WasLessThanOrEqual",
    "WasNotEqual",
    "WasNull",
]


_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


class _Ordering(FieldCondition):
    """Compare the field with ``value`` by an ordering operator; ``None`` compares false."""

    def check(self, new: Any, old: Any) -> bool:
        row = self.row(new, old)
        if row is None:
            return False
        value, wanted = value_at(row, self.field), self.wanted(type(row))
        if value is None or wanted is None:
            return False
        try:
            return bool(_OPERATORS[self._lookup](value, wanted))  # type: ignore[index]
        except TypeError:
            raise TypeError(
                f"{self!r} cannot compare {type(row)._meta.label}.{self.field}, "
                f"{value!r} ({type(value).__name__}), with {wanted!r} "
                f"({type(wanted).__name__}); give a value of the field's type."
            ) from None


class IsGreaterThan(_Ordering):
    """True when the row's field is greater than ``value``."""

    _lookup = "gt"


class IsGreaterThanOrEqual(_Ordering):
    """True when the row's field is greater than or equal to ``value``."""

    _lookup = "gte"


class IsLessThan(_Ordering):
    """True when the row's field is less than ``value``."""

    _lookup = "lt"


class IsLessThanOrEqual(_Ordering):
    """True when the row's field is less than or equal to ``value``."""

    _lookup = "lte"


class WasGreaterThan(IsGreaterThan):
    """True when the stored field was greater than ``value``; false on create."""

    _reads = "old"


class WasGreaterThanOrEqual(IsGreaterThanOrEqual):
    """True when the stored field was greater than or equal to ``value``; false on create."""

    _reads = "old"


class WasLessThan(IsLessThan):
    """True when the stored field was less than ``value``; false on create."""

    _reads = "old"


class WasLessThanOrEqual(IsLessThanOrEqual):
    """True when the stored field was less than or equal to ``value``; false on create."""

    _reads = "old"


class WasNotEqual(FieldCondition):
    """True when the stored field differed from ``value``; false on create (no stored row).

    Unlike ``~WasEqual(field, value)``, which is true on create.
    """

    _reads = "old"

    def check(self, new: Any, old: Any) -> bool:
        return old is not None and bool(value_at(old, self.field) != self.wanted(type(old)))


class IsIn(FieldCondition):
    """True when the row's field is one of ``values`` (any iterable; instances by key)."""

    _lookup = "in"

    def __init__(self, field: str, values: Iterable[Any]) -> None:
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise TypeError(
                f"{type(self).__name__}({field!r}, values) takes an iterable of values "
                f"such as a list, got {values!r}."
            )
        super().__init__(field, None)
        items = list(values)
        if isinstance(values, (set, frozenset)):
            items.sort(key=repr)  # A set's order changes from run to run; its repr must not.
        self._items = tuple(items)
        self._raw = self._items
        self.value = tuple(comparable(item) for item in items)

    def wanted(self, model: type[models.Model]) -> Any:
        try:
            return self._wanted[model]
        except KeyError:
            converted = [expected(model, self.field, item) for item in self._items]
            try:
                members: Any = frozenset(converted)
            except TypeError:  # Unhashable values (JSON documents) are searched in a list.
                members = converted
            self._wanted[model] = members
            return members

    def check(self, new: Any, old: Any) -> bool:
        row = self.row(new, old)
        return row is not None and value_at(row, self.field) in self.wanted(type(row))


class WasIn(IsIn):
    """True when the stored field was one of ``values``; false on create."""

    _reads = "old"


class IsNull(FieldCondition):
    """True when the row's field (or a relation along the path) is ``None``."""

    _has_value = False
    _lookup = "isnull"

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self._raw = True

    def check(self, new: Any, old: Any) -> bool:
        row = self.row(new, old)
        return row is not None and value_at(row, self.field) is None


class WasNull(IsNull):
    """True when the stored field was ``None``; false on create."""

    _reads = "old"
