"""Helpers for testing code that has triggers, in pytest and in Django's ``TestCase``.

Each helper is a context manager that cleans up after itself; in a ``TestCase`` use
``self.enterContext(...)`` (Python 3.11+) or ``with`` blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from bulk_triggers.observers import TriggerCall, observing
from bulk_triggers.registry import registry
from bulk_triggers.scope import _only
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
    "run_commit_stage",
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
    with observing(_Recorder(capture.calls)):
        yield capture


class _Recorder:
    """The observer behind :func:`capture_triggers`: a call is recorded as it starts."""

    def __init__(self, calls: list[CapturedCall]) -> None:
        self.calls = calls

    def started(self, call: TriggerCall) -> None:
        self.calls.append(
            CapturedCall(call.trigger, call.stage, call.event, call.new, call.old, call.using)
        )

    def finished(self, call: TriggerCall, error: BaseException | None) -> None:
        pass


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


@contextmanager
def run_commit_stage(*using: str) -> Iterator[list[Callable[[], Any]]]:
    """Run, when the block ends, the commit-stage methods its operations queued.

    Django's ``TestCase`` (and pytest-django's ``db`` fixture) wraps each test in a
    transaction that is rolled back, never committed, so ``on_commit_*`` methods never run
    there. This runs the ``transaction.on_commit()`` callbacks registered inside the block,
    as a commit would, through Django's ``TestCase.captureOnCommitCallbacks(execute=True)``
    on each database (callbacks they register in turn run too). Work rolled back inside the
    block (a savepoint) queues nothing, as with a real commit.

    Args:
        *using: The database aliases to watch; every configured database when none is given.

    Yields:
        The callbacks that ran, in the order they were registered, once the block has ended.
    """
    from django.db import connections
    from django.test import TestCase

    ran: list[Callable[[], Any]] = []
    with ExitStack() as stack:
        captured = [
            stack.enter_context(TestCase.captureOnCommitCallbacks(using=alias, execute=True))
            for alias in (using or connections)
        ]
        yield ran
    ran.extend(callback for callbacks in captured for callback in callbacks)
