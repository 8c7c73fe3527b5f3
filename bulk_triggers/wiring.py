"""``save()`` and ``delete()`` with triggers on a model wired by its manager alone.

A model whose default manager hands out ``TriggerQuerySet`` but which does not subclass
``TriggerModelMixin`` gets the mixin's instance behaviour all the same: when the class
is prepared, its ``save()`` and ``delete()`` (the model's own overrides, or the ones it
inherits) are wrapped so that they dispatch as the mixin's do. The class itself, its
bases and its migrations are left as they are.

A model's override calling ``super().save()`` reaches a parent's wrapped ``save()``
inside the save already dispatched: a context variable says so, and that call goes
straight through. A trigger saving the same instance again dispatches again, as with the
mixin.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from django.db import models

from bulk_triggers.instance import delete_instance, save_instance

__all__ = ["wire_instance_methods"]

# The instance whose plain save()/delete() is running, below the wrapper that dispatched.
_saving: ContextVar[object | None] = ContextVar("bulk_triggers_saving", default=None)
_deleting: ContextVar[object | None] = ContextVar("bulk_triggers_deleting", default=None)
_WRAPPED = "_bulk_triggers_wrapped"


def wire_instance_methods(model: type[models.Model]) -> None:
    """Wrap ``model``'s ``save()`` and ``delete()`` so that they run its triggers.

    Only methods not wrapped yet: a subclass that overrides neither inherits its
    parent's wrappers.
    """
    if not _is_wrapped(model.save):
        model.save = _dispatching(model.save, save_instance, _saving)  # type: ignore[method-assign]
    if not _is_wrapped(model.delete):
        model.delete = _dispatching(model.delete, _delete, _deleting)  # type: ignore[method-assign]
    # Read by TriggerQuerySet: create() and update_or_create() leave it to save().
    model._bulk_triggers_saves = True  # type: ignore[attr-defined]


def _is_wrapped(method: Callable[..., Any]) -> bool:
    return bool(getattr(method, _WRAPPED, False))


def _delete(instance: models.Model, plain: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    using, keep_parents = _delete_options(*args, **kwargs)
    return delete_instance(instance, plain, using, keep_parents)


def _delete_options(using: str | None = None, keep_parents: bool = False) -> tuple[Any, bool]:
    """Return ``Model.delete()``'s arguments, however they were passed."""
    return using, keep_parents


def _dispatching(
    method: Callable[..., Any],
    dispatch: Callable[[models.Model, Callable[..., Any], Any, Any], Any],
    running: ContextVar[object | None],
) -> Callable[..., Any]:
    """Wrap ``method`` so that a call dispatches, and a call from inside its run does not.

    ``running`` holds the instance whose plain ``method`` is running: an override's
    ``super()`` call reaching a parent's wrapper then goes straight through.
    """

    @functools.wraps(method)
    def wrapper(self: models.Model, *args: Any, **kwargs: Any) -> Any:
        if running.get() is self:
            return method(self, *args, **kwargs)

        def plain(*args: Any, **kwargs: Any) -> Any:
            token = running.set(self)
            try:
                return method(self, *args, **kwargs)
            finally:
                running.reset(token)

        return dispatch(self, plain, args, kwargs)

    setattr(wrapper, _WRAPPED, True)
    return wrapper
