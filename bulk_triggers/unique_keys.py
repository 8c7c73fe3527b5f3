"""The unique keys of a model as the database enforces them, and key values as it compares them."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from django.db import NotSupportedError, connections, models
from django.db.models import UniqueConstraint

Key = tuple[str, ...]  # attnames of one unique key


def attname_of(model: type[models.Model], name: str) -> str:
    return getattr(model._meta.get_field(name), "attname", name)


def unique_keys(model: type[models.Model]) -> list[Key]:
    """Return every unique key of ``model`` the database enforces, in the order it checks them.

    The primary key, ``unique=True`` fields in field order, ``unique_together``, then
    ``UniqueConstraint`` s on fields without a condition (InnoDB checks the primary key
    first, then unique indexes in the order they were created).
    """
    opts = model._meta
    keys: list[Key] = [tuple(f.attname for f in opts.pk_fields)]  # A composite key's parts.
    keys += [(f.attname,) for f in opts.concrete_fields if f.unique and not f.primary_key]
    keys += [tuple(attname_of(model, name) for name in names) for names in opts.unique_together]
    keys += [
        tuple(attname_of(model, name) for name in constraint.fields)
        for constraint in opts.total_unique_constraints
    ]
    return list(dict.fromkeys(keys))


def conflict_keys(model: type[models.Model], target: Key, using: str) -> list[Key]:
    """Return the keys on which the statement turns a conflict into an update or a skip.

    ``ON CONFLICT (unique_fields) DO UPDATE`` watches its target only; ``DO NOTHING``,
    ``INSERT IGNORE`` and ``ON DUPLICATE KEY UPDATE`` watch every unique key.

    Raises:
        NotSupportedError: The model has a unique constraint with a condition or
            expressions that the database enforces: which objects it would match cannot
            be read beforehand, so the library cannot tell which rows were inserted.
    """
    if target:
        return [target]
    features = connections[using].features
    total = model._meta.total_unique_constraints
    for constraint in model._meta.constraints:
        if not isinstance(constraint, UniqueConstraint) or constraint in total:
            continue
        enforced = (constraint.condition is None or features.supports_partial_indexes) and (
            not constraint.contains_expressions or features.supports_expression_indexes
        )
        if enforced:
            raise NotSupportedError(
                f"bulk_create() with conflicts on {model._meta.label} cannot fire triggers: "
                f"the unique constraint {constraint.name!r} has a condition or expressions, "
                "so the rows it would match cannot be read beforehand. Name unique_fields "
                "with update_conflicts, or bypass() the model's triggers for this call."
            )
    return unique_keys(model)


def is_unique_key(model: type[models.Model], attnames: Key) -> bool:
    """Return whether ``attnames`` (none: every key) are exactly one of the model's unique keys."""
    if not attnames:
        return True  # MariaDB: every key, as the database does.
    wanted = frozenset(attnames)
    return any(frozenset(key) == wanted for key in unique_keys(model))


class Normalizer:
    """Turn an object's key values into what the database compares.

    MariaDB's default collations ignore case and trailing spaces; a key column with a
    binary or case-sensitive collation keeps its values as they are.
    """

    def __init__(self, model: type[models.Model], vendor: str) -> None:
        self.fields = {f.attname: f for f in model._meta.concrete_fields}
        self.fold = vendor == "mysql"

    def __call__(
        self, key: Key, state: dict[str, Any], *, strict: bool = True
    ) -> tuple[Any, ...] | None:
        """Return the comparable values of ``key`` in ``state``, or None if one is NULL.

        Without ``strict``, a key holding an expression is None as well.

        Raises:
            NotSupportedError: A key value is an expression, which only the database
                could evaluate: whether the row conflicts cannot be known beforehand.
        """
        values = []
        for name in key:
            value = state.get(name)
            if value is None or (not strict and hasattr(value, "resolve_expression")):
                return None  # NULL never conflicts.
            if hasattr(value, "resolve_expression"):
                field = self.fields[name]
                raise NotSupportedError(
                    f"bulk_create() with conflicts on {field.model._meta.label}: "
                    f"{field.name} is the expression {value!r}, so whether the row conflicts "
                    "cannot be known before the statement; give it a value."
                )
            values.append(self._comparable(name, self.fields[name].to_python(value)))
        return tuple(values)

    def _comparable(self, name: str, value: Any) -> Any:
        """Return ``value`` as the database compares it, so equal keys lock alike."""
        if isinstance(value, Decimal):
            return value.normalize()  # 1.0 and 1.00 are one key
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(timezone.utc)  # one instant, whatever the offset
        collation = (getattr(self.fields[name], "db_collation", None) or "").lower()
        if self.fold and isinstance(value, str) and not collation.endswith(("_bin", "_cs")):
            return value.casefold().rstrip(" ")
        return value
