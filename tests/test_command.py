"""``manage.py triggers`` lists triggers per model, event and stage, in execution order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from bulk_triggers import ChangesTo, HasChanged, IsEqual, Trigger
from bulk_triggers.testing import isolated_registry
from tests.testapp.models import Item, ItemProxy


@pytest.fixture
def defined() -> Iterator[tuple[type[Any], ...]]:
    with isolated_registry():

        class Second(Trigger[Item]):
            order = 5
            condition = HasChanged("status") & ~IsEqual("amount", 0)

            def on_before_update(self, new: list[Item], old: list[Item]) -> None:
                pass

        class First(Trigger[Item]):
            order = -1

            def on_before_update(self, new: list[Item], old: list[Item]) -> None:
                pass

            def on_commit_delete(self, old: list[Item]) -> None:
                pass

        class ProxyOnly(Trigger[ItemProxy]):
            condition = ChangesTo("status", "done")

            def on_after_update(self, new: list[ItemProxy], old: list[ItemProxy]) -> None:
                pass

        yield First, Second, ProxyOnly


def run(*args: str) -> str:
    out = StringIO()
    call_command("triggers", *args, stdout=out)
    return out.getvalue()


def test_json_lists_stages_in_execution_order(defined: tuple[type[Any], ...]) -> None:
    """JSON output orders triggers by `order` and renders conditions readably."""
    first, second, _proxy_only = defined
    listing = json.loads(run("testapp.Item", "--format", "json"))
    assert [entry["model"] for entry in listing] == ["testapp.Item"]
    events = listing[0]["events"]
    assert [t["trigger"] for t in events["update"]["before"]] == [first.label, second.label]
    assert events["update"]["before"][1]["condition"] == (
        "HasChanged('status') & ~IsEqual('amount', 0)"
    )
    assert events["update"]["before"][1]["order"] == 5
    assert [t["trigger"] for t in events["delete"]["commit"]] == [first.label]
    assert "after" not in events["update"]


def test_proxy_listing_includes_concrete_triggers(defined: tuple[type[Any], ...]) -> None:
    """A proxy's listing shows its own triggers and those inherited from the concrete model."""
    _first, _second, proxy_only = defined
    listing = json.loads(run("testapp.ItemProxy", "--format", "json"))
    assert listing[0]["model"] == "testapp.ItemProxy"
    assert [t["trigger"] for t in listing[0]["events"]["update"]["after"]] == [proxy_only.label]
    assert listing[0]["events"]["update"]["before"][0]["declared_on"] == "testapp.Item"


def test_text_output(defined: tuple[type[Any], ...]) -> None:
    """Text output names model, stage, event, position, order and condition."""
    first, second, _proxy_only = defined
    text = run("testapp")
    assert text.splitlines()[0] == "testapp.Item"
    assert "  before update:" in text
    assert f"    1. {first.label}  order=-1" in text
    assert (
        f"    2. {second.label}  order=5  when HasChanged('status') & ~IsEqual('amount', 0)" in text
    )
    assert "testapp.ItemProxy" in text


def test_unknown_app_is_a_command_error(defined: tuple[type[Any], ...]) -> None:
    """An unknown app label is reported as a CommandError, not a traceback."""
    with pytest.raises(CommandError, match="nope"):
        run("nope")


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        (("auth",), "No triggers registered for app 'auth'."),
        (("auth.User",), "No triggers registered for model 'auth.User'."),
        (("auth", "contenttypes"), "No triggers registered for app 'auth' or app 'contenttypes'."),
    ],
)
def test_nothing_registered(targets: tuple[str, ...], message: str) -> None:
    """With no triggers for what was asked, the text output says so and names it."""
    with isolated_registry():
        assert run(*targets).strip() == message


def test_format_option_is_explained() -> None:
    """--help describes --format and both of its choices."""
    from bulk_triggers.management.commands.triggers import Command

    help_text = Command().create_parser("manage.py", "triggers").format_help()
    assert "--format {text,json}" in help_text
    assert "json: a list of" in " ".join(help_text.split())
