"""The trigger configurations measured on ``TriggerItem``, and switching between them.

Trigger bodies do nothing: the benchmark measures what the framework costs around them
(loading old rows, evaluating conditions, snapshotting, calling), not user code.

``HasChanged`` is false for every deleted row by definition, so delete triggers take
conditions on the deleted row's values instead; they pass every row, so the methods run.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from benchmarks.app.models import TriggerItem
from bulk_triggers import ChangesTo, Condition, HasChanged, IsEqual, Trigger, WasEqual
from bulk_triggers.registry import registry
from bulk_triggers.trigger import EVENTS, TriggerMeta

WATCHED = "amount"
"""The field whose change the before+after configuration watches."""

# One before and one after trigger per event.
_PAIR: dict[str, Condition] = {
    "create": HasChanged(WATCHED),
    "update": HasChanged(WATCHED),
    "delete": ~IsEqual("status", "archived"),
}

# Five before and five after triggers per event, with varied (and compound) conditions.
_TEN: dict[str, list[Condition]] = {
    "create": [
        HasChanged(WATCHED),
        IsEqual("status", "new"),
        ChangesTo("status", "shipped"),
        HasChanged("price") | HasChanged("name"),
        ~IsEqual(WATCHED, -1) & HasChanged("customer"),
    ],
    "update": [
        HasChanged(WATCHED),
        HasChanged("status"),
        ChangesTo("status", "shipped"),
        HasChanged("price") | HasChanged("name"),
        IsEqual("status", "shipped") & ~HasChanged("customer"),
    ],
    "delete": [
        ~IsEqual("status", "archived"),
        WasEqual("status", "new"),
        IsEqual("status", "pending") | IsEqual("status", "new"),
        ~IsEqual(WATCHED, -1),
        IsEqual("name", "nobody") | ~WasEqual("status", "archived"),
    ],
}

CONFIGS = ("none", "pair", "after", "ten")
"""``none``: no trigger on the model; ``pair``: a before and an after trigger per event;
``after``: the pair's after trigger alone (no before stage, so the engine need not load the
rows before writing); ``ten``: five before and five after triggers per event."""


def _noop_method(event: str) -> Any:
    if event == "update":

        def method(self: Any, new: list[Any], old: list[Any]) -> None:
            return None

    elif event == "create":

        def method(self: Any, new: list[Any]) -> None:  # type: ignore[misc]
            return None

    else:

        def method(self: Any, old: list[Any]) -> None:  # type: ignore[misc]
            return None

    return method


def _define(name: str, stage: str, event: str, condition: Condition) -> TriggerMeta:
    def body(namespace: dict[str, Any]) -> None:
        namespace["__module__"] = __name__
        namespace["__qualname__"] = name
        namespace["condition"] = condition
        namespace[f"on_{stage}_{event}"] = _noop_method(event)

    cls = types.new_class(name, (Trigger[TriggerItem],), exec_body=body)
    return cls  # type: ignore[return-value]


def define_configs() -> dict[str, tuple[TriggerMeta, ...]]:
    """Define every configuration's trigger classes, leaving none registered."""
    configs: dict[str, tuple[TriggerMeta, ...]] = {"none": ()}
    with registry.isolated():
        pair = []
        after = []
        ten = []
        for event in EVENTS:
            for stage in ("before", "after"):
                pair.append(_define(f"Pair_{stage}_{event}", stage, event, _PAIR[event]))
                if stage == "after":
                    after.append(_define(f"After_{event}", stage, event, _PAIR[event]))
                for index, condition in enumerate(_TEN[event]):
                    ten.append(_define(f"Ten{index}_{stage}_{event}", stage, event, condition))
        configs["pair"] = tuple(pair)
        configs["after"] = tuple(after)
        configs["ten"] = tuple(ten)
    return configs


@contextmanager
def active(triggers: tuple[TriggerMeta, ...]) -> Iterator[None]:
    """Register exactly ``triggers`` while the block runs, with the lookup cache warm."""
    with registry.isolated():
        for trigger in list(registry):
            registry.unregister(trigger)
        for trigger in triggers:
            registry.register(trigger)
        for event in EVENTS:
            registry.for_model(TriggerItem, event)
        yield
