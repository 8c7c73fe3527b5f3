"""A recording trigger for end-to-end tests: what each stage received, as plain values.

``record(Item)`` defines, in the caller's ``registry.isolated()`` block, a trigger on
``Item`` whose event methods write down what they were given. Values are copied at call
time, so a test sees what the stage received and not what the rows became later.
"""

from __future__ import annotations

import copy
import itertools
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import models

from bulk_triggers import Condition, Trigger
from bulk_triggers.trigger import EVENTS, STAGES

__all__ = ["Call", "Recorder", "record", "row_values", "shape", "stored"]

Row = dict[str, Any]
Hook = Callable[..., None]

# Which arguments each event's methods receive, after self.
_PARAMETERS = {"create": ("new",), "update": ("new", "old"), "delete": ("old",)}
_names = itertools.count(1)


def row_values(obj: models.Model) -> Row:
    """Return the loaded concrete field values of ``obj`` (by attname) plus ``pk``, copied.

    Reads the instance ``__dict__`` so that recording never loads a deferred field.
    """
    state = obj.__dict__
    values: Row = {
        f.attname: copy.deepcopy(state[f.attname])
        for f in obj._meta.concrete_fields
        if f.attname in state
    }
    values["pk"] = obj.pk
    return values


@dataclass(frozen=True)
class Call:
    """One call of an event method: the stage, the event and copies of its rows."""

    stage: str
    event: str
    using: str
    new: list[Row] | None
    old: list[Row] | None
    new_objects: list[Any] | None = field(repr=False)
    old_objects: list[Any] | None = field(repr=False)

    def column(self, name: str, side: str = "new") -> list[Any]:
        """Return the value of ``name`` in each row of ``side`` ("new" or "old")."""
        rows = self.new if side == "new" else self.old
        assert rows is not None, f"{self.stage}_{self.event} has no {side!r} rows"
        return [row.get(name) for row in rows]


@dataclass
class Recorder:
    """The calls received by one recording trigger, in order."""

    trigger: type[Any] | None = None
    calls: list[Call] = field(default_factory=list)

    def events(self) -> list[tuple[str, str]]:
        """Return (stage, event) of every call, in call order."""
        return [(call.stage, call.event) for call in self.calls]

    def of(self, stage: str, event: str) -> list[Call]:
        """Return the calls of one event method."""
        return [c for c in self.calls if c.stage == stage and c.event == event]

    def one(self, stage: str, event: str) -> Call:
        """Return the only call of one event method, failing if there is not exactly one."""
        calls = self.of(stage, event)
        assert len(calls) == 1, f"expected one {stage}_{event} call, got {self.events()}"
        return calls[0]

    def column(self, stage: str, event: str, name: str, side: str = "new") -> list[Any]:
        """Return ``name`` for every row that the calls of one event method received."""
        return [v for call in self.of(stage, event) for v in call.column(name, side)]

    def clear(self) -> None:
        """Forget the calls recorded so far."""
        self.calls.clear()


def record(
    model: type[models.Model],
    *,
    stages: Iterable[str] = STAGES,
    events: Iterable[str] = EVENTS,
    condition: Condition | None = None,
    order: int = 0,
    hooks: dict[tuple[str, str], Hook] | None = None,
    name: str | None = None,
) -> Recorder:
    """Define a trigger on ``model`` that records every call of the chosen methods.

    Call it inside ``registry.isolated()``: the trigger stays registered until the block
    ends. A hook for ``(stage, event)`` runs after the call is recorded and receives the
    method's arguments (``new``, ``old`` as they apply), so it can mutate rows.

    Args:
        model: The model (or proxy) the trigger is declared on.
        stages: The stages to define methods for; the others stay undefined.
        events: The events to define methods for.
        condition: The trigger's ``condition``.
        order: The trigger's ``order``.
        hooks: Extra behaviour per ``(stage, event)``, run after recording.
        name: The class name; a unique one is made up when omitted.
    """
    recorder = Recorder()
    hooks = hooks or {}
    stages, events = tuple(stages), tuple(events)
    namespace: dict[str, Any] = {
        "__module__": __name__,
        "condition": condition,
        "order": order,
    }
    for stage in stages:
        for event in events:
            namespace[f"on_{stage}_{event}"] = _method(
                recorder, stage, event, hooks.get((stage, event))
            )
    class_name = name or f"Recording{model.__name__}{next(_names)}"
    recorder.trigger = types.new_class(
        class_name,
        (Trigger[model],),
        {},
        lambda ns: ns.update(namespace),  # type: ignore[valid-type]
    )
    return recorder


def _method(recorder: Recorder, stage: str, event: str, hook: Hook | None) -> Callable[..., None]:
    """Build an event method with the exact parameters the trigger metaclass expects."""

    def note(trigger: Any, new: Sequence[Any] | None, old: Sequence[Any] | None) -> None:
        recorder.calls.append(
            Call(
                stage=stage,
                event=event,
                using=trigger.using,
                new=None if new is None else [row_values(o) for o in new],
                old=None if old is None else [row_values(o) for o in old],
                new_objects=None if new is None else list(new),
                old_objects=None if old is None else list(old),
            )
        )

    if event == "create":

        def on_create(self: Any, new: list[Any]) -> None:
            note(self, new, None)
            if hook:
                hook(new)

        return on_create
    if event == "update":

        def on_update(self: Any, new: list[Any], old: list[Any]) -> None:
            note(self, new, old)
            if hook:
                hook(new, old)

        return on_update

    def on_delete(self: Any, old: list[Any]) -> None:
        note(self, None, old)
        if hook:
            hook(old)

    return on_delete


def stored(model: type[models.Model], using: str | None = None) -> list[Row]:
    """Return the stored rows of ``model`` without keys, sorted, to compare two databases' states.

    Primary and foreign keys are left out because sequences differ between runs.
    """
    keys = {f.attname for f in model._meta.concrete_fields if f.primary_key or f.is_relation}
    manager = model._base_manager.db_manager(using) if using else model._base_manager
    rows = [
        {name: value for name, value in row.items() if name not in keys}
        for row in manager.order_by().values()
    ]
    return sorted(rows, key=repr)


def shape(result: Any) -> Any:
    """Return ``result`` with model instances replaced by (class, adding, database)."""
    if isinstance(result, models.Model):
        return (type(result).__name__, result._state.adding, result._state.db)
    if isinstance(result, (list, tuple)):
        return type(result)(shape(item) for item in result)
    if isinstance(result, dict):
        return {key: shape(value) for key, value in result.items()}
    return result
