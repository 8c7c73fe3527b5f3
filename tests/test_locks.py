"""Lock strength and lock scope: the library locks no more than Django's own statements.

Each test runs an operation on its own connection, in its own thread and transaction,
against another transaction that holds something Django's statement would not wait on,
with a lock timeout so that a wait fails fast instead of hanging. Every test runs twice:
with a trigger, and with triggers bypassed, which is plain Django, the baseline.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from typing import Any

import pytest
from django.db import connections, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from bulk_triggers import Trigger, bypass
from tests.keysapp.models import (
    KeysEntry,
    KeysMember,
    KeysParcel,
    KeysWarehouse,
    KeysWarehouseProxy,
)
from tests.routers import routed_to
from tests.testapp.models import Account

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 20.0  # seconds a thread may take; lock timeouts are far shorter
FROZEN = -7  # the balance the non-key filters select


@pytest.fixture(params=["triggers", "bypassed"])
def mode(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run with a trigger on Account's updates and deletes, or with all triggers bypassed."""

    class Touch(Trigger[Account]):
        def on_before_update(self, new: list[Account], old: list[Account]) -> None:
            pass

        def on_before_delete(self, old: list[Account]) -> None:
            pass

    yield request.param


def server_only(alias: str) -> None:
    """SQLite has one writer at a time: there is no row locking to test."""
    if connections[alias].vendor == "sqlite":
        pytest.skip("SQLite serialises writers: no row locks to compare")


def set_lock_timeout(alias: str, seconds: int) -> None:
    """Make a lock wait on this connection fail after ``seconds``, on either server."""
    with connections[alias].cursor() as cursor:
        if connections[alias].vendor == "postgresql":
            cursor.execute(f"SET lock_timeout = '{seconds}s'")
        else:
            cursor.execute(f"SET SESSION innodb_lock_wait_timeout = {seconds}")


def in_thread(
    alias: str, mode: str, body: Callable[[], None], errors: list[str]
) -> threading.Thread:
    """Start ``body`` on its own connection, in its own transaction, triggers as ``mode`` says."""

    def run() -> None:
        try:
            with routed_to(alias), bypass() if mode == "bypassed" else nullcontext():
                set_lock_timeout(alias, 2)
                with transaction.atomic(using=alias):
                    body()
        except Exception as exc:  # reported by the test
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def join(*threads: threading.Thread) -> None:
    """Wait for the threads, failing the test if one is still stuck."""
    for thread in threads:
        thread.join(timeout=TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a thread is still waiting"


def test_crossed_update_then_child_insert_commits(using: str, mode: str) -> None:
    """Update X then insert a child of Y, against the mirror image: both commit, as in Django.

    Django's UPDATE takes FOR NO KEY UPDATE, which the children's FOR KEY SHARE checks
    (at commit: Django's foreign keys are deferred) do not conflict with.
    """
    if connections[using].vendor != "postgresql":
        pytest.skip("InnoDB checks a child's key at once, under a shared lock: Django waits too")
    x, y = (Account.objects.create(name=name, balance=0).pk for name in ("x", "y"))
    barrier = threading.Barrier(2, timeout=TIMEOUT)
    errors: list[str] = []

    def crossed(mine: int, theirs: int) -> Callable[[], None]:
        def body() -> None:
            Account.objects.filter(pk=mine).update(balance=F("balance") + 1)
            KeysEntry.objects.create(account_id=theirs)
            barrier.wait()  # Both hold their row lock before either commits.

        return body

    first = in_thread(using, mode, crossed(x, y), errors)
    join(first, in_thread(using, mode, crossed(y, x), errors))
    assert errors == []
    assert dict(Account.objects.values_list("pk", "balance")) == {x: 1, y: 1}
    assert KeysEntry.objects.count() == 2


def _accounts() -> list[int]:
    """Store six accounts: keys 2..4 frozen, the others not; return the keys in order."""
    Account.objects.bulk_create(
        Account(name=f"a{n}", balance=FROZEN if 2 <= n <= 4 else n) for n in range(6)
    )
    return list(Account.objects.order_by("pk").values_list("pk", flat=True))


# name -> (operation on (first, last) frozen keys, expected result)
SCOPED: dict[str, Callable[[int, int], Any]] = {
    "update_non_key_filter": lambda a, b: Account.objects.filter(balance=FROZEN).update(
        balance=F("balance") - 1
    ),
    "delete_non_key_filter": lambda a, b: Account.objects.filter(balance=FROZEN).delete()[0],
    "update_key_range": lambda a, b: Account.objects.filter(pk__gte=a, pk__lte=b).update(
        balance=F("balance") - 1
    ),
    "delete_key_range": lambda a, b: Account.objects.filter(pk__gte=a, pk__lte=b).delete()[0],
}


@pytest.mark.parametrize("name", SCOPED)
def test_operation_waits_on_no_unrelated_uncommitted_insert(
    using: str, mode: str, name: str
) -> None:
    """While another transaction holds an uncommitted insert, update()/delete() do not wait.

    The inserted row is the one just past the key range and does not match the non-key
    filter: Django's statements do not wait on it, and neither may the library's reads.
    """
    server_only(using)
    keys = _accounts()
    first, last = keys[2], keys[4]
    Account.objects.filter(pk=keys[5]).delete()  # keys[5], just past the range, is free
    inserted, release = threading.Event(), threading.Event()
    errors: list[str] = []
    results: list[Any] = []

    def hold_insert() -> None:
        Account.objects.create(pk=keys[5], name="bystander", balance=1)
        inserted.set()
        release.wait(timeout=TIMEOUT)

    def operate() -> None:
        try:
            results.append(SCOPED[name](first, last))
        finally:
            release.set()

    holder = in_thread(using, "bypassed", hold_insert, errors)
    assert inserted.wait(timeout=TIMEOUT)
    join(in_thread(using, mode, operate, errors), holder)
    assert errors == []
    assert results == [3]


@pytest.mark.parametrize(
    ("operation", "lock"),
    [
        (lambda pks: Account.objects.filter(pk__in=pks).update(balance=1), "FOR NO KEY UPDATE"),
        (lambda pks: Account.objects.filter(pk__in=pks).update(id=F("id") + 100), "FOR UPDATE"),
        (
            lambda pks: Account.objects.bulk_update(
                [Account(pk=pk, balance=3) for pk in pks], ["balance"]
            ),
            "FOR NO KEY UPDATE",
        ),
        (lambda pks: Account.objects.get(pk=pks[0]).save(), "FOR NO KEY UPDATE"),
        (lambda pks: Account.objects.filter(pk__in=pks).delete(), "FOR UPDATE"),
        (lambda pks: Account.objects.get(pk=pks[0]).delete(), "FOR UPDATE"),
    ],
    ids=["update", "update_pk", "bulk_update", "save", "delete", "delete_instance"],
)
def test_postgresql_lock_strength_follows_the_write(using: str, operation: Any, lock: str) -> None:
    """Old rows are locked FOR NO KEY UPDATE unless the write changes the key or deletes."""
    _lock_strength(using, Account, lambda: operation(_accounts()[:2]), lock)


@pytest.mark.parametrize(
    ("operation", "lock"),
    [
        (lambda: KeysWarehouse.objects.update(name="n"), "FOR NO KEY UPDATE"),
        (lambda: KeysWarehouse.objects.update(code="z"), "FOR UPDATE"),
        (lambda: KeysWarehouseProxy.objects.update(code="z"), "FOR UPDATE"),
        (
            lambda: KeysWarehouse.objects.bulk_update(
                [KeysWarehouse(pk=w.pk, code="z") for w in KeysWarehouse.objects.all()], ["code"]
            ),
            "FOR UPDATE",
        ),
        (lambda: KeysWarehouse.objects.get().save(update_fields=["name"]), "FOR NO KEY UPDATE"),
        (lambda: KeysWarehouse.objects.get().save(), "FOR UPDATE"),
    ],
    ids=[
        "update",
        "update_to_field",
        "proxy_update_to_field",
        "bulk_update_to_field",
        "save_other_field",
        "save_all",
    ],
)
def test_postgresql_to_field_target_is_a_key(using: str, operation: Any, lock: str) -> None:
    """Writing a column another model's to_field foreign key references is a key change."""
    KeysWarehouse.objects.create(code="a", name="a")
    assert KeysParcel._meta.get_field("warehouse").target_field.name == "code"
    _lock_strength(using, KeysWarehouse, operation, lock)


def _lock_strength(using: str, model: Any, operation: Callable[[], Any], lock: str) -> None:
    """Run ``operation`` with a trigger on ``model`` and check the lock of its old rows."""
    if connections[using].vendor != "postgresql":
        pytest.skip("only PostgreSQL has lock strengths below FOR UPDATE")

    class Touch(Trigger[model]):  # type: ignore[valid-type,misc]
        def on_before_update(self, new: list[Any], old: list[Any]) -> None:
            pass

        def on_before_delete(self, old: list[Any]) -> None:
            pass

    with CaptureQueriesContext(connections[using]) as queries, transaction.atomic(using=using):
        operation()
    locks = {
        match.group(0)
        for query in queries.captured_queries
        for match in [re.search(r"FOR (NO KEY )?UPDATE", query["sql"])]
        if match
    }
    assert locks == {lock}


COMPOSITE_SCOPED: dict[str, Callable[[], Any]] = {
    "update_key_range": lambda: KeysMember.objects.filter(tenant=1, number__lte=3).update(
        amount=F("amount") + 1
    ),
    "delete_key_range": lambda: KeysMember.objects.filter(tenant=1, number__lte=3).delete()[0],
    "update_non_key_filter": lambda: KeysMember.objects.filter(amount=FROZEN).update(amount=0),
}


@pytest.mark.parametrize("name", COMPOSITE_SCOPED)
def test_composite_key_operation_waits_on_no_unrelated_insert(
    using: str, mode: str, name: str
) -> None:
    """With a composite key too, chunks are locked by key: an insert just past is not waited on."""
    server_only(using)
    if mode == "bypassed" and name == "delete_key_range" and connections[using].vendor == "mysql":
        pytest.skip("Django's own DELETE range-scans the composite key and waits on the next row")

    class TouchMember(Trigger[KeysMember]):
        def on_before_update(self, new: list[KeysMember], old: list[KeysMember]) -> None:
            pass

        def on_before_delete(self, old: list[KeysMember]) -> None:
            pass

    KeysMember.objects.bulk_create(
        KeysMember(tenant=tenant, number=n, name=f"m{tenant}{n}", amount=FROZEN if n <= 3 else 0)
        for tenant in (1, 2)
        for n in range(1, 4)
    )
    inserted = threading.Event()
    release = threading.Event()
    errors: list[str] = []
    results: list[Any] = []

    def hold_insert() -> None:
        KeysMember.objects.create(tenant=1, number=4, name="bystander", amount=1)
        inserted.set()
        release.wait(timeout=TIMEOUT)

    def operate() -> None:
        try:
            results.append(COMPOSITE_SCOPED[name]())
        finally:
            release.set()

    holder = in_thread(using, "bypassed", hold_insert, errors)
    assert inserted.wait(timeout=TIMEOUT)
    join(in_thread(using, mode, operate, errors), holder)
    assert errors == []
    assert results == [3 if "range" in name else 6]
