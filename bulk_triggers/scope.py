"""Per-thread, per-asyncio-task state: what is bypassed and which triggers are running.

Kept in ``contextvars`` rather than ``threading.local`` so that concurrent asyncio tasks
do not see each other's ``bypass()`` blocks.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import models

from bulk_triggers import conf
from bulk_triggers.trigger import TriggerMeta

if TYPE_CHECKING:
    from bulk_triggers.operation import Operation

__all__ = ["bypass", "is_bypassed"]

F = TypeVar("F", bound=Callable[..., Any])

# ``None`` in the set means "everything"; an empty frozenset means nothing is bypassed.
_bypassed: ContextVar[frozenset[object]] = ContextVar("bulk_triggers_bypassed", default=frozenset())
_restore: ContextVar[tuple[frozenset[object], ...]] = ContextVar(
    "bulk_triggers_bypass_restore", default=()
)
_chain: ContextVar[tuple[str, ...]] = ContextVar("bulk_triggers_chain", default=())
# The operation whose trigger call is running: operations it causes share its id.
_running: ContextVar[Operation | None] = ContextVar("bulk_triggers_running", default=None)
# Set by bulk_triggers.testing: the only triggers allowed to run.
_only: ContextVar[frozenset[TriggerMeta] | None] = ContextVar("bulk_triggers_only", default=None)

_EVERYTHING = None


class bypass:
    """Skip triggers while a block or a decorated function runs.

    ``bypass(ShipOrder)`` skips that trigger (and its subclasses), ``bypass(Order)`` every
    trigger declared on ``Order`` or its proxies, ``bypass()`` every trigger. Blocks nest;
    the state belongs to the current thread or asyncio task only. Decorated functions may
    be sync or async.

    Raises:
        TypeError: A target is neither a Trigger subclass nor a model class.
    """

    def __init__(self, *targets: type[Any]) -> None:
        for target in targets:
            if not (
                isinstance(target, TriggerMeta)
                or (isinstance(target, type) and issubclass(target, models.Model))
            ):
                raise TypeError(
                    f"bypass() takes Trigger subclasses or model classes, got {target!r}."
                )
        self.targets: frozenset[object] = (
            frozenset(targets) if targets else frozenset({_EVERYTHING})
        )

    def __enter__(self) -> None:
        # What to restore is kept per context, not on the instance, so that one bypass
        # object may be entered by concurrent tasks and threads at once.
        current = _bypassed.get()
        _restore.set((*_restore.get(), current))
        _bypassed.set(current | self.targets)

    def __exit__(self, *exc_info: object) -> None:
        *rest, previous = _restore.get()
        _restore.set(tuple(rest))
        _bypassed.set(previous)

    def __call__(self, func: F) -> F:
        targets = tuple(t for t in self.targets if isinstance(t, type))

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with bypass(*targets):
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with bypass(*targets):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def is_bypassed(target: object) -> bool:
    """Return whether ``target`` is skipped in the current context.

    For a trigger: a ``bypass()`` block names it (or a parent trigger, or its model), or
    ``BULK_TRIGGERS["DISABLED"]`` lists it. For a model: a ``bypass()`` block names it (or
    its concrete model) or bypasses everything, so none of its triggers run.

    Raises:
        TypeError: ``target`` is neither a Trigger subclass nor a model class.
    """
    if isinstance(target, TriggerMeta):
        return target.label in conf.disabled() or _bypassed_trigger(target)
    if isinstance(target, type) and issubclass(target, models.Model):
        bypassed = _bypassed.get()
        return _EVERYTHING in bypassed or _names_model(bypassed, target)
    raise TypeError(f"is_bypassed() takes a Trigger subclass or a model class, got {target!r}.")


def _bypassed_trigger(trigger: TriggerMeta) -> bool:
    bypassed = _bypassed.get()
    if not bypassed:
        return False
    if _EVERYTHING in bypassed:
        return True
    if any(cls in bypassed for cls in trigger.__mro__):
        return True
    model = trigger.model
    return model is not None and _names_model(bypassed, model)


def _names_model(bypassed: frozenset[object], model: type[models.Model]) -> bool:
    return any(
        isinstance(target, type)
        and issubclass(target, models.Model)
        and issubclass(model, target)
        and model._meta.concrete_model is target._meta.concrete_model
        for target in bypassed
    )


def active(triggers: tuple[TriggerMeta, ...]) -> tuple[TriggerMeta, ...]:
    """Return ``triggers`` without the skipped ones (the same tuple when none are)."""
    only = _only.get()
    if only is not None:
        triggers = tuple(t for t in triggers if any(cls in only for cls in t.__mro__))
    disabled = conf.disabled()
    if disabled:
        triggers = tuple(t for t in triggers if t.label not in disabled)
    if not _bypassed.get():
        return triggers
    return tuple(trigger for trigger in triggers if not _bypassed_trigger(trigger))


def current_chain() -> tuple[str, ...]:
    """Return the trigger calls running in this context, outermost first."""
    return _chain.get()


def running() -> Operation | None:
    """Return the operation whose trigger call is running in this context, if any."""
    return _running.get()


Entered = tuple[Token[tuple[str, ...]], Token["Operation | None"]]


def enter(label: str, operation: Operation | None = None) -> Entered:
    """Record ``label`` as the innermost running trigger call; undo with :func:`leave`.

    ``operation`` is the operation that calls it: operations the call causes nest in it.
    A pair of functions rather than a context manager: it runs around every trigger
    call, where a generator-based context manager's overhead shows.
    """
    return _chain.set((*_chain.get(), label)), _running.set(operation)


def leave(token: Entered) -> None:
    """Undo the :func:`enter` that returned ``token``."""
    _running.reset(token[1])
    _chain.reset(token[0])
