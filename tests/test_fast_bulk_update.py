"""bulk_update() through the fast write: with triggers, and opted in without them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import connections, models, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from pytest_django.fixtures import Settings as SettingsWrapper

from bulk_triggers import bypass, conf
from tests.perfapp.models import PerfTriggered
from tests.recorder import record

Make = Callable[[], list[PerfTriggered]]


def _stored() -> list[tuple[Any, ...]]:
    return list(PerfTriggered.objects.order_by("pk").values_list("pk", "amount", "label"))


def _loaded(count: int = 5) -> list[PerfTriggered]:
    with bypass():
        PerfTriggered.objects.bulk_create(PerfTriggered(label=f"l{n}") for n in range(count))
    return list(PerfTriggered.objects.order_by("pk"))


def _changed(shift: int = 10) -> Make:
    def make() -> list[PerfTriggered]:
        objs = list(PerfTriggered.objects.order_by("pk"))
        for obj in objs:
            obj.amount = obj.pk * shift
            obj.label = f"new{obj.pk}"
        return objs

    return make


def _duplicated() -> list[PerfTriggered]:
    """Return the same rows several times, with different values, across batches of two."""
    first, second, third = (_changed(shift)() for shift in (10, 20, 30))
    return [first[0], first[1], second[0], first[2], third[0], second[2], third[1]]


def _djangos(using: str, make: Make, batch_size: int | None) -> tuple[int, list[Any]]:
    """Return what plain Django's bulk_update() returns and stores, then roll it back."""
    with transaction.atomic(using=using):
        count = models.QuerySet(PerfTriggered).bulk_update(make(), ["amount", "label"], batch_size)
        rows = _stored()
        transaction.set_rollback(True, using=using)
    return count, rows


def _updates(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]


def _selects(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]


def _fast(settings: SettingsWrapper, value: bool | None = True) -> None:
    configured = {k: v for k, v in settings.BULK_TRIGGERS.items() if k != "FAST_BULK_UPDATE"}
    if value is not None:
        configured["FAST_BULK_UPDATE"] = value
    settings.BULK_TRIGGERS = configured


@pytest.mark.parametrize("value", [None, False])
def test_by_default_no_trigger_keeps_djangos_bulk_update(
    using: str, settings: SettingsWrapper, value: bool | None
) -> None:
    """FAST_BULK_UPDATE unset or False: a model without triggers issues Django's statements."""
    settings.DEBUG = True  # the flag does not follow DEBUG
    _fast(settings, value)
    _loaded()
    objs, again = _changed()(), _changed(20)()
    with CaptureQueriesContext(connections[using]) as ours:
        PerfTriggered.objects.bulk_update(objs, ["amount", "label"])
    with CaptureQueriesContext(connections[using]) as django:
        models.QuerySet(PerfTriggered).bulk_update(again, ["amount", "label"])
    assert len(ours) == len(django)
    assert all("CASE" in sql for sql in _updates(ours))


@pytest.mark.parametrize("batch_size", [None, 2])
@pytest.mark.parametrize("triggered", [False, True], ids=["opted_in", "triggered"])
def test_one_joined_update_per_batch(
    using: str, settings: SettingsWrapper, triggered: bool, batch_size: int | None
) -> None:
    """One UPDATE per batch, without CASE; triggers add one SELECT per chunk and see new."""
    _fast(settings, not triggered)
    recorder = record(PerfTriggered) if triggered else None
    _loaded()
    expected = _djangos(using, _changed(), batch_size)
    objs = _changed()()
    with CaptureQueriesContext(connections[using]) as queries:
        written = PerfTriggered.objects.bulk_update(objs, ["amount", "label"], batch_size)
    assert (written, _stored()) == expected
    assert len(_updates(queries)) == (3 if batch_size else 1)
    assert not any("CASE" in sql for sql in _updates(queries))
    assert len(_selects(queries)) == (1 if triggered else 0)
    if recorder:
        [after] = recorder.of("after", "update")
        assert after.column("amount") == [row[1] for row in expected[1]]


@pytest.mark.parametrize("triggered", [False, True], ids=["opted_in", "triggered"])
def test_duplicates_resolve_and_count_as_django(
    using: str, settings: SettingsWrapper, triggered: bool
) -> None:
    """Duplicates within and across batches: Django's winners and Django's count."""
    _fast(settings, not triggered)
    if triggered:
        record(PerfTriggered)
    _loaded(3)
    expected = _djangos(using, _duplicated, 2)
    objs = _duplicated()
    with CaptureQueriesContext(connections[using]) as queries:
        written = PerfTriggered.objects.bulk_update(objs, ["amount", "label"], 2)
    assert (written, _stored()) == expected
    assert not any("CASE" in sql for sql in _updates(queries))


@pytest.mark.parametrize("triggered", [False, True], ids=["opted_in", "triggered"])
def test_an_expression_value_takes_djangos_path(
    using: str, settings: SettingsWrapper, triggered: bool
) -> None:
    """An F() value is written by Django's CASE statement, with the same result."""
    _fast(settings, not triggered)
    if triggered:
        record(PerfTriggered)
    objs = _loaded(3)
    for obj in objs:
        obj.amount = F("amount") + obj.pk  # type: ignore[assignment]
    with CaptureQueriesContext(connections[using]) as queries:
        assert PerfTriggered.objects.bulk_update(objs, ["amount"]) == 3
    assert all("CASE" in sql for sql in _updates(queries))
    assert [row[1] for row in _stored()] == [obj.pk for obj in objs]


def test_opted_in_refusals_are_djangos(using: str, settings: SettingsWrapper) -> None:
    """With FAST_BULK_UPDATE, what Django refuses is refused with Django's own exception."""
    _fast(settings)
    objs = _loaded(1)
    with pytest.raises(ValueError, match="Field names must be given"):
        PerfTriggered.objects.bulk_update(objs, [])
    with pytest.raises(ValueError, match="primary key set"):
        PerfTriggered.objects.bulk_update([PerfTriggered()], ["amount"])
    with pytest.raises(ValueError, match="Batch size must be a positive integer"):
        PerfTriggered.objects.bulk_update(objs, ["amount"], batch_size=0)
    with pytest.raises(FieldDoesNotExist):
        PerfTriggered.objects.bulk_update(objs, ["nope"])
    assert PerfTriggered.objects.bulk_update([], ["amount"]) == 0


def test_opted_in_filtered_queryset_writes_only_its_rows(
    using: str, settings: SettingsWrapper
) -> None:
    """A filtered queryset's bulk_update() writes only the rows it selects, as Django's."""
    _fast(settings)
    objs = _loaded(3)
    for obj in objs:
        obj.amount = 5
    assert PerfTriggered.objects.filter(label="l1").bulk_update(objs, ["amount"]) == 1
    assert [row[1] for row in _stored()] == [0, 5, 0]


def test_fast_bulk_update_setting_is_a_boolean(settings: SettingsWrapper) -> None:
    """FAST_BULK_UPDATE defaults to False whatever DEBUG is; a non-boolean is refused."""
    settings.DEBUG = True
    _fast(settings, None)
    assert conf.flag("FAST_BULK_UPDATE") is False
    _fast(settings, "yes")  # type: ignore[arg-type]
    with pytest.raises(ImproperlyConfigured, match="FAST_BULK_UPDATE"):
        conf.flag("FAST_BULK_UPDATE")
