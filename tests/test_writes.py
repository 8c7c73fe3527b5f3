"""The fast bulk write (``bulk_triggers.writes``) stores exactly what Django's bulk_update() does.

Two identical tables get the same rows and the same input: Django's ``bulk_update()`` writes
one, :func:`fast_bulk_update` the other; the tables are then compared row by row.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connections, models
from django.db.models import F, Value
from django.db.models.functions import Lower
from django.test.utils import CaptureQueriesContext

from bulk_triggers.writes import can_fast_write, fast_bulk_update
from tests.perfapp.models import PerfChild, PerfDjango, PerfFast, PerfKeyed, PerfTag

UTC = datetime.timezone.utc
PLUS_TWO = datetime.timezone(datetime.timedelta(hours=2))

# Per field: values the rows cycle through; None is written too. Strings where Django's
# get_db_prep_save converts them (decimals, dates, numbers, UUIDs) are deliberate.
VALUES: dict[str, list[Any]] = {
    "big": [2**62, -(2**40), "17"],
    "binary": [b"\x00\xffbytes", b"", memoryview(b"view")],
    "flag": [True, False],
    "char": ["Hello", "", "ünïcode ✓", "x" * 30],
    "day": [datetime.date(2024, 2, 29), "1999-12-31"],
    "moment": [
        datetime.datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=UTC),
        datetime.datetime(2024, 3, 1, 23, 59, 59, tzinfo=PLUS_TWO),
    ],
    "amount": [Decimal("12.34"), Decimal("3.14159"), "7.005", 42, Decimal("-0.5")],
    "duration": [datetime.timedelta(days=3, microseconds=7), datetime.timedelta(seconds=-90)],
    "email": ["a@example.com"],
    "file": ["uploads/a.txt", ""],
    "path": ["/tmp/x"],
    "ratio": [1 / 3, 1e-20, 2.5, -0.0],
    "ip": ["192.168.0.1", "2001:db8::1", "::ffff:10.0.0.1"],
    "number": [-(2**31), 2**31 - 1, "12"],
    "data": [{"a": [1, 2.5, None]}, [1, "two"], "text", 3, True, {}],
    "positive_big": [2**63 - 1, 0],
    "positive": [2**31 - 1],
    "positive_small": [32767, 1],
    "slug": ["a-slug"],
    "small": [-32768, 7],
    "text": ["long " * 200, "line\nbreak\ttab 'quote' \"dq\" \\ back"],
    "clock": [datetime.time(23, 59, 59, 999999), datetime.time(0, 0), "10:11:12"],
    "url": ["https://example.com/?q=1&r=2"],
    "token": [uuid.UUID(int=1), "12345678-1234-5678-1234-567812345678"],
    "packed": [["a", "b", "c"], ["single"], "raw,text"],
}
FIELDS = sorted(VALUES)
UNIQUE = {"only"}  # a OneToOneField: each row its own tag


def _value(name: str, row: int, tags: list[int]) -> Any:
    if row % 7 == 3:
        return None
    if name in ("tag", "only"):
        return tags[row % len(tags)] if name == "tag" else tags[row]
    options = VALUES[name]
    return options[row % len(options)]


def _rows(model: type[models.Model]) -> list[tuple[Any, ...]]:
    names = ["pk", *(f.attname for f in model._meta.concrete_fields if f.name != "id")]
    rows = model.objects.order_by("pk").values_list(*names)
    return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in rows]


def _objects(model: type[models.Model], pks: list[int], tags: list[int], shift: int) -> list[Any]:
    objs = []
    for position, pk in enumerate(pks):
        obj = model(pk=pk)
        for name in FIELDS:
            setattr(obj, name, _value(name, position + shift, tags))
        obj.tag_id = _value("tag", position + shift, tags)
        obj.only_id = _value("only", position, tags)
        objs.append(obj)
    return objs


INPUTS: dict[str, Callable[[list[int]], list[int]]] = {
    "distinct": lambda pks: pks,
    "missing rows": lambda pks: [*pks, 10_000, 10_001],
    "duplicates": lambda pks: [*pks, pks[0], pks[1], pks[0], pks[-1]],
    "duplicates first": lambda pks: [pks[0], pks[0], *pks],
}


@pytest.mark.parametrize("batch_size", [None, 1, 3, 10])
@pytest.mark.parametrize("case", sorted(INPUTS))
def test_fast_write_stores_what_django_stores(
    using: str, case: str, batch_size: int | None
) -> None:
    """Every field type, NULLs, duplicates and batch sizes: same rows, same return value."""
    tags = [PerfTag.objects.create(name=str(n)).pk for n in range(20)]
    for model in (PerfDjango, PerfFast):
        model.objects.bulk_create([model(pk=pk, char="old") for pk in range(1, 11)])
    pks = INPUTS[case](list(range(1, 11)))
    fields = [*FIELDS, "tag", "only"]
    expected = models.QuerySet(PerfDjango).bulk_update(
        _objects(PerfDjango, pks, tags, 0), fields, batch_size=batch_size
    )
    objs = _objects(PerfFast, pks, tags, 0)
    fast = models.QuerySet(PerfFast)
    assert can_fast_write(fast, fields, objs, batch_size)
    with CaptureQueriesContext(connections[using]) as queries:
        written = fast_bulk_update(fast, objs, fields, batch_size)
    assert written == expected
    assert _rows(PerfFast) == _rows(PerfDjango)
    batches = -(-len(pks) // batch_size) if batch_size else 1
    largest = connections[using].ops.bulk_batch_size([PerfFast._meta.pk] * (2 + len(fields)), pks)
    batches = max(batches, -(-len(pks) // largest))
    updates = [q for q in queries if q["sql"].startswith(("UPDATE", "WITH"))]
    assert len(updates) == batches
    assert not any("CASE" in q["sql"] for q in updates)


@pytest.mark.parametrize("field", [*FIELDS, "tag"])
def test_fast_write_one_field_at_a_time(using: str, field: str) -> None:
    """Each field written alone stores what Django stores, NULL included."""
    tags = [PerfTag.objects.create(name=str(n)).pk for n in range(20)]
    for model in (PerfDjango, PerfFast):
        model.objects.bulk_create([model(pk=pk) for pk in range(1, 9)])
    pks = list(range(1, 9))
    expected = models.QuerySet(PerfDjango).bulk_update(_objects(PerfDjango, pks, tags, 1), [field])
    written = fast_bulk_update(models.QuerySet(PerfFast), _objects(PerfFast, pks, tags, 1), [field])
    assert written == expected == len(pks)
    assert _rows(PerfFast) == _rows(PerfDjango)


def test_fast_write_uuid_primary_key(using: str) -> None:
    """A UUID key joins as its column's type; decimals round as Django rounds them."""
    keys = [uuid.uuid4() for _ in range(5)]
    PerfKeyed.objects.bulk_create([PerfKeyed(pk=key) for key in keys])
    objs = [
        PerfKeyed(pk=str(key), amount=Decimal("1.23456"), label=str(n))
        for n, key in enumerate(keys)
    ]
    queryset = models.QuerySet(PerfKeyed)
    assert can_fast_write(queryset, ["amount", "label"], objs)
    assert fast_bulk_update(queryset, objs, ["amount", "label"]) == 5
    stored = dict(PerfKeyed.objects.values_list("pk", "amount"))
    expected = PerfKeyed._meta.get_field("amount").to_python(Decimal("1.235"))
    assert stored == dict.fromkeys(keys, expected)


def _child_objects() -> list[PerfChild]:
    for n in range(3):
        PerfChild.objects.create(name=f"c{n}", size=n)
    return list(PerfChild.objects.order_by("pk"))


@pytest.mark.parametrize(
    ("reason", "fields", "change"),
    [
        ("an F() value", ["amount"], lambda obj: setattr(obj, "amount", F("amount") + 1)),
        ("a Value()", ["char"], lambda obj: setattr(obj, "char", Value("v"))),
        ("a function", ["char"], lambda obj: setattr(obj, "char", Lower("char"))),
        (
            "a subquery",
            ["tag"],
            lambda obj: setattr(obj, "tag_id", PerfTag.objects.values("pk")[:1]),
        ),
        ("a generated field", ["lowered"], lambda obj: None),
        ("a primary key", ["id"], lambda obj: None),
        ("no field", [], lambda obj: None),
    ],
)
def test_fast_write_declines(using: str, reason: str, fields: list[str], change: Any) -> None:
    """An expression value or a field Django refuses keeps Django's path."""
    PerfFast.objects.create(char="A")
    objs = list(PerfFast.objects.all())
    for obj in objs:
        change(obj)
    assert not can_fast_write(models.QuerySet(PerfFast), fields, objs), reason


def test_fast_write_declines_filters_batch_size_and_unsaved(using: str) -> None:
    """A filtered queryset, a bad batch size, no objects or an unsaved object decline."""
    PerfFast.objects.create(char="A")
    objs = list(PerfFast.objects.all())
    queryset = models.QuerySet(PerfFast)
    assert can_fast_write(queryset, ["char"], objs)
    assert not can_fast_write(queryset.filter(char="A"), ["char"], objs)
    assert not can_fast_write(queryset.none(), ["char"], objs)
    assert not can_fast_write(queryset, ["char"], objs, batch_size=0)
    assert not can_fast_write(queryset, ["char"], [])
    assert not can_fast_write(queryset, ["char"], [*objs, PerfFast()])


def test_fast_write_declines_a_field_with_its_own_placeholder(using: str) -> None:
    """A field wrapping its parameter in SQL of its own keeps Django's path, which applies it."""
    PerfKeyed.objects.create(label="x")
    objs = list(PerfKeyed.objects.all())
    objs[0].shout = "quiet"
    queryset = models.QuerySet(PerfKeyed)
    assert can_fast_write(queryset, ["label"], objs)
    assert not can_fast_write(queryset, ["label", "shout"], objs)
    queryset.bulk_update(objs, ["shout"])
    assert PerfKeyed.objects.get().shout == "QUIET"


def test_fast_write_multi_table_child(using: str) -> None:
    """A child's own fields are written fast; its parent's fields take Django's path."""
    objs = _child_objects()
    queryset = models.QuerySet(PerfChild)
    assert not can_fast_write(queryset, ["name"], objs)
    assert not can_fast_write(queryset, ["size", "name"], objs)
    assert can_fast_write(queryset, ["size"], objs)
    for obj in objs:
        obj.size += 10
    with CaptureQueriesContext(connections[using]) as queries:
        assert fast_bulk_update(queryset, objs, ["size"]) == 3
    assert len([q for q in queries if "UPDATE" in q["sql"]]) == 1
    assert list(PerfChild.objects.order_by("pk").values_list("size", flat=True)) == [10, 11, 12]


def test_fast_write_refuses_unsaved_related_object(using: str) -> None:
    """An unsaved related object is refused with Django's own ValueError; nothing written."""
    PerfFast.objects.create(char="A")
    objs = list(PerfFast.objects.all())
    objs[0].tag = PerfTag(name="unsaved")
    with pytest.raises(ValueError, match="unsaved related object 'tag'"):
        fast_bulk_update(models.QuerySet(PerfFast), objs, ["tag"])
    assert PerfFast.objects.get().tag_id is None


def test_fast_write_splits_at_parameter_limit(using: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch above the backend's parameter limit is split; the result is the same."""
    connection = connections[using]
    # A class attribute before Django 6.1, a property since.
    monkeypatch.setattr(type(connection.features), "max_query_params", 9)
    monkeypatch.setattr(connection.ops, "bulk_batch_size", lambda fields, objs: len(objs))
    PerfKeyed.objects.bulk_create([PerfKeyed(label="old") for _ in range(7)])
    objs = list(PerfKeyed.objects.all())
    for obj in objs:
        obj.label = "new"
    with CaptureQueriesContext(connection) as queries:
        assert fast_bulk_update(models.QuerySet(PerfKeyed), objs, ["amount", "label"]) == 7
    # 3 rows of 3 parameters per statement; PostgreSQL gets one array per column.
    expected = 1 if connection.vendor == "postgresql" else 3
    assert len([q for q in queries if "UPDATE" in q["sql"]]) == expected
    assert set(PerfKeyed.objects.values_list("label", flat=True)) == {"new"}
