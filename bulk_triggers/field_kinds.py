"""Groups of Django's field types (``Field.get_internal_type()``) that several modules test."""

from __future__ import annotations

__all__ = ["AUTO", "INTEGER", "INTEGER_KEYS"]

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
