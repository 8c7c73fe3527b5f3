"""Checking the built-in field conditions over a whole chunk at once.

:meth:`Condition.check` takes one row pair; a chunk of 2,000 rows then pays, per row and
per condition, the method call and the field's attname lookup. :func:`passing` checks
``HasChanged``, ``ChangesTo``, ``ChangesFrom``, ``IsEqual``, ``IsNotEqual``, ``WasEqual``
and their ``&``, ``|`` and ``~`` over the chunk's rows with the attname looked up once,
with exactly what their ``check()`` compares; ``&`` and ``|`` check their right side only
on the rows whose left side leaves the answer open, as ``check()`` does. Anything else (a
subclass overriding ``check()`` or ``wanted()``, a path into related rows, rows of several
classes) returns None, and the dispatcher calls ``check()`` row by row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

from django.db import models

from bulk_triggers.conditions import And, Condition, Not, Or
from bulk_triggers.field_conditions import (
    ChangesFrom,
    ChangesTo,
    FieldCondition,
    HasChanged,
    IsEqual,
    IsNotEqual,
    WasEqual,
)
from bulk_triggers.paths import SEPARATOR
from bulk_triggers.snapshot import attname

__all__ = ["passing"]

Rows = Sequence[models.Model]
Indexes = list[int]


def passing(condition: Condition, new: Rows | None, old: Rows | None, count: int) -> Indexes | None:
    """Return the indexes of the rows that pass ``condition``, or None to check row by row."""
    rows = new if new is not None else old
    if not rows:
        return None
    model = type(rows[0])
    if any(type(row) is not model for row in rows) or (
        new is not None and old is not None and any(type(row) is not model for row in old)
    ):
        return None
    if not _supported(condition):
        return None
    return _indexes(condition, model, new, old, list(range(count)))


def _supported(condition: Condition) -> bool:
    kind = type(condition)
    if kind in (And, Or):
        return _supported(condition.left) and _supported(condition.right)  # type: ignore[attr-defined]
    if kind is Not:
        return _supported(condition.inner)  # type: ignore[attr-defined]
    if kind not in _LEAVES or not isinstance(condition, FieldCondition):
        return False
    return type(condition).wanted is FieldCondition.wanted and SEPARATOR not in condition.field


def _indexes(
    condition: Condition,
    model: type[models.Model],
    new: Rows | None,
    old: Rows | None,
    among: Indexes,
) -> Indexes:
    """Return the indexes in ``among`` (ascending) whose rows pass ``condition``."""
    kind = type(condition)
    if kind is And:
        left = _indexes(condition.left, model, new, old, among)  # type: ignore[attr-defined]
        return _indexes(condition.right, model, new, old, left) if left else left  # type: ignore[attr-defined]
    if kind is Or:
        left = _indexes(condition.left, model, new, old, among)  # type: ignore[attr-defined]
        rest = _without(among, left)
        right = _indexes(condition.right, model, new, old, rest) if rest else rest  # type: ignore[attr-defined]
        return sorted(left + right) if right else left
    if kind is Not:
        inner = _indexes(condition.inner, model, new, old, among)  # type: ignore[attr-defined]
        return _without(among, inner)
    leaf: Indexes = _LEAVES[kind](condition, model, new, old, among)
    return leaf


def _without(among: Indexes, taken: Indexes) -> Indexes:
    if not taken:
        return among
    out = set(taken)
    return [i for i in among if i not in out]


def _get(condition: FieldCondition, model: type[models.Model]) -> Callable[[Any], Any]:
    return attrgetter(attname(model, condition.field))


def _has_changed(
    c: HasChanged, model: type[models.Model], new: Rows | None, old: Rows | None, among: Indexes
) -> Indexes:
    if new is None:
        return []
    if old is None:
        return among
    get = _get(c, model)
    return [i for i in among if get(new[i]) != get(old[i])]


def _changes_to(
    c: ChangesTo, model: type[models.Model], new: Rows | None, old: Rows | None, among: Indexes
) -> Indexes:
    if new is None:
        return []
    get, wanted = _get(c, model), c.wanted(model)
    # "not !=", as check() compares: a value's __ne__ need not be the opposite of __eq__.
    if old is None:
        return [i for i in among if not get(new[i]) != wanted]  # noqa: SIM202
    return [i for i in among if not get(new[i]) != wanted and get(old[i]) != wanted]  # noqa: SIM202


def _changes_from(
    c: ChangesFrom, model: type[models.Model], new: Rows | None, old: Rows | None, among: Indexes
) -> Indexes:
    if new is None or old is None:
        return []
    get, wanted = _get(c, model), c.wanted(model)
    return [i for i in among if get(old[i]) == wanted and get(new[i]) != wanted]


def _is_equal(
    c: IsEqual, model: type[models.Model], new: Rows | None, old: Rows | None, among: Indexes
) -> Indexes:
    rows: Rows = new if new is not None else old  # type: ignore[assignment]
    get, wanted = _get(c, model), c.wanted(model)
    return [i for i in among if get(rows[i]) == wanted]


def _is_not_equal(
    c: IsNotEqual, model: type[models.Model], new: Rows | None, old: Rows | None, among: Indexes
) -> Indexes:
    return _without(among, _is_equal(c, model, new, old, among))


def _was_equal(
    c: WasEqual, model: type[models.Model], new: Rows | None, old: Rows | None, among: Indexes
) -> Indexes:
    if old is None:
        return []
    get, wanted = _get(c, model), c.wanted(model)
    return [i for i in among if get(old[i]) == wanted]


_LEAVES: dict[type[Condition], Any] = {
    HasChanged: _has_changed,
    ChangesTo: _changes_to,
    ChangesFrom: _changes_from,
    IsEqual: _is_equal,
    IsNotEqual: _is_not_equal,
    WasEqual: _was_equal,
}
