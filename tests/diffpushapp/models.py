"""Models for the differential pushdown tests (app label ``diffpushapp``).

``DpChild`` points at two parents: ``RESTRICT`` on one, ``CASCADE`` on the other. Django
deletes a restricted row's parent when the same ``delete()`` also deletes the row through
a cascade, so a delete split in two must not see the restriction without the cascade.
"""

from __future__ import annotations

from django.db import models

from bulk_triggers import TriggerModelMixin


class DpParent(TriggerModelMixin, models.Model):
    """The deleted rows."""

    status = models.CharField(max_length=20, default="")


class DpChild(models.Model):
    """A row restricted by one parent and deleted by the cascade of another."""

    kept_by = models.ForeignKey(DpParent, on_delete=models.RESTRICT, related_name="+")
    owner = models.ForeignKey(DpParent, on_delete=models.CASCADE, related_name="+")


class DpShelf(TriggerModelMixin, models.Model):
    """Deleted rows that a guard may protect (no ``RESTRICT`` here: the split applies)."""

    status = models.CharField(max_length=20, default="")


class DpGuard(models.Model):
    """A row that keeps its shelf from being deleted."""

    guarded = models.ForeignKey(DpShelf, on_delete=models.PROTECT, related_name="+")
