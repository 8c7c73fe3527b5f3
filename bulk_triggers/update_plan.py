"""Planning one ``QuerySet.update(**values)`` with triggers: what each row will store.

The select of the old rows also computes, in the database, the value each expression
will write, so that before triggers see on ``new`` what will be stored; the write then
uses Django's own UPDATE for the rows triggers left alone, and literal values for the
rows they changed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import ExpressionWrapper, Value
from django.db.models.functions import Cast
from django.db.models.sql.where import WhereNode
from django.utils import timezone

from bulk_triggers.computed import generated_attnames, read_back
from bulk_triggers.rows import (
    builds_plainly,
    in_chunks,
    row_builder,
    selection,
    with_annotations,
    writes_key,
    writes_pk,
)
from bulk_triggers.snapshot import Snapshot, copy_value, mutable_indexes

__all__ = ["UpdatePlan", "update_chunks", "update_target"]


class UpdatePlan:
    """How one ``QuerySet.update(**values)`` reads, builds and writes its rows.

    The select of the old rows also computes, in the database, the value each
    expression will write, so that before triggers see on ``new`` what will be stored.
    """

    def __init__(self, model: type[models.Model], values: dict[str, Any], vendor: str) -> None:
        self.model = model
        self.values = values
        opts = model._meta
        self.attnames = [f.attname for f in opts.concrete_fields]
        self.pk_attname = opts.pk.attname
        self.targets: dict[int, Any] = {}  # concrete field index -> plain value
        self.computed: dict[int, str] = {}  # concrete field index -> annotation name
        self.annotations: dict[str, Any] = {}
        self.written: list[str] = []
        self.normalizers: list[tuple[int, Callable[[Any], Any]]] = []
        for name, value in values.items():
            field = opts.get_field(name)
            index = opts.concrete_fields.index(field)
            self.written.append(field.attname)  # type: ignore[union-attr]
            kind = field.get_internal_type()
            if kind == "DecimalField":
                self.normalizers.append((index, _quantizer(field)))
            expression = _as_stored(field, value, vendor)
            if expression is None:
                self.targets[index] = _to_python(field, value)
            else:
                alias = f"bulk_triggers_new_{index}"
                self.annotations[alias] = expression
                self.computed[index] = alias

    def known(self) -> dict[str, Any]:
        """Return the attnames written with a literal value, and the value ``new`` gets."""
        return {self.attnames[index]: value for index, value in self.targets.items()}

    def select(self, rows: models.QuerySet[Any]) -> models.QuerySet[Any]:
        """Return the query that selects each row's stored and to-be-written values."""
        annotated: models.QuerySet[Any] = rows.annotate(**self.annotations)
        return annotated.values_list(*self.attnames, *self.annotations)

    def instances(
        self, rows: Sequence[tuple[Any, ...]], using: str
    ) -> tuple[list[models.Model], list[models.Model], Snapshot]:
        """Build ``new`` and ``old`` from the selected rows, and what ``new`` holds now.

        ``new`` gets its own copies of mutable values, so the returned snapshot (which
        shares them with ``old``) shows what before triggers change, in place or not.
        """
        width = len(self.attnames)
        computed = [(index, width + n) for n, index in enumerate(self.computed)]
        build = row_builder(self.model, using, self.attnames)
        plain = builds_plainly(self.model)
        mutable = mutable_indexes(self.model, self.attnames, rows[0]) if rows else []
        new, old, planned = [], [], []
        for row in rows:
            stored = row[:width]
            values = list(stored)
            for index, value in self.targets.items():
                values[index] = value
            for index, position in computed:
                values[index] = row[position]
            for index, normalize in self.normalizers:
                values[index] = normalize(values[index])
            planned.append(tuple(values))
            for index in mutable:
                values[index] = copy_value(values[index])
            old.append(build(stored))
            new.append(self._new_row(build, stored, values, plain))
        return new, old, Snapshot(self.attnames, planned)

    def _new_row(
        self,
        build: Callable[[Sequence[Any]], models.Model],
        stored: Sequence[Any],
        values: list[Any],
        plain: bool,
    ) -> models.Model:
        """Build ``new`` as the row loaded, then given the values the update writes.

        A model overriding ``__init__`` or ``from_db()`` thus sees the stored row, as when
        an instance is loaded and then assigned to.
        """
        if plain:
            return build(values)
        row = build(stored)
        row.__dict__.update(zip(self.attnames, values, strict=True))
        return row

    def stored(self, new: list[models.Model], using: str) -> list[models.Model]:
        """Return ``new`` with what the database computed on write (generated columns)."""
        generated = generated_attnames(self.model)
        return read_back(self.model, new, generated, using, own=True) if generated else new

    def write(
        self,
        target: models.QuerySet[Any],
        new: Sequence[models.Model],
        old: Sequence[models.Model],
        changes: Sequence[frozenset[str]],
    ) -> int:
        """Write the chunk: Django's UPDATE for untouched rows, literal values for changed ones.

        Rows are picked by their stored primary key (``old``), which the update itself
        may be changing.
        """
        pairs = list(zip(new, old, changes, strict=True))
        untouched = [stored.pk for _, stored, change in pairs if not change]
        updated = target.filter(pk__in=untouched).update(**self.values) if untouched else 0
        groups: dict[frozenset[str], list[models.Model]] = defaultdict(list)
        plain: models.QuerySet[Any] = models.QuerySet(model=self.model, using=target.db)
        for row, stored, change in pairs:
            if not change:
                continue
            names = frozenset(self.written) | change
            if row.pk == stored.pk and self.pk_attname not in names:
                groups[names].append(row)
            else:  # bulk_update() cannot move a row to another primary key.
                values = {name: row.__dict__[name] for name in names}
                updated += plain.filter(pk=stored.pk).update(**values)
        for names, group in groups.items():
            updated += plain.bulk_update(group, sorted(names))
        return updated


def update_target(queryset: models.QuerySet[Any], using: str) -> models.QuerySet[Any]:
    """Return a plain queryset to write through, with the annotations update() may reference.

    Django inlines annotations into update values (``annotate(x=…).update(f=F("x"))``);
    rows are then picked by primary key, so the original filter is dropped.
    """
    query = queryset.query
    if len(query.alias_map) > 1:
        target: models.QuerySet[Any] = models.QuerySet(model=queryset.model, using=using)
        return with_annotations(target, query)
    # One table: keep annotations and ordering (MySQL's UPDATE … ORDER BY needs it).
    chained = query.chain()
    chained.where = WhereNode()
    chained.clear_limits()
    return models.QuerySet(model=queryset.model, query=chained, using=using)


def update_chunks(
    queryset: models.QuerySet[Any], plan: UpdatePlan, using: str, moved: set[Any]
) -> Iterator[Sequence[Any]]:
    """Yield ``update()``'s rows a chunk at a time, locked as the write needs.

    ``FOR NO KEY UPDATE`` unless a referenced key is written; the keys are pinned before
    the first write when the update moves primary keys; rows moved to a key in ``moved``
    (by the update or by a before trigger) are not visited again.
    """
    model, written = queryset.model, plan.written
    return in_chunks(
        plan.select(selection(queryset, using)),
        no_key=not writes_key(model, written),
        pin=writes_pk(model, written),
        skip=moved,
    )


_INTEGER = frozenset(
    {
        "IntegerField",
        "BigIntegerField",
        "SmallIntegerField",
        "PositiveIntegerField",
        "PositiveBigIntegerField",
        "PositiveSmallIntegerField",
    }
)
_NUMERIC = _INTEGER | {"DecimalField", "FloatField"}
_TEMPORAL = frozenset({"DateTimeField", "DateField", "TimeField"})


def _quantizer(field: Any) -> Callable[[Any], Any]:
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


def _as_stored(field: Any, value: Any, vendor: str) -> Any:
    """Return the expression that computes what the column will store, or None for a literal.

    Storing a number rounds or truncates it to the column's type (2.5 in an integer
    column, 3.525 in a DECIMAL(10, 2)); CAST does the same in the SELECT, by the
    database's own rules. SQLite stores a non-integral value in an integer column as it
    is, so there the expression is only told its field, for the field's converters.
    """
    expression = hasattr(value, "resolve_expression")
    kind = field.get_internal_type()
    if vendor == "sqlite" and kind in _INTEGER:
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


def _to_python(field: Any, value: Any) -> Any:
    """Return the value ``update(field=value)`` stores, as reading the column gives it back.

    A model instance is stored as the key its relation points at (``to_field``), and a
    naive datetime, with time zones on, as Django makes it aware when it writes it.
    """
    if isinstance(value, models.Model):
        target = getattr(field, "target_field", None)
        return value.pk if target is None else getattr(value, target.attname)
    if value is None:
        return None
    value = field.to_python(value)
    if (
        settings.USE_TZ
        and isinstance(value, datetime)
        and field.get_internal_type() == "DateTimeField"
        and timezone.is_naive(value)
    ):
        return timezone.make_aware(value, timezone.get_default_timezone())
    return value
