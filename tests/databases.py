"""Which databases the test suite runs on, and how to reach them.

SQLite always runs. PostgreSQL and MariaDB/MySQL run when reachable; an unreachable one
is reported in pytest's header and its tests are skipped, unless it is named in
``BULK_TRIGGERS_REQUIRE_DBS`` (comma-separated vendors), which turns it into an error.

Test database names end in a suffix that keeps parallel runs apart: by default one derived
from the checkout's path (two checkouts on one server never share a database), or
``BULK_TRIGGERS_DB_SUFFIX`` when set (empty: no suffix). nox appends each session's Django
series to it (``noxfile.py``).
"""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path
from typing import Any

VENDORS = ("sqlite", "postgresql", "mysql")
# Servers some tests need besides the databases (the RQ task worker's Redis).
SERVICES = ("redis",)


def checkout_suffix() -> str:
    """Return ``_`` and 8 hex digits derived from this checkout's path."""
    root = str(Path(__file__).resolve().parent.parent)
    return "_" + hashlib.sha256(root.encode()).hexdigest()[:8]


_SUFFIX = os.environ.get("BULK_TRIGGERS_DB_SUFFIX", checkout_suffix())

_SERVERS: dict[str, dict[str, Any]] = {
    "postgresql": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "bulk_triggers",
        "USER": os.environ.get("BULK_TRIGGERS_PG_USER", "postgres"),
        "PASSWORD": os.environ.get("BULK_TRIGGERS_PG_PASSWORD", ""),
        "HOST": os.environ.get("BULK_TRIGGERS_PG_HOST", "127.0.0.1"),
        "PORT": os.environ.get("BULK_TRIGGERS_PG_PORT", "5432"),
        "TEST": {"NAME": f"test_bulk_triggers{_SUFFIX}"},
    },
    "mysql": {
        "ENGINE": "django.db.backends.mysql",
        "NAME": "bulk_triggers",
        "USER": os.environ.get("BULK_TRIGGERS_MYSQL_USER", "root"),
        "PASSWORD": os.environ.get("BULK_TRIGGERS_MYSQL_PASSWORD", ""),
        "HOST": os.environ.get("BULK_TRIGGERS_MYSQL_HOST", "127.0.0.1"),
        "PORT": os.environ.get("BULK_TRIGGERS_MYSQL_PORT", "3306"),
        "OPTIONS": {"charset": "utf8mb4"},
        "TEST": {"NAME": f"test_bulk_triggers{_SUFFIX}", "CHARSET": "utf8mb4"},
    },
}


def required() -> set[str]:
    """Return the vendors that must be reachable (from ``BULK_TRIGGERS_REQUIRE_DBS``)."""
    raw = os.environ.get("BULK_TRIGGERS_REQUIRE_DBS", "")
    names = {name.strip() for name in raw.split(",") if name.strip()}
    unknown = names - set(VENDORS) - set(SERVICES)
    if unknown:
        raise RuntimeError(
            f"BULK_TRIGGERS_REQUIRE_DBS names unknown databases {sorted(unknown)}; "
            f"use a comma-separated subset of {[*VENDORS, *SERVICES]}."
        )
    return names


def _reachable(config: dict[str, Any]) -> str | None:
    """Return why the server cannot be used, or None when a connection succeeds."""
    try:
        with socket.create_connection((config["HOST"], int(config["PORT"])), timeout=2):
            pass
    except OSError as exc:
        return f"nothing answers at {config['HOST']}:{config['PORT']} ({exc})"
    return None


def configure() -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Build ``DATABASES`` and the map of skipped vendors to the reason they are skipped."""
    databases: dict[str, dict[str, Any]] = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": f"bulk_triggers{_SUFFIX}.sqlite3",
            "TEST": {"NAME": f"file:bt_memory{_SUFFIX}?mode=memory&cache=shared"},
        }
    }
    skipped: dict[str, str] = {}
    must = required()
    for vendor, config in _SERVERS.items():
        problem = _reachable(config)
        if problem is None:
            databases[vendor] = config
        elif vendor in must:
            raise RuntimeError(f"{vendor} is required by BULK_TRIGGERS_REQUIRE_DBS but {problem}.")
        else:
            skipped[vendor] = problem
    return databases, skipped


def server_name(vendor: str, config: dict[str, Any]) -> str:
    """Return the server's product and version ("MariaDB 10.11.6"), or "" if it cannot tell.

    Asks the driver directly, outside Django, so that pytest's header can show it before
    any test database exists.
    """
    try:
        if vendor == "sqlite":
            import sqlite3

            return f"SQLite {sqlite3.sqlite_version}"
        if vendor == "postgresql":
            return _postgresql_version(config)
        if vendor == "mysql":
            return _mysql_version(config)
    except Exception:  # The header does without it; the tests will say what is wrong.
        return ""
    return ""


def _postgresql_version(config: dict[str, Any]) -> str:
    import psycopg

    with psycopg.connect(
        host=config["HOST"],
        port=config["PORT"],
        user=config["USER"],
        password=config["PASSWORD"],
        dbname="postgres",
        connect_timeout=2,
    ) as connection:
        major, minor = divmod(connection.info.server_version, 10000)
        return f"PostgreSQL {major}.{minor}"


def _mysql_version(config: dict[str, Any]) -> str:
    import MySQLdb  # type: ignore[import-untyped]

    connection = MySQLdb.connect(
        host=config["HOST"],
        port=int(config["PORT"]),
        user=config["USER"],
        password=config["PASSWORD"],
        connect_timeout=2,
    )
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT VERSION()")
        version = str(cursor.fetchone()[0])
    finally:
        connection.close()
    number = version.split("-", 1)[0]
    return f"MariaDB {number}" if "mariadb" in version.lower() else f"MySQL {number}"


def alias_for(vendor: str) -> str:
    """Return the connection alias that serves ``vendor`` in the test settings."""
    return "default" if vendor == "sqlite" else vendor
