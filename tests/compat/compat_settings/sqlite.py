"""Django's test suite on SQLite (in memory), as Django's own ``test_sqlite`` runs it."""

from __future__ import annotations

from compat_settings import *  # noqa: F403

DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3"},
    "other": {"ENGINE": "django.db.backends.sqlite3"},
}
