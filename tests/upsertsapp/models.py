"""Models for the upsert tests: one with triggers and its plain twin, to compare with Django."""

from __future__ import annotations

from django.db import models

from bulk_triggers.models import TriggerModelMixin


class UpsertFields(models.Model):
    """The columns both upsert models share: a unique field and a two-column constraint."""

    sku = models.CharField(max_length=20, unique=True)
    region = models.CharField(max_length=10)
    code = models.CharField(max_length=10)
    name = models.CharField(max_length=30, default="")
    qty = models.IntegerField(default=0)
    note = models.CharField(max_length=30, default="")

    class Meta:
        abstract = True


class UpsertItem(TriggerModelMixin, UpsertFields):
    """The model whose triggers the upsert tests define."""

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["region", "code"], name="upsertitem_region_code")
        ]


class UpsertPlain(UpsertFields):
    """UpsertItem's twin without triggers: what plain Django does with the same call."""

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["region", "code"], name="upsertplain_region_code")
        ]


class UpsertPartial(TriggerModelMixin):
    """A unique constraint with a condition: conflicts the library cannot pre-select."""

    code = models.CharField(max_length=10)
    active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["code"], condition=models.Q(active=True), name="upsertpartial_active"
            )
        ]
