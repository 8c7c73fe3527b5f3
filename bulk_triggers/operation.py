"""The operation context: what every stage of one operation, and its tasks, can read.

An :class:`OperationContext` names the operation (``"bulk_update"``, ``"save"`` …), its
model, event and database, the trigger calls that led to it, an id shared by every
operation nested inside the same outermost one, and the user data attached with
:class:`context`. It is plain data (``as_dict()`` is JSON-able) so that it travels with a
task to a worker. The state lives in ``contextvars``, per thread and per asyncio task.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

__all__ = ["OperationContext", "context"]

F = TypeVar("F", bound=Callable[..., Any])

_data: ContextVar[Mapping[str, Any]] = ContextVar(
    "bulk_triggers_context_data", default=MappingProxyType({})
)
_restore: ContextVar[tuple[Mapping[str, Any], ...]] = ContextVar(
    "bulk_triggers_context_restore", default=()
)


@dataclass(frozen=True)
class OperationContext:
    """What one operation is, as its triggers see it through ``self.context``.

    Attributes:
        operation: The ORM call: ``"save"``, ``"delete"``, ``"bulk_create"``,
            ``"bulk_update"`` or ``"update"`` (``"delete"`` also for ``QuerySet.delete()``).
        model: The label of the model the operation goes through, such as ``"shop.Order"``.
        event: ``"create"``, ``"update"`` or ``"delete"``.
        alias: The database alias.
        operation_id: A UUID shared by an outermost operation and every operation its
            triggers (and their tasks) cause.
        chain: The trigger calls running when the operation started, outermost first;
            empty for an operation the application started.
        data: The user data of the enclosing ``bulk_triggers.context(...)`` blocks.
        via: What caused the operation when it is not a direct ORM call (``"cascade"``);
            ``None`` otherwise.
    """

    operation: str
    model: str
    event: str
    alias: str
    operation_id: str
    chain: tuple[str, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    via: str | None = None

    @property
    def nested(self) -> bool:
        """Return whether a trigger caused this operation."""
        return bool(self.chain)

    def as_dict(self) -> dict[str, Any]:
        """Return the context as JSON-able plain data (what a task carries)."""
        return {
            "operation": self.operation,
            "model": self.model,
            "event": self.event,
            "alias": self.alias,
            "operation_id": self.operation_id,
            "chain": list(self.chain),
            "data": dict(self.data),
            "via": self.via,
        }

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> OperationContext:
        """Rebuild a context from :meth:`as_dict`'s output."""
        return cls(**{**value, "chain": tuple(value["chain"]), "data": dict(value["data"])})


class context:
    """Attach user data to every operation started in a block or a decorated function.

    ``with bulk_triggers.context(actor=request.user.pk, reason="import"):`` makes
    ``self.context.data`` hold those keys in every trigger the block's operations run,
    and in their task triggers' workers. Blocks nest (inner keys win); the data belongs to
    the current thread or asyncio task. Values must be JSON-able to reach a task.
    """

    def __init__(self, **data: Any) -> None:
        self.data = data

    def __enter__(self) -> None:
        current = _data.get()
        _restore.set((*_restore.get(), current))
        _data.set({**current, **self.data})

    def __exit__(self, *exc_info: object) -> None:
        *rest, previous = _restore.get()
        _restore.set(tuple(rest))
        _data.set(previous)

    def __call__(self, func: F) -> F:
        data = self.data
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with context(**data):
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with context(**data):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def current_data() -> Mapping[str, Any]:
    """Return the user data attached in this thread or asyncio task."""
    return _data.get()


class Operation:
    """The dispatcher's state of one operation: its context and what the chain shares.

    Operations nested inside another one's trigger calls share its id, its re-entry
    counts and its task numbering (see :func:`begin`).
    """

    def __init__(self, context: OperationContext, parent: Operation | None) -> None:
        self.context = context
        self.entries: dict[tuple[Any, ...], int] = parent.entries if parent else {}
        self.tasks: dict[str, int] = parent.tasks if parent else {}

    def admit(
        self, trigger: Any, stage: str, event: str, indexes: Sequence[int], rows: Sequence[Any]
    ) -> list[int]:
        """Return the indexes of the rows that may still enter ``trigger``'s method.

        A row (by model and primary key) enters each method of a trigger at most
        ``trigger.max_reentry`` times per operation chain; rows without a primary key
        yet (before an INSERT) always enter and are not counted.
        """
        limit = trigger.max_reentry
        admitted = []
        for i in indexes:
            row = rows[i]
            if row.pk is None:
                admitted.append(i)
                continue
            key = (trigger, stage, event, row._meta.concrete_model, row.pk)
            count = self.entries.get(key, 0)
            if count < limit:
                self.entries[key] = count + 1
                admitted.append(i)
        return admitted

    def task_number(self, label: str) -> int:
        """Return the next number of a task of the trigger ``label`` in this chain."""
        number = self.tasks.get(label, 0)
        self.tasks[label] = number + 1
        return number


def begin(
    running: Operation | None,
    chain: tuple[str, ...],
    operation: str,
    model: str,
    event: str,
    alias: str,
    via: str | None = None,
) -> Operation:
    """Return the state of a new operation, nested in ``running`` when a trigger runs."""
    parent = running if chain else None
    operation_id = parent.context.operation_id if parent else _new_id()
    ctx = OperationContext(operation, model, event, alias, operation_id, chain, _data.get(), via)
    return Operation(ctx, parent)


def _new_id() -> str:
    """Return a random (version 4) UUID as text, as ``str(uuid.uuid4())`` does, faster.

    Every operation draws one, a single ``save()`` included; the ``uuid`` module's object
    costs about twice as much as formatting the same random bytes directly.
    """
    h = os.urandom(16).hex()
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"
