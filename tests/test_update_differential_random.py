"""Random rows, ``update()`` values and conditions, run fast and slow (tests/differential.py).

Hypothesis draws the stored rows (nullable fields NULL or not, on any row), the values an
``update()`` writes (literals of the column's type or of another, expressions) and a
condition tree of built-in conditions whose values may be of another Python type than
the column. A few examples per database keep the suite fast; set
``BULK_TRIGGERS_HYPOTHESIS_EXAMPLES`` to try more.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulk_triggers import (
    ChangesFrom,
    ChangesTo,
    Condition,
    HasChanged,
    IsEqual,
    IsNotEqual,
    WasEqual,
)
from tests.differential import compare
from tests.diffrowsapp.models import DiffCustomer, DiffRow, Level, Status

EXAMPLES = int(os.environ.get("BULK_TRIGGERS_HYPOTHESIS_EXAMPLES", "25"))
MOMENT = datetime(2026, 3, 1, 12, 30, tzinfo=timezone.utc)
PARIS = MOMENT.astimezone(ZoneInfo("Europe/Paris"))
TOKEN = uuid.UUID(int=7)
CUSTOMERS = {pk: DiffCustomer(pk=pk, code=f"C{pk}") for pk in (1, 2)}

# Stored values, per field: None wherever the field is nullable.
STORED: dict[str, st.SearchStrategy[Any]] = {
    "n": st.none() | st.integers(-2, 6),
    "flag": st.none() | st.booleans(),
    "amount": st.none() | st.sampled_from([Decimal("0.00"), Decimal("7.00"), Decimal("-1.25")]),
    "status": st.none() | st.sampled_from(["new", "shipped", "NEW", "new "]),
    "level": st.none() | st.sampled_from([1, 2]),
    "data": st.none() | st.sampled_from([{}, [], {"a": [1, {"b": None}]}, [1, [2]], "s", 5]),
    "packed": st.none() | st.sampled_from([[], ["a"], ["a", "b"]]),
    "customer_id": st.none() | st.sampled_from([1, 2]),
    "depot_id": st.none() | st.sampled_from(["C1", "C2"]),
    "moment": st.none() | st.sampled_from([MOMENT]),
    "token": st.none() | st.sampled_from([TOKEN]),
}
# What update() may be given, per field: the column's type, another, or an expression.
WRITTEN: dict[str, st.SearchStrategy[Any]] = {
    "n": st.sampled_from([0, 5, "5", 2.0, Decimal("3"), None, F("n") + 1, Coalesce("n", Value(9))]),
    "flag": st.sampled_from([True, False, None, 1, 0]),
    "amount": st.sampled_from([Decimal("7"), 7, "1.255", Decimal("0.005"), None, F("amount")]),
    "status": st.sampled_from([Status.SHIPPED, "new", "NEW", None, F("status")]),
    "level": st.sampled_from([Level.HIGH, 1, None]),
    "data": st.sampled_from([{"a": (1, 2)}, [1, [2]], {1: "x"}, None, "s", F("data")]),
    "packed": st.sampled_from([["a"], ["a", "b"], [], F("packed")]),
    "customer": st.sampled_from([CUSTOMERS[1], CUSTOMERS[2], None]),
    "customer_id": st.sampled_from([1, 2, None]),
    "depot": st.sampled_from([CUSTOMERS[1], "C2", None, F("depot")]),
    "moment": st.sampled_from([MOMENT, MOMENT.replace(tzinfo=None), PARIS, None, F("moment")]),
    "token": st.sampled_from([TOKEN, str(TOKEN), uuid.UUID(int=9), None]),
}
# What a condition compares with, per field: values of the column's type and of others.
COMPARED: dict[str, list[Any]] = {
    "n": [None, 0, 5, "5", 6, 5.0, Decimal("5"), True],
    "flag": [None, True, False, 1, 0],
    "amount": [None, Decimal("7.00"), 7, "7.00", 7.0, Decimal("1.26")],
    "status": [None, "new", Status.SHIPPED, "NEW", "new "],
    "level": [None, 1, Level.HIGH, "2"],
    "data": [None, {}, [1, [2]], {"1": "x"}, {"a": [1, 2]}, "s"],
    "packed": [None, ["a"], [], "a"],
    "customer": [None, CUSTOMERS[1], 2, "2"],
    "customer_id": [None, 1, CUSTOMERS[2]],
    "depot": [None, CUSTOMERS[1], "C2", 2],
    "moment": [None, MOMENT, PARIS, MOMENT.replace(tzinfo=None)],
    "token": [None, TOKEN, str(TOKEN)],
}
HAS_VALUE = [ChangesTo, ChangesFrom, IsEqual, IsNotEqual, WasEqual]

leaves = st.builds(HasChanged, st.sampled_from(sorted(COMPARED))) | st.sampled_from(
    sorted(COMPARED)
).flatmap(
    lambda field: st.builds(
        lambda kind, value: kind(field, value),
        st.sampled_from(HAS_VALUE),
        st.sampled_from(COMPARED[field]),
    )
)
conditions: st.SearchStrategy[Condition] = st.recursive(
    leaves,
    lambda inner: (
        st.builds(lambda a, b: a & b, inner, inner)
        | st.builds(lambda a, b: a | b, inner, inner)
        | st.builds(lambda a: ~a, inner)
    ),
    max_leaves=3,
)
rows = st.lists(st.fixed_dictionaries(STORED), min_size=1, max_size=5)
values = st.dictionaries(st.sampled_from(sorted(WRITTEN)), st.none(), min_size=1, max_size=3)


@st.composite
def updates(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(values)
    if "customer" in names and "customer_id" in names:
        del names["customer_id"]  # Django refuses the same column twice.
    return {name: draw(WRITTEN[name]) for name in names}


def _bump(new: list[DiffRow], old: list[DiffRow]) -> None:
    """A before trigger changing new: an assignment, an in-place change, an expression."""
    for row in new:
        row.flag = not row.flag
        if isinstance(row.data, dict | list):
            row.data.append(1) if isinstance(row.data, list) else row.data.update(seen=True)
        if isinstance(row.packed, list):
            row.packed.append("z")
        row.n = F("n") + 1


@pytest.mark.filterwarnings("ignore:DateTimeField .* received a naive datetime")
def test_random_updates_match(using: str) -> None:
    """Every drawn update gives the same calls, table, result and error, every way."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=os.environ.get("BULK_TRIGGERS_HYPOTHESIS_RANDOM") is None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        stored=rows,
        written=updates(),
        condition=st.none() | conditions,
        hook=st.sampled_from([None, _bump]),
    )
    def check(
        stored: list[dict[str, Any]], written: dict[str, Any], condition: Any, hook: Any
    ) -> None:
        def seed() -> None:
            for customer in CUSTOMERS.values():
                DiffCustomer.objects.create(pk=customer.pk, code=customer.code)
            DiffRow.objects.bulk_create(
                DiffRow(id=uuid.UUID(int=i + 1), **row) for i, row in enumerate(stored)
            )

        update = lambda: DiffRow.objects.update(**written)  # noqa: E731
        compare(using, DiffRow, seed, update, condition, hook)

    check()
