"""Concurrent upserts of overlapping keys: each row fires create once, then only updates.

Threads, each on its own connection, upsert shuffled subsets of the same keys (and
skip them with ``ignore_conflicts``). If a writer planned an insert for a key another
writer inserted meanwhile, a row would fire create twice (or an update would go
unreported). The counts of events are checked against what the database holds; a
deadlock or a lock wait that never ends fails the test. SQLite is skipped: it has one
writer at a time.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections

from bulk_triggers.registry import registry
from tests.recorder import record
from tests.routers import routed_to
from tests.test_concurrency import skip_sqlite
from tests.upsertsapp.models import UpsertItem

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 4
ROUNDS = 12
KEYS = [f"k{n}" for n in range(8)]
JOIN_TIMEOUT = 120.0


class Events:
    """The after-stage events every thread's triggers saw, per key."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: Counter[tuple[str, str]] = Counter()
        self.inserted_by: dict[str, list[str]] = {}  # sku -> the paths that inserted it

    def hook(self, event: str) -> Any:
        def note(new: list[UpsertItem], *old: Any) -> None:
            with self.lock:
                self.seen.update((event, row.sku) for row in new)
                for row in new if event == "create" else ():
                    self.inserted_by.setdefault(row.sku, []).append(row.note)

        return note


@pytest.fixture
def events() -> Iterator[Events]:
    """Record after-create and after-update events on UpsertItem, per key."""
    seen = Events()
    with registry.isolated():
        record(
            UpsertItem,
            stages=["after"],
            events=["create", "update"],
            hooks={
                ("after", "create"): seen.hook("create"),
                ("after", "update"): seen.hook("update"),
            },
        )
        yield seen


def upsert(alias: str, skus: list[str], ignore: bool, number: int) -> None:
    """Upsert (or insert, skipping conflicts) one object per sku."""
    path = "ignore" if ignore else "upsert"
    objs = [UpsertItem(sku=sku, region="r", code=sku, qty=number, note=path) for sku in skus]
    if ignore:
        UpsertItem.objects.bulk_create(objs, ignore_conflicts=True)
        return
    options: dict[str, Any] = {"update_conflicts": True, "update_fields": ["qty"]}
    if connections[alias].features.supports_update_conflicts_with_target:
        options["unique_fields"] = ["sku"]
    UpsertItem.objects.bulk_create(objs, **options)


def run(
    alias: str, seed: int, barrier: threading.Barrier, sent: Counter[str], errors: list[str]
) -> None:
    """Run ROUNDS upserts of random key subsets in random order, on this thread's connection."""
    chooser = random.Random(seed)
    try:
        with routed_to(alias):
            barrier.wait(timeout=30)
            for number in range(ROUNDS):
                skus = chooser.sample(KEYS, chooser.randint(1, len(KEYS)))
                ignore = chooser.random() < 0.3
                upsert(alias, skus, ignore, number)
                if not ignore:
                    sent.update(skus)
    except Exception as exc:  # reported, never retried
        errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        connections.close_all()


def test_concurrent_upserts_fire_create_once_per_row(using: str, events: Events) -> None:
    """Every stored row fired create exactly once; every other upsert of it fired update."""
    skip_sqlite(using)
    barrier = threading.Barrier(THREADS)
    sent = [Counter[str]() for _ in range(THREADS)]
    errors: list[str] = []
    threads = [
        threading.Thread(target=run, args=(using, n, barrier, sent[n], errors), daemon=True)
        for n in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a lock wait hangs"
    assert errors == []
    stored = dict(UpsertItem.objects.values_list("sku", "note"))
    assert {sku: [note] for sku, note in stored.items()} == events.inserted_by
    total = sum(sent, Counter[str]())
    for sku, note in stored.items():  # every upsert of a row but one that inserted it updated it
        assert events.seen["update", sku] == total[sku] - (note == "upsert")


@pytest.mark.parametrize("method", ["update_or_create", "get_or_create"])
def test_losing_the_create_race_fires_one_after_event_per_call(using: str, method: str) -> None:
    """Two threads create the same row at once: one after-create, and the loser's own event."""
    skip_sqlite(using)
    arrived = threading.Barrier(2)
    seen = Events()
    errors: list[str] = []

    def meet(new: list[UpsertItem]) -> None:
        arrived.wait(timeout=10)  # both have looked the row up and found nothing

    def call(number: int) -> None:
        try:
            with routed_to(using):
                manager = UpsertItem.objects
                if method == "update_or_create":
                    manager.update_or_create(
                        sku="race", defaults={"qty": number}, create_defaults={"code": "race"}
                    )
                else:
                    manager.get_or_create(sku="race", defaults={"code": "race"})
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connections.close_all()

    with registry.isolated():
        record(UpsertItem, stages=["before"], events=["create"], hooks={("before", "create"): meet})
        record(
            UpsertItem,
            stages=["after"],
            events=["create", "update"],
            hooks={
                ("after", "create"): seen.hook("create"),
                ("after", "update"): seen.hook("update"),
            },
        )
        threads = [threading.Thread(target=call, args=(n,), daemon=True) for n in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert UpsertItem.objects.filter(sku="race").count() == 1
    losers = {"update_or_create": {("update", "race"): 1}, "get_or_create": {}}[method]
    assert dict(seen.seen) == {("create", "race"): 1, **losers}
