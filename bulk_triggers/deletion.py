"""Deletes through Django's own deletion collector, with the triggers of every row it touches.

Django's ``Collector`` first collects (the rows to delete, cascades at any depth, generic
relations, multi-table parents and children, and the keys that ``SET_NULL``,
``SET_DEFAULT`` and ``SET(...)`` write), then acts. The triggers fit between the two:
collect (every refusal, ``PROTECT`` and ``RESTRICT`` included, is Django's and comes
first), run the before stages of every delete and ``SET_*`` update the collection
causes, let the collector write, write what before triggers changed on the updated
rows, run the after stages.

A ``QuerySet.delete()`` of more than ``CHUNK_SIZE`` rows does this chunk by chunk of its
own rows, each chunk with what it cascades to.

Within a stage the ``SET_*`` updates come first, in the order Django writes them, then
the deletes, model by model in the order Django deletes them (rows that others depend on
last: cascaded children before their parents, a multi-table child before its parents),
each model's rows in primary key order and in chunks of at most ``CHUNK_SIZE``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from operator import attrgetter
from typing import Any, cast

from django.db import models, transaction
from django.db.models.deletion import (
    CASCADE,
    DO_NOTHING,
    PROTECT,
    RESTRICT,
    SET_DEFAULT,
    SET_NULL,
    Collector,
    get_candidate_relations_to_delete,
)

from bulk_triggers.dispatch import Dispatch, chunks, triggers_for
from bulk_triggers.registry import registry
from bulk_triggers.rows import in_chunks, load_by_pk, load_one, locked, row_builder, selection
from bulk_triggers.snapshot import Snapshot, clone, writable_attnames
from bulk_triggers.trigger import TriggerMeta

__all__ = ["delete_instance_rows", "delete_queryset", "may_fire"]

Rows = list[models.Model]
_SKIPPED = (DO_NOTHING, PROTECT, RESTRICT)


def _triggers(model: type[models.Model], event: str, *, active: bool = True) -> tuple[Any, ...]:
    """Return the triggers of ``event`` for rows of ``model``: the one lookup of this module.

    With ``active``, without those that ``bypass()`` or the testing helpers skip.
    """
    return triggers_for(model, event) if active else registry.for_model(model, event)


_reach: dict[type[models.Model], bool] = {}
_reach_version = [-1]


def may_fire(model: type[models.Model]) -> bool:
    """Return whether deleting rows of ``model`` can reach any registered trigger.

    That is a delete trigger on the model, a parent, or any model a cascade can reach,
    or an update trigger on a model whose key the collector would ``SET_*``. Answered
    from a cache that is dropped whenever the registry changes.
    """
    if _reach_version[0] != registry.version:
        _reach.clear()
        _reach_version[0] = registry.version
    try:
        return _reach[model]
    except KeyError:
        found = _reach[model] = _walk(model)
        return found


def _walk(start: type[models.Model]) -> bool:
    seen: set[type[models.Model]] = set()
    todo = [start]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        if _triggers(model, "delete", active=False):
            return True
        todo.extend(model._meta.get_parent_list())
        for related in get_candidate_relations_to_delete(model._meta):
            on_delete = related.field.remote_field.on_delete  # type: ignore[attr-defined]
            target = cast("type[models.Model]", related.related_model)
            if on_delete is CASCADE:
                todo.append(target)
            elif on_delete in _SKIPPED or hasattr(on_delete, "on_delete_sql"):
                continue  # Refusals, and what the database does on its own (DB_*).
            elif _triggers(target, "update", active=False):
                return True  # SET_NULL, SET_DEFAULT, SET(...), or a custom handler.
            elif on_delete not in (SET_NULL, SET_DEFAULT) and not _is_set(on_delete):
                todo.append(target)  # A custom handler may cascade.
        todo.extend(
            field.remote_field.model
            for field in model._meta.private_fields
            if hasattr(field, "bulk_related_objects")
        )
    return False


def _concrete(model: type[models.Model]) -> type[models.Model]:
    return cast("type[models.Model]", model._meta.concrete_model)


def _is_set(on_delete: Any) -> bool:
    deconstruct = getattr(on_delete, "deconstruct", None)
    return deconstruct is not None and deconstruct()[0] == "django.db.models.SET"


class _Collector(Collector):
    """Django's collector, which loads the full rows of every model that has triggers.

    Models with delete or update triggers are treated as having signal receivers: they
    are never fast-deleted nor loaded with deferred fields, so their rows can be handed
    to the triggers. Those rows are read under lock (:func:`~bulk_triggers.rows.locked`).
    """

    def _has_signal_listeners(self, model: type[models.Model]) -> bool:
        return bool(
            super()._has_signal_listeners(model)  # type: ignore[misc]
            or _triggers(model, "delete")
            or _triggers(model, "update")
        )

    def related_objects(
        self, related_model: type[models.Model], related_fields: Iterable[Any], objs: Any
    ) -> models.QuerySet[Any]:
        related_fields = list(related_fields)
        queryset = super().related_objects(related_model, related_fields, objs)
        cascades = any(field.remote_field.on_delete is CASCADE for field in related_fields)
        if cascades and _triggers(related_model, "delete"):
            return locked(queryset, only_self=True)
        return queryset

    def collect(self, objs: Any, *args: Any, **kwargs: Any) -> None:
        if (
            isinstance(objs, models.QuerySet)
            and objs._result_cache is None
            and _triggers(objs.model, "delete")
        ):
            objs = locked(objs, only_self=True)  # Generic relations' targets.
        super().collect(objs, *args, **kwargs)


def delete_queryset(queryset: models.QuerySet[Any], using: str) -> tuple[int, dict[str, int]]:
    """Delete the rows of ``queryset`` as Django's ``QuerySet.delete()`` does, with triggers.

    The rows are read in locked chunks of ``CHUNK_SIZE``; each chunk is collected, with
    its cascades, by a collector of its own, then dispatched and deleted, so memory is
    bounded by what one chunk reaches. The counts are summed in Django's form.
    """
    model = queryset.model
    attnames = [field.attname for field in model._meta.concrete_fields]
    build = row_builder(model, using, attnames)
    total, counts = 0, Counter[str]()
    with transaction.atomic(using=using):
        for rows in in_chunks(selection(queryset, using).values_list(*attnames)):
            collector = _Collector(using=using, origin=queryset)
            collector.collect([build(row) for row in rows])
            deleted, per_model = _run(collector, {})
            total += deleted
            counts.update(per_model)
    return total, dict(counts)


def delete_instance_rows(
    instance: models.Model, using: str, keep_parents: bool
) -> tuple[int, dict[str, int]]:
    """Delete ``instance`` as Django's ``Model.delete()`` does, with triggers.

    The triggers of the instance's own model receive the stored row, not the caller's
    object; a row that is not stored (any more) is deleted by Django alone.
    """
    model = type(instance)
    collector = _Collector(using=using, origin=instance)
    with transaction.atomic(using=using):
        stored: dict[int, models.Model | None] = {}
        if _triggers(model, "delete"):
            stored[id(instance)] = load_one(model, instance.pk, using)
        collector.collect([instance], keep_parents=keep_parents)
        return _run(collector, stored)


def _run(
    collector: Collector, stored: dict[int, models.Model | None]
) -> tuple[int, dict[str, int]]:
    """Run the before stages, the collector's writes, the updates' changes, the after stages."""
    using = collector.using
    collector.sort()
    deletes = _deletes(collector, stored)
    gone = {
        (_concrete(model), obj.pk)
        for model, instances in collector.data.items()
        for obj in instances
    }
    updates = _updates(collector, gone)
    for update in updates:
        update.before()
    for dispatch, rows in deletes:
        for chunk in chunks(rows):
            dispatch.before(None, chunk)
    result: tuple[int, dict[str, int]] = collector.delete()
    for update in updates:
        update.write(using)
    for update in updates:
        update.after()
    for dispatch, rows in deletes:
        for chunk in chunks(rows):
            dispatch.after(None, chunk)
    return result


def _deletes(
    collector: Collector, stored: dict[int, models.Model | None]
) -> list[tuple[Dispatch, Rows]]:
    """Return, per model with delete triggers, the dispatch and the rows it receives.

    Rows are detached copies (the collector clears the primary keys of its instances
    after deleting). The parent rows of collected multi-table children are left out:
    they fire through the child's dispatch, with the child instances.
    """
    parts = _parent_parts(collector.data)
    plan = []
    for model, instances in collector.data.items():
        triggers = _triggers(model, "delete")
        if not triggers:
            continue
        skip = parts.get(_concrete(model), set())
        rows: Rows = []
        for obj in sorted(instances, key=attrgetter("pk")):
            row = stored.get(id(obj), obj)
            if row is not None and obj.pk not in skip:
                rows.append(clone(row) if row is obj else row)
        if rows:
            plan.append((Dispatch(model, "delete", collector.using, triggers), rows))
    return plan


def _parent_parts(
    data: Mapping[type[models.Model], Iterable[Any]],
) -> dict[type[models.Model], set[Any]]:
    """Return, per concrete parent model, the keys of rows that are parts of collected children."""
    parts: dict[type[models.Model], set[Any]] = defaultdict(set)
    for model, instances in data.items():
        for parent, ptr in _concrete(model)._meta.parents.items():
            if ptr is not None:
                parts[_concrete(parent)].update(getattr(obj, ptr.attname) for obj in instances)
    return parts


class _Update:
    """The ``SET_*`` updates of one model with update triggers: its rows, stages and changes."""

    def __init__(
        self, model: type[models.Model], using: str, triggers: tuple[TriggerMeta, ...]
    ) -> None:
        self.model = model
        self.dispatch = Dispatch(model, "update", using, triggers)
        self.values: dict[Any, dict[str, Any]] = defaultdict(dict)  # pk -> attname -> value
        self.pairs: list[tuple[Rows, Rows, Snapshot | None]] = []

    def load(self, using: str) -> None:
        """Read the stored rows under lock, chunk by chunk, and build each row's ``new``."""
        watched = writable_attnames(self.model)
        for keys in chunks(sorted(self.values)):
            stored = load_by_pk(self.model, keys, using)
            old = [stored[pk] for pk in keys if pk in stored]
            new = [clone(row) for row in old]
            for row in new:
                row.__dict__.update(self.values[row.pk])
            snapshot = Snapshot.take(new, watched) if self.dispatch.has_before else None
            self.pairs.append((new, old, snapshot))

    def before(self) -> None:
        for new, old, _ in self.pairs:
            self.dispatch.before(new, old)

    def write(self, using: str) -> None:
        """Write what before triggers changed, after the collector wrote the keys."""
        plain: models.QuerySet[Any] = models.QuerySet(model=self.model, using=using)
        for new, _, snapshot in self.pairs:
            if snapshot is None:
                continue
            groups: dict[frozenset[str], Rows] = defaultdict(list)
            for row, changed in zip(new, snapshot.changes(new), strict=True):
                if changed:
                    groups[changed].append(row)
            for names, rows in groups.items():
                plain.bulk_update(rows, sorted(names))

    def after(self) -> None:
        for new, old, _ in self.pairs:
            self.dispatch.after(new, old)


def _updates(collector: Collector, gone: set[tuple[type[models.Model], Any]]) -> list[_Update]:
    """Plan the ``SET_*`` updates of models with update triggers; make their writes plain.

    Rows that the collector also deletes (Django nulls some keys first) are left out:
    they fire their delete triggers alone. The collector's queryset writes become plain
    querysets, so that a ``TriggerQuerySet.update()`` does not dispatch them a second time.
    """
    plans: dict[type[models.Model], _Update] = {}
    for (field, value), entries in collector.field_updates.items():
        model = _concrete(field.model)
        triggers = _triggers(model, "update")
        if not triggers:
            continue
        update = plans.get(model) or plans.setdefault(
            model, _Update(model, collector.using, triggers)
        )
        written = _raw(field, value)
        listed: list[Any] = entries
        for index, entry in enumerate(listed):
            if isinstance(entry, models.QuerySet) and entry._result_cache is None:
                listed[index] = models.QuerySet(
                    model=entry.model, query=entry.query.chain(), using=entry.db
                )
                keys: Iterable[Any] = entry.values_list("pk", flat=True)
            else:
                keys = [obj.pk for obj in entry]
            for pk in keys:
                if (model, pk) not in gone:
                    update.values[pk][field.attname] = written
    for update in plans.values():
        update.load(collector.using)
    return [update for update in plans.values() if update.pairs]


def _raw(field: Any, value: Any) -> Any:
    """Return what the instance attribute ``field.attname`` holds once ``value`` is written."""
    if isinstance(value, models.Model):
        return getattr(value, field.target_field.attname)
    return value
