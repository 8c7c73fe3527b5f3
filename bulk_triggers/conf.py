"""Settings of bulk_triggers, read from ``settings.BULK_TRIGGERS`` on every use."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULTS: dict[str, int] = {
    "MAX_DEPTH": 16,
    "CHUNK_SIZE": 2000,
}


def get(name: str) -> int:
    """Return the setting ``name``, validated as a positive integer.

    Read each time rather than cached, so that ``override_settings`` works in tests.
    """
    configured: dict[str, Any] = getattr(settings, "BULK_TRIGGERS", None) or {}
    unknown = set(configured) - set(DEFAULTS)
    if unknown:
        raise ImproperlyConfigured(
            f"settings.BULK_TRIGGERS has unknown keys {sorted(unknown)}; "
            f"the known ones are {sorted(DEFAULTS)}."
        )
    value = configured.get(name, DEFAULTS[name])
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ImproperlyConfigured(
            f"settings.BULK_TRIGGERS[{name!r}] must be a positive integer, got {value!r}."
        )
    return value
