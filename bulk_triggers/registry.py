"""Which triggers run for a model and an event, in order. No ORM calls here."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from django.db.models import Model

if TYPE_CHECKING:
    from bulk_triggers.trigger import TriggerMeta

__all__ = ["Registry", "registry"]

_EVENTS = ("create", "update", "delete")


class Registry:
    """Map models to their triggers.

    A trigger applies to the model it is declared on, to that model's proxies, to its
    multi-table children (at any depth) and, when declared on an abstract model, to every
    concrete subclass. Lookups are cached per (model, event) and the cache is dropped on
    every change, so the dispatcher's question "does this model have triggers for this
    event?" is one dictionary lookup on the hot path, however deep the model's ancestry.
    """

    def __init__(self) -> None:
        self._triggers: list[TriggerMeta] = []
        self._cache: dict[tuple[type[Model], str], tuple[TriggerMeta, ...]] = {}
        self._declared: dict[tuple[type[Model], str], tuple[TriggerMeta, ...]] = {}
        self._lock = threading.Lock()
        # Bumped on every change, so that caches derived from the registry (the
        # deletion module's "can this delete fire anything?") know when to forget.
        self.version = 0

    def register(self, trigger: TriggerMeta) -> None:
        """Add ``trigger``; registering a class twice is a no-op."""
        with self._lock:
            if trigger not in self._triggers:
                self._triggers.append(trigger)
                self._forget()

    def unregister(self, trigger: TriggerMeta) -> None:
        """Remove ``trigger``; removing one that is not registered is a no-op."""
        with self._lock:
            if trigger in self._triggers:
                self._triggers.remove(trigger)
                self._forget()

    def _forget(self) -> None:
        self._cache = {}
        self._declared = {}
        self.version += 1

    def __iter__(self) -> Iterator[TriggerMeta]:
        return iter(sorted(self._triggers, key=lambda t: (t.order, t._definition_index)))

    def __contains__(self, trigger: object) -> bool:
        return trigger in self._triggers

    def models(self) -> list[type[Model]]:
        """Return the models triggers are declared on (abstract ones too), in registration order."""
        seen: dict[type[Model], None] = {}
        for trigger in self._triggers:
            if trigger.model is not None:
                seen.setdefault(trigger.model)
        return list(seen)

    def listed(self, candidates: Iterable[type[Model]]) -> list[type[Model]]:
        """Return the candidates that triggers apply to, as listings and checks show them.

        A concrete model is kept when any trigger applies to it; a proxy only when some
        trigger applies to it and not to its concrete model (it has triggers of its own).
        """
        kept = []
        for model in candidates:
            if model._meta.abstract:
                continue
            concrete = model._meta.concrete_model
            assert concrete is not None
            if any(
                self.for_model(model, event)
                and (
                    model is concrete
                    or self.for_model(model, event) != self.for_model(concrete, event)
                )
                for event in _EVENTS
            ):
                kept.append(model)
        return kept

    def for_model(self, model: type[Model], event: str) -> tuple[TriggerMeta, ...]:
        """Return the triggers that handle ``event`` for operations through ``model``.

        These are the triggers declared on ``model``, on the models it is a proxy of, on
        its multi-table parents at any depth, and on the abstract models any of these
        subclass. They are sorted by ``order``; among equal ``order``, a parent model's
        triggers run before its child's (proxies and abstract bases rank with the
        concrete model they belong to), then definition order decides.
        """
        key = (model, event)
        try:
            return self._cache[key]
        except KeyError:
            pass
        ranks = _ranks(model)
        found = tuple(
            sorted(
                (
                    trigger
                    for trigger in self._triggers
                    if trigger.model in ranks
                    and any(handled == event for _, handled in trigger._methods)
                ),
                key=lambda t: (t.order, ranks[t.model], t._definition_index),  # type: ignore[index]
            )
        )
        self._cache[key] = found
        return found

    def declared_for(self, model: type[Model], event: str) -> tuple[TriggerMeta, ...]:
        """Return :meth:`for_model` without the triggers that ``model`` inherits from MTI parents.

        A trigger that applies through any multi-table parent of ``model`` (declared on the
        parent, its proxies' lineage or an abstract base of the parent) is left out: a
        deletion that collects the parent rows runs those with the parent rows. The order
        is :meth:`for_model`'s.
        """
        key = (model, event)
        try:
            return self._declared[key]
        except KeyError:
            pass
        concrete = model._meta.concrete_model
        assert concrete is not None
        inherited: set[TriggerMeta] = set()
        for parent in concrete._meta.get_parent_list():
            inherited.update(self.for_model(parent, event))
        found = tuple(t for t in self.for_model(model, event) if t not in inherited)
        self._declared[key] = found
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
                self._forget()


def _ranks(model: type[Model]) -> dict[type[Model], int]:
    """Map each model whose triggers apply through ``model`` to its rank in the order.

    The rank of a concrete model is its number of multi-table ancestors, so a parent
    ranks before its children; a proxy ranks with its concrete model, an abstract model
    with the highest concrete model in ``model``'s ancestry that subclasses it.
    """
    lineage = [
        cls
        for cls in model.__mro__
        if isinstance(cls, type) and issubclass(cls, Model) and cls is not Model
    ]
    concrete = [cls for cls in lineage if not cls._meta.abstract and not cls._meta.proxy]
    depth = {cls: len(cls._meta.get_parent_list()) for cls in concrete}
    own = depth[model._meta.concrete_model] if concrete else 0  # type: ignore[index]
    ranks: dict[type[Model], int] = {}
    for cls in lineage:
        if cls._meta.abstract:
            ranks[cls] = min((depth[k] for k in concrete if issubclass(k, cls)), default=own)
        else:
            ranks[cls] = depth[cls._meta.concrete_model]  # type: ignore[index]
    return ranks


registry = Registry()
