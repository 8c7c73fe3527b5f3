"""Settings of bulk_triggers, read from ``settings.BULK_TRIGGERS`` on every use.

Read each time rather than cached, so that ``override_settings`` works in tests.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

INTEGERS: dict[str, int] = {
    "MAX_DEPTH": 16,
    "CHUNK_SIZE": 2000,
}
# A flag left unset follows settings.DEBUG.
FLAGS: tuple[str, ...] = ("PROTECT_OLD",)


def _configured() -> dict[str, Any]:
    configured: dict[str, Any] = getattr(settings, "BULK_TRIGGERS", None) or {}
    unknown = set(configured) - set(INTEGERS) - set(FLAGS)
    if unknown:
        raise ImproperlyConfigured(
            f"settings.BULK_TRIGGERS has unknown keys {sorted(unknown)}; "
            f"the known ones are {sorted([*INTEGERS, *FLAGS])}."
        )
    return configured


def get(name: str) -> int:
    """Return the integer setting ``name``, validated as a positive integer."""
    value = _configured().get(name, INTEGERS[name])
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ImproperlyConfigured(
            f"settings.BULK_TRIGGERS[{name!r}] must be a positive integer, got {value!r}."
        )
    return value


def flag(name: str) -> bool:
    """Return the boolean setting ``name``; unset, it follows ``settings.DEBUG``."""
    assert name in FLAGS
    value = _configured().get(name)
    if value is None:
        return bool(settings.DEBUG)
    if not isinstance(value, bool):
        raise ImproperlyConfigured(
            f"settings.BULK_TRIGGERS[{name!r}] must be True, False or None, got {value!r}."
        )
    return value
