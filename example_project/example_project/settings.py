"""Settings of the example shop.

SQLite (``example_project/db.sqlite3``) with no configuration; PostgreSQL or MariaDB
when ``DATABASE_URL`` names one, e.g. ``postgres://postgres@127.0.0.1:5432/shop`` or
``mysql://root@127.0.0.1:3306/shop``. Not fit for production: the secret key and DEBUG
have development defaults.
"""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path

from example_project.databases import database_from_url

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "django-insecure-bulk-triggers-example")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "bulk_triggers",
    "shop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "example_project.wsgi.application"
ASGI_APPLICATION = "example_project.asgi.application"

_DATABASE_URL = os.environ.get("DATABASE_URL", "")
DATABASES = {
    "default": database_from_url(_DATABASE_URL, BASE_DIR)
    if _DATABASE_URL
    else {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Tasks: shop.triggers.NotifyShipping is a task trigger on the "notifications" queue. By
# default the immediate backend runs its task in this process once the transaction commits,
# so the demo needs no worker. Django 6.0+ has the framework built in (django.tasks); on 5.2
# it is the django-tasks backport (pip install "bulk-triggers[tasks]").
# SHOP_TASKS_BACKEND=database stores the tasks in this database instead (django-tasks-db,
# enqueued inside the write's transaction), for `manage.py db_worker --queue-name
# notifications` to run.
TASKS_QUEUES = ["default", "notifications"]
_TASKS_FRAMEWORK = "django.tasks" if find_spec("django.tasks") else "django_tasks"
if os.environ.get("SHOP_TASKS_BACKEND", "immediate") == "database":
    INSTALLED_APPS.append("django_tasks_db")
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": TASKS_QUEUES}}
else:
    TASKS = {
        "default": {
            "BACKEND": f"{_TASKS_FRAMEWORK}.backends.immediate.ImmediateBackend",
            "QUEUES": TASKS_QUEUES,
        }
    }

# The library's defaults, spelled out so that they are easy to find and change.
BULK_TRIGGERS = {"MAX_DEPTH": 16, "CHUNK_SIZE": 2000}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "shop": {"handlers": ["console"], "level": os.environ.get("SHOP_LOG_LEVEL", "WARNING")},
    },
}
