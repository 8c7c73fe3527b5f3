"""Models for update()'s write exactness tests (app label ``upwriteapp``).

Every concrete field type Django ships (but ImageField, which needs Pillow), a custom
field, a ``to_field`` foreign key and a generated column, all nullable: the same
``update()`` runs through the triggered path and through plain Django, and the stored
rows are compared.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models.functions import Lower

from bulk_triggers import TriggerModelMixin


class UwTag(models.Model):
    """What the foreign keys point to, by id and by ``code`` (``to_field``)."""

    code = models.CharField(max_length=10, unique=True)


class WordsField(models.TextField):  # type: ignore[type-arg]
    """A list of words stored comma-separated: a custom ``get_db_prep_save``."""

    def get_db_prep_save(self, value: Any, connection: Any) -> Any:
        if isinstance(value, list | tuple):
            value = ",".join(str(word) for word in value)
        return super().get_db_prep_save(value, connection)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return value if value is None else value.split(",")


class UwRow(TriggerModelMixin):
    """Every concrete field type, nullable so that NULL is read and written too."""

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
    tag = models.ForeignKey(UwTag, null=True, on_delete=models.SET_NULL, related_name="+")
    coded = models.ForeignKey(
        UwTag, null=True, on_delete=models.SET_NULL, to_field="code", related_name="+"
    )
    words = WordsField(null=True)
    lowered = models.GeneratedField(
        expression=Lower("char"), output_field=models.CharField(max_length=30), db_persist=True
    )


class UwParent(TriggerModelMixin):
    """The parent of a multi-table-inherited child: its columns live in another table."""

    name = models.CharField(max_length=20, default="")


class UwChild(UwParent):
    """A child whose update() may write its parent's fields."""

    size = models.IntegerField(default=0)


class UwPlain(TriggerModelMixin):
    """A few columns and no generated one: statements per chunk are those of the update."""

    amount = models.IntegerField(default=0)
    ratio = models.FloatField(default=0)
    label = models.CharField(max_length=20, default="")
    note = models.CharField(max_length=20, default="")
