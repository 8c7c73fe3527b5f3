"""Building ``update()``'s ``old`` and ``new`` from the rows its SELECT returned.

Each selected row holds the stored columns, then the values the SELECT computed for the
update's expressions (:class:`~bulk_triggers.update_plan.UpdatePlan`). ``old`` is the
stored row; ``new`` is the same row given the values the update writes. Where the model
builds instances as Django's own ``Model`` does (:func:`~bulk_triggers.rows.builds_plainly`)
both are filled straight from the row: ``new``'s attributes are a copy of ``old``'s, so
each stored value is converted once and shared, and only values that can change in place
(a JSON document, a list) are copied, for ``new`` alone. Otherwise each instance is made
by the model's own ``from_db()``, and ``new`` is then given the written values, as an
instance that is loaded and then assigned to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import models
from django.db.models.base import ModelState

from bulk_triggers.gc_pause import paused
from bulk_triggers.rows import builds_plainly, row_builder
from bulk_triggers.snapshot import copy_value, mutable_indexes, reader

__all__ = ["Patch", "build_rows"]

Convert = list[tuple[Callable[..., Any], Any]]


class Patch:
    """What ``new`` holds in place of the stored values, per written column.

    Args:
        targets: ``(index, value)``: a literal, the same for every row.
        computed: ``(index, position, converters)``: the value the SELECT computed at
            ``position`` of the row, converted as reading the column would.
        normalizers: ``(index, normalize)``: applied after the two above (decimals).
        connection: For the converters.
    """

    def __init__(
        self,
        targets: Sequence[tuple[int, Any]],
        computed: Sequence[tuple[int, int, Convert]],
        normalizers: Sequence[tuple[int, Callable[[Any], Any]]],
        connection: Any,
    ) -> None:
        self.targets = list(targets)
        self.computed = list(computed)
        self.normalizers = list(normalizers)
        self.connection = connection

    def literals(self, names: Sequence[str]) -> dict[str, Any]:
        """Return the literal values by attname."""
        return {names[index]: value for index, value in self.targets}

    def apply(self, values: Any, row: Sequence[Any], names: Sequence[Any]) -> None:
        """Set the written values into ``values`` (a list by index, or a dict by attname)."""
        connection = self.connection
        for index, value in self.targets:
            values[names[index]] = value
        for index, position, converting in self.computed:
            value = row[position]
            for convert, expression in converting:
                value = convert(value, expression, connection)
            values[names[index]] = value
        for index, normalize in self.normalizers:
            values[names[index]] = normalize(values[names[index]])


def build_rows(
    model: type[models.Model],
    using: str,
    attnames: Sequence[str],
    rows: Sequence[Sequence[Any]],
    patch: Patch,
) -> tuple[list[models.Model], list[models.Model], list[tuple[Any, ...]]]:
    """Return ``new``, ``old``, and per row what ``new`` holds before any trigger runs.

    The last (the planned values) shares mutable values with ``old``; ``new`` has its
    own copies, so that what a trigger changes in place shows against it.
    """
    if not rows:
        return [], [], []
    mutable = [attnames[i] for i in mutable_indexes(model, attnames, rows[0])]
    if builds_plainly(model):
        with paused():  # No user code runs while plain rows are built.
            return _plain_rows(model, using, attnames, rows, patch, mutable)
    return _own_rows(model, using, attnames, rows, patch, mutable)


def _plain_rows(
    model: type[models.Model],
    using: str,
    attnames: Sequence[str],
    rows: Sequence[Sequence[Any]],
    patch: Patch,
    mutable: Sequence[str],
) -> tuple[list[models.Model], list[models.Model], list[tuple[Any, ...]]]:
    """Fill both instances' ``__dict__`` from the row, as :func:`row_builder` does."""
    names = tuple(attnames)
    read = reader(names)
    create = object.__new__
    new: list[models.Model] = []
    old: list[models.Model] = []
    planned: list[tuple[Any, ...]] = []
    loaded = {"adding": False, "db": using}  # What from_db() sets on _state.
    # Literals alone (the usual update(field=value)) are set in one step.
    literals = None if patch.computed or patch.normalizers else patch.literals(names)
    for row in rows:
        stored: models.Model = create(model)
        state = create(ModelState)
        state.__dict__.update(loaded)
        values = stored.__dict__
        values["_state"] = state
        # The computed values follow the columns in the row: zip() stops before them.
        values.update(zip(names, row, strict=False))
        instance: models.Model = create(model)
        state = create(ModelState)
        state.__dict__.update(loaded)
        assigned = instance.__dict__
        assigned.update(values)
        assigned["_state"] = state
        if literals is None:
            patch.apply(assigned, row, names)
        else:
            assigned.update(literals)
        planned.append(read(assigned))
        for name in mutable:
            assigned[name] = copy_value(assigned[name])
        old.append(stored)
        new.append(instance)
    return new, old, planned


def _own_rows(
    model: type[models.Model],
    using: str,
    attnames: Sequence[str],
    rows: Sequence[Sequence[Any]],
    patch: Patch,
    mutable: Sequence[str],
) -> tuple[list[models.Model], list[models.Model], list[tuple[Any, ...]]]:
    """Make both instances with the model's ``from_db()``, then give ``new`` the values.

    A model overriding ``__init__`` or ``from_db()`` thus sees the stored row, as when an
    instance is loaded and then assigned to.
    """
    width = len(attnames)
    build = row_builder(model, using, attnames)
    positions = range(width)
    new: list[models.Model] = []
    old: list[models.Model] = []
    planned: list[tuple[Any, ...]] = []
    for row in rows:
        stored = row[:width]
        values = list(stored)
        patch.apply(values, row, positions)
        planned.append(tuple(values))
        assigned = dict(zip(attnames, values, strict=True))
        for name in mutable:
            assigned[name] = copy_value(assigned[name])
        old.append(build(stored))
        instance = build(stored)
        instance.__dict__.update(assigned)
        new.append(instance)
    return new, old, planned
