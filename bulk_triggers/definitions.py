"""What a trigger class may define, checked where the class is defined.

Every check raises :class:`~bulk_triggers.exceptions.TriggerDefinitionError` naming the
trigger and the attribute, with how to fix it. :mod:`bulk_triggers.trigger`'s metaclass
runs them; ``manage.py check`` runs :func:`check_condition_fields` again once every
model is known.
"""

from __future__ import annotations

import difflib
import inspect
from typing import TYPE_CHECKING, Any

from django.db import models

from bulk_triggers.conditions import Condition
from bulk_triggers.exceptions import TriggerDefinitionError
from bulk_triggers.paths import SEPARATOR, path_problem, preload_problem

if TYPE_CHECKING:
    from bulk_triggers.trigger import TriggerMeta

__all__ = [
    "EVENTS",
    "EVENT_METHODS",
    "STAGES",
    "check_attributes",
    "check_condition_fields",
    "check_event_methods",
    "check_model",
    "check_preloads",
    "check_unbound",
]

STAGES = ("before", "after", "commit")
EVENTS = ("create", "update", "delete")

# The positional parameters (after self) that each event's methods receive.
_EVENT_PARAMETERS = {"create": ("new",), "update": ("new", "old"), "delete": ("old",)}
EVENT_METHODS = {f"on_{stage}_{event}": (stage, event) for stage in STAGES for event in EVENTS}


def check_event_methods(cls: TriggerMeta, namespace: dict[str, Any]) -> None:
    for attr, value in namespace.items():
        if not attr.startswith("on_"):
            continue
        if attr not in EVENT_METHODS:
            close = difflib.get_close_matches(attr, EVENT_METHODS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise TriggerDefinitionError(
                f"Trigger {cls.label} defines {attr!r}, which is not an event method.{hint} "
                f"Event methods are on_<stage>_<event> with stage in {STAGES} and "
                f"event in {EVENTS}; rename other helpers so they do not start with 'on_'."
            )
        _check_signature(cls, attr, value)


def _check_signature(cls: TriggerMeta, attr: str, value: Any) -> None:
    if not inspect.isfunction(value):
        raise TriggerDefinitionError(
            f"Trigger {cls.label}.{attr} must be a plain method, got {value!r}."
        )
    if inspect.iscoroutinefunction(value):
        raise TriggerDefinitionError(
            f"Trigger {cls.label}.{attr} is async; event methods run inside the "
            "operation's transaction and must be synchronous (the async ORM calls run "
            "them in a worker thread)."
        )
    expected = _EVENT_PARAMETERS[EVENT_METHODS[attr][1]]
    try:
        inspect.signature(value).bind(None, *expected)
    except TypeError:
        wanted = ", ".join(("self", *expected))
        raise TriggerDefinitionError(
            f"Trigger {cls.label}.{attr} must accept ({wanted}); "
            f"its signature is {attr}{inspect.signature(value)}."
        ) from None


def check_attributes(cls: TriggerMeta) -> None:
    condition = cls.condition
    if condition is not None and not isinstance(condition, Condition):
        hint = ""
        if isinstance(condition, type) and issubclass(condition, Condition):
            hint = f" Instantiate it, for example {condition.__name__}('field')."
        raise TriggerDefinitionError(
            f"Trigger {cls.label}.condition must be a Condition instance such as "
            f"HasChanged('status'), got {condition!r}.{hint}"
        )
    order = cls.order
    if not isinstance(order, int) or isinstance(order, bool):
        raise TriggerDefinitionError(
            f"Trigger {cls.label}.order must be an integer, got {order!r}."
        )


def check_model(cls: TriggerMeta, model: type[models.Model]) -> None:
    if cls.condition is not None:
        check_condition_fields(cls, model, cls.condition)
    check_preloads(cls, model)


def check_unbound(cls: TriggerMeta, namespace: dict[str, Any]) -> None:
    """Refuse event methods on a class that names no model and is no generic base."""
    if cls._methods and not cls._generic:
        raise TriggerDefinitionError(
            f"Trigger {cls.label} defines event methods but names no model, so it would "
            f"never run. Declare the model, as in class {cls.__name__}(Trigger[MyModel]), or "
            f"make it a generic base, as in class {cls.__name__}(Trigger[M]) with "
            "M = TypeVar('M', bound=models.Model), and subclass it per model."
        )
    if namespace.get("replaces") is not None:
        raise TriggerDefinitionError(
            f"Trigger {cls.label} sets replaces but names no model; only a trigger bound "
            "to a model can replace another."
        )


def check_condition_fields(
    cls: TriggerMeta, model: type[models.Model], condition: Condition
) -> None:
    """Raise TriggerDefinitionError for a field the model does not have.

    Fields are looked up among the model's concrete fields, by name or attname; a model
    whose fields are not all known yet is left to ``manage.py check``.
    """
    known = {f.name for f in model._meta.concrete_fields}
    known |= {f.attname for f in model._meta.concrete_fields}
    for name in condition.field_names():
        if name in known:
            continue
        if SEPARATOR in name:
            problem = path_problem(model, name)
            if problem is None:
                continue
            raise TriggerDefinitionError(
                f"Trigger {cls.label}: its condition names the path {name!r}: {problem}."
            )
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise TriggerDefinitionError(
            f"Trigger {cls.label}: its condition names the field {name!r}, "
            f"which {model._meta.label} does not have.{hint}"
        )


def check_preloads(cls: TriggerMeta, model: type[models.Model]) -> None:
    """Raise TriggerDefinitionError for a ``select_related``/``prefetch_related`` typo."""
    for attr in ("select_related", "prefetch_related"):
        lookups = getattr(cls, attr)
        if isinstance(lookups, str) or not isinstance(lookups, (tuple, list)):
            raise TriggerDefinitionError(
                f"Trigger {cls.label}.{attr} must be a tuple of relation names, such as "
                f"('account',), got {lookups!r}."
            )
        for lookup in lookups:
            if attr == "prefetch_related" and isinstance(lookup, models.Prefetch):
                continue
            problem = (
                preload_problem(model, lookup, forward_only=attr == "select_related")
                if isinstance(lookup, str)
                else f"{lookup!r} is not a relation name"
            )
            if problem is not None:
                raise TriggerDefinitionError(f"Trigger {cls.label}.{attr}: {problem}.")
