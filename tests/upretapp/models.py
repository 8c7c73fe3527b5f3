"""Models for ``update()`` with after triggers only, written in one statement per chunk."""

from __future__ import annotations

from django.db import models
from django.db.models import F

from bulk_triggers import TriggerModelMixin


class UpDepot(TriggerModelMixin):
    """The target of a ``to_field`` foreign key: its ``code`` is a referenced key."""

    code = models.CharField(max_length=10, unique=True)
    name = models.CharField(max_length=20, default="")


class UpRow(TriggerModelMixin):
    """Every kind of value whose old and new the after stage must see as stored."""

    n = models.IntegerField(null=True)
    amount = models.DecimalField(max_digits=10, decimal_places=2, null=True)
    moment = models.DateTimeField(null=True)
    data = models.JSONField(null=True)
    label = models.CharField(max_length=20, default="")
    depot = models.ForeignKey(
        UpDepot, to_field="code", null=True, on_delete=models.SET_NULL, related_name="rows"
    )
    parent = models.ForeignKey("self", null=True, on_delete=models.SET_NULL, related_name="+")
    doubled = models.GeneratedField(
        expression=F("n") * 2, output_field=models.IntegerField(null=True), db_persist=True
    )


class UpCode(TriggerModelMixin):
    """A text primary key: Python may not order it as the database's collation does."""

    code = models.CharField(max_length=10, primary_key=True)
    n = models.IntegerField(default=0)


class UpBase(TriggerModelMixin):
    name = models.CharField(max_length=20, default="")


class UpChild(UpBase):
    """Multi-table inheritance: an update of both tables keeps the two-statement path."""

    size = models.IntegerField(default=0)
