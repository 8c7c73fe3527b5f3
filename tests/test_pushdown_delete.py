"""Condition pushdown on delete(): rows no delete trigger wants are deleted by Django alone.

As in ``test_pushdown.py``: ``PushTicket`` (with triggers) and ``PushTwin`` (plain
Django) hold the same rows; both are deleted alike and compared.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import models

from bulk_triggers import ChangesTo, Condition, HasChanged, IsEqual, Trigger, WasEqual
from tests.pushdownapp.models import PushBox, PushBoxNote, PushNode, PushTicket, PushTwin
from tests.test_pushdown import Opaque, _always_split, _seed, _table, loaded

__all__ = ["_always_split", "loaded"]  # The fixtures, used here too.


def _expected(condition: Condition) -> set[Any]:
    return {row.pk for row in PushTicket.objects.filter(label="a") if condition.check(None, row)}


def _trigger(condition: Condition | None, model: type[models.Model] = PushTicket) -> list[Any]:
    fired: list[Any] = []

    class Watch(Trigger[model]):  # type: ignore[valid-type]
        def on_before_delete(self, old: list[Any]) -> None:
            fired.extend(row.pk for row in old)

    Watch.condition = condition
    return fired


def _run(loaded: list[Any]) -> set[Any]:
    twin_total, twin_counts = PushTwin.objects.filter(label="a").delete()
    loaded.clear()
    total, counts = PushTicket.objects.filter(label="a").delete()
    assert total == twin_total
    assert counts == ({"pushdownapp.PushTicket": total} if total else {})
    assert twin_counts == ({"pushdownapp.PushTwin": total} if total else {})
    assert _table(PushTicket) == _table(PushTwin)
    return set(loaded)


PUSHED = [
    IsEqual("status", "x"),
    IsEqual("status", None),
    ~IsEqual("status", "x") & WasEqual("priority", 3),
    IsEqual("flag", True) | IsEqual("priority", 5),
]


@pytest.mark.parametrize("condition", PUSHED, ids=repr)
def test_delete_loads_only_passing_rows(
    using: str, loaded: list[Any], condition: Condition
) -> None:
    _seed()
    expected = _expected(condition)
    fired = _trigger(condition)
    assert _run(loaded) == expected == set(fired)
    assert expected


def test_change_conditions_never_pass_on_delete(using: str, loaded: list[Any]) -> None:
    _seed()
    fired = _trigger(HasChanged("status") | ChangesTo("status", "x"))
    assert _run(loaded) == set()
    assert fired == []


def test_chunked_delete(using: str, loaded: list[Any], settings: Any) -> None:
    settings.BULK_TRIGGERS = {"CHUNK_SIZE": 2}
    _seed()
    expected = _expected(IsEqual("status", "x"))
    fired = _trigger(IsEqual("status", "x"))
    assert _run(loaded) == expected == set(fired)


@pytest.mark.parametrize("condition", [None, Opaque(), IsEqual("owner__status", "active")])
def test_delete_without_sql_form_loads_every_row(
    using: str, loaded: list[Any], condition: Condition | None
) -> None:
    _seed()
    every = set(PushTicket.objects.filter(label="a").values_list("pk", flat=True))
    _trigger(condition)
    assert _run(loaded) == every


def _boxes() -> list[Any]:
    boxes = [PushBox.objects.create(status=status) for status in ("x", "y", "y")]
    PushBoxNote.objects.bulk_create(PushBoxNote(box=box) for box in boxes for _ in range(2))
    return boxes


def test_an_untriggered_cascade_is_django_s(using: str) -> None:
    boxes = _boxes()
    fired = _trigger(IsEqual("status", "x"), PushBox)
    result = PushBox.objects.all().delete()
    assert result == (9, {"pushdownapp.PushBox": 3, "pushdownapp.PushBoxNote": 6})
    assert fired == [boxes[0].pk]
    assert not PushBoxNote.objects.exists()


def test_a_triggered_cascade_disables_pushdown(using: str) -> None:
    _boxes()
    _trigger(IsEqual("status", "x"), PushBox)
    notes = _trigger(None, PushBoxNote)
    assert PushBox.objects.all().delete()[0] == 9
    assert len(notes) == 6  # The notes of boxes no box trigger wants fired too.


def test_a_self_cascade_disables_pushdown(using: str) -> None:
    root = PushNode.objects.create(status="keep")
    PushNode.objects.create(status="x", parent=root)
    fired = _trigger(IsEqual("status", "x"), PushNode)
    assert PushNode.objects.filter(status="keep").delete() == (2, {"pushdownapp.PushNode": 2})
    assert len(fired) == 1  # The child, deleted by the cascade, still fired.


def test_pushdown_off_loads_every_deleted_row(using: str, loaded: list[Any], settings: Any) -> None:
    """``PUSHDOWN: False``: every deleted row is loaded; the trigger gets the passing ones."""
    settings.BULK_TRIGGERS = {"PUSHDOWN": False}
    _seed()
    every = set(PushTicket.objects.filter(label="a").values_list("pk", flat=True))
    expected = _expected(IsEqual("status", "x"))
    fired = _trigger(IsEqual("status", "x"))
    assert _run(loaded) == every != expected
    assert set(fired) == expected
