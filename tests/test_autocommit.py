"""Every triggered write path outside any transaction (autocommit), on every database.

The rest of the suite runs inside the test case's transaction, where a locking read or a
missing ``atomic`` goes unnoticed. Here each path runs in autocommit: it must work, and
an exception from its last trigger must leave the table as it was, the part Django wrote
unloaded (pushdown) included.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections
from django.db.models import F

from bulk_triggers import Condition, HasChanged, IsEqual
from tests.recorder import Recorder, record
from tests.upwriteapp.models import UwPlain

pytestmark = pytest.mark.django_db(transaction=True)


class Boom(Exception):
    """Raised by the last trigger of a failing run."""


def _bulk_update() -> Any:
    rows = list(UwPlain.objects.order_by("pk"))
    for row in rows:
        row.amount += 10
    return UwPlain.objects.bulk_update(rows, ["amount"])


def _save() -> Any:
    row = UwPlain.objects.order_by("pk").first()
    assert row is not None
    row.amount = 99
    row.save()


# name: (event, stages, condition, operation)
CASES: dict[str, tuple[str, tuple[str, ...], Condition | None, Callable[[], Any]]] = {
    "update, before+after": (
        "update", ("before", "after"), None, lambda: UwPlain.objects.update(amount=F("amount") + 1)
    ),
    "update, after only": (
        "update", ("after",), None, lambda: UwPlain.objects.update(amount=F("amount") + 1)
    ),
    "update, pushed down": (
        "update",
        ("before", "after"),
        HasChanged("amount"),
        lambda: UwPlain.objects.update(amount=2),
    ),
    "delete, before+after": (
        "delete", ("before", "after"), None, lambda: UwPlain.objects.all().delete()
    ),
    "delete, after only": ("delete", ("after",), None, lambda: UwPlain.objects.all().delete()),
    "delete, pushed down": (
        "delete", ("before", "after"), IsEqual("label", "b"), lambda: UwPlain.objects.all().delete()
    ),
    "bulk_update": ("update", ("before", "after"), None, _bulk_update),
    "save": ("update", ("before", "after"), None, _save),
}  # fmt: skip


def _table() -> list[tuple[Any, ...]]:
    return list(UwPlain.objects.order_by("pk").values_list("pk", "amount", "label"))


def _define(
    event: str, stages: tuple[str, ...], condition: Condition | None, fail: bool
) -> Recorder:
    """Record a trigger on UwPlain for ``event``; with ``fail``, its last stage raises."""

    def boom(*rows: Any) -> None:
        raise Boom(stages[-1])

    hooks = {(stages[-1], event): boom} if fail else {}
    return record(UwPlain, stages=stages, events=(event,), condition=condition, hooks=hooks)


def _seed() -> None:
    UwPlain.objects.bulk_create(
        UwPlain(amount=n, label="b" if n % 3 == 0 else "a") for n in range(7)
    )


@pytest.mark.parametrize("case", CASES)
def test_path_runs_in_autocommit(using: str, case: str) -> None:
    event, stages, condition, operation = CASES[case]
    _seed()
    assert not connections[using].in_atomic_block
    before = _table()
    recorder = _define(event, stages, condition, fail=False)
    operation()
    assert {stage for stage, _ in recorder.events()} == set(stages)
    assert _table() != before


@pytest.mark.parametrize("case", CASES)
def test_a_failing_trigger_leaves_the_table_as_it_was(using: str, case: str) -> None:
    event, stages, condition, operation = CASES[case]
    _seed()
    before = _table()
    _define(event, stages, condition, fail=True)
    with pytest.raises(Boom):
        operation()
    assert _table() == before
