"""Adaptive pushdown: the split is kept only while few enough of the filter's rows pass.

A non-locking count of the filter's rows, and of those that may pass, comes first. At a
share of passing rows at or above the operation's threshold the update or delete is not
split: it runs the ordinary triggered path, whose statements are then PUSHDOWN off's,
after the count. Below the threshold the split stays. Each case runs on ``PushTicket``
(with triggers) and, by plain Django, on ``PushTwin`` holding the same rows, and
compares the tables and counts.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext, override_settings

from bulk_triggers import Condition, IsEqual, Trigger, WasEqual, pushdown_write
from tests.pushdownapp.models import PushTicket, PushTwin
from tests.test_locks import server_only
from tests.test_pushdown import _probe, _table, loaded

__all__ = ["loaded"]  # The fixture, used here too.

ROWS = 40  # Rows of the filter; two more rows (label "b") are outside it.
_CONTROL = ("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT")


def _seed(passing: int) -> None:
    """Give the first ``passing`` rows of the filter status "p", the others "q"."""
    for model in (PushTicket, PushTwin):
        model.objects.bulk_create(
            model(status="p" if i < passing else "q", label="a", priority=i) for i in range(ROWS)
        )
        model.objects.bulk_create(model(status="p", label="b") for _ in range(2))


def _share(event: str, using: str, before: bool) -> float:
    """Return the share of passing rows from which ``event`` is not split on ``using``."""
    if event == "update":
        shares = pushdown_write.UPDATE_SPLIT_SHARE
    elif before:
        shares = pushdown_write.DELETE_BEFORE_SPLIT_SHARE
    else:
        shares = pushdown_write.DELETE_SPLIT_SHARE
    return pushdown_write.split_share(shares, connections[using].vendor)


def _at(event: str, using: str, before: bool = True) -> tuple[int, int]:
    """Return the passing rows just below the threshold (split) and at it (not split)."""
    unsplit = math.ceil(_share(event, using, before) * ROWS)
    assert 2 <= unsplit <= ROWS, "the threshold must leave both sides testable"
    return unsplit - 1, unsplit


def _define(name: str, body: dict[str, Any]) -> None:
    """Define (and so register) a trigger on PushTicket with ``body``."""
    namespace = {**body, "__module__": __name__, "__qualname__": name}
    types.new_class(name, (Trigger[PushTicket],), exec_body=lambda ns: ns.update(namespace))


def _watch(event: str, condition: Condition, stages: tuple[str, ...]) -> list[Any]:
    """Define a trigger on PushTicket with ``condition``; return the keys its first stage gets."""
    fired: list[Any] = []

    def before_update(self: Any, new: list[Any], old: list[Any]) -> None:
        fired.extend(row.pk for row in new)

    def after_update(self: Any, new: list[Any], old: list[Any]) -> None:
        if "before" not in stages:
            fired.extend(row.pk for row in new)

    def before_delete(self: Any, old: list[Any]) -> None:
        fired.extend(row.pk for row in old)

    def after_delete(self: Any, old: list[Any]) -> None:
        if "before" not in stages:
            fired.extend(row.pk for row in old)

    methods = {
        "before_update": before_update,
        "after_update": after_update,
        "before_delete": before_delete,
        "after_delete": after_delete,
    }
    body = {f"on_{stage}_{event}": methods[f"{stage}_{event}"] for stage in stages}
    _define("Watch", {"condition": condition, **body})
    return fired


def _statements(using: str, run: Callable[[], Any]) -> tuple[list[str], Any]:
    """Run ``run``; return its statements (transaction control left out) and its result."""
    with CaptureQueriesContext(connections[using]) as captured:
        result = run()
    sql = [query["sql"] for query in captured.captured_queries]
    return [text for text in sql if not text.upper().startswith(_CONTROL)], result


def _unpushed(using: str, run: Callable[[], Any]) -> list[str]:
    """Return the statements of ``run`` with PUSHDOWN off, its writes rolled back."""
    off = {**settings.BULK_TRIGGERS, "PUSHDOWN": False}
    with transaction.atomic(using=using), override_settings(BULK_TRIGGERS=off):
        statements, _ = _statements(using, run)
        transaction.set_rollback(True, using=using)
    return statements


def _update() -> int:
    return PushTicket.objects.filter(label="a").update(priority=-1)


def _delete() -> tuple[int, dict[str, int]]:
    return PushTicket.objects.filter(label="a").delete()


def _passing_keys() -> set[Any]:
    return set(PushTicket.objects.filter(label="a", status="p").values_list("pk", flat=True))


def _every_key() -> set[Any]:
    return set(PushTicket.objects.filter(label="a").values_list("pk", flat=True))


def _check_update(using: str, loaded: list[Any], passing: int) -> tuple[list[str], list[str]]:
    """Update both tables at ``passing`` passing rows; return the statements with, without split."""
    _seed(passing)
    fired = _watch("update", WasEqual("status", "p"), ("before", "after"))
    expected = _passing_keys()
    without = _unpushed(using, _update)
    fired.clear()
    loaded.clear()
    statements, count = _statements(using, _update)
    assert count == PushTwin.objects.filter(label="a").update(priority=-1) == ROWS
    assert _table(PushTicket) == _table(PushTwin)
    assert sorted(fired) == sorted(expected) and len(expected) == passing
    assert "COUNT(" in statements[0].upper()  # The count that decides.
    return statements, without


def test_update_at_the_threshold_is_not_split(using: str, loaded: list[Any]) -> None:
    statements, without = _check_update(using, loaded, _at("update", using)[1])
    assert statements[1:] == without  # The read, then exactly PUSHDOWN off's statements.
    assert set(loaded) == _every_key()


def test_update_below_the_threshold_is_split(using: str, loaded: list[Any]) -> None:
    passing = _at("update", using)[0]
    statements, without = _check_update(using, loaded, passing)
    assert statements[2].upper().startswith("UPDATE")  # Django's write of the rest.
    assert statements[1:] != without
    assert len(set(loaded)) == passing  # Only the passing rows were loaded.


def test_update_every_row_passing_is_not_split(using: str, loaded: list[Any]) -> None:
    statements, without = _check_update(using, loaded, ROWS)
    assert statements[1:] == without


def test_update_no_row_passing_writes_plainly(using: str, loaded: list[Any]) -> None:
    statements, _ = _check_update(using, loaded, 0)
    assert len(statements) == 3 and statements[2].upper().startswith("UPDATE")
    assert loaded == []


def test_a_constant_form_reads_no_keys(using: str, loaded: list[Any]) -> None:
    """Every row passes by the form alone (the new status is known): no read, no split."""
    _seed(3)
    fired = _watch("update", IsEqual("status", "z"), ("before",))

    def run() -> int:
        return PushTicket.objects.filter(label="a").update(status="z")

    without = _unpushed(using, run)
    fired.clear()
    statements, count = _statements(using, run)
    assert count == PushTwin.objects.filter(label="a").update(status="z")
    assert statements == without
    assert sorted(fired) == sorted(_every_key())
    assert _table(PushTicket) == _table(PushTwin)


STAGES = [("before", "after"), ("after",)]


def _check_delete(
    using: str, loaded: list[Any], passing: int, stages: tuple[str, ...]
) -> tuple[list[str], list[str]]:
    _seed(passing)
    fired = _watch("delete", IsEqual("status", "p"), stages)
    expected = _passing_keys()
    without = _unpushed(using, _delete)
    fired.clear()
    loaded.clear()
    statements, (total, counts) = _statements(using, _delete)
    twin_total, twin_counts = PushTwin.objects.filter(label="a").delete()
    assert total == twin_total == ROWS
    assert counts == {"pushdownapp.PushTicket": ROWS}
    assert twin_counts == {"pushdownapp.PushTwin": ROWS}
    assert _table(PushTicket) == _table(PushTwin)
    assert sorted(fired) == sorted(expected) and len(expected) == passing
    assert "COUNT(" in statements[0].upper()
    return statements, without


@pytest.mark.parametrize("stages", STAGES, ids="+".join)
def test_delete_at_the_threshold_is_not_split(
    using: str, loaded: list[Any], stages: tuple[str, ...]
) -> None:
    statements, without = _check_delete(
        using, loaded, _at("delete", using, "before" in stages)[1], stages
    )
    assert statements[1:] == without
    assert len(set(loaded)) == ROWS


@pytest.mark.parametrize("stages", STAGES, ids="+".join)
def test_delete_below_the_threshold_is_split(
    using: str, loaded: list[Any], stages: tuple[str, ...]
) -> None:
    passing = _at("delete", using, "before" in stages)[0]
    statements, without = _check_delete(using, loaded, passing, stages)
    assert statements[1:] != without
    assert len(set(loaded)) == passing  # The rest was deleted by Django, never loaded.


@pytest.mark.parametrize("stages", STAGES, ids="+".join)
def test_delete_of_every_row_passing_is_not_split(
    using: str, loaded: list[Any], stages: tuple[str, ...]
) -> None:
    statements, without = _check_delete(using, loaded, ROWS, stages)
    assert statements[1:] == without


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("side", ["split", "unsplit"])
@pytest.mark.parametrize("event", ["update", "delete"])
def test_locks_follow_the_route(using: str, event: str, side: str) -> None:
    """Split, every row is locked by the key read before the first write; else as PUSHDOWN off.

    Probed from another connection when the first before trigger runs (CHUNK_SIZE 2): the
    last passing row is in a later chunk, so only the split's read can have locked it. Not
    split, the count before took no lock, and the chunks lock as they always do.
    """
    server_only(using)
    below, at = _at(event, using)
    _seed(below if side == "split" else at)
    rows = PushTicket.objects.filter(label="a", status="p").order_by("pk")
    first, last = rows.first(), rows.last()
    assert first is not None and last is not None
    probes: list[tuple[str | None, str | None]] = []

    def probe(self: Any, *rows: Any) -> None:
        if not probes:
            probes.append((_probe(using, first.pk), _probe(using, last.pk)))

    body = {f"on_before_{event}": probe, "condition": IsEqual("status", "p")}
    _define("Probe", body)
    with override_settings(BULK_TRIGGERS={**settings.BULK_TRIGGERS, "CHUNK_SIZE": 2}):
        (_update if event == "update" else _delete)()
    assert len(probes) == 1
    first_locked, last_locked = (outcome is not None for outcome in probes[0])
    assert first_locked, "the chunk being written is locked"
    assert last_locked is (side == "split"), probes[0]
    assert _probe(using, last.pk) is None  # Released at the end (or deleted).
