"""Filtering by a list of primary keys: one array parameter on PostgreSQL.

``pk__in=keys`` compiles to ``IN (%s, %s, …)``: one parameter, placeholder and quoting
step per key, for a chunk of up to ``CHUNK_SIZE`` keys. On PostgreSQL ``pk = ANY(%s)``
says the same with the whole list as one array parameter, which the driver adapts in
one step. Other backends have no array parameters: they get the same ``IN (…)`` as
``pk__in``, built without Django's per-value lookup preparation (the keys are stored
keys, distinct and never None), which costs about a microsecond a key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connections, models
from django.db.models import F, Lookup
from django.db.models.sql.compiler import SQLCompiler

__all__ = ["with_keys"]


class _Keys(Lookup):
    """A primary key tested against stored keys, prepared in one pass (never registered)."""

    prepare_rhs = False

    def _parts(self, compiler: SQLCompiler, connection: Any) -> tuple[str, list[Any], list[Any]]:
        """Return the column's SQL and parameters, and the keys as parameters."""
        if not self.rhs:
            raise EmptyResultSet  # As Django's pk__in=[]: no row, and no statement.
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        prepare = self.lhs.output_field.get_db_prep_value
        return lhs_sql, list(lhs_params), [prepare(v, connection, prepared=False) for v in self.rhs]


class AnyOf(_Keys):
    """``column = ANY(%s)`` with the values as one array parameter (PostgreSQL only)."""

    lookup_name = "bulk_triggers_any_of"  # Used as an expression only.

    def as_sql(self, compiler: SQLCompiler, connection: Any) -> Any:
        lhs_sql, lhs_params, values = self._parts(compiler, connection)
        return f"{lhs_sql} = ANY(%s)", (*lhs_params, values)


class KeyList(_Keys):
    """``column IN (%s, …)`` of keys prepared in one pass (any backend)."""

    lookup_name = "bulk_triggers_key_list"  # Used as an expression only.

    def as_sql(self, compiler: SQLCompiler, connection: Any) -> Any:
        lhs_sql, lhs_params, values = self._parts(compiler, connection)
        placeholders = ", ".join(["%s"] * len(values))
        return f"{lhs_sql} IN ({placeholders})", (*lhs_params, *values)


def with_keys(queryset: models.QuerySet[Any], keys: Sequence[Any]) -> models.QuerySet[Any]:
    """Return ``queryset`` filtered to the rows whose (single-column) primary key is in ``keys``.

    A composite primary key keeps ``pk__in``, whose tuples PostgreSQL arrays do not carry.
    """
    model = queryset.model
    filtered: models.QuerySet[Any]
    if len(model._meta.pk_fields) != 1:
        filtered = queryset.filter(pk__in=keys)
    elif connections[queryset.db].vendor == "postgresql":
        filtered = queryset.filter(AnyOf(F(model._meta.pk.attname), list(keys)))
    else:
        filtered = queryset.filter(KeyList(F(model._meta.pk.attname), list(keys)))
    return filtered
