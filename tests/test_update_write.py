"""update() with triggers stores exactly what Django's update() stores, evaluating values once.

The same ``update()`` runs on the same starting rows through plain Django (rolled back) and
through the triggered path; the stored rows, read raw through a cursor, are compared row by
row. A before trigger changes other fields of some rows, and the expected rows get the same
change. Chunks are small, so that every update spans several.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connections, models, transaction
from django.db.models import ExpressionWrapper, F, Q, Subquery, Value
from django.db.models.functions import Coalesce, Concat, Random, Upper
from django.test.utils import CaptureQueriesContext
from pytest_django.fixtures import Settings as SettingsWrapper

from bulk_triggers import bypass
from tests.recorder import record
from tests.upwriteapp.models import UwChild, UwPlain, UwRow, UwTag, WordsField

UTC = datetime.timezone.utc
CHUNK = 5
ROWS = 12
MOMENT = datetime.datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
TOKEN = uuid.UUID("12345678-1234-5678-1234-567812345678")

# Per field: the values starting rows cycle through (every fourth row is NULL).
START: dict[str, list[Any]] = {
    "big": [2**40, -7],
    "binary": [b"\x00\xffbytes", b""],
    "flag": [True, False],
    "char": ["Hello", "ünïcode ✓"],
    "day": [datetime.date(2024, 2, 29)],
    "moment": [MOMENT],
    "amount": [Decimal("12.34"), Decimal("-0.50")],
    "duration": [datetime.timedelta(days=3, microseconds=7)],
    "email": ["a@example.com"],
    "file": ["uploads/a.txt"],
    "path": ["/tmp/x"],
    "ratio": [1 / 3, 2.5],
    "ip": ["192.168.0.1", "2001:db8::1"],
    "number": [5, -3, 12],
    "data": [{"b": 1, "a": [1, 2.5, None]}, [1, "two"], "text"],
    "positive_big": [2**40],
    "positive": [7],
    "positive_small": [3],
    "slug": ["a-slug"],
    "small": [-2, 9],
    "text": ["line\nbreak 'quote'"],
    "clock": [datetime.time(23, 59, 59, 999999)],
    "url": ["https://example.com/?q=1"],
    "token": [uuid.UUID(int=1)],
    "words": [["a", "b"]],
}

Values = Callable[[], dict[str, Any]]


def _tag(code: str) -> UwTag:
    return UwTag.objects.get(code=code)


# Per field: a literal and an expression; None for every nullable field is added below.
LITERALS: dict[str, Values] = {
    "big": lambda: {"big": 2**50},
    "binary": lambda: {"binary": b"\x01new"},
    "flag": lambda: {"flag": False},
    "char": lambda: {"char": "new"},
    "day": lambda: {"day": datetime.date(1999, 12, 31)},
    "moment": lambda: {"moment": datetime.datetime(2020, 1, 2, 3, 4, 5, 6, tzinfo=UTC)},
    "amount": lambda: {"amount": Decimal("1.005")},
    "duration": lambda: {"duration": datetime.timedelta(seconds=-90)},
    "email": lambda: {"email": "b@example.com"},
    "file": lambda: {"file": "uploads/b.txt"},
    "path": lambda: {"path": "/tmp/y"},
    "ratio": lambda: {"ratio": 1e-20},
    "ip": lambda: {"ip": "::ffff:10.0.0.1"},
    "number": lambda: {"number": 7},
    "data": lambda: {"data": {"z": 1, "a": {"y": [True, None]}}},
    "positive_big": lambda: {"positive_big": 2**62},
    "positive": lambda: {"positive": 2**31 - 1},
    "positive_small": lambda: {"positive_small": 32767},
    "slug": lambda: {"slug": "b-slug"},
    "small": lambda: {"small": -32768},
    "text": lambda: {"text": "new text"},
    "clock": lambda: {"clock": datetime.time(0, 0, 1)},
    "url": lambda: {"url": "https://example.org/"},
    "token": lambda: {"token": TOKEN},
    "tag": lambda: {"tag": _tag("t2")},
    "coded": lambda: {"coded": _tag("t2")},
    "words": lambda: {"words": ["x", "y", "z"]},
}
EXPRESSIONS: dict[str, Values] = {
    "big": lambda: {"big": F("big") * 3 - 1},
    "binary": lambda: {
        "binary": Coalesce("binary", Value(b"\x02", output_field=models.BinaryField()))
    },
    "flag": lambda: {
        "flag": ExpressionWrapper(Q(number__gt=0), output_field=models.BooleanField())
    },
    "char": lambda: {"char": Upper("char")},
    "day": lambda: {"day": Coalesce("day", Value(datetime.date(2000, 1, 1)))},
    "moment": lambda: {"moment": F("moment") + datetime.timedelta(hours=1, microseconds=1)},
    "amount": lambda: {"amount": F("amount") * Decimal("1.5")},
    "duration": lambda: {"duration": Coalesce("duration", Value(datetime.timedelta(hours=5)))},
    "email": lambda: {"email": Upper("email")},
    "file": lambda: {"file": Concat("file", Value(".bak"), output_field=models.FileField())},
    "path": lambda: {"path": Upper("path")},
    "ratio": lambda: {"ratio": F("ratio") / 3},
    "ip": lambda: {
        "ip": Coalesce("ip", Value("10.0.0.1", output_field=models.GenericIPAddressField()))
    },
    # Half of an integer: 2.5 stays 2.5 in SQLite's INTEGER column; others round.
    "number": lambda: {
        "number": ExpressionWrapper(F("number") * Value(0.5), output_field=models.IntegerField())
    },
    "data": lambda: {
        "data": Value({"z": 1, "a": [1, {"b": None}]}, output_field=models.JSONField())
    },
    "positive_big": lambda: {"positive_big": F("positive_big") + 1},
    "positive": lambda: {"positive": F("positive") * 2},
    "positive_small": lambda: {"positive_small": F("positive_small") + F("positive_small")},
    "slug": lambda: {"slug": Concat("slug", Value("-x"))},
    "small": lambda: {"small": F("small") - 1},
    "text": lambda: {"text": Concat(Upper("text"), Value("!"))},
    "clock": lambda: {"clock": Coalesce("clock", Value(datetime.time(1, 2, 3)))},
    "url": lambda: {"url": Concat("url", Value("#f"))},
    "token": lambda: {"token": Coalesce("token", Value(TOKEN, output_field=models.UUIDField()))},
    "tag": lambda: {"tag": Subquery(UwTag.objects.filter(code="t3").values("pk")[:1])},
    "coded": lambda: {"coded": Subquery(UwTag.objects.filter(code="t3").values("code")[:1])},
    "words": lambda: {"words": Concat("words", Value(",w"), output_field=WordsField())},
    "several": lambda: {"number": F("small") + 1, "char": Upper("email"), "flag": True},
}
CASES: dict[str, Values] = {
    **{f"{name}-literal": values for name, values in LITERALS.items()},
    **{f"{name}-expression": values for name, values in EXPRESSIONS.items()},
    **{f"{name}-null": (lambda name=name: {name: None}) for name in LITERALS},
}
# What the before trigger sets on every third row (fields no other case depends on).
TOUCHED = {"text": "set by trigger", "small": 5}


def _seed() -> None:
    tags = [UwTag.objects.create(code=f"t{n}") for n in range(4)]
    rows = []
    for n in range(ROWS):
        row = UwRow(tag=tags[n % 4], coded=tags[(n + 1) % 4])
        if n % 4 != 3:
            for name, options in START.items():
                setattr(row, name, options[n % len(options)])
        rows.append(row)
    with bypass():
        UwRow.objects.bulk_create(rows)


def _stored(using: str) -> list[tuple[Any, ...]]:
    """Return the rows as the database holds them, through a cursor: no converters."""
    connection = connections[using]
    table = connection.ops.quote_name(UwRow._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} ORDER BY id")
        rows = cursor.fetchall()
    return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in rows]


def _touch(new: list[UwRow], old: list[UwRow]) -> None:
    for row in new:
        if row.pk % 3 == 0:
            for name, value in TOUCHED.items():
                setattr(row, name, value)


def _djangos(using: str, values: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Return what Django's update(), then the trigger's changes, store; then roll back."""
    with transaction.atomic(using=using):
        models.QuerySet(UwRow).filter(pk__gt=0).update(**values)
        touched = [pk for pk in UwRow.objects.values_list("pk", flat=True) if pk % 3 == 0]
        models.QuerySet(UwRow).filter(pk__in=touched).update(**TOUCHED)
        rows = _stored(using)
        transaction.set_rollback(True, using=using)
    return rows


@pytest.fixture
def chunked(settings: SettingsWrapper) -> None:
    settings.BULK_TRIGGERS = {**settings.BULK_TRIGGERS, "CHUNK_SIZE": CHUNK}


@pytest.mark.parametrize("case", sorted(CASES))
def test_update_stores_what_django_stores(using: str, chunked: None, case: str) -> None:
    """Every field type, a literal, an expression and NULL: the same rows as Django's update()."""
    _seed()
    expected = _djangos(using, CASES[case]())
    rec = record(UwRow, stages=["before", "after"], events=["update"])
    record(UwRow, stages=["before"], events=["update"], hooks={("before", "update"): _touch})
    assert UwRow.objects.filter(pk__gt=0).update(**CASES[case]()) == ROWS
    assert _stored(using) == expected
    assert len(rec.of("before", "update")) == -(-ROWS // CHUNK)


def _plain_rows(count: int = ROWS) -> None:
    with bypass():
        UwPlain.objects.bulk_create(
            UwPlain(amount=n, ratio=n / 4, label=f"l{n}") for n in range(count)
        )


def test_volatile_expression_is_what_triggers_see(using: str, chunked: None) -> None:
    """update(ratio=Random()): before and after triggers see, row by row, what is stored."""
    _plain_rows()
    rec = record(UwPlain, stages=["before", "after"], events=["update"])

    def label(new: list[UwPlain], old: list[UwPlain]) -> None:
        for row in new[::2]:
            row.label = "touched"

    record(UwPlain, stages=["before"], events=["update"], hooks={("before", "update"): label})
    UwPlain.objects.update(ratio=Random())
    stored = dict(UwPlain.objects.values_list("pk", "ratio"))
    for stage in ("before", "after"):
        seen = {
            row["id"]: row["ratio"] for call in rec.of(stage, "update") for row in call.new or []
        }
        assert seen == stored
    assert len(set(stored.values())) == ROWS


def _statements(using: str, run: Callable[[], object]) -> list[str]:
    with CaptureQueriesContext(connections[using]) as queries:
        run()
    return [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith(("SELECT", "UPDATE"))
    ]


CHANGES: dict[str, Callable[[UwPlain], None] | None] = {
    "nothing": None,
    "same field on every row": lambda row: setattr(row, "note", "n"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
@pytest.mark.parametrize("values", ["literal", "expression"])
def test_one_select_and_one_update_per_chunk(
    using: str, chunked: None, change: str, values: str
) -> None:
    """Triggers changing nothing, or the same fields on every row: SELECT, UPDATE per chunk."""
    _plain_rows()
    hook = CHANGES[change]

    def before(new: list[UwPlain], old: list[UwPlain]) -> None:
        for row in new:
            hook(row)  # type: ignore[misc]

    hooks = {("before", "update"): before} if hook else {}
    record(UwPlain, stages=["before", "after"], events=["update"], hooks=hooks)
    assigned = {"amount": 7} if values == "literal" else {"amount": F("amount") * 2}
    statements = _statements(using, lambda: UwPlain.objects.update(**assigned))
    kinds = [sql.split()[0] for sql in statements]
    # MariaDB's chunks also look up where the next one starts, an unlocked key SELECT.
    assert kinds.count("UPDATE") == -(-ROWS // CHUNK)
    updates = [n for n, kind in enumerate(kinds) if kind == "UPDATE"]
    assert all(kinds[n - 1] == "SELECT" for n in updates)
    # The UPDATE carries values: the expression is not evaluated again.
    assert not any("* 2" in statements[n] for n in updates)
    expected = {n: 7 if values == "literal" else 2 * n for n in range(ROWS)}
    assert dict(UwPlain.objects.values_list("label", "amount")) == {
        f"l{n}": amount for n, amount in expected.items()
    }
    if hook:
        assert set(UwPlain.objects.values_list("note", flat=True)) == {"n"}


def test_trigger_replacing_the_updated_value_is_stored(using: str, chunked: None) -> None:
    """A before trigger overriding update()'s value on some rows: its value is stored there."""
    _plain_rows()

    def before(new: list[UwPlain], old: list[UwPlain]) -> None:
        for row in new:
            if row.amount > 10:
                row.amount = -1

    record(UwPlain, stages=["before"], events=["update"], hooks={("before", "update"): before})
    UwPlain.objects.update(amount=F("amount") * 2)
    assert sorted(UwPlain.objects.values_list("amount", flat=True)) == sorted(
        -1 if 2 * n > 10 else 2 * n for n in range(ROWS)
    )


def test_parent_fields_keep_the_expression_path(using: str, chunked: None) -> None:
    """A child's update() of its parent's fields: Django's UPDATE, evaluating the expression."""
    with bypass():
        for n in range(ROWS):
            UwChild.objects.create(name=f"c{n}", size=n)
    rec = record(UwChild, stages=["before", "after"], events=["update"])
    statements = _statements(using, lambda: UwChild.objects.update(name=Upper("name"), size=1))
    writes = [sql for sql in statements if sql.startswith("UPDATE")]
    assert writes and all("UPPER(" in sql for sql in writes if "name" in sql)
    assert sorted(UwChild.objects.values_list("name", flat=True)) == sorted(
        f"C{n}" for n in range(ROWS)
    )
    assert {row["name"] for call in rec.of("after", "update") for row in call.new or []} == {
        f"C{n}" for n in range(ROWS)
    }


def test_too_long_string_is_refused_as_django_refuses_it(using: str) -> None:
    """A value too long for its column: PostgreSQL and MariaDB raise as for Django's UPDATE."""
    _plain_rows(3)
    record(UwPlain, stages=["before"], events=["update"])
    too_long = "x" * 30
    if connections[using].vendor == "sqlite":  # SQLite stores it, as Django's UPDATE does
        UwPlain.objects.update(label=too_long)
        assert set(UwPlain.objects.values_list("label", flat=True)) == {too_long}
        return
    from django.db import DataError

    with pytest.raises(DataError), transaction.atomic(using=using):
        UwPlain.objects.update(label=Concat("label", Value(too_long)))
    assert "x" not in "".join(UwPlain.objects.values_list("label", flat=True))
