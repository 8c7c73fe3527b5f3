"""The bulk_triggers logger: one DEBUG line per trigger call, nothing above DEBUG."""

from __future__ import annotations

import logging

import pytest
from django.db.models import F

from bulk_triggers import Trigger
from bulk_triggers.testing import isolated_registry
from tests.testapp.models import Item


def test_one_debug_line_per_call(using: str, caplog: pytest.LogCaptureFixture) -> None:
    """Each dispatched method logs trigger, stage, event, row count and database."""
    Item.objects.bulk_create([Item(name=f"i{n}") for n in range(3)])
    with isolated_registry():

        class Watch(Trigger[Item]):
            def on_before_update(self, new: list[Item], old: list[Item]) -> None:
                pass

            def on_after_update(self, new: list[Item], old: list[Item]) -> None:
                pass

        with caplog.at_level(logging.DEBUG, logger="bulk_triggers"):
            Item.objects.update(amount=F("amount") + 1)
    records = [r for r in caplog.records if r.name == "bulk_triggers"]
    assert [r.levelno for r in records] == [logging.DEBUG, logging.DEBUG]
    first = records[0].getMessage()
    assert first.startswith(f"{Watch.label}.on_before_update: before update, 3 testapp.Item")
    assert f"on {using!r}" in first and first.endswith(" ms")


def test_nothing_logged_at_info(using: str, caplog: pytest.LogCaptureFixture) -> None:
    """At INFO level the logger stays silent, so production logs are not flooded."""
    with isolated_registry():

        class Watch(Trigger[Item]):
            def on_after_create(self, new: list[Item]) -> None:
                pass

        with caplog.at_level(logging.INFO, logger="bulk_triggers"):
            Item.objects.create(name="quiet")
    assert [r for r in caplog.records if r.name == "bulk_triggers"] == []
