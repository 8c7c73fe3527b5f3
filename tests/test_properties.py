"""Property-based: what the commit stage reports, replayed, is exactly what was committed.

Hypothesis writes random programs of writes to ``Account``: every ORM write path, nested
``transaction.atomic`` blocks that commit or roll back, injected exceptions in the
before or after stage of a chosen chunk, and writes the database itself refuses (a
duplicate ``name``, a ``balance`` below the floor). A trigger's commit-stage methods
record every create, update and delete they receive, tagged with the operation that
produced them. After each top-level step:

- replaying the record onto an empty dict gives the table, row for row;
- each update's ``old`` is what the replay held for that row, and no create or delete
  is reported twice;
- every recorded change belongs to an operation that committed: none from an operation
  that raised or from a block that rolled back.

Examples: 30 on SQLite and 10 on PostgreSQL and MariaDB by default;
``BULK_TRIGGERS_HYPOTHESIS_EXAMPLES`` sets the count for every database (CI sets it
higher). Run with ``-s`` to see how many examples and operations ran per database.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import IntegrityError, connections, transaction
from django.db.models import F, QuerySet
from django.test import override_settings
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bulk_triggers import IsEqual, Trigger
from bulk_triggers.registry import registry
from tests.testapp.models import Account

pytestmark = pytest.mark.django_db(transaction=True)

DEFAULT_EXAMPLES = {"sqlite": 30, "postgresql": 10, "mysql": 10}
# Chunks of three rows, so that bulk writes run several chunks and faults can hit the second.
SMALL_CHUNKS = {"MAX_DEPTH": 16, "CHUNK_SIZE": 3}
NAMES = ("ann", "bob", "cy", "dee", "eve", "fay")  # few, so that names collide
FLOOR = -1000  # Account's check constraint: balance >= -1000

Row = tuple[str, int]  # (name, balance)


class InjectedFault(Exception):
    """Raised by the faulty trigger where the program asked for it."""


class Rollback(Exception):
    """Raised at the end of an atomic block that the program wants rolled back."""


# ---------------------------------------------------------------------------------------
# What the triggers see and do


@dataclass
class Recording:
    """The commit-stage record and the fault to inject, shared with the triggers."""

    changes: list[tuple[Any, ...]] = field(default_factory=list)
    operation: int = 0
    fault: Fault | None = None
    stage_calls: Counter[str] = field(default_factory=Counter)


RECORDING = Recording()


def stamp(rows: list[Account]) -> None:
    """Mark rows with the running operation, so the commit stage can say where they came from."""
    for row in rows:
        row._property_operation = RECORDING.operation  # type: ignore[attr-defined]


def origin(row: Account) -> int | None:
    """Return the operation that stamped ``row`` in its before stage, if any."""
    return getattr(row, "_property_operation", None)


def maybe_fail(stage: str) -> None:
    """Raise InjectedFault on the chosen call of the chosen stage."""
    fault = RECORDING.fault
    if fault is None or fault.stage != stage:
        return
    RECORDING.stage_calls[stage] += 1
    if RECORDING.stage_calls[stage] == fault.call:
        raise InjectedFault(f"{stage} stage, call {fault.call}")


@pytest.fixture(autouse=True)
def _triggers() -> Iterator[None]:
    """Define the recording and the faulty trigger for the test only."""
    RECORDING.changes.clear()
    RECORDING.operation, RECORDING.fault = 0, None
    with registry.isolated():

        class RecordCommitted(Trigger[Account]):
            def on_before_create(self, new: list[Account]) -> None:
                stamp(new)

            def on_before_update(self, new: list[Account], old: list[Account]) -> None:
                stamp(new)

            def on_before_delete(self, old: list[Account]) -> None:
                stamp(old)

            def on_commit_create(self, new: list[Account]) -> None:
                RECORDING.changes.extend(
                    ("create", origin(row), row.pk, (row.name, row.balance)) for row in new
                )

            def on_commit_update(self, new: list[Account], old: list[Account]) -> None:
                RECORDING.changes.extend(
                    (
                        "update",
                        origin(row),
                        row.pk,
                        (row.name, row.balance),
                        (was.name, was.balance),
                    )
                    for row, was in zip(new, old, strict=True)
                )

            def on_commit_delete(self, old: list[Account]) -> None:
                RECORDING.changes.extend(("delete", origin(row), row.pk) for row in old)

        class Faulty(Trigger[Account]):
            order = 1  # after the recorder, so a fault in the before stage follows its stamp

            def on_before_create(self, new: list[Account]) -> None:
                maybe_fail("before")

            def on_before_update(self, new: list[Account], old: list[Account]) -> None:
                maybe_fail("before")

            def on_before_delete(self, old: list[Account]) -> None:
                maybe_fail("before")

            def on_after_create(self, new: list[Account]) -> None:
                maybe_fail("after")

            def on_after_update(self, new: list[Account], old: list[Account]) -> None:
                maybe_fail("after")

            def on_after_delete(self, old: list[Account]) -> None:
                maybe_fail("after")

        yield


# ---------------------------------------------------------------------------------------
# The operations a program is made of


def existing(index: int) -> Account | None:
    """Load, fresh, the row at ``index`` (modulo the row count) in primary key order."""
    pks = sorted(Account._base_manager.values_list("pk", flat=True))
    return Account.objects.get(pk=pks[index % len(pks)]) if pks else None


@dataclass(frozen=True)
class Filter:
    """Which rows a queryset operation selects."""

    kind: str  # "all", "balance_gte" or "names"
    threshold: int = 0
    names: tuple[str, ...] = ()

    def apply(self) -> QuerySet[Account]:
        """Return the queryset over the selected rows."""
        if self.kind == "balance_gte":
            return Account.objects.filter(balance__gte=self.threshold)
        if self.kind == "names":
            return Account.objects.filter(name__in=self.names)
        return Account.objects.all()


@dataclass(frozen=True)
class Create:
    """Insert one row through create(), save(), get_or_create() or update_or_create()."""

    row: Row
    how: str  # "create", "save", "get_or_create", "update_or_create"

    def run(self) -> None:
        name, balance = self.row
        if self.how == "create":
            Account.objects.create(name=name, balance=balance)
        elif self.how == "save":
            Account(name=name, balance=balance).save()
        elif self.how == "get_or_create":
            Account.objects.get_or_create(name=name, defaults={"balance": balance})
        else:
            Account.objects.update_or_create(name=name, defaults={"balance": balance})


@dataclass(frozen=True)
class SaveExisting:
    """Load one row, change it, save() it (all fields, or the changed ones)."""

    index: int
    name: str | None
    balance: int
    update_fields: bool  # save(update_fields=<the changed fields>) instead of save()

    def run(self) -> None:
        row = existing(self.index)
        if row is None:
            return
        row.balance = self.balance
        if self.name is not None:
            row.name = self.name
        if self.update_fields:
            row.save(update_fields=["balance"] if self.name is None else ["name", "balance"])
        else:
            row.save()


@dataclass(frozen=True)
class BulkCreate:
    """bulk_create() some rows (names may collide with stored ones, or with each other)."""

    rows: tuple[Row, ...]

    def run(self) -> None:
        Account.objects.bulk_create(
            Account(name=name, balance=balance) for name, balance in self.rows
        )


@dataclass(frozen=True)
class BulkUpdate:
    """Load rows, change them, bulk_update() them."""

    indexes: tuple[int, ...]  # may repeat a row
    balances: tuple[int, ...]
    rename: bool  # also write name, swapping names around

    def run(self) -> None:
        rows = [row for row in map(existing, self.indexes) if row is not None]
        if not rows:
            return
        names = [row.name for row in rows]
        for position, (row, balance) in enumerate(zip(rows, self.balances, strict=False)):
            row.balance = balance
            if self.rename:
                row.name = names[(position + 1) % len(names)]
        Account.objects.bulk_update(rows, ["name", "balance"] if self.rename else ["balance"])


@dataclass(frozen=True)
class Update:
    """queryset.update() with plain values or an F() expression."""

    rows: Filter
    balance: int | None = None  # a value; None: F("balance") + delta
    delta: int = 0
    name: str | None = None

    def run(self) -> None:
        values: dict[str, Any] = {
            "balance": F("balance") + self.delta if self.balance is None else self.balance
        }
        if self.name is not None:
            values["name"] = self.name
        self.rows.apply().update(**values)


@dataclass(frozen=True)
class Delete:
    """Delete through a queryset or through one instance."""

    rows: Filter | None  # None: delete one instance, chosen by index
    index: int = 0

    def run(self) -> None:
        if self.rows is not None:
            self.rows.apply().delete()
        elif (row := existing(self.index)) is not None:
            row.delete()


@dataclass(frozen=True)
class Fault:
    """Where the faulty trigger raises during one operation."""

    stage: str  # "before" or "after"
    call: int  # which call of that stage raises: 2 hits the second chunk or operation


@dataclass(frozen=True)
class Act:
    """One operation, maybe with a fault injected into it."""

    operation: Create | SaveExisting | BulkCreate | BulkUpdate | Update | Delete
    fault: Fault | None = None


@dataclass(frozen=True)
class Block:
    """``with transaction.atomic():`` around steps; ``rollback`` raises at its end."""

    steps: tuple[Act | Block, ...]
    rollback: bool


names = st.sampled_from(NAMES)
balances = st.integers(-5, 20) | st.just(FLOOR - 1000)
rows = st.tuples(names, balances)
indexes = st.integers(0, 20)
filters = st.one_of(
    st.just(Filter("all")),
    st.builds(Filter, st.just("balance_gte"), st.integers(-5, 20)),
    st.builds(Filter, st.just("names"), names=st.lists(names, max_size=3).map(tuple)),
)
operations = st.one_of(
    st.builds(
        Create, rows, st.sampled_from(["create", "save", "get_or_create", "update_or_create"])
    ),
    st.builds(SaveExisting, indexes, st.none() | names, balances, st.booleans()),
    st.builds(BulkCreate, st.lists(rows, max_size=7).map(tuple)),
    st.builds(
        BulkUpdate,
        st.lists(indexes, min_size=1, max_size=7).map(tuple),
        st.lists(balances, min_size=7, max_size=7).map(tuple),
        st.booleans(),
    ),
    st.builds(Update, filters, balance=balances),
    st.builds(Update, filters, delta=st.integers(-3, 3) | st.just(FLOOR * 3)),
    st.builds(Update, filters, balance=balances, name=names),
    st.builds(Delete, filters),
    st.builds(Delete, st.none(), indexes),
)
faults = st.none() | st.builds(Fault, st.sampled_from(["before", "after"]), st.integers(1, 2))
acts = st.builds(Act, operations, faults)
steps = st.recursive(
    acts,
    lambda inner: st.builds(Block, st.lists(inner, max_size=4).map(tuple), st.booleans()),
    max_leaves=12,
)
programs = st.lists(steps, min_size=1, max_size=8)


# ---------------------------------------------------------------------------------------
# Running a program and checking the invariant


@dataclass
class Run:
    """One program's execution on one database, and what it did."""

    alias: str
    committed: set[int] = field(default_factory=set)
    operations: int = 0
    refused: Counter[str] = field(default_factory=Counter)

    def step(self, step: Act | Block) -> set[int]:
        """Run ``step``; return the operations that took effect, if no outer block undoes them."""
        if isinstance(step, Act):
            return self.act(step)
        done: set[int] = set()
        try:
            with transaction.atomic(using=self.alias):
                for inner in step.steps:
                    done |= self.step(inner)
                if step.rollback:
                    raise Rollback
        except Rollback:
            self.refused["rolled back block"] += 1
            return set()
        return done

    def act(self, act: Act) -> set[int]:
        self.operations += 1
        RECORDING.operation = self.operations
        RECORDING.fault, RECORDING.stage_calls = act.fault, Counter()
        try:
            act.operation.run()
        except (InjectedFault, IntegrityError) as exc:
            self.refused[type(exc).__name__] += 1
            return set()
        finally:
            RECORDING.fault = None
        return {self.operations}


def replay(changes: list[tuple[Any, ...]], committed: set[int]) -> tuple[dict[Any, Row], list[str]]:
    """Apply the recorded changes to an empty table; return it and every inconsistency seen."""
    table: dict[Any, Row] = {}
    problems = []
    for change in changes:
        event, operation, pk = change[:3]
        if operation not in committed:
            problems.append(f"{change} comes from operation {operation}, which did not commit")
        if event == "create":
            if pk in table:
                problems.append(f"{change} creates a row that exists")
            table[pk] = change[3]
        elif event == "update":
            if table.get(pk) != change[4]:
                problems.append(f"{change}: old is not the replayed row {table.get(pk)}")
            table[pk] = change[3]
        elif table.pop(pk, None) is None:
            problems.append(f"{change} deletes a row that does not exist")
    return table, problems


def stored() -> dict[Any, Row]:
    """Return the table as the replay builds it: pk -> (name, balance)."""
    return {
        pk: (name, balance)
        for pk, name, balance in Account._base_manager.values_list("pk", "name", "balance")
    }


def examples_for(vendor: str) -> int:
    """Return how many examples to try on ``vendor``."""
    configured = os.environ.get("BULK_TRIGGERS_HYPOTHESIS_EXAMPLES")
    return int(configured) if configured else DEFAULT_EXAMPLES[vendor]


TOTALS: dict[str, Counter[str]] = {}


@override_settings(BULK_TRIGGERS=SMALL_CHUNKS)
def test_commit_stage_replays_to_the_table(
    using: str, vendor: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Random programs of writes: the commit-stage record replays to exactly the stored rows."""
    totals = TOTALS.setdefault(vendor, Counter())

    @settings(
        max_examples=examples_for(vendor),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(program=programs)
    # Found by Hypothesis: bulk_update given the same row twice (see engine-bugs-reliability.md).
    @example(program=[Act(Create(("ann", 1), "create")), Act(BulkUpdate((0, 0), (1, 0), False))])
    @example(program=[Act(Create(("ann", 1), "create")), Act(BulkUpdate((0, 0), (0, 0), False))])
    def check(program: list[Act | Block]) -> None:
        Account._base_manager.all().delete()
        RECORDING.changes.clear()
        run = Run(using)
        for step in program:
            run.committed |= run.step(step)
            assert not connections[using].in_atomic_block
            table, problems = replay(RECORDING.changes, run.committed)
            assert problems == []
            assert table == stored()
        totals["examples"] += 1
        totals["operations"] += run.operations
        totals.update(run.refused)

    check()
    with capsys.disabled():
        print(f"\n[hypothesis] {vendor}: {dict(totals)}")
    assert totals["examples"] > 0


# ---------------------------------------------------------------------------------------
# The same invariant on two programs the strategy does not write: found while building it


class CommitFault(Exception):
    """Raised by a commit-stage method."""


def test_commit_stage_reports_rows_as_written(using: str) -> None:
    """An instance saved again in a rolled-back savepoint is reported with what was committed."""
    with transaction.atomic(using=using):
        row = Account.objects.create(name="ann", balance=1)
        row.balance = 2
        row.save()
        with contextlib.suppress(Rollback), transaction.atomic(using=using):
            row.balance = 3
            row.save()
            raise Rollback
    table, problems = replay(RECORDING.changes, {0})
    assert problems == []
    assert table == stored() == {row.pk: ("ann", 2)}


def test_commit_stage_delivery_survives_a_failing_commit_method(using: str) -> None:
    """A commit-stage method that raises does not cancel the other commit-stage calls."""

    class FailsOnCommit(Trigger[Account]):
        order = -1  # before the recorder
        condition = IsEqual("name", "ann")

        def on_commit_create(self, new: list[Account]) -> None:
            raise CommitFault(new[0].name)

    with contextlib.suppress(CommitFault), transaction.atomic(using=using):
        Account.objects.create(name="ann", balance=1)
        Account.objects.create(name="bob", balance=2)
    table, problems = replay(RECORDING.changes, {0})
    assert problems == []
    assert sorted(table.values()) == sorted(stored().values()) == [("ann", 1), ("bob", 2)]
