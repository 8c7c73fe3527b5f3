"""Record trigger calls as a tree, with their timings and the queries each one issued.

The observer behind :class:`~bulk_triggers.contrib.debug_toolbar.panel.TriggersPanel`,
kept free of django-debug-toolbar so that it can be used (and tested) on its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connections

from bulk_triggers.observers import TriggerCall

__all__ = ["CallRecorder", "RecordedCall", "RecordedQuery"]


@dataclass
class RecordedQuery:
    """One statement a trigger method issued, with the SQL as the database received it."""

    using: str
    sql: str
    duration: float
    """Milliseconds."""


@dataclass
class RecordedCall:
    """One trigger method call, with the calls its writes dispatched nested in ``calls``."""

    label: str
    stage: str
    event: str
    model: str
    rows: int
    using: str
    depth: int
    started: float = field(default_factory=time.perf_counter, repr=False)
    duration: float | None = None
    """Milliseconds, nested calls included; None while the call runs."""
    error: str | None = None
    queries: list[RecordedQuery] = field(default_factory=list)
    """The statements the method issued itself; those of nested calls are theirs."""
    calls: list[RecordedCall] = field(default_factory=list)

    def walk(self) -> Iterator[RecordedCall]:
        """Yield this call, then its nested calls, in the order they ran."""
        yield self
        for call in self.calls:
            yield from call.walk()


class CallRecorder:
    """An observer (:mod:`bulk_triggers.observers`) building a tree of the calls it sees.

    While a trigger call runs, every database connection of the current thread reports
    its statements through ``connection.execute_wrapper``: each one is attributed to the
    innermost running call. The wrappers are installed when an outermost call starts and
    removed when it ends, so statements outside trigger calls cost nothing extra.
    """

    def __init__(self) -> None:
        self.calls: list[RecordedCall] = []
        self._running: list[RecordedCall] = []
        self._wrapped: list[list[Callable[..., Any]]] = []

    def walk(self) -> Iterator[RecordedCall]:
        """Yield every recorded call, nested ones after their parent, in the order they ran."""
        for call in self.calls:
            yield from call.walk()

    def started(self, call: TriggerCall) -> None:
        """Add ``call`` under the running call (or at the top) and start timing it."""
        record = RecordedCall(
            label=f"{call.trigger.label}.{call.method}",
            stage=call.stage,
            event=call.event,
            model=call.model._meta.label,
            rows=call.rows,
            using=call.using,
            depth=len(self._running),
        )
        (self._running[-1].calls if self._running else self.calls).append(record)
        if not self._running:
            self._wrap_connections()
        self._running.append(record)
        record.started = time.perf_counter()

    def finished(self, call: TriggerCall, error: BaseException | None) -> None:
        """Stop timing the innermost running call; name the exception it raised, if any."""
        record = self._running.pop()
        record.duration = (time.perf_counter() - record.started) * 1000
        if error is not None:
            record.error = type(error).__name__
        if not self._running:
            self._unwrap_connections()

    def _wrap_connections(self) -> None:
        # Every alias: a trigger may write to another database than its operation's.
        for alias in connections:
            wrappers = connections[alias].execute_wrappers
            wrappers.append(self._execute)
            self._wrapped.append(wrappers)

    def _unwrap_connections(self) -> None:
        for wrappers in self._wrapped:
            wrappers.remove(self._execute)
        self._wrapped.clear()

    def _execute(
        self,
        execute: Callable[..., Any],
        sql: str,
        params: Any,
        many: bool,
        context: dict[str, Any],
    ) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            if self._running:
                self._running[-1].queries.append(
                    RecordedQuery(
                        using=context["connection"].alias,
                        sql=_statement(sql, params, many, context),
                        duration=(time.perf_counter() - started) * 1000,
                    )
                )


def _statement(sql: str, params: Any, many: bool, context: dict[str, Any]) -> str:
    """Return ``sql`` with its parameters, as Django's ``connection.queries`` shows it."""
    if many:
        try:
            return f"{sql} -- executed for {len(params)} parameter sets"
        except TypeError:  # An iterator of parameter sets, consumed by now.
            return f"{sql} -- executed for several parameter sets"
    try:
        return str(context["connection"].ops.last_executed_query(context["cursor"], sql, params))
    except Exception:  # A driver that cannot say; the placeholders still tell the story.
        return f"{sql} -- params {params!r}"
