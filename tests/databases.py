"""Which databases the test suite runs on, and how to reach them.

SQLite always runs. PostgreSQL and MariaDB/MySQL run when reachable; an unreachable one
is reported in pytest's header and its tests are skipped, unless it is named in
``BULK_TRIGGERS_REQUIRE_DBS`` (comma-separated vendors), which turns it into an error.
"""

from __future__ import annotations

import os
import socket
from typing import Any

VENDORS = ("sqlite", "postgresql", "mysql")

# A suffix keeps test databases of parallel runs (several checkouts, nox sessions) apart.
_SUFFIX = os.environ.get("BULK_TRIGGERS_DB_SUFFIX", "")

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
    unknown = names - set(VENDORS)
    if unknown:
        raise RuntimeError(
            f"BULK_TRIGGERS_REQUIRE_DBS names unknown databases {sorted(unknown)}; "
            f"use a comma-separated subset of {list(VENDORS)}."
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


def alias_for(vendor: str) -> str:
    """Return the connection alias that serves ``vendor`` in the test settings."""
    return "default" if vendor == "sqlite" else vendor
