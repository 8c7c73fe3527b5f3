"""Django settings for the bulk_triggers test suite."""

from __future__ import annotations

from tests.databases import configure

SECRET_KEY = "bulk-triggers-tests"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "bulk_triggers",
    "tests.testapp",
    # "shop",
]

DATABASES, SKIPPED_DATABASES = configure()
DATABASE_ROUTERS = ["tests.routers.CurrentDatabaseRouter"]

BULK_TRIGGERS = {"MAX_DEPTH": 16, "CHUNK_SIZE": 2000}
