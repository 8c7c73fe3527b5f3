"""The joined UPDATE that writes many rows in one statement, per vendor.

``UPDATE … FROM unnest(%s::type[], …)`` on PostgreSQL, ``UPDATE … FROM (VALUES …)`` on
SQLite ≥ 3.33, a derived table of ``VALUES`` on MariaDB (of ``UNION ALL`` on MySQL): each
row found by its primary key, each column set from the joined values. Callers decide what
the values are (:mod:`bulk_triggers.writes` for ``bulk_update()``,
:mod:`bulk_triggers.update_write` for ``update()``) and that the statement stores what
Django's would.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

from bulk_triggers.param_limits import parameter_limit

__all__ = ["JoinedUpdate", "assignable", "field_preparer", "joinable", "supported"]

# UPDATE … FROM arrived in SQLite 3.33.
_SQLITE_UPDATE_FROM = (3, 33, 0)
# The alias of the joined values: unlike "v", no model's table is named so.
_VALUES = "bulk_triggers_values"
_ROWS = "bulk_triggers_rows"
# PostgreSQL types whose modifier an assignment applies as Django's UPDATE does (raising
# for a too long string, rounding a number): the array is cast without it.
_UNMODIFIED = re.compile(r"^(varchar|numeric)\(.*\)$")


def supported(connection: BaseDatabaseWrapper) -> bool:
    """Return whether the backend has a joined UPDATE."""
    if connection.vendor == "sqlite":
        return sqlite3.sqlite_version_info >= _SQLITE_UPDATE_FROM
    return connection.vendor in ("postgresql", "mysql")


def assignable(field: Any, connection: BaseDatabaseWrapper) -> bool:
    """Return whether an assignment from the joined values converts ``field`` as Django's does.

    On PostgreSQL the array needs a type: one with a modifier other than a string's
    length or a number's precision (``char(5)``, ``bit(3)``) would be applied as an
    explicit cast, which truncates where an assignment raises.
    """
    if connection.vendor != "postgresql":
        return True
    cast = field.cast_db_type(connection)
    return cast is not None and ("(" not in cast or bool(_UNMODIFIED.match(cast)))


def joinable(
    field: Any,
    model: type[models.Model],
    connection: BaseDatabaseWrapper,
    assignment: bool = False,
) -> bool:
    """Return whether a join against a list of parameters can write ``field`` as Django would.

    ``assignment`` as for :class:`JoinedUpdate`.
    """
    opts = model._meta.concrete_model._meta  # type: ignore[union-attr]
    if not getattr(field, "concrete", False) or field.many_to_many or field.primary_key:
        return False  # Django refuses these with its own message.
    # A multi-table-inherited parent's field lives in another table; Django updates it there.
    if field not in opts.local_concrete_fields:
        return False
    # Django refuses to write a generated column. A custom placeholder other than
    # BinaryField's (GIS fields) may compile SQL of its own with the query's compiler.
    if getattr(field, "generated", False):
        return False
    if has_placeholder(field) and not isinstance(field, models.BinaryField):
        return False
    if assignment:
        return assignable(field, connection)
    if connection.vendor == "postgresql":
        return field.cast_db_type(connection) is not None
    return True


class JoinedUpdate:
    """The SQL and parameters of one vendor's joined UPDATE for one model and its fields.

    ``assignment`` says whose statement it replays: Django's bulk_update() (False), whose
    CASE casts each value to the column's type, or an ``UPDATE … SET column = value``
    (True), where the database converts the value as it assigns it (PostgreSQL then
    raises for a string too long for its column rather than truncating it).
    """

    def __init__(
        self,
        model: type[models.Model],
        fields: Sequence[Any],
        connection: BaseDatabaseWrapper,
        assignment: bool = False,
    ) -> None:
        opts = model._meta.concrete_model._meta  # type: ignore[union-attr]
        self.connection = connection
        self.pk = opts.pk
        self.fields = list(fields)
        self.attnames = [field.attname for field in fields]
        quote = connection.ops.quote_name
        self.table = quote(opts.db_table)
        self.pk_column = quote(opts.pk.column)
        self.columns = [quote(field.column) for field in fields]
        self.aliases = [quote("pk"), *(quote(f"c{n}") for n in range(len(fields)))]
        self.preparers: list[Callable[[Any], Any]] = [
            field_preparer(field, connection) for field in fields
        ]
        place = _assigned if assignment else _placeholder
        self.placeholders = [place(self.pk, connection), *(place(f, connection) for f in fields)]
        # BinaryField's placeholder depends on the value (MySQL's "_binary %s" but for NULL).
        self.per_value = [
            (position, field)
            for position, field in enumerate(fields, start=1)
            if has_placeholder(field) and _own_placeholder(field, b"", connection) != "%s"
        ]
        self.width = len(self.placeholders)
        limit = parameter_limit(connection)
        arrays = connection.vendor == "postgresql"  # one parameter per column
        self.rows_per_statement = None if arrays else max(limit // self.width, 1)

    def rows(self, batch: Sequence[models.Model]) -> list[list[Any]]:
        """Return one parameter row per distinct primary key, the batch's first object's."""
        prepare_pk = self.pk.get_db_prep_value
        connection = self.connection
        pairs = list(zip(self.attnames, self.preparers, strict=True))
        rows: dict[Any, list[Any]] = {}
        for obj in batch:
            key = prepare_pk(obj.pk, connection)
            if key not in rows:
                rows[key] = [key, *(prepare(getattr(obj, name)) for name, prepare in pairs)]
        return list(rows.values())

    def split(self, rows: list[list[Any]]) -> list[list[list[Any]]]:
        """Split rows (distinct keys, so in any order) to respect the parameter limit."""
        step = self.rows_per_statement or len(rows) or 1
        return [rows[start : start + step] for start in range(0, len(rows), step)]

    def sql(self, rows: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
        """Return the statement writing ``rows`` and its parameters."""
        vendor = self.connection.vendor
        if vendor == "postgresql":
            return self._postgresql(), [list(column) for column in zip(*rows, strict=True)]
        params = [value for row in rows for value in row]
        if not self.per_value:
            shared = self.placeholders
            placeholders = [shared] * len(rows)
            values = ", ".join([_joined(shared)] * len(rows))  # One row's SQL, repeated.
        else:
            placeholders = [self._row_placeholders(row) for row in rows]
            values = ", ".join(_joined(row) for row in placeholders)
        if vendor == "sqlite":
            return self._sqlite(values), params
        if getattr(self.connection, "mysql_is_mariadb", False):
            return self._mariadb(values), params
        return self._mysql(placeholders), params

    def _row_placeholders(self, row: Sequence[Any]) -> list[str]:
        placeholders = list(self.placeholders)
        for position, field in self.per_value:
            own = _own_placeholder(field, row[position], self.connection)
            placeholders[position] = placeholders[position].replace("%s", own)
        return placeholders

    def _assignments(self, qualify: str = "") -> str:
        return ", ".join(
            f"{qualify}{column} = {_VALUES}.{alias}"
            for column, alias in zip(self.columns, self.aliases[1:], strict=True)
        )

    def _where(self) -> str:
        return f"{self.table}.{self.pk_column} = {_VALUES}.{self.aliases[0]}"

    def _postgresql(self) -> str:
        # One array per column: three parameters instead of 3,000 for 1,000 rows of two
        # fields, and each element cast to the column's type as Django casts its CASE.
        arrays = ", ".join(self.placeholders)
        return (
            f"UPDATE {self.table} SET {self._assignments()} FROM unnest({arrays}) "
            f"AS {_VALUES} ({', '.join(self.aliases)}) WHERE {self._where()}"
        )

    def _sqlite(self, values: str) -> str:
        # Not a WITH … UPDATE: Python's sqlite3 reports no rowcount for a statement that
        # does not start with UPDATE. SQLite names the columns of VALUES column1, column2, …
        assignments = ", ".join(
            f"{column} = {_VALUES}.column{n}" for n, column in enumerate(self.columns, start=2)
        )
        return (
            f"UPDATE {self.table} SET {assignments} FROM (VALUES {values}) AS {_VALUES} "
            f"WHERE {self.table}.{self.pk_column} = {_VALUES}.column1"
        )

    def _mariadb(self, values: str) -> str:
        # VALUES cannot name its columns in a derived table, but a CTE's column list can;
        # MariaDB parses a list of rows about twice as fast as as many UNION ALL SELECTs.
        columns = ", ".join(self.aliases)
        derived = f"WITH {_ROWS} ({columns}) AS (VALUES {values}) SELECT * FROM {_ROWS}"
        return (
            f"UPDATE ({derived}) AS {_VALUES} STRAIGHT_JOIN {self.table} "
            f"FORCE INDEX (PRIMARY) ON {self._where()} "
            f"SET {self._assignments(self.table + '.')}"
        )

    def _mysql(self, placeholders: list[list[str]]) -> str:
        # MySQL's VALUES needs ROW(…) and cannot name its columns: the first SELECT does.
        first, *rest = placeholders
        selects = [", ".join(f"{p} AS {a}" for p, a in zip(first, self.aliases, strict=True))]
        selects.extend(", ".join(row) for row in rest)
        derived = " UNION ALL SELECT ".join(selects)
        # The values drive the join and each row is found by its primary key, so InnoDB
        # locks only the rows written: scanning the table would lock every row it reads
        # (and deadlock concurrent writers), as a small table's plan otherwise does.
        return (
            f"UPDATE (SELECT {derived}) AS {_VALUES} STRAIGHT_JOIN {self.table} "
            f"FORCE INDEX (PRIMARY) ON {self._where()} "
            f"SET {self._assignments(self.table + '.')}"
        )


def _joined(placeholders: list[str]) -> str:
    return "(" + ", ".join(placeholders) + ")"


def has_placeholder(field: Any) -> bool:
    # get_placeholder_sql() replaces get_placeholder() in Django 6.1.
    return hasattr(field, "get_placeholder_sql") or hasattr(field, "get_placeholder")


def _own_placeholder(field: Any, value: Any, connection: BaseDatabaseWrapper) -> str:
    """Return BinaryField's SQL around one parameter (``value`` is never an expression)."""
    if hasattr(field, "get_placeholder_sql"):
        sql, _ = field.get_placeholder_sql(value, None, connection)
        return str(sql)
    return str(field.get_placeholder(value, None, connection))


def field_preparer(field: Any, connection: BaseDatabaseWrapper) -> Callable[[Any], Any]:
    """Return what turns a value into the parameter Django's ``Value(…, for_save)`` binds."""
    prepare = field.get_db_prep_save

    def prepared(value: Any) -> Any:
        return prepare(value, connection=connection)

    return prepared


def _placeholder(field: Any, connection: BaseDatabaseWrapper) -> str:
    """Return a parameter's SQL with the cast Django's CASE gives it on this backend.

    PostgreSQL: Django casts the CASE to the column's cast type
    (``requires_casted_case_in_updates``); SQLite: Django's ``Value`` of a decimal is
    ``CAST(… AS NUMERIC)``; MariaDB/MySQL: no cast.
    """
    if connection.vendor == "postgresql":  # an array of the column's values
        return f"CAST(%s AS {field.cast_db_type(connection)}[])"
    if connection.vendor == "sqlite" and field.get_internal_type() == "DecimalField":
        return "CAST(%s AS NUMERIC)"
    return "%s"


def _assigned(field: Any, connection: BaseDatabaseWrapper) -> str:
    """Return a parameter's SQL for an assignment: no cast but the array's element type."""
    if connection.vendor == "postgresql":
        cast = field.cast_db_type(connection)
        return f"CAST(%s AS {cast.split('(')[0] if _UNMODIFIED.match(cast) else cast}[])"
    return "%s"
