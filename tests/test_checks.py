"""System checks: each mistake that would make triggers silently not fire is reported."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from bulk_triggers import HasChanged, Trigger
from bulk_triggers.checks import check_triggers
from tests.testapp.models import Item, ItemProxy, Ledger, ManagerOnly, Plain


def ids() -> list[str]:
    return sorted(message.id for message in check_triggers() if message.id)


def test_silent_on_a_correct_setup() -> None:
    """A trigger on a model with the mixin and the trigger manager raises nothing."""

    class Good(Trigger[Item]):
        condition = HasChanged("status")

        def on_after_update(self, new: list[Item], old: list[Item]) -> None:
            pass

    class GoodProxy(Trigger[ItemProxy]):
        def on_after_create(self, new: list[ItemProxy]) -> None:
            pass

    assert ids() == []


def test_plain_model_is_an_error_naming_model_and_trigger() -> None:
    """No trigger queryset and no mixin: E001 and E002, naming the model and trigger."""

    class OnPlain(Trigger[Plain]):
        def on_after_update(self, new: list[Plain], old: list[Plain]) -> None:
            pass

    messages = check_triggers()
    assert sorted(m.id for m in messages) == ["bulk_triggers.E001", "bulk_triggers.E002"]
    for message in messages:
        assert "testapp.Plain" in message.msg
        assert "OnPlain" in message.msg
        assert message.hint


def test_manager_without_mixin_needs_no_mixin() -> None:
    """A trigger manager alone wires save() and delete() too: nothing to report."""

    class OnManagerOnly(Trigger[ManagerOnly]):
        def on_before_create(self, new: list[ManagerOnly]) -> None:
            pass

    assert check_triggers() == []


def test_second_plain_manager_is_a_warning_naming_it() -> None:
    """A plain extra manager (Ledger.raw) is W006, naming the manager."""

    class OnLedger(Trigger[Ledger]):
        def on_after_update(self, new: list[Ledger], old: list[Ledger]) -> None:
            pass

    messages = check_triggers()
    assert [m.id for m in messages] == ["bulk_triggers.W006"]
    assert "testapp.Ledger.raw" in messages[0].msg


def test_trigger_without_event_methods_is_a_warning() -> None:
    """A trigger that defines no event method never runs: W005."""

    class Idle(Trigger[Item]):
        pass

    messages = check_triggers()
    assert [m.id for m in messages] == ["bulk_triggers.W005"]
    assert "Idle" in messages[0].msg


def test_condition_on_missing_field_is_reported_by_the_check() -> None:
    """A condition that became invalid after definition is E003, naming trigger and field."""

    class Later(Trigger[Item]):
        condition = HasChanged("status")

        def on_after_update(self, new: list[Item], old: list[Item]) -> None:
            pass

    Later.condition = HasChanged("stauts")
    messages = check_triggers()
    assert [m.id for m in messages] == ["bulk_triggers.E003"]
    assert "'stauts'" in messages[0].msg and "Later" in messages[0].msg


def test_app_configs_limit_the_checks() -> None:
    """Checks for other apps' models are not reported when app_configs names one app."""
    from django.apps import apps

    class OnPlain(Trigger[Plain]):
        def on_after_update(self, new: list[Plain], old: list[Plain]) -> None:
            pass

    assert check_triggers(app_configs=[apps.get_app_config("auth")]) == []
    assert len(check_triggers(app_configs=[apps.get_app_config("testapp")])) == 2


@pytest.mark.django_db(databases="__all__")
def test_manage_py_check_fails_on_errors() -> None:
    """The check is registered in ready(), so manage.py check fails on an error."""

    class OnPlain(Trigger[Plain]):
        def on_after_update(self, new: list[Plain], old: list[Plain]) -> None:
            pass

    with pytest.raises(SystemCheckError, match=r"bulk_triggers\.E001"):
        call_command("check")


def test_manager_declared_on_the_model_shadows_the_mixins() -> None:
    """A plain manager declared on the model becomes its default: E001 catches it."""
    from tests.testapp.models import Shadowed

    class OnShadowed(Trigger[Shadowed]):
        def on_after_update(self, new: list[Shadowed], old: list[Shadowed]) -> None:
            pass

    messages = check_triggers()
    assert [m.id for m in messages] == ["bulk_triggers.E001"]
    assert "'raw'" in messages[0].msg
