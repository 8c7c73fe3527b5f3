"""The trigger stages around one ``bulk_create()`` with conflicts, chunk by chunk.

:mod:`bulk_triggers.upsert` plans which objects insert and which update; this runs the
create and update stages around Django's own statement, and writes what before-update
triggers changed outside ``update_fields``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import NotSupportedError, models

from bulk_triggers.dispatch import Dispatch
from bulk_triggers.snapshot import Snapshot, by_changes, copy_back, writable_attnames
from bulk_triggers.trigger import TriggerMeta
from bulk_triggers.unique_keys import Key
from bulk_triggers.upsert import Options, Plan

__all__ = ["Steps"]


class Steps:
    """The trigger stages around one upsert chunk's write: create, then update."""

    def __init__(
        self,
        model: type[models.Model],
        options: Options,
        using: str,
        creates: tuple[TriggerMeta, ...],
        updates: tuple[TriggerMeta, ...],
        keys: Sequence[Key],
    ) -> None:
        self.model = model
        self.options = options
        self.keyed = tuple(dict.fromkeys(name for key in keys for name in key))
        self.create = (
            Dispatch(model, "create", using, creates, operation="bulk_create") if creates else None
        )
        self.update = (
            Dispatch(model, "update", using, updates, operation="bulk_create") if updates else None
        )
        self.watched = writable_attnames(model)
        self.plain: models.QuerySet[Any] = models.QuerySet(model=model, using=using)

    def run(self, plan: Plan[Any], write: Callable[[], Any]) -> None:
        """Run the before stages, ``write`` (Django's call), the extra writes, the after stages."""
        create, update = self.create, self.update
        if create and plan.inserts:
            self._before_create(create, plan.inserts)
        new: list[Any] = []
        old: list[Any] = []
        changes: list[frozenset[str]] = []
        if update and plan.updates:
            new, old = plan.materialize(self.options.update_fields)
            snapshot = Snapshot.take(new, self.watched) if update.has_before else None
            update.before(new, old)
            changes = snapshot.changes(new) if snapshot else [frozenset()] * len(new)
            callers = [step.caller for step in plan.updates]
            copy_back(callers, new, changes, self.options.update_fields)
        write()
        plan.settle()
        self._write_changes(new, changes)
        if create and plan.inserts:
            create.after(plan.inserts, None)
        if update and new:
            update.after(new, old)

    def _before_create(self, create: Dispatch, inserts: list[Any]) -> None:
        """Run the before-create stage; refuse a change to a key the plan was made on.

        Whether a row is inserted or updated was decided (and its keys locked) before
        triggers ran: a row whose key a trigger changes could meet another stored row.
        """
        snapshot = Snapshot.take(inserts, self.keyed) if create.has_before else None
        create.before(inserts, None)
        changed = (
            sorted({name for names in snapshot.changes(inserts) for name in names})
            if snapshot
            else []
        )
        if changed:
            raise ValueError(
                f"bulk_create() with conflicts on {self.model._meta.label}: a before-create "
                f"trigger changed {changed}, which decide whether a row is inserted or "
                "updated; set them before calling bulk_create()."
            )

    def _write_changes(self, new: Sequence[Any], changes: Sequence[frozenset[str]]) -> None:
        """Write the fields outside ``update_fields`` that before-update triggers changed."""
        written = frozenset(self.options.update_fields)
        groups = by_changes(new, [changed - written for changed in changes])
        for names, rows in groups.items():
            if any(row.pk is None for row in rows):
                raise NotSupportedError(
                    f"bulk_create() on {rows[0]._meta.label}: a before-update trigger changed "
                    f"{sorted(names)} on a row inserted earlier in the same call, whose "
                    "primary key the database did not return; put those fields in "
                    "update_fields."
                )
            self.plain.bulk_update(rows, sorted(names))
