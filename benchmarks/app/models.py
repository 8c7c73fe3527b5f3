"""Two models of the same shape: ``PlainItem`` (plain Django) and ``TriggerItem`` (bulk_triggers).

The benchmark compares operations on the two; a trigger configuration is a set of
triggers registered on ``TriggerItem``, none by default.
"""

from __future__ import annotations

from django.db import models

from bulk_triggers.models import TriggerModelMixin


class Customer(models.Model):
    name = models.CharField(max_length=100)


class ItemFields(models.Model):
    """The shared shape: text, a watched integer, a decimal, a foreign key and JSON."""

    name = models.CharField(max_length=100)
    status = models.CharField(max_length=20)
    amount = models.IntegerField()
    price = models.DecimalField(max_digits=10, decimal_places=2)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    data = models.JSONField(default=dict)

    class Meta:
        abstract = True


class PlainItem(ItemFields):
    objects = models.Manager()


class TriggerItem(TriggerModelMixin, ItemFields):
    pass


class SeedItem(ItemFields):
    """The starting rows, written once per run; tables are reset by copying from here."""

    objects = models.Manager()
