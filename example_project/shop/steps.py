"""The demo's plain steps (``manage.py demo``): one ORM write each, as application code does.

Each returns what Django returned, with evidence read back from the database where a step
has something to show; ``shop.scenario`` puts them in order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import F

from shop.models import Account, Order, OrderLine, Product

CATALOG = [
    ("TEA-GREEN", Decimal("4.50")),
    ("TEA-BLACK", Decimal("3.90")),
    ("MUG-WHITE", Decimal("12.00")),
    ("KETTLE", Decimal("39.99")),
    ("FILTER-100", Decimal("2.25")),
    ("HONEY", Decimal("7.80")),
    ("TRAY", Decimal("18.50")),
]
#: The supplier's feed: new prices for four SKUs of the catalogue, and three new SKUs.
FEED = [
    ("TEA-GREEN", Decimal("4.80")),
    ("MUG-WHITE", Decimal("12.50")),
    ("KETTLE", Decimal("42.00")),
    ("TRAY", Decimal("17.90")),
    ("TEAPOT", Decimal("24.00")),
    ("SPOON", Decimal("1.20")),
    ("SUGAR", Decimal("2.10")),
]
OPENING_BALANCES = [Decimal(b) for b in ("500.00", "1500.00", "2500.00", "3500.00", "5000.00")]
ORDERS_PER_ACCOUNT = 50


@dataclass
class Did:
    """What a step did to the data, from Django's return values, plus read-back evidence."""

    rows: int
    text: str
    evidence: list[str] = field(default_factory=list)


#: A step: the code it runs as the report shows it, a short label, and the step itself.
Step = tuple[str, str, Callable[[], "Did"]]


def product_name(sku: str) -> str:
    """Return the catalogue name of ``sku``: ``TEA-GREEN`` is ``Tea Green``."""
    return sku.replace("-", " ").title()


class Steps:
    """The plain steps, each a method writing through the ORM on database ``using``."""

    def __init__(self, using: str, rows: int) -> None:
        self.using = using
        self.rows = rows

    def create_accounts(self) -> Did:
        count = max(1, self.rows // ORDERS_PER_ACCOUNT)
        accounts = [
            Account(name=f"Account {i + 1:03}", balance=OPENING_BALANCES[i % len(OPENING_BALANCES)])
            for i in range(count)
        ]
        created = Account.objects.using(self.using).bulk_create(accounts)
        return Did(len(created), f"bulk_create() returned {len(created)} accounts")

    def create_products(self) -> Did:
        products = [Product(sku=sku, name=product_name(sku), price=price) for sku, price in CATALOG]
        created = Product.objects.using(self.using).bulk_create(products)
        return Did(len(created), f"bulk_create() returned {len(created)} products")

    def create_orders(self) -> Did:
        accounts = list(Account.objects.using(self.using).order_by("pk"))
        orders = [Order(account=accounts[i % len(accounts)]) for i in range(self.rows)]
        created = Order.objects.using(self.using).bulk_create(orders)
        return Did(len(created), f"bulk_create() returned {len(created)} draft orders")

    def create_lines(self) -> Did:
        pks = Order.objects.using(self.using).order_by("pk").values_list("pk", flat=True)
        lines = [
            OrderLine(
                order_id=pk,
                sku=CATALOG[(2 * i + k) % len(CATALOG)][0],
                unit_price=CATALOG[(2 * i + k) % len(CATALOG)][1],
                quantity=(i + k) % 3 + 1,
            )
            for i, pk in enumerate(pks)
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

    def add_one_item(self) -> Did:
        lines = OrderLine.objects.using(self.using).filter(order__status="placed")
        count = lines.update(quantity=F("quantity") + 1)
        return Did(
            count, f"update() returned {count}: the lines of placed orders got one more item"
        )

    def cancel(self, status: str) -> Callable[[], Did]:
        def cancel() -> Did:
            orders = Order.objects.using(self.using).filter(status=status)
            count = orders.update(status=Order.Status.CANCELLED)
            return Did(count, f"update() returned {count}: {status} orders cancelled")

        return cancel

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
        shipped_at = f"{stored.shipped_at:%Y-%m-%d %H:%M:%S}" if stored.shipped_at else "NULL"
        return Did(
            1,
            f"saved order {order.pk} with status 'shipped', update_fields=['status']",
            [
                f"order {stored.pk} in the database: status {stored.status!r}, "
                f"shipped_at {shipped_at} (not in update_fields)"
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
