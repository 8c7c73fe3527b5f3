"""Models for the fast bulk write's exactness tests (app label ``perfapp``).

Every concrete field type Django ships (but ImageField, which needs Pillow) and a custom
field, on two identical tables: one written by Django's ``bulk_update()``, one by the fast
write, compared row by row.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.db.models.functions import Lower

from bulk_triggers import TriggerModelMixin


class PerfTag(models.Model):
    """A row that foreign keys of the exactness tables point to."""

    name = models.CharField(max_length=20)


class PackedField(models.TextField):  # type: ignore[type-arg]
    """A list of words stored as one comma-separated string: a custom ``get_db_prep_save``."""

    def get_db_prep_save(self, value: Any, connection: Any) -> Any:
        if isinstance(value, list | tuple):
            value = ",".join(str(word) for word in value)
        return super().get_db_prep_save(value, connection)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return value if value is None else value.split(",")


class PerfFields(models.Model):
    """Every concrete field type, nullable so that NULL is written too."""

    big = models.BigIntegerField(null=True)
    binary = models.BinaryField(null=True)
    flag = models.BooleanField(null=True)
    char = models.CharField(max_length=30, null=True)
    day = models.DateField(null=True)
    moment = models.DateTimeField(null=True)
    amount = models.DecimalField(max_digits=10, decimal_places=2, null=True)
    duration = models.DurationField(null=True)
    email = models.EmailField(null=True)
    file = models.FileField(null=True)
    path = models.FilePathField(null=True)
    ratio = models.FloatField(null=True)
    ip = models.GenericIPAddressField(null=True)
    number = models.IntegerField(null=True)
    data = models.JSONField(null=True)
    positive_big = models.PositiveBigIntegerField(null=True)
    positive = models.PositiveIntegerField(null=True)
    positive_small = models.PositiveSmallIntegerField(null=True)
    slug = models.SlugField(null=True)
    small = models.SmallIntegerField(null=True)
    text = models.TextField(null=True)
    clock = models.TimeField(null=True)
    url = models.URLField(null=True)
    token = models.UUIDField(null=True)
    tag = models.ForeignKey(PerfTag, null=True, on_delete=models.SET_NULL, related_name="+")
    only = models.OneToOneField(PerfTag, null=True, on_delete=models.SET_NULL, related_name="+")
    packed = PackedField(null=True)
    lowered = models.GeneratedField(
        expression=Lower("char"), output_field=models.CharField(max_length=30), db_persist=True
    )

    class Meta:
        abstract = True


class PerfDjango(PerfFields):
    """The table Django's own bulk_update() writes."""


class PerfFast(PerfFields):
    """The table the fast write writes."""


class ShoutField(models.CharField):  # type: ignore[type-arg]
    """A field with a placeholder of its own, as GIS fields have: SQL around each parameter."""

    def get_placeholder(self, value: Any, compiler: Any, connection: Any) -> str:
        return "UPPER(%s)"

    def get_placeholder_sql(self, value: Any, compiler: Any, connection: Any) -> Any:
        """Django 6.1's form: SQL and parameters, the value possibly an expression."""
        if hasattr(value, "as_sql"):
            sql, params = compiler.compile(value)
            return f"UPPER({sql})", params
        return "UPPER(%s)", (value,)


class PerfKeyed(models.Model):
    """A UUID primary key: the join compares keys of another type than integers."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    amount = models.DecimalField(max_digits=8, decimal_places=3, null=True)
    label = models.CharField(max_length=20, null=True)
    shout = ShoutField(max_length=20, null=True)


class PerfParent(models.Model):
    """The parent of a multi-table-inherited child."""

    name = models.CharField(max_length=20, default="")


class PerfChild(PerfParent):
    """A child: its own fields can be written fast, its parent's take Django's path."""

    size = models.IntegerField(default=0)


class PerfTriggered(TriggerModelMixin):
    """A model written through TriggerQuerySet, with or without triggers."""

    amount = models.IntegerField(default=0)
    label = models.CharField(max_length=20, default="")
