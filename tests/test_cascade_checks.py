"""bulk_triggers.W007: keys whose deletes the database handles, behind a model's triggers."""

from __future__ import annotations

import types

import pytest
from django.db import models

from bulk_triggers import Trigger
from bulk_triggers.checks import check_triggers
from tests.cascadesapp.models import CascLoose, CascNullable, CascRoot


def _w007() -> list[str]:
    return [message.msg for message in check_triggers() if message.id == "bulk_triggers.W007"]


@pytest.mark.parametrize("event", ["delete", "update"])
def test_a_do_nothing_key_behind_delete_or_update_triggers_is_w007(event: str) -> None:
    """A delete or update trigger on a model with a DO_NOTHING key warns, naming the key."""
    assert _w007() == []

    def method(self: object, *rows: object) -> None:
        pass

    loose = types.new_class(
        "Loose",
        (Trigger[CascLoose],),
        {},
        lambda ns: ns.update({f"on_after_{event}": method}),
    )
    (message,) = _w007()
    assert "cascadesapp.CascLoose.root uses on_delete=DO_NOTHING" in message
    assert loose.label in message


def test_create_triggers_and_collector_handled_keys_do_not_warn() -> None:
    """Create-only triggers, and SET_NULL keys that the collector handles, raise no W007."""

    class Created(Trigger[CascLoose]):
        def on_after_create(self, new: list[CascLoose]) -> None:
            pass

    class Updated(Trigger[CascNullable]):
        def on_after_update(self, new: list[CascNullable], old: list[CascNullable]) -> None:
            pass

    assert _w007() == []


def test_database_level_on_delete_is_w007() -> None:
    """Django 6.1's DB_SET_NULL (where it exists) is named like DO_NOTHING."""
    db_set_null = getattr(models, "DB_SET_NULL", None)
    if db_set_null is None:
        pytest.skip("Django < 6.1 has no database-level on_delete")
    field = CascNullable._meta.get_field("root")
    original = field.remote_field.on_delete
    field.remote_field.on_delete = db_set_null
    try:

        class Updated(Trigger[CascNullable]):
            def on_before_update(self, new: list[CascNullable], old: list[CascNullable]) -> None:
                pass

        (message,) = _w007()
    finally:
        field.remote_field.on_delete = original
    assert "cascadesapp.CascNullable.root uses on_delete=DB_SET_NULL" in message


def test_triggers_on_an_auto_created_through_model_pass_the_checks() -> None:
    """Trigger[CascRoot.tags.through] is wired: no E001/E002/W002/W006 for the through model."""
    through = CascRoot.tags.through

    class Links(Trigger[through]):  # type: ignore[valid-type]
        def on_after_create(self, new: list[models.Model]) -> None:
            pass

    assert [m.id for m in check_triggers() if m.obj is through] == []
