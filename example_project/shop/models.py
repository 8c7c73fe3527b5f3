"""The shop's models. Those with triggers subclass ``TriggerModelMixin``; the audit log does not."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils import timezone

from bulk_triggers import TriggerModelMixin


class Account(TriggerModelMixin):
    """A customer account, debited when one of its orders is paid."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        OVERDRAWN = "overdrawn"

    name = models.CharField(max_length=100)
    balance = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)

    def __str__(self) -> str:
        return self.name


class Order(TriggerModelMixin):
    """An order; ``total`` and ``shipped_at`` are maintained by triggers."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        PLACED = "placed"
        PAID = "paid"
        SHIPPED = "shipped"
        CANCELLED = "cancelled"

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    shipped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"Order {self.pk} ({self.status})"


class OrderLine(TriggerModelMixin):
    """One product on an order; changing lines recomputes the order's total."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    sku = models.CharField(max_length=40)
    quantity = models.IntegerField(default=1)
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku}"


class Product(TriggerModelMixin):
    """A catalogue entry, imported in bulk by SKU (``bulk_create(update_conflicts=True)``)."""

    sku = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    price = models.DecimalField(max_digits=10, decimal_places=2)

    def __str__(self) -> str:
        return f"{self.sku} ({self.name})"


class AuditEntry(models.Model):
    """One row created, updated or deleted, as recorded by the audit triggers.

    Has no triggers itself, so writing the audit trail never dispatches again.
    """

    class Action(models.TextChoices):
        CREATE = "create"
        UPDATE = "update"
        DELETE = "delete"

    model = models.CharField(max_length=100)
    object_pk = models.CharField(max_length=64)
    action = models.CharField(max_length=10, choices=Action.choices)
    changes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["model", "object_pk"])]

    def __str__(self) -> str:
        return f"{self.action} {self.model} {self.object_pk}"
