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
the deletes, model by model in the order the collector sorts them for deleting
(cascaded rows before the rows they point to, a multi-table child before its parents),
each model's rows in primary key order and in chunks of at most ``CHUNK_SIZE``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
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
from django.db.models.signals import class_prepared

from bulk_triggers.context import active as skip_bypassed
from bulk_triggers.deletion_updates import plan_updates
from bulk_triggers.dispatch import Dispatch, chunks, triggers_for
from bulk_triggers.registry import registry
from bulk_triggers.rows import in_chunks, load_one, locked, row_builder, selection
from bulk_triggers.snapshot import clone
from bulk_triggers.trigger import TriggerMeta

__all__ = ["delete_instance_rows", "delete_queryset", "may_fire"]

Rows = list[models.Model]
_SKIPPED = (DO_NOTHING, PROTECT, RESTRICT)


def _triggers(model: type[models.Model], event: str, *, active: bool = True) -> tuple[Any, ...]:
    """Return the triggers of ``event`` for rows of ``model``: the one lookup of this module.

    With ``active``, without those that ``bypass()`` or the testing helpers skip.
    """
    return triggers_for(model, event) if active else registry.for_model(model, event)


_reach: dict[type[models.Model], tuple[TriggerMeta, ...]] = {}
_reach_version = [-1]


def _forget_reach(**kwargs: Any) -> None:
    """Drop the cache when a model class is created: it may add relations to walk."""
    _reach.clear()


class_prepared.connect(_forget_reach, weak=False)


def may_fire(model: type[models.Model]) -> bool:
    """Return whether deleting rows of ``model`` can run any trigger in this context.

    That is a delete trigger on the model, a parent, or any model a cascade can reach,
    or an update trigger on a model whose key the collector would ``SET_*``, unless
    ``bypass()`` skips them all. Which triggers are reachable is cached per model, and
    the cache is dropped whenever the registry changes or a model class is created.
    """
    if _reach_version[0] != registry.version:
        _reach.clear()
        _reach_version[0] = registry.version
    try:
        found = _reach[model]
    except KeyError:
        found = _reach[model] = tuple(dict.fromkeys(_walk(model)))
    return bool(found) and bool(skip_bypassed(found))


def _walk(start: type[models.Model]) -> Iterator[TriggerMeta]:
    """Yield the triggers that deleting rows of ``start`` can reach, following Django's rules."""
    seen: set[type[models.Model]] = set()
    todo = [start]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        yield from _triggers(model, "delete", active=False)
        todo.extend(model._meta.get_parent_list())
        for related in get_candidate_relations_to_delete(model._meta):
            on_delete = related.field.remote_field.on_delete  # type: ignore[attr-defined]
            target = cast("type[models.Model]", related.related_model)
            if on_delete is CASCADE:
                todo.append(target)
            elif on_delete in _SKIPPED or hasattr(on_delete, "on_delete_sql"):
                continue  # Refusals, and what the database does on its own (DB_*).
            else:  # SET_NULL, SET_DEFAULT, SET(...), or a custom handler.
                yield from _triggers(target, "update", active=False)
                if on_delete not in (SET_NULL, SET_DEFAULT) and not _is_set(on_delete):
                    todo.append(target)  # A custom handler may cascade.
        todo.extend(
            field.remote_field.model
            for field in model._meta.private_fields
            if hasattr(field, "bulk_related_objects")
        )


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
    The models Django would have fast-deleted are remembered in ``fast``: once their
    rows are loaded, :meth:`keep_fast` deletes them as Django would, one statement per
    chunk rather than one per hundred rows.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fast: set[type[models.Model]] = set()
        self._as_django = False

    def _has_signal_listeners(self, model: type[models.Model]) -> bool:
        if super()._has_signal_listeners(model):  # type: ignore[misc]
            return True
        return not self._as_django and bool(
            _triggers(model, "delete") or _triggers(model, "update")
        )

    def can_fast_delete(self, objs: Any, from_field: Any = None) -> bool:
        if super().can_fast_delete(objs, from_field):
            return True
        self._as_django = True
        try:
            djangos = super().can_fast_delete(objs, from_field)
        finally:
            self._as_django = False
        if djangos:
            self.fast.add(objs._meta.model if hasattr(objs, "_meta") else objs.model)
        return False

    def keep_fast(self, keep: models.Model | None) -> None:
        """Turn the loaded rows of models Django would fast-delete back into fast deletes.

        The instance ``keep`` (``Model.delete()``'s own) stays collected, so that Django
        clears its primary key as it always does.
        """
        for model in self.fast:
            instances = self.data.get(model)
            if not instances or (keep is not None and type(keep) is model):
                continue
            del self.data[model]
            plain: models.QuerySet[Any] = models.QuerySet(model=model, using=self.using)
            pks = sorted(obj.pk for obj in instances)
            self.fast_deletes.extend(plain.filter(pk__in=chunk) for chunk in chunks(pks))

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
            collector.can_fast_delete(queryset)  # Remembers whether Django would have.
            collector.collect([build(row) for row in rows])
            deleted, per_model = _run(collector, {})
            total += deleted
            counts.update(per_model)
    return total, dict(counts)


def delete_instance_rows(
    instance: models.Model, delete: Callable[..., Any], using: str, keep_parents: bool
) -> tuple[int, dict[str, int]]:
    """Delete ``instance`` as Django's ``Model.delete()`` does, with triggers.

    The triggers of the instance's own model receive the stored row, not the caller's
    object; a row that is not stored (any more) is left to ``delete``, Django's own.
    """
    model = type(instance)
    collector = _Collector(using=using, origin=instance)
    with transaction.atomic(using=using):
        stored: dict[int, models.Model | None] = {}
        if _triggers(model, "delete"):
            stored[id(instance)] = load_one(model, instance.pk, using)
            if stored[id(instance)] is None:
                result: tuple[int, dict[str, int]] = delete(using=using, keep_parents=keep_parents)
                return result
        collector.collect([instance], keep_parents=keep_parents)
        return _run(collector, stored)


def _run(
    collector: _Collector, stored: dict[int, models.Model | None]
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
    updates = plan_updates(collector, gone, _triggers)
    for update in updates:
        update.before()
    for dispatch, rows in deletes:
        for chunk in chunks(rows):
            dispatch.before(None, chunk)
    collector.keep_fast(collector.origin if isinstance(collector.origin, models.Model) else None)
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
        if _keeps_parents(collector.data, model, instances):
            # delete(keep_parents=True): the parent rows stay, so their triggers do not run.
            own = registry.declared_for(model, "delete")
            triggers = tuple(trigger for trigger in triggers if trigger in own)
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


def _keeps_parents(
    data: Mapping[type[models.Model], Iterable[Any]],
    model: type[models.Model],
    instances: Iterable[Any],
) -> bool:
    """Return whether rows of a multi-table child go while their parent rows stay."""
    for parent, ptr in _concrete(model)._meta.parents.items():
        if ptr is None:
            continue
        going = {obj.pk for obj in data.get(parent, ())}
        if any(getattr(obj, ptr.attname) not in going for obj in instances):
            return True
    return False


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
