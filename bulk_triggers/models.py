"""``TriggerModelMixin``: triggers on ``save()`` and ``delete()`` of one instance."""

from __future__ import annotations

from typing import Any

from django.db import models

from bulk_triggers.instance import delete_instance, save_instance
from bulk_triggers.manager import TriggerManager

__all__ = ["TriggerModelMixin"]


class TriggerModelMixin(models.Model):
    """An abstract model that runs triggers on ``save()``/``delete()`` and sets ``objects``.

    Bulk operations need the manager; instance operations need this mixin: use both,
    which is what subclassing this mixin gives you.
    """

    objects: TriggerManager[Any] = TriggerManager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        save_instance(self, super().save, args, kwargs)

    save.alters_data = True  # type: ignore[attr-defined]

    def delete(
        self, using: str | None = None, keep_parents: bool = False
    ) -> tuple[int, dict[str, int]]:
        result: tuple[int, dict[str, int]] = delete_instance(
            self, super().delete, using, keep_parents
        )
        return result

    delete.alters_data = True  # type: ignore[attr-defined]
