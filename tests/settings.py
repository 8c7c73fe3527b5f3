"""Django settings for the bulk_triggers test suite."""

from __future__ import annotations

import sys
from importlib.util import find_spec
from pathlib import Path

from tests.databases import configure

# The example project's `shop` app is tested too; make it importable from any runner
# (pytest, mypy's Django plugin, django-admin) without a PYTHONPATH.
_EXAMPLE = str(Path(__file__).resolve().parent.parent / "example_project")
if _EXAMPLE not in sys.path:
    sys.path.append(_EXAMPLE)

SECRET_KEY = "bulk-triggers-tests"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "bulk_triggers",
    "tests.testapp",
    "tests.defsapp",
    "tests.defsapp_ext",
    "tests.defsapp_base",
    "tests.condsapp",
    "tests.errorsapp",
    "tests.shapesapp",
    "tests.keysapp",
    "tests.upsertsapp",
    "tests.cascadesapp",
    "tests.tasksapp",
    "django_tasks_db",
    "tests.perfapp",
    "tests.wiringapp",
    "tests.upwriteapp",
    "tests.delretapp",
    "tests.toolbarapp",
    "tests.conformapp",
    "tests.upretapp",
    "tests.saveloadapp",
    "tests.pushdownapp",
    "tests.mutableapp",
    "tests.diffpushapp",
    "tests.diffrowsapp",
    "shop",
]

DATABASES, SKIPPED_DATABASES = configure()
DATABASE_ROUTERS = ["tests.routers.CurrentDatabaseRouter"]

BULK_TRIGGERS = {"MAX_DEPTH": 16, "CHUNK_SIZE": 2000}

# The immediate backend, as by default, plus the queue of the example shop's task trigger
# (shop.triggers.NotifyShipping); django.tasks on Django 6.0+, the backport on 5.2.
_TASKS_FRAMEWORK = "django.tasks" if find_spec("django.tasks") else "django_tasks"
TASKS = {
    "default": {
        "BACKEND": f"{_TASKS_FRAMEWORK}.backends.immediate.ImmediateBackend",
        "QUEUES": ["default", "notifications"],
    }
}

# The admin, forms and delete-view tests (tests/errorsapp, tests/test_contrib_admin.py,
# tests/test_cascades.py).
INSTALLED_APPS += [
    "django.contrib.admin",
    "django.contrib.sessions",
    "django.contrib.messages",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
ROOT_URLCONF = "tests.errorsapp.urls"
