"""Open the triggers panel in headless Chromium against a live server, and photograph it.

Run from the repository root: ``python -m tests.toolbarapp.screenshot [output.png]``
(needs django-debug-toolbar, the ``debug-toolbar`` extra, and ``chromium-headless-shell``
or ``chromium`` on the PATH). It serves the test settings with the toolbar enabled on
127.0.0.1 (an in-memory SQLite database), lets the browser load a page whose view fires
nested triggers and click the toolbar's "Triggers" button, which fetches the panel from
the server, then exits. It fails unless the browser fetched the panel and the panel
named every trigger method that ran. Nothing is written but the image.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

TIMEOUT_SECONDS = 60


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def main(output: str = "docs/debug-toolbar-panel.png") -> None:
    """Serve the toolbar app, let Chromium open the panel, save the window as ``output``."""
    browser = shutil.which("chromium-headless-shell") or shutil.which("chromium")
    if browser is None:
        sys.exit("No chromium-headless-shell or chromium on the PATH.")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.wsgi import get_wsgi_application
    from django.db import connections
    from django.test.utils import override_settings, setup_test_environment

    from tests.toolbarapp import demo_triggers
    from tests.toolbarapp.settings import with_toolbar

    toolbar = with_toolbar(settings.INSTALLED_APPS, settings.MIDDLEWARE)
    override_settings(STATIC_URL=toolbar.pop("STATIC_URL")).enable()
    override_settings(**toolbar).enable()
    setup_test_environment()
    connections["default"].creation.create_test_db(verbosity=0)
    panels: list[bytes] = []
    app = _recording(StaticFilesHandler(get_wsgi_application()), panels)
    # One thread serves both the page and the browser's requests for the panel, so they
    # share the in-memory database.
    with make_server("127.0.0.1", 0, app, handler_class=_QuietHandler) as server:
        server.timeout = 0.1
        url = f"http://127.0.0.1:{server.server_port}/orders/place/?open"
        chromium = subprocess.Popen(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--hide-scrollbars",
                "--window-size=1400,480",
                "--virtual-time-budget=5000",
                f"--screenshot={Path(output).resolve()}",
                url,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while chromium.poll() is None and time.monotonic() < deadline:
            server.handle_request()
        if chromium.poll() is None:
            chromium.kill()
            sys.exit(f"Chromium did not finish within {TIMEOUT_SECONDS} s.")
    _check(chromium.returncode, panels, demo_triggers)
    print(f"wrote {output}")


def _recording(app: Callable[..., Any], panels: list[bytes]) -> Callable[..., Iterable[bytes]]:
    """Wrap ``app`` to keep the body of every response to a request for the triggers panel."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = b"".join(app(environ, start_response))
        if "panel_id=TriggersPanel" in environ.get("QUERY_STRING", ""):
            panels.append(body)
        return [body]

    return wrapped


def _check(returncode: int, panels: list[bytes], triggers: Any) -> None:
    """Exit with an error unless the browser fetched a panel naming each demo trigger method."""
    if returncode != 0:
        sys.exit(f"Chromium exited with status {returncode}.")
    if not panels:
        sys.exit("The browser never opened the triggers panel.")
    import json

    content = json.loads(panels[-1])["content"]
    methods = [
        f"{trigger.label}.{method}"
        for trigger, method in (
            (triggers.NoteNewOrders, "on_after_create"),
            (triggers.NumberNotes, "on_before_create"),
            (triggers.NoteNewOrders, "on_before_update"),
        )
    ]
    missing = [method for method in methods if method not in content]
    if missing:
        sys.exit(f"The panel does not name {', '.join(missing)}.")


if __name__ == "__main__":
    main(*sys.argv[1:])
