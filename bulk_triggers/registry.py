"""Which triggers run for a model and an event, in order. No ORM calls here."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.db.models import Model

    from bulk_triggers.trigger import TriggerMeta

__all__ = ["Registry", "registry"]


class Registry:
    """Map models to their triggers.

    Lookups are cached per (model, event) and the cache is dropped on every change, so
    the dispatcher's question "does this model have triggers for this event?" is one
    dictionary lookup on the hot path.
    """

    def __init__(self) -> None:
        self._triggers: list[TriggerMeta] = []
        self._cache: dict[tuple[type[Model], str], tuple[TriggerMeta, ...]] = {}
        self._lock = threading.Lock()
        # Bumped on every change, so that caches derived from the registry (the
        # deletion module's "can this delete fire anything?") know when to forget.
        self.version = 0

    def register(self, trigger: TriggerMeta) -> None:
        """Add ``trigger``; registering a class twice is a no-op."""
        with self._lock:
            if trigger not in self._triggers:
                self._triggers.append(trigger)
                self._cache = {}
                self.version += 1

    def unregister(self, trigger: TriggerMeta) -> None:
        """Remove ``trigger``; removing one that is not registered is a no-op."""
        with self._lock:
            if trigger in self._triggers:
                self._triggers.remove(trigger)
                self._cache = {}
                self.version += 1

    def __iter__(self) -> Iterator[TriggerMeta]:
        return iter(sorted(self._triggers, key=_sort_key))

    def __contains__(self, trigger: object) -> bool:
        return trigger in self._triggers

    def models(self) -> list[type[Model]]:
        """Return the models that have at least one trigger, in registration order."""
        seen: dict[type[Model], None] = {}
        for trigger in self._triggers:
            if trigger.model is not None:
                seen.setdefault(trigger.model)
        return list(seen)

    def for_model(self, model: type[Model], event: str) -> tuple[TriggerMeta, ...]:
        """Return the triggers that handle ``event`` for operations through ``model``.

        These are the triggers declared on ``model`` and on the models it is a proxy of,
        sorted by ``order`` and then by definition order.
        """
        key = (model, event)
        try:
            return self._cache[key]
        except KeyError:
            pass
        targets = set(_proxy_lineage(model))
        found = tuple(
            sorted(
                (
                    trigger
                    for trigger in self._triggers
                    if trigger.model in targets
                    and any(handled == event for _, handled in trigger._methods)
                ),
                key=_sort_key,
            )
        )
        self._cache[key] = found
        return found

    @contextmanager
    def isolated(self) -> Iterator[None]:
        """Forget, on exit, every trigger registered inside the block, and restore removed ones."""
        with self._lock:
            saved = list(self._triggers)
        try:
            yield
        finally:
            with self._lock:
                self._triggers = saved
                self._cache = {}
                self.version += 1


def _proxy_lineage(model: type[Model]) -> Iterator[type[Model]]:
    """Yield ``model`` and each model it proxies, up to and including the concrete one."""
    current: type[Model] | None = model
    while current is not None:
        yield current
        current = current._meta.proxy_for_model if current._meta.proxy else None


def _sort_key(trigger: TriggerMeta) -> tuple[int, int]:
    return (trigger.order, trigger._definition_index)


registry = Registry()
