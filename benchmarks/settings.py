"""Django settings for the benchmark: SQLite in a temporary directory, PostgreSQL and MariaDB.

SQLite runs in WAL mode with ``synchronous=NORMAL``, the usual production set-up, so
that a commit does not wait for the disk and the numbers show Python and SQL work.
PostgreSQL keeps its server's settings. Environment variables:

- ``BULK_TRIGGERS_BENCH_DIR``: where the SQLite file goes (default: a new temporary directory).
- ``BULK_TRIGGERS_DB_SUFFIX``: appended to the database names, to keep parallel runs apart.
- ``BULK_TRIGGERS_PG_HOST``/``_PORT``/``_USER``/``_PASSWORD``: as for the test suite.
- ``BULK_TRIGGERS_MYSQL_HOST``/``_PORT``/``_USER``/``_PASSWORD``: likewise for MariaDB/MySQL.
- ``BULK_TRIGGERS_BENCH_SAVE_OLD_FROM_LOAD=1``: measure with ``SAVE_OLD_FROM_LOAD`` on (set by
  ``--save-old-from-load``).
"""

from __future__ import annotations

import os
import tempfile

SECRET_KEY = "bulk-triggers-benchmark"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "bulk_triggers.apps.SimpleBulkTriggersConfig",
    "benchmarks.app",
]

_DIRECTORY = os.environ.get("BULK_TRIGGERS_BENCH_DIR") or tempfile.mkdtemp(
    prefix="bulk_triggers_bench_"
)
_SUFFIX = os.environ.get("BULK_TRIGGERS_DB_SUFFIX", "")

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(_DIRECTORY, f"bench{_SUFFIX}.sqlite3"),
        "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
    },
    "postgresql": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": f"bulk_triggers_bench{_SUFFIX}",
        "USER": os.environ.get("BULK_TRIGGERS_PG_USER", "postgres"),
        "PASSWORD": os.environ.get("BULK_TRIGGERS_PG_PASSWORD", ""),
        "HOST": os.environ.get("BULK_TRIGGERS_PG_HOST", "127.0.0.1"),
        "PORT": os.environ.get("BULK_TRIGGERS_PG_PORT", "5432"),
    },
    "mysql": {
        "ENGINE": "django.db.backends.mysql",
        "NAME": f"bulk_triggers_bench{_SUFFIX}",
        "USER": os.environ.get("BULK_TRIGGERS_MYSQL_USER", "root"),
        "PASSWORD": os.environ.get("BULK_TRIGGERS_MYSQL_PASSWORD", ""),
        "HOST": os.environ.get("BULK_TRIGGERS_MYSQL_HOST", "127.0.0.1"),
        "PORT": os.environ.get("BULK_TRIGGERS_MYSQL_PORT", "3306"),
        "OPTIONS": {"charset": "utf8mb4"},
    },
}

BULK_TRIGGERS = {
    "CHUNK_SIZE": 2000,
    "MAX_DEPTH": 16,
    "SAVE_OLD_FROM_LOAD": os.environ.get("BULK_TRIGGERS_BENCH_SAVE_OLD_FROM_LOAD") == "1",
}
