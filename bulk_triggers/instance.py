"""Dispatch for one instance: ``Model.save()`` and ``Model.delete()``.

Never routed through the bulk path: a single save costs one locked SELECT of the stored
row on top of Django's own queries, and nothing at all when no trigger applies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import models, router, transaction

from bulk_triggers import loaded
from bulk_triggers.computed import pending, read_back
from bulk_triggers.deletion import delete_instance_rows, may_fire
from bulk_triggers.dispatch import Dispatch, triggers_for
from bulk_triggers.rows import load_one, writes_key
from bulk_triggers.snapshot import (
    MISSING,
    Snapshot,
    attname,
    copy_back,
    copy_value,
    stored_view,
    writable_attnames,
)

_SAVE_PARAMETERS = ("force_insert", "force_update", "using", "update_fields")


def save_instance(
    instance: models.Model, save: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Run ``save(*args, **kwargs)`` with the create or update triggers that apply.

    Create versus update follows Django: ``force_insert``, a missing primary key or a new
    instance whose primary key has a default insert; otherwise the stored row decides.
    """
    model = type(instance)
    # Taken off first: only a save that knows the stored values after it sets one again.
    captured = loaded.take(instance)
    creating = triggers_for(model, "create")
    updating = triggers_for(model, "update")
    if not creating and not updating:
        return save(*args, **kwargs)
    options = dict(zip(_SAVE_PARAMETERS, args, strict=False), **kwargs)
    update_fields = options.get("update_fields")
    if update_fields is not None:
        # Read it once: a generator would be exhausted by our checks before Django's.
        update_fields = options["update_fields"] = list(update_fields)
        args, kwargs = (), options
    # Django's first step: refuse unsaved related objects, copy ids of saved ones.
    instance._prepare_related_fields_for_save(operation_name="save")  # type: ignore[attr-defined]
    if _django_refuses(instance, options):
        return save(*args, **kwargs)
    using = options.get("using") or router.db_for_write(model, instance=instance)
    options["using"] = using
    if _inserts(instance, options):
        if not creating:
            return save(**options)
        return _save_new(instance, save, options, creating)
    if not updating and not instance._state.adding:
        # Loaded rows are updated, as Django assumes; only a new instance with an explicit
        # primary key needs the lookup to know whether Django will insert it.
        return save(**options)
    if captured is not None and updating:
        old = loaded.old_row(instance, using, captured)
        if old is not None:
            with transaction.atomic(using=using):
                result, stored = _save_existing(instance, old, save, options, updating)
            loaded.keep(instance, old, options.get("update_fields"), stored)
            return result
    return _save_as_stored(instance, save, options, creating, updating)


def _save_as_stored(
    instance: models.Model,
    save: Callable[..., Any],
    options: dict[str, Any],
    creating: Any,
    updating: Any,
) -> Any:
    """Save ``instance`` as an update or an insert, as its stored row (read locked) decides."""
    model = type(instance)
    using = options["using"]
    update_fields = options.get("update_fields")
    written = None if update_fields is None else [attname(model, n) for n in update_fields]
    with transaction.atomic(using=using):
        old = load_one(model, instance.pk, using, no_key=not writes_key(model, written))
        if old is None:
            if not creating or options.get("force_update") or update_fields is not None:
                return save(**options)  # Django inserts, or refuses an update of no row.
            # Inside this transaction already: no savepoint of its own.
            return _save_new_in_transaction(instance, save, options, creating)
        if not updating:
            return save(**options)
        result, stored = _save_existing(instance, old, save, options, updating)
    if loaded.enabled():
        loaded.keep(instance, old, options.get("update_fields"), stored)
    return result


def _django_refuses(instance: models.Model, options: dict[str, Any]) -> bool:
    """Return whether Django's save() raises, or does nothing, before writing a row."""
    update_fields = options.get("update_fields")
    if update_fields is not None and not update_fields:
        return True  # A no-op in Django.
    if options.get("force_insert") and (options.get("force_update") or update_fields):
        return True
    if update_fields is not None and not _known_fields(type(instance)).issuperset(update_fields):
        return True  # Django names the unknown fields.
    unset = not instance._is_pk_set()  # type: ignore[attr-defined]
    return unset and bool(options.get("force_update") or update_fields)


def _inserts(instance: models.Model, options: dict[str, Any]) -> bool:
    if options.get("force_insert"):
        return True
    if not instance._is_pk_set():  # type: ignore[attr-defined]
        return True
    pk = instance._meta.pk
    return bool(
        instance._state.adding
        and not options.get("force_update")
        and pk is not None
        and (pk.has_default() or pk.has_db_default())
    )


def _save_new(
    instance: models.Model, save: Callable[..., Any], options: dict[str, Any], triggers: Any
) -> Any:
    with transaction.atomic(using=options["using"]):
        return _save_new_in_transaction(instance, save, options, triggers)


def _save_new_in_transaction(
    instance: models.Model, save: Callable[..., Any], options: dict[str, Any], triggers: Any
) -> Any:
    """Insert ``instance`` with the create triggers, in the caller's ``atomic`` block."""
    model = type(instance)
    using = options["using"]
    dispatch = Dispatch(model, "create", using, triggers, operation="save")
    dispatch.before([instance], None)
    computed = pending(model, [instance])
    result = save(**options)
    dispatch.after(read_back(model, [instance], computed, using), None)
    return result


def _save_existing(
    instance: models.Model,
    old: models.Model,
    save: Callable[..., Any],
    options: dict[str, Any],
    triggers: Any,
) -> tuple[Any, dict[str, Any]]:
    """Save ``instance`` over the stored row ``old`` with the update triggers.

    Return Django's result and the stored values of the columns the database computed
    (generated columns, expressions): what :func:`bulk_triggers.loaded.keep` cannot know.
    """
    model = type(instance)
    using = options["using"]
    dispatch = Dispatch(model, "update", using, triggers, operation="save")
    update_fields = options.get("update_fields")
    update_fields = _deferred_save(instance, old, update_fields, using)
    row = instance
    written: set[str] = set()
    unwritten: list[str] = []
    if update_fields is not None:
        written = {attname(model, name) for name in update_fields}
        unwritten = [n for n in writable_attnames(model) if n not in written]
        row = stored_view([instance], [old], unwritten)[0]
    snapshot = Snapshot.take([row], unwritten) if written and dispatch.has_before else None
    dispatch.before([row], [old])
    if snapshot is not None:
        changes = snapshot.changes([row])
        copy_back([instance], [row], changes, sorted(written))
        update_fields = [*update_fields, *sorted(changes[0])]  # type: ignore[misc]
    if update_fields is not None:
        options["update_fields"] = update_fields
    computed = pending(model, [row])
    result = save(**options)
    if row is not instance:
        # Django sets values while it writes (auto_now, a pk's default): show them.
        for name in (*written, model._meta.pk.attname):
            if name in instance.__dict__:
                row.__dict__[name] = instance.__dict__[name]
    stored = read_back(model, [row], computed, using)
    # Read before the after stage, which may change the row without its being written.
    computed_values = {name: stored[0].__dict__.get(name, MISSING) for name in computed}
    dispatch.after(stored, [old])
    return result, computed_values


def _deferred_save(
    instance: models.Model, old: models.Model, update_fields: list[str] | None, using: str
) -> list[str] | None:
    """Return the fields Django's save() writes for an instance with deferred fields.

    Django writes only the loaded fields; with none loaded it writes every field, loading
    the deferred ones, which are then taken (copied) from the stored row just read.
    """
    deferred = instance.get_deferred_fields()
    if not deferred or update_fields is not None or instance._state.db != using:
        return update_fields
    model = type(instance)
    loaded = [name for name in writable_attnames(model) if name not in deferred]
    if loaded:
        return loaded
    for name in writable_attnames(model):
        if name in deferred:
            instance.__dict__[name] = copy_value(old.__dict__.get(name))
    return None


def delete_instance(
    instance: models.Model, delete: Callable[..., Any], using: str | None, keep_parents: bool
) -> Any:
    """Run ``delete(using, keep_parents)``, or the same delete with every trigger it reaches.

    With no trigger reachable through the deletion collector (see
    :func:`bulk_triggers.deletion.may_fire`), this is Django's own ``delete()``.
    """
    model = type(instance)
    if not may_fire(model) or not instance._is_pk_set():  # type: ignore[attr-defined]
        return delete(using=using, keep_parents=keep_parents)
    using = using or router.db_for_write(model, instance=instance)
    return delete_instance_rows(instance, delete, using, keep_parents)


def _known_fields(model: type[models.Model]) -> set[str]:
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    return {f.name for f in fields} | {f.attname for f in fields}
