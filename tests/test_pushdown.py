"""Condition pushdown: an update() loads only the rows some trigger's condition may pass.

Each case runs the same ``update()`` on ``PushTicket`` (with a trigger) and, with plain
Django, on ``PushTwin`` holding the same rows. The oracle is the condition's own
``check()``, run in Python on the stored rows and the planned new values: the trigger
must fire for exactly those rows, and (when the condition compiles to SQL) only those
rows may be loaded.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import DatabaseError, connections, models, transaction
from django.db.models import F, Q, Value
from django.db.models.lookups import GreaterThan
from django.db.models.signals import post_init

from bulk_triggers import (
    ChangesFrom,
    ChangesTo,
    Condition,
    HasChanged,
    IsEqual,
    IsNotEqual,
    Trigger,
    WasEqual,
    pushdown_write,
)
from bulk_triggers.pushdown import Planned, Pushdown
from bulk_triggers.pushdown_write import passing_keys
from tests.pushdownapp.models import PushOwner, PushTicket, PushTwin
from tests.routers import routed_to

# "X", "x " and "é"-ish values: MySQL's collations call some of them equal to "x".
STATUSES = ["x", "X", "x ", "y", None, "xé"]
COLUMNS = ("status", "label", "priority", "flag", "owner_id")


@pytest.fixture(autouse=True)
def _always_split(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the split itself: keep it at any share of passing rows.

    The share from which it is not split is tested in ``test_pushdown_adaptive.py``.
    """
    for shares in (
        pushdown_write.UPDATE_SPLIT_SHARE,
        pushdown_write.DELETE_SPLIT_SHARE,
        pushdown_write.DELETE_BEFORE_SPLIT_SHARE,
    ):
        for vendor in shares:
            monkeypatch.setitem(shares, vendor, 2.0)


def _seed() -> None:
    owners = [PushOwner.objects.create(status="active"), PushOwner.objects.create(status="gone")]
    for model in (PushTicket, PushTwin):
        model.objects.bulk_create(
            model(
                status=STATUSES[i % 6],
                label="b" if i % 7 == 0 else "a",
                priority=[None, 3, 5][(i // 6) % 3],
                flag=[None, True, False][(i // 2) % 3],
                owner=None if i % 4 == 3 else owners[i % 2],
            )
            for i in range(36)
        )


def _table(model: type[models.Model]) -> list[tuple[Any, ...]]:
    return list(model._base_manager.order_by("pk").values_list(*COLUMNS))


@pytest.fixture
def loaded() -> Iterator[list[Any]]:
    """Collect the key of every PushTicket instance the library builds from a loaded row."""
    seen: list[Any] = []

    def built(sender: Any, instance: models.Model, **kwargs: Any) -> None:
        if instance.pk is not None:
            seen.append(instance.pk)

    post_init.connect(built, sender=PushTicket)
    yield seen
    post_init.disconnect(built, sender=PushTicket)


def _expected(condition: Condition, values: dict[str, Any]) -> set[Any]:
    """Return the keys of the filtered rows that ``condition`` passes, by its check()."""
    passing = set()
    for old in PushTicket._base_manager.filter(label="a"):
        new = copy.copy(old)
        for name, value in values.items():
            setattr(new, name, value)
        if condition.check(new, old):
            passing.add(old.pk)
    return passing


def _trigger(condition: Condition | None) -> list[Any]:
    """Define a trigger on PushTicket with ``condition``; return the keys it receives."""
    fired: list[Any] = []

    class Watch(Trigger[PushTicket]):
        def on_before_update(self, new: list[PushTicket], old: list[PushTicket]) -> None:
            fired.extend(row.pk for row in new)

        def on_after_update(self, new: list[PushTicket], old: list[PushTicket]) -> None:
            assert {row.pk for row in new} <= set(fired)

    Watch.condition = condition
    return fired


def _run(values: dict[str, Any], loaded: list[Any]) -> set[Any]:
    """Update both tables; check the tables and counts agree; return the loaded keys."""
    twin_count = PushTwin.objects.filter(label="a").update(**values)
    loaded.clear()
    count = PushTicket.objects.filter(label="a").update(**values)
    assert count == twin_count
    assert _table(PushTicket) == _table(PushTwin)
    return set(loaded)


class Opaque(Condition):
    """A custom condition with no SQL form: the new status is not "y"."""

    def check(self, new: Any, old: Any) -> bool:
        return new is not None and new.status != "y"

    def field_names(self) -> tuple[str, ...]:
        return ("status",)


EXACT = [
    (ChangesTo("status", "x"), {"status": "x"}),
    (ChangesTo("status", "x"), {"status": "y"}),
    (ChangesTo("status", "x"), {"label": "z"}),
    (ChangesTo("status", None), {"status": None}),
    (HasChanged("status"), {"status": "x"}),
    (HasChanged("status"), {"status": None}),
    (HasChanged("label"), {"status": "x"}),
    (HasChanged("priority"), {"priority": 3}),
    (ChangesFrom("status", "x"), {"status": "y"}),
    (ChangesFrom("status", None), {"status": "y"}),
    (ChangesFrom("status", "x"), {"status": "x"}),
    (IsEqual("status", "x"), {"label": "z"}),
    (IsEqual("status", None), {"priority": 1}),
    (IsEqual("flag", True), {"label": "z"}),
    (IsEqual("flag", False), {"label": "z"}),
    (IsNotEqual("status", "x"), {"label": "z"}),
    (~IsEqual("flag", True), {"label": "z"}),
    (WasEqual("status", "x"), {"status": "x"}),  # Rows written to "x" must not re-match.
    (WasEqual("priority", 3), {"priority": 5}),
    (WasEqual("priority", None), {"priority": 5}),
    (ChangesTo("status", "x") | WasEqual("priority", 3), {"status": "x"}),
    (ChangesTo("status", "x") & WasEqual("flag", True), {"status": "x"}),
    (~(WasEqual("status", "x") & IsEqual("flag", True)), {"status": "y"}),
    (~HasChanged("status") | IsEqual("priority", 5), {"status": "x"}),
]


@pytest.mark.parametrize(("condition", "values"), EXACT, ids=[repr(c) for c, _ in EXACT])
def test_exact_conditions_load_only_passing_rows(
    using: str, loaded: list[Any], condition: Condition, values: dict[str, Any]
) -> None:
    _seed()
    expected = _expected(condition, values)
    fired = _trigger(condition)
    keys = _run(values, loaded)
    assert sorted(fired) == sorted(expected)
    assert keys == expected
    assert len(loaded) == 2 * len(expected)  # One old and one new instance per row.


def test_foreign_key_condition_compares_by_key(using: str, loaded: list[Any]) -> None:
    _seed()
    owner = PushOwner.objects.order_by("pk").first()
    condition = WasEqual("owner", owner) & ChangesTo("status", "y")
    expected = _expected(condition, {"status": "y"})
    fired = _trigger(condition)
    assert _run({"status": "y"}, loaded) == expected == set(fired)
    assert expected


def test_a_superset_still_fires_by_the_python_check(using: str, loaded: list[Any]) -> None:
    _seed()
    condition = ChangesTo("status", "x") & Opaque()
    expected = _expected(condition, {"status": "x"})
    sql_part = _expected(ChangesTo("status", "x"), {"status": "x"})
    fired = _trigger(condition)
    keys = _run({"status": "x"}, loaded)
    assert sorted(fired) == sorted(expected)
    assert keys == sql_part


def test_several_triggers_load_the_union(using: str, loaded: list[Any]) -> None:
    _seed()
    first, second = ChangesTo("status", "x"), WasEqual("priority", 5)
    expected_first = _expected(first, {"status": "x"})
    expected_second = _expected(second, {"status": "x"})
    fired_first, fired_second = _trigger(first), _trigger(second)
    keys = _run({"status": "x"}, loaded)
    assert set(fired_first) == expected_first
    assert set(fired_second) == expected_second
    assert keys == set(fired_first) | set(fired_second)


ALL_LOADED = [
    ("no condition", None, {"status": "x"}),
    ("custom condition", Opaque(), {"status": "x"}),
    ("or with custom", ChangesTo("status", "x") | Opaque(), {"status": "x"}),
    ("not of a superset", ~(ChangesTo("status", "x") & Opaque()), {"status": "x"}),
    ("expression target", ChangesTo("status", "x"), {"status": Value("x")}),
    ("column target", HasChanged("status"), {"status": F("label")}),
    ("related path", IsEqual("owner__status", "active"), {"status": "x"}),
    ("every row passes", IsEqual("status", "x"), {"status": "x"}),
    ("integer as text", IsEqual("status", 3), {"label": "z"}),
]


@pytest.mark.parametrize(
    ("condition", "values"), [c[1:] for c in ALL_LOADED], ids=[c[0] for c in ALL_LOADED]
)
def test_conditions_without_sql_form_load_every_row(
    using: str, loaded: list[Any], condition: Condition | None, values: dict[str, Any]
) -> None:
    _seed()
    every = set(PushTicket._base_manager.filter(label="a").values_list("pk", flat=True))
    literal = not any(hasattr(v, "resolve_expression") for v in values.values())
    expected = _expected(condition, values) if condition is not None and literal else None
    fired = _trigger(condition)
    assert _run(values, loaded) == every
    if expected is not None:
        assert set(fired) == expected


def test_one_trigger_without_form_disables_pushdown(using: str, loaded: list[Any]) -> None:
    _seed()
    _trigger(ChangesTo("status", "x"))
    _trigger(None)
    assert len(_run({"status": "x"}, loaded)) == PushTicket.objects.filter(label="a").count()


def test_chunks_of_passing_rows(using: str, loaded: list[Any], settings: Any) -> None:
    settings.BULK_TRIGGERS = {"CHUNK_SIZE": 2}
    _seed()
    calls: list[int] = []

    class Chunked(Trigger[PushTicket]):
        condition = WasEqual("status", "x")

        def on_before_update(self, new: list[PushTicket], old: list[PushTicket]) -> None:
            calls.append(len(new))
            for row in new:
                row.label = "a"  # Written too: the row is written once, by this path.
                row.priority = 99

    expected = _expected(Chunked.condition, {"status": "x"})
    twin = PushTwin.objects.filter(label="a").update(status="x")
    loaded.clear()
    assert PushTicket.objects.filter(label="a").update(status="x") == twin
    assert sum(calls) == len(expected) and max(calls) <= 2
    assert set(loaded) == expected
    priorities = set(PushTicket.objects.filter(priority=99).values_list("pk", flat=True))
    assert priorities == expected


def test_a_before_trigger_change_survives(using: str, loaded: list[Any]) -> None:
    """A passing row changed by a before trigger is not overwritten by the plain write."""
    _seed()

    class Rename(Trigger[PushTicket]):
        condition = HasChanged("status")

        def on_before_update(self, new: list[PushTicket], old: list[PushTicket]) -> None:
            for row in new:
                row.status = "renamed"

    expected = _expected(Rename.condition, {"status": "x"})
    loaded.clear()
    PushTicket.objects.filter(label="a").update(status="x")
    renamed = set(PushTicket.objects.filter(status="renamed").values_list("pk", flat=True))
    assert renamed == expected
    assert set(loaded) == expected


def test_custom_condition_with_a_sql_form(using: str, loaded: list[Any]) -> None:
    _seed()

    class HighPriority(Condition):
        """Stored priority above 4: a custom condition with its own SQL form."""

        def check(self, new: Any, old: Any) -> bool:
            return old is not None and old.priority is not None and old.priority > 4

        def field_names(self) -> tuple[str, ...]:
            return ("priority",)

        def pushdown(self, planned: Planned) -> Pushdown | None:
            # An expression, which SQL evaluates to NULL on a NULL priority: those rows
            # pass neither filter as written, and must still be written by Django's.
            return Pushdown(Q(GreaterThan(F("priority"), 4)), exact=False)

    expected = _expected(HighPriority(), {"status": "x"})
    fired = _trigger(HighPriority())
    keys = _run({"status": "x"}, loaded)
    assert keys == set(fired) == expected
    assert keys
    assert PushTwin.objects.filter(priority__isnull=True, label="a").exists()


def test_no_row_passes_writes_plainly(using: str, loaded: list[Any]) -> None:
    _seed()
    fired = _trigger(ChangesTo("status", "x"))
    assert _run({"status": "y"}, loaded) == set()
    assert fired == []


def _probe(alias: str, pk: Any) -> str | None:
    """Try to lock one row from another connection without waiting; the error, or None."""
    outcome: list[str | None] = []

    def run() -> None:
        try:
            with routed_to(alias), transaction.atomic(using=alias):
                list(PushTicket.objects.select_for_update(nowait=True).filter(pk=pk))
            outcome.append(None)
        except DatabaseError as exc:
            outcome.append(f"{type(exc).__name__}: {exc}")
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=60)
    return outcome[0] if outcome else "no answer"


@pytest.mark.django_db(transaction=True)
def test_the_key_select_locks_every_row_of_the_filter(using: str) -> None:
    """Rows that do not pass are locked too, before any write, as Django's UPDATE locks them.

    Else a concurrent writer could move one into the pass filter between the key SELECT
    and Django's UPDATE … AND NOT P, and neither statement would write it.
    """
    if connections[using].vendor == "sqlite":
        pytest.skip("SQLite has one writer at a time, no row locks")
    _seed()
    rows = PushTicket.objects.filter(label="a").order_by("pk")
    passing = rows.exclude(status="y").first()
    failing = rows.filter(status="y").first()
    assert passing is not None and failing is not None
    planned = Planned(PushTicket, "update", connections[using].vendor, {"status": "y"})
    form = ChangesTo("status", "y").pushdown(planned)
    assert form is not None
    with transaction.atomic(using=using):
        keys = passing_keys(rows.order_by(), form.q, using, no_key=True)
        assert passing.pk in keys and failing.pk not in keys
        assert _probe(using, failing.pk) is not None  # Locked although it does not pass.
    assert _probe(using, failing.pk) is None


def test_pushdown_off_loads_every_row(using: str, loaded: list[Any], settings: Any) -> None:
    """``PUSHDOWN: False`` keeps every row on the triggered path, the trigger unchanged."""
    settings.BULK_TRIGGERS = {"PUSHDOWN": False}
    _seed()
    every = set(PushTicket._base_manager.filter(label="a").values_list("pk", flat=True))
    expected = _expected(ChangesTo("status", "x"), {"status": "x"})
    fired = _trigger(ChangesTo("status", "x"))
    assert _run({"status": "x"}, loaded) == every != expected
    assert set(fired) == expected
