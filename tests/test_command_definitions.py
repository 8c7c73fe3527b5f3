"""``manage.py triggers`` lists inherited and abstract-model triggers under each model."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

from django.core.management import call_command

from bulk_triggers import Trigger
from tests.defsapp.models import DefsKiosk, DefsPlace, DefsStamped


def listing(*args: str) -> dict[str, Any]:
    out = StringIO()
    call_command("triggers", *args, "--format", "json", stdout=out)
    return {entry["model"]: entry["events"] for entry in json.loads(out.getvalue())}


def test_abstract_trigger_is_listed_under_each_concrete_model() -> None:
    """Trigger[DefsStamped] appears under every concrete subclass, not under the proxy."""

    class OnStamped(Trigger[DefsStamped]):
        def on_after_update(self, new: list[Any], old: list[Any]) -> None:
            pass

    found = listing("defsapp")
    holders = sorted(m for m, events in found.items() if "update" in events)
    assert holders == ["defsapp.DefsStampA", "defsapp.DefsStampB", "defsapp.DefsStampedPlace"]
    (entry,) = found["defsapp.DefsStampA"]["update"]["after"]
    assert (entry["trigger"], entry["declared_on"]) == (OnStamped.label, "defsapp.DefsStamped")


def test_mti_children_list_their_parents_triggers_first() -> None:
    """Each child of the chain lists the parent's trigger, from the parent, before its own."""

    class OnKiosk(Trigger[DefsKiosk]):
        def on_before_delete(self, old: list[DefsKiosk]) -> None:
            pass

    class OnPlace(Trigger[DefsPlace]):
        def on_before_delete(self, old: list[DefsPlace]) -> None:
            pass

    found = listing("defsapp.DefsPlace", "defsapp.DefsShop", "defsapp.DefsKiosk")
    assert list(found) == ["defsapp.DefsPlace", "defsapp.DefsShop", "defsapp.DefsKiosk"]
    before = {model: events["delete"]["before"] for model, events in found.items()}
    assert [t["trigger"] for t in before["defsapp.DefsKiosk"]] == [OnPlace.label, OnKiosk.label]
    assert [t["declared_on"] for t in before["defsapp.DefsShop"]] == ["defsapp.DefsPlace"]
    assert [t["trigger"] for t in before["defsapp.DefsPlace"]] == [OnPlace.label]


def test_text_names_where_an_inherited_trigger_is_declared() -> None:
    """The text listing marks a trigger inherited from a parent with its model."""

    class OnPlace(Trigger[DefsPlace]):
        def on_after_create(self, new: list[DefsPlace]) -> None:
            pass

    out = StringIO()
    call_command("triggers", "defsapp.DefsKiosk", stdout=out)
    assert out.getvalue().splitlines() == [
        "defsapp.DefsKiosk",
        "  after create:",
        f"    1. {OnPlace.label}  order=0  (from defsapp.DefsPlace)",
    ]
