"""``TriggerManager``: the default manager that hands out ``TriggerQuerySet``."""

from __future__ import annotations

from typing import Generic, TypeVar

from django.db import models

from bulk_triggers.queryset import TriggerQuerySet

M = TypeVar("M", bound=models.Model)

__all__ = ["TriggerManager"]


# Built on models.Manager (not BaseManager) so that third-party code testing
# isinstance(x, models.Manager) accepts it and the related managers Django derives from it.
class TriggerManager(models.Manager.from_queryset(TriggerQuerySet), Generic[M]):  # type: ignore[misc]
    """A manager whose querysets run triggers on every write.

    Use it as a model's default manager (first declared, or ``Meta.default_manager_name``)
    so that related managers and Django's own code paths use it too.
    """
