"""A bounded stress run: mixed operations from a few threads, with and without triggers.

Each thread runs short transactions of the patterns that made the library deadlock or
wait where plain Django does not (issue 17): an update followed by a child insert (the
other account's on PostgreSQL, where Django's deferred foreign key check meets the row
lock at commit), inserts beside key-range updates, non-key filters that match nothing
next to a held row lock. Deadlocks and lock timeouts are counted per operation type,
never retried; at the end the invariants must hold and, with triggers, every count is 0,
as it is for plain Django. Run with ``-s`` to see the counts.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field

import pytest
from django.db import DatabaseError, connections, transaction
from django.db.models import F

from bulk_triggers import Trigger, bypass
from tests.keysapp.models import KeysEntry
from tests.routers import routed_to
from tests.test_locks import server_only, set_lock_timeout
from tests.testapp.models import Account, AuditRow

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 4
TRANSACTIONS = 25  # per thread
ACCOUNTS = 4
JOIN_TIMEOUT = 120.0


@dataclass
class Tally:
    """What one thread committed, and the lock failures it met, per operation type."""

    increments: int = 0  # balance increments committed
    entries: int = 0  # child rows committed
    accounts: int = 0  # accounts inserted
    failures: Counter[str] = field(default_factory=Counter)  # "op: deadlock" -> count


def _increment(pk: int) -> int:
    return Account.objects.filter(pk=pk).update(balance=F("balance") + 1)


def update_then_child(rng: random.Random, pks: list[int], tally: Tally) -> None:
    """Update the first account, then add a child row to another (to itself on MariaDB).

    The updated account is never one :func:`range_update` writes: a range update that
    holds the child's parent while waiting for the updated account is a deadlock plain
    Django meets too (PostgreSQL's deferred key check waits for the parent's updater at
    COMMIT), and this run is about the ones it does not.
    """
    mine, theirs = pks[0], rng.choice(pks[1:])
    if connections[Account.objects.db].vendor == "mysql":
        theirs = mine  # InnoDB checks the key at once, so Django itself would deadlock.
    increments = _increment(mine)
    KeysEntry.objects.create(account_id=theirs)
    tally.increments += increments
    tally.entries += 1


def range_update(rng: random.Random, pks: list[int], tally: Tally) -> None:
    """Increment the last three accounts by a key range, as another thread appends rows."""
    tally.increments += Account.objects.filter(pk__gte=pks[-3], pk__lte=pks[-1]).update(
        balance=F("balance") + 1
    )


def insert_two(rng: random.Random, pks: list[int], tally: Tally) -> None:
    """Insert an account past the end of the range, then a child of one inside it."""
    Account.objects.create(name=f"new-{rng.random()}", balance=0)
    KeysEntry.objects.create(account_id=rng.choice(pks[-3:]))
    tally.accounts += 1
    tally.entries += 1


def held_then_non_key_filter(rng: random.Random, pks: list[int], tally: Tally) -> None:
    """Hold one row's lock, then update and delete by a filter that matches no row."""
    increments = _increment(rng.choice(pks))
    increments += Account.objects.filter(balance__lt=0).update(balance=F("balance") + 1)
    Account.objects.filter(balance__lt=0).delete()
    tally.increments += increments


def save_one(rng: random.Random, pks: list[int], tally: Tally) -> None:
    """Read one account under lock, add one and save() it."""
    account = Account.objects.select_for_update().get(pk=rng.choice(pks))
    account.balance += 1
    account.save()
    tally.increments += 1


OPERATIONS: dict[str, Callable[[random.Random, list[int], Tally], None]] = {
    "update_then_child": update_then_child,
    "range_update": range_update,
    "insert_two": insert_two,
    "held_then_non_key_filter": held_then_non_key_filter,
    "save": save_one,
}


def worker(alias: str, mode: str, seed: int, pks: list[int], start: threading.Barrier) -> Tally:
    """Run TRANSACTIONS random operations, each in its own transaction; count lock failures."""
    tally, rng = Tally(), random.Random(seed)
    with routed_to(alias), bypass() if mode == "bypassed" else nullcontext():
        set_lock_timeout(alias, 5)
        start.wait(timeout=30)
        for _ in range(TRANSACTIONS):
            name = rng.choice(sorted(OPERATIONS))
            attempt = Tally()
            try:
                with transaction.atomic(using=alias):
                    OPERATIONS[name](rng, pks, attempt)
            except DatabaseError as exc:
                text = str(exc).lower()
                kind = "deadlock" if "deadlock" in text else "lock timeout"
                if kind == "lock timeout" and "lock" not in text:
                    raise
                tally.failures[f"{name}: {kind}"] += 1
                continue
            tally.increments += attempt.increments
            tally.entries += attempt.entries
            tally.accounts += attempt.accounts
    return tally


@pytest.fixture(params=["triggers", "bypassed"])
def mode(request: pytest.FixtureRequest) -> Iterator[str]:
    """With an auditing after-update trigger on Account, or with every trigger bypassed."""

    class Audit(Trigger[Account]):
        def on_after_update(self, new: list[Account], old: list[Account]) -> None:
            AuditRow.objects.using(self.using).bulk_create(
                AuditRow(account_id=row.pk, old=before.balance, new=row.balance)
                for row, before in zip(new, old, strict=True)
            )

    yield request.param


def test_mixed_load_keeps_invariants_and_never_deadlocks(using: str, mode: str) -> None:
    """Four threads of mixed operations: invariants hold, and no deadlock or lock timeout."""
    server_only(using)
    Account.objects.bulk_create(Account(name=f"s{n}", balance=0) for n in range(ACCOUNTS))
    pks = list(Account.objects.order_by("pk").values_list("pk", flat=True))
    start = threading.Barrier(THREADS)
    tallies: list[Tally] = []
    errors: list[str] = []

    def run(seed: int) -> None:
        try:
            tallies.append(worker(using, mode, seed, pks, start))
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(seed,), daemon=True) for seed in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    failures = sum((tally.failures for tally in tallies), Counter[str]())
    print(f"\n{using} {mode}: lock failures by operation: {dict(failures) or 0}")
    increments = sum(tally.increments for tally in tallies)
    assert sum(Account.objects.values_list("balance", flat=True)) == increments
    assert KeysEntry.objects.count() == sum(tally.entries for tally in tallies)
    assert Account.objects.count() == ACCOUNTS + sum(tally.accounts for tally in tallies)
    assert AuditRow.objects.count() == (increments if mode == "triggers" else 0)
    assert failures == Counter()
