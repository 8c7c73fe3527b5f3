"""``QuerySet.delete()`` with after triggers only: one ``DELETE … RETURNING`` per chunk."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db import connections, models
from django.db.models import F
from django.db.models.signals import post_delete
from django.test.utils import CaptureQueriesContext

from bulk_triggers import IsEqual, bypass
from bulk_triggers.deletion_returning import returns_deleted_rows
from tests.delretapp.models import (
    DelHolder,
    DelKept,
    DelOwner,
    DelPart,
    DelRow,
    DelRowProxy,
    DelTarget,
    DelTwin,
)
from tests.recorder import record

CHUNK = 4
MOMENT = datetime.datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=datetime.timezone.utc)


@pytest.fixture
def chunked(settings: Any) -> None:
    """Make chunks of four rows."""
    settings.BULK_TRIGGERS = {"CHUNK_SIZE": CHUNK}


def _fill(model: type[models.Model], count: int) -> list[dict[str, Any]]:
    """Store ``count`` rows with varied values (every third all NULL); return them as dicts."""
    targets = {code: DelTarget.objects.get_or_create(code=code)[0] for code in ("a", "b")}
    rows = []
    for n in range(count):
        empty = n % 3 == 2
        target = targets["ab"[n % 2]]
        rows.append(
            model(
                amount=None if empty else Decimal(f"{n}.125"),
                moment=None if empty else MOMENT + datetime.timedelta(days=n),
                data=None if empty else {"n": n, "tags": ["x", None], "ok": True},
                flag=bool(n % 2),
                note=None if empty else f"note{n}",
                target=None if empty else target,
                coded=None if empty else target,
            )
        )
    with bypass():
        model._default_manager.bulk_create(rows)
    return [_values(row) for row in model._default_manager.order_by("pk")]


def _values(obj: models.Model) -> dict[str, Any]:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def _deletes(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().startswith("DELETE")]


def _expected_deletes(using: str, sizes: list[int]) -> int:
    """Return the DELETEs for chunks of ``sizes``: one each, and one empty one to end on.

    A short chunk ends the delete, except on PostgreSQL, where rows that others deleted
    while the chunk waited for its locks drop out of its LIMIT: an empty chunk ends it.
    """
    ends = sizes[-1] == CHUNK or connections[using].vendor == "postgresql"
    return len(sizes) + ends


def _selects(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().startswith("SELECT")]


def test_the_server_gate_follows_the_versions() -> None:
    """RETURNING on DELETE: PostgreSQL, SQLite from 3.35, MariaDB from 10.5, never MySQL."""
    assert returns_deleted_rows("postgresql", (15,))
    assert returns_deleted_rows("sqlite", (3, 35, 0))
    assert not returns_deleted_rows("sqlite", (3, 34, 1))
    assert returns_deleted_rows("mysql", (10, 11, 6), mariadb=True)
    assert returns_deleted_rows("mysql", (10, 5, 0), mariadb=True)
    assert not returns_deleted_rows("mysql", (10, 4, 30), mariadb=True)
    assert not returns_deleted_rows("mysql", (8, 4, 0), mariadb=False)
    assert not returns_deleted_rows("oracle", (23,))


def test_this_servers_take_the_returning_path(using: str) -> None:
    """Each server of the suite (MariaDB 10.11 among them) deletes by DELETE … RETURNING."""
    _fill(DelRow, 2)
    record(DelRow, stages=["after"], events=["delete"])
    with CaptureQueriesContext(connections[using]) as queries:
        DelRow.objects.all().delete()
    deletes = _deletes(queries)
    assert len(deletes) == _expected_deletes(using, [2])
    assert all("RETURNING" in sql for sql in deletes)
    assert not _selects(queries)


def test_one_statement_per_chunk_and_exact_rows(using: str, chunked: None) -> None:
    """Ten rows in chunks of four: three DELETE … RETURNING, no SELECT, every value as loaded."""
    stored = _fill(DelRow, 10)
    rec = record(DelRow, stages=["after"], events=["delete"])
    with CaptureQueriesContext(connections[using]) as queries:
        result = DelRow.objects.all().delete()
    assert result == (10, {"delretapp.DelRow": 10})
    deletes = _deletes(queries)
    assert len(deletes) == _expected_deletes(using, [4, 4, 2])
    assert all("RETURNING" in sql for sql in deletes)
    assert not _selects(queries)
    assert [len(call.old or []) for call in rec.calls] == [4, 4, 2]
    received = [
        {k: v for k, v in row.items() if k != "pk"} for call in rec.calls for row in call.old or []
    ]
    assert received == stored
    first = rec.calls[0].old_objects[0]  # type: ignore[index]
    assert isinstance(first.amount, Decimal) and first.moment.tzinfo is not None
    assert first.data == {"n": 0, "tags": ["x", None], "ok": True}
    assert first.coded_id == "a" and first.flag is False
    assert not DelRow.objects.exists()


def test_full_last_chunk_is_followed_by_one_empty_statement(using: str, chunked: None) -> None:
    """Eight rows in chunks of four: the second full chunk is followed by one empty DELETE."""
    _fill(DelRow, CHUNK * 2)
    rec = record(DelRow, stages=["after"], events=["delete"])
    with CaptureQueriesContext(connections[using]) as queries:
        assert DelRow.objects.all().delete() == (8, {"delretapp.DelRow": 8})
    assert len(_deletes(queries)) == _expected_deletes(using, [4, 4]) == 3
    assert [len(call.old or []) for call in rec.calls] == [4, 4]


def test_return_value_is_djangos_on_a_twin(using: str, chunked: None) -> None:
    """Counts and labels equal plain Django's for the same filter on the same rows."""
    _fill(DelRow, 9)
    _fill(DelTwin, 9)
    record(DelRow, stages=["after"], events=["delete"])
    ours = DelRow.objects.filter(flag=True).delete()
    djangos = DelTwin.objects.filter(flag=True).delete()
    assert ours == (djangos[0], {"delretapp.DelRow": djangos[1]["delretapp.DelTwin"]})
    assert DelRow.objects.count() == DelTwin.objects.count() == 5


def test_filter_on_the_deleted_rows_columns(using: str, chunked: None) -> None:
    """Only the filtered rows go, and the triggers receive exactly those."""
    stored = _fill(DelRow, 12)
    rec = record(DelRow, stages=["after"], events=["delete"])
    queryset = DelRow.objects.filter(amount__gte=Decimal("3"), note__isnull=False).exclude(
        coded="b"
    )
    expected = [
        row
        for row in stored
        if row["amount"] is not None and row["amount"] >= 3 and row["coded_id"] != "b"
    ]
    assert queryset.delete() == (len(expected), {"delretapp.DelRow": len(expected)})
    assert rec.column("after", "delete", "id", "old") == [row["id"] for row in expected]
    left = set(DelRow.objects.values_list("pk", flat=True))
    assert left == {row["id"] for row in stored} - {row["id"] for row in expected}


def test_condition_selects_among_returned_rows(using: str) -> None:
    """A trigger's condition is evaluated on the returned rows."""
    _fill(DelRow, 6)
    rec = record(DelRow, stages=["after"], events=["delete"], condition=IsEqual("flag", True))
    DelRow.objects.all().delete()
    assert rec.column("after", "delete", "flag", "old") == [True, True, True]


@pytest.mark.parametrize("empty", ["none", "no_match", "empty_in"])
def test_empty_delete(using: str, empty: str) -> None:
    """An empty queryset deletes nothing, calls no trigger and returns Django's ``(0, {})``."""
    _fill(DelRow, 3)
    rec = record(DelRow, stages=["after"], events=["delete"])
    queryset = {
        "none": DelRow.objects.none(),
        "no_match": DelRow.objects.filter(note="nobody"),
        "empty_in": DelRow.objects.filter(pk__in=[]),
    }[empty]
    assert queryset.delete() == (0, {})
    assert rec.calls == []
    assert DelRow.objects.count() == 3


def _old_path(using: str, model: type[models.Model]) -> list[str]:
    """Delete every row of ``model`` with after triggers; return the statements' SQL."""
    with CaptureQueriesContext(connections[using]) as queries:
        model._default_manager.all().delete()
    return [q["sql"] for q in queries.captured_queries]


def test_cascade_takes_the_collectors_path(using: str) -> None:
    """A cascade keeps the collector: rows are read first, no RETURNING."""
    owner = DelOwner.objects.create(name="o")
    DelPart.objects.create(owner=owner)
    rec = record(DelOwner, stages=["after"], events=["delete"])
    sqls = _old_path(using, DelOwner)
    assert not any("RETURNING" in sql for sql in sqls)
    assert any(sql.startswith("SELECT") for sql in sqls)
    assert len(rec.calls) == 1 and not DelPart.objects.exists()


def test_set_null_takes_the_collectors_path(using: str) -> None:
    """A ``SET_NULL`` relation keeps the collector, which writes the NULLs."""
    kept = DelKept.objects.create(name="k")
    holder = DelHolder.objects.create(kept=kept)
    record(DelKept, stages=["after"], events=["delete"])
    sqls = _old_path(using, DelKept)
    assert not any("RETURNING" in sql for sql in sqls)
    holder.refresh_from_db()
    assert holder.kept_id is None


@pytest.fixture
def receiver() -> Iterator[list[Any]]:
    """Connect a post_delete receiver to DelRow; return what it receives."""
    seen: list[Any] = []

    def handler(sender: Any, instance: Any, **kwargs: Any) -> None:
        seen.append(instance.pk)

    post_delete.connect(handler, sender=DelRow)
    yield seen
    post_delete.disconnect(handler, sender=DelRow)


def test_signal_receivers_take_the_collectors_path(using: str, receiver: list[Any]) -> None:
    """A post_delete receiver makes Django load the rows: so do we, and it is called."""
    stored = _fill(DelRow, 3)
    record(DelRow, stages=["after"], events=["delete"])
    sqls = _old_path(using, DelRow)
    assert not any("RETURNING" in sql for sql in sqls)
    assert sorted(receiver) == [row["id"] for row in stored]


def test_before_triggers_read_the_rows_first(using: str) -> None:
    """A before stage must see the rows first: they are read, then deleted."""
    _fill(DelRow, 3)
    rec = record(DelRow, stages=["before", "after"], events=["delete"])
    sqls = _old_path(using, DelRow)
    assert not any("RETURNING" in sql for sql in sqls)
    assert rec.events() == [("before", "delete"), ("after", "delete")]


def test_related_path_condition_takes_the_collectors_path(using: str) -> None:
    """A condition on a related row loads it before the write: no RETURNING."""
    _fill(DelRow, 3)
    rec = record(DelRow, stages=["after"], events=["delete"], condition=IsEqual("coded__code", "a"))
    sqls = _old_path(using, DelRow)
    assert not any("RETURNING" in sql for sql in sqls)
    assert rec.column("after", "delete", "coded_id", "old") == ["a"]


def test_bypassed_triggers_delete_as_django(using: str) -> None:
    """With the triggers bypassed, Django's own single DELETE runs."""
    _fill(DelRow, 3)
    rec = record(DelRow, stages=["after"], events=["delete"])
    with bypass():
        assert DelRow.objects.all().delete() == (3, {"delretapp.DelRow": 3})
    assert rec.calls == []


def test_proxy_keeps_its_label_and_triggers(using: str) -> None:
    """Through a proxy: the proxy's label, as Django counts it, and the proxy's triggers."""
    stored = _fill(DelRow, 3)
    rec = record(DelRowProxy, stages=["after"], events=["delete"])
    with CaptureQueriesContext(connections[using]) as queries:
        assert DelRowProxy.objects.all().delete() == (3, {"delretapp.DelRowProxy": 3})
    assert all("RETURNING" in sql for sql in _deletes(queries))
    assert rec.column("after", "delete", "id", "old") == [row["id"] for row in stored]
    assert all(type(obj) is DelRowProxy for obj in rec.calls[0].old_objects or [])


def test_filter_on_an_annotation(using: str) -> None:
    """A filter on an annotation of the row's own columns is compiled into the DELETE."""
    stored = _fill(DelRow, 6)
    rec = record(DelRow, stages=["after"], events=["delete"])
    queryset = DelRow.objects.alias(double=F("amount") * 2).filter(double__gt=Decimal("4"))
    expected = [row["id"] for row in stored if row["amount"] is not None and row["amount"] > 2]
    with CaptureQueriesContext(connections[using]) as queries:
        assert queryset.delete() == (len(expected), {"delretapp.DelRow": len(expected)})
    assert all("RETURNING" in sql for sql in _deletes(queries))
    assert rec.column("after", "delete", "id", "old") == expected


def test_joined_filter_takes_the_collectors_path(using: str) -> None:
    """A filter through a relation joins another table: rows are read first."""
    stored = _fill(DelRow, 6)
    target = DelTarget.objects.get(code="a").pk
    expected = [row["id"] for row in stored if row["target_id"] == target]
    rec = record(DelRow, stages=["after"], events=["delete"])
    with CaptureQueriesContext(connections[using]) as queries:
        result = DelRow.objects.filter(target__code="a").delete()
    assert result == (len(expected), {"delretapp.DelRow": len(expected)})
    assert not any("RETURNING" in q["sql"] for q in queries.captured_queries)
    assert rec.column("after", "delete", "id", "old") == expected


def test_after_trigger_error_undoes_every_chunk(using: str, chunked: None) -> None:
    """An exception from the after stage of the last chunk leaves every row in place."""
    stored = _fill(DelRow, 10)

    def fail_on_last(old: list[DelRow]) -> None:
        if len(old) < CHUNK:
            raise RuntimeError("refused")

    record(DelRow, stages=["after"], events=["delete"], hooks={("after", "delete"): fail_on_last})
    with pytest.raises(RuntimeError, match="refused"):
        DelRow.objects.all().delete()
    assert [_values(row) for row in DelRow.objects.order_by("pk")] == stored
