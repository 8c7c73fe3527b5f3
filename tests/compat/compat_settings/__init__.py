"""Settings shared by every run of Django's own test suite against bulk_triggers.

Importing this package (which ``runtests.py --settings=compat_settings.<vendor>`` does
before any test app is loaded) makes every plain ``models.Manager`` hand out
``TriggerQuerySet``. ``models.Manager`` is ``BaseManager.from_queryset(QuerySet)``: its
proxy methods call ``self.get_queryset()``, which builds ``self._queryset_class(...)`` at
call time, so replacing that class attribute reaches every manager derived from
``Manager``: default and base managers, subclasses declared by test apps, and the
related managers Django builds from them. Managers made with
``from_queryset(SomeQuerySet)`` or ``as_manager()`` keep their own queryset class;
``compat_settings.runner`` counts them, and asserts that no model is left on a plain
``QuerySet``.
"""

from __future__ import annotations

from django.db.models import manager

from bulk_triggers.queryset import TriggerQuerySet

manager.Manager._queryset_class = TriggerQuerySet

SECRET_KEY = "django_tests_secret_key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
USE_TZ = False
TEST_RUNNER = "compat_settings.runner.CompatRunner"
