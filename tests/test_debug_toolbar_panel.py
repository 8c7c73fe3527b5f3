"""The django-debug-toolbar panel, through Django's test client with the toolbar enabled."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from django.test import AsyncClient, Client, override_settings
from django.utils.module_loading import import_string

import bulk_triggers
from bulk_triggers import Trigger, observers
from bulk_triggers.contrib.debug_toolbar.panel import TriggersPanel
from tests.routers import routed_to
from tests.toolbarapp.models import ToolbarNote, ToolbarOrder
from tests.toolbarapp.settings import PANEL, with_toolbar


@pytest.fixture
def toolbar() -> Iterator[None]:
    """Enable the toolbar, with the triggers panel, for the test's requests."""
    toolbar_settings = with_toolbar(settings.INSTALLED_APPS, settings.MIDDLEWARE)
    # Apps are loaded again before the other settings change: staticfiles needs its URL first.
    with (
        override_settings(STATIC_URL=toolbar_settings.pop("STATIC_URL")),
        override_settings(**toolbar_settings),
    ):
        yield


def define_triggers() -> list[str]:
    """Define triggers the view fires, one nested; return their labels in the order they run."""

    class WriteNotes(Trigger[ToolbarOrder]):
        def on_after_create(self, new: list[ToolbarOrder]) -> None:
            ToolbarNote.objects.bulk_create([ToolbarNote(order=o, text=o.name) for o in new])

        def on_before_update(self, new: list[ToolbarOrder], old: list[ToolbarOrder]) -> None:
            for order in new:
                order.name = order.name.upper()

    class StampNotes(Trigger[ToolbarNote]):
        def on_before_create(self, new: list[ToolbarNote]) -> None:
            for note in new:
                note.text = f"about {note.text}"

    return [
        f"{WriteNotes.label}.on_after_create",
        f"{StampNotes.label}.on_before_create",
        f"{WriteNotes.label}.on_before_update",
    ]


def panel_content(client: Client, page: str) -> str:
    """Return the triggers panel's HTML, fetched as the toolbar's JavaScript does."""
    request_id = re.search(r'data-request-id="([^"]+)"', page)
    assert request_id is not None, "the toolbar was not rendered"
    response = client.get(
        "/__debug__/render_panel/",
        {"request_id": request_id.group(1), "panel_id": "TriggersPanel"},
    )
    assert response.status_code == 200
    content: str = response.json()["content"]
    return content


def rows(content: str) -> list[tuple[str, str]]:
    """Return the (depth, trigger method) of each call row of the panel, top to bottom."""
    found = re.findall(r'data-depth="(\d+)">\s*<td[^>]*><code>(?:↳ )?([^<]+)</code>', content)
    return [(depth, html.unescape(label)) for depth, label in found]


def test_panel_lists_each_trigger_call_of_the_request(using: str, toolbar: None) -> None:
    """The panel names each call in the order it ran, nested, with its model, rows and alias."""
    labels = define_triggers()
    response = Client().get("/orders/place/")
    assert response.status_code == 200
    content = panel_content(Client(), response.content.decode())
    assert rows(content) == [("0", labels[0]), ("1", labels[1]), ("0", labels[2])]
    for cells in (
        ("after", "create", "toolbarapp.ToolbarOrder", "2", using),
        ("before", "create", "toolbarapp.ToolbarNote", "2", using),
        ("before", "update", "toolbarapp.ToolbarOrder", "1", using),
    ):
        assert "".join(f"<td>{cell}</td>\n      " for cell in cells) in content
    assert "toolbarapp_toolbarnote" in content
    assert sorted(ToolbarNote.objects.values_list("text", flat=True)) == ["about cake", "about tea"]


def test_panel_subtitle_counts_the_calls_and_their_time(using: str, toolbar: None) -> None:
    """The toolbar's side bar shows the number of calls and their total time."""
    labels = define_triggers()
    page = Client().get("/orders/place/").content.decode()
    subtitle = re.search(r"Triggers\s*<br><small>([^<]+)</small>", page)
    assert subtitle is not None
    assert re.fullmatch(rf"{len(labels)} calls in \d+\.\d\d ms", subtitle.group(1))


@pytest.mark.django_db
def test_panel_says_when_no_trigger_ran(toolbar: None) -> None:
    """A request without trigger calls shows zero calls and says so."""
    client = Client()
    page = client.get("/orders/place/").content.decode()
    assert re.search(r"Triggers\s*<br><small>0 calls in 0\.00 ms</small>", page)
    assert "No trigger ran during this request." in panel_content(client, page)


def test_panel_stops_observing_when_the_request_ends(using: str, toolbar: None) -> None:
    """After the request no observer is left installed, and later calls are not recorded."""
    define_triggers()
    seen: list[Any] = []

    class Later(Trigger[ToolbarOrder]):
        def on_after_delete(self, old: list[ToolbarOrder]) -> None:
            seen.append(observers.current())

    Client().get("/orders/place/")
    assert observers.current() == ()
    ToolbarOrder.objects.all().delete()
    assert seen == [()]


def test_docs_name_the_panel_the_tests_enable() -> None:
    """The docs page's settings example names the panel these tests run, by its import path."""
    page = (Path(__file__).resolve().parent.parent / "docs" / "debug-toolbar.md").read_text()
    assert f'"{PANEL}"' in page
    assert import_string(PANEL) is TriggersPanel


def test_the_core_never_imports_the_panel_or_the_toolbar() -> None:
    """Setting up Django and importing every other module of the package leaves both out."""
    package = Path(bulk_triggers.__file__).parent
    modules = [
        ".".join(path.relative_to(package.parent).with_suffix("").parts).removesuffix(".__init__")
        for path in sorted(package.rglob("*.py"))
        if "debug_toolbar" not in path.parts
    ]
    script = (
        "import importlib, sys, django\n"
        "django.setup()\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if 'debug_toolbar' in m))\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert "bulk_triggers.dispatch" in modules
    assert result.stdout.strip() == "[]"


@pytest.fixture
async def routed(using: str) -> AsyncIterator[str]:
    """Route the test's queries to its database; close the async ORM's connections after."""
    with routed_to(using):
        yield using
    await sync_to_async(connections.close_all)()


@pytest.mark.django_db(transaction=True)
async def test_panel_lists_the_trigger_calls_of_an_async_view(routed: str, toolbar: None) -> None:
    """Under ASGI, the async ORM's trigger calls are listed too, nested, with their queries."""
    labels = define_triggers()
    response = await AsyncClient().get("/orders/aplace/")
    assert response.status_code == 200
    content = await sync_to_async(panel_content)(Client(), response.content.decode())
    assert rows(content) == [("0", labels[0]), ("1", labels[1]), ("0", labels[2])]
    assert "toolbarapp_toolbarnote" in content
    assert f"<td>{routed}</td>" in content
