"""Dispatch for one instance: ``Model.save()`` and ``Model.delete()``.

Never routed through the bulk path: a single save costs one locked SELECT of the stored
row on top of Django's own queries, and nothing at all when no trigger applies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import models, router, transaction

from bulk_triggers.dispatch import Dispatch, triggers_for
from bulk_triggers.rows import load_one
from bulk_triggers.snapshot import (
    Snapshot,
    attname,
    copy_back,
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
    if (update_fields is not None and not update_fields) or (
        options.get("force_insert") and options.get("force_update")
    ):
        return save(*args, **kwargs)  # A no-op, or an error, in Django.
    if update_fields is not None and not _known_fields(model).issuperset(update_fields):
        return save(*args, **kwargs)  # Django names the unknown fields.
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
    with transaction.atomic(using=using):
        old = load_one(model, instance.pk, using)
        if old is None:
            if not creating or options.get("force_update"):
                return save(**options)
            return _save_new(instance, save, options, creating)
        if not updating:
            return save(**options)
        return _save_existing(instance, old, save, options, updating)


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
    dispatch = Dispatch(type(instance), "create", options["using"], triggers, operation="save")
    with transaction.atomic(using=options["using"]):
        dispatch.before([instance], None)
        result = save(**options)
        dispatch.after([instance], None)
    return result


def _save_existing(
    instance: models.Model,
    old: models.Model,
    save: Callable[..., Any],
    options: dict[str, Any],
    triggers: Any,
) -> Any:
    model = type(instance)
    using = options["using"]
    dispatch = Dispatch(model, "update", using, triggers, operation="save")
    update_fields = options.get("update_fields")
    deferred = instance.get_deferred_fields()
    if deferred:
        if update_fields is None and instance._state.db == using:
            # Django saves only the loaded fields of a deferred instance; keep that.
            update_fields = [name for name in writable_attnames(model) if name not in deferred]
        for name in deferred:
            instance.__dict__[name] = old.__dict__.get(name)
    snapshot = None
    row = instance
    if update_fields is not None:
        written = {attname(model, name) for name in update_fields}
        unwritten = [n for n in writable_attnames(model) if n not in written]
        row = stored_view([instance], [old], unwritten)[0]
        if dispatch.has_before:
            snapshot = Snapshot.take([row], unwritten)
    dispatch.before([row], [old])
    if snapshot is not None:
        changes = snapshot.changes([row])
        copy_back([instance], [row], changes, sorted(written))
        update_fields = [*update_fields, *sorted(changes[0])]  # type: ignore[misc]
    if update_fields is not None:
        options["update_fields"] = update_fields
    result = save(**options)
    dispatch.after([row], [old])
    return result


def delete_instance(
    instance: models.Model, delete: Callable[..., Any], using: str | None, keep_parents: bool
) -> Any:
    """Run ``delete(using, keep_parents)`` with the delete triggers that apply."""
    model = type(instance)
    triggers = triggers_for(model, "delete")
    if not triggers or not instance._is_pk_set():  # type: ignore[attr-defined]
        return delete(using=using, keep_parents=keep_parents)
    using = using or router.db_for_write(model, instance=instance)
    dispatch = Dispatch(model, "delete", using, triggers, operation="delete")
    with transaction.atomic(using=using):
        old = load_one(model, instance.pk, using)
        if old is None:
            return delete(using=using, keep_parents=keep_parents)
        dispatch.before(None, [old])
        result = delete(using=using, keep_parents=keep_parents)
        dispatch.after(None, [old])
    return result


def _known_fields(model: type[models.Model]) -> set[str]:
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    return {f.name for f in fields} | {f.attname for f in fields}
