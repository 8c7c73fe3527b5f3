"""Split a ``delete()`` in two: the rows no delete trigger wants, and the rest.

The update's split (:mod:`bulk_triggers.pushdown_write`) applied to ``delete()``, where
it is safe: the model's own delete triggers all have conditions with a SQL form (on the
deleted row: ``IsEqual``, ``WasEqual``, ``IsNotEqual`` and their compositions; the change
conditions are false on delete), and deleting a row of the model reaches no other
trigger, neither through cascades, ``SET_*`` updates, multi-table parents or children,
generic relations, nor back to the model itself (a self-referencing cascade would
delete, untriggered, rows a trigger wants), and no ``RESTRICT`` points at it (Django
lifts a restriction when the same delete cascades to the row, which the plain half
alone would not see). Then:

1. one statement finds the keys of the rows some trigger may want and locks every row
   of the filter (``FOR UPDATE``, as Django's ``DELETE`` would);
2. Django's own ``QuerySet.delete()`` deletes the rest, with its collector (cascades,
   signals, ``PROTECT``), never loaded by the library;
3. the rows found in step 1, by key, are deleted through the triggered path.

The counts are summed in Django's form. As for the update, a non-locking count comes
first: when :data:`~bulk_triggers.pushdown_write.DELETE_SPLIT_SHARE` of the rows or
more pass (``DELETE_BEFORE_SPLIT_SHARE`` with a before stage), the delete is not split:
the triggered path, one ``DELETE … RETURNING`` a chunk for after triggers only, is
cheaper then.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, cast

from django.db import connections, models, transaction
from django.db.models.deletion import (
    CASCADE,
    DO_NOTHING,
    PROTECT,
    RESTRICT,
    SET_DEFAULT,
    SET_NULL,
    get_candidate_relations_to_delete,
)

from bulk_triggers import conf
from bulk_triggers.deletion import delete_queryset
from bulk_triggers.dispatch import triggers_for
from bulk_triggers.pushdown import Planned
from bulk_triggers.pushdown_write import (
    DELETE_BEFORE_SPLIT_SHARE,
    DELETE_SPLIT_SHARE,
    by_key,
    pass_filter,
    passing_keys,
    rest,
    split_share,
    splittable,
    worth_splitting,
)
from bulk_triggers.registry import registry

__all__ = ["split_delete"]

_SKIPPED = (DO_NOTHING, PROTECT)


def split_delete(queryset: models.QuerySet[Any], using: str) -> tuple[int, dict[str, int]] | None:
    """Delete ``queryset``'s rows, those no trigger wants by Django alone; None if unsafe.

    None (the caller deletes every row through the triggered path) unless the model's
    active delete triggers all have a SQL form and the delete reaches no other trigger.
    """
    model = queryset.model
    triggers = triggers_for(model, "delete")
    if not triggers or not conf.flag("PUSHDOWN") or not splittable(queryset, {}):
        return None
    if _reaches_beyond(model):
        return None
    planned = Planned(model, "delete", connections[using].vendor)
    form = pass_filter(triggers, planned)
    if form is None or form.const is True:
        return None
    plain: models.QuerySet[Any] = models.QuerySet(
        model=model, query=queryset.query.chain(), using=using
    )
    if form.const is False:
        return plain.delete()
    before = any(("before", "delete") in trigger._methods for trigger in triggers)
    shares = DELETE_BEFORE_SPLIT_SHARE if before else DELETE_SPLIT_SHARE
    if not worth_splitting(plain, form.q, split_share(shares, connections[using].vendor)):
        return None  # Most rows pass: the triggered path is cheaper for them all.
    # One unit, as the delete Django would run: the locked key read needs a transaction,
    # and a trigger's exception must take the plain part back too.
    with transaction.atomic(using=using):
        keys = passing_keys(plain, form.q, using, no_key=False)
        total, counts = plain.filter(rest(form.q)).delete()
        merged = Counter(counts)
        for batch in by_key(model, keys, using):
            deleted, per_model = delete_queryset(batch, using)
            total += deleted
            merged.update(per_model)
    return total, {label: count for label, count in merged.items() if count}


def _reaches_beyond(start: type[models.Model]) -> bool:
    """Return whether deleting ``start``'s rows can reach a trigger but its own deletes.

    Walks what Django's collector follows (as :func:`bulk_triggers.deletion.may_fire`
    does): parents, cascades, custom handlers, generic relations; a ``SET_*`` counts
    when its model has update triggers. Reaching ``start`` again counts too, and so
    does a ``RESTRICT``, whose outcome depends on every row deleted in one collector.
    """
    home = start._meta.concrete_model
    seen: set[type[models.Model]] = set()
    todo: list[tuple[type[models.Model], bool]] = [(start, True)]
    while todo:
        model, first = todo.pop()
        if not first:
            if model._meta.concrete_model is home or registry.for_model(model, "delete"):
                return True
            if model in seen:
                continue
            seen.add(model)
        todo.extend((parent, False) for parent in model._meta.get_parent_list())
        for related in get_candidate_relations_to_delete(model._meta):
            on_delete = related.field.remote_field.on_delete  # type: ignore[attr-defined]
            target = cast("type[models.Model]", related.related_model)
            if on_delete is CASCADE:
                todo.append((target, False))
            elif on_delete is RESTRICT:
                # Django lifts a RESTRICT when the same delete cascades to the row from
                # elsewhere; two deletes (plain rows, then passing rows) would not.
                return True
            elif on_delete in _SKIPPED or hasattr(on_delete, "on_delete_sql"):
                continue
            elif target._meta.concrete_model is home or registry.for_model(target, "update"):
                return True
            elif on_delete not in (SET_NULL, SET_DEFAULT):
                todo.append((target, False))  # SET(...) or a custom handler: may cascade.
        todo.extend(
            (field.remote_field.model, False)
            for field in model._meta.private_fields
            if hasattr(field, "bulk_related_objects")
        )
    return False
