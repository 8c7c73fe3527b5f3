"""How Django's ``bulk_update()`` treats its objects, replayed for its triggers.

Django splits the objects into batches, each one ``UPDATE … CASE WHEN`` statement, so
which of several objects for one row wins depends on the batches; rows are told apart by
their primary key as the database compares it. The triggers get one object per row, the
one whose values end up stored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import connections, models

__all__ = [
    "django_batches",
    "django_count",
    "group_by_changes",
    "pk_key",
    "written_in_lock_order",
    "written_objects",
]

M = TypeVar("M", bound=models.Model)


def django_batches(
    model: type[models.Model],
    objs: Sequence[M],
    fields: Sequence[str],
    batch_size: int | None,
    using: str,
) -> list[Sequence[M]]:
    """Split ``objs`` as Django's bulk_update() does: batches decide which duplicate wins."""
    opts = model._meta
    resolved = [opts.get_field(name) for name in fields]
    largest = connections[using].ops.bulk_batch_size([opts.pk, opts.pk, *resolved], objs)
    size = min(batch_size, largest) if batch_size else largest
    return [objs[start : start + size] for start in range(0, len(objs), max(size, 1))]


def pk_key(model: type[models.Model]) -> Callable[[Any], Any]:
    """Return the function telling rows apart by primary key as the database does ("2" is 2).

    Preparing the value first raises what Django's own bulk_update() raises for a key of
    the wrong type ("abc" for an integer key), before any trigger runs.
    """
    field = model._meta.pk

    def key(pk: Any) -> Any:
        return field.to_python(field.get_prep_value(pk))

    return key


def written_objects(batches: Sequence[Sequence[M]], key: Callable[[Any], Any]) -> list[M]:
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


def written_in_lock_order(batches: Sequence[Sequence[M]], key: Callable[[Any], Any]) -> list[M]:
    """Return :func:`written_objects` in primary key order, the order their rows are locked.

    ``update()`` and ``delete()`` lock in that order too, so that concurrent writers
    cannot deadlock on each other's chunks.
    """
    return sorted(written_objects(batches, key), key=lambda obj: key(obj.pk))


def group_by_changes(
    chunk: Sequence[M], new: Sequence[M], changes: Sequence[frozenset[str]]
) -> list[tuple[frozenset[str], list[M]]]:
    """Group rows by the extra fields before triggers changed; unchanged rows come first."""
    extra_of = {id(row): change for row, change in zip(new, changes, strict=True)}
    groups: dict[frozenset[str], list[M]] = defaultdict(list)
    for obj in chunk:
        groups[extra_of.get(id(obj), frozenset())].append(obj)
    return sorted(groups.items(), key=lambda item: len(item[0]))


def django_count(
    batches: Sequence[Sequence[M]], key: Callable[[Any], Any], existing: set[Any]
) -> int:
    """Return what Django's bulk_update() returns with duplicates: per batch, the rows matched.

    Each batch's UPDATE matches its distinct primary keys that are stored (``existing``).
    """
    return sum(len({key(obj.pk) for obj in batch} & existing) for batch in batches)
