"""How the demo names the trigger behind each effect it measures (``manage.py demo``).

Effects are counted in the database (``shop.measure``); causes are the trigger calls that
``bulk_triggers.testing.capture_triggers()`` recorded while the step ran. An effect is
put down to a trigger only when that trigger ran in the step; a change no trigger of its
own explains (rows deleted with their totals, say) is reported as data.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass

from bulk_triggers.testing import CapturedCall
from bulk_triggers.trigger import TriggerMeta
from shop.measure import State
from shop.triggers import (
    Audit,
    ChargeAccount,
    FlagOverdrawnAccounts,
    NotifyShipping,
    RecomputeTotals,
    RecomputeTotalsAfterDelete,
    ShipOrder,
)

WIDTH = 100
INDENT = 4
HEADING = 10

#: Figures of State that triggers maintain: how the report names each, and its triggers.
MAINTAINED: dict[str, tuple[str, tuple[TriggerMeta, ...]]] = {
    "orders_with_shipped_at": ("orders with shipped_at", (ShipOrder,)),
    "sum_of_order_totals": (
        "sum of order totals",
        (RecomputeTotals, RecomputeTotalsAfterDelete),
    ),
    "sum_of_balances": ("sum of account balances", (ChargeAccount,)),
    "overdrawn_accounts": ("accounts flagged overdrawn", (FlagOverdrawnAccounts,)),
    "notifications_sent": ("shipping notifications sent", (NotifyShipping,)),
}


@dataclass(frozen=True)
class Ran:
    """One trigger method that ran in a step, with the rows it received in all its calls."""

    trigger: TriggerMeta
    stage: str
    event: str
    rows: int

    @property
    def method(self) -> str:
        """Return ``"ShipOrder.on_before_update"``."""
        return f"{self.trigger.__name__}.on_{self.stage}_{self.event}"

    def __str__(self) -> str:
        return f"{self.method} ({self.rows} row{'' if self.rows == 1 else 's'})"


def methods_that_ran(calls: Iterable[CapturedCall]) -> list[Ran]:
    """Group the recorded calls per trigger method, in the order each first ran."""
    rows: dict[tuple[TriggerMeta, str, str], int] = {}
    for call in calls:
        key = (call.trigger, call.stage, call.event)
        received = call.new if call.new is not None else call.old
        rows[key] = rows.get(key, 0) + len(received or [])
    return [Ran(trigger, stage, event, n) for (trigger, stage, event), n in rows.items()]


def effects(before: State, after: State, ran: list[Ran]) -> tuple[list[str], list[str]]:
    """Return the trigger-maintained changes with their causes, and those no trigger explains."""
    caused: list[str] = []
    unexplained: list[str] = []
    for name, old, new in before.changed(after):
        if name in MAINTAINED:
            label, triggers = MAINTAINED[name]
            by = [r for r in ran if r.trigger in triggers]
            _sort(f"{label} {old} -> {new}", by, caused, unexplained)
    for (model, action), count in sorted((after.audit() - before.audit()).items()):
        by = [r for r in ran if _audits(r, model, action)]
        _sort(f"audit {model} {action} +{count}", by, caused, unexplained)
    return caused, unexplained


def _audits(ran: Ran, model: str, action: str) -> bool:
    """Tell whether ``ran`` is the audit trigger that writes ``model``'s ``action`` entries."""
    model_class = ran.trigger.model
    return (
        issubclass(ran.trigger, Audit)
        and model_class is not None
        and model_class._meta.label == model
        and (ran.stage, ran.event) == ("after", action)
    )


def _sort(text: str, by: list[Ran], caused: list[str], unexplained: list[str]) -> None:
    if by:
        caused.append(f"{text}  <- {', '.join(dict.fromkeys(r.method for r in by))}")
    else:
        unexplained.append(text)


def raised_by(exc: BaseException, ran: list[Ran]) -> str:
    """Return the trigger method an exception came from, as its note names it.

    bulk_triggers adds the note (Python 3.11+); without one, a refusal stopped the stage,
    so the last method that ran is the likeliest.
    """
    for note in getattr(exc, "__notes__", []):
        match = re.match(r"raised by trigger [\w.]*?(\w+\.on_\w+) \(", note)
        if match:
            return match.group(1)
    return ran[-1].method if ran else "a trigger"


def block(heading: str, lines: list[str]) -> list[str]:
    """Lay ``lines`` out under ``heading``, wrapped to WIDTH columns."""
    out: list[str] = []
    room = WIDTH - INDENT - HEADING
    for line in lines:
        for part in textwrap.wrap(line, room, subsequent_indent="  ") or [""]:
            title = heading if not out else ""
            out.append(f"{' ' * INDENT}{title:<{HEADING}}{part}")
    return out


def packed(items: list[str]) -> list[str]:
    """Join ``items`` with commas into lines that fit under a heading, never splitting one."""
    room = WIDTH - INDENT - HEADING
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + len(item) + 2 <= room:
            lines[-1] += f", {item}"
        else:
            lines.append(item)
    return lines
