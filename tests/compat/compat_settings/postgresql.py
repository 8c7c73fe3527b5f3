"""Django's test suite on PostgreSQL; coordinates as for bulk_triggers' own suite."""

from __future__ import annotations

import os

from compat_settings import *  # noqa: F403

_SUFFIX = os.environ.get("BULK_TRIGGERS_DB_SUFFIX", "_compat")
_SERVER = {
    "ENGINE": "django.db.backends.postgresql",
    "USER": os.environ.get("BULK_TRIGGERS_PG_USER", "postgres"),
    "PASSWORD": os.environ.get("BULK_TRIGGERS_PG_PASSWORD", ""),
    "HOST": os.environ.get("BULK_TRIGGERS_PG_HOST", "127.0.0.1"),
    "PORT": os.environ.get("BULK_TRIGGERS_PG_PORT", "5432"),
}

# runtests.py creates test_<NAME> (and clones per worker); NAME itself need not exist.
DATABASES = {
    "default": {**_SERVER, "NAME": f"django_default{_SUFFIX}"},
    "other": {**_SERVER, "NAME": f"django_other{_SUFFIX}"},
}
