"""Write one chunk of ``QuerySet.update(**values)``: the values its SELECT computed, once.

The locked SELECT of :class:`~bulk_triggers.update_plan.UpdatePlan` computes each
expression's value, in the database, for before triggers to see. Writing Django's UPDATE
afterwards would evaluate each expression a second time (``Random()``, a clock: another
value than triggers saw). Here the chunk is written with the values the SELECT returned,
as the driver returned them (before any converter), in one joined ``UPDATE`` per group of
rows writing the same columns (:mod:`bulk_triggers.joined`): usually one per chunk.

What makes it exact: a raw value bound back as a parameter is what the column received
from the expression; the database assigns it as Django's ``SET column = expression``
would (no CASE cast, see :class:`~bulk_triggers.joined.JoinedUpdate`). A literal is bound
as Django binds it (``get_db_prep_save()``), a value a before trigger set as Django's
``bulk_update()`` binds it.

Where that cannot hold the group keeps the expression path (Django's UPDATE for rows no
trigger changed, ``bulk_update()`` for the others): a multi-table-inherited parent's
column (another table), a field with SQL around its parameter (GIS), a PostgreSQL type
whose modifier an explicit cast would apply (``char(5)``), a composite primary key, SQLite
before 3.33, a value a trigger set to an expression. Rows whose primary key changes are
written one by one, as ``bulk_update()`` cannot move a row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from django.db import connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

from bulk_triggers.joined import JoinedUpdate, field_preparer, joinable, supported
from bulk_triggers.key_arrays import with_keys

__all__ = ["write_chunk"]


def write_chunk(
    target: models.QuerySet[Any],
    values: dict[str, Any],
    written: Sequence[str],
    rows: Sequence[tuple[models.Model, models.Model, frozenset[str], Sequence[Any]]],
    uncarried: frozenset[str] = frozenset(),
) -> int:
    """Write a chunk of ``update(**values)``; return the rows matched.

    Args:
        target: where Django's UPDATE would run (:func:`~bulk_triggers.update_plan.update_target`).
        values: the ``update()`` call's keyword arguments, for the expression path.
        written: the attnames ``values`` write, in the order of each row's ``carried``.
        rows: per row ``(new, old, changed, carried)``: ``changed`` the attnames before
            triggers changed, ``carried`` the parameters that store ``written`` as the
            SELECT computed them.
        uncarried: attnames whose computed value must not be carried: their groups keep
            the expression path (:func:`~bulk_triggers.update_values.typed_apart`).

    Rows are found by their stored primary key (``old``).
    """
    model = target.model
    connection = connections[target.db]
    pk_attname = model._meta.pk.attname
    composite = getattr(model._meta, "is_composite_pk", False)
    fixed = frozenset(written)
    literal = not any(hasattr(value, "resolve_expression") for value in values.values())
    # Rows are grouped by the columns they write and by which of update()'s values a
    # trigger replaced: a column then holds carried values only, or set ones only
    # (psycopg cannot put Django's Int4(7) and a plain 7 in one array).
    groups: dict[tuple[frozenset[str], frozenset[str]], list[Any]] = defaultdict(list)
    moved = []
    for entry in rows:
        row, stored, change, _ = entry
        names = fixed | change
        # A composite key's values are its fields': only .pk gathers them.
        kept = (
            row.pk == stored.pk
            if composite
            else row.__dict__[pk_attname] == stored.__dict__[pk_attname]
        )
        if kept and pk_attname not in names:
            groups[names, fixed & change].append(entry)
        else:  # bulk_update() cannot move a row to another primary key.
            moved.append((stored.pk, {name: row.__dict__[name] for name in names}))
    updated = 0
    for (names, _), group in groups.items():
        fields = [model._meta.get_field(name) for name in sorted(names)]
        if literal and names == fixed and not any(change for _, _, change, _ in group):
            # Django's own UPDATE of literals evaluates nothing, and is the cheapest.
            updated += _by_expression(target, values, sorted(names), group)
        elif not names & uncarried and _carries(model, fields, group, connection):
            updated += _joined(model, fields, written, group, connection)
        else:
            updated += _by_expression(target, values, sorted(names), group)
    plain: models.QuerySet[Any] = models.QuerySet(model=model, using=target.db)
    for pk, assigned in moved:
        updated += plain.filter(pk=pk).update(**assigned)
    return updated


def _carries(
    model: type[models.Model],
    fields: Sequence[Any],
    group: Sequence[Any],
    connection: BaseDatabaseWrapper,
) -> bool:
    """Whether one joined UPDATE stores, for every row of the group, what Django would."""
    if not supported(connection) or getattr(model._meta, "is_composite_pk", False):
        return False
    if not all(joinable(field, model, connection, assignment=True) for field in fields):
        return False
    # A value set to an expression is compiled per row by bulk_update()'s CASE.
    return not any(
        hasattr(row.__dict__[name], "resolve_expression")
        for row, _, change, _ in group
        for name in change
    )


def _joined(
    model: type[models.Model],
    fields: Sequence[Any],
    written: Sequence[str],
    group: Sequence[Any],
    connection: BaseDatabaseWrapper,
) -> int:
    """Write the group in one joined UPDATE (several only past the parameter limit)."""
    statement = JoinedUpdate(model, fields, connection, assignment=True)
    position = {name: n for n, name in enumerate(written)}
    prepare_pk = model._meta.pk.get_db_prep_value
    preparers = [(field.attname, field_preparer(field, connection)) for field in fields]
    pk_attname = model._meta.pk.attname
    # Columns in the statement's order: where each row's update() value sits in carried.
    plain = [position[field.attname] for field in fields] if len(fields) == len(written) else None
    params = []
    for row, stored, change, carried in group:
        key = prepare_pk(stored.__dict__[pk_attname], connection)
        if plain is not None and not change:
            params.append([key, *[carried[n] for n in plain]])
            continue
        if change:
            row._prepare_related_fields_for_save(
                operation_name="bulk_update", fields=[f for f in fields if f.attname in change]
            )
        values = row.__dict__
        params.append(
            [
                key,
                *(
                    carried[position[name]]
                    if name in position and name not in change
                    else prepare(values[name])
                    for name, prepare in preparers
                ),
            ]
        )
    updated = 0
    with connection.cursor() as cursor:
        for part in statement.split(params):
            cursor.execute(*statement.sql(part))
            updated += cursor.rowcount
    return updated


def _by_expression(
    target: models.QuerySet[Any], values: dict[str, Any], names: list[str], group: Sequence[Any]
) -> int:
    """Write the group as before: Django's UPDATE where no trigger changed the row.

    The expressions are then evaluated again by that UPDATE; rows a trigger changed get
    ``bulk_update()`` with the values ``new`` holds.
    """
    untouched = [stored.pk for _, stored, change, _ in group if not change]
    changed = [row for row, _, change, _ in group if change]
    updated = with_keys(target, untouched).update(**values) if untouched else 0
    if changed:
        plain: models.QuerySet[Any] = models.QuerySet(model=target.model, using=target.db)
        updated += plain.bulk_update(changed, names)
    return updated
