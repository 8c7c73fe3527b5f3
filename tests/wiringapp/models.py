"""Models whose triggers are wired by their default manager alone (no mixin)."""

from __future__ import annotations

from typing import Any

from django.db import models

from bulk_triggers import TriggerManager


class WiredItem(models.Model):
    name = models.CharField(max_length=20, default="")
    amount = models.IntegerField(default=0)

    objects: TriggerManager[WiredItem] = TriggerManager()


class WiredItemProxy(WiredItem):
    class Meta:
        proxy = True


class WiredOverride(models.Model):
    """Overrides save() and delete(), each calling super(): still one dispatch per call."""

    name = models.CharField(max_length=20, default="")
    saves = models.IntegerField(default=0)

    objects: TriggerManager[WiredOverride] = TriggerManager()

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.saves += 1
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        return super().delete(*args, **kwargs)


class WiredChild(WiredOverride):
    """A multi-table child: inherits the parent's manager and its (wrapped) save()."""

    extra = models.IntegerField(default=0)


class WiredLine(models.Model):
    item = models.ForeignKey(WiredItem, null=True, on_delete=models.SET_NULL, related_name="lines")
    label = models.CharField(max_length=20, default="")

    objects: TriggerManager[WiredLine] = TriggerManager()
