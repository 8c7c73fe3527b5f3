"""``AnyChange`` and ``AllChange``: conditions on several fields at once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import models

from bulk_triggers.conditions import Condition
from bulk_triggers.field_conditions import value_at
from bulk_triggers.paths import SEPARATOR
from bulk_triggers.snapshot import attname

__all__ = ["AllChange", "AnyChange"]


def _names(kind: str, values: Iterable[Any]) -> tuple[str, ...]:
    names = tuple(values)
    for name in names:
        if not isinstance(name, str) or not name:
            raise TypeError(f"{kind} takes field names, got {name!r}.")
    return names


def _same_field(model: type[models.Model], name: str) -> str:
    """Return one spelling per field, so that ``account`` and ``account_id`` match."""
    return name if SEPARATOR in name else attname(model, name)


class AnyChange(Condition):
    """True when any of ``fields`` differs between ``new`` and ``old``; true on create.

    With no field named, every concrete field but the primary key is watched. Names in
    ``exclude`` are left out, and with ``exclude_auto`` so are fields with ``auto_now``
    (named or not), which every save() changes. False on delete.
    """

    def __init__(
        self, *fields: str, exclude: Iterable[str] = (), exclude_auto: bool = False
    ) -> None:
        self.fields = _names("AnyChange()", fields)
        if isinstance(exclude, str):
            raise TypeError(f"AnyChange(exclude=...) takes a list of names, got {exclude!r}.")
        self.exclude = _names("AnyChange(exclude=...)", exclude)
        self.exclude_auto = bool(exclude_auto)
        self._watched: dict[type[models.Model], tuple[str, ...]] = {}

    def watched(self, model: type[models.Model]) -> tuple[str, ...]:
        """Return the fields and paths compared for rows of ``model``."""
        try:
            return self._watched[model]
        except KeyError:
            pass
        names = self.fields or tuple(
            field.name for field in model._meta.concrete_fields if not field.primary_key
        )
        excluded = {_same_field(model, name) for name in self.exclude}
        if self.exclude_auto:
            excluded |= {
                field.attname
                for field in model._meta.concrete_fields
                if getattr(field, "auto_now", False)
            }
        watched = tuple(name for name in names if _same_field(model, name) not in excluded)
        self._watched[model] = watched
        return watched

    def check(self, new: Any, old: Any) -> bool:
        if new is None:
            return False
        if old is None:
            return True
        return any(value_at(new, name) != value_at(old, name) for name in self.watched(type(new)))

    def field_names(self) -> tuple[str, ...]:
        return self.fields + self.exclude

    def _key(self) -> tuple[Any, ...]:
        return (self.fields, self.exclude, self.exclude_auto)

    def __repr__(self) -> str:
        arguments = [repr(name) for name in self.fields]
        if self.exclude:
            arguments.append(f"exclude={self.exclude!r}")
        if self.exclude_auto:
            arguments.append("exclude_auto=True")
        return f"{type(self).__name__}({', '.join(arguments)})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash((type(self), self._key()))


class AllChange(AnyChange):
    """True when every one of ``fields`` differs between ``new`` and ``old``.

    True on create, false on delete.
    """

    def __init__(self, *fields: str) -> None:
        if not fields:
            raise TypeError("AllChange() takes at least one field name.")
        super().__init__(*fields)

    def check(self, new: Any, old: Any) -> bool:
        if new is None:
            return False
        if old is None:
            return True
        return all(value_at(new, name) != value_at(old, name) for name in self.fields)
