"""Models for the debug-toolbar panel's tests: a trigger on one writes to the other."""

from __future__ import annotations

from django.db import models

from bulk_triggers import TriggerModelMixin


class ToolbarOrder(TriggerModelMixin):
    """An order whose triggers write notes, so that the notes' triggers run nested."""

    name = models.CharField(max_length=50)
    total = models.IntegerField(default=0)

    def __str__(self) -> str:
        return self.name


class ToolbarNote(TriggerModelMixin):
    """A note about an order, written by the order's triggers."""

    order = models.ForeignKey(ToolbarOrder, on_delete=models.CASCADE, related_name="notes")
    text = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.text
