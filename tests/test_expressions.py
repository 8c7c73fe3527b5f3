"""End to end: QuerySet.update with expressions; triggers see what is written and stored."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    JSONField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, Concat, Lower, NullIf, Upper

from bulk_triggers import bypass
from tests.recorder import Row, record
from tests.testapp.models import Customer, Item, ItemProxy

Ctx = dict[str, Any]


def _items() -> Ctx:
    c1, c2 = Customer.objects.create(name="c1"), Customer.objects.create(name="c2")
    specs = [
        ("a", 1, "1.50", c1, ""),
        ("b", 2, "2.25", c1, "bee"),
        ("c", 3, "0.10", c2, ""),
        ("d", 4, "7.00", None, "dee"),
    ]
    for name, amount, price, customer, note in specs:
        Item.objects.create(
            name=name,
            amount=amount,
            price=Decimal(price),
            customer=customer,
            note=note,
            data={"k": name * 2} if amount % 2 else {},
        )
    return {"c1": c1, "c2": c2}


Update = Callable[[Ctx], tuple[QuerySet[Any], dict[str, Any]]]

UPDATES: dict[str, Update] = {
    "f_plus": lambda c: (Item.objects.all(), {"amount": F("amount") + 1}),
    "f_arithmetic": lambda c: (Item.objects.all(), {"amount": F("amount") * 3 - 10}),
    "case_when": lambda c: (
        Item.objects.all(),
        {"amount": Case(When(amount__gt=2, then=F("amount") * 100), default=Value(0))},
    ),
    "case_when_on_null_relation": lambda c: (
        Item.objects.all(),
        {"status": Case(When(customer__isnull=True, then=Value("orphan")), default=Value("owned"))},
    ),
    "upper": lambda c: (Item.objects.all(), {"name": Upper("name")}),
    "concat": lambda c: (
        Item.objects.all(),
        {"note": Concat(Upper("name"), Value("-"), Lower("status"))},
    ),
    "coalesce": lambda c: (
        Item.objects.all(),
        {"note": Coalesce(NullIf("note", Value("")), "name")},
    ),
    "decimal_times_decimal": lambda c: (Item.objects.all(), {"price": F("price") * Decimal("1.5")}),
    "decimal_plain_value_with_more_places": lambda c: (
        Item.objects.all(),
        {"price": Decimal("1.005")},
    ),
    "decimal_plus_integer_field": lambda c: (
        Item.objects.all(),
        {"price": F("price") + F("amount")},
    ),
    "integer_column_from_decimal_expression": lambda c: (
        Item.objects.all(),
        {"amount": F("price") + F("amount")},
    ),
    "value": lambda c: (Item.objects.all(), {"status": Value("done")}),
    "mixed_plain_and_expressions": lambda c: (
        Item.objects.all(),
        {"amount": F("amount") + 1, "status": "done", "note": Upper("name")},
    ),
    "subquery": lambda c: (
        Item.objects.all(),
        {
            "note": Coalesce(
                Subquery(Customer.objects.filter(pk=OuterRef("customer_id")).values("name")[:1]),
                Value("none"),
            )
        },
    ),
    "foreign_key_instance": lambda c: (Item.objects.all(), {"customer": c["c2"]}),
    "foreign_key_id_none": lambda c: (Item.objects.all(), {"customer_id": None}),
    "json_value": lambda c: (Item.objects.all(), {"data": {"a": [1, {"b": None}]}}),
    "json_expression": lambda c: (
        Item.objects.all(),
        {"data": Value({"a": [1], "b": "x"}, output_field=JSONField())},
    ),
    "json_key_text_into_char": lambda c: (
        Item.objects.filter(data__has_key="k"),
        {"note": Coalesce(KT("data__k"), Value("-"), output_field=CharField())},
    ),
    "filter_on_updated_column": lambda c: (
        Item.objects.filter(status="new"),
        {"status": "done"},
    ),
    "filter_on_updated_column_expression": lambda c: (
        Item.objects.filter(amount__lt=3),
        {"amount": F("amount") + 10},
    ),
    "filter_across_relation": lambda c: (
        Item.objects.filter(customer__name="c1"),
        {"note": "first"},
    ),
    "filter_across_relation_expression": lambda c: (
        Item.objects.filter(customer__name="c1"),
        {"amount": F("amount") * 3},
    ),
    "exclude_and_q": lambda c: (
        Item.objects.exclude(customer=None).filter(Q(name="a") | Q(amount__gte=3)),
        {"status": "picked"},
    ),
    "ordered": lambda c: (Item.objects.order_by("-amount"), {"amount": F("amount") + 1}),
    "distinct_across_relation": lambda c: (
        Item.objects.filter(customer__name__startswith="c").distinct(),
        {"status": "distinct"},
    ),
    "annotated_filter": lambda c: (
        Item.objects.annotate(twice=F("amount") * 2).filter(twice__gt=2),
        {"status": "big"},
    ),
    "annotated_reference": lambda c: (
        Item.objects.annotate(twice=F("amount") * 2),
        {"amount": F("twice")},
    ),
    "annotated_reference_across_relation": lambda c: (
        Item.objects.filter(customer__name="c1").annotate(twice=F("amount") * 2),
        {"amount": F("twice")},
    ),
    "alias_filter": lambda c: (
        Item.objects.alias(twice=F("amount") * 2).filter(twice__gt=2),
        {"amount": F("amount") + 1},
    ),
    "aggregate_annotation_filter": lambda c: (
        Item.objects.annotate(siblings=Count("customer__item")).filter(siblings__gt=1),
        {"status": "shared"},
    ),
    "select_related": lambda c: (
        Item.objects.select_related("customer").filter(amount__gte=2),
        {"amount": F("amount") - 1},
    ),
    "values_queryset": lambda c: (
        Item.objects.values("name").filter(amount__gt=1),
        {"amount": F("amount") + 1},
    ),
    "values_list_queryset": lambda c: (
        Item.objects.values_list("pk", flat=True).filter(amount__lt=4),
        {"status": "vl"},
    ),
    "only_queryset": lambda c: (Item.objects.only("name"), {"note": Upper("name")}),
    "defer_queryset": lambda c: (Item.objects.defer("note", "data"), {"note": "deferred"}),
    "filter_exists": lambda c: (
        Item.objects.filter(Exists(Customer.objects.filter(pk=OuterRef("customer_id")))),
        {"status": "has"},
    ),
    "filter_pk_in_subquery": lambda c: (
        Item.objects.filter(pk__in=Item.objects.filter(amount__gte=3).values("pk")),
        {"amount": F("amount") - 1},
    ),
    "extra_where": lambda c: (
        Item.objects.extra(where=["amount >= 2"]),
        {"status": "extra"},
    ),
    "select_for_update": lambda c: (
        Item.objects.select_for_update().filter(amount__gt=2),
        {"amount": F("amount") + 1},
    ),
    "random_order": lambda c: (Item.objects.order_by("?"), {"status": "random"}),
    "related_manager": lambda c: (c["c1"].item_set.all(), {"amount": F("amount") + 5}),
    "proxy": lambda c: (ItemProxy.objects.filter(amount__gt=1), {"name": Upper("name")}),
    "no_match": lambda c: (Item.objects.filter(amount__gt=100), {"amount": F("amount") + 1}),
}


def _by_pk(rows: list[Row]) -> dict[Any, Row]:
    return {row["pk"]: {k: v for k, v in row.items() if k != "pk"} for row in rows}


def _stored(pks: Any = None) -> dict[Any, Row]:
    rows = Item._base_manager.all() if pks is None else Item._base_manager.filter(pk__in=pks)
    return {row["id"]: row for row in rows.values()}


@pytest.mark.parametrize("name", UPDATES)
def test_update_triggers_see_written_values_and_count_is_djangos(using: str, name: str) -> None:
    """Before and after stages see exactly what Django writes; old is the prior state."""
    ctx = _items()
    initial = _stored()
    rec = record(Item, stages=["before", "after"], events=["update"])
    with transaction.atomic(using=using):
        queryset, values = UPDATES[name](ctx)
        matched = set(queryset.values_list("pk", flat=True))
        with bypass():
            expected_count = queryset.update(**values)
        expected = _stored()
        transaction.set_rollback(True, using=using)
    assert _stored() == initial
    queryset, values = UPDATES[name](ctx)
    count = queryset.update(**values)
    assert (count, _stored()) == (expected_count, expected)
    for stage in ("before", "after"):
        new = _by_pk([row for call in rec.of(stage, "update") for row in call.new or []])
        old = _by_pk([row for call in rec.of(stage, "update") for row in call.old or []])
        assert set(new) == matched, stage
        assert new == {pk: expected[pk] for pk in matched}, stage
        assert old == {pk: initial[pk] for pk in matched}, stage
    assert len(rec.calls) == (2 if matched else 0)


def test_filter_on_updated_column_still_hands_every_row_to_both_stages(using: str) -> None:
    """filter(status="new").update(status="done"): both stages receive all the matched rows."""
    _items()
    pks = sorted(Item.objects.values_list("pk", flat=True))
    rec = record(Item, stages=["before", "after"], events=["update"])
    assert Item.objects.filter(status="new").update(status="done") == 4
    for stage in ("before", "after"):
        assert sorted(rec.column(stage, "update", "pk")) == pks
        assert set(rec.column(stage, "update", "status")) == {"done"}
        assert set(rec.column(stage, "update", "status", side="old")) == {"new"}


def test_after_stage_sees_stored_values_when_a_before_trigger_changed_them(using: str) -> None:
    """The after stage sees the stored outcome of an expression and of a before-stage change."""
    _items()

    def bump(new: list[Item], old: list[Item]) -> None:
        for row in new:
            if row.name == "b":
                row.amount += 1000

    rec = record(Item, stages=["after"], events=["update"], order=1)
    record(Item, stages=["before"], events=["update"], hooks={("before", "update"): bump})
    Item.objects.update(amount=F("amount") * 2)
    after = dict(
        zip(
            rec.column("after", "update", "name"),
            rec.column("after", "update", "amount"),
            strict=True,
        )
    )
    assert after == dict(Item.objects.values_list("name", "amount"))
    assert after == {"a": 2, "b": 1004, "c": 6, "d": 8}


def test_expression_sees_values_of_earlier_chunks_rows_unchanged(using: str, settings: Any) -> None:
    """An expression over another column reads each row's stored value, chunk after chunk."""
    settings.BULK_TRIGGERS = {"CHUNK_SIZE": 2}
    _items()
    rec = record(Item, stages=["before"], events=["update"])
    assert Item.objects.update(amount=F("amount") + 1, note=Concat("name", Value("!"))) == 4
    assert [len(call.new or []) for call in rec.calls] == [2, 2]
    assert sorted(Item.objects.values_list("name", "amount", "note")) == [
        ("a", 2, "a!"),
        ("b", 3, "b!"),
        ("c", 4, "c!"),
        ("d", 5, "d!"),
    ]


@pytest.mark.parametrize("before_changes", [False, True], ids=["untouched", "before_changes"])
def test_update_of_the_primary_key_moves_the_row(using: str, before_changes: bool) -> None:
    """update(id=F("id") + 1000) as Django does it; stages pair the new key with the old row."""
    _items()
    a = Item.objects.get(name="a")

    def touch(new: list[Item], old: list[Item]) -> None:
        if before_changes:
            for row in new:
                row.note = "moved"

    rec = record(
        Item, stages=["before", "after"], events=["update"], hooks={("before", "update"): touch}
    )
    assert Item.objects.filter(name="a").update(id=F("id") + 1000) == 1
    for stage in ("before", "after"):
        call = rec.one(stage, "update")
        assert (call.column("pk"), call.column("pk", "old")) == ([a.pk + 1000], [a.pk])
    stored = Item.objects.values_list("pk", "note").get(name="a")
    assert stored == (a.pk + 1000, "moved" if before_changes else "")
