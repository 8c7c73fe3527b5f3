"""Checks for inherited and abstract-model triggers, and for event names missing ``on_``."""

from __future__ import annotations

import types
from typing import Any

import pytest
from django.db import models

from bulk_triggers import HasChanged, Trigger
from bulk_triggers.checks import check_triggers
from tests.defsapp.models import DefsPlace, DefsStamped
from tests.testapp.models import Item, Plain, Shadowed


class _Unfiled(models.Model):
    """An abstract model in a module of no installed app, as a library may ship one."""

    flag = models.BooleanField(default=False)

    class Meta:
        abstract = True


@pytest.mark.parametrize("name", ["before_update", "after_create", "commit_delete"])
def test_event_name_without_on_is_a_warning_with_the_fix(name: str) -> None:
    """A method named like an event without on_ is W008, suggesting the on_ name."""

    def helper(self: Any, *rows: Any) -> None:
        pass

    namespace = {"__module__": __name__, name: helper, "on_after_update": helper}
    types.new_class("Forgot", (Trigger[Item],), {}, lambda ns: ns.update(namespace))
    messages = [m for m in check_triggers() if m.id == "bulk_triggers.W008"]
    assert len(messages) == 1
    assert f"'{name}'" in messages[0].msg and f"'on_{name}'" in messages[0].msg


def test_helper_beside_its_event_method_is_not_reported() -> None:
    """A helper named like an event is fine when the real on_ method exists too."""

    class Both(Trigger[Item]):
        def before_update(self, new: list[Item]) -> None:
            pass

        def before_updating(self) -> None:
            pass

        def on_before_update(self, new: list[Item], old: list[Item]) -> None:
            self.before_update(new)

    assert check_triggers() == []


@pytest.mark.parametrize(
    ("model", "leads_with"),
    [
        (Shadowed, "The model's own manager 'raw' became its default"),
        (Plain, "Subclass TriggerModelMixin"),
    ],
    ids=["mixin_with_own_manager", "plain_model"],
)
def test_e001_hint_leads_with_the_fix_that_applies(model: type[Any], leads_with: str) -> None:
    """With the mixin present, E001's hint starts with the manager fix, not the mixin."""
    namespace = {"__module__": __name__, "on_after_update": lambda self, new, old: None}
    types.new_class("OnModel", (Trigger[model],), {}, lambda ns: ns.update(namespace))
    (message,) = [m for m in check_triggers() if m.id == "bulk_triggers.E001"]
    assert message.hint.startswith(leads_with)


def test_child_inheriting_triggers_is_checked_naming_the_parents_trigger() -> None:
    """A parent's trigger makes its MTI child's plain default manager an E001."""

    class OnPlace(Trigger[DefsPlace]):
        def on_after_update(self, new: list[DefsPlace], old: list[DefsPlace]) -> None:
            pass

    messages = check_triggers()
    assert [(m.id, m.obj._meta.label) for m in messages] == [
        ("bulk_triggers.E001", "defsapp.DefsShadowedShop")
    ]
    assert OnPlace.label in messages[0].msg


def test_abstract_model_trigger_is_checked_without_an_app() -> None:
    """An abstract model outside any app raises no E004; its condition is still checked."""

    class OnUnfiled(Trigger[_Unfiled]):
        condition = HasChanged("flag")

        def on_after_update(self, new: list[Any], old: list[Any]) -> None:
            pass

    class OnStamped(Trigger[DefsStamped]):
        condition = HasChanged("touched")

        def on_after_update(self, new: list[Any], old: list[Any]) -> None:
            pass

    assert check_triggers() == []
    OnStamped.condition = HasChanged("size")
    assert [m.id for m in check_triggers()] == ["bulk_triggers.E003"]
