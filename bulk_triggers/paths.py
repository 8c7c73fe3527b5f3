"""Field paths such as ``account__owner__email``: how conditions read through relations.

Pure Python, no query of its own: a hop reads the related row from the instance's cache
(``order.account`` set in memory) or from the rows the dispatcher loaded for the chunk
(:data:`loaded`, set around condition checks). Only outside any dispatch (a unit test
calling ``check()`` directly) does a hop fall back to Django's descriptor, which may query.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models

from bulk_triggers.snapshot import MISSING, attname

SEPARATOR = "__"

# Related rows of the chunk being checked: per relation field, target key -> row (None
# for a key whose row does not exist).
Loaded = dict[Any, dict[Any, models.Model | None]]
loaded: ContextVar[Loaded | None] = ContextVar("bulk_triggers_loaded", default=None)


class PathError(LookupError):
    """A path names a field the model lacks, or a hop that is not a forward relation."""


class PathNotReady(LookupError):
    """A hop's related model is still a lazy reference: validation must wait."""


@cache
def hops(model: type[models.Model], path: str) -> tuple[tuple[Any, ...], str]:
    """Return the forward relation fields a path walks through, and the attname it ends on.

    Raises:
        PathError: A part is not a field, or a hop is not a ``ForeignKey`` or
            ``OneToOneField`` declared on the model it starts from.
        PathNotReady: A related model is not loaded yet.
    """
    parts = path.split(SEPARATOR)
    walked: list[Any] = []
    current = model
    for part in parts[:-1]:
        field = _field(current, part, path)
        if not (field.concrete and (field.many_to_one or field.one_to_one)):
            raise PathError(
                f"{part!r} in {path!r} is not a ForeignKey or OneToOneField of "
                f"{current._meta.label}; a path may only follow forward relations."
            )
        target = field.related_model
        if not isinstance(target, type):
            raise PathNotReady(f"{current._meta.label}.{part} is not resolved yet")
        walked.append(field)
        current = target
    last = parts[-1]
    _field(current, last, path, concrete=True)
    return tuple(walked), attname(current, last)


def _field(model: type[models.Model], name: str, path: str, concrete: bool = False) -> Any:
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        field = None
    if field is None or (concrete and not field.concrete):
        what = "concrete field" if concrete else "field"
        raise PathError(f"{model._meta.label} has no {what} {name!r} (in {path!r})")
    return field


def key_of(instance: models.Model, field: Any) -> Any:
    """Return the stored value of a relation field: the target row's key, or None."""
    value = instance.__dict__.get(field.attname, MISSING)
    return getattr(instance, field.attname) if value is MISSING else value


def target_key(row: models.Model, field: Any) -> Any:
    """Return the value of ``row`` that a relation ``field`` stores (to_field aware)."""
    return getattr(row, field.target_field.attname)


def follow(instance: models.Model, field: Any) -> models.Model | None:
    """Return the row a relation points to, without a query inside a dispatch."""
    key = key_of(instance, field)
    cached: models.Model | None = field.get_cached_value(instance, default=None)
    if cached is not None and target_key(cached, field) == key:
        return cached  # Also an unsaved object held in memory, whose key is None too.
    if key is None:
        return None
    rows = loaded.get()
    if rows is not None:
        found = rows.get(field, {})
        if key in found:
            return found[key]
    related: models.Model | None = getattr(instance, field.name)
    return related


def read(instance: models.Model, path: str) -> Any:
    """Return the value at the end of ``path``; a ``None`` along the way gives ``None``."""
    relations, last = hops(type(instance), path)
    current: models.Model | None = instance
    for field in relations:
        current = follow(current, field)  # type: ignore[arg-type]
        if current is None:
            return None
    return getattr(current, last)


@contextmanager
def reading(rows: Loaded) -> Iterator[None]:
    """Let paths read the given related rows while conditions are checked."""
    token = loaded.set(rows)
    try:
        yield
    finally:
        loaded.reset(token)


def path_problem(model: type[models.Model], path: str) -> str | None:
    """Return why ``path`` is invalid on ``model``, or None (also while not resolvable yet)."""
    try:
        hops(model, path)
    except PathError as exc:
        return str(exc)
    except PathNotReady:
        return None
    return None


def preload_problem(model: type[models.Model], lookup: str, *, forward_only: bool) -> str | None:
    """Return why a ``select_related``/``prefetch_related`` lookup is invalid, or None."""
    current = model
    for part in lookup.split(SEPARATOR):
        try:
            field = current._meta.get_field(part)
        except FieldDoesNotExist:
            return f"{current._meta.label} has no relation {part!r} (in {lookup!r})"
        if not field.is_relation:
            return f"{current._meta.label}.{part} is not a relation (in {lookup!r})"
        forward = field.concrete and (field.many_to_one or field.one_to_one)
        if forward_only and not forward:
            return (
                f"{current._meta.label}.{part} is not a ForeignKey or OneToOneField "
                f"(in {lookup!r}); use prefetch_related for other relations"
            )
        target = field.related_model
        if not isinstance(target, type):
            return None  # A lazy or generic relation: Django checks it when it runs.
        current = target
    return None
