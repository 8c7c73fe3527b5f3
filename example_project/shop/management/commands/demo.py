"""``manage.py demo``: run the shop's triggers on a few thousand rows and show what they did.

Each step (``shop.scenario``) performs one ORM write the way application code would, then
reads the database back (``shop.measure``) and prints what changed: first the data the step
wrote, then what the triggers wrote on top of it, each effect with the trigger that caused
it (``shop.report``). Nothing printed about triggers is taken from this file: effects are
counted in the database or the notification outbox, causes are the trigger calls recorded
while the step ran and the task triggers' tasks the Tasks framework reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections

from bulk_triggers import bypass
from bulk_triggers.testing import capture_triggers
from shop import notifications
from shop.measure import State, measure
from shop.models import Account, AuditEntry, Order, OrderLine, Product
from shop.report import (
    Ran,
    block,
    effects,
    methods_that_ran,
    packed,
    raised_by,
    tasks_seen,
)
from shop.scenario import Scenario
from shop.steps import Did

DATA_FIGURES = {
    "accounts": "accounts",
    "orders": "orders",
    "order_lines": "order lines",
    "products": "products",
}


@dataclass
class Outcome:
    """One step as the summary table shows it."""

    number: int
    label: str
    rows: int
    audit_added: int
    shipped_at_added: int
    notified: int
    seconds: float
    refused: bool


class Command(BaseCommand):
    help = (
        "Reset the example shop's data, then bulk_create, bulk_update, update (with F()), "
        "upsert, save and delete it in bulk, printing what the triggers did (counted in the "
        "database) and which trigger did it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--rows", type=int, default=3000, help="orders to create, two lines each (default 3000)"
        )
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help="database alias to run on (default 'default')",
        )

    def handle(self, *args: Any, rows: int, database: str, **options: Any) -> None:
        if rows < 3:
            raise CommandError("--rows must be at least 3, so that every step has rows to work on.")
        if database not in connections:
            raise CommandError(f"No database {database!r} in settings.DATABASES.")
        Demo(self, database, rows).run()


class Demo:
    """The scenario: a shop's day, in bulk."""

    def __init__(self, command: BaseCommand, using: str, rows: int) -> None:
        self.out = command.stdout
        self.style = command.style
        self.using = using
        self.rows = rows
        self.steps = Scenario(using, rows)
        self.outcomes: list[Outcome] = []

    def run(self) -> None:
        vendor = connections[self.using].vendor
        self.out.write(
            self.style.MIGRATE_HEADING(
                f"bulk_triggers demo on database {self.using!r} ({vendor}), {self.rows} orders"
            )
        )
        self.out.write(
            "The triggers are in example_project/shop/triggers.py. Under each step, 'triggers'\n"
            "lists the trigger methods that ran (with the rows each received), and 'effects'\n"
            "what they changed, counted in the database, each after '<-' the method that did it."
        )
        self.reset()
        for code, label, action in self.steps.plan():
            self.step(code, label, action)
        self.summary()

    def reset(self) -> None:
        db = self.using
        with bypass():  # Clearing the tables is no business event: audit nothing.
            removed = [
                (label, model.objects.using(db).all().delete()[0])
                for label, model in (
                    ("audit entries", AuditEntry),
                    ("order lines", OrderLine),
                    ("orders", Order),
                    ("accounts", Account),
                    ("products", Product),
                )
            ]
        notifications.clear(db)
        state = measure(db)
        self._block(
            "reset",
            [
                "inside bypass(), so no trigger runs: deleted "
                + ", ".join(f"{n} {label}" for label, n in removed)
                + f"; audit entries now {state.audit_total()}, orders now {state.orders}."
            ],
        )

    # --- running and reporting ------------------------------------------------------------

    def step(self, code: str, label: str, action: Callable[[], Did]) -> None:
        """Run one step between two measurements and report what changed, and why."""
        number = len(self.outcomes) + 1
        before = measure(self.using)
        started = time.perf_counter()
        refusal: ValidationError | None = None
        with capture_triggers() as captured, tasks_seen() as tasks:
            try:
                did = action()
            except ValidationError as exc:
                refusal, did = exc, Did(0, "")
        seconds = time.perf_counter() - started
        after = measure(self.using)
        ran = methods_that_ran(captured.calls, tasks)
        self.out.write(self.style.SQL_FIELD(f"\n{number:>2}. {code}"))
        if refusal is not None:
            self._report_refusal(refusal, ran, before, after)
        else:
            self._report(did, ran, before, after, seconds)
        self.outcomes.append(
            Outcome(
                number=number,
                label=label,
                rows=did.rows,
                audit_added=after.audit_total() - before.audit_total(),
                shipped_at_added=after.orders_with_shipped_at - before.orders_with_shipped_at,
                notified=after.notifications_sent - before.notifications_sent,
                seconds=seconds,
                refused=refusal is not None,
            )
        )

    def _report(
        self, did: Did, ran: list[Ran], before: State, after: State, seconds: float
    ) -> None:
        caused, unexplained = effects(before, after, ran)
        data = [
            _change(DATA_FIGURES[name], old, new)
            for name, old, new in before.changed(after)
            if name in DATA_FIGURES
        ]
        data += _status_changes(before, after) + unexplained
        self._block("did", [f"{did.text} ({seconds:.2f} s)"])
        self._block("data", data or ["no change in row counts"])
        self._block("triggers", packed([str(r) for r in ran]) or ["none ran"])
        self._block("effects", caused or ["nothing measurable"])
        self._block("read back", did.evidence)
        self._block("CHECKS", _failed_checks(after))

    def _report_refusal(
        self, refusal: ValidationError, ran: list[Ran], before: State, after: State
    ) -> None:
        messages = refusal.messages
        by = raised_by(refusal, ran)
        self._block(
            "refused",
            [f"ValidationError from {by}, {len(messages)} message(s); first: {messages[0]}"],
        )
        self._block("triggers", packed([str(r) for r in ran]))
        changes = before.changed(after)
        if changes:
            self._block("CHANGED", [_change(name, old, new) for name, old, new in changes])
        else:
            self._block("data", ["unchanged: every figure above reads as before the step"])

    def _block(self, heading: str, lines: list[str]) -> None:
        for line in block(heading, lines):
            self.out.write(line)

    def summary(self) -> None:
        state = measure(self.using)
        self.out.write(
            self.style.MIGRATE_HEADING(
                "\nSummary (per step; trigger columns counted in the database)"
            )
        )
        self.out.write(
            f"  {'#':>2}  {'step':<30} {'rows':>7} {'audit+':>7} "
            f"{'shipped_at+':>11} {'notified+':>9} {'seconds':>7}"
        )
        for o in self.outcomes:
            rows = "refused" if o.refused else str(o.rows)
            self.out.write(
                f"  {o.number:>2}  {o.label:<30} {rows:>7} {o.audit_added:>7} "
                f"{o.shipped_at_added:>11} {o.notified:>9} {o.seconds:>7.2f}"
            )
        self.out.write(
            self.style.MIGRATE_HEADING("\nAudit trail (AuditEntry rows by model and action)")
        )
        audit = state.audit()
        actions = list(AuditEntry.Action.values)
        self.out.write(f"  {'model':<16}" + "".join(f"{a:>8}" for a in actions))
        for model in sorted({m for m, _ in audit}):
            self.out.write(f"  {model:<16}" + "".join(f"{audit[model, a]:>8}" for a in actions))
        self.out.write(f"  audit entries in database: {state.audit_total()}")
        self.out.write(self.style.MIGRATE_HEADING("\nFinal state"))
        statuses = ", ".join(f"{s} {n}" for s, n in state.orders_by_status)
        self.out.write(f"  orders: {state.orders} ({statuses}); order lines: {state.order_lines}")
        self.out.write(f"  orders with shipped_at: {state.orders_with_shipped_at}")
        self.out.write(
            f"  accounts flagged overdrawn: {state.overdrawn_accounts} of {state.accounts}"
        )
        self.out.write(f"  shipping notifications sent: {state.notifications_sent}")
        checks = _checks(state)
        self.out.write(f"  checks: {checks[0]}")
        for check in checks[1:]:
            self.out.write(f"          {check}")


def _change(label: str, old: object, new: object) -> str:
    return f"{label} {old} -> {new}"


def _status_changes(before: State, after: State) -> list[str]:
    old, new = dict(before.orders_by_status), dict(after.orders_by_status)
    moved = [f"{s} {old[s]} -> {new[s]}" for s in old if old[s] != new[s]]
    return [f"orders by status: {', '.join(moved)}"] if moved else []


def _checks(state: State) -> list[str]:
    return [
        f"{state.orders_whose_total_matches_lines}/{state.orders} order totals equal their lines",
        f"{state.shipped_orders_missing_shipped_at} shipped orders without shipped_at",
        f"{state.accounts_flagged_wrongly} accounts whose status contradicts their balance",
    ]


def _failed_checks(state: State) -> list[str]:
    """Return the checks that fail, so that a step prints them only then."""
    checks = _checks(state)
    failed = [
        state.orders_whose_total_matches_lines != state.orders,
        state.shipped_orders_missing_shipped_at != 0,
        state.accounts_flagged_wrongly != 0,
    ]
    return [check for check, bad in zip(checks, failed, strict=True) if bad]
