"""Helpers for testing code that has triggers, in pytest and in Django's ``TestCase``.

Each helper is a context manager that cleans up after itself; in a ``TestCase`` use
``self.enterContext(...)`` (Python 3.11+) or ``with`` blocks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bulk_triggers.context import _capturing, _only
from bulk_triggers.registry import registry
from bulk_triggers.tasks import CapturedTasks, capture_tasks
from bulk_triggers.trigger import TriggerMeta

__all__ = [
    "Capture",
    "CapturedCall",
    "CapturedTasks",
    "capture_tasks",
    "capture_triggers",
    "isolated_registry",
    "only_triggers",
]


@dataclass(frozen=True)
class CapturedCall:
    """One dispatched trigger method call, as :func:`capture_triggers` records it."""

    trigger: TriggerMeta
    stage: str
    event: str
    new: list[Any] | None
    old: list[Any] | None
    using: str

    @property
    def method(self) -> str:
        """Return the event method's name, such as ``"on_after_update"``."""
        return f"on_{self.stage}_{self.event}"


@dataclass
class Capture:
    """The calls recorded by :func:`capture_triggers`, in the order they ran."""

    calls: list[CapturedCall] = field(default_factory=list)

    def of(
        self, trigger: TriggerMeta | None = None, stage: str | None = None, event: str | None = None
    ) -> list[CapturedCall]:
        """Return the calls matching every argument given."""
        return [
            call
            for call in self.calls
            if (trigger is None or call.trigger is trigger)
            and (stage is None or call.stage == stage)
            and (event is None or call.event == event)
        ]

    def __len__(self) -> int:
        return len(self.calls)


@contextmanager
def capture_triggers() -> Iterator[Capture]:
    """Record every trigger method call made in the block; the triggers still run.

    The lists recorded are the ones the method received, so they show rows as the
    method left them.
    """
    capture = Capture()
    token = _capturing.set((*_capturing.get(), capture.calls))
    try:
        yield capture
    finally:
        _capturing.reset(token)


@contextmanager
def only_triggers(*triggers: TriggerMeta) -> Iterator[None]:
    """Run only ``triggers`` (and their subclasses) in the block; every other one is skipped.

    Raises:
        TypeError: An argument is not a Trigger subclass.
    """
    for trigger in triggers:
        if not isinstance(trigger, TriggerMeta):
            raise TypeError(f"only_triggers() takes Trigger subclasses, got {trigger!r}.")
    token = _only.set(frozenset(triggers))
    try:
        yield
    finally:
        _only.reset(token)


@contextmanager
def isolated_registry() -> Iterator[None]:
    """Forget, when the block ends, every trigger defined or registered inside it.

    Define test-only triggers inside the block so they cannot leak into other tests;
    triggers unregistered inside the block are registered again.
    """
    with registry.isolated():
        yield
