"""Conditions as SQL: the filter on stored rows that an operation's triggers may want.

When every active trigger of an ``update()`` (or ``delete()``) has a condition with a SQL
form, the rows that pass none of them are written by Django's plain statement and never
loaded (see :mod:`bulk_triggers.pushdown_write`). A condition offers its form through
:meth:`Condition.pushdown() <bulk_triggers.conditions.Condition.pushdown>`, which is
given a :class:`Planned`: what the operation will store in each field, and two-valued
SQL tests on the stored row that agree with Python's ``==``.

A form is a :class:`Pushdown`: a ``Q`` that every row able to pass matches (a superset
is enough, as the Python check still runs on the rows loaded), and whether it is
*exact*. Only an exact form may be negated: the complement of a superset is not one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models import F, Func, Q, Value
from django.db.models.fields import BooleanField

from bulk_triggers.field_kinds import INTEGER_KEYS, shipped

__all__ = ["Planned", "Pushdown"]


@dataclass(frozen=True)
class Pushdown:
    """The SQL form of a condition: the stored rows that may pass it.

    Attributes:
        q: A filter on the stored rows, with no SQL ``NULL`` outcome (each test in it is
            true or false on every row). Ignored when ``const`` is set.
        exact: Whether ``q`` matches exactly the rows that pass (else: at least those).
        const: ``True`` or ``False`` when the outcome is the same on every row.
    """

    q: Q
    exact: bool = False
    const: bool | None = None

    @classmethod
    def always(cls) -> Pushdown:
        """Return the form of a condition every row passes."""
        return cls(Q(), exact=True, const=True)

    @classmethod
    def never(cls) -> Pushdown:
        """Return the form of a condition no row passes."""
        return cls(Q(), exact=True, const=False)

    @classmethod
    def constant(cls, value: bool) -> Pushdown:
        """Return :meth:`always` or :meth:`never`."""
        return cls.always() if value else cls.never()

    def __and__(self, other: Pushdown) -> Pushdown:
        if self.const is False or other.const is False:
            return self if self.const is False else other
        if self.const is True or other.const is True:
            # "All rows" as a superset only leaves the other side a superset too.
            side, true = (other, self) if self.const is True else (self, other)
            return side if true.exact else side.inexact()
        return Pushdown(self.q & other.q, self.exact and other.exact)

    def __or__(self, other: Pushdown) -> Pushdown:
        if self.const is True or other.const is False:
            return self
        if other.const is True or self.const is False:
            return other
        return Pushdown(self.q | other.q, self.exact and other.exact)

    def __invert__(self) -> Pushdown | None:
        """Return the complement, or None when this form is only a superset."""
        if not self.exact:
            return None
        if self.const is not None:
            return Pushdown.constant(not self.const)
        return Pushdown(~self.q, exact=True)

    def inexact(self) -> Pushdown:
        """Return this form as a superset only (an operand of it had no SQL form)."""
        return self if self.const is False else Pushdown(self.q, False, self.const)


# Types whose SQL equality with a literal of the Python type below is Python's ``==``.
_INTEGER = INTEGER_KEYS
_TEXT = frozenset({"CharField", "TextField", "SlugField", "EmailField", "URLField"})
_UNKNOWN = object()


class _SameBytes(Func):
    """MySQL's ``=`` on text without its collation: the UTF-8 bytes, trailing spaces too.

    MySQL's default collations are case- and accent-insensitive and ignore trailing
    spaces; Python's ``==`` is none of these. Both sides are converted to utf8mb4 and
    compared as binary strings, which are equal exactly when the strings are.
    """

    template = "(CAST(CONVERT(%(expressions)s USING utf8mb4) AS BINARY))"
    arg_joiner = " USING utf8mb4) AS BINARY) = CAST(CONVERT("
    output_field = BooleanField()


class Planned:
    """What an operation stores, for :meth:`Condition.pushdown`: targets and stored tests.

    Args:
        model: The model whose rows are filtered.
        event: ``"update"`` or ``"delete"``.
        vendor: The database's vendor (``connection.vendor``).
        targets: For ``update()``, the attname of each written field and the value it
            will hold, or ``_UNKNOWN`` when an expression computes it in the database.
    """

    def __init__(
        self,
        model: type[models.Model],
        event: str,
        vendor: str,
        targets: dict[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.event = event
        self.vendor = vendor
        self._targets = targets or {}

    def field(self, name: str) -> Any | None:
        """Return the concrete field ``name`` (or attname) names, or None (a path, m2m …)."""
        if "__" in name:
            return None
        try:
            field = self.model._meta.get_field(name)
        except Exception:
            return None
        if not getattr(field, "concrete", False) or getattr(field, "generated", False):
            return None
        return field

    def written(self, name: str) -> bool:
        """Return whether the operation writes the field ``name`` (a path is never written)."""
        field = self.field(name)
        return field is not None and field.attname in self._targets

    def target(self, name: str) -> tuple[bool, Any]:
        """Return ``(True, value)`` when the field's new value is known, else ``(False, None)``.

        An unwritten field keeps its stored value, which this does not know either.
        """
        field = self.field(name)
        value = _UNKNOWN if field is None else self._targets.get(field.attname, _UNKNOWN)
        return (False, None) if value is _UNKNOWN else (True, value)

    def equals(self, name: str, value: Any) -> Pushdown | None:
        """Return the exact test "the stored field ``name`` ``==`` ``value``", or None.

        None when the field's SQL equality may differ from Python's: types other than
        text, integers, booleans and relations to them, a column with its own collation
        (but on MySQL, which compares bytes), or a value of another Python type.
        """
        field = self.field(name)
        if field is None:
            return None
        kind, collation = _kind(field)
        attname = field.attname
        if value is None:
            return Pushdown(Q(**{f"{attname}__isnull": True}), exact=True)
        if kind in _TEXT and isinstance(value, str):
            if self.vendor == "mysql":
                q = Q(_SameBytes(F(attname), Value(value)))
            elif collation:
                return None
            else:
                q = Q(**{attname: value})
        elif kind in _INTEGER and type(value) is int:
            q = Q(**{attname: value})
        elif kind == "BooleanField" and type(value) is bool:
            # The backends read any non-zero integer as True, as Python's bool() does.
            q = ~Q(**{attname: False}) if value else Q(**{attname: False})
        else:
            return None
        if field.null:  # Two-valued: NULL = 'x' is neither true nor false in SQL.
            q &= Q(**{f"{attname}__isnull": False})
        return Pushdown(q, exact=True)


def _kind(field: Any) -> tuple[str, str | None]:
    """Return the internal type a field compares as (a relation: its target's), and collation.

    A field of a class Django does not ship has no kind (``""``): its Python value may not
    be its column's (``from_db_value()`` may make a list of a text, a placeholder may
    change what is stored), so SQL's ``=`` on the column need not be Python's ``==``.
    """
    while getattr(field, "is_relation", False) and getattr(field, "target_field", None):
        if not shipped(field):
            return "", None
        field = field.target_field
    if not shipped(field):
        return "", None
    return field.get_internal_type(), getattr(field, "db_collation", None)


def update_targets(
    model: type[models.Model], values: dict[str, Any], known: dict[str, Any]
) -> dict[str, Any]:
    """Return :class:`Planned`'s targets for ``update(**values)``.

    Args:
        model: The updated model.
        values: ``update()``'s keyword arguments.
        known: The attnames whose new value is known, with that value (as the planned
            ``new`` will hold it); the other written fields are unknown.
    """
    targets: dict[str, Any] = {}
    for name, value in values.items():
        field = model._meta.get_field(name)
        attname = field.attname  # type: ignore[union-attr]
        if attname in known:
            targets[attname] = known[attname]
        elif _kind(field)[0] in _INTEGER and type(value) is int:
            targets[attname] = value  # CAST of a Python int to its column keeps it.
        else:
            targets[attname] = _UNKNOWN
    return targets
