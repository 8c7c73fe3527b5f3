"""Chunks: large operations run before stage, write, after stage per CHUNK_SIZE rows."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections, models, transaction
from django.db.models import (
    Avg,
    Case,
    Count,
    Exists,
    F,
    OuterRef,
    Subquery,
    Value,
    When,
    Window,
)
from django.db.models.functions import Concat, RowNumber
from django.test.utils import CaptureQueriesContext

from bulk_triggers import bypass
from tests.keysapp.models import KeysMember
from tests.recorder import record
from tests.testapp.models import Account, CodeThing, Customer, Item, UuidThing

ROWS = 230
CHUNK = 50
SIZES = [50, 50, 50, 50, 30]


@pytest.fixture
def chunked(settings: Any) -> None:
    """Make chunks of 50 rows."""
    settings.BULK_TRIGGERS = {"CHUNK_SIZE": CHUNK}


def _rows() -> list[int]:
    """Store ROWS items, every other one with a customer; return their pks in order."""
    with bypass():
        customer = Customer.objects.create(name="c")
        Item.objects.bulk_create(
            Item(name=f"i{n:04}", amount=n, customer=customer if n % 2 else None)
            for n in range(ROWS)
        )
    return list(Item.objects.order_by("pk").values_list("pk", flat=True))


def _changed(objs: list[Item]) -> list[Item]:
    for obj in objs:
        obj.amount += 1000
    return objs


# name -> (event, operation, its expected return value)
OPERATIONS: dict[str, tuple[str, Callable[[], Any], Any]] = {
    "update": ("update", lambda: Item.objects.update(status="done"), ROWS),
    "update_f": ("update", lambda: Item.objects.update(amount=F("amount") + 1), ROWS),
    "update_filtered_on_updated_column": (
        "update",
        lambda: Item.objects.filter(status="new").update(status="done"),
        ROWS,
    ),
    "update_across_relation": (
        "update",
        lambda: Item.objects.filter(customer__name="c").update(note="c"),
        ROWS // 2,
    ),
    "bulk_update": (
        "update",
        lambda: Item.objects.bulk_update(_changed(list(Item.objects.all())), ["amount"]),
        ROWS,
    ),
    "delete": ("delete", lambda: Item.objects.all().delete(), (ROWS, {"testapp.Item": ROWS})),
    "delete_filtered": (
        "delete",
        lambda: Item.objects.filter(amount__gte=0).delete(),
        (ROWS, {"testapp.Item": ROWS}),
    ),
    "bulk_create": (
        "create",
        lambda: len(Item.objects.bulk_create(Item(name=f"n{n}") for n in range(ROWS))),
        ROWS,
    ),
}


@pytest.mark.parametrize("name", [n for n in OPERATIONS if n != "update_across_relation"])
def test_each_chunk_runs_before_write_after_and_commit_once(
    using: str, chunked: None, name: str, django_capture_on_commit_callbacks: Any
) -> None:
    """230 rows in chunks of 50: five calls per stage of 50, 50, 50, 50, 30 rows, each row once."""
    event, run, expected_result = OPERATIONS[name]
    existing = _rows()
    side = "old" if event == "delete" else "new"
    rec = record(Item, events=[event])
    with django_capture_on_commit_callbacks(using=using, execute=True):
        assert run() == expected_result
    stages = [call.stage for call in rec.calls]
    assert stages == ["before", "after"] * len(SIZES) + ["commit"] * len(SIZES)
    expected_pks = sorted(existing) if event != "create" else None
    for stage in ("before", "after", "commit"):
        calls = rec.of(stage, event)
        assert [len(call.column("pk", side)) for call in calls] == SIZES
        pks = rec.column(stage, event, "pk", side)
        if stage != "before" or event != "create":
            assert len(set(pks)) == ROWS
        if expected_pks is not None:
            assert sorted(pks) == expected_pks
        if event == "update":
            assert all(c.column("pk") == c.column("pk", "old") for c in calls)
    if event == "create":
        assert sorted(rec.column("after", event, "pk")) == sorted(
            set(Item.objects.values_list("pk", flat=True)) - set(existing)
        )


def test_relation_filter_is_chunked_over_the_matching_rows_only(using: str, chunked: None) -> None:
    """An update filtered across a relation chunks the 115 matching rows: 50, 50, 15."""
    existing = _rows()
    rec = record(Item, stages=["before", "after"], events=["update"])
    assert Item.objects.filter(customer__name="c").update(note="c") == ROWS // 2
    assert [len(call.new or []) for call in rec.of("before", "update")] == [50, 50, 15]
    assert sorted(rec.column("after", "update", "pk")) == existing[1::2]
    assert Item.objects.filter(note="c").count() == ROWS // 2


@pytest.mark.parametrize("name", OPERATIONS)
def test_statements_per_chunk_are_constant(using: str, chunked: None, name: str) -> None:
    """Every chunk issues the same statements: one load, the same writes, whatever its size."""
    event, run, _ = OPERATIONS[name]
    _rows()
    marks: list[tuple[str, int]] = []
    with CaptureQueriesContext(connections[using]) as queries:

        def mark(stage: str) -> Callable[..., None]:
            return lambda *rows: marks.append((stage, len(queries.captured_queries)))

        record(Item, events=[event], hooks={(s, event): mark(s) for s in ("before", "after")})
        run()
    statements = [q["sql"].split(None, 1)[0].upper() for q in queries.captured_queries]
    befores = [n for stage, n in marks if stage == "before"]
    afters = [n for stage, n in marks if stage == "after"]
    assert len(befores) == len(afters) == (3 if name == "update_across_relation" else 5)
    writes = [statements[b:a] for b, a in zip(befores, afters, strict=True)]
    loads = [statements[a:b] for a, b in zip(afters, befores[1:], strict=False)]
    assert writes[0] and all(w == writes[0] for w in writes), writes
    assert all(load == loads[0] for load in loads), loads


def test_before_changes_are_written_in_every_chunk(using: str, chunked: None) -> None:
    """A before trigger's change to each row is written in all five chunks."""
    _rows()

    def stamp(new: list[Item], old: list[Item]) -> None:
        for row in new:
            row.note = f"was {row.amount - 1}"

    record(Item, stages=["before"], events=["update"], hooks={("before", "update"): stamp})
    assert Item.objects.update(amount=F("amount") + 1) == ROWS
    rows = list(Item.objects.values_list("amount", "note"))
    assert len(rows) == ROWS
    assert all(note == f"was {amount - 1}" for amount, note in rows)


@pytest.mark.parametrize("chunk_size", [None, CHUNK], ids=["default_chunks", "chunks_of_50"])
@pytest.mark.parametrize("operation", ["bulk_create", "bulk_update"])
def test_batch_size_splits_statements_not_trigger_calls(
    using: str, settings: Any, operation: str, chunk_size: int | None
) -> None:
    """batch_size=20 batches Django's statements; triggers still run once per chunk."""
    if chunk_size:
        settings.BULK_TRIGGERS = {"CHUNK_SIZE": chunk_size}
    event = "create" if operation == "bulk_create" else "update"
    if operation == "bulk_update":
        _rows()
    rec = record(Item, stages=["before", "after"], events=[event])
    with CaptureQueriesContext(connections[using]) as queries:
        if operation == "bulk_create":
            result = len(Item.objects.bulk_create([Item(name=f"n{n}") for n in range(ROWS)], 20))
        else:
            result = Item.objects.bulk_update(_changed(list(Item.objects.all())), ["amount"], 20)
    assert result == ROWS
    sizes = SIZES if chunk_size else [ROWS]
    for stage in ("before", "after"):
        assert [len(call.new or []) for call in rec.of(stage, event)] == sizes
    writes = [q for q in queries.captured_queries if q["sql"].startswith(("INSERT", "UPDATE"))]
    assert len(writes) == sum(-(-size // 20) for size in sizes)


NON_INTEGER_KEYS: dict[str, tuple[type[Any], Callable[[int], Any]]] = {
    "uuid": (UuidThing, lambda n: UuidThing(label=f"l{n}")),
    "mixed_case_code": (CodeThing, lambda n: CodeThing(code=f"{'aB'[n % 2]}{n:03}", label="")),
    "composite": (KeysMember, lambda n: KeysMember(tenant=n % 3, number=n // 3, name=f"m{n}")),
}


@pytest.mark.parametrize("operation", ["update", "delete"])
@pytest.mark.parametrize("keys", NON_INTEGER_KEYS)
def test_chunks_over_non_integer_keys_see_every_row_once(
    using: str, chunked: None, keys: str, operation: str
) -> None:
    """Keyset chunks over UUID, mixed-case char and composite keys visit each row once."""
    model, make = NON_INTEGER_KEYS[keys]
    with bypass():
        model.objects.bulk_create(make(n) for n in range(ROWS))
    pks = sorted(str(pk) for pk in model.objects.values_list("pk", flat=True))
    rec = record(model, stages=["before"], events=[operation])
    if operation == "update":
        assert model.objects.update(label="x") == ROWS
        assert set(model.objects.values_list("label", flat=True)) == {"x"}
    else:
        assert model.objects.all().delete() == (ROWS, {model._meta.label: ROWS})
        assert not model.objects.exists()
    side = "new" if operation == "update" else "old"
    assert [len(call.column("pk", side)) for call in rec.calls] == SIZES
    assert sorted(str(pk) for pk in rec.column("before", operation, "pk", side)) == pks


def test_chunked_cascading_delete_returns_djangos_counts(using: str, chunked: None) -> None:
    """Deleting 120 customers in chunks of 50 sums the cascaded counts as Django reports them."""
    with bypass():
        customers = Customer.objects.bulk_create(Customer(name=f"c{n}") for n in range(120))
        Item.objects.bulk_create(Item(name=f"i{c.pk}", customer=c) for c in customers)
    rec = record(Customer, stages=["after"], events=["delete"])
    assert Customer.objects.all().delete() == (
        240,
        {"testapp.Customer": 120, "testapp.Item": 120},
    )
    assert [len(call.old or []) for call in rec.calls] == [50, 50, 20]
    assert not Item.objects.exists()


def _outcome(using: str, run: Callable[[], Any]) -> tuple[Any, list[tuple[Any, ...]]]:
    """Return what ``run`` gives (or the exception it raises, as type and text) and leaves."""
    try:
        with transaction.atomic(using=using):
            outcome: Any = run()
    except Exception as exc:
        outcome = (type(exc), str(exc))
    return outcome, _table(_model_of(run))


def _as_django(using: str, run: Callable[[], Any]) -> tuple[Any, list[tuple[Any, ...]]]:
    """Return :func:`_outcome` with triggers bypassed, then roll the operation back."""
    with transaction.atomic(using=using), bypass():
        django = _outcome(using, run)
        transaction.set_rollback(True, using=using)
    return django


def _model_of(run: Callable[[], Any]) -> type[models.Model]:
    return run.__defaults__[0] if run.__defaults__ else Item  # type: ignore[no-any-return]


def _table(model: type[models.Model]) -> list[tuple[Any, ...]]:
    """Return every stored row of ``model``, every column, in a stable order."""
    names = [field.attname for field in model._meta.concrete_fields]
    return sorted(model._base_manager.values_list(*names), key=repr)


def _members() -> None:
    """Store five rows of each key type (int, char, uuid, composite)."""
    with bypass():
        Account.objects.bulk_create(Account(name=f"a{n}", balance=n) for n in range(5))
        CodeThing.objects.bulk_create(CodeThing(code=f"k{n}", label="") for n in range(5))
        UuidThing.objects.bulk_create(UuidThing(label=f"l{n}") for n in range(5))
        KeysMember.objects.bulk_create(
            KeysMember(tenant=n % 2, number=n, name=f"m{n}") for n in range(5)
        )


def _new_uuids() -> Any:
    """Map each stored UuidThing key to a new one, as one CASE expression."""
    whens = [
        When(id=pk, then=Value(uuid.uuid5(pk, "moved"), output_field=models.UUIDField()))
        for pk in UuidThing.objects.values_list("pk", flat=True)
    ]
    return Case(*whens, output_field=models.UUIDField())


KEY_CHANGES: dict[str, Callable[[], Any]] = {
    "int": lambda m=Account: Account.objects.update(id=F("id") + 1000),
    "int_and_value": lambda m=Account: Account.objects.filter(balance__gte=0).update(
        id=F("id") + 1000, balance=F("balance") + 1
    ),
    "char": lambda m=CodeThing: CodeThing.objects.update(code=Concat("code", Value("x"))),
    "uuid": lambda m=UuidThing: UuidThing.objects.update(id=_new_uuids()),
    "composite": lambda m=KeysMember: KeysMember.objects.update(number=F("number") + 1000),
}


@pytest.mark.parametrize("name", KEY_CHANGES)
def test_chunked_update_of_the_primary_key_visits_each_row_once(
    using: str, settings: Any, name: str
) -> None:
    """update() moving every key, in chunks of 2 over 5 rows: Django's count and table."""
    settings.BULK_TRIGGERS = {"CHUNK_SIZE": 2}
    _members()
    run = KEY_CHANGES[name]
    model = _model_of(run)
    expected = _as_django(using, run)
    stored_keys = sorted(map(repr, model._base_manager.values_list("pk", flat=True)))
    rec = record(model, stages=["before"], events=["update"])
    assert _outcome(using, run) == expected
    assert expected[0] == 5
    assert [len(call.column("pk", "old")) for call in rec.calls] == [2, 2, 1]
    assert sorted(map(repr, rec.column("before", "update", "pk", "old"))) == stored_keys


def test_before_trigger_moving_keys_does_not_revisit_rows(using: str, settings: Any) -> None:
    """A before trigger that moves each row past the others: every row is updated once."""
    settings.BULK_TRIGGERS = {"CHUNK_SIZE": 2}
    _members()

    def move(new: list[Account], old: list[Account]) -> None:
        for row in new:
            row.pk = row.pk + 1000

    rec = record(Account, stages=["before"], events=["update"], hooks={("before", "update"): move})
    assert Account.objects.update(balance=F("balance") + 1) == 5
    assert [len(call.column("pk", "old")) for call in rec.calls] == [2, 2, 1]
    assert sorted(Account.objects.values_list("balance", flat=True)) == [1, 2, 3, 4, 5]
    assert min(Account.objects.values_list("pk", flat=True)) > 1000


def _window() -> Any:
    return Window(RowNumber(), order_by=F("pk").asc())


WHOLE_SET_FILTERS: dict[str, Callable[[], models.QuerySet[Any]]] = {
    "window_filter": lambda: Item.objects.annotate(rn=_window()).filter(rn__lte=3),
    "window_annotation_only": lambda: Item.objects.annotate(rn=_window()),
    "sliced_subquery": lambda: Item.objects.filter(
        pk__in=Subquery(Item.objects.order_by("-amount").values("pk")[:3])
    ),
    "ordered_slice_value": lambda: Item.objects.filter(
        amount__lte=Subquery(Item.objects.order_by("amount").values("amount")[2:3])
    ),
    "aggregate_subquery": lambda: Item.objects.filter(
        amount__gt=Subquery(
            Item.objects.values("status").annotate(mean=Avg("amount")).values("mean")[:1]
        )
    ),
    "exists_same_table": lambda: Item.objects.filter(
        Exists(Item.objects.filter(amount=OuterRef("amount") + 10))
    ),
    "aggregate_annotation": lambda: Item.objects.annotate(n=Count("customer__item")).filter(
        n__gte=1
    ),
    "distinct_join": lambda: Item.objects.filter(customer__name__startswith="c").distinct(),
}


@pytest.mark.parametrize("operation", ["update", "delete"])
@pytest.mark.parametrize("name", WHOLE_SET_FILTERS)
def test_chunks_never_change_which_rows_a_filter_selects(
    using: str, settings: Any, name: str, operation: str
) -> None:
    """Filters that depend on the whole set select, in chunks of 2, what Django's statement does.

    What Django refuses (a window function in the filter, on every database; a sliced
    subquery on MariaDB) is refused with Django's exception before any trigger runs.
    """
    settings.BULK_TRIGGERS = {"CHUNK_SIZE": 2}
    with bypass():
        customer = Customer.objects.create(name="c")
        Item.objects.bulk_create(
            Item(name=f"i{n}", amount=n * 10, customer=customer if n % 2 else None)
            for n in range(7)
        )

    def run() -> Any:
        rows = WHOLE_SET_FILTERS[name]()
        return rows.update(amount=F("amount") + 15) if operation == "update" else rows.delete()

    expected = _as_django(using, run)
    rec = record(Item, stages=["before"], events=[operation])
    assert _outcome(using, run) == expected
    refused = isinstance(expected[0], tuple) and isinstance(expected[0][0], type)
    assert refused == (name == "window_filter" or (name == "sliced_subquery" and using == "mysql"))
    assert (rec.calls == []) if refused else (len(rec.calls) >= 2)
