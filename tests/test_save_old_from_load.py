"""``SAVE_OLD_FROM_LOAD``: save() of a loaded row takes ``old`` from its load, no SELECT."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import DatabaseError, connections, models, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from bulk_triggers import HasChanged, Trigger, bypass
from tests.recorder import Recorder, record
from tests.saveloadapp.models import SlFields
from tests.test_writes import VALUES
from tests.testapp.models import Item, Restaurant


@pytest.fixture(params=[True, False], ids=["from_load", "exact"])
def from_load(request: pytest.FixtureRequest, settings: Any) -> bool:
    """Run the test with SAVE_OLD_FROM_LOAD on and off."""
    on: bool = request.param
    settings.BULK_TRIGGERS = {**settings.BULK_TRIGGERS, "SAVE_OLD_FROM_LOAD": on}
    return on


@pytest.fixture
def on(settings: Any) -> Iterator[None]:
    """Turn SAVE_OLD_FROM_LOAD on."""
    settings.BULK_TRIGGERS = {**settings.BULK_TRIGGERS, "SAVE_OLD_FROM_LOAD": True}
    yield


def _seed(using: str) -> Item:
    with bypass():
        Item.objects.create(name="a", amount=1, price=Decimal("2.50"), data={"k": [1]})
    return Item.objects.get(name="a")


def _recorder() -> Recorder:
    return record(Item, stages=["before", "after"], events=["update"])


def _selects(using: str, run: Callable[[], Any]) -> int:
    """Return how many SELECT statements ``run()`` sends to ``using``."""
    with CaptureQueriesContext(connections[using]) as queries:
        run()
    return sum(q["sql"].lstrip().upper().startswith("SELECT") for q in queries.captured_queries)


def _old(recorder: Recorder, name: str, stage: str = "before") -> Any:
    return recorder.of(stage, "update")[-1].column(name, "old")[0]


def test_query_count(using: str, from_load: bool) -> None:
    """With the setting, a loaded row's save reads nothing; without, one locked SELECT."""
    recorder = _recorder()
    row = _seed(using)
    row.amount = 5
    assert _selects(using, row.save) == (0 if from_load else 1)
    assert _old(recorder, "amount") == _old(recorder, "amount", "after") == 1
    assert recorder.one("after", "update").column("amount") == [5]
    assert Item.objects.get(pk=row.pk).amount == 5


def test_old_values_of_changed_fields(using: str, from_load: bool) -> None:
    """Every field of old is the loaded row, changed ones included, on either path."""
    recorder = _recorder()
    row = _seed(using)
    row.amount, row.status, row.price = 7, "shipped", Decimal("3.00")
    row.save()
    old = recorder.one("before", "update").old[0]  # type: ignore[index]
    assert (old["amount"], old["status"], old["price"], old["data"]) == (
        1,
        "new",
        Decimal("2.50"),
        {"k": [1]},
    )


def test_json_changed_in_place(using: str, on: None) -> None:
    """A JSON value changed in place differs from old: the load copied it."""
    recorder = record(Item, stages=["after"], events=["update"], condition=HasChanged("data"))
    row = _seed(using)
    row.data["k"].append(2)
    assert _selects(using, row.save) == 0
    assert _old(recorder, "data", "after") == {"k": [1]}
    row.data["k"].append(3)
    row.save()  # The saved value became the captured one: a copy again.
    assert _old(recorder, "data", "after") == {"k": [1, 2]}
    assert len(recorder.of("after", "update")) == 2


@pytest.mark.parametrize("load", ["only", "defer"])
def test_deferred_fields_read_the_row(using: str, on: None, load: str) -> None:
    """A deferred field's old is unknown: that save reads the whole row; the next one not."""
    recorder = _recorder()
    _seed(using)
    queryset = Item.objects.filter(name="a")
    row = queryset.only("amount").get() if load == "only" else queryset.defer("price").get()
    row.amount = 5
    assert _selects(using, row.save) == 1
    assert (_old(recorder, "amount"), _old(recorder, "price")) == (1, Decimal("2.50"))
    row.amount = 6
    assert _selects(using, row.save) == 0
    assert (_old(recorder, "amount"), _old(recorder, "price")) == (5, Decimal("2.50"))
    assert "price" in row.get_deferred_fields()  # Django's deferral is kept.


def test_deferred_field_loaded_later(using: str, on: None) -> None:
    """Loading a deferred field (refresh_from_db) completes the capture: no SELECT in save."""
    recorder = _recorder()
    _seed(using)
    row = Item.objects.defer("note").get(name="a")
    assert row.note == ""
    row.amount = 5
    assert _selects(using, row.save) == 0
    assert _old(recorder, "note") == "" and _old(recorder, "amount") == 1


def test_update_fields(using: str, on: None) -> None:
    """update_fields writes some fields; the others keep their stored old for the next save."""
    recorder = _recorder()
    row = _seed(using)
    row.amount, row.name = 5, "unsaved"
    assert _selects(using, lambda: row.save(update_fields=["amount"])) == 0
    assert recorder.one("before", "update").column("name") == ["a"]  # The row as stored.
    row.save(update_fields=["name"])
    assert (_old(recorder, "amount"), _old(recorder, "name")) == (5, "a")
    stored = Item.objects.get(pk=row.pk)
    assert (stored.amount, stored.name) == (5, "unsaved")


def test_second_save_sees_first(using: str, on: None) -> None:
    """After a save, the saved values are the next save's old."""
    recorder = _recorder()
    row = _seed(using)
    for amount in (5, 6, 7):
        row.amount = amount
        assert _selects(using, row.save) == 0
    assert [call.column("amount", "old") for call in recorder.of("before", "update")] == [
        [1],
        [5],
        [6],
    ]


def test_refresh_from_db(using: str, on: None) -> None:
    """refresh_from_db() refreshes the capture: whole, or the fields it is given."""
    recorder = _recorder()
    row = _seed(using)
    with bypass():
        Item.objects.filter(pk=row.pk).update(amount=40, status="x")
    row.refresh_from_db(fields=["amount"])
    row.name = "b"
    assert _selects(using, row.save) == 0
    # amount was refreshed; status was not, and is stale (the loaded value).
    assert (_old(recorder, "amount"), _old(recorder, "status")) == (40, "new")
    with bypass():
        Item.objects.filter(pk=row.pk).update(amount=50, status="y")
    row.refresh_from_db()
    row.name = "c"
    row.save()
    assert (_old(recorder, "amount"), _old(recorder, "status")) == (50, "y")


def test_stale_under_concurrent_write(using: str, from_load: bool) -> None:
    """A write between load and save: old is the loaded value with the setting (documented)."""
    recorder = _recorder()
    row = _seed(using)
    with bypass():
        Item.objects.filter(pk=row.pk).update(amount=99)  # Another writer.
    row.name = "b"
    row.save()
    assert _old(recorder, "amount") == (1 if from_load else 99)


def test_stale_after_bulk_update_of_the_instance(using: str, on: None) -> None:
    """bulk_update() does not refresh the kept values: the next save's old is the load."""
    recorder = _recorder()
    row = _seed(using)
    row.amount = 5
    Item.objects.bulk_update([row], ["amount"])
    row.amount = 6
    row.save()
    assert _old(recorder, "amount") == 1  # As documented; the stored value was 5.


def test_select_for_update_load_is_exact(using: str, on: None) -> None:
    """A row loaded with select_for_update() in the save's transaction gives the exact old."""
    recorder = _recorder()
    _seed(using)
    with transaction.atomic(using=using):
        row = Item.objects.select_for_update().get(name="a")
        row.amount = 5
        assert _selects(using, row.save) == 0
    assert _old(recorder, "amount") == 1


def test_created_then_saved(using: str, on: None) -> None:
    """create() keeps no capture: the first update reads the row, later ones do not."""
    recorder = _recorder()
    row = Item.objects.create(name="a", amount=1)
    row.amount = 2
    assert _selects(using, row.save) == 1
    row.amount = 3
    assert _selects(using, row.save) == 0
    assert [c.column("amount", "old") for c in recorder.of("before", "update")] == [[1], [2]]


def test_hand_built_instance_reads_the_row(using: str, on: None) -> None:
    """An instance built with a primary key, or whose primary key changed, reads the row."""
    recorder = _recorder()
    row = _seed(using)
    built = Item(pk=row.pk, name="built", amount=3, price=Decimal("2.50"))
    assert _selects(using, built.save) == 1
    assert _old(recorder, "name") == "a"
    with bypass():
        other = Item.objects.create(name="other", amount=8)
    row.pk = other.pk
    row.amount = 9
    assert _selects(using, row.save) == 1
    assert _old(recorder, "name") == "other"


@pytest.mark.parametrize(
    ("value", "stored", "selects"),
    [
        (F("amount") + 1, 2, 0),  # An expression: read back after the write, then kept.
        ("7", 7, 1),  # A string the database converts: not kept, read by the next save.
    ],
    ids=["expression", "converted"],
)
def test_computed_and_converted_values(
    using: str, on: None, value: Any, stored: int, selects: int
) -> None:
    """A saved value the database computes is kept as read back; a converted one is read."""
    recorder = _recorder()
    row = _seed(using)
    row.amount = value
    row.save()
    row.amount = 10
    assert _selects(using, row.save) == selects
    assert _old(recorder, "amount") == stored


def test_rounded_decimal_is_read_next_time(using: str, on: None) -> None:
    """A decimal with more places than the column is rounded by the database: read back."""
    recorder = _recorder()
    row = _seed(using)
    row.price = Decimal("1.234")
    row.save()
    row.name = "b"
    assert _selects(using, row.save) == 1
    assert _old(recorder, "price") == Decimal("1.23")


def test_choices_enum_is_kept(using: str, on: None) -> None:
    """A choices enum member is stored as its value, which old then holds."""
    recorder = _recorder()

    class Status(models.TextChoices):
        SHIPPED = "shipped"

    row = _seed(using)
    row.status = Status.SHIPPED
    row.save()
    row.name = "b"
    assert _selects(using, row.save) == 0
    assert _old(recorder, "status") == "shipped"
    assert type(_old(recorder, "status")) is str


def test_failed_save_drops_capture(using: str, on: None) -> None:
    """A save whose trigger raises rolls back and leaves no capture: the next save reads."""
    calls: list[int] = []

    class Refuse(Trigger[Item]):
        def on_after_update(self, new: list[Item], old: list[Item]) -> None:
            calls.append(old[0].amount)
            if new[0].amount == 5:
                raise ValueError("no")

    row = _seed(using)
    row.amount = 5
    with pytest.raises(ValueError, match="no"):
        row.save()
    row.amount = 6
    assert _selects(using, row.save) == 1
    assert calls == [1, 1]


def test_save_without_triggers_drops_capture(using: str, on: None) -> None:
    """A save under bypass() (no trigger runs) leaves no capture: the next save reads."""
    recorder = _recorder()
    row = _seed(using)
    row.amount = 5
    with bypass():
        row.save()
    row.amount = 6
    assert _selects(using, row.save) == 1
    assert _old(recorder, "amount") == 5


def test_mti_child(using: str, on: None) -> None:
    """A multi-table child keeps parent and child values: both tables written, no SELECT."""
    recorder = record(Restaurant, stages=["before"], events=["update"])
    with bypass():
        Restaurant.objects.create(name="r", seats=4)
    row = Restaurant.objects.get(name="r")
    row.name, row.seats = "s", 5
    assert _selects(using, row.save) == 0
    old = recorder.one("before", "update").old[0]  # type: ignore[index]
    assert (old["name"], old["seats"]) == ("r", 4)
    stored = Restaurant.objects.get(pk=row.pk)
    assert (stored.name, stored.seats) == ("s", 5)


def test_row_deleted_meanwhile_is_inserted(using: str, on: None) -> None:
    """A row deleted after load is inserted again by Django; update triggers see the load."""
    recorder = _recorder()
    row = _seed(using)
    with bypass():
        Item.objects.filter(pk=row.pk).delete()
    row.amount = 5
    assert row.save() is None
    assert Item.objects.get(pk=row.pk).amount == 5
    assert _old(recorder, "amount", "after") == 1


def test_django_refusals_unchanged(using: str, on: None) -> None:
    """force_update of a deleted row and an unknown update_fields fail as in Django."""
    _recorder()
    row = _seed(using)
    with pytest.raises(ValueError, match="nope"):
        row.save(update_fields=["nope"])
    with bypass():
        Item.objects.filter(pk=row.pk).delete()
    with pytest.raises(DatabaseError, match="Forced update did not affect any rows"):
        row.save(force_update=True)
    assert not Item.objects.filter(pk=row.pk).exists()


def test_off_keeps_nothing(using: str, from_load: bool) -> None:
    """Only with the setting does a loaded instance hold its load's values."""
    row = _seed(using)
    assert ("bulk_triggers_loaded" in row._state.__dict__) is from_load


def test_bad_value_names_the_setting(settings: Any) -> None:
    """A value that is not a bool is refused naming the setting."""
    from django.core.exceptions import ImproperlyConfigured

    from bulk_triggers import conf

    settings.BULK_TRIGGERS = {"SAVE_OLD_FROM_LOAD": "yes"}
    with pytest.raises(ImproperlyConfigured, match="SAVE_OLD_FROM_LOAD"):
        conf.flag("SAVE_OLD_FROM_LOAD")


@pytest.mark.django_db(transaction=True)
async def test_asave(using: str, on: None) -> None:
    """asave() of an aget() row takes old from the load, and later saves see earlier ones."""
    recorder = _recorder()
    try:
        await sync_to_async(_seed)(using)
        row = await Item.objects.aget(name="a")
        for amount in (5, 6):
            row.amount = amount
            await row.asave()
        assert [c.column("amount", "old") for c in recorder.of("after", "update")] == [[1], [5]]
        assert (await Item.objects.aget(pk=row.pk)).amount == 6
    finally:
        await sync_to_async(connections.close_all)()


# Values the database or the field store otherwise than Python holds them.
_NORMALISED: dict[str, list[Any]] = {
    "ip": ["2001:0DB8:0000::0001"],
    "packed": [["a,b"]],  # The custom field stores "a,b", loaded back as ["a", "b"].
    "data": [{"t": (1, 2)}, {1: "int key"}],
    "moment": [datetime.datetime(2024, 3, 1, 12, 30)],  # Naive: stored as UTC.
}


def _comparable(value: Any) -> Any:
    return bytes(value) if isinstance(value, memoryview) else value


@pytest.mark.filterwarnings("ignore:DateTimeField .* received a naive datetime")
@pytest.mark.parametrize("field", sorted(VALUES))
def test_kept_values_are_the_stored_ones(using: str, on: None, field: str) -> None:
    """After saving any value of any field type, the next old is what a fresh load gives."""
    olds: list[SlFields] = []

    class Keep(Trigger[SlFields]):
        def on_before_update(self, new: list[SlFields], old: list[SlFields]) -> None:
            olds.extend(old)

    with bypass():
        row = SlFields.objects.create()
    row = SlFields.objects.get(pk=row.pk)
    names = [f.attname for f in SlFields._meta.concrete_fields]
    selects = []
    for value in [*VALUES[field], None, *VALUES[field], *_NORMALISED.get(field, [])]:
        setattr(row, field, value)
        row.save()
        stored = SlFields.objects.get(pk=row.pk)
        # Its old must be ``stored``, whether it was kept or read (one SELECT reads the
        # generated column back after the write, a second one would be the locked read).
        selects.append(_selects(using, row.save))
        assert [_comparable(getattr(olds[-1], n)) for n in names] == [
            _comparable(getattr(stored, n)) for n in names
        ], f"{field} = {value!r}"
    assert min(selects) == 1, "the kept values were never used"


def test_mixin_from_db_keeps_old_rows_fast() -> None:
    """The mixin's from_db() leaves old rows to the direct builder; a model's own does not."""
    from bulk_triggers.rows import builds_plainly
    from tests.shapesapp.models import ShFromDbOrder

    assert builds_plainly(Item)
    assert not builds_plainly(ShFromDbOrder)
