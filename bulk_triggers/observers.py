"""Watch trigger method calls as they run: the hook behind test captures and the toolbar panel.

An observer is told when each trigger method call starts and when it ends, nested calls
included, in the current thread or asyncio task only. The dispatcher reads one context
variable per call; with no observer installed that read is all this costs. The dispatcher
knows nothing of who observes: ``bulk_triggers.testing`` and
``bulk_triggers.contrib.debug_toolbar`` install observers here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any, Protocol

from django.db import models

from bulk_triggers.trigger import TriggerMeta

__all__ = ["Observer", "TriggerCall", "observe", "observing", "unobserve"]


@dataclass(frozen=True)
class TriggerCall:
    """One trigger method call, as observers see it.

    ``args`` are the lists the method receives (``new``, ``new, old`` or ``old``), the
    same objects: they show the rows as the method leaves them.
    """

    trigger: TriggerMeta
    stage: str
    event: str
    model: type[models.Model]
    args: tuple[list[Any], ...]
    using: str

    @property
    def new(self) -> list[Any] | None:
        """Return the new rows, or None for a delete."""
        return self.args[0] if self.event != "delete" else None

    @property
    def old(self) -> list[Any] | None:
        """Return the stored rows, or None for a create."""
        return self.args[-1] if self.event != "create" else None

    @property
    def rows(self) -> int:
        """Return how many rows the method receives."""
        return len(self.args[0])

    @property
    def method(self) -> str:
        """Return the event method's name, such as ``"on_after_update"``."""
        return f"on_{self.stage}_{self.event}"


class Observer(Protocol):
    """What the dispatcher calls around each trigger method call."""

    def started(self, call: TriggerCall) -> None:
        """Note that ``call`` is about to run (an outer call is still running if nested)."""

    def finished(self, call: TriggerCall, error: BaseException | None) -> None:
        """Note that ``call`` has returned, or raised ``error``."""


_observers: ContextVar[tuple[Observer, ...]] = ContextVar("bulk_triggers_observers", default=())

#: The observers installed in this context, innermost last. A bound method rather than a
#: function of ours, so that the dispatcher's check costs the context variable read alone.
current: Callable[[], tuple[Observer, ...]] = _observers.get


def observe(observer: Observer) -> Token[tuple[Observer, ...]]:
    """Install ``observer`` in this context until :func:`unobserve` gets the token returned.

    A pair of functions for callers whose start and end are separate methods (a toolbar
    panel's ``enable_instrumentation``); others use :func:`observing`.
    """
    return _observers.set((*_observers.get(), observer))


def unobserve(token: Token[tuple[Observer, ...]]) -> None:
    """Remove the observer that :func:`observe` installed when it returned ``token``."""
    _observers.reset(token)


@contextmanager
def observing(observer: Observer) -> Iterator[Observer]:
    """Install ``observer`` while the block runs."""
    token = observe(observer)
    try:
        yield observer
    finally:
        unobserve(token)


def run(
    watching: tuple[Observer, ...],
    call: TriggerCall,
    method: Callable[..., Any],
    instance: Any,
) -> Any:
    """Run ``method`` on ``instance`` with the call's arguments, telling ``watching`` around it.

    Every observer that was told of the start is told of the end, in reverse order, even
    when the method raises; the method's exception propagates unchanged.
    """
    told: list[Observer] = []
    error: BaseException | None = None
    try:
        for observer in watching:
            observer.started(call)
            told.append(observer)
        return method(instance, *call.args)
    except BaseException as exc:
        error = exc
        raise
    finally:
        for observer in reversed(told):
            observer.finished(call, error)
