"""How the demo names the trigger behind each effect it measures (``manage.py demo``).

Effects are counted in the database (``shop.measure``); causes are the trigger calls that
``bulk_triggers.testing.capture_triggers()`` recorded while the step ran, and the tasks of
task triggers (their commit stage) that the Tasks framework reported enqueued or finished.
An effect is put down to a trigger only when that trigger ran in the step; a change no
trigger of its own explains (deleted orders taking their totals with them) is data.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from importlib import import_module
from typing import Any

from django.utils.module_loading import import_string

from bulk_triggers.runtime import tasks_framework
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
#: The sum of order totals is not here: :func:`_totals` splits it (see there).
MAINTAINED: dict[str, tuple[str, tuple[TriggerMeta, ...]]] = {
    "orders_with_shipped_at": ("orders with shipped_at", (ShipOrder,)),
    "sum_of_balances": ("sum of account balances", (ChargeAccount,)),
    "overdrawn_accounts": ("accounts flagged overdrawn", (FlagOverdrawnAccounts,)),
    "notifications_sent": ("shipping notifications sent", (NotifyShipping,)),
}


#: The task that runs a task trigger's commit stage (its argument is the payload).
COMMIT_STAGE_TASK = "bulk_triggers.worker.run_commit_stage"
#: How the report words a task's state; others (FAILED) are printed as they are.
TASK_STATES = {"SUCCESSFUL": "", "READY": "queued for a worker"}


@dataclass(frozen=True)
class Ran:
    """One trigger method that ran in a step, with the rows it received in all its calls."""

    trigger: TriggerMeta
    stage: str
    event: str
    rows: int
    #: Its tasks' state ("SUCCESSFUL", "FAILED", "READY": queued), for a task trigger's commit.
    task_status: str | None = None

    @property
    def method(self) -> str:
        """Return ``"ShipOrder.on_before_update"``."""
        return f"{self.trigger.__name__}.on_{self.stage}_{self.event}"

    def __str__(self) -> str:
        rows = f"{self.rows} row{'' if self.rows == 1 else 's'}"
        if self.task_status is None:
            return f"{self.method} ({rows})"
        notes = (TASK_STATES.get(state, state) for state in self.task_status.split(", "))
        return f"{self.method} ({rows}, as a task{''.join(f', {n}' for n in notes if n)})"


@contextmanager
def tasks_seen() -> Iterator[list[Any]]:
    """Collect the results of the tasks enqueued or finished in the block, latest state each.

    The framework's signals tell: with the immediate backend a task trigger's task runs in
    this process at the commit, outside the dispatcher, so ``capture_triggers()`` does not
    record it; with a worker's backend (django-tasks-db) it stays queued.
    """
    results: dict[str, Any] = {}
    framework = tasks_framework()
    if framework is None:
        yield []
        return
    signals = import_module(f"{framework}.signals")

    def record(sender: object, task_result: Any, **kwargs: object) -> None:
        results[task_result.id] = task_result

    seen: list[Any] = []
    for signal in (signals.task_enqueued, signals.task_finished):
        signal.connect(record, dispatch_uid="shop.report.tasks_seen")
    try:
        yield seen
    finally:
        for signal in (signals.task_enqueued, signals.task_finished):
            signal.disconnect(dispatch_uid="shop.report.tasks_seen")
        seen.extend(results.values())


def methods_that_ran(calls: Iterable[CapturedCall], task_results: Iterable[Any] = ()) -> list[Ran]:
    """Group the recorded calls, then the tasks run, per trigger method, in order of first run."""
    rows: dict[tuple[TriggerMeta, str, str], int] = {}
    for call in calls:
        key = (call.trigger, call.stage, call.event)
        received = call.new if call.new is not None else call.old
        rows[key] = rows.get(key, 0) + len(received or [])
    ran = [Ran(trigger, stage, event, n) for (trigger, stage, event), n in rows.items()]
    return ran + _task_runs(task_results)


def _task_runs(task_results: Iterable[Any]) -> list[Ran]:
    """Group task triggers' tasks per trigger and event, with the states they reached."""
    runs: dict[tuple[TriggerMeta, str], tuple[int, set[str]]] = {}
    for result in task_results:
        if result.task.module_path != COMMIT_STAGE_TASK:
            continue  # Not a task trigger's task.
        payload = result.args[0]
        key = (import_string(payload["trigger"]), payload["event"])
        count, statuses = runs.get(key, (0, set()))
        runs[key] = (count + len(payload["rows"][0]), statuses | {str(result.status)})
    return [
        Ran(trigger, "commit", event, n, ", ".join(sorted(statuses)))
        for (trigger, event), (n, statuses) in runs.items()
    ]


def effects(before: State, after: State, ran: list[Ran]) -> tuple[list[str], list[str]]:
    """Return the trigger-maintained changes with their causes, and those no trigger explains."""
    caused: list[str] = []
    unexplained: list[str] = []
    _totals(before, after, ran, caused, unexplained)
    for name, old, new in before.changed(after):
        if name in MAINTAINED:
            label, triggers = MAINTAINED[name]
            by = [r for r in ran if r.trigger in triggers]
            _sort(f"{label} {old} -> {new}", by, caused, unexplained)
    for (model, action), count in sorted((after.audit() - before.audit()).items()):
        by = [r for r in ran if _audits(r, model, action)]
        _sort(f"audit {model} {action} +{count}", by, caused, unexplained)
    return caused, unexplained


def _totals(
    before: State, after: State, ran: list[Ran], caused: list[str], unexplained: list[str]
) -> None:
    """Split the change in the sum of order totals into what triggers and rows did.

    The recompute triggers change the totals of orders that stay; an order deleted (or
    created) takes its total out of (or into) the sum by itself, whatever a trigger did.
    """
    old, new = before.order_totals, after.order_totals
    kept = old.keys() & new.keys()
    was, now = _sum(old[pk] for pk in kept), _sum(new[pk] for pk in kept)
    gone, added = old.keys() - kept, new.keys() - kept
    if was != now:
        label = f"totals of the {len(kept)} orders kept" if gone or added else "order totals"
        by = [r for r in ran if r.trigger in (RecomputeTotals, RecomputeTotalsAfterDelete)]
        _sort(f"sum of {label} {was} -> {now}", by, caused, unexplained)
    moved = [
        f"{amount} {verb} the {len(pks)} {which} order{'' if len(pks) == 1 else 's'}"
        for verb, which, pks, totals in (
            ("left with", "deleted", gone, old),
            ("came with", "created", added, new),
        )
        if (amount := _sum(totals[pk] for pk in pks))
    ]
    if moved:
        unexplained.append(
            f"sum of order totals {before.sum_of_order_totals} -> {after.sum_of_order_totals}: "
            + "; ".join(moved)
        )


def _sum(amounts: Iterable[Decimal]) -> Decimal:
    return sum(amounts, Decimal("0.00"))


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
