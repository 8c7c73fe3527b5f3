"""django-bulk-hooks' hooks on ``BulkHooksItem``: the before+after configuration's equivalent.

Empty bodies, as for bulk_triggers' configurations: a before and an after hook per event,
update hooks on a change of the watched field, delete hooks on the deleted row's values
(a deleted row has no change), so that every hook runs. Imported by ``models.py`` only when
django-bulk-hooks is installed.
"""

from __future__ import annotations

from typing import Any

from django_bulk_hooks import Hook, hook
from django_bulk_hooks.conditions import HasChanged, IsNotEqual
from django_bulk_hooks.constants import (
    AFTER_CREATE,
    AFTER_DELETE,
    AFTER_UPDATE,
    BEFORE_CREATE,
    BEFORE_DELETE,
    BEFORE_UPDATE,
)

from benchmarks.app.models import WATCHED, BulkHooksItem


class BulkHooksItemHooks(Hook):  # type: ignore[misc]
    """A before and an after hook per event, doing nothing."""

    @hook(BEFORE_CREATE, model=BulkHooksItem)  # type: ignore[misc]
    def before_create(self, new_records: Any, old_records: Any) -> None:
        return None

    @hook(AFTER_CREATE, model=BulkHooksItem)  # type: ignore[misc]
    def after_create(self, new_records: Any, old_records: Any) -> None:
        return None

    @hook(BEFORE_UPDATE, model=BulkHooksItem, condition=HasChanged(WATCHED))  # type: ignore[misc]
    def before_update(self, new_records: Any, old_records: Any) -> None:
        return None

    @hook(AFTER_UPDATE, model=BulkHooksItem, condition=HasChanged(WATCHED))  # type: ignore[misc]
    def after_update(self, new_records: Any, old_records: Any) -> None:
        return None

    @hook(BEFORE_DELETE, model=BulkHooksItem, condition=IsNotEqual("status", "archived"))  # type: ignore[misc]
    def before_delete(self, new_records: Any, old_records: Any) -> None:
        return None

    @hook(AFTER_DELETE, model=BulkHooksItem, condition=IsNotEqual("status", "archived"))  # type: ignore[misc]
    def after_delete(self, new_records: Any, old_records: Any) -> None:
        return None
