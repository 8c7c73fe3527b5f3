"""Django's test suite on MariaDB/MySQL; coordinates as for bulk_triggers' own suite."""

from __future__ import annotations

import os

from compat_settings import *  # noqa: F403

_SUFFIX = os.environ.get("BULK_TRIGGERS_DB_SUFFIX", "_compat")
_SERVER = {
    "ENGINE": "django.db.backends.mysql",
    "USER": os.environ.get("BULK_TRIGGERS_MYSQL_USER", "root"),
    "PASSWORD": os.environ.get("BULK_TRIGGERS_MYSQL_PASSWORD", ""),
    "HOST": os.environ.get("BULK_TRIGGERS_MYSQL_HOST", "127.0.0.1"),
    "PORT": os.environ.get("BULK_TRIGGERS_MYSQL_PORT", "3306"),
    "OPTIONS": {"charset": "utf8mb4"},
    "TEST": {"CHARSET": "utf8mb4"},
}

# runtests.py creates test_<NAME> (and clones per worker); NAME itself need not exist.
DATABASES = {
    "default": {**_SERVER, "NAME": f"django_default{_SUFFIX}"},
    "other": {**_SERVER, "NAME": f"django_other{_SUFFIX}"},
}
