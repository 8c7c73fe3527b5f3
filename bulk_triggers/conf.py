"""Settings of bulk_triggers, read from ``settings.BULK_TRIGGERS``.

Values are validated once and cached; the cache is dropped when ``BULK_TRIGGERS`` or
``DEBUG`` change (``override_settings``, the pytest-django ``settings`` fixture).
:func:`check_settings` reports the same problems in ``manage.py check``.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from bulk_triggers.links import check_url, with_links

INTEGERS: dict[str, int] = {
    "MAX_DEPTH": 16,
    "CHUNK_SIZE": 2000,
    "TASK_PAYLOAD_BYTES": 256 * 1024,
}
# A flag left unset follows settings.DEBUG, unless it has a default here.
FLAGS: tuple[str, ...] = ("PROTECT_OLD", "FAST_BULK_UPDATE", "SAVE_OLD_FROM_LOAD", "PUSHDOWN")
FLAG_DEFAULTS: dict[str, bool] = {
    "FAST_BULK_UPDATE": False,
    "SAVE_OLD_FROM_LOAD": False,
    "PUSHDOWN": True,
}
# Lists of trigger labels ("shop.triggers.Notify").
LABELS: tuple[str, ...] = ("DISABLED",)


def known_keys() -> list[str]:
    """Return every key ``settings.BULK_TRIGGERS`` may hold."""
    return [*INTEGERS, *FLAGS, *LABELS]


_cache: dict[str, Any] = {}


def _configured() -> dict[str, Any]:
    configured: dict[str, Any] = getattr(settings, "BULK_TRIGGERS", None) or {}
    unknown = sorted(set(configured) - set(known_keys()), key=str)
    if unknown:
        guesses = [f"{key!r}: did you mean {_suggest(key)!r}?" for key in unknown if _suggest(key)]
        raise ImproperlyConfigured(
            f"settings.BULK_TRIGGERS has unknown keys {unknown}"
            f"{' (' + ' '.join(guesses) + ')' if guesses else ''}; "
            f"the known ones are {sorted(known_keys())}. "
            f"See {check_url('bulk_triggers.E100')}"
        )
    return configured


def _suggest(key: object) -> str | None:
    """Return the known key that ``key`` most likely misspells, if one is close."""
    close = difflib.get_close_matches(str(key).upper(), known_keys(), n=1, cutoff=0.6)
    return close[0] if close else None


def _problem(name: str, value: Any) -> str | None:
    """Return what is wrong with ``value`` for the known setting ``name``, or None."""
    if name in INTEGERS:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            return f"settings.BULK_TRIGGERS[{name!r}] must be a positive integer, got {value!r}."
    elif name in LABELS:
        if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)):
            return (
                f"settings.BULK_TRIGGERS[{name!r}] must be a list of trigger paths such as "
                f'["shop.triggers.Notify"], got {value!r}.'
            )
        if not all(isinstance(label, str) for label in value):
            return f"settings.BULK_TRIGGERS[{name!r}] must hold strings only, got {value!r}."
    elif value is not None and not isinstance(value, bool):
        return f"settings.BULK_TRIGGERS[{name!r}] must be True, False or None, got {value!r}."
    return None


def check_settings(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Report unknown keys (E100) and wrong values (E101) of ``settings.BULK_TRIGGERS``."""
    configured = getattr(settings, "BULK_TRIGGERS", None) or {}
    if not isinstance(configured, dict):
        return with_links(
            [
                checks.Error(
                    f"settings.BULK_TRIGGERS must be a dict, got {type(configured).__name__}.",
                    id="bulk_triggers.E101",
                )
            ]
        )
    known = known_keys()
    messages: list[checks.CheckMessage] = [
        checks.Error(
            f"settings.BULK_TRIGGERS has an unknown key {key!r}.",
            hint=(f"Did you mean {_suggest(key)!r}? " if _suggest(key) else "Remove it. ")
            + f"The known keys are {', '.join(known)}.",
            id="bulk_triggers.E100",
        )
        for key in sorted(set(configured) - set(known), key=str)
    ]
    messages += [
        checks.Error(problem, id="bulk_triggers.E101")
        for name in known
        if name in configured and (problem := _problem(name, configured[name]))
    ]
    return with_links(messages)


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
    problem = _problem(name, value)
    if problem:
        raise ImproperlyConfigured(f"{problem} See {check_url('bulk_triggers.E101')}")
    _cache[name] = value
    return int(value)


def flag(name: str) -> bool:
    """Return the boolean setting ``name``; unset, its default or ``settings.DEBUG``."""
    assert name in FLAGS
    try:
        return bool(_cache[name])
    except KeyError:
        pass
    value = _configured().get(name)
    problem = _problem(name, value)
    if problem:
        raise ImproperlyConfigured(f"{problem} See {check_url('bulk_triggers.E101')}")
    if value is None:
        value = FLAG_DEFAULTS.get(name, bool(settings.DEBUG))
    _cache[name] = value
    return value


def disabled() -> frozenset[str]:
    """Return the labels of the triggers ``BULK_TRIGGERS["DISABLED"]`` switches off."""
    try:
        cached: frozenset[str] = _cache["DISABLED"]
        return cached
    except KeyError:
        pass
    value = _configured().get("DISABLED", ())
    problem = _problem("DISABLED", value)
    if problem:
        raise ImproperlyConfigured(f"{problem} See {check_url('bulk_triggers.E101')}")
    labels = _cache["DISABLED"] = frozenset(value)
    return labels
