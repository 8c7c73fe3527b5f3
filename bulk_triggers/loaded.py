"""Old values from load (``BULK_TRIGGERS["SAVE_OLD_FROM_LOAD"]``): ``save()`` without a SELECT.

With the setting on, an instance loaded by a query keeps, on its ``_state``, the values it
was loaded with; the next ``save()`` hands them to update triggers as ``old`` instead of
reading the stored row under lock. Mutable values (a ``JSONField``'s dict) are copied, so
that changing them in place shows as a change. What cannot be known exactly is given up,
never guessed: a value missing from the capture (a deferred field, a value Python holds
in a form the database may store differently) sends that save back to the locked read.

The capture is the database's state as this instance last saw it: a write that does not
go through this instance's ``save()`` (another process, ``QuerySet.update()``, another
instance of the same row, a rolled-back transaction) makes it stale, as documented.
"""

from __future__ import annotations

import datetime
import decimal
import enum
from collections.abc import Collection, Sequence
from functools import cache
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.fields.files import FieldFile

from bulk_triggers import conf
from bulk_triggers.rows import row_builder
from bulk_triggers.snapshot import MISSING, attname, copy_value, structured_attnames

_KEY = "bulk_triggers_loaded"
_SETTING = "SAVE_OLD_FROM_LOAD"
# Django's own fields whose loaded values are immutable: no copy needed at load.
_IMMUTABLE = frozenset(
    {
        "AutoField", "BigAutoField", "SmallAutoField", "BigIntegerField", "BooleanField",
        "CharField", "DateField", "DateTimeField", "DecimalField", "DurationField",
        "FilePathField", "FloatField", "GenericIPAddressField", "IPAddressField",
        "IntegerField", "PositiveBigIntegerField", "PositiveIntegerField",
        "PositiveSmallIntegerField", "SlugField", "SmallIntegerField", "TextField",
        "TimeField", "UUIDField", "ForeignKey", "OneToOneField",
    }
)  # fmt: skip
# Django's own fields that store a value of the type they were loaded with as it is (not
# normalised, as GenericIPAddressField does, nor wrapped, as FileField does). Decimal and
# JSON values are checked further; any other field's saved value is read back.
_STORED_AS_HELD = frozenset(
    {
        "AutoField", "BigAutoField", "SmallAutoField", "BigIntegerField", "BooleanField",
        "CharField", "DateField", "DateTimeField", "DecimalField", "DurationField",
        "FilePathField", "FloatField", "IntegerField", "PositiveBigIntegerField",
        "PositiveIntegerField", "PositiveSmallIntegerField", "SlugField",
        "SmallIntegerField", "TextField", "TimeField", "UUIDField", "ForeignKey",
        "OneToOneField", "BinaryField", "JSONField", "FileField",
    }
)  # fmt: skip


def enabled() -> bool:
    """Return whether ``SAVE_OLD_FROM_LOAD`` is on."""
    return conf.flag(_SETTING)


def remember(instance: models.Model, field_names: Collection[str], values: Any) -> None:
    """Keep the values ``instance`` was just loaded with (by ``from_db``) as its capture.

    A full load keeps a reference to Django's own values (copies only of mutable ones); a
    load with deferred fields marks them missing, to be read when a save needs them.
    """
    fields = type(instance)._meta.concrete_fields
    if len(values) != len(fields):
        given = iter(values)
        values = [next(given) if f.attname in field_names else MISSING for f in fields]
    instance._state.__dict__[_KEY] = _copied(type(instance), values)


def refreshed(instance: models.Model, fields: Any, deferred: set[str]) -> None:
    """Update the capture after ``refresh_from_db(fields=fields)`` loaded the stored values.

    ``deferred`` are the fields deferred before the refresh (which, with ``fields`` None,
    Django leaves unloaded). Fields not refreshed keep their captured value, or stay missing.
    """
    state = instance._state.__dict__
    if not enabled():
        state.pop(_KEY, None)
        return
    model = type(instance)
    concrete = model._meta.concrete_fields
    wanted = None if fields is None else {attname(model, name) for name in fields}
    values = list(state.get(_KEY) or [MISSING] * len(concrete))
    current = instance.__dict__
    for index, field in enumerate(concrete):
        name = field.attname
        loaded = name not in deferred if wanted is None else name in wanted
        if (loaded or field.primary_key) and name in current:
            values[index] = copy_value(current[name])
    state[_KEY] = values


def take(instance: models.Model) -> Sequence[Any] | None:
    """Remove and return the capture of ``instance``: None when off or there is none.

    A save removes it first so that no path can leave it stale: only a save that knows the
    stored values afterwards (:func:`keep`) sets it again.
    """
    captured: Sequence[Any] | None = instance._state.__dict__.pop(_KEY, None)
    return captured if captured is not None and enabled() else None


def forget(instance: models.Model) -> None:
    """Drop the capture of ``instance`` (deleted, or saved in a way that leaves it unknown)."""
    instance._state.__dict__.pop(_KEY, None)


def old_row(instance: models.Model, using: str, captured: Sequence[Any]) -> models.Model | None:
    """Return the stored row as ``captured``, to be ``old`` of a save to ``using``, or None.

    None when the capture cannot stand for the row the save writes: a new instance, another
    database, a changed primary key, or any value missing.
    """
    state = instance._state
    if state.adding or state.db != using or any(value is MISSING for value in captured):
        return None
    model = type(instance)
    current = instance.__dict__
    for index, name in _pk_positions(model):
        if current.get(name, MISSING) != captured[index]:
            return None
    # No copy: the capture was taken off the instance; keep() makes the next one.
    return row_builder(model, using, _attnames(model))(captured)


def keep(
    instance: models.Model,
    old: models.Model,
    written: Sequence[str] | None,
    computed: dict[str, Any],
) -> None:
    """Set the capture after a save that updated the row ``old`` with ``written`` fields.

    ``computed`` holds the values the database computed, as read back after the write
    (generated columns, expressions). Other fields not written keep the stored value;
    written ones take the instance's value where the database stores exactly that value,
    and are missing otherwise (a type the database converts, a rounded decimal, a custom
    field), so that the next save reads the row.
    """
    model = type(instance)
    names = None if written is None else {attname(model, name) for name in written}
    current, stored = instance.__dict__, old.__dict__
    values: list[Any] = []
    append = values.append
    for field, name, generated, primary in _fields(model):
        was = stored.get(name, MISSING)
        if computed and name in computed:
            append(_read_back(computed[name]))
        elif generated:
            append(MISSING)  # Not read back: unknown.
        elif names is not None and name not in names and not primary:
            append(was)
        else:
            now = current.get(name, MISSING)
            # The same object as stored (an unchanged immutable value, mostly): as it was.
            append(was if now is was else _as_stored(field, now, was))
    instance._state.__dict__[_KEY] = _copied(model, values)


def _read_back(value: Any) -> Any:
    """Return a value read back after the write, or MISSING if it was not read after all."""
    if value is MISSING or hasattr(value, "resolve_expression"):
        return MISSING
    if isinstance(value, datetime.datetime) and value.tzinfo is None and settings.USE_TZ:
        return MISSING  # Stored aware: this one is the instance's own, not read back.
    return value


def _as_stored(field: models.Field[Any, Any], now: Any, was: Any) -> Any:
    """Return ``now`` as the database stores it after a save, or MISSING when not sure."""
    if now is was or now is None:
        return now
    if isinstance(now, enum.Enum):
        now = now.value  # Django's choices enums are stored as their value.
    if isinstance(now, FieldFile) and getattr(now, "_committed", False):
        now = str(now)  # What FileField.get_prep_value() stores: the name, or "".
    structured = field.attname in structured_attnames(field.model)
    if type(now) is type(was) and not structured and now == was:
        return was  # Unchanged since read from the database: stored as it was.
    if not type(field).__module__.startswith("django.db.models"):
        return MISSING  # A custom field may store something else than it holds.
    if field.get_internal_type() not in _STORED_AS_HELD:
        return MISSING
    if type(was) is decimal.Decimal and type(now) in (int, decimal.Decimal):
        return _decimal(decimal.Decimal(now), field)
    if was is MISSING or now is MISSING or type(now) is not type(was):
        return MISSING
    if isinstance(now, (datetime.datetime, datetime.time)):
        return now if (now.tzinfo is None) == (was.tzinfo is None) else MISSING
    if field.get_internal_type() == "JSONField":
        return _json(now, field)
    return now


def _decimal(value: decimal.Decimal, field: Any) -> Any:
    """Return ``value`` as a ``DecimalField`` column gives it back, or MISSING.

    A value with more places than the column is rounded by the database, and SQLite keeps
    more than 15 digits only approximately: neither is known here.
    """
    places, digits = getattr(field, "decimal_places", None), getattr(field, "max_digits", None)
    exponent = value.as_tuple().exponent
    if places is None or digits is None or digits > 15 or not isinstance(exponent, int):
        return MISSING
    if exponent < -places:
        return MISSING
    return value.quantize(decimal.Decimal(1).scaleb(-places))


def _json(value: Any, field: Any) -> Any:
    """Return ``value`` if JSON stores and loads it back as an equal value, else MISSING."""
    if field.encoder is not None or field.decoder is not None:
        return MISSING
    return value if _plain_json(value) else MISSING


def _plain_json(value: Any) -> bool:
    kind = type(value)
    if kind is dict:
        return all(type(key) is str and _plain_json(item) for key, item in value.items())
    if kind is list:
        return all(_plain_json(item) for item in value)
    return value is None or kind in (str, int, bool) or (kind is float and value == value)


def _copied(model: type[models.Model], values: Sequence[Any]) -> Sequence[Any]:
    indexes = _maybe_mutable(model)
    if not indexes:
        return values
    copied = list(values)
    for index in indexes:
        copied[index] = copy_value(copied[index])
    return copied


@cache
def _maybe_mutable(model: type[models.Model]) -> tuple[int, ...]:
    """Return the positions of concrete fields whose values may be changed in place."""
    return tuple(
        index
        for index, field in enumerate(model._meta.concrete_fields)
        if not type(field).__module__.startswith("django.db.models")
        or field.get_internal_type() not in _IMMUTABLE
    )


@cache
def _fields(model: type[models.Model]) -> tuple[tuple[Any, str, bool, bool], ...]:
    """Return, per concrete field: the field, its attname, generated, primary key."""
    return tuple(
        (field, field.attname, bool(getattr(field, "generated", False)), field.primary_key)
        for field in model._meta.concrete_fields
    )


@cache
def _attnames(model: type[models.Model]) -> tuple[str, ...]:
    return tuple(field.attname for field in model._meta.concrete_fields)


@cache
def _pk_positions(model: type[models.Model]) -> tuple[tuple[int, str], ...]:
    concrete = list(model._meta.concrete_fields)
    return tuple((concrete.index(field), field.attname) for field in model._meta.pk_fields)
