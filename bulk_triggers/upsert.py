"""Planning ``bulk_create()`` with conflicts: which row each object inserts, updates or skips.

An upsert statement does not say, per row, whether it inserted or updated (MariaDB's
``ON DUPLICATE KEY UPDATE`` and ``INSERT IGNORE`` never do). So the plan is made before
the statement: the rows the objects conflict with are read under lock, and the
statement's effect is replayed in Python, object by object in the order Django sends
them, on the unique keys the database checks. The statement then runs as Django's own.

Concurrency: the keys are reserved first (``keylocks.py`` says how, and why). The trigger
stages around each chunk's write are run by :mod:`bulk_triggers.upsert_steps`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from django.db import connections, models
from django.db.models import AutoField, Q

from bulk_triggers import keylocks
from bulk_triggers.rows import locked
from bulk_triggers.snapshot import copy_value
from bulk_triggers.unique_keys import Key, Normalizer, attname_of, conflict_keys, unique_keys

M = TypeVar("M", bound=models.Model)

_OPTION_NAMES = ("batch_size", "ignore_conflicts", "update_conflicts", "update_fields")


@dataclass(frozen=True)
class Options:
    """The conflict options of one ``bulk_create()`` call, as attnames."""

    ignore: bool
    update: bool
    update_fields: tuple[str, ...]
    unique_fields: tuple[str, ...]
    batch_size: int | None

    @classmethod
    def parse(
        cls, model: type[models.Model], args: Sequence[Any], kwargs: dict[str, Any]
    ) -> Options:
        """Read ``bulk_create()``'s positional and keyword options, without validating them."""
        options = dict(zip((*_OPTION_NAMES, "unique_fields"), args, strict=False), **kwargs)
        opts = model._meta
        return cls(
            ignore=bool(options.get("ignore_conflicts")),
            update=bool(options.get("update_conflicts")),
            update_fields=tuple(
                attname_of(model, name) for name in options.get("update_fields") or ()
            ),
            unique_fields=tuple(
                attname_of(model, opts.pk.name if name == "pk" else name)
                for name in options.get("unique_fields") or ()
            ),
            batch_size=options.get("batch_size"),
        )


def has_conflicts(args: Sequence[Any], kwargs: dict[str, Any], *, update: bool = False) -> bool:
    """Return whether a ``bulk_create()`` call handles conflicts (with ``update``: updates them)."""
    options = dict(zip(_OPTION_NAMES, args, strict=False), **kwargs)
    if update:
        return bool(options.get("update_conflicts"))
    return bool(options.get("ignore_conflicts") or options.get("update_conflicts"))


@dataclass
class _Row(Generic[M]):
    """One row as the statement goes along: its current values and who inserted it."""

    state: M
    statement: int  # the statement that last inserted or updated it; -1 when stored
    source: M | None = None  # the caller's object that inserted it in this call


@dataclass
class Update(Generic[M]):
    """An object that updates a row: the caller's object, ``old`` and ``new`` for triggers."""

    caller: M
    row: _Row[M]
    old: M | None = None
    new: M | None = None


@dataclass
class Plan(Generic[M]):
    """What one chunk's statements will do, object by object."""

    inserts: list[M] = field(default_factory=list)
    updates: list[Update[M]] = field(default_factory=list)
    repeated: bool = False  # some statement would change one row twice

    def materialize(self, update_fields: Sequence[str]) -> tuple[list[M], list[M]]:
        """Build ``new`` and ``old`` for the updates, from the rows as they are now.

        Called after the create stage, so a row inserted earlier in the chunk shows what
        create triggers put in it; a row updated twice shows the first update as ``old``.
        """
        for update in self.updates:
            old = clone_row(update.row.state)
            new = clone_row(old)
            for name in update_fields:
                setattr(new, name, copy_value(update.caller.__dict__[name]))
            update.old, update.new = old, new
            update.row.state = new
        return [u.new for u in self.updates], [u.old for u in self.updates]  # type: ignore[misc]

    def settle(self) -> None:
        """Give ``new`` rows inserted earlier in this chunk the primary key Django set."""
        for update in self.updates:
            source = update.row.source
            if source is not None and update.new is not None and update.new.pk is None:
                update.new.pk = update.old.pk = source.pk  # type: ignore[union-attr]


def clone_row(row: M) -> M:
    """Return a copy of ``row`` that looks loaded (``adding`` false), with copied values."""
    copied: M = object.__new__(type(row))
    copied.__dict__.update(
        {
            name: copy_value(value)
            for name, value in row.__dict__.items()
            if name != "_state" and not name.startswith("_prefetched")
        }
    )
    state = models.base.ModelState()
    state.adding, state.db = False, row._state.db
    copied.__dict__["_state"] = state
    return copied


class Planner(Generic[M]):
    """Plan the chunks of one call: reserve the keys, read the rows, replay the statements."""

    def __init__(self, model: type[M], options: Options, using: str) -> None:
        self.model = model
        self.options = options
        self.using = using
        self.vendor = connections[using].vendor
        target = options.unique_fields if options.update else ()
        self.keys = conflict_keys(model, target, using)
        self.reserve_keys = unique_keys(model)
        self.normalize = Normalizer(model, self.vendor)
        written = set(options.update_fields)
        self.moves_keys = any(written.intersection(key) for key in self.keys)

    @contextmanager
    def reserved(self, objs: Sequence[M]) -> Iterator[None]:
        """Lock every key ``objs`` may insert, in sorted order, while the block runs.

        On PostgreSQL the locks last until the transaction ends (see the module docstring).
        """
        # Every unique key, not only the target: another upsert may target another key of
        # the same row. (An expression in a key the statement does not watch is no key.)
        keys = [
            (key, values)
            for obj in objs
            for key in self.reserve_keys
            if (values := self.normalize(key, obj.__dict__, strict=False)) is not None
        ]
        with keylocks.reserve(self.using, self.model._meta.db_table, keys):
            yield

    def plan(self, chunk: Sequence[M]) -> Plan[M]:
        """Read the rows ``chunk`` conflicts with, locked, and replay its statements."""
        index: dict[tuple[Key, tuple[Any, ...]], _Row[M]] = {}
        for stored in self._stored(chunk):
            self._register(index, _Row(stored, -1))
        plan: Plan[M] = Plan()
        for number, statement in enumerate(self._statements(chunk)):
            for obj in statement:
                row = next(
                    (
                        index[(key, values)]
                        for key, values in self._key_values(obj.__dict__)
                        if (key, values) in index
                    ),
                    None,
                )
                if row is None:
                    plan.inserts.append(obj)
                    self._register(index, _Row(obj, number, source=obj))
                elif self.options.update:
                    plan.repeated |= row.statement == number
                    row.statement = number
                    plan.updates.append(Update(obj, row))
                    self._reindex(index, row, obj)
        return plan

    def _key_values(self, state: dict[str, Any]) -> Iterator[tuple[Key, tuple[Any, ...]]]:
        for key in self.keys:
            values = self.normalize(key, state)
            if values is not None:
                yield key, values

    def _register(self, index: dict[Any, _Row[M]], row: _Row[M]) -> None:
        for entry in self._key_values(row.state.__dict__):
            index.setdefault(entry, row)

    def _reindex(self, index: dict[Any, _Row[M]], row: _Row[M], caller: M) -> None:
        """Move ``row`` to the keys it will have once ``update_fields`` are written to it."""
        if not self.moves_keys:
            return
        values = dict(row.state.__dict__)
        for name in self.options.update_fields:
            values[name] = caller.__dict__[name]
        for entry in self._key_values(row.state.__dict__):
            if index.get(entry) is row:
                del index[entry]
        for entry in self._key_values(values):
            index.setdefault(entry, row)

    def _stored(self, chunk: Sequence[M]) -> list[M]:
        """Return the stored rows any object of ``chunk`` conflicts with, locked, in one query."""
        condition = Q()
        for key in self.keys:
            values = {
                tuple(obj.__dict__[name] for name in key)
                for obj in chunk
                if self.normalize(key, obj.__dict__) is not None
            }
            if len(key) == 1 and values:
                condition |= Q(**{f"{key[0]}__in": [value for (value,) in values]})
            for value in values if len(key) > 1 else ():
                condition |= Q(**dict(zip(key, value, strict=True)))
        if not condition:
            return []
        manager = self.model._base_manager.db_manager(self.using)
        return list(locked(manager.filter(condition).order_by("pk")))

    def _statements(self, chunk: Sequence[M]) -> list[Sequence[M]]:
        """Split ``chunk`` as Django's bulk_create() does: objects with a primary key first."""
        opts = self.model._meta
        fields = [f for f in opts.concrete_fields if not getattr(f, "generated", False)]
        with_pk = [obj for obj in chunk if obj._is_pk_set()]  # type: ignore[attr-defined]
        without_pk = [obj for obj in chunk if not obj._is_pk_set()]  # type: ignore[attr-defined]
        ops = connections[self.using].ops
        statements: list[Sequence[M]] = []
        for group, columns in (
            (with_pk, fields),
            (without_pk, [f for f in fields if not isinstance(f, AutoField)]),
        ):
            if not group:
                continue
            largest = max(ops.bulk_batch_size(columns, group), 1)
            size = min(self.options.batch_size, largest) if self.options.batch_size else largest
            statements += [group[start : start + size] for start in range(0, len(group), size)]
        return statements
