"""Groups of Django's field types (``Field.get_internal_type()``) that several modules test."""

from __future__ import annotations

from typing import Any

__all__ = ["AUTO", "INTEGER", "INTEGER_KEYS", "shipped"]

INTEGER = frozenset(
    {
        "IntegerField",
        "BigIntegerField",
        "SmallIntegerField",
        "PositiveIntegerField",
        "PositiveBigIntegerField",
        "PositiveSmallIntegerField",
    }
)
"""The integer columns a model declares."""
AUTO = frozenset({"AutoField", "BigAutoField", "SmallAutoField"})
"""The integer keys the database numbers."""
INTEGER_KEYS = INTEGER | AUTO
"""Integer types, numbered or not: Python orders and compares their values as SQL does."""


def shipped(field: Any) -> bool:
    """Return whether ``field`` is of a class Django ships (``django.*``, contrib included).

    A field of another class (a project's own, or a subclass of Django's) may hold in
    Python something else than its column stores: its ``from_db_value()`` may make a list
    of a text, its ``get_db_prep_save()`` may store another form.
    """
    return type(field).__module__.startswith("django.")
