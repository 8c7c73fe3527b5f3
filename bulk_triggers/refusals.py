"""Django's refusals, raised before any trigger runs: what Django refuses, we refuse first.

Each check raises Django's own exception, with Django's message, for input the plain
operation would refuse; where only Django (or the database) can tell, its own call runs
on an empty queryset or in a savepoint that is always rolled back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import models, transaction

from bulk_triggers.snapshot import clone

__all__ = [
    "check_bulk_create",
    "check_bulk_update",
    "check_delete",
    "check_instances",
    "refusal_of_django",
    "refuse_as_django_would",
    "refuse_as_django_would_here",
]

_BULK_CREATE_OPTIONS = (
    "batch_size",
    "ignore_conflicts",
    "update_conflicts",
    "update_fields",
    "unique_fields",
)


def check_bulk_create(
    queryset: models.QuerySet[Any], objs: Sequence[Any], /, *args: Any, **kwargs: Any
) -> None:
    """Refuse, before any trigger runs, what Django's bulk_create() would refuse."""
    options = dict(zip(_BULK_CREATE_OPTIONS, args, strict=False), **kwargs)
    batch_size = options.get("batch_size")
    if batch_size is not None and batch_size <= 0:
        raise ValueError("Batch size must be a positive integer.")
    model = queryset.model
    opts = model._meta
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
    queryset._check_bulk_create_options(  # type: ignore[attr-defined]
        options.get("ignore_conflicts", False),
        options.get("update_conflicts", False),
        update_fields or None,
        unique_fields or None,
    )
    # Django prepares related objects after checking the options: refuse in its order.
    check_instances(model, objs, "bulk_create")


def _primary_key_fields(model: type[models.Model]) -> set[Any]:
    """Return the fields of the model's and its parents' keys (a composite key's parts too)."""
    opts = model._meta
    fields = set(opts.pk_fields)
    for parent in opts.get_parent_list():
        fields.update(parent._meta.pk_fields)
    return fields


def check_bulk_update(
    model: type[models.Model],
    objs: Sequence[models.Model],
    fields: Sequence[str],
    batch_size: int | None,
) -> set[str]:
    """Refuse what Django's bulk_update() refuses; return the attnames it writes."""
    if batch_size is not None and batch_size <= 0:
        raise ValueError("Batch size must be a positive integer.")
    if not fields:
        raise ValueError("Field names must be given to bulk_update().")
    if not all(obj._is_pk_set() for obj in objs):  # type: ignore[attr-defined]
        raise ValueError("All bulk_update() objects must have a primary key set.")
    resolved = [model._meta.get_field(name) for name in fields]
    if any(not f.concrete or f.many_to_many for f in resolved):
        raise ValueError("bulk_update() can only be used with concrete fields.")
    if any(f in _primary_key_fields(model) for f in resolved):
        raise ValueError("bulk_update() cannot be used with primary key fields.")
    check_instances(model, objs, "bulk_update", resolved)
    return {f.attname for f in resolved}  # type: ignore[union-attr]


def check_delete(queryset: models.QuerySet[Any]) -> None:
    """Refuse what Django's delete() refuses, without touching the database.

    (Django's own delete() on an empty copy would open a transaction to find that.)
    """
    queryset._not_support_combined_queries("delete")  # type: ignore[attr-defined]
    if queryset.query.is_sliced:
        raise TypeError("Cannot use 'limit' or 'offset' with delete().")
    if queryset.query.distinct_fields:
        raise TypeError("Cannot call delete() after .distinct(*fields).")
    if queryset._fields is not None:  # type: ignore[attr-defined]
        raise TypeError("Cannot call delete() after .values() or .values_list()")


def check_instances(
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


def refuse_as_django_would(
    method: Callable[..., Any], queryset: models.QuerySet[Any], /, **kwargs: Any
) -> Any:
    """Run Django's own ``method`` on an empty copy of ``queryset`` and return its result.

    Django validates its arguments (slices, unknown fields, joined references in update
    expressions, …) before it queries; on an empty queryset ``update()`` then stops
    without touching the database. So every refusal is Django's own, on every supported
    version, before any trigger runs.
    """
    return method(queryset.none(), **kwargs)


def refuse_as_django_would_here(
    method: Callable[..., Any], using: str, /, *args: Any, **kwargs: Any
) -> None:
    """Run Django's own ``method`` in a savepoint that is always rolled back.

    For what only the database (or Django, once it has the data) refuses: a window
    function in the filter of an UPDATE or DELETE, a bulk_create() PostgreSQL would
    refuse. The refusal is then Django's own exception, raised before any trigger; if
    the call succeeds, this returns, and nothing it wrote is kept.
    """
    try:
        with transaction.atomic(using=using):
            method(*args, **kwargs)
            raise _RolledBack
    except _RolledBack:
        pass


def refusal_of_django(
    plain: models.QuerySet[Any], objs: Sequence[Any], args: Any, kwargs: dict[str, Any]
) -> None:
    """Raise what Django's bulk_create() of ``objs`` raises, before any trigger runs.

    The call runs on copies, in a savepoint that is always rolled back, so it changes
    neither the database nor the caller's objects; if it succeeds, this returns.
    """
    copies = [clone(obj) for obj in objs]
    refuse_as_django_would_here(plain.bulk_create, plain.db, copies, *args, **kwargs)


class _RolledBack(Exception):
    """Undo a savepoint in which Django's own call was only asked whether it refuses."""
