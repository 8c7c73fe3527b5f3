"""Models whose ``update()`` runs the fast paths and their slow twins, to compare them.

One wide row of nullable fields of every kind a condition or a trigger reads (choices,
decimals, datetimes, dates, JSON, UUIDs, a custom field, foreign keys by id and by
``to_field``, a generated column, a database default), keyed by a UUID.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import F, Value

from bulk_triggers import TriggerModelMixin
from tests.perfapp.models import PackedField


class Status(models.TextChoices):
    NEW = "new"
    SHIPPED = "shipped"


class Level(models.IntegerChoices):  # type: ignore[metaclass]  # django-stubs
    LOW = 1
    HIGH = 2


class DiffCustomer(TriggerModelMixin):
    """The target of two foreign keys: by primary key, and by its unique ``code``."""

    code = models.CharField(max_length=10, unique=True)


class DiffRow(TriggerModelMixin):
    """Every value kind whose old and new the fast and the slow paths must agree on."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    n = models.IntegerField(null=True)
    flag = models.BooleanField(null=True)
    amount = models.DecimalField(max_digits=8, decimal_places=2, null=True)
    moment = models.DateTimeField(null=True)
    day = models.DateField(null=True)
    data = models.JSONField(null=True)
    status = models.CharField(max_length=10, choices=Status, null=True)
    level = models.IntegerField(choices=Level, null=True)
    packed = PackedField(null=True)
    token = models.UUIDField(null=True)
    blob = models.BinaryField(null=True)
    ratio = models.FloatField(null=True)
    customer = models.ForeignKey(DiffCustomer, null=True, on_delete=models.SET_NULL)
    depot = models.ForeignKey(
        DiffCustomer, to_field="code", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    doubled = models.GeneratedField(
        expression=F("n") * 2, output_field=models.IntegerField(null=True), db_persist=True
    )
    rank = models.IntegerField(db_default=Value(3))


class DiffRowProxy(DiffRow):
    class Meta:
        proxy = True
