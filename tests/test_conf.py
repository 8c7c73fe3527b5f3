"""Settings: validation of BULK_TRIGGERS and the PROTECT_OLD development aid."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from pytest_django.fixtures import Settings as SettingsWrapper

from bulk_triggers import Trigger, conf
from bulk_triggers.testing import isolated_registry
from tests.testapp.models import Item


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"MAX_DEPTH": 0}, "MAX_DEPTH"),
        ({"MAX_DEPTH": "3"}, "MAX_DEPTH"),
        ({"CHUNK_SIZ": 10}, "CHUNK_SIZ"),
        ({"PROTECT_OLD": "yes"}, "PROTECT_OLD"),
    ],
)
def test_bad_settings_name_the_key(settings: SettingsWrapper, value: Any, message: str) -> None:
    """A wrong value or an unknown key is ImproperlyConfigured naming the key."""
    settings.BULK_TRIGGERS = value
    read = conf.flag if message == "PROTECT_OLD" else conf.get
    with pytest.raises(ImproperlyConfigured, match=message):
        read("PROTECT_OLD" if message == "PROTECT_OLD" else "MAX_DEPTH")


@pytest.mark.parametrize(
    ("debug", "configured", "expected"),
    [
        (True, None, True),
        (False, None, False),
        (False, True, True),
        (True, False, False),
    ],
)
def test_protect_old_follows_debug_unless_set(
    settings: SettingsWrapper, debug: bool, configured: bool | None, expected: bool
) -> None:
    """PROTECT_OLD defaults to settings.DEBUG; an explicit value wins."""
    settings.DEBUG = debug
    settings.BULK_TRIGGERS = {} if configured is None else {"PROTECT_OLD": configured}
    assert conf.flag("PROTECT_OLD") is expected


def define_meddler() -> type[Any]:
    class Meddle(Trigger[Item]):
        def on_before_update(self, new: list[Item], old: list[Item]) -> None:
            old[0].amount = 99

    return Meddle


def test_changing_old_is_refused_when_protected(using: str, settings: SettingsWrapper) -> None:
    """With PROTECT_OLD, changing old raises TypeError naming trigger and field; nothing written."""
    settings.BULK_TRIGGERS = {"PROTECT_OLD": True}
    item = Item.objects.create(name="a", amount=1)
    with isolated_registry():
        meddle = define_meddler()
        with pytest.raises(
            TypeError, match=rf"{meddle.label}.on_before_update changed old\[0\]\.amount"
        ):
            Item.objects.filter(pk=item.pk).update(note="x")
    assert Item.objects.values_list("amount", "note").get() == (1, "")


def test_changing_old_is_ignored_when_not_protected(using: str, settings: SettingsWrapper) -> None:
    """Without PROTECT_OLD, a change to old is not written and not an error."""
    settings.BULK_TRIGGERS = {"PROTECT_OLD": False}
    item = Item.objects.create(name="a", amount=1)
    with isolated_registry():
        define_meddler()
        Item.objects.filter(pk=item.pk).update(note="x")
    assert Item.objects.values_list("amount", "note").get() == (1, "x")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"CHUNK_SIZ": 10}, [("bulk_triggers.E100", "'CHUNK_SIZ'", "Did you mean 'CHUNK_SIZE'?")]),
        ({"max_depth": 3}, [("bulk_triggers.E100", "'max_depth'", "Did you mean 'MAX_DEPTH'?")]),
        ({"FROBNICATE": 1}, [("bulk_triggers.E100", "'FROBNICATE'", "Remove it.")]),
        ({"CHUNK_SIZE": 0}, [("bulk_triggers.E101", "'CHUNK_SIZE'", None)]),
        ({"PROTECT_OLD": "yes"}, [("bulk_triggers.E101", "'PROTECT_OLD'", None)]),
        (["CHUNK_SIZE"], [("bulk_triggers.E101", "must be a dict", None)]),
        ({"MAX_DEPTH": 4, "CHUNK_SIZE": 10, "PROTECT_OLD": None}, []),
    ],
)
def test_manage_py_check_reports_bad_settings(
    settings: SettingsWrapper, value: Any, expected: list[tuple[str, str, str | None]]
) -> None:
    """manage.py check names a mistyped key with the key it resembles, and a wrong value."""
    from django.core.checks.registry import registry

    settings.BULK_TRIGGERS = value
    assert conf.check_settings in registry.get_checks()  # Registered by the app config.
    messages = conf.check_settings()
    assert [m.id for m in messages] == [e[0] for e in expected]
    for message, (_id, named, hint) in zip(messages, expected, strict=True):
        assert named in message.msg and message.is_serious()
        assert hint is None or (message.hint or "").startswith(hint)


def test_unknown_key_error_suggests_the_known_one(settings: SettingsWrapper) -> None:
    """At run time too, a mistyped key is ImproperlyConfigured saying which key was meant."""
    settings.BULK_TRIGGERS = {"CHUNK_SIZ": 10}
    with pytest.raises(ImproperlyConfigured, match="'CHUNK_SIZ': did you mean 'CHUNK_SIZE'"):
        conf.get("CHUNK_SIZE")
