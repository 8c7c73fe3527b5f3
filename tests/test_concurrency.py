"""Concurrent writers: old rows are read under lock, no update is lost or seen twice.

Several threads, each with its own connection, increment overlapping rows of ``Account``
through ``update(F() + 1)``, ``bulk_update`` and ``save()``, while an after-update trigger
appends ``(row, old.balance, new.balance)`` to ``AuditRow``. If the trigger's ``old`` were
read without a lock (or from a stale snapshot), two writers would report the same
``old`` for a row, and the audit chain would fork; if an update were lost, the chain
would not end at the stored value.

The same chain check then covers deletions racing with increments, and ``bulk_update``
called without the user's own lock (the user may lose their own writes; the trigger's
``old`` must still be what was stored). A deterministic test shows that each path locks
its rows before the before stage, and waits on no row it does not write.

Nothing here retries: every path is meant to lock rows in primary key order (the
engine's keyset chunks; the careful user's ``select_for_update().order_by("pk")``), so
a deadlock is a finding, reported with the path that hit it, not something to paper
over. SQLite is skipped: it has one writer at a time, so there is no row locking to test.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from django.db import DatabaseError, connections, transaction
from django.db.models import F
from django.test import override_settings

from bulk_triggers import Trigger
from bulk_triggers.registry import registry
from tests.routers import routed_to
from tests.testapp.models import Account, AuditRow

THREADS = 4
OPERATIONS = 25  # per thread
ROWS = 10
INITIAL = 100
JOIN_TIMEOUT = 120.0  # seconds, for all threads together
# Small chunks, so that update() and bulk_update() take their chunked, keyset-ordered paths.
CHUNKED = {"MAX_DEPTH": 16, "CHUNK_SIZE": 4}

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _audit() -> Iterator[None]:
    """Register the audit trigger for the test only."""
    with registry.isolated():

        class AuditBalance(Trigger[Account]):
            def on_after_update(self, new: list[Account], old: list[Account]) -> None:
                AuditRow.objects.using(self.using).bulk_create(
                    AuditRow(account_id=row.pk, old=before.balance, new=row.balance)
                    for row, before in zip(new, old, strict=True)
                )

            def on_after_delete(self, old: list[Account]) -> None:
                AuditRow.objects.using(self.using).bulk_create(
                    AuditRow(account_id=row.pk, old=row.balance, new=row.balance, path="delete")
                    for row in old
                )

        yield


@dataclass
class Outcome:
    """What one thread did: the rows it changed, the rows it deleted, and what went wrong."""

    changes: Counter[int] = field(default_factory=Counter)  # rows written, per pk
    reported: int = 0  # sum of the counts that update()/bulk_update() returned
    deleted: set[int] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)


Step = tuple[str, list[int]]


def increment_by_update(alias: str, pks: list[int], outcome: Outcome) -> None:
    """One UPDATE … SET balance = balance + 1; the engine reads old rows under lock."""
    outcome.reported += Account.objects.filter(pk__in=pks).update(balance=F("balance") + 1)


def increment_by_bulk_update(alias: str, pks: list[int], outcome: Outcome) -> None:
    """Read under lock, add one, bulk_update: what a careful user does."""
    with transaction.atomic(using=alias):
        rows = list(Account.objects.select_for_update().filter(pk__in=pks).order_by("pk"))
        for row in rows:
            row.balance += 1
        outcome.reported += Account.objects.bulk_update(rows, ["balance"])
    outcome.changes.update(row.pk for row in rows)


def increment_by_save(alias: str, pks: list[int], outcome: Outcome) -> None:
    """Read one row under lock, add one, save()."""
    with transaction.atomic(using=alias):
        rows = Account.objects.select_for_update().filter(pk=pks[0])
        for row in rows:  # empty once another thread deleted the row
            row.balance += 1
            row.save()
            outcome.changes[row.pk] += 1
            outcome.reported += 1


def delete_by_queryset(alias: str, pks: list[int], outcome: Outcome) -> None:
    """Delete rows through the queryset; the after trigger logs each deleted balance."""
    deleted, _ = Account.objects.filter(pk__in=pks).delete()
    if deleted:
        outcome.deleted.update(pks)


def delete_by_instance(alias: str, pks: list[int], outcome: Outcome) -> None:
    """Delete one row through its instance, read under lock first."""
    with transaction.atomic(using=alias):
        for row in Account.objects.select_for_update().filter(pk=pks[0]):
            row.delete()
            outcome.deleted.add(pks[0])


_markers = itertools.count(1000)


def overwrite_by_bulk_update(alias: str, pks: list[int], outcome: Outcome) -> None:
    """Read without a lock, write new balances, bulk_update, in the order given.

    The user may lose their own writes this way; the trigger must still see, as ``old``,
    what was stored when the engine locked the row.
    """
    rows = Account.objects.in_bulk(pks)
    ordered = [rows[pk] for pk in pks]
    for row in ordered:
        row.balance = next(_markers)
    outcome.reported += Account.objects.bulk_update(ordered, ["balance"])
    outcome.changes.update(pks)


PATHS: dict[str, Callable[[str, list[int], Outcome], None]] = {
    "update": increment_by_update,
    "overwrite": overwrite_by_bulk_update,
    "bulk_update": increment_by_bulk_update,
    "save": increment_by_save,
    "delete": delete_by_queryset,
    "delete_instance": delete_by_instance,
}


def worker(alias: str, steps: list[Step], barrier: threading.Barrier, outcome: Outcome) -> None:
    """Run ``steps`` on this thread's own connection, then close it."""
    try:
        with routed_to(alias):
            barrier.wait(timeout=30)
            for path, pks in steps:
                try:
                    PATHS[path](alias, pks, outcome)
                except Exception as exc:  # reported, never retried
                    outcome.errors.append(f"{path} on {pks}: {type(exc).__name__}: {exc}")
                    return
    finally:
        connections.close_all()


def run_threads(alias: str, plans: list[list[Step]]) -> list[Outcome]:
    """Run one thread per plan at the same time, bounded by JOIN_TIMEOUT."""
    outcomes = [Outcome() for _ in plans]
    barrier = threading.Barrier(len(plans))
    threads = [
        threading.Thread(target=worker, args=(alias, plan, barrier, outcome), daemon=True)
        for plan, outcome in zip(plans, outcomes, strict=True)
    ]
    deadline = time.monotonic() + JOIN_TIMEOUT
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    stuck = [thread.name for thread in threads if thread.is_alive()]
    assert not stuck, f"threads {stuck} still running after {JOIN_TIMEOUT}s: a lock wait hangs"
    return outcomes


def skip_sqlite(alias: str) -> None:
    """SQLite has one writer at a time: there is no concurrent read-modify-write to test."""
    if connections[alias].vendor == "sqlite":
        pytest.skip(
            "SQLite serialises writers (the test database is a shared-cache in-memory "
            "database, where a second writer fails with 'database table is locked' "
            "instead of waiting): no concurrent row locking to test"
        )


def make_accounts(count: int) -> list[int]:
    """Create ``count`` accounts at the initial balance and return their keys in order."""
    Account.objects.bulk_create(Account(name=f"acct-{i}", balance=INITIAL) for i in range(count))
    return list(Account.objects.order_by("pk").values_list("pk", flat=True))


def plan(rng: random.Random, pks: list[int], paths: list[str], count: int) -> list[Step]:
    """Draw ``count`` steps: each a path and an overlapping selection of rows."""
    steps: list[Step] = []
    for _ in range(count):
        path = rng.choice(paths)
        size = 1 if path in ("save", "delete", "delete_instance") else rng.randint(2, 6)
        chosen = rng.sample(pks, size)
        # Rows handed to bulk_update in any order: its locks must not follow that order.
        steps.append((path, chosen if path == "overwrite" else sorted(chosen)))
    return steps


def chain_problems(
    pk: int, initial: int, stored: int | None, expected: int | None, *, step: int | None = 1
) -> list[str]:
    """Return what is wrong with the audit chain of one row (empty when it is consistent).

    Entries are taken in the order they were inserted: the trigger inserts while it holds
    the row's lock, so that is the order in which the row's writes happened.

    Args:
        pk: The account.
        initial: Its balance before the threads started.
        stored: Its balance now, or None if it was deleted.
        expected: The number of changes applied to it, or None when that is unknown.
        step: What each change adds to the balance, or None for arbitrary writes.
    """
    entries = list(
        AuditRow.objects.filter(account_id=pk).order_by("pk").values_list("old", "new", "path")
    )
    problems = []
    previous, changes = initial, 0
    for index, (old, new, path) in enumerate(entries):
        if old != previous:
            problems.append(f"entry {index} has old={old} after new={previous} (lost or doubled)")
        if path == "delete":
            if index != len(entries) - 1:
                problems.append(f"entry {index} is a deletion but more entries follow")
            continue
        changes += 1
        if step is not None and new != old + step:
            problems.append(f"entry {index}: old={old} new={new} is not one increment")
        previous = new
    if expected is not None and changes != expected:
        problems.append(f"{changes} audit entries for {expected} changes")
    deleted = bool(entries) and entries[-1][2] == "delete"
    if stored is None and not deleted:
        problems.append("deleted, but no deletion was audited")
    if stored is not None and deleted:
        problems.append("still stored, but audited as deleted")
    if stored is not None and previous != stored:
        problems.append(f"chain ends at {previous}, stored balance is {stored}")
    return [f"account {pk}: {problem}" for problem in problems]


def increments(plans: list[list[Step]], outcomes: list[Outcome]) -> Counter[int]:
    """Count the increments each row received: those reported, and every row update() hit.

    update() touches every selected row; nothing is deleted where this is used.
    """
    expected: Counter[int] = Counter()
    for steps, outcome in zip(plans, outcomes, strict=True):
        expected.update(outcome.changes)
        expected.update(pk for path, rows in steps if path == "update" for pk in rows)
    return expected


@override_settings(BULK_TRIGGERS=CHUNKED)
@pytest.mark.parametrize("seed", [1, 2])
def test_concurrent_increments_keep_a_gapless_audit_chain(using: str, seed: int) -> None:
    """Threads incrementing overlapping rows by update/bulk_update/save audit every step once."""
    skip_sqlite(using)
    pks = make_accounts(ROWS)
    rng = random.Random(seed)
    plans = [plan(rng, pks, ["update", "bulk_update", "save"], OPERATIONS) for _ in range(THREADS)]

    outcomes = run_threads(using, plans)

    errors = [error for outcome in outcomes for error in outcome.errors]
    assert errors == []
    expected = increments(plans, outcomes)
    stored = dict(Account.objects.values_list("pk", "balance"))
    problems = [
        problem for pk in pks for problem in chain_problems(pk, INITIAL, stored[pk], expected[pk])
    ]
    assert problems == []
    assert sum(outcome.reported for outcome in outcomes) == sum(expected.values())
    assert AuditRow.objects.count() == sum(expected.values()) > THREADS * OPERATIONS


@override_settings(BULK_TRIGGERS=CHUNKED)
def test_concurrent_deletes_see_the_latest_balance(using: str) -> None:
    """Rows deleted while others increment them: each deletion audits the last balance."""
    skip_sqlite(using)
    pks = make_accounts(ROWS)
    rng = random.Random(3)
    writers = [plan(rng, pks, ["update", "bulk_update", "save"], OPERATIONS) for _ in range(3)]
    deleter = plan(rng, pks, ["delete", "delete_instance"], ROWS // 2)

    outcomes = run_threads(using, [*writers, deleter])

    errors = [error for outcome in outcomes for error in outcome.errors]
    assert errors == []
    stored = dict(Account.objects.values_list("pk", "balance"))
    deleted = outcomes[-1].deleted
    assert deleted and deleted.isdisjoint(stored)
    assert set(stored) | deleted == set(pks)
    problems = [
        problem for pk in pks for problem in chain_problems(pk, INITIAL, stored.get(pk), None)
    ]
    assert problems == []
    # What the writers were told they changed is exactly what the trigger audited.
    audited = AuditRow.objects.exclude(path="delete").count()
    assert sum(outcome.reported for outcome in outcomes) == audited
    assert AuditRow.objects.filter(path="delete").count() == len(deleted)


@override_settings(BULK_TRIGGERS=CHUNKED)
def test_concurrent_unlocked_bulk_updates_audit_what_was_stored(using: str) -> None:
    """bulk_update without the user's lock, beside update(F()): old is always the stored row."""
    skip_sqlite(using)
    pks = make_accounts(ROWS)
    rng = random.Random(4)
    plans = [plan(rng, pks, ["update", "overwrite"], OPERATIONS) for _ in range(THREADS)]

    outcomes = run_threads(using, plans)

    errors = [error for outcome in outcomes for error in outcome.errors]
    assert errors == []
    expected = increments(plans, outcomes)
    stored = dict(Account.objects.values_list("pk", "balance"))
    problems = [
        problem
        for pk in pks
        for problem in chain_problems(pk, INITIAL, stored[pk], expected[pk], step=None)
    ]
    assert problems == []


LOCKING_PATHS = {
    "update": lambda pks: Account.objects.filter(pk__in=pks).update(balance=F("balance") + 1),
    "bulk_update": lambda pks: Account.objects.bulk_update(
        [Account(pk=pk, name=f"acct-{i}", balance=7) for i, pk in enumerate(pks)], ["balance"]
    ),
    "save": lambda pks: Account.objects.get(pk=pks[0]).save(),
    "delete": lambda pks: Account.objects.filter(pk__in=pks).delete(),
    "delete_instance": lambda pks: Account.objects.get(pk=pks[0]).delete(),
}


def probe(alias: str, pk: int) -> str | None:
    """Try to lock one row without waiting; return the error, or None if it was free."""
    try:
        with transaction.atomic(using=alias):
            list(Account.objects.select_for_update(nowait=True).filter(pk=pk))
    except DatabaseError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def hold_lock(alias: str, pk: int, held: threading.Event, release: threading.Event) -> None:
    """Lock one row in a transaction of its own until ``release`` is set."""
    try:
        with routed_to(alias), transaction.atomic(using=alias):
            list(Account.objects.select_for_update().filter(pk=pk))
            held.set()
            release.wait(timeout=60)
    finally:
        connections.close_all()


@pytest.mark.parametrize("path", sorted(LOCKING_PATHS))
def test_old_rows_are_locked_and_only_they(using: str, path: str) -> None:
    """An operation locks its own rows before its triggers run, and waits on no other row.

    Another transaction holds a lock on a row the operation does not write; the operation
    must reach its before stage anyway, and while it is there its own rows are locked.
    """
    skip_sqlite(using)
    pks = make_accounts(ROWS)
    # Four rows of ten: enough for MariaDB's optimizer to prefer a full scan to the index.
    targets, bystander = pks[1:5], pks[-1]
    held, inside, release = threading.Event(), threading.Event(), threading.Event()

    class Hold(Trigger[Account]):
        def on_before_update(self, new: list[Account], old: list[Account]) -> None:
            inside.set()
            release.wait(timeout=60)

        def on_before_delete(self, old: list[Account]) -> None:
            inside.set()
            release.wait(timeout=60)

    errors: list[str] = []

    def operate() -> None:
        try:
            with routed_to(using):
                LOCKING_PATHS[path](targets)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_lock, args=(using, bystander, held, release))
    operation = threading.Thread(target=operate)
    for thread in (holder, operation):
        thread.daemon = True
    holder.start()
    try:
        assert held.wait(timeout=30)
        operation.start()
        reached = inside.wait(timeout=10)
        own_row = probe(using, targets[0]) if reached else None
    finally:
        release.set()
        holder.join(timeout=60)
        if operation.ident is not None:
            operation.join(timeout=60)
    assert not holder.is_alive() and not operation.is_alive()
    assert errors == []
    assert reached, (
        f"{path} on rows {targets} waited for a lock on row {bystander}, which it does not write"
    )
    assert own_row is not None, f"{path}: the row being written was not locked"
