"""How many parameters one statement may bind, per backend (for the joined writes).

Django before 6.1 says 999 for SQLite, the limit of SQLite before 3.32; the library the
connection uses knows its own. MariaDB/MySQL interpolate parameters client-side and have
no limit of their own: a bound keeps the statement's size within ``max_allowed_packet``.
PostgreSQL's (65,535 per statement) is never near: the joined write binds one array per
column there.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

__all__ = ["parameter_limit"]

_MYSQL_MAX_PARAMS = 65535
# What Django before 6.1 assumes of any SQLite.
_SQLITE_OLD_LIMIT = 999


def parameter_limit(connection: BaseDatabaseWrapper) -> int:
    """Return how many parameters one statement may bind.

    Django before 6.1 says 999 for SQLite, its limit before 3.32; the connection knows
    its own (32,766 by default since), which keeps a chunk of update() in one statement.
    """
    limit = connection.features.max_query_params
    if connection.vendor == "sqlite" and limit == _SQLITE_OLD_LIMIT:
        connection.ensure_connection()
        getlimit = getattr(connection.connection, "getlimit", None)  # Python 3.11+
        number = getattr(sqlite3, "SQLITE_LIMIT_VARIABLE_NUMBER", None)
        if getlimit is not None and number is not None:
            return int(getlimit(number))
        return _compiled_limit(connection.connection)
    return int(limit or _MYSQL_MAX_PARAMS)


_compiled: list[int] = []


def _compiled_limit(raw: Any) -> int:
    """Return the SQLite library's compiled-in parameter limit (Python 3.10 has no getlimit).

    ``PRAGMA compile_options`` names ``MAX_VARIABLE_NUMBER`` when a build sets it;
    otherwise it is SQLite's default, 32,766 since 3.32. Read once per process, on the
    driver's own connection, so that it is not one of the operation's statements.
    """
    if not _compiled:
        options = [row[0] for row in raw.execute("PRAGMA compile_options").fetchall()]
        found = [o.split("=", 1)[1] for o in options if o.startswith("MAX_VARIABLE_NUMBER=")]
        default = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else _SQLITE_OLD_LIMIT
        _compiled.append(int(found[0]) if found else default)
    return _compiled[0]
