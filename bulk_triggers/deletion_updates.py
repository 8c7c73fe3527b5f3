"""The ``SET_NULL`` / ``SET_DEFAULT`` / ``SET(...)`` side of a delete: update triggers.

The deletion collector records, per ``(field, value)``, the rows whose key it will
rewrite. For each model with update triggers, :func:`plan_updates` reads those rows
under lock, builds ``new`` (the stored row with the key the collector writes), and makes
the collector's own writes plain, so that they are not dispatched a second time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from django.db import models
from django.db.models.deletion import Collector

from bulk_triggers.deletion_collector import concrete
from bulk_triggers.dispatch import Dispatch, chunks
from bulk_triggers.rows import load_by_pk
from bulk_triggers.snapshot import Snapshot, by_changes, clone, writable_attnames
from bulk_triggers.trigger import TriggerMeta

__all__ = ["SetUpdate", "plan_updates"]

Rows = list[models.Model]


class SetUpdate:
    """The ``SET_*`` updates of one model with update triggers: its rows, stages and changes."""

    def __init__(
        self, model: type[models.Model], using: str, triggers: tuple[TriggerMeta, ...]
    ) -> None:
        self.model = model
        self.dispatch = Dispatch(
            model, "update", using, triggers, operation="delete", via="cascade"
        )
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
            for names, rows in by_changes(new, snapshot.changes(new)).items():
                plain.bulk_update(rows, sorted(names))

    def after(self) -> None:
        for new, old, _ in self.pairs:
            self.dispatch.after(new, old)


def plan_updates(
    collector: Collector,
    gone: set[tuple[type[models.Model], Any]],
    lookup: Callable[[type[models.Model], str], tuple[TriggerMeta, ...]],
) -> list[SetUpdate]:
    """Plan the ``SET_*`` updates of models with update triggers; make their writes plain.

    Rows that the collector also deletes (Django nulls some keys first) are left out:
    they fire their delete triggers alone. The collector's queryset writes become plain
    querysets, so that a ``TriggerQuerySet.update()`` does not dispatch them a second time.
    """
    plans: dict[type[models.Model], SetUpdate] = {}
    for (field, value), entries in collector.field_updates.items():
        model = concrete(field.model)
        triggers = lookup(model, "update")
        if not triggers:
            continue
        update = plans.get(model) or plans.setdefault(
            model, SetUpdate(model, collector.using, triggers)
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
