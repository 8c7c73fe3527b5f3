"""Render an admin change form refused by a trigger, and photograph it with headless Chromium.

Run from the repository root: ``python -m tests.errorsapp.screenshot [output.png]``
(needs ``chromium-headless-shell`` or ``chromium`` on the PATH). It uses the test
settings on an in-memory SQLite database; nothing outside it is written but the image.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def main(output: str = "docs/admin-trigger-error.png") -> None:
    """Post a refused change through the admin and save the page as ``output``."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.contrib import admin
    from django.contrib.auth.models import User
    from django.db import connections
    from django.test import Client
    from django.test.utils import setup_test_environment

    from bulk_triggers.contrib.guards import Transitions
    from tests.errorsapp.models import ErrTicket

    setup_test_environment()
    connections["default"].creation.create_test_db(verbosity=0)

    class TicketWorkflow(Transitions[ErrTicket]):
        field = "status"
        allowed = {"draft": {"placed"}, "placed": {"shipped"}}

    ticket = ErrTicket.objects.create(title="Replace the boiler", points=8)
    client = Client()
    client.force_login(User.objects.create_superuser("ada", "ada@example.com", "x"))
    data = {"title": ticket.title, "status": "shipped", "points": "8", "reference": "B-12"}
    response = client.post(f"/admin/errorsapp/errticket/{ticket.pk}/change/", data)
    assert response.status_code == 200, response.status_code
    static = Path(admin.__file__).parent / "static"
    # The test settings serve no static files: point the stylesheets at the admin's own.
    page = response.content.decode().replace('="admin/', f'="file://{static}/admin/')
    page = page.replace("<head>", '<head><meta charset="utf-8">', 1)
    browser = shutil.which("chromium-headless-shell") or shutil.which("chromium")
    if browser is None:
        sys.exit("No chromium-headless-shell or chromium on the PATH.")
    with tempfile.TemporaryDirectory() as folder:
        html = Path(folder) / "page.html"
        html.write_text(page)
        subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--hide-scrollbars",
                "--window-size=1100,620",
                f"--screenshot={Path(output).resolve()}",
                html.as_uri(),
            ],
            check=True,
            capture_output=True,
        )
    print(f"wrote {output}")


if __name__ == "__main__":
    main(*sys.argv[1:])
