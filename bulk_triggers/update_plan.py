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

from bulk_triggers.computed import generated_attnames, pending, read_back
from bulk_triggers.gc_pause import paused
from bulk_triggers.rows import in_chunks, selection, with_annotations, writes_key, writes_pk
from bulk_triggers.snapshot import Snapshot
from bulk_triggers.update_rows import Patch, build_rows
from bulk_triggers.update_values import (
    Raw,
    as_read,
    as_stored,
    converters,
    literal_param,
    quantizer,
    typed_apart,
)
from bulk_triggers.update_write import write_chunk

__all__ = ["UpdatePlan", "update_chunks", "update_target"]


class UpdatePlan:
    """How one ``QuerySet.update(**values)`` reads, builds and writes its rows.

    The select of the old rows also computes, in the database, the value each
    expression will write, so that before triggers see on ``new`` what will be stored.
    """

    def __init__(self, model: type[models.Model], values: dict[str, Any], connection: Any) -> None:
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
        self.rows: Sequence[Sequence[Any]] = ()  # the last chunk's, for what write() binds
        self.connection: Any = None
        self.literal = not any(hasattr(value, "resolve_expression") for value in values.values())
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
            expression = as_stored(field, value, connection.vendor, apart)
            if expression is None:
                self.targets[index] = as_read(field, value, connection)
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
        :meth:`write` and converted here, as the query would, for ``new``
        (:mod:`bulk_triggers.update_rows`).
        """
        connection = connections[using]
        width = len(self.attnames)
        computed = [
            (index, width + n, converters(expression, connection))
            for n, (index, expression) in enumerate(self.computed.items())
        ]
        patch = Patch(list(self.targets.items()), computed, self.normalizers, connection)
        new, old, planned = build_rows(self.model, using, self.attnames, rows, patch)
        self.rows = rows
        self.connection = connection
        return new, old, Snapshot(self.attnames, planned)

    def _carried(self) -> list[list[Any]]:
        """Return, per row of the last chunk, the parameters that store the written values."""
        width = len(self.attnames)
        carry = self._carry(width, self.connection)
        return [[value if fixed else row[value] for fixed, value in carry] for row in self.rows]

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

    def moved(self, new: Sequence[models.Model], old: Sequence[models.Model]) -> list[Any]:
        """Return the primary keys rows were moved to (by the update or a before trigger)."""
        if getattr(self.model._meta, "is_composite_pk", False):  # Only .pk gathers its fields.
            return [row.pk for row, was in zip(new, old, strict=True) if row.pk != was.pk]
        name = self.pk_attname
        return [
            row.__dict__[name]
            for row, was in zip(new, old, strict=True)
            if row.__dict__[name] != was.__dict__[name]
        ]

    def stored(
        self, new: list[models.Model], using: str, changes: Sequence[frozenset[str]]
    ) -> list[models.Model]:
        """Return ``new`` with what the database computed on write.

        That is generated columns and, of the fields a before trigger changed (``changes``,
        per row), those holding what the database stores otherwise: an expression
        (``F("n") + 1``), a naive datetime (see :func:`~bulk_triggers.computed.pending`).
        """
        names = generated_attnames(self.model)
        changed = frozenset().union(*changes)
        if changed:
            names = tuple(
                name for name in pending(self.model, new) if name in changed or name in names
            )
        return read_back(self.model, new, names, using, own=True) if names else new

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
        # Django's UPDATE of literals, which binds no carried value, writes a chunk that no
        # trigger changed: the parameters are then not worth making.
        bound = self.literal and not any(changes)
        carried = [()] * len(new) if bound else self._carried()
        rows = list(zip(new, old, changes, carried, strict=True))
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
    (by the update or by a before trigger) are not visited again. The cyclic garbage
    collector is paused while a chunk is read (:mod:`bulk_triggers.gc_pause`).
    """
    model, written = queryset.model, plan.written
    chunks = in_chunks(
        plan.select(selection(queryset, using)),
        no_key=not writes_key(model, written),
        pin=writes_pk(model, written),
        skip=moved,
    )
    while True:
        with paused():  # The chunk's rows live until it is written: nothing to collect.
            rows = next(chunks, None)
        if rows is None:
            return
        yield rows
