"""What the dispatcher checks around the trigger calls it makes.

The depth of nested operations (``MAX_DEPTH``), old rows that a trigger must leave as
they are (``PROTECT_OLD``), and the label naming each method call in errors and logs.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from bulk_triggers import conf
from bulk_triggers.exceptions import TriggerDepthError
from bulk_triggers.scope import current_chain
from bulk_triggers.snapshot import MISSING, copy_value
from bulk_triggers.trigger import TriggerMeta

__all__ = ["OldGuard", "guard_depth", "method_label"]

_labels: dict[tuple[TriggerMeta, str, str], str] = {}


def method_label(trigger: TriggerMeta, stage: str, event: str) -> str:
    """Return ``"module.Trigger.on_stage_event"``, built once per method."""
    key = (trigger, stage, event)
    try:
        return _labels[key]
    except KeyError:
        label = _labels[key] = f"{trigger.label}.on_{stage}_{event}"
        return label


class OldGuard:
    """Notice a trigger changing ``old`` (``BULK_TRIGGERS["PROTECT_OLD"]``, DEBUG by default).

    Costs a copy of every old row's fields per trigger call, which is why it is a
    development aid that production can leave off.
    """

    def __init__(self, old: list[Any]) -> None:
        self.old = old
        self.states = [
            {
                name: copy_value(value)
                for name, value in row.__dict__.items()
                if not name.startswith("_")
            }
            for row in old
        ]

    def check(self, label: str) -> None:
        """Raise TypeError naming the trigger ``label``, the row and the field it changed."""
        for index, (row, state) in enumerate(zip(self.old, self.states, strict=True)):
            for name, value in state.items():
                if row.__dict__.get(name, MISSING) != value:
                    raise TypeError(
                        f"Trigger {label} changed old[{index}].{name} from {value!r} to "
                        f"{row.__dict__.get(name)!r}; old rows are snapshots of the stored "
                        "rows and are never written: change the instances in new instead."
                    )


def guard_depth(model: type[models.Model], event: str) -> None:
    """Refuse an operation nested deeper than ``MAX_DEPTH`` trigger calls.

    Raises:
        TriggerDepthError: The chain of running trigger calls is ``MAX_DEPTH`` long.
    """
    chain = current_chain()
    if chain:
        max_depth = conf.get("MAX_DEPTH")
        if len(chain) >= max_depth:
            raise TriggerDepthError((*chain, f"{model._meta.label} {event}"), max_depth)
