"""bulk_create() with conflicts: each row fires the event that really happened to it.

Every call is made twice: on ``UpsertItem`` (with recording triggers) and on its plain
twin ``UpsertPlain`` (no triggers, so Django's own behaviour), seeded alike. The two
must agree on what is stored, on the primary keys set on the objects and on the return
value; the triggers must receive exactly the rows each statement inserted or updated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import NotSupportedError, connections, models, transaction
from django.db.models import Value
from django.db.models.functions import Upper
from django.test.utils import CaptureQueriesContext

from bulk_triggers import HasChanged, bypass
from bulk_triggers.registry import registry
from tests.recorder import Recorder, record, stored
from tests.upsertsapp.models import UpsertItem, UpsertPlain

Row = tuple[str, str, str, str, int]  # sku, region, code, name, qty
SEED: list[Row] = [("a", "eu", "1", "A", 1), ("b", "eu", "2", "B", 2)]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    """Record every stage of every event on UpsertItem."""
    with registry.isolated():
        yield record(UpsertItem)


def build(model: type[models.Model], rows: list[Row]) -> list[Any]:
    """Return unsaved objects of ``model`` for ``rows``."""
    return [model(sku=s, region=r, code=c, name=n, qty=q) for s, r, c, n, q in rows]


def seed() -> None:
    """Store the same two rows in both tables, without firing triggers."""
    with bypass():
        for model in (UpsertItem, UpsertPlain):
            for obj in build(model, SEED):
                obj.save()


def conflict_options(using: str, unique_fields: list[str]) -> dict[str, Any]:
    """Return update_conflicts options; MariaDB takes no unique_fields (it uses every key)."""
    options: dict[str, Any] = {"update_conflicts": True, "update_fields": ["name", "qty"]}
    if connections[using].features.supports_update_conflicts_with_target:
        options["unique_fields"] = unique_fields
    return options


def by_pk(model: type[models.Model], objs: list[Any]) -> list[str | None]:
    """Return, per object, the sku of the stored row its primary key names (None if unset)."""
    skus = dict(model.objects.values_list("pk", "sku"))
    return [None if obj.pk is None else skus[obj.pk] for obj in objs]


def compare(call: Callable[[type[models.Model], list[Any]], Any], rows: list[Row]) -> Any:
    """Run ``call`` on both twins; assert Django's results hold with triggers; return them."""
    plain_objs = build(UpsertPlain, rows)
    plain_result = call(UpsertPlain, plain_objs)
    objs = build(UpsertItem, rows)
    result = call(UpsertItem, objs)
    assert stored(UpsertItem) == stored(UpsertPlain)
    assert by_pk(UpsertItem, objs) == by_pk(UpsertPlain, plain_objs)
    assert [o._state.adding for o in objs] == [o._state.adding for o in plain_objs]
    assert [o.name for o in result] == [o.name for o in plain_result]
    assert [x is y for x, y in zip(result, objs, strict=True)] == [
        x is y for x, y in zip(plain_result, plain_objs, strict=True)
    ]
    return objs


# Per target key: a new row, a row matching the key, and a second new row.
MIXED = {
    "sku": [("n1", "us", "1", "N1", 5), ("a", "xx", "9", "A2", 10), ("n2", "us", "2", "N2", 6)],
    "region_code": [
        ("n1", "us", "1", "N1", 5),
        ("zz", "eu", "2", "B2", 20),
        ("n2", "us", "2", "N2", 6),
    ],
    # MariaDB watches every key: one row matches by sku, one by (region, code).
    "every": [
        ("n1", "us", "1", "N1", 5),
        ("a", "xx", "9", "A2", 10),
        ("zz", "eu", "2", "B2", 20),
    ],
}
TARGETS = {"sku": ["sku"], "region_code": ["region", "code"], "every": ["sku"]}


@pytest.mark.parametrize("target", ["sku", "region_code", "every"])
def test_update_conflicts_fires_create_for_inserted_and_update_for_matched(
    using: str, recorder: Recorder, target: str, django_capture_on_commit_callbacks: Any
) -> None:
    """Inserted rows fire create, matched rows fire update with the stored old row."""
    every_key = not connections[using].features.supports_update_conflicts_with_target
    if (target == "every") != every_key:
        pytest.skip("MariaDB watches every unique key; the others watch one target")
    seed()
    rows = MIXED[target]
    options = conflict_options(using, TARGETS[target])
    with django_capture_on_commit_callbacks(using=using, execute=True):
        compare(lambda model, objs: model.objects.bulk_create(objs, **options), rows)
    inserted = [row[0] for row in rows if row[3].startswith("N")]
    matched = {"A2": "a", "B2": "b"}
    updated = [matched[row[3]] for row in rows if row[3] in matched]
    for stage in ("before", "after", "commit"):
        assert recorder.column(stage, "create", "sku") == inserted
        assert recorder.column(stage, "update", "sku", side="old") == updated
        assert recorder.column(stage, "update", "sku") == updated  # sku not in update_fields
    call = recorder.one("before", "update")
    stored_rows = {row[0]: row for row in SEED}
    assert call.column("name", "old") == [stored_rows[sku][3] for sku in updated]
    assert call.column("name") == [row[3] for row in rows if row[3] in matched]
    assert call.column("region") == [stored_rows[sku][1] for sku in updated]
    assert recorder.one("after", "update").column("pk") == list(
        UpsertItem.objects.filter(sku__in=updated).order_by("sku").values_list("pk", flat=True)
    )
    assert recorder.one("after", "create").column("pk") == [
        UpsertItem.objects.get(sku=sku).pk
        if connections[using].features.can_return_rows_from_bulk_insert
        else None
        for sku in inserted
    ]


def test_unique_fields_given_as_pk(using: str, recorder: Recorder) -> None:
    """unique_fields=["pk"] matches rows by primary key."""
    if not connections[using].features.supports_update_conflicts_with_target:
        pytest.skip("MariaDB takes no unique_fields")
    seed()
    pks = {model: model.objects.get(sku="a").pk for model in (UpsertItem, UpsertPlain)}

    def call(model: type[models.Model], objs: list[Any]) -> Any:
        objs[0].pk = pks[model]
        objs[1].pk = 10_000
        return model.objects.bulk_create(
            objs, update_conflicts=True, unique_fields=["pk"], update_fields=["name"]
        )

    compare(call, [("a", "eu", "1", "A2", 1), ("n", "us", "1", "N", 1)])
    assert recorder.column("after", "update", "name") == ["A2"]
    assert recorder.column("after", "create", "pk") == [10_000]


def test_conditions_see_the_stored_row_and_the_row_to_be_stored(using: str) -> None:
    """HasChanged on update compares the stored row with it updated by update_fields."""
    seed()
    with registry.isolated():
        renamed = record(UpsertItem, stages=["before"], condition=HasChanged("name"))
        rows = [("a", "eu", "1", "A", 7), ("b", "eu", "2", "B2", 2)]  # a keeps its name
        UpsertItem.objects.bulk_create(build(UpsertItem, rows), **conflict_options(using, ["sku"]))
    assert renamed.column("before", "update", "sku") == ["b"]


def mutate_create(new: list[Any]) -> None:
    for row in new:
        row.note = "set on create"
        row.qty += 1000


def mutate_update(new: list[Any], old: list[Any]) -> None:
    for row, before in zip(new, old, strict=True):
        row.note = f"was {before.name}"  # not in update_fields: written all the same
        row.qty += before.qty


def test_before_stage_mutations_are_written(using: str) -> None:
    """Inserted rows keep every change; updated rows the changed fields, update_fields or not."""
    seed()
    hooks = {("before", "create"): mutate_create, ("before", "update"): mutate_update}
    with registry.isolated():
        record(UpsertItem, stages=["before"], hooks=hooks)
        rows = [("n", "us", "1", "N", 5), ("a", "xx", "9", "A2", 10)]
        objs = build(UpsertItem, rows)
        UpsertItem.objects.bulk_create(objs, **conflict_options(using, ["sku"]))
    values = {row.sku: row for row in UpsertItem.objects.all()}
    assert (values["n"].note, values["n"].qty) == ("set on create", 1005)
    assert (values["a"].note, values["a"].qty, values["a"].name) == ("was A", 11, "A2")
    assert values["a"].region == "eu"  # not in update_fields, not changed by a trigger
    assert (objs[1].note, objs[1].qty) == ("was A", 11)


@pytest.mark.parametrize("extra", [[], ["qty"]], ids=["in-batch", "twice"])
def test_duplicates_within_the_batch_behave_as_in_django(
    using: str, recorder: Recorder, extra: list[str]
) -> None:
    """A key twice in one batch: the database's outcome or refusal, with triggers or without."""
    seed()
    rows = [("d", "us", "1", "D1", 1), ("d", "us", "2", "D2", 2), ("a", "x", "1", "A2", 3)]
    rows += [("a", "x", "2", "A3", 4)] if extra else []
    options = conflict_options(using, ["sku"])

    def call(model: type[models.Model], objs: list[Any]) -> Any:
        try:
            with transaction.atomic(using=using):
                return model.objects.bulk_create(objs, **options)
        except Exception as exc:
            return [model(name=f"{type(exc).__name__}: {exc}") for _ in objs]

    compare(call, rows)
    refused = UpsertPlain.objects.filter(sku="d").count() == 0
    if refused:  # PostgreSQL: "ON CONFLICT DO UPDATE command cannot affect row a second time"
        assert recorder.calls == []
        return
    assert recorder.column("after", "create", "sku") == ["d"]
    assert recorder.column("after", "update", "name") == ["D2", "A2", *(["A3"] if extra else [])]
    assert recorder.column("after", "update", "name", side="old") == [
        "D1",
        "A",
        *(["A2"] if extra else []),
    ]


def test_ignore_conflicts_fires_create_for_inserted_rows_only(
    using: str, recorder: Recorder
) -> None:
    """Rows skipped on a conflict (stored or earlier in the batch) fire nothing."""
    seed()
    rows = [
        ("a", "xx", "9", "skipped by sku", 0),
        ("n1", "us", "1", "N1", 0),
        ("zz", "eu", "2", "skipped by region/code", 0),
        ("n1", "us", "5", "skipped: repeats n1", 0),
        ("n2", "us", "2", "N2", 0),
    ]
    compare(lambda model, objs: model.objects.bulk_create(objs, ignore_conflicts=True), rows)
    for stage in ("before", "after"):
        assert recorder.column(stage, "create", "name") == ["N1", "N2"]
    assert recorder.column("after", "create", "pk") == [None, None]  # Django sets none
    assert not recorder.of("before", "update")


REFUSED: dict[str, dict[str, Any]] = {
    "both": {"ignore_conflicts": True, "update_conflicts": True, "update_fields": ["name"]},
    "no-update-fields": {"update_conflicts": True, "unique_fields": ["sku"]},
    "pk-in-update-fields": {
        "update_conflicts": True,
        "unique_fields": ["sku"],
        "update_fields": ["id"],
    },
    "not-unique": {"update_conflicts": True, "unique_fields": ["name"], "update_fields": ["qty"]},
    "unknown-field": {
        "update_conflicts": True,
        "unique_fields": ["nope"],
        "update_fields": ["qty"],
    },
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_refusals_are_djangos_and_come_before_any_trigger(
    using: str, recorder: Recorder, case: str
) -> None:
    """Whatever Django or the database refuses is refused alike, before any trigger runs."""
    seed()
    raised = []
    for model in (UpsertPlain, UpsertItem):
        with pytest.raises(Exception) as info, transaction.atomic(using=using):
            model.objects.bulk_create(build(model, [("a", "x", "9", "A2", 1)]), **REFUSED[case])
        message = str(info.value).replace("upsertplain", "upsertitem")
        raised.append((type(info.value), message.replace("UpsertPlain", "UpsertItem")))
    if case == "not-unique" and raised[0][0] is ValueError:
        pytest.fail(f"Django accepted {case}")
    if raised[1] != raised[0]:
        assert case == "not-unique" and raised[1][0] is ValueError, raised  # our own, clearer
    assert recorder.calls == []
    assert stored(UpsertItem) == stored(UpsertPlain)


@pytest.mark.parametrize(
    ("conflicts", "events"),
    [("update", []), ("ignore", []), ("ignore", ["update", "delete"])],
    ids=["update-no-trigger", "ignore-no-trigger", "ignore-with-update-trigger"],
)
def test_no_trigger_costs_what_django_costs(using: str, conflicts: str, events: list[str]) -> None:
    """With no trigger for the events the call fires, it runs Django's own queries, no more."""
    seed()
    options = (
        conflict_options(using, ["sku"]) if conflicts == "update" else {"ignore_conflicts": True}
    )
    rows = [("n", "us", "1", "N", 5), ("a", "xx", "9", "A2", 10)]
    counts = []
    with registry.isolated():
        if events:
            record(UpsertItem, events=events)
        for model in (UpsertPlain, UpsertItem):
            with CaptureQueriesContext(connections[using]) as queries:
                model.objects.bulk_create(build(model, rows), **options)
            counts.append([q["sql"].replace("upsertplain", "upsertitem") for q in queries])
    assert counts[1] == counts[0]


@pytest.mark.parametrize("size", [2, 3])
def test_queries_are_constant_per_chunk(
    using: str, recorder: Recorder, settings: Any, size: int
) -> None:
    """Each chunk of CHUNK_SIZE rows adds two queries: the locked SELECT and Django's INSERT."""
    settings.BULK_TRIGGERS = {"CHUNK_SIZE": size}
    seed()
    options = conflict_options(using, ["sku"])
    counts, locks = [], []
    for chunks in (1, 2, 3):
        rows = [(f"k{chunks}-{i}", "r", f"{chunks}-{i}", "N", i) for i in range(size * chunks)]
        rows[0] = ("a", "xx", "9", "A2", 10)
        with CaptureQueriesContext(connections[using]) as queries:
            UpsertItem.objects.bulk_create(build(UpsertItem, rows), **options)
        counts.append(len(queries))
        locks.append([q["sql"].split("(")[0] for q in queries if "LOCK" in q["sql"].upper()])
    assert counts[2] - counts[1] == counts[1] - counts[0] == 2
    reserving = {"postgresql": ["SELECT pg_advisory_xact_lock"], "mysql": ["SELECT GET_LOCK"]}
    releasing = {"mysql": ["SELECT RELEASE_LOCK"]}
    vendor = connections[using].vendor
    once = reserving.get(vendor, []) + releasing.get(vendor, [])
    assert locks == [once] * 3  # once per call, whatever the number of chunks


def test_unique_fields_on_an_index_the_model_does_not_declare_are_refused(
    using: str, recorder: Recorder
) -> None:
    """A unique index unknown to the model: ValueError before any trigger, nothing written."""
    if not connections[using].features.supports_update_conflicts_with_target:
        pytest.skip("MariaDB takes no unique_fields")
    seed()
    before = stored(UpsertItem)
    with connections[using].cursor() as cursor:  # rolled back with the test's transaction
        cursor.execute("CREATE UNIQUE INDEX upsertitem_name ON upsertsapp_upsertitem (name)")
    objs = build(UpsertItem, [("x", "us", "1", "A", 5)])
    options = {"update_conflicts": True, "unique_fields": ["name"], "update_fields": ["qty"]}
    with pytest.raises(ValueError, match=r"\['name'\] are not one of the model's unique keys"):
        UpsertItem.objects.bulk_create(objs, **options)
    assert recorder.calls == []
    assert stored(UpsertItem) == before


@pytest.mark.parametrize("stage", ["before", "after"])
@pytest.mark.parametrize("event", ["create", "update"])
def test_a_trigger_raising_rolls_everything_back(using: str, stage: str, event: str) -> None:
    """An exception in either branch, at either stage, leaves the database as it was."""
    seed()
    before = stored(UpsertItem)

    def fail(*rows: Any) -> None:
        raise RuntimeError(f"{stage} {event}")

    with registry.isolated():
        record(UpsertItem, stages=[stage], events=[event], hooks={(stage, event): fail})
        rows = [("n", "us", "1", "N", 5), ("a", "xx", "9", "A2", 10)]
        with pytest.raises(RuntimeError, match=f"{stage} {event}"):
            UpsertItem.objects.bulk_create(
                build(UpsertItem, rows), **conflict_options(using, ["sku"])
            )
    assert stored(UpsertItem) == before


def test_bypass_makes_the_call_djangos(using: str, recorder: Recorder) -> None:
    """Inside bypass(), the upsert fires nothing and stores what Django stores."""
    seed()
    with bypass(UpsertItem):
        compare(
            lambda model, objs: model.objects.bulk_create(objs, **conflict_options(using, ["sku"])),
            [("a", "xx", "9", "A2", 10)],
        )
    assert recorder.calls == []


def test_a_before_create_trigger_may_not_change_a_key(using: str) -> None:
    """Changing a unique key in before-create would void the plan: ValueError, nothing written."""
    seed()
    before = stored(UpsertItem)

    def rekey(new: list[Any]) -> None:
        for row in new:
            row.sku = "a"  # now it would update the stored row "a"

    with registry.isolated():
        record(
            UpsertItem, stages=["before"], events=["create"], hooks={("before", "create"): rekey}
        )
        with pytest.raises(ValueError, match=r"UpsertItem.*\['sku'\]"):
            UpsertItem.objects.bulk_create(
                build(UpsertItem, [("n", "us", "1", "N", 5)]), **conflict_options(using, ["sku"])
            )
    assert stored(UpsertItem) == before


def test_positional_options_are_read_as_django_reads_them(using: str, recorder: Recorder) -> None:
    """bulk_create(objs, batch_size, ignore, update, update_fields, unique_fields) positionally."""
    seed()
    unique = ["sku"] if connections[using].features.supports_update_conflicts_with_target else None
    compare(
        lambda model, objs: model.objects.bulk_create(objs, None, False, True, ["name"], unique),
        [("a", "xx", "9", "A2", 10), ("n", "us", "1", "N", 5)],
    )
    assert recorder.column("after", "update", "name") == ["A2"]
    assert recorder.column("after", "create", "name") == ["N"]


def test_abulk_create_fires_the_same_events(using: str, recorder: Recorder) -> None:
    """abulk_create() with update_conflicts splits create and update as bulk_create() does."""
    seed()
    objs = build(UpsertItem, [("a", "xx", "9", "A2", 10), ("n", "us", "1", "N", 5)])

    async def run() -> None:
        await UpsertItem.objects.abulk_create(objs, **conflict_options(using, ["sku"]))

    async_to_sync(run)()
    assert recorder.column("after", "update", "sku") == ["a"]
    assert recorder.column("after", "create", "sku") == ["n"]


def test_an_expression_in_a_key_is_refused_before_any_trigger(
    using: str, recorder: Recorder
) -> None:
    """A key computed by the database cannot be matched beforehand: NotSupportedError."""
    seed()
    objs = build(UpsertItem, [("x", "us", "1", "N", 5)])
    objs[0].sku = Upper(Value("a"))
    with pytest.raises(NotSupportedError, match=r"UpsertItem: sku is the expression"):
        UpsertItem.objects.bulk_create(objs, **conflict_options(using, ["sku"]))
    assert recorder.calls == []
