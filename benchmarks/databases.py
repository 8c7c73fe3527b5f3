"""The benchmark's databases: which are reachable, their tables, and resetting their rows."""

from __future__ import annotations

import socket
import sys
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connections, models, transaction

from benchmarks.app.models import PEER_MODELS, Customer, PlainItem, SeedItem, TriggerItem

ALIASES = {"sqlite": "default", "postgresql": "postgresql", "mysql": "mysql"}
CUSTOMERS = 10
ITEM_MODELS = (PlainItem, TriggerItem, *PEER_MODELS, SeedItem)


def unreachable(vendor: str) -> str | None:
    """Return why ``vendor`` cannot be used, or None when it answers."""
    if vendor == "sqlite":
        return None
    config = settings.DATABASES[ALIASES[vendor]]
    try:
        with socket.create_connection((config["HOST"], int(config["PORT"])), timeout=2):
            pass
    except OSError as exc:
        return f"nothing answers at {config['HOST']}:{config['PORT']} ({exc})"
    try:
        if vendor == "mysql":
            _create_mysql_database(config)
        else:
            _create_postgresql_database(config)
    except Exception as exc:  # Any failure means "not usable"; the message says why.
        return f"cannot create or open database {config['NAME']!r}: {exc}"
    return None


def _create_postgresql_database(config: dict[str, Any]) -> None:
    import psycopg

    with psycopg.connect(
        host=config["HOST"],
        port=config["PORT"],
        user=config["USER"],
        password=config["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{config["NAME"]}"')


def _create_mysql_database(config: dict[str, Any]) -> None:
    import MySQLdb

    conn = MySQLdb.connect(
        host=config["HOST"],
        port=int(config["PORT"]),
        user=config["USER"],
        password=config["PASSWORD"] or "",
    )
    try:
        conn.cursor().execute(
            f"CREATE DATABASE IF NOT EXISTS `{config['NAME']}` CHARACTER SET utf8mb4"
        )
    finally:
        conn.close()


_LOCK = 7_402_117  # An arbitrary advisory lock key: "a benchmark run is using this database".


def claim(using: str) -> None:
    """Wait until no other benchmark run uses this PostgreSQL database, then hold it.

    Runs drop and refill the same tables, so two at once would corrupt each other's
    numbers (and results). The session-level lock lasts as long as the connection.
    """
    connection = connections[using]
    if connection.vendor == "sqlite":
        return  # Each run has its own SQLite file.
    if connection.vendor == "mysql":
        with connection.cursor() as cursor:  # Waits as long as the other run holds it.
            cursor.execute("SELECT GET_LOCK(%s, -1)", [f"bulk_triggers_bench_{_LOCK}"])
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_LOCK])
        if cursor.fetchone()[0]:
            return
        name = connection.settings_dict["NAME"]
        print(
            f"Waiting for another benchmark run on database {name!r} to finish "
            "(set BULK_TRIGGERS_DB_SUFFIX to use another database)…",
            file=sys.stderr,
            flush=True,
        )
        cursor.execute("SELECT pg_advisory_lock(%s)", [_LOCK])


def create_tables(using: str) -> None:
    """Drop and create the benchmark's tables, then add the customers items refer to."""
    connection = connections[using]
    existing = set(connection.introspection.table_names())
    with connection.schema_editor() as editor:
        for model in (*ITEM_MODELS, Customer):
            if model._meta.db_table in existing:
                editor.delete_model(model)
        for model in (Customer, *ITEM_MODELS):
            editor.create_model(model)
    Customer.objects.using(using).bulk_create(
        Customer(id=i + 1, name=f"customer {i}") for i in range(CUSTOMERS)
    )


def item_values(i: int) -> dict[str, Any]:
    """Return the field values of the ``i``-th row of the starting state."""
    return {
        "name": f"item {i}",
        "status": "new" if i % 2 else "pending",
        "amount": i % 100,
        "price": Decimal(i % 10_000) / 100,
        "customer_id": i % CUSTOMERS + 1,
        "data": {"i": i, "tags": ["a", "b"]},
    }


def empty(model: type[models.Model], using: str) -> None:
    """Delete every row of ``model``'s table, without triggers."""
    connection = connections[using]
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {table} RESTART IDENTITY")
        else:
            cursor.execute(f"DELETE FROM {table}")


def fill_template(using: str, n: int) -> None:
    """Make the template table hold the first ``n`` starting rows (once per run and size)."""
    count = SeedItem.objects.using(using).count()
    if count != n:
        seed_raw(SeedItem, using, n)


def reset(model: type[models.Model], using: str, n: int) -> None:
    """Make ``model``'s table hold exactly the first ``n`` starting rows (primary keys 1..n).

    Copies them from the template table in one statement; on PostgreSQL the table is
    analysed afterwards so that every run is planned on the same statistics.
    """
    empty(model, using)
    if not n:
        return
    connection = connections[using]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in model._meta.concrete_fields)
    source, key = quote(SeedItem._meta.db_table), quote(SeedItem._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(model._meta.db_table)} ({columns}) "
            f"SELECT {columns} FROM {source} WHERE {key} <= %s",
            [n],
        )
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {quote(model._meta.db_table)}")


def seed_raw(model: type[models.Model], using: str, n: int, batch: int = 50_000) -> None:
    """Insert ``n`` starting rows with ``executemany``: the fast path for a million rows."""
    empty(model, using)
    connection = connections[using]
    opts = model._meta
    fields = list(opts.concrete_fields)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {quote(opts.db_table)} ({columns}) VALUES ({placeholders})"
    with transaction.atomic(using=using), connection.cursor() as cursor:
        for start in range(0, n, batch):
            rows = []
            for i in range(start, min(n, start + batch)):
                values = item_values(i)
                values[opts.pk.attname] = i + 1
                rows.append([f.get_db_prep_save(values[f.attname], connection) for f in fields])
            cursor.executemany(sql, rows)
