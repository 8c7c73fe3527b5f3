"""Reserving unique keys that do not exist yet, for upserts, on PostgreSQL and MariaDB.

``SELECT … FOR UPDATE`` locks only rows that exist, and a key nobody holds yet could be
inserted by another writer between an upsert's locked read and its statement (PostgreSQL
never locks missing keys; Django runs MariaDB at READ COMMITTED, where gap locks are
off). So every key a call may insert is reserved first, for the whole call, in sorted
order (so two writers cannot deadlock on each other's reservations):

- PostgreSQL: a transaction-level advisory lock per key, released by commit or rollback.
  It must last that long: a locked read neither sees nor waits for a row that another
  transaction inserted and has not committed.
- MariaDB: a named lock (``GET_LOCK``) per key bucket, held only while the call runs. A
  locked read in InnoDB does wait for an uncommitted row's lock, so once the statement
  has run, the rows it inserted or read under lock keep every key reserved until the
  transaction ends; named locks (which belong to the session, and which no rollback
  would release) need not outlive the call.
- SQLite has one writer at a time: nothing to reserve.

Other upserts through the library wait for the first writer's rows; a writer that
bypasses the library (a plain ``create()``) is not held back. A clash between two keys'
numbers only makes one writer wait for the other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from django.db import DatabaseError, OperationalError, connections

_BUCKETS = 64  # MariaDB named locks per table: bounded, so one SELECT takes them all.
_LOCK_TIMEOUT = 60  # seconds a writer may wait for another's upsert (InnoDB's default is 50)


@contextmanager
def reserve(using: str, table: str, keys: Sequence[tuple[Any, ...]]) -> Iterator[None]:
    """Reserve ``keys`` (hashable descriptions of unique values) of ``table`` for the block.

    On PostgreSQL the reservation lasts until the transaction ends.
    """
    digests = sorted({_digest((table, *key)) for key in keys})
    vendor = connections[using].vendor
    if digests and vendor == "postgresql":
        _advisory_locks(using, _digest((table,)), digests)
    if digests and vendor == "mysql":
        with _named_locks(using, table, digests):
            yield
    else:
        yield


def _digest(value: tuple[Any, ...]) -> int:
    """Return a 31-bit number for ``value``: equal values, equal numbers."""
    raw = repr(value).encode()
    return int.from_bytes(hashlib.blake2b(raw, digest_size=4).digest(), "big") >> 1


def _advisory_locks(using: str, space: int, digests: Sequence[int]) -> None:
    """Take PostgreSQL transaction-level advisory locks, in the given (sorted) order.

    The two-number form keeps them apart from an application's one-number locks.
    """
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, key) FROM unnest(%s::integer[]) AS key",
            [space, list(digests)],
        )


@contextmanager
def _named_locks(using: str, table: str, digests: Sequence[int]) -> Iterator[None]:
    """Hold MariaDB named locks, one per key bucket, taken in sorted order, while the block runs.

    Named locks belong to the session, not to the transaction, so they are released as
    soon as the block ends, whatever the transaction does next: by then every key is
    covered by a lock InnoDB holds until the transaction ends (the row this call inserted,
    or the stored row its locked read found), and another writer's locked read of that key
    waits for it.
    """
    prefix = hashlib.blake2b(table.encode(), digest_size=6).hexdigest()
    names = sorted({f"bulk_triggers.{prefix}.{digest % _BUCKETS}" for digest in digests})
    columns = ", ".join(["GET_LOCK(%s, %s)"] * len(names))
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"SELECT {columns}", [item for name in names for item in (name, _LOCK_TIMEOUT)]
        )
        granted = cursor.fetchone() or ()
    held = [name for name, ok in zip(names, granted, strict=False) if ok == 1]
    try:
        if len(held) < len(names):
            raise OperationalError(
                f"bulk_create() on table {table!r} waited {_LOCK_TIMEOUT}s for another "
                "upsert of the same keys to end; retry the operation."
            )
        yield
    except BaseException:
        with suppress(DatabaseError):  # The exception in flight is the one to report.
            _release(using, held)
        raise
    _release(using, held)


def _release(using: str, names: Sequence[str]) -> None:
    if names:
        with connections[using].cursor() as cursor:
            cursor.execute("SELECT " + ", ".join(["RELEASE_LOCK(%s)"] * len(names)), names)
