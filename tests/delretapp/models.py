"""Models for ``QuerySet.delete()``'s ``DELETE … RETURNING`` path (app label ``delretapp``).

``DelRow`` has every kind of value the after triggers must receive as Django loads it,
and nothing that keeps Django from fast-deleting it; ``DelTwin`` is the same table
without triggers, for Django's own return value. ``DelOwner`` (cascade) and ``DelKept``
(``SET_NULL``) are deleted through the collector.
"""

from __future__ import annotations

from django.db import models

from bulk_triggers import TriggerModelMixin


class DelTarget(models.Model):
    """What the deleted rows point to, by primary key and by a unique code."""

    code = models.CharField(max_length=10, unique=True)


class DelFields(models.Model):
    """The deleted rows' columns: decimals, aware datetimes, JSON, NULLs, foreign keys."""

    amount = models.DecimalField(max_digits=10, decimal_places=3, null=True)
    moment = models.DateTimeField(null=True)
    data = models.JSONField(null=True)
    flag = models.BooleanField(default=False)
    note = models.CharField(max_length=20, null=True)
    target = models.ForeignKey(DelTarget, null=True, on_delete=models.DO_NOTHING, related_name="+")
    coded = models.ForeignKey(
        DelTarget,
        null=True,
        to_field="code",
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_column="coded",
    )

    class Meta:
        abstract = True


class DelRow(TriggerModelMixin, DelFields):
    """Deleted through ``TriggerQuerySet``."""


class DelTwin(DelFields):
    """Deleted by plain Django."""


class DelOwner(TriggerModelMixin):
    """A row whose delete cascades to ``DelPart``: Django cannot fast-delete it."""

    name = models.CharField(max_length=20, default="")


class DelPart(models.Model):
    """Cascaded to by ``DelOwner``."""

    owner = models.ForeignKey(DelOwner, on_delete=models.CASCADE)


class DelKept(TriggerModelMixin):
    """A row whose delete sets ``DelHolder.kept`` to NULL."""

    name = models.CharField(max_length=20, default="")


class DelHolder(models.Model):
    """Points at ``DelKept`` with ``SET_NULL``."""

    kept = models.ForeignKey(DelKept, null=True, on_delete=models.SET_NULL)


class DelRowProxy(DelRow):
    """A proxy: its triggers and its label are its own."""

    class Meta:
        proxy = True
