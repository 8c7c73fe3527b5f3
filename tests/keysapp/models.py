"""Models for lock strength, chunked key changes and composite primary keys."""

from __future__ import annotations

from django.db import models

from bulk_triggers import TriggerModelMixin
from tests.testapp.models import Account


class KeysEntry(models.Model):
    """A child row whose foreign key check (``FOR KEY SHARE``) meets the parent's row lock."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    amount = models.IntegerField(default=0)


class KeysMember(TriggerModelMixin):
    """A composite primary key: (tenant, number)."""

    pk = models.CompositePrimaryKey("tenant", "number")
    tenant = models.IntegerField()
    number = models.IntegerField()
    name = models.CharField(max_length=50)
    amount = models.IntegerField(default=0)
    note = models.CharField(max_length=100, blank=True, default="")
    label = models.CharField(max_length=20, blank=True, default="")

    class Meta:
        ordering = ["name"]


class KeysWarehouse(TriggerModelMixin):
    """A unique column that another model's foreign key references (``to_field``)."""

    code = models.CharField(max_length=10, unique=True)
    name = models.CharField(max_length=30, default="")


class KeysParcel(models.Model):
    """Points at a warehouse by its code, so that changing the code is a key change."""

    warehouse = models.ForeignKey(
        KeysWarehouse, to_field="code", on_delete=models.CASCADE, related_name="+"
    )


class KeysWarehouseProxy(KeysWarehouse):
    """Updates through a proxy change the concrete model's referenced key just the same."""

    class Meta:
        proxy = True
