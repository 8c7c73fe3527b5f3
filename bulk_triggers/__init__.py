"""Salesforce-style triggers for Django, fired by every ORM write path."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bulk_triggers.changes import AllChange, AnyChange
from bulk_triggers.comparisons import (
    IsGreaterThan,
    IsGreaterThanOrEqual,
    IsIn,
    IsLessThan,
    IsLessThanOrEqual,
    IsNull,
    WasGreaterThan,
    WasGreaterThanOrEqual,
    WasIn,
    WasLessThan,
    WasLessThanOrEqual,
    WasNotEqual,
    WasNull,
)
from bulk_triggers.conditions import Condition
from bulk_triggers.errors import RowError, RowErrors, TriggerError
from bulk_triggers.exceptions import TriggerDefinitionError, TriggerDepthError
from bulk_triggers.field_conditions import (
    ChangesFrom,
    ChangesTo,
    HasChanged,
    IsEqual,
    IsNotEqual,
    WasEqual,
)
from bulk_triggers.operation import OperationContext, context
from bulk_triggers.scope import bypass, is_bypassed
from bulk_triggers.trigger import Trigger, unregister

if TYPE_CHECKING:
    from bulk_triggers.manager import TriggerManager
    from bulk_triggers.models import TriggerModelMixin
    from bulk_triggers.queryset import TriggerQuerySet

__all__ = [
    "AllChange",
    "AnyChange",
    "ChangesFrom",
    "ChangesTo",
    "Condition",
    "HasChanged",
    "IsEqual",
    "IsGreaterThan",
    "IsGreaterThanOrEqual",
    "IsIn",
    "IsLessThan",
    "IsLessThanOrEqual",
    "IsNotEqual",
    "IsNull",
    "OperationContext",
    "RowError",
    "RowErrors",
    "Trigger",
    "TriggerDefinitionError",
    "TriggerDepthError",
    "TriggerError",
    "TriggerManager",
    "TriggerModelMixin",
    "TriggerQuerySet",
    "WasEqual",
    "WasGreaterThan",
    "WasGreaterThanOrEqual",
    "WasIn",
    "WasLessThan",
    "WasLessThanOrEqual",
    "WasNotEqual",
    "WasNull",
    "bypass",
    "context",
    "is_bypassed",
    "unregister",
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
