"""Model shapes the engine must show triggers exactly as stored (issue 9)."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.db.models import F, Value

from bulk_triggers import TriggerManager, TriggerModelMixin


class ShWarehouse(TriggerModelMixin):
    """The target of a foreign key that points at ``code``, not at the primary key."""

    code = models.CharField(max_length=10, unique=True)
    name = models.CharField(max_length=20, default="")


class ShParcel(TriggerModelMixin):
    """A ``ForeignKey(to_field=...)``: its stored value is the warehouse's code."""

    warehouse = models.ForeignKey(
        ShWarehouse, to_field="code", on_delete=models.CASCADE, related_name="parcels", null=True
    )
    note = models.CharField(max_length=20, default="")


class ShAccount(TriggerModelMixin):
    name = models.CharField(max_length=20)


class ShOrder(TriggerModelMixin):
    """Database-computed values, ``auto_now``, a datetime, JSON and a foreign key."""

    account = models.ForeignKey(ShAccount, null=True, on_delete=models.CASCADE)
    status = models.CharField(max_length=20, default="new")
    quantity = models.IntegerField(default=0)
    doubled = models.GeneratedField(
        expression=F("quantity") * 2, output_field=models.IntegerField(), db_persist=True
    )
    rank = models.IntegerField(db_default=Value(7))
    due = models.DateTimeField(null=True)
    data = models.JSONField(default=dict)
    touched = models.DateTimeField(auto_now=True)


class ShInitOrder(TriggerModelMixin):
    """A model that overrides ``__init__`` to remember the status it was loaded with."""

    status = models.CharField(max_length=20, default="new")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._initial_status = self.__dict__.get("status")


class ShFromDbOrder(TriggerModelMixin):
    """A model that overrides ``from_db()``, as Django's documentation shows."""

    status = models.CharField(max_length=20, default="new")

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any, **kwargs: Any) -> Any:
        instance = super().from_db(db, field_names, values, **kwargs)
        instance._loaded_values = dict(zip(field_names, values, strict=True))
        return instance


class ShUuid(TriggerModelMixin):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    label = models.CharField(max_length=20, default="")


class ShPlain(models.Model):
    """Triggers through the manager alone (no mixin), for the bulk paths."""

    account = models.ForeignKey(ShAccount, null=True, on_delete=models.CASCADE)
    quantity = models.IntegerField(default=0)

    objects: TriggerManager[ShPlain] = TriggerManager()
