"""``update()`` with after triggers only: one ``UPDATE … RETURNING`` per chunk on PostgreSQL.

The after stage must get exactly what is stored, old and new, row by row, whichever path
wrote the chunk; so the value tests run on every database, and the statement tests say
which path ran: one UPDATE and no SELECT per chunk on PostgreSQL, a locked SELECT and
an UPDATE per chunk elsewhere and wherever exactness is in doubt.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from django.db import connections, models, transaction
from django.db.models import Case, F, OuterRef, Subquery, Value, When
from django.db.models.functions import Cast, Coalesce, Random
from django.db.utils import OperationalError
from django.test.utils import CaptureQueriesContext

from bulk_triggers import IsEqual, Trigger, bypass
from tests.keysapp.models import KeysMember
from tests.recorder import Recorder, record, row_values
from tests.routers import routed_to
from tests.shapesapp.models import ShInitOrder
from tests.upretapp.models import UpChild, UpCode, UpDepot, UpRow

ROWS = 23
CHUNK = 5
EAST = timezone(timedelta(hours=5, minutes=30))


@pytest.fixture
def chunked(settings: Any) -> None:
    settings.BULK_TRIGGERS = {"CHUNK_SIZE": CHUNK}


@pytest.fixture
def after(using: str) -> Recorder:
    """An after-update trigger on UpRow: no before trigger, the one-statement case."""
    return record(UpRow, stages=("after",), events=("update",))


def _rows(n: int = ROWS) -> list[int]:
    """Store ``n`` rows of varied values (every third one null); return their keys in order."""
    with bypass():
        UpDepot.objects.bulk_create([UpDepot(code="a"), UpDepot(code="b")])
        UpRow.objects.bulk_create(
            UpRow(
                n=None if i % 3 == 0 else i,
                amount=None if i % 3 == 1 else Decimal(i) / 4,
                moment=None if i % 3 == 2 else datetime(2026, 1, 1, i % 24, tzinfo=EAST),
                data=None if i % 3 == 0 else {"i": i, "tags": ["x", i]},
                label=f"l{i:03}",
                depot_id="a" if i % 2 else None,
            )
            for i in range(n)
        )
    return list(UpRow.objects.order_by("pk").values_list("pk", flat=True))


def _stored() -> dict[int, dict[str, Any]]:
    with bypass():
        return {row.pk: row_values(row) for row in UpRow.objects.all()}


def _kinds(queries: CaptureQueriesContext) -> Counter[str]:
    """Count statements by their first word, leaving out transaction control."""
    words = (query["sql"].split(None, 1)[0].upper() for query in queries.captured_queries)
    return Counter(
        word for word in words if word not in {"SAVEPOINT", "RELEASE", "BEGIN", "COMMIT"}
    )


UPDATES: dict[str, Callable[[], int]] = {
    "value": lambda: UpRow.objects.update(label="z"),
    "expression": lambda: UpRow.objects.filter(n__gt=3).update(n=F("n") + 1),
    "null": lambda: UpRow.objects.update(n=None, amount=None, moment=None, data=None),
    "decimal_rounded": lambda: UpRow.objects.update(amount=Decimal("3.255")),
    "decimal_expression": lambda: UpRow.objects.update(amount=F("amount") * Decimal("1.333")),
    "datetime_other_zone": lambda: UpRow.objects.update(
        moment=datetime(2026, 5, 1, 3, tzinfo=EAST)
    ),
    "datetime_expression": lambda: UpRow.objects.update(moment=F("moment") + timedelta(hours=1)),
    "json": lambda: UpRow.objects.update(data={"k": [1, None, "é"], "n": 1.5}),
    "json_scalar": lambda: UpRow.objects.update(data="text"),
    "to_field_instance": lambda: UpRow.objects.update(depot=UpDepot.objects.get(code="b")),
    "to_field_value": lambda: UpRow.objects.filter(depot__isnull=True).update(depot_id="b"),
    "case": lambda: UpRow.objects.update(
        label=Case(When(n__gt=10, then=Value("big")), default=Value("small"))
    ),
    "annotation": lambda: UpRow.objects.annotate(m=F("n") * 3).update(n=F("m")),
    "subquery_value": lambda: UpRow.objects.update(
        label=Coalesce(
            Subquery(UpDepot.objects.filter(code=OuterRef("depot_id")).values("code")[:1]),
            Value("none"),
        )
    ),
    "self_reference": lambda: UpRow.objects.update(parent_id=F("id")),
    "values_queryset": lambda: UpRow.objects.values("label").update(n=F("n") + 1),
    "only_select_related_ordered": lambda: (
        UpRow.objects.only("n").select_related("depot").order_by("-n").update(n=F("n") - 1)
    ),
    "annotated_filter": lambda: (
        UpRow.objects.annotate(m=F("n") * 2).filter(m__gt=10).exclude(label="l020").update(n=7)
    ),
    "key_list": lambda: UpRow.objects.filter(
        pk__in=list(UpRow.objects.order_by("pk").values_list("pk", flat=True)[3:12])
    ).update(n=1),
}


@pytest.mark.parametrize("name", UPDATES)
def test_after_stage_gets_what_is_stored(
    using: str, after: Recorder, chunked: None, name: str
) -> None:
    """Old is the row as it was, new the row as stored (generated columns too), row by row."""
    _rows()
    before = _stored()
    with bypass():
        filtered = ("expression", "to_field_value", "annotated_filter", "key_list")
        expected = UpRow.objects.count() if name not in filtered else None
    updated = UPDATES[name]()
    now = _stored()
    calls = after.of("after", "update")
    assert [len(call.new or ()) for call in calls][:-1] == [CHUNK] * (len(calls) - 1)
    news = [row for call in calls for row in call.new or ()]
    olds = [row for call in calls for row in call.old or ()]
    assert [row["pk"] for row in news] == sorted(row["pk"] for row in news)
    assert news == [now[row["pk"]] for row in news]
    assert olds == [before[row["pk"]] for row in news]
    assert updated == len(news)
    if expected is not None:
        assert updated == expected
    assert all(row["doubled"] == (None if row["n"] is None else 2 * row["n"]) for row in news)


def test_values_are_python_values(using: str, after: Recorder) -> None:
    """Decimals, aware datetimes and JSON come back as loading the row gives them."""
    _rows(3)
    UpRow.objects.filter(label="l001").update(
        amount=Decimal("2.5"), moment=datetime(2026, 5, 1, 3, tzinfo=EAST), data={"a": [1]}
    )
    (row,) = after.one("after", "update").new_objects or ()
    assert row.amount == Decimal("2.50") and isinstance(row.amount, Decimal)
    assert row.moment == datetime(2026, 4, 30, 21, 30, tzinfo=timezone.utc)
    if connections[using].vendor == "postgresql":  # As loading the row gives it: in UTC.
        assert row.moment.utcoffset() == timedelta(0)
    assert row.data == {"a": [1]}
    assert row._state.adding is False and row._state.db == using
    assert row.doubled == 2


def test_return_value_is_djangos(using: str, after: Recorder, chunked: None) -> None:
    """The count is the rows the filter matched, as Django's own update() returns."""
    _rows()
    with bypass():
        djangos = UpRow.objects.filter(label__gte="l010").update(label=F("label"))
    assert UpRow.objects.filter(label__gte="l010").update(label=F("label")) == djangos == 13
    assert UpRow.objects.filter(label="none").update(label="x") == 0
    assert after.of("after", "update")[0].column("label") == [f"l{i:03}" for i in range(10, 15)]


@pytest.mark.parametrize("total", [ROWS, CHUNK, 4 * CHUNK, 4 * CHUNK + 1])
def test_one_update_per_chunk_on_postgresql(
    using: str, after: Recorder, chunked: None, total: int
) -> None:
    """PostgreSQL: one UPDATE per chunk and no SELECT; elsewhere a SELECT and an UPDATE each."""
    _rows(total)
    with CaptureQueriesContext(connections[using]) as queries:
        assert UpRow.objects.update(n=F("n") + 1) == total
    chunks = -(-total // CHUNK)
    kinds = _kinds(queries)
    if connections[using].vendor == "postgresql":
        # Each read takes one row past its chunk: a row count that is a multiple of
        # CHUNK_SIZE ends with its last full chunk, not with a statement finding nothing.
        assert kinds == Counter({"WITH": chunks})
        statements = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("WITH")]
        # The UPDATE locks each row, as Django's own: no locking read before it.
        assert all("AS (UPDATE " in sql and "FOR UPDATE" not in sql for sql in statements)
    else:
        assert kinds["SELECT"] >= chunks and kinds["UPDATE"] >= chunks
    assert len(after.of("after", "update")) == chunks


def test_chunks_visit_each_row_once_when_the_filter_reads_the_written_column(
    using: str, after: Recorder, chunked: None
) -> None:
    """Rows written by one chunk still match, or no longer match: none seen twice or skipped."""
    pks = _rows()
    with bypass():
        UpRow.objects.update(n=0)
    assert UpRow.objects.filter(n__gte=0).update(n=F("n") + 1) == ROWS
    assert UpRow.objects.filter(n__lt=2).update(n=F("n") + 5) == ROWS
    assert after.column("after", "update", "pk") == pks * 2
    assert set(UpRow.objects.values_list("n", flat=True)) == {6}


@pytest.mark.parametrize(
    "filtered",
    [lambda: UpRow.objects.filter(pk__in=[]), lambda: UpRow.objects.filter(label="none")],
    ids=["no_key", "no_match"],
)
def test_nothing_to_update(using: str, after: Recorder, filtered: Any) -> None:
    """A filter that matches nothing returns 0 and calls no trigger, as Django's count says."""
    _rows(3)
    with bypass():
        djangos = filtered().update(n=1)
    assert filtered().update(n=1) == djangos == 0
    assert after.calls == []


def test_after_conditions_filter_rows(using: str, chunked: None) -> None:
    """A condition on the new row selects rows in Python, after the one statement."""
    recorder = record(
        UpRow, stages=("after",), events=("update",), condition=IsEqual("label", "l002")
    )
    _rows()
    UpRow.objects.update(n=F("n"))
    assert recorder.column("after", "update", "label") == ["l002"]


def _before_and_after() -> None:
    record(UpRow, stages=("before", "after"), events=("update",))


def _with_self_path() -> None:
    record(UpRow, stages=("after",), events=("update",), condition=IsEqual("parent__n", 1))


def _after_on(model: type[models.Model]) -> Callable[[], None]:
    def setup() -> None:
        record(model, stages=("after",), events=("update",))

    return setup


# name -> (trigger setup, the update); every one keeps the locked SELECT, then the UPDATE.
KEPT: dict[str, tuple[Callable[[], None], Callable[[], Any]]] = {
    "before_and_after": (_before_and_after, lambda: UpRow.objects.update(n=1)),
    "condition_path_to_own_table": (_with_self_path, lambda: UpRow.objects.update(n=1)),
    "subquery_filter": (
        _after_on(UpRow),
        lambda: UpRow.objects.filter(pk__in=UpRow.objects.filter(n__gt=1).values("pk")).update(n=1),
    ),
    "joined_filter": (_after_on(UpRow), lambda: UpRow.objects.filter(depot__name="").update(n=1)),
    "select_for_update": (
        _after_on(UpRow),
        lambda: UpRow.objects.select_for_update().update(n=1),
    ),
    "distinct": (_after_on(UpRow), lambda: UpRow.objects.distinct().update(n=1)),
    "referenced_key": (_after_on(UpDepot), lambda: UpDepot.objects.update(code=F("code"))),
    "primary_key": (_after_on(UpRow), lambda: UpRow.objects.update(id=F("id") + 1000)),
    "text_primary_key": (_after_on(UpCode), lambda: UpCode.objects.update(n=1)),
    "composite_primary_key": (_after_on(KeysMember), lambda: KeysMember.objects.update(amount=1)),
    "multi_table_inheritance": (
        _after_on(UpChild),
        lambda: UpChild.objects.update(size=1, name="n"),
    ),
}


@pytest.mark.parametrize("name", KEPT)
def test_doubtful_updates_keep_two_statements(using: str, name: str) -> None:
    """Where one statement could differ from what triggers must see, the old path runs."""
    setup, update = KEPT[name]
    _rows(3)
    with bypass():
        UpCode.objects.create(code="a")
        UpChild.objects.create()
        KeysMember.objects.create(tenant=1, number=1, name="m")
    setup()
    with CaptureQueriesContext(connections[using]) as queries:
        update()
    assert _kinds(queries)["SELECT"] >= 1


def test_referenced_key_written_in_one_statement_elsewhere(using: str, after: Recorder) -> None:
    """Writing a column no key references is the one statement, to_field foreign key or not."""
    _rows(3)
    record(UpDepot, stages=("after",), events=("update",))
    with CaptureQueriesContext(connections[using]) as queries:
        assert UpDepot.objects.update(name="n") == 2
    if connections[using].vendor == "postgresql":
        assert _kinds(queries) == Counter({"WITH": 1})


# Concurrency: the one statement locks what the two statements locked, no more.


def _hold(alias: str, sql: str, held: threading.Event, release: threading.Event) -> None:
    """Lock rows on another connection with ``sql`` until ``release`` is set."""
    try:
        with routed_to(alias), transaction.atomic(using=alias):
            with connections[alias].cursor() as cursor:
                cursor.execute(sql)
            held.set()
            release.wait(timeout=20)
    finally:
        connections[alias].close()


@pytest.fixture
def holder(using: str) -> Iterator[Callable[[str], None]]:
    """Start a thread that locks UpRow's rows with a lock clause, until the test ends."""
    if connections[using].vendor != "postgresql":
        pytest.skip("lock strengths below FOR UPDATE are PostgreSQL's")
    release = threading.Event()
    threads: list[threading.Thread] = []

    def start(clause: str) -> None:
        held = threading.Event()
        table = connections[using].ops.quote_name(UpRow._meta.db_table)
        sql = f"SELECT 1 FROM {table} {clause}"
        thread = threading.Thread(target=_hold, args=(using, sql, held, release), daemon=True)
        thread.start()
        threads.append(thread)
        assert held.wait(timeout=20)

    yield start
    release.set()
    for thread in threads:
        thread.join(timeout=20)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", ["triggers", "bypassed"])
@pytest.mark.parametrize(
    ("clause", "waits"), [("FOR KEY SHARE", False), ("FOR SHARE", True)], ids=["key_share", "share"]
)
def test_lock_strength_is_djangos(
    using: str, holder: Callable[[str], None], mode: str, clause: str, waits: bool
) -> None:
    """The lock of Django's UPDATE: a child's key check is not waited on, FOR SHARE is."""
    _rows(3)
    record(UpRow, stages=("after",), events=("update",))
    holder(clause)
    with connections[using].cursor() as cursor:
        cursor.execute("SET lock_timeout = '1s'")
    try:
        with (
            bypass() if mode == "bypassed" else nullcontext(),
            CaptureQueriesContext(connections[using]) as queries,
        ):
            if waits:
                with (
                    pytest.raises(OperationalError, match="lock timeout"),
                    transaction.atomic(using),
                ):
                    UpRow.objects.update(n=F("n") + 1)
            else:
                assert UpRow.objects.update(n=F("n") + 1) == 3
    finally:
        with connections[using].cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")
    if mode == "triggers":
        sql = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("WITH")]
        assert len(sql) == 1
        assert "AS (UPDATE " in sql[0] and "FOR UPDATE" not in sql[0]


def test_trigger_class_is_after_only(using: str) -> None:
    """An after trigger declared as a class, not through the recorder, takes the fast path."""
    seen: list[tuple[int | None, int | None]] = []

    class Bump(Trigger[UpRow]):
        def on_after_update(self, new: list[UpRow], old: list[UpRow]) -> None:
            seen.extend((o.n, n.n) for n, o in zip(new, old, strict=True))

    _rows(4)
    UpRow.objects.filter(n__isnull=False).update(n=F("n") * 10)
    assert seen == [(1, 10), (2, 20)]


def test_volatile_value_is_what_was_written(using: str, after: Recorder) -> None:
    """A value computed per statement (``Random()``) reaches after triggers as stored.

    The one statement computes it once; the two-statement path writes what its locked
    read computed (docs/known-limits.md says where it cannot).
    """
    _rows(6)
    UpRow.objects.update(n=Cast(Random() * 1_000_000, models.IntegerField()))
    news = after.one("after", "update").new or []
    assert {row["pk"]: row["n"] for row in news} == dict(UpRow.objects.values_list("pk", "n"))


def test_new_has_its_own_mutable_values(using: str) -> None:
    """A JSON value new shares with old (the column is not written) is new's own copy."""
    seen: list[Any] = []

    class Mutate(Trigger[UpRow]):
        def on_after_update(self, new: list[UpRow], old: list[UpRow]) -> None:
            for row in new:
                if row.data is not None:
                    row.data["changed"] = True
            seen.extend(row.data for row in old)

    _rows(3)
    UpRow.objects.update(label="z")
    assert seen == [None, {"i": 1, "tags": ["x", 1]}, {"i": 2, "tags": ["x", 2]}]


def test_model_with_own_init_sees_the_stored_row(using: str) -> None:
    """A model overriding ``__init__`` is built from the stored row, then given the new values."""
    seen: list[tuple[str, str, str]] = []

    class Seen(Trigger[ShInitOrder]):
        def on_after_update(self, new: list[ShInitOrder], old: list[ShInitOrder]) -> None:
            seen.extend(
                (n._initial_status, n.status, o.status) for n, o in zip(new, old, strict=True)
            )

    with bypass():
        ShInitOrder.objects.create(status="new")
    with CaptureQueriesContext(connections[using]) as queries:
        ShInitOrder.objects.update(status="done")
    assert seen == [("new", "done", "new")]
    if connections[using].vendor == "postgresql":
        assert _kinds(queries) == Counter({"WITH": 1})


@pytest.mark.django_db(transaction=True)
def test_row_changed_by_a_concurrent_commit_is_seen_as_committed(using: str) -> None:
    """A row another transaction changed and committed while we waited on it: old is its
    committed value and the expression is computed from it, as with Django's UPDATE."""
    if connections[using].vendor != "postgresql":
        pytest.skip("the one statement is PostgreSQL's; SQLite serialises writers")
    pks = _rows(4)
    seen: list[tuple[int | None, int | None]] = []

    class Watch(Trigger[UpRow]):
        def on_after_update(self, new: list[UpRow], old: list[UpRow]) -> None:
            seen.extend((o.n, n.n) for n, o in zip(new, old, strict=True))

    held = threading.Event()

    def other() -> None:
        try:
            with routed_to(using), bypass(), transaction.atomic(using=using):
                UpRow.objects.filter(pk=pks[1]).update(n=100)
                held.set()
                time.sleep(1.0)  # The update below is waiting on this row meanwhile.
        finally:
            connections[using].close()

    thread = threading.Thread(target=other, daemon=True)
    thread.start()
    assert held.wait(timeout=20)
    with CaptureQueriesContext(connections[using]) as queries:
        assert UpRow.objects.filter(n__isnull=False).update(n=F("n") + 1) == 2
    thread.join(timeout=20)
    # The changed row is skipped by the first statement (its version is not the one
    # read) and written by a second one, from the committed row.
    assert _kinds(queries) == Counter({"WITH": 2})
    assert seen == [(100, 101), (2, 3)]
    assert dict(UpRow.objects.values_list("pk", "n")) == {
        pks[0]: None,
        pks[1]: 101,
        pks[2]: 3,
        pks[3]: None,
    }
