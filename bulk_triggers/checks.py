"""System checks that make silently skipped triggers loud (``manage.py check``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.apps import apps
from django.core import checks
from django.db import models

from bulk_triggers.cascade_checks import check_database_deletes
from bulk_triggers.definitions import EVENT_METHODS, EVENTS, check_condition_fields
from bulk_triggers.exceptions import TriggerDefinitionError
from bulk_triggers.links import with_links
from bulk_triggers.registry import registry
from bulk_triggers.runtime import check_settings
from bulk_triggers.trigger import TriggerMeta

# Event method names without their "on_" (a method called before_update never runs).
_BARE_EVENT_NAMES = {name.removeprefix("on_"): name for name in EVENT_METHODS}


def check_triggers(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Check every trigger and every model that has triggers."""
    selected = {config.label for config in app_configs} if app_configs else None
    messages: list[checks.CheckMessage] = check_settings() if selected is None else []
    triggers = [t for t in registry if t.model is not None]
    for trigger in triggers:
        model = trigger.model
        assert model is not None
        if selected is None or model._meta.app_label in selected:
            messages.extend(_check_trigger(trigger, model))
    for model in registry.listed(apps.get_models()):
        if selected is None or model._meta.app_label in selected:
            applying = {t for event in EVENTS for t in registry.for_model(model, event)}
            names = [t.label for t in triggers if t in applying]
            messages.extend(_check_model(model, names))
    messages.extend(check_database_deletes(selected))
    return with_links(messages)


def _check_trigger(
    trigger: TriggerMeta, model: type[models.Model]
) -> Iterable[checks.CheckMessage]:
    # An abstract model needs no app: its concrete subclasses are checked as models.
    if not model._meta.abstract and (
        model._meta.app_config is None or not apps.is_installed(model._meta.app_config.name)
    ):
        yield checks.Error(
            f"Trigger {trigger.label} is declared on {model._meta.label}, whose app is not "
            "in INSTALLED_APPS.",
            hint="Add the model's app to INSTALLED_APPS, or remove the trigger.",
            obj=trigger,
            id="bulk_triggers.E004",
        )
    if trigger.condition is not None:
        try:
            check_condition_fields(trigger, model, trigger.condition)
        except TriggerDefinitionError as exc:
            yield checks.Error(str(exc), obj=trigger, id="bulk_triggers.E003")
    if not trigger._methods:
        yield checks.Warning(
            f"Trigger {trigger.label} defines no event method, so it never runs.",
            hint="Define on_<stage>_<event> methods, such as on_after_update(self, new, old).",
            obj=trigger,
            id="bulk_triggers.W005",
        )
    for bare, event_method in _BARE_EVENT_NAMES.items():
        if (
            callable(getattr(trigger, bare, None))
            and EVENT_METHODS[event_method] not in trigger._methods
        ):
            yield checks.Warning(
                f"Trigger {trigger.label} defines {bare!r}, which is not an event method "
                f"and never runs. Did you mean {event_method!r}?",
                hint=f"Rename it {event_method}, or give the helper another name.",
                obj=trigger,
                id="bulk_triggers.W008",
            )


def _check_model(model: type[models.Model], names: list[str]) -> Iterable[checks.CheckMessage]:
    from bulk_triggers.models import TriggerModelMixin
    from bulk_triggers.queryset import TriggerQuerySet

    label = model._meta.label
    listed = ", ".join(names) if names else "its triggers"
    default = model._default_manager
    wired = _uses(default, TriggerQuerySet)
    if not wired:
        yield checks.Error(
            f"{label} has triggers ({listed}) but its default manager "
            f"{default.name!r} ({type(default).__qualname__}) does not use TriggerQuerySet: "
            "bulk_create(), bulk_update(), update() and delete() would skip them.",
            hint=_manager_hint(model, default),
            obj=model,
            id="bulk_triggers.E001",
        )
    # An auto-created through model cannot take the mixin, nor needs it: many-to-many
    # writes go through its manager. A model whose default manager is wired has its
    # save() and delete() wired too (bulk_triggers.wiring).
    if not wired and not issubclass(model, TriggerModelMixin) and not model._meta.auto_created:
        yield checks.Error(
            f"{label} has triggers ({listed}) but does not subclass TriggerModelMixin: "
            "obj.save() and obj.delete() would skip them.",
            hint="Add TriggerModelMixin to the model's bases.",
            obj=model,
            id="bulk_triggers.E002",
        )
    for manager in model._meta.managers:
        if manager is not default and not _uses(manager, TriggerQuerySet):
            yield checks.Warning(
                f"{label}.{manager.name} ({type(manager).__qualname__}) does not use "
                f"TriggerQuerySet: bulk operations through it skip {listed}.",
                hint="Build it with from_queryset() on a TriggerQuerySet subclass.",
                obj=model,
                id="bulk_triggers.W006",
            )


def _manager_hint(model: type[models.Model], default: Any) -> str:
    from bulk_triggers.models import TriggerModelMixin

    from_queryset = (
        "build custom managers with MyManager.from_queryset(MyQuerySet) where MyQuerySet "
        "subclasses TriggerQuerySet"
    )
    if issubclass(model, TriggerModelMixin):
        # The mixin is there: a manager declared on the model shadows its objects.
        return (
            f"The model's own manager {default.name!r} became its default, ahead of the "
            "mixin's objects: declare objects = TriggerManager() first in the model, or set "
            f"Meta.default_manager_name = 'objects', or {from_queryset}."
        )
    return f"Subclass TriggerModelMixin, or declare objects = TriggerManager(), or {from_queryset}."


def _uses(manager: Any, queryset_class: type) -> bool:
    return issubclass(getattr(manager, "_queryset_class", object), queryset_class)
