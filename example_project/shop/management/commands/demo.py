"""``manage.py demo``: run the shop's triggers on a few thousand rows and show what they did.

Each step performs one ORM write the way application code would, then reads the
database back (``shop.measure``) and prints what changed: first the data the step wrote,
then what the triggers wrote on top of it. Nothing printed about triggers is taken from
this file; it is all counted from the database or from the notification outbox.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import F

from bulk_triggers import bypass
from shop import notifications
from shop.measure import State, measure
from shop.models import Account, AuditEntry, Order, OrderLine

CATALOG = [
    ("TEA-GREEN", Decimal("4.50")),
    ("TEA-BLACK", Decimal("3.90")),
    ("MUG-WHITE", Decimal("12.00")),
    ("KETTLE", Decimal("39.99")),
    ("FILTER-100", Decimal("2.25")),
    ("HONEY", Decimal("7.80")),
    ("TRAY", Decimal("18.50")),
]
OPENING_BALANCES = [Decimal(b) for b in ("500.00", "1500.00", "2500.00", "3500.00", "5000.00")]
ORDERS_PER_ACCOUNT = 50

# Figures of State that triggers maintain, with how the report names them.
TRIGGER_FIGURES = {
    "orders_with_shipped_at": "orders with shipped_at",
    "sum_of_order_totals": "sum of order totals",
    "sum_of_balances": "sum of account balances",
    "overdrawn_accounts": "accounts flagged overdrawn",
    "notifications_sent": "shipping notifications sent",
}
DATA_FIGURES = {"accounts": "accounts", "orders": "orders", "order_lines": "order lines"}


@dataclass
class Did:
    """What a step did to the data, from Django's return values, plus read-back evidence."""

    rows: int
    text: str
    evidence: list[str] = field(default_factory=list)


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
        "save and delete it in bulk, printing what the triggers did, as counted in the database."
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
        self.outcomes: list[Outcome] = []

    def run(self) -> None:
        vendor = connections[self.using].vendor
        self.out.write(
            self.style.MIGRATE_HEADING(
                f"bulk_triggers demo on database {self.using!r} ({vendor}), {self.rows} orders"
            )
        )
        self.reset()
        for code, label, action in self.scenario():
            self.step(code, label, action)
        self.summary()

    def scenario(self) -> list[tuple[str, str, Callable[[], Did]]]:
        """Return the steps: the code each runs, a short label, and the step itself."""
        db = self.using
        orders, lines = Order.objects.using(db), OrderLine.objects.using(db)
        return [
            ("Account.objects.bulk_create(accounts)", "bulk_create accounts", self.create_accounts),
            ("Order.objects.bulk_create(orders)", "bulk_create orders", self.create_orders),
            ("OrderLine.objects.bulk_create(lines)", "bulk_create lines", self.create_lines),
            (
                'Order.objects.bulk_update(orders, ["status"])  # place every order',
                "bulk_update orders -> placed",
                self.move_orders(Order.Status.PLACED, lambda i: True),
            ),
            (
                'Order.objects.bulk_update(orders, ["status"])  # pay two in three',
                "bulk_update orders -> paid",
                self.move_orders(Order.Status.PAID, lambda i: i % 3 != 0),
            ),
            (
                'Order.objects.bulk_update(orders, ["status"])  # ship half the paid ones',
                "bulk_update orders -> shipped",
                self.move_orders(Order.Status.SHIPPED, lambda i: i % 3 == 1),
            ),
            (
                'OrderLine.objects.filter(order__status="placed")'
                '.update(quantity=F("quantity") + 1)',
                "update lines quantity=F()+1",
                lambda: _updated(
                    lines.filter(order__status="placed").update(quantity=F("quantity") + 1),
                    "the lines of placed orders got one more item each",
                ),
            ),
            (
                'Order.objects.filter(status="placed").update(status="cancelled")',
                "update placed -> cancelled",
                lambda: _updated(
                    orders.filter(status="placed").update(status="cancelled"),
                    "placed orders cancelled",
                ),
            ),
            (
                'Order.objects.filter(status="shipped").update(status="cancelled")  # forbidden',
                "update shipped -> cancelled",
                lambda: _updated(
                    orders.filter(status="shipped").update(status="cancelled"),
                    "shipped orders cancelled",
                ),
            ),
            (
                "OrderLine.objects.bulk_create(lines)  # two of the five have quantity 0",
                "bulk_create bad lines",
                self.create_bad_lines,
            ),
            (
                'order.save(update_fields=["status"])  # ship one paid order',
                "save() one order -> shipped",
                self.ship_one,
            ),
            (
                "line.delete()  # one line of a paid order",
                "delete() one line",
                self.delete_one_line,
            ),
            (
                'Order.objects.filter(status="cancelled").delete()',
                "delete cancelled orders",
                self.delete_cancelled,
            ),
        ]

    # --- the steps ------------------------------------------------------------------------

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
                )
            ]
        notifications.clear(db)
        state = measure(db)
        self.out.write(
            "Reset (inside bypass(), no trigger runs): deleted "
            + ", ".join(f"{n} {label}" for label, n in removed)
            + f"; audit entries now {state.audit_total()}, orders now {state.orders}.\n"
        )

    def create_accounts(self) -> Did:
        count = max(1, self.rows // ORDERS_PER_ACCOUNT)
        accounts = [
            Account(name=f"Account {i + 1:03}", balance=OPENING_BALANCES[i % len(OPENING_BALANCES)])
            for i in range(count)
        ]
        created = Account.objects.using(self.using).bulk_create(accounts)
        return Did(len(created), f"bulk_create() returned {len(created)} accounts")

    def create_orders(self) -> Did:
        accounts = list(Account.objects.using(self.using).order_by("pk"))
        orders = [Order(account=accounts[i % len(accounts)]) for i in range(self.rows)]
        created = Order.objects.using(self.using).bulk_create(orders)
        return Did(len(created), f"bulk_create() returned {len(created)} draft orders")

    def create_lines(self) -> Did:
        lines = [
            OrderLine(
                order_id=pk,
                sku=CATALOG[(2 * i + k) % len(CATALOG)][0],
                unit_price=CATALOG[(2 * i + k) % len(CATALOG)][1],
                quantity=(i + k) % 3 + 1,
            )
            for i, pk in enumerate(self._order_pks())
            for k in range(2)
        ]
        created = OrderLine.objects.using(self.using).bulk_create(lines)
        return Did(len(created), f"bulk_create() returned {len(created)} order lines")

    def move_orders(self, status: str, chosen: Callable[[int], bool]) -> Callable[[], Did]:
        def move() -> Did:
            orders = list(Order.objects.using(self.using).order_by("pk"))
            picked = [order for i, order in enumerate(orders) if chosen(i)]
            for order in picked:
                order.status = status
            updated = Order.objects.using(self.using).bulk_update(picked, ["status"])
            return Did(updated, f"bulk_update() returned {updated}: orders set to '{status}'")

        return move

    def create_bad_lines(self) -> Did:
        paid = list(Order.objects.using(self.using).filter(status="paid").order_by("pk")[:5])
        lines = [
            OrderLine(order=order, sku="HONEY", unit_price=Decimal("7.80"), quantity=quantity)
            for order, quantity in zip(paid, (2, 0, 1, 0, 3), strict=False)
        ]
        created = OrderLine.objects.using(self.using).bulk_create(lines)
        return Did(len(created), f"bulk_create() returned {len(created)} order lines")

    def ship_one(self) -> Did:
        order = Order.objects.using(self.using).filter(status="paid").order_by("pk").first()
        assert order is not None, "the scenario leaves paid orders by this step"
        order.status = Order.Status.SHIPPED
        order.save(update_fields=["status"])
        stored = Order.objects.using(self.using).get(pk=order.pk)
        return Did(
            1,
            f"saved order {order.pk} with status 'shipped', update_fields=['status']",
            [
                f"order {stored.pk} in the database: status {stored.status!r}, "
                f"shipped_at {stored.shipped_at:%Y-%m-%d %H:%M:%S} (not in update_fields)"
                if stored.shipped_at
                else f"order {stored.pk} in the database: shipped_at is NULL"
            ],
        )

    def delete_one_line(self) -> Did:
        lines = OrderLine.objects.using(self.using).filter(order__status="paid")
        line = lines.select_related("order").order_by("pk").first()
        assert line is not None, "the scenario leaves paid orders with lines by this step"
        before = line.order.total
        line.delete()
        after = Order.objects.using(self.using).get(pk=line.order_id).total
        return Did(
            1,
            f"deleted line {line.sku} x{line.quantity} at {line.unit_price} "
            f"of order {line.order_id}",
            [f"order {line.order_id} total in the database: {before} -> {after}"],
        )

    def delete_cancelled(self) -> Did:
        total, per_model = Order.objects.using(self.using).filter(status="cancelled").delete()
        detail = ", ".join(f"{n} {label}" for label, n in sorted(per_model.items()))
        return Did(total, f"delete() returned {total} ({detail}; lines go by CASCADE)")

    def _order_pks(self) -> list[int]:
        return list(Order.objects.using(self.using).order_by("pk").values_list("pk", flat=True))

    # --- running and reporting ------------------------------------------------------------

    def step(self, code: str, label: str, action: Callable[[], Did]) -> None:
        """Run one step between two measurements and report what changed."""
        number = len(self.outcomes) + 1
        before = measure(self.using)
        started = time.perf_counter()
        refusal: ValidationError | None = None
        try:
            did = action()
        except ValidationError as exc:
            refusal, did = exc, Did(0, "")
        seconds = time.perf_counter() - started
        after = measure(self.using)
        self.out.write(self.style.SQL_FIELD(f"\n{number:>2}. {code}"))
        if refusal is not None:
            self._report_refusal(refusal, before, after)
        else:
            self._report(did, before, after, seconds)
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

    def _report(self, did: Did, before: State, after: State, seconds: float) -> None:
        data = [
            _change(DATA_FIGURES[name], old, new)
            for name, old, new in before.changed(after)
            if name in DATA_FIGURES
        ]
        data += _status_changes(before, after)
        self.out.write(f"    did       {did.text} ({seconds:.2f} s)")
        self.out.write(f"    data      {'; '.join(data) or 'no change in row counts'}")
        triggers = [_audit_changes(before, after)]
        triggers += [
            _change(TRIGGER_FIGURES[name], old, new)
            for name, old, new in before.changed(after)
            if name in TRIGGER_FIGURES
        ]
        triggers += did.evidence
        self._lines("triggers", [t for t in triggers if t] or ["nothing measurable"])
        self._lines("checks", [_checks(after)])

    def _report_refusal(self, refusal: ValidationError, before: State, after: State) -> None:
        messages = refusal.messages
        self.out.write(
            f"    refused   ValidationError from a before trigger, {len(messages)} message(s); "
            f"first: {messages[0]}"
        )
        changes = before.changed(after)
        if changes:
            self._lines("CHANGED", [_change(name, old, new) for name, old, new in changes])
        else:
            self.out.write("    data      unchanged: every figure above reads as before the step")

    def _lines(self, heading: str, lines: list[str]) -> None:
        for i, line in enumerate(lines):
            self.out.write(f"    {heading if i == 0 else '':<9} {line}")

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
        self.out.write(f"  checks: {_checks(state)}")


def _updated(count: int, what: str) -> Did:
    return Did(count, f"update() returned {count}: {what}")


def _change(label: str, old: object, new: object) -> str:
    return f"{label} {old} -> {new}"


def _status_changes(before: State, after: State) -> list[str]:
    old, new = dict(before.orders_by_status), dict(after.orders_by_status)
    moved = [f"{s} {old[s]} -> {new[s]}" for s in old if old[s] != new[s]]
    return [f"orders by status: {', '.join(moved)}"] if moved else []


def _audit_changes(before: State, after: State) -> str:
    added = after.audit() - before.audit()
    if not added:
        return ""
    detail = ", ".join(f"{model} {action} {n}" for (model, action), n in sorted(added.items()))
    return f"audit entries +{sum(added.values())} ({detail})"


def _checks(state: State) -> str:
    return (
        f"{state.orders_whose_total_matches_lines}/{state.orders} order totals equal their lines; "
        f"{state.shipped_orders_missing_shipped_at} shipped orders without shipped_at; "
        f"{state.accounts_flagged_wrongly} accounts with a status that contradicts the balance"
    )
