"""The operations measured: what each prepares outside the timed region, runs, and checks.

Each operation runs on a model (``PlainItem`` or ``TriggerItem``) and a database alias.
``run`` is the code a user writes; ``floor`` is the cheapest code on the public ORM that
gives triggers old and new rows (the hand-written floor), where one exists.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections, models, transaction
from django.db.models import F
from django.db.models.functions import Mod

from benchmarks.databases import item_values

Model = type[models.Model]
Runner = Callable[[Model, str, Any], object]

BULK_UPDATE_FIELDS = ("status", "amount")
# Without a batch size, Django's bulk_update() on PostgreSQL writes all N rows in one
# UPDATE whose CASE has N branches, evaluated per row: quadratic (10,000 rows took over a
# minute). Every variant passes the same batch size; SQLite's own limit (249 rows for two
# fields) is smaller, so there it changes nothing.
BULK_UPDATE_BATCH = 1_000


@dataclass(frozen=True)
class Operation:
    """One write operation of the benchmark.

    Attributes:
        name: The key in results and on the command line.
        label: How tables and the chart name it.
        rows_before: Whether the table holds the N starting rows before the run (else empty).
        prepare: Builds the input outside the timed region, from (model, alias, N).
        run: The timed code, given (model, alias, input).
        floor: The hand-written floor: the cheapest code on the public ORM that gives
            triggers what the contract promises them (old rows, one transaction).
        verify: Raises AssertionError when the table is not as ``run`` must leave it.
        max_n: The largest N the operation runs at (the save() loops stop at 1,000).
    """

    name: str
    label: str
    rows_before: bool
    prepare: Callable[[Model, str, int], Any]
    run: Runner
    floor: Runner | None
    verify: Callable[[Model, str, int], None]
    max_n: int | None = None


def _objects(model: Model, using: str) -> models.QuerySet[Any]:
    return model._default_manager.using(using).all()


def _new_rows(model: Model, using: str, n: int) -> list[models.Model]:
    return [model(**item_values(i)) for i in range(n)]


def _changed_rows(model: Model, using: str, n: int) -> list[models.Model]:
    """Load the rows and change them as a user would: every status, half the amounts."""
    rows = list(_objects(model, using).order_by("pk")[:n])
    for index, row in enumerate(rows):
        row.status = "shipped"  # type: ignore[attr-defined]
        if index % 2 == 0:
            row.amount += 1  # type: ignore[attr-defined]
    return rows


def _nothing(model: Model, using: str, n: int) -> None:
    return None


def rows_by_pk(model: Model, using: str, pks: Sequence[Any]) -> dict[Any, models.Model]:
    """Load rows by primary key as ``in_bulk()`` does, in as few queries as the database allows.

    ``in_bulk()`` splits at Django's SQLite default of 999 parameters; the floor uses the
    SQLite library's real limit instead, so that it stays the cheapest code there is.
    """
    size = _parameter_limit(using) or len(pks) or 1
    found: dict[Any, models.Model] = {}
    for start in range(0, len(pks), size):
        found.update(
            (row.pk, row) for row in _objects(model, using).filter(pk__in=pks[start : start + size])
        )
    return found


def _parameter_limit(using: str) -> int | None:
    connection = connections[using]
    if connection.vendor != "sqlite":
        return None
    connection.ensure_connection()
    getlimit = getattr(connection.connection, "getlimit", None)  # Python 3.11+
    if getlimit is None:  # SQLite's compiled-in default since 3.32.
        return 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999
    limit: int = getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return limit


# bulk_create


def _bulk_create(model: Model, using: str, rows: list[models.Model]) -> object:
    return _objects(model, using).bulk_create(rows)


def _bulk_create_floor(model: Model, using: str, rows: list[models.Model]) -> object:
    with transaction.atomic(using=using):
        return _objects(model, using).bulk_create(rows)


def _verify_created(model: Model, using: str, n: int) -> None:
    count = _objects(model, using).count()
    assert count == n, f"{model.__name__}: {count} rows after creating {n}"


# bulk_update


def _bulk_update(model: Model, using: str, rows: list[models.Model]) -> object:
    return _objects(model, using).bulk_update(rows, BULK_UPDATE_FIELDS, BULK_UPDATE_BATCH)


def _bulk_update_floor(model: Model, using: str, rows: list[models.Model]) -> object:
    with transaction.atomic(using=using):
        old = rows_by_pk(model, using, [row.pk for row in rows])
        updated = _objects(model, using).bulk_update(rows, BULK_UPDATE_FIELDS, BULK_UPDATE_BATCH)
    return old, updated


def _verify_bulk_updated(model: Model, using: str, n: int) -> None:
    shipped = _objects(model, using).filter(status="shipped").count()
    assert shipped == n, f"{model.__name__}: {shipped} of {n} rows shipped"


# QuerySet.update


def _updater(**values: Any) -> tuple[Runner, Runner]:
    def run(model: Model, using: str, _: None) -> object:
        return _objects(model, using).update(**values)

    def floor(model: Model, using: str, _: None) -> object:
        queryset = _objects(model, using)
        with transaction.atomic(using=using):
            old = list(queryset)
            updated = queryset.update(**values)
            new = rows_by_pk(model, using, [row.pk for row in old])
        return old, new, updated

    return run, floor


_update_value, _update_value_floor = _updater(amount=7)
_update_f, _update_f_floor = _updater(amount=F("amount") + 1)


# QuerySet.update where 1% of the rows pass the triggers' conditions (condition pushdown)

PUSHDOWN_EVERY = 100
"""One row in this many does not hold the updated value yet, and so passes ``HasChanged``."""


def _mostly_updated(model: Model, using: str, n: int) -> None:
    """Give all rows but one in ``PUSHDOWN_EVERY`` the value the update writes, untriggered."""
    rows: models.QuerySet[Any] = models.QuerySet(model=model, using=using)
    # Keys 1, 101, 201 … keep their amount: one row passes even at a small N.
    rows.alias(rest=Mod(F("pk") - 1, PUSHDOWN_EVERY)).exclude(rest=0).update(amount=7)


def _update_pushdown_floor(model: Model, using: str, _: None) -> object:
    """What the triggers need, written by hand: the passing rows, locked, old and new."""
    queryset = _objects(model, using)
    with transaction.atomic(using=using):
        old = list(queryset.exclude(amount=7).select_for_update())
        updated = queryset.update(amount=7)
        new = rows_by_pk(model, using, [row.pk for row in old])
    return old, new, updated


def _verify_value(model: Model, using: str, n: int) -> None:
    changed = _objects(model, using).filter(amount=7).count()
    assert changed == n, f"{model.__name__}: {changed} of {n} rows have amount 7"


def _verify_incremented(model: Model, using: str, n: int) -> None:
    total = _objects(model, using).aggregate(total=models.Sum("amount"))["total"] or 0
    expected = sum(item_values(i)["amount"] + 1 for i in range(n))
    assert total == expected, f"{model.__name__}: amounts sum to {total}, not {expected}"


# QuerySet.delete


def _delete(model: Model, using: str, _: None) -> object:
    return _objects(model, using).delete()


def _delete_floor(model: Model, using: str, _: None) -> object:
    queryset = _objects(model, using)
    with transaction.atomic(using=using):
        old = list(queryset)
        pks = [row.pk for row in old]
        size = _parameter_limit(using) or len(pks) or 1
        deleted = [
            _objects(model, using).filter(pk__in=pks[start : start + size]).delete()
            for start in range(0, len(pks), size)
        ]
    return old, deleted


def _verify_deleted(model: Model, using: str, n: int) -> None:
    left = _objects(model, using).count()
    assert left == 0, f"{model.__name__}: {left} rows left after delete()"


# save() loops


def _save_loop(model: Model, using: str, rows: list[models.Model]) -> object:
    for row in rows:
        row.save(using=using)
    return None


def _save_existing_floor(model: Model, using: str, rows: list[models.Model]) -> object:
    """Per row, what a trigger needs: the stored row, locked, and the save, in one transaction."""
    stored = model._default_manager.using(using).select_for_update()
    olds = []
    for row in rows:
        with transaction.atomic(using=using):
            olds.append(stored.get(pk=row.pk))
            row.save(using=using)
    return olds


def _save_new_floor(model: Model, using: str, rows: list[models.Model]) -> object:
    """Per row, the save in its own transaction, so that an after trigger could undo it."""
    for row in rows:
        with transaction.atomic(using=using):
            row.save(using=using)
    return None


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "bulk_create", "bulk_create", False, _new_rows, _bulk_create, _bulk_create_floor,
        _verify_created,
    ),
    Operation(
        "bulk_update", "bulk_update(batch_size=1000), half change amount", True,
        _changed_rows, _bulk_update, _bulk_update_floor, _verify_bulk_updated,
    ),
    Operation(
        "update_value", "QuerySet.update(amount=7)", True, _nothing, _update_value,
        _update_value_floor, _verify_value,
    ),
    Operation(
        "update_pushdown", "QuerySet.update(amount=7), 1% pass HasChanged", True,
        _mostly_updated, _update_value, _update_pushdown_floor, _verify_value,
    ),
    Operation(
        "update_f", "QuerySet.update(amount=F()+1)", True, _nothing, _update_f,
        _update_f_floor, _verify_incremented,
    ),
    Operation(
        "delete", "QuerySet.delete()", True, _nothing, _delete, _delete_floor,
        _verify_deleted,
    ),
    Operation(
        "save_update", "save() loop, existing rows", True, _changed_rows, _save_loop,
        _save_existing_floor, _verify_bulk_updated, max_n=1_000,
    ),
    Operation(
        "save_create", "save() loop, new rows", False, _new_rows, _save_loop,
        _save_new_floor, _verify_created, max_n=1_000,
    ),
)  # fmt: skip

BY_NAME = {operation.name: operation for operation in OPERATIONS}
