"""Field values of model instances: cheap copies, snapshots, and what changed since.

Values are read from the instance ``__dict__`` so that deferred fields are never loaded,
and mutable values (a ``JSONField``'s dict) are copied so that in-place changes show.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from functools import cache
from operator import itemgetter
from typing import Any, TypeVar

from django.core.exceptions import FieldDoesNotExist
from django.db import models

from bulk_triggers.field_kinds import shipped

M = TypeVar("M", bound=models.Model)

MISSING: Any = object()
MUTABLE = (dict, list, set, bytearray)
_SCALARS = frozenset({str, int, float, bool, type(None)})
_STRUCTURED = frozenset({"JSONField", "ArrayField", "HStoreField"})


def copy_value(value: Any) -> Any:
    """Return an independent copy of a JSON-like value; immutable values as they are.

    Plain dicts and lists are copied by hand, several times faster than ``deepcopy``;
    the scalars JSON holds are kept without a call each.
    """
    kind = type(value)
    if kind is dict:
        return {
            key: item if type(item) in _SCALARS else copy_value(item) for key, item in value.items()
        }
    if kind is list:
        return [item if type(item) in _SCALARS else copy_value(item) for item in value]
    if isinstance(value, MUTABLE):
        return copy.deepcopy(value)
    return value


@cache
def attname(model: type[models.Model], name: str) -> str:
    """Return the attribute a field named ``name`` (or its attname) is stored under.

    A name that is not a field (a property, an annotation) is returned as it is.
    """
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return name
    return getattr(field, "attname", name)


@cache
def writable_attnames(model: type[models.Model]) -> tuple[str, ...]:
    """Return the attnames of the concrete, non-primary-key fields a trigger may change."""
    return tuple(
        field.attname
        for field in model._meta.concrete_fields
        if not field.primary_key and not getattr(field, "generated", False)
    )


@cache
def structured_attnames(model: type[models.Model]) -> frozenset[str]:
    """Return the attnames of fields whose values are containers (JSON, arrays, hstore)."""
    return frozenset(
        field.attname
        for field in model._meta.concrete_fields
        if field.get_internal_type() in _STRUCTURED
    )


@cache
def container_attnames(model: type[models.Model]) -> frozenset[str]:
    """Return the attnames whose values may be containers on any row, whatever the first holds.

    Containers by type (JSON, arrays, hstore), binary data (a ``bytearray`` may be
    assigned), and every field of a class Django does not ship: its ``from_db_value()``
    may return a list on one row and ``None`` on the row before.
    """
    return structured_attnames(model) | frozenset(
        field.attname
        for field in model._meta.concrete_fields
        if field.get_internal_type() == "BinaryField" or not shipped(field)
    )


def mutable_indexes(
    model: type[models.Model], attnames: Sequence[str], row: Sequence[Any]
) -> list[int]:
    """Return the positions of ``attnames`` whose values could be changed in place.

    ``row``, any one row, only adds what the fields cannot say (a name that is no field).
    """
    containers = container_attnames(model)
    return [
        i for i, name in enumerate(attnames) if name in containers or isinstance(row[i], MUTABLE)
    ]


def reader(attnames: Sequence[str]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """Return a function reading ``attnames`` from an instance ``__dict__`` as a tuple.

    Missing (deferred) names read as :data:`MISSING`.
    """
    names = tuple(attnames)
    if not names:
        return lambda state: ()
    get = itemgetter(*names)
    single = len(names) == 1

    def read(state: dict[str, Any]) -> tuple[Any, ...]:
        try:
            values = get(state)
        except KeyError:
            return tuple(state.get(name, MISSING) for name in names)
        return (values,) if single else values

    return read


class Snapshot:
    """The values of ``attnames`` on each row, to tell later which of them changed."""

    def __init__(self, attnames: Sequence[str], values: list[tuple[Any, ...]]) -> None:
        self.attnames = tuple(attnames)
        self.values = values
        self._read = reader(self.attnames)

    @classmethod
    def take(cls, rows: Sequence[models.Model], attnames: Sequence[str]) -> Snapshot:
        """Snapshot ``rows``, copying the values that could be changed in place."""
        read = reader(attnames)
        values = [read(row.__dict__) for row in rows]
        if values:
            mutable = mutable_indexes(type(rows[0]), attnames, values[0])
            if mutable:
                values = [_copied_at(row, mutable) for row in values]
        return cls(attnames, values)

    def changes(self, rows: Sequence[models.Model]) -> list[frozenset[str]]:
        """Return, per row, the attnames whose value differs from the snapshot."""
        empty: frozenset[str] = frozenset()
        read = self._read
        result = []
        for row, before in zip(rows, self.values, strict=True):
            now = read(row.__dict__)
            if now == before:
                result.append(empty)
            else:
                result.append(
                    frozenset(
                        name
                        for name, was, is_ in zip(self.attnames, before, now, strict=True)
                        if was != is_ and is_ is not MISSING
                    )
                )
        return result


def by_changes(
    rows: Sequence[M], changes: Sequence[frozenset[str]]
) -> dict[frozenset[str], list[M]]:
    """Group ``rows`` by the fields changed on each (as :meth:`Snapshot.changes` lists them).

    Rows with no change are left out; groups keep the order of their first row.
    """
    groups: dict[frozenset[str], list[M]] = {}
    for row, changed in zip(rows, changes, strict=True):
        if changed:
            groups.setdefault(changed, []).append(row)
    return groups


def _copied_at(values: tuple[Any, ...], indexes: list[int]) -> tuple[Any, ...]:
    copied = list(values)
    for i in indexes:
        copied[i] = copy_value(copied[i])
    return tuple(copied)


def stored_view(new: Sequence[M], old: Sequence[models.Model], attnames: Sequence[str]) -> list[M]:
    """Return ``new`` where each row whose ``attnames`` differ from the stored row is a copy.

    A caller's instance may hold unsaved or stale values in fields outside
    ``bulk_update()``'s ``fields`` or ``save()``'s ``update_fields``. Triggers and their
    conditions must see the row as it will be stored, yet the caller's unsaved values must
    survive: such a row is replaced by a copy holding the stored values of ``attnames``
    (rows that agree are passed on as they are). See :func:`copy_back`.
    """
    read = reader(attnames)
    view: list[M] = []
    for row, stored in zip(new, old, strict=True):
        wanted = read(stored.__dict__)
        if read(row.__dict__) == wanted:
            view.append(row)
            continue
        copied = clone(row)
        for name, value in zip(attnames, wanted, strict=True):
            setattr(copied, name, copy_value(value))
        view.append(copied)
    return view


def copy_back(
    callers: Sequence[models.Model],
    view: Sequence[models.Model],
    changes: Sequence[frozenset[str]],
    written: Sequence[str],
) -> None:
    """Copy the values to write from copies (:func:`stored_view`) to the callers' rows.

    That is the fields the operation writes (a before trigger may have overridden them)
    and the other fields before triggers changed.
    """
    for caller, row, changed in zip(callers, view, changes, strict=True):
        if caller is not row:
            for name in (*written, *changed):
                setattr(caller, name, row.__dict__[name])


def clone(row: M) -> M:
    """Return a detached copy of ``row``: its own ``_state`` and copies of mutable values."""
    copied: M = object.__new__(type(row))
    state = copy.copy(row._state)
    state.fields_cache = {}
    # Django 6.1's FETCH_PEERS: the copy is none of the original's peers, which would be
    # loaded instead of it; it loads its relations alone.
    state.__dict__.pop("peers", None)
    copied.__dict__.update(
        {name: copy_value(value) for name, value in row.__dict__.items() if name != "_state"}
    )
    copied.__dict__["_state"] = state
    return copied
