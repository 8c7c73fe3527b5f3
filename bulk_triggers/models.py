"""``TriggerModelMixin``: triggers on ``save()`` and ``delete()`` of one instance."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from django.db.models.options import Options, make_immutable_fields_list
from django.db.models.signals import class_prepared
from django.utils.functional import cached_property

from bulk_triggers.instance import delete_instance, save_instance
from bulk_triggers.manager import TriggerManager
from bulk_triggers.queryset import TriggerQuerySet
from bulk_triggers.wiring import wire_instance_methods

__all__ = ["TriggerModelMixin"]


class TriggerModelMixin(models.Model):
    """An abstract model that runs triggers on ``save()``/``delete()`` and sets ``objects``.

    Bulk operations need the manager; instance operations need this mixin: use both,
    which is what subclassing this mixin gives you.
    """

    objects: TriggerManager[Any] = TriggerManager()
    # Read by TriggerQuerySet: this model's save() dispatches on its own, so create() and
    # update_or_create() leave it to save() (a flag, so the queryset need not import this).
    _bulk_triggers_saves: ClassVar[bool] = True

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        save_instance(self, super().save, args, kwargs)

    save.alters_data = True  # type: ignore[attr-defined]

    def delete(
        self, using: str | None = None, keep_parents: bool = False
    ) -> tuple[int, dict[str, int]]:
        result: tuple[int, dict[str, int]] = delete_instance(
            self, super().delete, using, keep_parents
        )
        return result

    delete.alters_data = True  # type: ignore[attr-defined]


class _TriggerOptions(Options):  # type: ignore[type-arg]
    """Options whose automatic base manager hands out ``TriggerQuerySet``.

    Django writes through the base manager in a few places (a reverse foreign key's
    ``add()`` moves rows with its ``update()``); Django's automatic base manager is a
    plain ``Manager`` and would skip the triggers. Swapping the class of a model's
    options, rather than adding a manager, keeps migrations unchanged.
    """

    @cached_property
    def base_manager(self) -> models.Manager[Any]:
        manager: models.Manager[Any] = Options.base_manager.func(self)  # type: ignore[attr-defined]
        if not manager.auto_created:
            return manager  # Meta.base_manager_name names one: it is the user's choice.
        replacement: TriggerManager[Any] = TriggerManager()
        replacement.name = manager.name
        replacement.model = self.model
        replacement.auto_created = True
        return replacement


class _ThroughOptions(_TriggerOptions):
    """Options of an auto-created many-to-many through model: its managers use triggers.

    ``add()``, ``remove()``, ``set()`` and ``clear()`` write through the through model's
    default manager, which Django creates as a plain ``Manager``; handing out
    ``TriggerQuerySet`` instead lets ``Trigger[Order.tags.through]`` fire. Without
    triggers, ``TriggerQuerySet`` is Django's own, query for query.
    """

    @cached_property
    def managers(self) -> Any:
        managers = Options.managers.func(self)  # type: ignore[attr-defined]
        return make_immutable_fields_list("managers", map(_trigger_manager, managers))


def _trigger_manager(manager: models.Manager[Any]) -> models.Manager[Any]:
    if type(manager) is not models.Manager:
        return manager
    replacement: TriggerManager[Any] = TriggerManager()
    replacement.name = manager.name
    replacement.model = manager.model
    replacement.auto_created = manager.auto_created
    replacement.creation_counter = manager.creation_counter
    return replacement


def use_trigger_managers(model: type[models.Model]) -> None:
    """Make ``model``'s automatic managers hand out ``TriggerQuerySet``, where it needs them.

    That is a :class:`TriggerModelMixin` subclass (its base manager), a model whose
    default manager hands out ``TriggerQuerySet`` (its base manager, and its ``save()``
    and ``delete()`` wrapped to dispatch as the mixin's do: see
    :mod:`bulk_triggers.wiring`) and an auto-created many-to-many through model (its
    default and base managers). Other models, and options classes that are not Django's
    own, are left as they are.
    """
    if type(model._meta) is not Options:
        return
    if issubclass(model, TriggerModelMixin):
        model._meta.__class__ = _TriggerOptions
    elif _wired_by_manager(model):
        wire_instance_methods(model)
        model._meta.__class__ = _TriggerOptions
    elif model._meta.auto_created:
        model._meta.__class__ = _ThroughOptions
        model._meta._expire_cache(reverse=False)  # type: ignore[attr-defined]


def _wired_by_manager(model: type[models.Model]) -> bool:
    """Return whether ``model``'s default manager hands out ``TriggerQuerySet``."""
    if model._meta.auto_created or model._meta.swapped:
        return False
    default = model._meta.default_manager
    return issubclass(getattr(default, "_queryset_class", object), TriggerQuerySet)


def _use_trigger_base_manager(sender: type[models.Model], **kwargs: Any) -> None:
    use_trigger_managers(sender)


class_prepared.connect(_use_trigger_base_manager)
