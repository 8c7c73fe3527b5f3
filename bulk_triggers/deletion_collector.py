"""Django's deletion collector, made to load the rows every trigger of a delete receives.

:mod:`bulk_triggers.deletion` runs the collector's phases with the triggers between
them; this module only changes what the collector loads and locks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from django.db import models
from django.db.models.deletion import CASCADE, Collector

from bulk_triggers.dispatch import chunks, triggers_for
from bulk_triggers.key_arrays import with_keys
from bulk_triggers.registry import registry
from bulk_triggers.rows import locked

__all__ = ["TriggerCollector", "concrete", "triggers_of"]


def triggers_of(model: type[models.Model], event: str, *, active: bool = True) -> tuple[Any, ...]:
    """Return the triggers of ``event`` for rows of ``model``: the one lookup of this module.

    With ``active``, without those that ``bypass()`` or the testing helpers skip.
    """
    return triggers_for(model, event) if active else registry.for_model(model, event)


def concrete(model: type[models.Model]) -> type[models.Model]:
    """Return the concrete model whose table holds the rows of ``model`` (a proxy's own)."""
    return cast("type[models.Model]", model._meta.concrete_model)


class TriggerCollector(Collector):
    """Django's collector, which loads the full rows of every model that has triggers.

    Models with delete or update triggers are treated as having signal receivers: they
    are never fast-deleted nor loaded with deferred fields, so their rows can be handed
    to the triggers. Those rows are read under lock (:func:`~bulk_triggers.rows.locked`).
    The models Django would have fast-deleted are remembered in ``fast``: once their
    rows are loaded, :meth:`keep_fast` deletes them as Django would, one statement per
    chunk rather than one per hundred rows, by exactly the keys of the rows loaded.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fast: set[type[models.Model]] = set()
        self._as_django = False

    def _has_signal_listeners(self, model: type[models.Model]) -> bool:
        if super()._has_signal_listeners(model):  # type: ignore[misc]
            return True
        return not self._as_django and bool(
            triggers_of(model, "delete") or triggers_of(model, "update")
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

    def left_alone(self, keep: models.Model | None) -> set[type[models.Model]]:
        """Return the models whose instances :meth:`keep_fast` takes out of the collection.

        The collector's ``delete()`` never touches those instances (it clears the primary
        keys of the instances it deletes itself), so they need no detached copy.
        """
        return {model for model in self.fast if keep is None or type(keep) is not model}

    def keep_fast(self, keep: models.Model | None) -> None:
        """Turn the loaded rows of models Django would fast-delete back into fast deletes.

        The instance ``keep`` (``Model.delete()``'s own) stays collected, so that Django
        clears its primary key as it always does.
        """
        for model in self.left_alone(keep):
            instances = self.data.get(model)
            if not instances:
                continue
            del self.data[model]
            plain: models.QuerySet[Any] = models.QuerySet(model=model, using=self.using)
            pks = sorted(obj.pk for obj in instances)
            # One array parameter per chunk on PostgreSQL (``pk = ANY(%s)``), not one per key.
            self.fast_deletes.extend(with_keys(plain, chunk) for chunk in chunks(pks))

    def related_objects(
        self, related_model: type[models.Model], related_fields: Iterable[Any], objs: Any
    ) -> models.QuerySet[Any]:
        related_fields = list(related_fields)
        queryset = super().related_objects(related_model, related_fields, objs)
        cascades = any(field.remote_field.on_delete is CASCADE for field in related_fields)
        if cascades and triggers_of(related_model, "delete"):
            return locked(queryset, only_self=True)
        return queryset

    def collect(self, objs: Any, *args: Any, **kwargs: Any) -> None:
        if (
            isinstance(objs, models.QuerySet)
            and objs._result_cache is None
            and triggers_of(objs.model, "delete")
        ):
            objs = locked(objs, only_self=True)  # Generic relations' targets.
        super().collect(objs, *args, **kwargs)
