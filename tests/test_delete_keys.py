"""``QuerySet.delete()`` with before triggers: each chunk deletes exactly the keys it loaded."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from bulk_triggers import bypass
from tests.delretapp.models import DelRow
from tests.recorder import record
from tests.test_locks import in_thread, join

pytestmark = pytest.mark.django_db(transaction=True)

CHUNK = 4
TIMEOUT = 30.0


@pytest.fixture
def chunked(settings: Any) -> None:
    """Make chunks of four rows."""
    settings.BULK_TRIGGERS = {"CHUNK_SIZE": CHUNK}


def _deletes(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().startswith("DELETE")]


def test_each_chunk_deletes_its_keys_as_one_array_on_postgresql(using: str, chunked: None) -> None:
    """On PostgreSQL ``pk = ANY(%s)`` (one parameter), elsewhere ``pk IN (…)``; the same rows."""
    with bypass():
        DelRow.objects.bulk_create(DelRow(note=f"n{n}", flag=bool(n % 2)) for n in range(10))
    rec = record(DelRow, stages=["before", "after"], events=["delete"])
    with CaptureQueriesContext(connections[using]) as queries:
        result = DelRow.objects.filter(flag=False).delete()
    assert result == (5, {"delretapp.DelRow": 5})
    deletes = _deletes(queries)
    assert len(deletes) == 2
    if connections[using].vendor == "postgresql":
        assert all("= ANY(" in sql and " IN (" not in sql for sql in deletes)
    else:
        assert all(" IN (" in sql for sql in deletes)
    seen = rec.column("before", "delete", "id", "old")
    assert seen == rec.column("after", "delete", "id", "old")
    assert len(seen) == 5
    assert set(DelRow.objects.values_list("flag", flat=True)) == {True}


def _insert_in_thread(using: str, pk: int) -> list[str]:
    """Insert and commit row ``pk`` from another connection; return its errors."""
    errors: list[str] = []

    def run() -> None:
        try:
            with bypass(), transaction.atomic(using=using):
                DelRow.objects.using(using).create(pk=pk, note="late")
        except Exception as exc:  # reported by the test
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=TIMEOUT)
    assert not thread.is_alive(), "the concurrent insert is still waiting"
    return errors


def test_row_inserted_into_a_chunk_after_its_read_stays(using: str, chunked: None) -> None:
    """A row committed between a chunk's read and its delete, inside its key range, stays.

    The before triggers never saw it, so it must not be deleted: the chunk deletes its
    loaded keys, not the key range they span.
    """
    if connections[using].vendor == "sqlite":
        pytest.skip("SQLite has one writer at a time: no concurrent insert")
    with bypass():
        rows = DelRow.objects.bulk_create(DelRow(note=f"n{n}") for n in range(6))
        gap = rows[1].pk
        DelRow.objects.filter(pk=gap).delete()
    inserted: list[list[str]] = []

    def insert_once(old: list[DelRow]) -> None:
        if not inserted:
            inserted.append(_insert_in_thread(using, gap))

    rec = record(
        DelRow,
        stages=["before", "after"],
        events=["delete"],
        hooks={("before", "delete"): insert_once},
    )
    result = DelRow.objects.all().delete()
    assert inserted == [[]]
    seen = rec.column("before", "delete", "id", "old")
    assert gap not in seen
    assert seen == rec.column("after", "delete", "id", "old")
    assert result == (len(seen), {"delretapp.DelRow": len(seen)})
    assert list(DelRow.objects.values_list("pk", "note")) == [(gap, "late")]


SCOPES: dict[str, Callable[[int, int], Any]] = {
    "non_key_filter": lambda first, last: DelRow.objects.filter(note="go").delete(),
    "key_range": lambda first, last: DelRow.objects.filter(pk__gte=first, pk__lte=last).delete(),
}


def _beside_insert(using: str, scope: str, mode: str) -> tuple[list[str], list[Any]]:
    """Delete rows 2..4 of six while another transaction holds an insert of row 5.

    Return the errors (a lock wait times out after two seconds) and the results.
    """
    with bypass():
        DelRow.objects.all().delete()
        DelRow.objects.bulk_create(DelRow(note="go" if 2 <= n <= 4 else "keep") for n in range(6))
        keys = list(DelRow.objects.order_by("pk").values_list("pk", flat=True))
        DelRow.objects.filter(pk=keys[5]).delete()  # Just past the rows: inserted below.
    inserted, release = threading.Event(), threading.Event()
    errors: list[str] = []
    results: list[Any] = []

    def hold_insert() -> None:
        DelRow.objects.create(pk=keys[5], note="bystander")
        inserted.set()
        release.wait(timeout=TIMEOUT)

    def operate() -> None:
        try:
            results.append(SCOPES[scope](keys[2], keys[4]))
        finally:
            release.set()

    holder = in_thread(using, "bypassed", hold_insert, errors)
    assert inserted.wait(timeout=TIMEOUT)
    join(in_thread(using, mode, operate, errors), holder)
    return errors, results


@pytest.mark.parametrize("stages", [("after",), ("before", "after")])
@pytest.mark.parametrize("scope", sorted(SCOPES))
def test_delete_waits_on_an_uncommitted_insert_only_where_django_does(
    using: str, scope: str, stages: tuple[str, ...]
) -> None:
    """An uncommitted insert just past the rows: delete() waits on it only if Django's does.

    Django's own single DELETE (a model it fast-deletes) waits on MariaDB, whose locking
    scan reads the next row; ``DELETE … RETURNING`` (after triggers only) is that statement
    and may wait as it does. With before triggers the loaded keys are deleted, and on
    PostgreSQL nothing waits.
    """
    if connections[using].vendor == "sqlite":
        pytest.skip("SQLite has one writer at a time: no row locks")
    rec = record(DelRow, stages=stages, events=["delete"])
    djangos, _ = _beside_insert(using, scope, "bypassed")
    assert rec.calls == []
    ours, results = _beside_insert(using, scope, "triggers")
    assert not ours or djangos, ours
    if connections[using].vendor == "postgresql" or "before" in stages:
        assert ours == []
    if not ours:
        assert results == [(3, {"delretapp.DelRow": 3})]
        assert len(rec.column("after", "delete", "id", "old")) == 3


def test_before_trigger_changing_a_key_does_not_redirect_the_delete(
    using: str, settings: Any
) -> None:
    """With PROTECT_OLD off, a before trigger that changes ``old[0].pk`` deletes what was loaded."""
    settings.BULK_TRIGGERS = {"PROTECT_OLD": False}
    with bypass():
        rows = DelRow.objects.bulk_create(DelRow(note=n) for n in ("go", "go", "stay"))
    stay = rows[2].pk

    def redirect(old: list[DelRow]) -> None:
        old[0].pk = stay

    record(DelRow, stages=["before"], events=["delete"], hooks={("before", "delete"): redirect})
    assert DelRow.objects.filter(note="go").delete() == (2, {"delretapp.DelRow": 2})
    assert list(DelRow.objects.values_list("pk", flat=True)) == [stay]
