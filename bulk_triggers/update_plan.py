"""Planning one ``QuerySet.update(**values)`` with triggers: what each row will store.

The select of the old rows also computes, in the database, the value each expression
will write, so that before triggers see on ``new`` what will be stored; the write then
stores those very values (:mod:`bulk_triggers.update_write`), so that an expression is
evaluated once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from django.db import connections, models
from django.db.models.sql.where import WhereNode

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
from bulk_triggers.update_values import (
    Raw,
    as_stored,
    converters,
    literal_param,
    quantizer,
    to_python,
    typed_apart,
)
from bulk_triggers.update_write import write_chunk

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
        self.computed: dict[int, Any] = {}  # concrete field index -> its expression
        self.annotations: dict[str, Any] = {}
        self.written: list[str] = []
        self.indexes: list[int] = []  # of the written fields
        self.normalizers: list[tuple[int, Callable[[Any], Any]]] = []
        self.carried: list[list[Any]] = []  # per row of the last chunk: what write() binds
        self.uncarried: set[str] = set()  # written by Django's UPDATE (see typed_apart)
        for name, value in values.items():
            field = opts.get_field(name)
            index = opts.concrete_fields.index(field)
            self.written.append(field.attname)  # type: ignore[union-attr]
            self.indexes.append(index)
            apart = typed_apart(field, value)  # Resolves the expression: once per field.
            if apart:
                self.uncarried.add(field.attname)  # type: ignore[union-attr]
            elif field.get_internal_type() == "DecimalField":
                self.normalizers.append((index, quantizer(field)))
            expression = as_stored(field, value, vendor, apart)
            if expression is None:
                self.targets[index] = to_python(field, value)
            else:
                self.annotations[f"bulk_triggers_new_{index}"] = Raw(expression)
                self.computed[index] = expression

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
        Computed values arrive as the driver returns them; they are kept so for
        :meth:`write` and converted here, as the query would, for ``new``.
        """
        connection = connections[using]
        width = len(self.attnames)
        computed = [
            (index, width + n, converters(expression, connection))
            for n, (index, expression) in enumerate(self.computed.items())
        ]
        carry = self._carry(width, connection)
        build = row_builder(self.model, using, self.attnames)
        plain = builds_plainly(self.model)
        mutable = mutable_indexes(self.model, self.attnames, rows[0]) if rows else []
        new, old, planned, self.carried = [], [], [], []
        for row in rows:
            stored = row[:width]
            values = list(stored)
            for index, value in self.targets.items():
                values[index] = value
            for index, position, converting in computed:
                value = row[position]
                for convert, expression in converting:
                    value = convert(value, expression, connection)
                values[index] = value
            for index, normalize in self.normalizers:
                values[index] = normalize(values[index])
            planned.append(tuple(values))
            self.carried.append([value if fixed else row[value] for fixed, value in carry])
            for index in mutable:
                values[index] = copy_value(values[index])
            old.append(build(stored))
            new.append(self._new_row(build, stored, values, plain))
        return new, old, Snapshot(self.attnames, planned)

    def _carry(self, width: int, connection: Any) -> list[tuple[bool, Any]]:
        """Return, per written field, its parameter (True, literal) or place in a row (False).

        A literal is bound as Django's UPDATE binds it; a computed value as selected.
        """
        fields = self.model._meta.concrete_fields
        place = {index: width + n for n, index in enumerate(self.computed)}
        return [
            (False, place[index])
            if index in place
            else (True, literal_param(fields[index], value, connection))
            for index, value in zip(self.indexes, self.values.values(), strict=True)
        ]

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
        """Write the chunk :meth:`instances` built last, storing the values its SELECT computed.

        Rows are picked by their stored primary key (``old``), which the update itself
        may be changing. See :func:`~bulk_triggers.update_write.write_chunk`.
        """
        rows = list(zip(new, old, changes, self.carried, strict=True))
        return write_chunk(target, self.values, self.written, rows, frozenset(self.uncarried))


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
