"""Salesforce-style triggers for Django, fired by every ORM write path."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bulk_triggers.conditions import (
    ChangesFrom,
    ChangesTo,
    Condition,
    HasChanged,
    IsEqual,
    WasEqual,
)
from bulk_triggers.context import bypass
from bulk_triggers.exceptions import TriggerDefinitionError, TriggerDepthError
from bulk_triggers.trigger import Trigger

if TYPE_CHECKING:
    from bulk_triggers.manager import TriggerManager
    from bulk_triggers.models import TriggerModelMixin
    from bulk_triggers.queryset import TriggerQuerySet

__all__ = [
    "ChangesFrom",
    "ChangesTo",
    "Condition",
    "HasChanged",
    "IsEqual",
    "Trigger",
    "TriggerDefinitionError",
    "TriggerDepthError",
    "TriggerManager",
    "TriggerModelMixin",
    "TriggerQuerySet",
    "WasEqual",
    "bypass",
]

# These import django.db.models, which must wait until INSTALLED_APPS is being loaded.
_LAZY = {
    "TriggerManager": "bulk_triggers.manager",
    "TriggerModelMixin": "bulk_triggers.models",
    "TriggerQuerySet": "bulk_triggers.queryset",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bulk_triggers' has no attribute {name!r}")


#: The release, read by the packaging metadata (pyproject.toml) too: bump it here only.
__version__ = "0.1.0"
