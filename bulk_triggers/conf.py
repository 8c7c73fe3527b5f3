"""Settings of bulk_triggers, read from ``settings.BULK_TRIGGERS``.

Values are validated once and cached; the cache is dropped when ``BULK_TRIGGERS`` or
``DEBUG`` change (``override_settings``, the pytest-django ``settings`` fixture).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

INTEGERS: dict[str, int] = {
    "MAX_DEPTH": 16,
    "CHUNK_SIZE": 2000,
}
# A flag left unset follows settings.DEBUG, unless it has a default here.
FLAGS: tuple[str, ...] = ("PROTECT_OLD", "FAST_BULK_UPDATE")
FLAG_DEFAULTS: dict[str, bool] = {"FAST_BULK_UPDATE": False}


_cache: dict[str, Any] = {}


def _configured() -> dict[str, Any]:
    configured: dict[str, Any] = getattr(settings, "BULK_TRIGGERS", None) or {}
    unknown = set(configured) - set(INTEGERS) - set(FLAGS)
    if unknown:
        raise ImproperlyConfigured(
            f"settings.BULK_TRIGGERS has unknown keys {sorted(unknown)}; "
            f"the known ones are {sorted([*INTEGERS, *FLAGS])}."
        )
    return configured


def _forget(setting: str, **kwargs: Any) -> None:
    if setting in ("BULK_TRIGGERS", "DEBUG"):
        _cache.clear()


setting_changed.connect(_forget)


def get(name: str) -> int:
    """Return the integer setting ``name``, validated as a positive integer."""
    try:
        return int(_cache[name])
    except KeyError:
        pass
    value = _configured().get(name, INTEGERS[name])
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ImproperlyConfigured(
            f"settings.BULK_TRIGGERS[{name!r}] must be a positive integer, got {value!r}."
        )
    _cache[name] = value
    return value


def flag(name: str) -> bool:
    """Return the boolean setting ``name``; unset, its default or ``settings.DEBUG``."""
    assert name in FLAGS
    try:
        return bool(_cache[name])
    except KeyError:
        pass
    value = _configured().get(name)
    if value is None:
        value = FLAG_DEFAULTS.get(name, bool(settings.DEBUG))
    elif not isinstance(value, bool):
        raise ImproperlyConfigured(
            f"settings.BULK_TRIGGERS[{name!r}] must be True, False or None, got {value!r}."
        )
    _cache[name] = value
    return value
