"""Models the test suite triggers on: one per shape the engine must handle."""

from __future__ import annotations

import uuid

from django.db import models

from bulk_triggers import TriggerManager, TriggerModelMixin


class Customer(TriggerModelMixin):
    name = models.CharField(max_length=50)


class Item(TriggerModelMixin):
    """The workhorse: plain, numeric, related, JSON and choice fields."""

    name = models.CharField(max_length=50)
    status = models.CharField(max_length=20, default="new")
    amount = models.IntegerField(default=0)
    price = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.CASCADE)
    data = models.JSONField(default=dict, blank=True)
    note = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gte=-1000), name="item_amount_floor"),
        ]


class ItemProxy(Item):
    class Meta:
        proxy = True


class ItemProxyProxy(ItemProxy):
    class Meta:
        proxy = True


class UuidThing(TriggerModelMixin):
    """A primary key with a default: saving a new one must be a create, not an update."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    label = models.CharField(max_length=20)


class CodeThing(TriggerModelMixin):
    """A natural primary key without default: save() updates if the row exists."""

    code = models.CharField(max_length=10, primary_key=True)
    label = models.CharField(max_length=20, default="")


class ManagerOnly(models.Model):
    """Triggers through the manager alone, without the mixin."""

    name = models.CharField(max_length=20)
    amount = models.IntegerField(default=0)

    objects: TriggerManager[ManagerOnly] = TriggerManager()


class Place(TriggerModelMixin):
    name = models.CharField(max_length=20)


class Restaurant(Place):
    seats = models.IntegerField(default=0)


class Log(models.Model):
    """Where triggers write; deliberately without triggers of its own."""

    kind = models.CharField(max_length=40)
    ref = models.CharField(max_length=60, default="")
    before = models.IntegerField(null=True)
    after = models.IntegerField(null=True)


class Plain(models.Model):
    """A model with no triggers and a plain manager, as a baseline for query counts."""

    name = models.CharField(max_length=20)
    amount = models.IntegerField(default=0)


class Ledger(TriggerModelMixin):
    """A second, plain manager beside the trigger manager: the checks must notice it."""

    amount = models.IntegerField(default=0)

    objects: TriggerManager[Ledger] = TriggerManager()
    raw = models.Manager()


class Shadowed(TriggerModelMixin):
    """A manager declared on the model becomes the default, shadowing the mixin's."""

    amount = models.IntegerField(default=0)

    raw = models.Manager()


class Account(TriggerModelMixin):
    """What concurrent writers race on, and what the property-based test writes at random.

    ``name`` is unique and ``balance`` has a floor, so that random writes can also be
    refused by the database itself.
    """

    name = models.CharField(max_length=30, unique=True)
    balance = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(balance__gte=-1000), name="account_balance_floor"
            ),
        ]


class AuditRow(models.Model):
    """One balance change of an Account, written by a trigger; no triggers of its own."""

    account_id = models.IntegerField()
    old = models.IntegerField()
    new = models.IntegerField()
    path = models.CharField(max_length=20, default="")
