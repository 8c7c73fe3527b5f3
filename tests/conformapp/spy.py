"""A trigger factory that records what each stage receives, for the conformance suite."""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import models

from bulk_triggers import Condition, Trigger

STAGES = ("before", "after", "commit")
EVENTS = ("create", "update", "delete")


def values(obj: models.Model) -> dict[str, Any]:
    """Return every concrete field's attribute value of ``obj``."""
    return {f.attname: getattr(obj, f.attname, None) for f in obj._meta.concrete_fields}


@dataclass
class Call:
    """One call of one trigger method: the rows it received, copied at call time."""

    stage: str
    event: str
    trigger_model: str
    new: list[dict[str, Any]] | None
    old: list[dict[str, Any]] | None
    types: list[str]
    using: str

    @property
    def pks(self) -> list[Any]:
        """Return the primary keys of the rows (``new`` when given, else ``old``)."""
        rows = self.new if self.new is not None else self.old
        assert rows is not None
        return [row["pk"] for row in rows]


@dataclass
class Log:
    calls: list[Call] = field(default_factory=list)

    def of(self, stage: str | None = None, event: str | None = None) -> list[Call]:
        """Return the calls of ``stage`` and ``event`` (any, when None)."""
        return [
            c
            for c in self.calls
            if (stage is None or c.stage == stage) and (event is None or c.event == event)
        ]

    def keys(self) -> list[tuple[str, str, str]]:
        """Return ``(stage, event, model)`` per call, in call order."""
        return [(c.stage, c.event, c.trigger_model) for c in self.calls]


def _copy(rows: list[models.Model] | None) -> list[dict[str, Any]] | None:
    if rows is None:
        return None
    return [{**values(row), "pk": row.pk} for row in rows]


def _method(log: Log, stage: str, event: str, hook: Callable[..., None] | None) -> Any:
    def record(self: Trigger[Any], *args: list[models.Model]) -> None:
        new = args[0] if event != "delete" else None
        old = args[-1] if event != "create" else None
        rows = new if new is not None else old
        assert rows is not None and self.model is not None
        log.calls.append(
            Call(
                stage,
                event,
                self.model._meta.label,
                _copy(new),
                _copy(old),
                [type(row).__name__ for row in rows],
                self.using,
            )
        )
        if hook is not None:
            hook(self, stage, event, *args)

    if event == "update":
        return lambda self, new, old: record(self, new, old)
    return lambda self, rows: record(self, rows)


def spy(
    model: type[models.Model],
    log: Log,
    *,
    events: tuple[str, ...] = EVENTS,
    stages: tuple[str, ...] = STAGES,
    condition: Condition | None = None,
    hook: Callable[..., None] | None = None,
    name: str = "Spy",
    order: int | None = None,
) -> type[Trigger[Any]]:
    """Define (and so register) a trigger on ``model`` recording into ``log``."""
    body: dict[str, Any] = {
        f"on_{stage}_{event}": _method(log, stage, event, hook)
        for stage in stages
        for event in events
    }
    if condition is not None:
        body["condition"] = condition
    if order is not None:
        body["order"] = order
    return types.new_class(
        f"{name}{model.__name__}",
        (Trigger[model],),  # type: ignore[valid-type]
        {},
        lambda ns: ns.update(body),
    )


def define(name: str, model: type[models.Model], body: dict[str, Any]) -> type[Trigger[Any]]:
    """Define (and so register) a trigger class ``name`` on ``model`` with ``body``."""
    return types.new_class(
        name,
        (Trigger[model],),  # type: ignore[valid-type]
        {},
        lambda ns: ns.update(body),
    )
