"""Models for the per-row error, forms/admin and guard tests."""

from __future__ import annotations

from django.core.validators import MaxValueValidator
from django.db import models

from bulk_triggers import TriggerModelMixin


class ErrTicket(TriggerModelMixin):
    """A row with a workflow field, a validated number and a unique key."""

    title = models.CharField(max_length=50)
    status = models.CharField(
        max_length=20,
        default="draft",
        choices=[("draft", "Draft"), ("placed", "Placed"), ("shipped", "Shipped")],
    )
    points = models.IntegerField(default=0, validators=[MaxValueValidator(100)])
    reference = models.CharField(max_length=20, blank=True, default="")
    owner = models.ForeignKey(
        "ErrOwner", null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.title


class ErrOwner(TriggerModelMixin):
    name = models.CharField(max_length=50, unique=True)

    def __str__(self) -> str:
        return self.name
