"""The shop's business rules, as triggers. Imported by bulk_triggers when Django starts.

Every rule holds whichever way rows are written: ``save()``, the admin, ``bulk_create``,
``bulk_update``, ``QuerySet.update`` with expressions, or ``QuerySet.delete``. Triggers
write with ``self.using`` so that they follow the operation to its database.

Order of the ``Order`` triggers (lower ``order`` runs first): the workflow check refuses
bad transitions before ``ShipOrder`` stamps ``shipped_at``; the audit runs last so that
it records what the other triggers changed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Case, F, OuterRef, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from bulk_triggers import ChangesTo, Condition, HasChanged, Trigger
from shop import notifications
from shop.models import Account, AuditEntry, Order, OrderLine, Product

M = TypeVar("M", bound=models.Model)

MONEY = models.DecimalField(max_digits=12, decimal_places=2)

#: The order workflow: the statuses each status may change to.
TRANSITIONS: dict[str, frozenset[str]] = {
    Order.Status.DRAFT: frozenset({Order.Status.PLACED, Order.Status.CANCELLED}),
    Order.Status.PLACED: frozenset({Order.Status.PAID, Order.Status.CANCELLED}),
    Order.Status.PAID: frozenset({Order.Status.SHIPPED}),
    Order.Status.SHIPPED: frozenset(),
    Order.Status.CANCELLED: frozenset(),
}


# --- Audit trail: one generic trigger, declared once per audited model -----------------


class RowChanged(Condition):
    """True on create and delete; on update, when any stored field differs.

    Keeps the audit trail free of updates that wrote the values already stored, such as
    a total recomputed to the same amount.
    """

    def check(self, new: Any, old: Any) -> bool:
        if new is None or old is None:
            return True
        return bool(_differences(new, old))


class Audit(Trigger[M]):
    """Write one ``AuditEntry`` per created, changed or deleted row, in one ``bulk_create``.

    Generic: its model is a type variable, so it is not registered itself; each
    subclass below names a model and is registered for it.
    """

    condition = RowChanged()
    order = 100

    def on_after_create(self, new: list[M]) -> None:
        self._write(AuditEntry.Action.CREATE, [(row, _values(row)) for row in new])

    def on_after_update(self, new: list[M], old: list[M]) -> None:
        self._write(
            AuditEntry.Action.UPDATE,
            [(row, _differences(row, was)) for row, was in zip(new, old, strict=True)],
        )

    def on_after_delete(self, old: list[M]) -> None:
        self._write(AuditEntry.Action.DELETE, [(row, _values(row)) for row in old])

    def _write(self, action: str, rows: list[tuple[M, dict[str, Any]]]) -> None:
        now = timezone.now()
        AuditEntry.objects.using(self.using).bulk_create(
            AuditEntry(
                model=row._meta.label,
                object_pk=str(row.pk),
                action=action,
                changes=changes,
                created_at=now,
            )
            for row, changes in rows
        )


class AccountAudit(Audit[Account]):
    """Audit accounts."""


class OrderAudit(Audit[Order]):
    """Audit orders, including the totals and timestamps other triggers set."""


class OrderLineAudit(Audit[OrderLine]):
    """Audit order lines."""


class ProductAudit(Audit[Product]):
    """Audit the catalogue: which imported products were created and which were updated."""


def _json(field: models.Field[Any, Any], value: Any) -> Any:
    """Return ``value`` as JSON can hold it, decimals with the field's own places."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, Decimal) and isinstance(field, models.DecimalField):
        return str(value.quantize(Decimal(1).scaleb(-(field.decimal_places or 0))))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _fields(row: models.Model) -> list[models.Field[Any, Any]]:
    """Return the row's loaded non-key fields: reading a deferred one would cost a query."""
    loaded = row.__dict__
    return [f for f in row._meta.concrete_fields if not f.primary_key and f.attname in loaded]


def _values(row: models.Model) -> dict[str, Any]:
    return {f.attname: _json(f, row.__dict__[f.attname]) for f in _fields(row)}


def _differences(new: models.Model, old: models.Model) -> dict[str, list[Any]]:
    stored = old.__dict__
    return {
        f.attname: [_json(f, stored[f.attname]), _json(f, new.__dict__[f.attname])]
        for f in _fields(new)
        if f.attname in stored and stored[f.attname] != new.__dict__[f.attname]
    }


# --- Orders: workflow, shipping, payment, notification ----------------------------------


class EnforceOrderWorkflow(Trigger[Order]):
    """Refuse status changes the workflow does not allow, such as cancelling a shipped order.

    One bad row refuses the whole operation: nothing of it is written.
    """

    condition = HasChanged("status")
    order = 0

    def on_before_update(self, new: list[Order], old: list[Order]) -> None:
        refused = [
            f"Order {row.pk} cannot go from '{was.status}' to '{row.status}'."
            for row, was in zip(new, old, strict=True)
            if row.status not in TRANSITIONS[was.status]
        ]
        if refused:
            raise ValidationError(refused, code="invalid_transition")


class ShipOrder(Trigger[Order]):
    """Stamp ``shipped_at`` when an order becomes shipped.

    Written even when the operation did not name ``shipped_at`` (``bulk_update(orders,
    ["status"])``, ``save(update_fields=["status"])``, ``update(status="shipped")``).
    """

    condition = ChangesTo("status", Order.Status.SHIPPED)
    order = 10

    def on_before_update(self, new: list[Order], old: list[Order]) -> None:
        now = timezone.now()
        for row in new:
            row.shipped_at = now


class ChargeAccount(Trigger[Order]):
    """Debit each account with the totals of its orders that became paid.

    The debit is one ``UPDATE`` with ``F()`` and ``Case``, computed by the database, so
    that concurrent payments cannot lose one. It runs the account triggers in turn
    (``FlagOverdrawnAccounts``, ``AccountAudit``).
    """

    condition = ChangesTo("status", Order.Status.PAID)
    order = 20

    def on_after_update(self, new: list[Order], old: list[Order]) -> None:
        # Sum the stored totals rather than ``row.total``: after bulk_update(orders,
        # ["status"]) the rows are the caller's objects, whose unwritten fields may be stale.
        paid = Order.objects.using(self.using).filter(pk__in=[row.pk for row in new])
        due = dict(
            paid.order_by()
            .values("account")
            .annotate(amount=Sum("total"))
            .values_list("account", "amount")
        )
        debit = Case(
            *(When(pk=pk, then=Value(amount)) for pk, amount in due.items()),
            default=Value(Decimal("0.00")),
            output_field=MONEY,
        )
        Account.objects.using(self.using).filter(pk__in=due).update(balance=F("balance") - debit)


class NotifyShipping(Trigger[Order]):
    """Tell account holders their order left, once the change is committed (never on rollback).

    A task trigger: its commit stage runs as a task of Django's Tasks framework on the
    ``notifications`` queue, with the orders as they were written. The example's
    settings use the immediate backend, which runs it in this process at the commit; with
    django-tasks-db it runs in a ``db_worker`` (README, "Task triggers and context").
    """

    condition = ChangesTo("status", Order.Status.SHIPPED)
    task = True
    task_options = {"queue_name": "notifications"}

    def on_commit_update(self, new: list[Order], old: list[Order]) -> None:
        notifications.send(
            notifications.Notification(
                database=self.using,
                account_id=row.account_id,
                order_id=row.pk,
                text=f"Your order {row.pk} has shipped.",
            )
            for row in new
        )


# --- Accounts ---------------------------------------------------------------------------


class FlagOverdrawnAccounts(Trigger[Account]):
    """Keep ``status`` in step with the balance: overdrawn below zero, active otherwise."""

    condition = HasChanged("balance")

    def on_before_create(self, new: list[Account]) -> None:
        self._flag(new)

    def on_before_update(self, new: list[Account], old: list[Account]) -> None:
        self._flag(new)

    def _flag(self, accounts: list[Account]) -> None:
        for account in accounts:
            overdrawn = account.balance < 0
            account.status = Account.Status.OVERDRAWN if overdrawn else Account.Status.ACTIVE


# --- Order lines: validation and totals -------------------------------------------------


class ValidateOrderLines(Trigger[OrderLine]):
    """Refuse lines with a quantity below one or a negative price."""

    condition = HasChanged("quantity") | HasChanged("unit_price")
    order = 0

    def on_before_create(self, new: list[OrderLine]) -> None:
        self._validate(new)

    def on_before_update(self, new: list[OrderLine], old: list[OrderLine]) -> None:
        self._validate(new)

    def _validate(self, lines: list[OrderLine]) -> None:
        errors = [
            ValidationError(f"Line {line.sku} of order {line.order_id}: {problem}.", code=code)
            for line in lines
            for problem, code in _line_problems(line)
        ]
        if errors:
            raise ValidationError(errors)


def _line_problems(line: OrderLine) -> list[tuple[str, str]]:
    problems = []
    if line.quantity < 1:
        problems.append((f"quantity {line.quantity} is below 1", "quantity"))
    if line.unit_price < 0:
        problems.append((f"unit price {line.unit_price} is negative", "unit_price"))
    return problems


class RecomputeTotals(Trigger[OrderLine]):
    """Recompute the totals of the orders whose lines were added or changed.

    On update a line may move to another order: both orders are recomputed.
    """

    condition = HasChanged("quantity") | HasChanged("unit_price") | HasChanged("order")
    order = 10

    def on_after_create(self, new: list[OrderLine]) -> None:
        recompute_totals({line.order_id for line in new}, self.using)

    def on_after_update(self, new: list[OrderLine], old: list[OrderLine]) -> None:
        recompute_totals({line.order_id for line in (*new, *old)}, self.using)


class RecomputeTotalsAfterDelete(Trigger[OrderLine]):
    """Recompute the totals of the orders that lost lines.

    A separate trigger because change conditions are false on delete: ``RecomputeTotals``
    would never see a deleted line.
    """

    order = 10

    def on_after_delete(self, old: list[OrderLine]) -> None:
        recompute_totals({line.order_id for line in old}, self.using)


def recompute_totals(order_ids: set[int], using: str) -> int:
    """Set each order's total to the sum of its lines, in one ``UPDATE``; return the count.

    Goes through ``Order.objects``, so the order triggers (the audit) see the new totals.
    """
    line_totals = (
        OrderLine.objects.filter(order=OuterRef("pk"))
        .order_by()
        .values("order")
        .annotate(amount=Sum(F("quantity") * F("unit_price")))
        .values("amount")
    )
    new_total = Coalesce(Subquery(line_totals), Value(Decimal("0.00")), output_field=MONEY)
    updated: int = Order.objects.using(using).filter(pk__in=order_ids).update(total=new_total)
    return updated
