"""How ``update()`` builds ``old`` and ``new``: the fast path, its fallbacks, and their limits.

Plain models get both instances filled from the selected row (``update_rows.py``), with
the garbage collector paused (``gc_pause.py``); a model with its own ``__init__`` or
``from_db()``, or an ``init`` signal receiver, gets them from ``from_db()``. Either way
``new`` owns its mutable values; conditions are checked over a chunk at once where
they are built in (``condition_rows.py``).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from django.db import connections
from django.db.models import F
from django.db.models.signals import post_init
from django.test.utils import CaptureQueriesContext

from bulk_triggers import (
    ChangesFrom,
    ChangesTo,
    Condition,
    HasChanged,
    IsEqual,
    IsGreaterThan,
    IsNotEqual,
    WasEqual,
    bypass,
)
from bulk_triggers.condition_rows import passing
from bulk_triggers.gc_pause import paused
from bulk_triggers.key_arrays import with_keys
from bulk_triggers.rows import builds_plainly
from tests.recorder import record
from tests.upretapp.models import UpDepot, UpRow

CHUNK = 3


@pytest.fixture
def chunked(settings: Any) -> None:
    settings.BULK_TRIGGERS = {"CHUNK_SIZE": CHUNK, "PUSHDOWN": False}


@pytest.fixture(params=["plain", "from_db"])
def building(request: pytest.FixtureRequest) -> Iterator[str]:
    """Build rows the fast way, or (with a post_init receiver) through ``from_db()``."""
    if request.param == "plain":
        assert builds_plainly(UpRow)
        yield request.param
        return
    seen: list[Any] = []

    def receiver(sender: Any, instance: Any, **kwargs: Any) -> None:
        seen.append(instance)

    post_init.connect(receiver, sender=UpRow)
    try:
        assert not builds_plainly(UpRow)
        yield request.param
    finally:
        post_init.disconnect(receiver, sender=UpRow)


def _rows(n: int = 7) -> None:
    with bypass():
        UpRow.objects.bulk_create(
            UpRow(n=i, data={"i": i, "tags": ["x", [i]]}, label=f"l{i}") for i in range(n)
        )


UPDATES: dict[str, Callable[[dict[str, Any]], int]] = {
    "literal_json": lambda target: UpRow.objects.update(data=target),
    "expression": lambda target: UpRow.objects.update(n=F("n") + 1),
}


@pytest.mark.parametrize("name", UPDATES)
def test_in_place_change_of_new_json_leaves_old_and_other_rows_alone(
    using: str, chunked: None, building: str, name: str
) -> None:
    """A before trigger changing new's JSON in place is written; old, other rows, the
    update()'s own value and the after stage's old keep what they were."""
    _rows()
    target = {"k": ["v"]}

    def touch(new: list[UpRow], old: list[UpRow]) -> None:
        first = new[0]
        first.data.setdefault("tags", []).append("touched")
        first.data["k"] = first.data.get("k", [])
        first.data["k"].append(first.n)
        for row, was in zip(new, old, strict=True):
            assert row.data is not was.data

    recorder = record(
        UpRow, stages=["before", "after"], events=["update"], hooks={("before", "update"): touch}
    )
    assert UPDATES[name](target) == 7
    assert target == {"k": ["v"]}  # The caller's value is not new's.
    firsts = {call.new_objects[0].pk for call in recorder.of("after", "update")}  # type: ignore[index]
    with bypass():
        stored = {row.pk: row.data for row in UpRow.objects.all()}
    for pk, data in stored.items():
        assert ("touched" in data.get("tags", [])) == (pk in firsts)
    for call in recorder.of("after", "update"):
        for was in call.old_objects or []:
            assert "touched" not in was.data["tags"] and "k" not in was.data


def test_rows_built_by_from_db_get_the_written_values(
    using: str, chunked: None, building: str
) -> None:
    """Both ways give new the values written and old the stored ones, of every type."""
    _rows(4)
    moment = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
    recorder = record(UpRow, stages=["before"], events=["update"])
    UpRow.objects.update(n=F("n") * 10, amount=Decimal("1.255"), moment=moment, label="z")
    new = [row for call in recorder.of("before", "update") for row in call.new_objects or []]
    old = [row for call in recorder.of("before", "update") for row in call.old_objects or []]
    assert [row.n for row in new] == [0, 10, 20, 30]
    assert [row.n for row in old] == [0, 1, 2, 3]
    assert {row.amount for row in new} == {Decimal("1.26")}
    assert {row.moment for row in new} == {moment} and {row.label for row in new} == {"z"}
    assert all(row.amount is None and row.label.startswith("l") for row in old)
    assert all(not row._state.adding and row._state.db == using for row in [*new, *old])


# The conditions checked over a chunk at once give what check() gives row by row.


def _pairs() -> tuple[list[UpRow], list[UpRow]]:
    depot = UpDepot(code="a")
    old = [
        UpRow(pk=i, n=i % 3, label=f"l{i % 2}", data={"i": i % 2}, depot_id=None) for i in range(8)
    ]
    new = [
        UpRow(pk=i, n=(i * 7) % 4, label="l1", data={"i": 1}, depot=depot if i % 2 else None)
        for i in range(8)
    ]
    return new, old


CONDITIONS: list[Condition] = [
    HasChanged("n"),
    HasChanged("depot"),
    ChangesTo("n", 1),
    ChangesTo("label", "l1"),
    ChangesFrom("n", 2),
    IsEqual("n", 3),
    IsNotEqual("label", "l0"),
    WasEqual("n", 0),
    HasChanged("data"),
    HasChanged("n") & ChangesTo("label", "l1"),
    HasChanged("n") | WasEqual("label", "l0"),
    ~(IsEqual("n", 0) | ~HasChanged("label")),
    (ChangesTo("n", 1) & ~WasEqual("n", 0)) | IsEqual("depot", "a"),
]


@pytest.mark.parametrize("condition", CONDITIONS, ids=repr)
@pytest.mark.parametrize("shape", ["update", "create", "delete"])
def test_chunk_checks_agree_with_check(condition: Condition, shape: str) -> None:
    """passing() picks exactly the rows check() passes, on update, create and delete rows."""
    new, old = _pairs()
    sides: dict[str, tuple[Any, Any]] = {
        "update": (new, old),
        "create": (new, None),
        "delete": (None, old),
    }
    rows_new, rows_old = sides[shape]
    expected = [
        i
        for i in range(8)
        if condition.check(
            rows_new[i] if rows_new is not None else None,
            rows_old[i] if rows_old is not None else None,
        )
    ]
    assert passing(condition, rows_new, rows_old, 8) == expected


class _Always(HasChanged):
    def check(self, new: Any, old: Any) -> bool:
        return True


class _Custom(Condition):
    def check(self, new: Any, old: Any) -> bool:
        return True


@pytest.mark.parametrize(
    "condition",
    [
        _Always("n"),
        _Custom(),
        HasChanged("n") & _Custom(),
        HasChanged("depot__code"),
        IsGreaterThan("n", 1),
    ],
    ids=repr,
)
def test_other_conditions_are_checked_row_by_row(condition: Condition) -> None:
    """A subclass, a custom condition, a path or another kind: no chunk check (None)."""
    new, old = _pairs()
    assert passing(condition, new, old, 8) is None


def test_rows_of_several_classes_are_checked_row_by_row() -> None:
    """A chunk mixing classes (a proxy, a subclass) keeps check(), which reads each row's."""

    class Other(UpRow):
        class Meta:
            proxy = True
            app_label = "upretapp"

    new, old = _pairs()
    new[3] = Other(pk=3, n=5)
    assert passing(HasChanged("n"), new, old, 8) is None


# The collector pause and the key filter


@pytest.mark.parametrize("enabled", [True, False])
def test_collector_is_restored_as_it_was(enabled: bool) -> None:
    """paused() turns the collector off for the block only, even when the block raises."""
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        with pytest.raises(ZeroDivisionError), paused():
            assert not gc.isenabled()
            1 / 0  # noqa: B018
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_no_keys_is_no_statement(using: str) -> None:
    """An empty key list matches nothing without a statement, as pk__in=[] does."""
    _rows(2)
    with CaptureQueriesContext(connections[using]) as queries:
        assert with_keys(UpRow.objects.all(), []).update(n=1) == 0
        assert list(with_keys(UpRow.objects.all(), [])) == []
    assert not queries.captured_queries


def test_keys_filter_as_pk_in(using: str) -> None:
    """with_keys() picks the rows pk__in picks, in one statement with the keys as parameters."""
    _rows(5)
    keys = sorted(UpRow.objects.values_list("pk", flat=True))[1:4]
    with CaptureQueriesContext(connections[using]) as queries:
        assert with_keys(UpRow.objects.all(), keys).update(label="k") == 3
    assert len(queries.captured_queries) == 1
    assert sorted(UpRow.objects.filter(label="k").values_list("pk", flat=True)) == keys


@pytest.mark.parametrize("stages", [("before", "after"), ("after",)], ids=["pair", "after"])
def test_collector_is_on_while_triggers_and_conditions_run(
    using: str, chunked: None, stages: tuple[str, ...]
) -> None:
    """The pause covers reading and building a chunk only: trigger code runs with it on
    (after triggers alone: PostgreSQL's one statement per chunk)."""
    _rows(5)
    seen: list[bool] = []

    class Watching(Condition):
        def check(self, new: Any, old: Any) -> bool:
            seen.append(gc.isenabled())
            return True

    def note(new: list[UpRow], old: list[UpRow]) -> None:
        seen.append(gc.isenabled())

    record(
        UpRow,
        stages=stages,
        events=["update"],
        condition=Watching(),
        hooks={(stage, "update"): note for stage in stages},
    )
    assert gc.isenabled()
    assert UpRow.objects.update(n=F("n") + 1) == 5
    assert seen and all(seen)
    assert gc.isenabled()
