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

from bulk_triggers.deletion_collector import TriggerCollector, concrete, triggers_of
from bulk_triggers.deletion_returning import delete_loaded, delete_returning
from bulk_triggers.deletion_updates import plan_updates
from bulk_triggers.dispatch import Dispatch, chunks
from bulk_triggers.registry import registry
from bulk_triggers.rows import in_chunks, load_one, row_builder, selection
from bulk_triggers.scope import active as skip_bypassed
from bulk_triggers.snapshot import clone
from bulk_triggers.trigger import TriggerMeta

__all__ = ["delete_instance_rows", "delete_queryset", "may_fire"]

Rows = list[models.Model]
_SKIPPED = (DO_NOTHING, PROTECT, RESTRICT)


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
        yield from triggers_of(model, "delete", active=False)
        todo.extend(model._meta.get_parent_list())
        for related in get_candidate_relations_to_delete(model._meta):
            on_delete = related.field.remote_field.on_delete  # type: ignore[attr-defined]
            target = cast("type[models.Model]", related.related_model)
            if on_delete is CASCADE:
                todo.append(target)
            elif on_delete in _SKIPPED or hasattr(on_delete, "on_delete_sql"):
                continue  # Refusals, and what the database does on its own (DB_*).
            else:  # SET_NULL, SET_DEFAULT, SET(...), or a custom handler.
                yield from triggers_of(target, "update", active=False)
                if on_delete not in (SET_NULL, SET_DEFAULT) and not _is_set(on_delete):
                    todo.append(target)  # A custom handler may cascade.
        todo.extend(
            field.remote_field.model
            for field in model._meta.private_fields
            if hasattr(field, "bulk_related_objects")
        )


def _is_set(on_delete: Any) -> bool:
    deconstruct = getattr(on_delete, "deconstruct", None)
    return deconstruct is not None and deconstruct()[0] == "django.db.models.SET"


def delete_queryset(queryset: models.QuerySet[Any], using: str) -> tuple[int, dict[str, int]]:
    """Delete the rows of ``queryset`` as Django's ``QuerySet.delete()`` does, with triggers.

    The rows are read in locked chunks of ``CHUNK_SIZE``; each chunk is collected, with
    its cascades, by a collector of its own, then dispatched and deleted, so memory is
    bounded by what one chunk reaches. The counts are summed in Django's form. Where
    Django would fast-delete, no collector is needed, and with only after triggers each
    chunk is one ``DELETE … RETURNING`` (:mod:`bulk_triggers.deletion_returning`).
    """
    done = delete_returning(queryset, using)
    if done is None:
        done = delete_loaded(queryset, using)
    if done is not None:
        return done
    model = queryset.model
    attnames = [field.attname for field in model._meta.concrete_fields]
    build = row_builder(model, using, attnames)
    total, counts = 0, Counter[str]()
    with transaction.atomic(using=using):
        for rows in in_chunks(selection(queryset, using).values_list(*attnames)):
            collector = TriggerCollector(using=using, origin=queryset)
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
    collector = TriggerCollector(using=using, origin=instance)
    with transaction.atomic(using=using):
        stored: dict[int, models.Model | None] = {}
        if triggers_of(model, "delete"):
            stored[id(instance)] = load_one(model, instance.pk, using)
            if stored[id(instance)] is None:
                result: tuple[int, dict[str, int]] = delete(using=using, keep_parents=keep_parents)
                return result
        collector.collect([instance], keep_parents=keep_parents)
        return _run(collector, stored)


def _run(
    collector: TriggerCollector, stored: dict[int, models.Model | None]
) -> tuple[int, dict[str, int]]:
    """Run the before stages, the collector's writes, the updates' changes, the after stages."""
    using = collector.using
    keep = collector.origin if isinstance(collector.origin, models.Model) else None
    collector.sort()
    deletes = _deletes(collector, stored, collector.left_alone(keep))
    gone = {
        (concrete(model), obj.pk)
        for model, instances in collector.data.items()
        for obj in instances
    }
    updates = plan_updates(collector, gone, triggers_of)
    # The fast deletes take their keys now: the before triggers receive these very
    # instances (uncopied) and must not be able to redirect the delete by changing them.
    collector.keep_fast(keep)
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
    collector: Collector,
    stored: dict[int, models.Model | None],
    untouched: set[type[models.Model]],
) -> list[tuple[Dispatch, Rows]]:
    """Return, per model with delete triggers, the dispatch and the rows it receives.

    Rows are detached copies (the collector clears the primary keys of its instances
    after deleting), except those of ``untouched`` models, whose instances the collector
    only reads. The parent rows of collected multi-table children are left out: they
    fire through the child's dispatch, with the child instances.
    """
    parts = _parent_parts(collector.data)
    plan = []
    for model, instances in collector.data.items():
        triggers = triggers_of(model, "delete")
        if _keeps_parents(collector.data, model, instances):
            # delete(keep_parents=True): the parent rows stay, so their triggers do not run.
            own = registry.declared_for(model, "delete")
            triggers = tuple(trigger for trigger in triggers if trigger in own)
        if not triggers:
            continue
        skip = parts.get(concrete(model), set())
        detach = model not in untouched
        rows: Rows = []
        for obj in sorted(instances, key=attrgetter("pk")):
            row = stored.get(id(obj), obj)
            if row is not None and obj.pk not in skip:
                rows.append(clone(row) if detach and row is obj else row)
        if rows:
            dispatch = Dispatch(
                model,
                "delete",
                collector.using,
                triggers,
                operation="delete",
                via=_via(collector, model),
            )
            plan.append((dispatch, rows))
    return plan


def _via(collector: Collector, model: type[models.Model]) -> str | None:
    """Return ``"cascade"`` for rows the delete reached through a relation, else None."""
    origin = collector.origin
    if isinstance(origin, models.QuerySet):
        origin_model: type[models.Model] = origin.model
    elif isinstance(origin, models.Model):
        origin_model = type(origin)
    else:
        return None
    return None if concrete(model) is concrete(origin_model) else "cascade"


def _keeps_parents(
    data: Mapping[type[models.Model], Iterable[Any]],
    model: type[models.Model],
    instances: Iterable[Any],
) -> bool:
    """Return whether rows of a multi-table child go while their parent rows stay."""
    for parent, ptr in concrete(model)._meta.parents.items():
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
        for parent, ptr in concrete(model)._meta.parents.items():
            if ptr is not None:
                parts[concrete(parent)].update(getattr(obj, ptr.attname) for obj in instances)
    return parts
