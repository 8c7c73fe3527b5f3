"""``TriggerQuerySet``: the only module that knows how Django's bulk operations work.

Each write method first asks the dispatcher for active triggers; with none it is exactly
Django's method. With triggers it validates the input as Django would, then, chunk by
chunk and inside one transaction: loads the stored rows, runs the before stage, writes
through a plain ``QuerySet`` (so that ``bulk_update()`` calling ``update()`` does not
dispatch twice), and runs the after stage.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

from django.conf import settings
from django.db import connections, models, transaction
from django.db.models import ExpressionWrapper, Value
from django.db.models.functions import Cast
from django.db.models.sql.where import WhereNode
from django.utils import timezone

from bulk_triggers import upsert
from bulk_triggers.composition import check_composition
from bulk_triggers.computed import generated_attnames, pending, read_back
from bulk_triggers.deletion import delete_queryset, may_fire
from bulk_triggers.dispatch import Dispatch, chunks, triggers_for
from bulk_triggers.instance import save_instance
from bulk_triggers.rows import (
    builds_plainly,
    filters_on_window,
    in_chunks,
    load_by_pk,
    row_builder,
    selection,
    with_annotations,
    writes_key,
    writes_pk,
)
from bulk_triggers.snapshot import (
    Snapshot,
    clone,
    copy_back,
    copy_value,
    mutable_indexes,
    stored_view,
    writable_attnames,
)
from bulk_triggers.unique_keys import is_unique_key, unique_keys

M = TypeVar("M", bound=models.Model)

# Set by update_or_create() on a model without the mixin, for its get_or_create().
_dispatching_save: ContextVar[bool] = ContextVar("bulk_triggers_dispatching_save", default=False)

__all__ = ["TriggerQuerySet"]


# No Generic[M] base of its own (models.QuerySet[M] is generic already): an explicit one
# would make class QS(SoftDeletableQuerySet, TriggerQuerySet) an inconsistent MRO.
class TriggerQuerySet(models.QuerySet[M]):
    """A ``QuerySet`` whose writes run the model's triggers.

    Return values and exceptions are Django's own; with no active trigger for the
    operation's event, every method is Django's, query for query. Compose it after
    querysets that override write methods: ``class QS(SoftDeletableQuerySet,
    TriggerQuerySet)``; the other order is refused (see :mod:`bulk_triggers.composition`).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        check_composition(cls, TriggerQuerySet)

    def _plain(self, using: str) -> models.QuerySet[M]:
        """Return a plain Django queryset over the same rows, for writes that must not dispatch."""
        return models.QuerySet(model=self.model, query=self.query.chain(), using=using)

    def _write_alias(self) -> str:
        self._for_write = True
        return self.db

    def create(self, **kwargs: Any) -> M:
        from bulk_triggers.models import TriggerModelMixin

        if issubclass(self.model, TriggerModelMixin) or not triggers_for(self.model, "create"):
            return super().create(**kwargs)  # The mixin's save() dispatches, once.
        reverse = frozenset(kwargs) & self.model._meta._reverse_one_to_one_field_names  # type: ignore[attr-defined]
        if reverse:
            return super().create(**kwargs)  # Django refuses these.
        obj = self.model(**kwargs)
        save_instance(obj, obj.save, (), {"force_insert": True, "using": self._write_alias()})
        if hasattr(self, "_fetch_mode"):  # Django 6.1+
            obj._state.fetch_mode = self._fetch_mode
        return obj

    def update_or_create(
        self,
        defaults: Any = None,
        create_defaults: Any = None,
        **kwargs: Any,
    ) -> tuple[M, bool]:
        from bulk_triggers.models import TriggerModelMixin

        if issubclass(self.model, TriggerModelMixin) or not triggers_for(self.model, "update"):
            return super().update_or_create(defaults, create_defaults, **kwargs)
        # Without the mixin, the obj.save() that Django's update_or_create() ends with
        # would skip the triggers: get_or_create() hands it an object that dispatches.
        token = _dispatching_save.set(True)
        try:
            obj, created = super().update_or_create(defaults, create_defaults, **kwargs)
        finally:
            _dispatching_save.reset(token)
        obj.__dict__.pop("save", None)
        return obj, created

    def get_or_create(self, defaults: Any = None, **kwargs: Any) -> tuple[M, bool]:
        obj, created = super().get_or_create(defaults, **kwargs)
        if not created and _dispatching_save.get():
            _dispatching_save.set(False)
            plain_save = obj.save
            obj.save = lambda *a, **k: save_instance(obj, plain_save, a, k)  # type: ignore[method-assign]
        return obj, created

    def bulk_create(self, objs: Iterable[M], *args: Any, **kwargs: Any) -> list[M]:
        if upsert.has_conflicts(args, kwargs):
            return self._bulk_upsert(objs, args, kwargs)
        triggers = triggers_for(self.model, "create")
        if not triggers:
            return super().bulk_create(objs, *args, **kwargs)
        objs = list(objs)
        self._check_bulk_create(objs, *args, **kwargs)
        if not objs:
            return objs
        using = self._write_alias()
        dispatch = Dispatch(self.model, "create", using, triggers)
        dispatch.inputs = objs
        plain = self._plain(using)
        with transaction.atomic(using=using):
            for chunk in chunks(objs):
                dispatch.before(chunk, None)
                computed = pending(self.model, chunk)
                plain.bulk_create(chunk, *args, **kwargs)
                dispatch.after(read_back(self.model, chunk, computed, using), None)
        return objs

    def _bulk_upsert(self, objs: Iterable[M], args: Any, kwargs: dict[str, Any]) -> list[M]:
        """Run ``bulk_create()`` with conflicts; each row fires what happens to it (``upsert.py``).

        Rows it inserts fire create triggers, rows it updates update triggers, rows it
        skips nothing. With no trigger for those events it is Django's call.
        """
        updating = upsert.has_conflicts(args, kwargs, update=True)
        creates = triggers_for(self.model, "create")
        updates = triggers_for(self.model, "update") if updating else ()
        if not creates and not updates:
            return super().bulk_create(objs, *args, **kwargs)
        objs = list(objs)
        self._check_bulk_create(objs, *args, **kwargs)
        if not objs:
            return objs
        using = self._write_alias()
        plain = self._plain(using)
        self._prepare_for_bulk_create(objs)  # type: ignore[attr-defined]  # FK ids, pk defaults
        options = upsert.Options.parse(self.model, args, kwargs)
        if options.update and not is_unique_key(self.model, options.unique_fields):
            _refusal_of_django(plain, objs, args, kwargs)
            raise ValueError(
                f"bulk_create() on {self.model._meta.label}: unique_fields "
                f"{list(options.unique_fields)} are not one of the model's unique keys "
                f"{unique_keys(self.model)}, so its triggers cannot tell which rows "
                "would be updated. Declare the constraint on the model."
            )
        planner = upsert.Planner(self.model, options, using)
        steps = upsert.Steps(self.model, options, using, creates, updates, planner.keys)
        with transaction.atomic(using=using), planner.reserved(objs):
            for chunk in chunks(objs):
                plan = planner.plan(chunk)
                if plan.repeated:  # PostgreSQL refuses to change a row twice in one go.
                    _refusal_of_django(plain, chunk, args, kwargs)
                steps.run(plan, partial(plain.bulk_create, chunk, *args, **kwargs))
        return objs

    def _check_bulk_create(self, objs: Sequence[M], *args: Any, **kwargs: Any) -> None:
        """Refuse, before any trigger runs, what Django's bulk_create() would refuse."""
        names = (
            "batch_size",
            "ignore_conflicts",
            "update_conflicts",
            "update_fields",
            "unique_fields",
        )
        options = dict(zip(names, args, strict=False), **kwargs)
        batch_size = options.get("batch_size")
        if batch_size is not None and batch_size <= 0:
            raise ValueError("Batch size must be a positive integer.")
        opts = self.model._meta
        for parent in opts.get_parent_list():
            if parent._meta.concrete_model is not opts.concrete_model:
                raise ValueError("Can't bulk create a multi-table inherited model")
        if not objs:
            return  # Django checks the conflict options only when there is something to write.
        unique_fields = [
            opts.get_field(opts.pk.name if name == "pk" else name)
            for name in options.get("unique_fields") or ()
        ]
        update_fields = [opts.get_field(name) for name in options.get("update_fields") or ()]
        self._check_bulk_create_options(  # type: ignore[attr-defined]
            options.get("ignore_conflicts", False),
            options.get("update_conflicts", False),
            update_fields or None,
            unique_fields or None,
        )
        # Django prepares related objects after checking the options: refuse in its order.
        _check_instances(self.model, objs, "bulk_create")

    def bulk_update(
        self, objs: Iterable[M], fields: Iterable[str], batch_size: int | None = None
    ) -> int:
        triggers = triggers_for(self.model, "update")
        if not triggers:
            return super().bulk_update(objs, fields, batch_size=batch_size)
        objs = tuple(objs)
        fields = list(fields)
        written = self._check_bulk_update(objs, fields, batch_size)
        if not objs:
            return 0
        using = self._write_alias()
        dispatch = Dispatch(self.model, "update", using, triggers)
        dispatch.inputs = objs
        plain = self._plain(using)
        batches = self._django_batches(objs, fields, batch_size, using)
        # One object per row, the one Django's statements would leave stored; locked in
        # primary key order, as update() and delete() do, so that concurrent writers
        # cannot deadlock on each other's chunks.
        key = _pk_key(self.model)
        ordered = sorted(_written_objects(batches, key), key=lambda obj: key(obj.pk))
        watched = [name for name in writable_attnames(self.model) if name not in written]
        updated = 0
        existing: set[Any] = set()
        with transaction.atomic(using=using):
            for unique in chunks(ordered):
                stored = load_by_pk(
                    self.model,
                    [key(obj.pk) for obj in unique],
                    using,
                    no_key=not writes_key(self.model, written),
                )
                existing.update(stored)
                callers: list[M] = [obj for obj in unique if key(obj.pk) in stored]
                old = [stored[key(obj.pk)] for obj in callers]
                new = stored_view(callers, old, watched)
                snapshot = Snapshot.take(new, watched) if dispatch.has_before else None
                dispatch.before(new, old)
                changes = snapshot.changes(new) if snapshot else [frozenset()] * len(new)
                copy_back(callers, new, changes, list(written))
                computed = pending(self.model, new)
                for extra, group in _group_by_changes(unique, callers, changes):
                    updated += plain.bulk_update(group, [*fields, *sorted(extra)], batch_size)
                dispatch.after(read_back(self.model, new, computed, using), old)
        if len(ordered) == len(objs):
            return updated
        # Duplicates: count as Django does, each batch the distinct rows it matched.
        return sum(len({key(obj.pk) for obj in batch} & existing) for batch in batches)

    def _django_batches(
        self, objs: Sequence[M], fields: Sequence[str], batch_size: int | None, using: str
    ) -> list[Sequence[M]]:
        """Split ``objs`` as Django's bulk_update() does: batches decide which duplicate wins."""
        opts = self.model._meta
        resolved = [opts.get_field(name) for name in fields]
        largest = connections[using].ops.bulk_batch_size([opts.pk, opts.pk, *resolved], objs)
        size = min(batch_size, largest) if batch_size else largest
        return [objs[start : start + size] for start in range(0, len(objs), max(size, 1))]

    def _check_bulk_update(
        self, objs: Sequence[M], fields: Sequence[str], batch_size: int | None
    ) -> set[str]:
        """Refuse what Django's bulk_update() refuses; return the attnames it writes."""
        if batch_size is not None and batch_size <= 0:
            raise ValueError("Batch size must be a positive integer.")
        if not fields:
            raise ValueError("Field names must be given to bulk_update().")
        if not all(obj._is_pk_set() for obj in objs):  # type: ignore[attr-defined]
            raise ValueError("All bulk_update() objects must have a primary key set.")
        resolved = [self.model._meta.get_field(name) for name in fields]
        if any(not f.concrete or f.many_to_many for f in resolved):
            raise ValueError("bulk_update() can only be used with concrete fields.")
        if any(f in _primary_key_fields(self.model) for f in resolved):
            raise ValueError("bulk_update() cannot be used with primary key fields.")
        _check_instances(self.model, objs, "bulk_update", resolved)
        return {f.attname for f in resolved}  # type: ignore[union-attr]

    def update(self, **kwargs: Any) -> int:
        triggers = triggers_for(self.model, "update")
        if not triggers or not kwargs or self.query.is_empty():
            return super().update(**kwargs)
        using = self._write_alias()
        dispatch = Dispatch(self.model, "update", using, triggers)
        target = _update_target(self, using)
        updated = 0
        _refuse_as_django_would(models.QuerySet.update, self, **kwargs)
        if filters_on_window(self):
            _refuse_as_django_would_here(super().update, using, **kwargs)
        with transaction.atomic(using=using):
            plan = _UpdatePlan(self.model, kwargs, connections[using].vendor)
            moved: set[Any] = set()  # Where rows went: later chunks must not see them again.
            for rows in _update_chunks(self, plan, using, moved):
                new, old, planned = plan.instances(rows, using)
                dispatch.before(new, old)
                changes = planned.changes(new) if dispatch.has_before else [frozenset()] * len(new)
                updated += plan.write(target, new, old, changes)
                moved.update(row.pk for row, was in zip(new, old, strict=True) if row.pk != was.pk)
                dispatch.after(plan.stored(new, using), old)
        self._result_cache = None
        return updated

    def delete(self) -> tuple[int, dict[str, int]]:
        if not may_fire(self.model) or self.query.is_empty():
            return super().delete()
        self._check_delete()
        using = self._write_alias()
        if filters_on_window(self):
            _refuse_as_django_would_here(super().delete, using)
        result = delete_queryset(self, using)
        self._result_cache = None
        return result

    def _check_delete(self) -> None:
        """Refuse what Django's delete() refuses, without touching the database.

        (Django's own delete() on an empty copy would open a transaction to find that.)
        """
        self._not_support_combined_queries("delete")  # type: ignore[attr-defined]
        if self.query.is_sliced:
            raise TypeError("Cannot use 'limit' or 'offset' with delete().")
        if self.query.distinct_fields:
            raise TypeError("Cannot call delete() after .distinct(*fields).")
        if self._fields is not None:  # type: ignore[attr-defined]
            raise TypeError("Cannot call delete() after .values() or .values_list()")

    delete.alters_data = True  # type: ignore[attr-defined]
    delete.queryset_only = True  # type: ignore[attr-defined]
    update.alters_data = True  # type: ignore[attr-defined]


class _RolledBack(Exception):
    """Undo a savepoint in which Django's own call was only asked whether it refuses."""


def _refusal_of_django(
    plain: models.QuerySet[Any], objs: Sequence[Any], args: Any, kwargs: dict[str, Any]
) -> None:
    """Raise what Django's bulk_create() of ``objs`` raises, before any trigger runs.

    The call runs on copies, in a savepoint that is always rolled back, so it changes
    neither the database nor the caller's objects; if it succeeds, this returns.
    """
    try:
        with transaction.atomic(using=plain.db):
            plain.bulk_create([clone(obj) for obj in objs], *args, **kwargs)
            raise _RolledBack
    except _RolledBack:
        pass


def _pk_key(model: type[models.Model]) -> Callable[[Any], Any]:
    """Return the function telling rows apart by primary key as the database does ("2" is 2).

    Preparing the value first raises what Django's own bulk_update() raises for a key of
    the wrong type ("abc" for an integer key), before any trigger runs.
    """
    field = model._meta.pk

    def key(pk: Any) -> Any:
        return field.to_python(field.get_prep_value(pk))

    return key


def _written_objects(batches: Sequence[Sequence[M]], key: Callable[[Any], Any]) -> list[M]:
    """Return, per row, the object whose values Django's bulk_update() leaves stored.

    Within one batch the first object of a row wins (CASE WHEN takes the first match);
    a later batch's UPDATE overwrites an earlier one's. Rows are told apart by ``key``
    of their primary key, the value the database compares.
    """
    winners: dict[Any, M] = {}
    for batch in batches:
        seen: set[Any] = set()
        for obj in batch:
            pk = key(obj.pk)
            if pk not in seen:
                seen.add(pk)
                winners[pk] = obj
    return list(winners.values())


def _primary_key_fields(model: type[models.Model]) -> set[Any]:
    """Return the fields of the model's and its parents' keys (a composite key's parts too)."""
    opts = model._meta
    fields = set(opts.pk_fields)
    for parent in opts.get_parent_list():
        fields.update(parent._meta.pk_fields)
    return fields


def _check_instances(
    model: type[models.Model], objs: Sequence[Any], operation: str, fields: Any = None
) -> None:
    """Refuse objects of another model, then prepare related ids as Django's ``operation`` does.

    Django refuses unsaved related objects (``ValueError``) and copies the ids of related
    objects saved after they were assigned; both must happen before any trigger runs.
    """
    concrete = model._meta.concrete_model
    for obj in objs:
        if not isinstance(obj, models.Model) or obj._meta.concrete_model is not concrete:
            raise TypeError(
                f"{operation}() on {model._meta.label} was given {obj!r}, an instance of "
                f"{type(obj).__qualname__}; every object must be a {model.__qualname__}, "
                "because the triggers of one model receive them."
            )
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name=operation, fields=fields)


def _update_target(queryset: models.QuerySet[Any], using: str) -> models.QuerySet[Any]:
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


def _refuse_as_django_would(method: Any, queryset: models.QuerySet[Any], **kwargs: Any) -> Any:
    """Run Django's own ``method`` on an empty copy of ``queryset`` and return its result.

    Django validates its arguments (slices, unknown fields, joined references in update
    expressions, …) before it queries; on an empty queryset ``update()`` then stops
    without touching the database. So every refusal is Django's own, on every supported
    version, before any trigger runs.
    """
    return method(queryset.none(), **kwargs)


def _update_chunks(
    queryset: models.QuerySet[Any], plan: _UpdatePlan, using: str, moved: set[Any]
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


def _refuse_as_django_would_here(method: Callable[..., Any], using: str, **kwargs: Any) -> None:
    """Run Django's own ``method`` in a savepoint that is always rolled back.

    For what only the database refuses (a window function in the filter of an UPDATE or
    DELETE): the refusal is then Django's own exception, raised before any trigger, and
    on a database that accepted it nothing would have been written.
    """
    try:
        with transaction.atomic(using=using):
            method(**kwargs)
            raise _Accepted
    except _Accepted:
        pass


class _Accepted(Exception):
    """Rolls back :func:`_refuse_as_django_would_here`'s savepoint after a success."""


def _group_by_changes(
    chunk: Sequence[M], new: Sequence[M], changes: Sequence[frozenset[str]]
) -> list[tuple[frozenset[str], list[M]]]:
    """Group rows by the extra fields before triggers changed; unchanged rows come first."""
    extra_of = {id(row): change for row, change in zip(new, changes, strict=True)}
    groups: dict[frozenset[str], list[M]] = defaultdict(list)
    for obj in chunk:
        groups[extra_of.get(id(obj), frozenset())].append(obj)
    return sorted(groups.items(), key=lambda item: len(item[0]))


class _UpdatePlan:
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
