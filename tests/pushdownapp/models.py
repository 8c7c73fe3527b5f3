"""Models for the condition pushdown tests (app label ``pushdownapp``).

Two identical tables: ``PushTicket`` is written with triggers (and pushdown), ``PushTwin``
by Django's plain ``update()`` on the same rows, so a test compares them row by row.
"""

from __future__ import annotations

from django.db import models

from bulk_triggers import TriggerModelMixin


class PushOwner(models.Model):
    """The target of the tickets' foreign key, with a status for related-path conditions."""

    status = models.CharField(max_length=20, default="active")


class _Columns(models.Model):
    status = models.CharField(max_length=20, null=True)
    label = models.CharField(max_length=20, default="")
    priority = models.IntegerField(null=True)
    flag = models.BooleanField(null=True)
    owner = models.ForeignKey(PushOwner, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        abstract = True


class PushTicket(TriggerModelMixin, _Columns):
    """The table the triggers run on."""


class PushTwin(_Columns):
    """The same columns, written by plain Django for comparison."""


class PushBox(TriggerModelMixin, models.Model):
    """A row whose delete cascades to ``PushBoxNote``."""

    status = models.CharField(max_length=20, default="")


class PushBoxNote(TriggerModelMixin, models.Model):
    """A row a box's delete cascades to."""

    box = models.ForeignKey(PushBox, on_delete=models.CASCADE, related_name="+")


class PushNode(TriggerModelMixin, models.Model):
    """A tree whose delete cascades to the same model."""

    status = models.CharField(max_length=20, default="")
    parent = models.ForeignKey("self", null=True, on_delete=models.CASCADE, related_name="+")
