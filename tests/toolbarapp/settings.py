"""The toolbar's settings, added to the test settings by the panel's tests and screenshot.

Kept apart from ``tests/settings.py``: the rest of the suite runs without the toolbar.
"""

from __future__ import annotations

from typing import Any

PANEL = "bulk_triggers.contrib.debug_toolbar.panel.TriggersPanel"

#: Setting name → value, given to ``override_settings`` on top of the test settings.
TOOLBAR: dict[str, Any] = {
    "ROOT_URLCONF": "tests.toolbarapp.urls",
    "INTERNAL_IPS": ["127.0.0.1"],
    "STATIC_URL": "/static/",
    "DEBUG_TOOLBAR_PANELS": [
        "debug_toolbar.panels.timer.TimerPanel",
        "debug_toolbar.panels.sql.SQLPanel",
        PANEL,
    ],
    "DEBUG_TOOLBAR_CONFIG": {
        "SHOW_TOOLBAR_CALLBACK": "tests.toolbarapp.views.show_toolbar",
        # The toolbar refuses to run under a test runner unless told it is meant to.
        "IS_RUNNING_TESTS": False,
    },
}


def with_toolbar(installed_apps: list[str], middleware: list[str]) -> dict[str, Any]:
    """Return :data:`TOOLBAR` with the toolbar's apps and middleware added to the given ones."""
    return {
        **TOOLBAR,
        "INSTALLED_APPS": [*installed_apps, "django.contrib.staticfiles", "debug_toolbar"],
        "MIDDLEWARE": [*middleware, "debug_toolbar.middleware.DebugToolbarMiddleware"],
    }
