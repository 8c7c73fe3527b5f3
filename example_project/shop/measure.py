"""What the demo reads back from the database to show what the triggers did.

Nothing here trusts the triggers: every figure is counted from the tables (or, for
notifications, from the outbox the trigger fills), so a trigger that did not run or
wrote the wrong thing shows up as a wrong number.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal

from django.db.models import Count, Q, Sum

from shop import notifications
from shop.models import Account, AuditEntry, Order, OrderLine, Product

CENT = Decimal("0.01")


@dataclass(frozen=True)
class State:
    """A snapshot of the shop on one database: data, and what triggers maintain in it."""

    accounts: int
    orders: int
    order_lines: int
    products: int
    orders_by_status: tuple[tuple[str, int], ...]
    audit_entries: tuple[tuple[str, str, int], ...]  # (model label, action, count)
    orders_with_shipped_at: int
    shipped_orders_missing_shipped_at: int
    orders_whose_total_matches_lines: int
    sum_of_order_totals: Decimal
    overdrawn_accounts: int
    accounts_flagged_wrongly: int
    sum_of_balances: Decimal
    notifications_sent: int
    #: Each order's stored total by primary key; not a figure of its own (see ``changed``).
    order_totals: Mapping[int, Decimal] = field(compare=False, repr=False)

    def audit(self) -> Counter[tuple[str, str]]:
        """Return the audit entries counted per (model label, action)."""
        return Counter({(model, action): n for model, action, n in self.audit_entries})

    def audit_total(self) -> int:
        """Return how many audit entries the database holds."""
        return sum(n for _, _, n in self.audit_entries)

    def changed(self, later: State) -> list[tuple[str, object, object]]:
        """Return ``(name, before, after)`` for each figure that differs in ``later``."""
        return [
            (f.name, getattr(self, f.name), getattr(later, f.name))
            for f in fields(self)
            if f.compare and getattr(self, f.name) != getattr(later, f.name)
        ]


def measure(using: str) -> State:
    """Count, on database ``using``, everything the demo reports."""
    orders = Order.objects.using(using)
    accounts = Account.objects.using(using)
    statuses = dict(orders.values_list("status").annotate(n=Count("pk")).order_by())
    audit = (
        AuditEntry.objects.using(using)
        .values_list("model", "action")
        .annotate(n=Count("pk"))
        .order_by("model", "action")
    )
    account_figures = accounts.aggregate(
        count=Count("pk"),
        overdrawn=Count("pk", filter=Q(status=Account.Status.OVERDRAWN)),
        wrong=Count("pk", filter=Q(status=Account.Status.OVERDRAWN, balance__gte=0))
        + Count("pk", filter=Q(status=Account.Status.ACTIVE, balance__lt=0)),
        balances=Sum("balance"),
    )
    matching, totals = _totals_against_lines(using)
    return State(
        accounts=account_figures["count"],
        orders=len(totals),
        order_lines=OrderLine.objects.using(using).count(),
        products=Product.objects.using(using).count(),
        orders_by_status=tuple((s, statuses.get(s, 0)) for s in Order.Status.values),
        audit_entries=tuple(audit),
        orders_with_shipped_at=orders.filter(shipped_at__isnull=False).count(),
        shipped_orders_missing_shipped_at=orders.filter(
            status=Order.Status.SHIPPED, shipped_at__isnull=True
        ).count(),
        orders_whose_total_matches_lines=matching,
        sum_of_order_totals=_money(sum(totals.values(), Decimal(0))),
        overdrawn_accounts=account_figures["overdrawn"],
        accounts_flagged_wrongly=account_figures["wrong"],
        sum_of_balances=_money(account_figures["balances"]),
        notifications_sent=len(notifications.sent(using)),
        order_totals=totals,
    )


def _totals_against_lines(using: str) -> tuple[int, dict[int, Decimal]]:
    """Return how many orders' stored totals equal their lines, and each order's total.

    Summed in Python from the stored decimals, so that SQLite's floating-point
    arithmetic cannot blur the comparison.
    """
    expected: dict[int, Decimal] = defaultdict(Decimal)
    lines = OrderLine.objects.using(using).values_list("order_id", "quantity", "unit_price")
    for order_id, quantity, unit_price in lines.iterator(chunk_size=5000):
        expected[order_id] += quantity * unit_price
    stored = Order.objects.using(using).values_list("pk", "total")
    totals = {pk: _money(total) for pk, total in stored.iterator(chunk_size=5000)}
    matching = sum(total == _money(expected.get(pk, Decimal(0))) for pk, total in totals.items())
    return matching, totals


def _money(value: Decimal | None) -> Decimal:
    return (value or Decimal(0)).quantize(CENT)
