"""``TriggerQuerySet``: the only module that knows how Django's bulk operations work.

Each write method first asks the dispatcher for active triggers; with none it is exactly
Django's method. With triggers it validates the input as Django would, then, chunk by
chunk and inside one transaction: loads the stored rows, runs the before stage, writes
through a plain ``QuerySet`` (so that ``bulk_update()`` calling ``update()`` does not
dispatch twice), and runs the after stage.

Each method here is the recipe only (guard, load, before, write, after); the planning
lives beside it: ``update_plan.py`` for ``update()``, ``bulk_update.py`` for
``bulk_update()``, ``upsert.py`` for ``bulk_create()`` with conflicts, ``deletion.py``
for ``delete()``, and Django's refusals, raised before any trigger, in ``refusals.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from functools import partial
from typing import Any, TypeVar

from django.db import connections, models, transaction

from bulk_triggers import conf, upsert, upsert_steps
from bulk_triggers.bulk_update import (
    django_batches,
    django_count,
    group_by_changes,
    pk_key,
    written_in_lock_order,
)
from bulk_triggers.composition import check_composition
from bulk_triggers.computed import pending, read_back
from bulk_triggers.deletion import delete_queryset, may_fire
from bulk_triggers.dispatch import Dispatch, chunks, triggers_for
from bulk_triggers.instance import save_instance
from bulk_triggers.pushdown_delete import split_delete
from bulk_triggers.pushdown_write import split_update
from bulk_triggers.refusals import (
    check_bulk_create,
    check_bulk_update,
    check_delete,
    refusal_of_django,
    refuse_as_django_would,
    refuse_as_django_would_here,
)
from bulk_triggers.rows import filters_on_window, load_by_pk, writes_key
from bulk_triggers.snapshot import Snapshot, copy_back, stored_view, writable_attnames
from bulk_triggers.unique_keys import is_unique_key, unique_keys
from bulk_triggers.update_plan import UpdatePlan, update_chunks, update_target
from bulk_triggers.update_returning import returning_update
from bulk_triggers.writes import can_fast_write, fast_bulk_update

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
        if _saves_with_triggers(self.model) or not triggers_for(self.model, "create"):
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
        if _saves_with_triggers(self.model) or not triggers_for(self.model, "update"):
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
        check_bulk_create(self, objs, *args, **kwargs)
        if not objs:
            return objs
        using = self._write_alias()
        dispatch = Dispatch(self.model, "create", using, triggers, operation="bulk_create")
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
        check_bulk_create(self, objs, *args, **kwargs)
        if not objs:
            return objs
        using = self._write_alias()
        plain = self._plain(using)
        self._prepare_for_bulk_create(objs)  # type: ignore[attr-defined]  # FK ids, pk defaults
        options = upsert.Options.parse(self.model, args, kwargs)
        if options.update and not is_unique_key(self.model, options.unique_fields):
            refusal_of_django(plain, objs, args, kwargs)
            raise ValueError(
                f"bulk_create() on {self.model._meta.label}: unique_fields "
                f"{list(options.unique_fields)} are not one of the model's unique keys "
                f"{unique_keys(self.model)}, so its triggers cannot tell which rows "
                "would be updated. Declare the constraint on the model."
            )
        planner = upsert.Planner(self.model, options, using)
        steps = upsert_steps.Steps(self.model, options, using, creates, updates, planner.keys)
        with transaction.atomic(using=using), planner.reserved(objs):
            for chunk in chunks(objs):
                plan = planner.plan(chunk)
                if plan.repeated:  # PostgreSQL refuses to change a row twice in one go.
                    refusal_of_django(plain, chunk, args, kwargs)
                steps.run(plan, partial(plain.bulk_create, chunk, *args, **kwargs))
        return objs

    def bulk_update(
        self, objs: Iterable[M], fields: Iterable[str], batch_size: int | None = None
    ) -> int:
        triggers = triggers_for(self.model, "update")
        if not triggers and not conf.flag("FAST_BULK_UPDATE"):
            return super().bulk_update(objs, fields, batch_size=batch_size)
        if not triggers:
            return _bulk_write(self, tuple(objs), list(fields), batch_size)
        objs = tuple(objs)
        fields = list(fields)
        written = check_bulk_update(self.model, objs, fields, batch_size)
        if not objs:
            return 0
        using = self._write_alias()
        dispatch = Dispatch(self.model, "update", using, triggers, operation="bulk_update")
        dispatch.inputs = objs
        plain = self._plain(using)
        batches = django_batches(self.model, objs, fields, batch_size, using)
        key = pk_key(self.model)
        ordered = written_in_lock_order(batches, key)
        watched = [name for name in writable_attnames(self.model) if name not in written]
        no_key = not writes_key(self.model, written)
        updated = 0
        existing: set[Any] = set()
        with transaction.atomic(using=using):
            for unique in chunks(ordered):
                pks = [key(obj.pk) for obj in unique]
                stored = load_by_pk(self.model, pks, using, no_key=no_key)
                existing.update(stored)
                callers: list[M] = [obj for obj in unique if key(obj.pk) in stored]
                old = [stored[key(obj.pk)] for obj in callers]
                new = stored_view(callers, old, watched)
                snapshot = Snapshot.take(new, watched) if dispatch.has_before else None
                dispatch.before(new, old)
                changes = snapshot.changes(new) if snapshot else [frozenset()] * len(new)
                copy_back(callers, new, changes, list(written))
                computed = pending(self.model, new)
                for extra, group in group_by_changes(unique, callers, changes):
                    updated += _bulk_write(plain, group, [*fields, *sorted(extra)], batch_size)
                dispatch.after(read_back(self.model, new, computed, using), old)
        if len(ordered) == len(objs):
            return updated
        return django_count(batches, key, existing)  # Duplicates: count as Django does.

    def update(self, **kwargs: Any) -> int:
        triggers = triggers_for(self.model, "update")
        if not triggers or not kwargs or self.query.is_empty():
            return super().update(**kwargs)
        using = self._write_alias()
        dispatch = Dispatch(self.model, "update", using, triggers, operation="update")
        target = update_target(self, using)
        updated = 0
        refuse_as_django_would(models.QuerySet.update, self, **kwargs)
        if filters_on_window(self):
            refuse_as_django_would_here(super().update, using, **kwargs)
        if (returning := returning_update(self, kwargs, dispatch, using)) is not None:
            with transaction.atomic(using=using):  # After triggers only: a statement a chunk.
                updated = returning.run(dispatch)
            self._result_cache = None
            return updated
        with transaction.atomic(using=using):
            plan = UpdatePlan(self.model, kwargs, connections[using])
            moved: set[Any] = set()  # Where rows went: later chunks must not see them again.
            # Rows no trigger's condition can pass are written by Django alone, unloaded.
            split = split_update(self, triggers, kwargs, plan.known(), using)
            sources: list[models.QuerySet[Any]] = [self] if split is None else split.batches
            updated += 0 if split is None else split.written
            for source in sources:
                for rows in update_chunks(source, plan, using, moved):
                    new, old, planned = plan.instances(rows, using)
                    dispatch.before(new, old)
                    changes = (
                        planned.changes(new) if dispatch.has_before else [frozenset()] * len(new)
                    )
                    updated += plan.write(target, new, old, changes)
                    moved.update(plan.moved(new, old))
                    dispatch.after(plan.stored(new, using, changes), old)
        self._result_cache = None
        return updated

    def delete(self) -> tuple[int, dict[str, int]]:
        if not may_fire(self.model) or self.query.is_empty():
            return super().delete()
        check_delete(self)
        using = self._write_alias()
        if filters_on_window(self):
            refuse_as_django_would_here(super().delete, using)
        # Rows no delete trigger's condition can pass are deleted by Django alone, unloaded.
        result = split_delete(self, using)
        if result is None:
            result = delete_queryset(self, using)
        self._result_cache = None
        return result

    delete.alters_data = True  # type: ignore[attr-defined]
    delete.queryset_only = True  # type: ignore[attr-defined]
    update.alters_data = True  # type: ignore[attr-defined]


def _saves_with_triggers(model: type[models.Model]) -> bool:
    """Return whether ``model``'s own ``save()`` dispatches (``TriggerModelMixin`` says so)."""
    return bool(getattr(model, "_bulk_triggers_saves", False))


def _bulk_write(
    queryset: models.QuerySet[M], objs: Sequence[M], fields: list[str], batch_size: int | None
) -> int:
    """Write as Django's bulk_update() does: one joined statement per batch where exact."""
    if can_fast_write(queryset, fields, objs, batch_size):
        return fast_bulk_update(queryset, objs, fields, batch_size)
    return models.QuerySet.bulk_update(queryset, objs, fields, batch_size)
