"""Settings of the processes the worker tests start: writers, db_worker and rqworker.

Chosen by environment variables, so one module serves every engine:
``TASKS_TEST_DB`` (``sqlite:/path/to/file`` or ``postgresql:name``),
``TASKS_TEST_BACKEND`` (``database`` or ``rq``) and ``TASKS_TEST_QUEUE``.
"""

from __future__ import annotations

import os

SECRET_KEY = "bulk-triggers-worker-tests"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_vendor, _, _name = os.environ.get("TASKS_TEST_DB", "sqlite:worker.sqlite3").partition(":")
if _vendor == "postgresql":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _name,
            "USER": os.environ.get("BULK_TRIGGERS_PG_USER", "postgres"),
            "PASSWORD": os.environ.get("BULK_TRIGGERS_PG_PASSWORD", ""),
            "HOST": os.environ.get("BULK_TRIGGERS_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("BULK_TRIGGERS_PG_PORT", "5432"),
        }
    }
else:
    # Two workers and a writer share the file: wait for its lock instead of failing.
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _name,
            "OPTIONS": {"timeout": 20},
        }
    }

QUEUE = os.environ.get("TASKS_TEST_QUEUE", "default")
INSTALLED_APPS = [
    "bulk_triggers.apps.SimpleBulkTriggersConfig",
    "tests.tasksapp",
    "django_tasks_db",
]
if os.environ.get("TASKS_TEST_BACKEND") == "rq":
    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": [QUEUE]}}
    RQ_QUEUES = {
        QUEUE: {
            "HOST": os.environ.get("BULK_TRIGGERS_REDIS_HOST", "127.0.0.1"),
            "PORT": 6379,
            "DB": 0,
        }
    }
else:
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": [QUEUE]}}

BULK_TRIGGERS = {"CHUNK_SIZE": int(os.environ.get("TASKS_TEST_CHUNK_SIZE", "500"))}
LOGGING = {"version": 1, "disable_existing_loggers": False}
