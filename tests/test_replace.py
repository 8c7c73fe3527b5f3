"""One app replaces or switches off another app's autodiscovered triggers."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.apps import apps

from bulk_triggers.registry import registry
from tests.defsapp.models import DefsLog, DefsNote
from tests.defsapp_base import triggers as base
from tests.defsapp_ext import triggers as ext

MODULES = ("tests.defsapp_base.triggers", "tests.defsapp_ext.triggers")


def test_the_extension_replaced_one_trigger_and_switched_one_off() -> None:
    """After start-up, StampNote is replaced in its place, AuditNote is off, CountNote stays."""
    assert base.StampNote not in registry and base.AuditNote not in registry
    assert registry.for_model(DefsNote, "create") == (ext.ExtStampNote, base.CountNote)


def test_a_create_runs_the_replacement_and_not_the_switched_off_trigger(using: str) -> None:
    """Creating a note stamps it the extension's way and writes no base audit row."""
    note = DefsNote.objects.create(text="hello")
    assert DefsNote.objects.get(pk=note.pk).stamp == "ext"
    assert list(DefsLog.objects.values_list("kind", "ref")) == [("base-count", "ext")]


@contextmanager
def installed(*names: str) -> Iterator[None]:
    """Run the block with exactly ``names`` as INSTALLED_APPS (their ready() methods run)."""
    apps.set_installed_apps(names)
    try:
        yield
    finally:
        apps.unset_installed_apps()


@pytest.mark.parametrize(
    "order",
    [("tests.defsapp_base", "tests.defsapp_ext"), ("tests.defsapp_ext", "tests.defsapp_base")],
    ids=["base_first", "extension_first"],
)
def test_fresh_autodiscovery_replaces_whatever_the_app_order(
    order: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Discovering both apps anew, in either order, ends with the same triggers registered."""
    for trigger in registry.for_model(DefsNote, "create"):
        registry.unregister(trigger)
    for name in MODULES:
        monkeypatch.delitem(sys.modules, name)
    with installed("bulk_triggers", "tests.defsapp", *order):
        fresh_base, fresh_ext = (sys.modules[name] for name in MODULES)
    assert fresh_base is not base
    assert registry.for_model(DefsNote, "create") == (
        fresh_ext.ExtStampNote,
        fresh_base.CountNote,
    )
