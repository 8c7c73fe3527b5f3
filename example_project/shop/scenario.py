"""The demo's scenario (``manage.py demo``): a shop's day of ORM writes, in bulk.

The plain steps are in ``shop.steps``; the two here read their evidence back from the audit
table (who recorded the cascade's deletes, which imported rows were audited as created or
updated), so that they show what the triggers did whatever the library does.
"""

from __future__ import annotations

from collections import Counter

from django.db import connections
from django.db.models import Count, Max

from shop.models import AuditEntry, Order, OrderLine, Product
from shop.steps import FEED, Did, Step, Steps, product_name


class Scenario(Steps):
    """Every step of the demo, and their order."""

    def plan(self) -> list[Step]:
        """Return the steps: the code each runs, a short label, and the step itself."""
        return [
            (
                "Account.objects.bulk_create(accounts)",
                "bulk_create accounts",
                self.create_accounts,
            ),
            (
                "Product.objects.bulk_create(products)",
                "bulk_create products",
                self.create_products,
            ),
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
                self.add_one_item,
            ),
            (
                'Order.objects.filter(status="placed").update(status="cancelled")',
                "update placed -> cancelled",
                self.cancel("placed"),
            ),
            (
                'Order.objects.filter(status="shipped").update(status="cancelled")  # forbidden',
                "update shipped -> cancelled",
                self.cancel("shipped"),
            ),
            (
                "OrderLine.objects.bulk_create(lines)  # two of the five have quantity 0",
                "bulk_create bad lines",
                self.create_bad_lines,
            ),
            (
                "Product.objects.bulk_create(feed, update_conflicts=True, ...)  # 4 known SKUs",
                "upsert the supplier's feed",
                self.import_catalogue,
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
                "order.delete()  # one cancelled order; its lines go by CASCADE",
                "delete() one order, cascade",
                self.delete_one_order,
            ),
            (
                'Order.objects.filter(status="cancelled").delete()',
                "delete cancelled orders",
                self.delete_cancelled,
            ),
        ]

    def import_catalogue(self) -> Did:
        """Upsert the feed by SKU, then say what the database and the audit table hold."""
        products = Product.objects.using(self.using)
        stored = dict(products.values_list("sku", "price"))
        last = self._last_audit_pk()
        # MariaDB/MySQL upsert on any unique key and refuse to be told which.
        target = connections[self.using].features.supports_update_conflicts_with_target
        returned = products.bulk_create(
            [Product(sku=sku, name=product_name(sku), price=price) for sku, price in FEED],
            update_conflicts=True,
            update_fields=["name", "price"],
            **({"unique_fields": ["sku"]} if target else {}),
        )
        now = dict(products.values_list("sku", "price"))
        inserted = len(now) - len(stored)
        updated = sum(now[sku] != price for sku, price in stored.items())
        audit = Counter(
            AuditEntry.objects.using(self.using)
            .filter(pk__gt=last, model="shop.Product")
            .values_list("action", flat=True)
        )
        agrees = (audit["create"], audit["update"]) == (inserted, updated)
        return Did(
            len(returned),
            f"bulk_create(update_conflicts=True) returned {len(returned)} products",
            [
                f"the database: {inserted} products inserted, {updated} existing ones updated",
                f"the audit table: {audit['create']} create and {audit['update']} update "
                "entries for shop.Product",
                "the audit agrees with the database"
                if agrees
                else "the audit differs from the database: the create triggers received every "
                "row, inserted or updated (README, Known limits)",
            ],
        )

    def delete_one_order(self) -> Did:
        """Delete an order with lines, then read who recorded the deletes in the audit table."""
        orders = Order.objects.using(self.using).filter(status="cancelled")
        order = orders.alias(n=Count("lines")).filter(n__gte=2).order_by("pk").first()
        assert order is not None, "the scenario leaves cancelled orders with lines by this step"
        line_pks = [
            str(pk)
            for pk in OrderLine.objects.using(self.using)
            .filter(order=order)
            .order_by("pk")
            .values_list("pk", flat=True)
        ]
        last = self._last_audit_pk()
        pk = order.pk
        total, per_model = order.delete()
        deletes = AuditEntry.objects.using(self.using).filter(pk__gt=last, action="delete")
        for_order = deletes.filter(model="shop.Order", object_pk=str(pk)).count()
        for_lines = deletes.filter(model="shop.OrderLine", object_pk__in=line_pks).count()
        detail = ", ".join(f"{n} {label}" for label, n in sorted(per_model.items()))
        return Did(
            total,
            f"delete() returned {total} ({detail}; the lines go by CASCADE)",
            [
                f"the audit table: {for_order} delete entry for order {pk}, "
                f"{for_lines} for its {len(line_pks)} lines ({', '.join(line_pks)})",
                "every cascaded line's delete triggers fired"
                if for_lines == len(line_pks)
                else f"{len(line_pks) - for_lines} cascaded lines were deleted without their "
                "delete triggers (README, Known limits)",
            ],
        )

    def _last_audit_pk(self) -> int:
        last: int | None = AuditEntry.objects.using(self.using).aggregate(m=Max("pk"))["m"]
        return last or 0
