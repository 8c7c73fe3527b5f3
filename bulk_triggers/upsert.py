"""Planning ``bulk_create()`` with conflicts: which row each object inserts, updates or skips.

An upsert statement does not say, per row, whether it inserted or updated (MariaDB's
``ON DUPLICATE KEY UPDATE`` and ``INSERT IGNORE`` never do). So the plan is made before
the statement: the rows the objects conflict with are read under lock, and the
statement's effect is replayed in Python, object by object in the order Django sends
them, on the unique keys the database checks. The statement then runs as Django's own.

Concurrency: ``SELECT … FOR UPDATE`` locks only rows that exist, and a key nobody holds
yet could be inserted by another writer between the read and the statement (PostgreSQL
never locks missing keys; Django runs MariaDB at READ COMMITTED, where gap locks are
off). So every key the call may insert is reserved first, for the whole call, in sorted
order (so two writers cannot deadlock on each other's reservations):

- PostgreSQL: a transaction-level advisory lock per key, released by commit or rollback.
  It must last that long: a locked read does not see, nor wait for, a row another
  transaction inserted and has not committed.
- MariaDB: a named lock (``GET_LOCK``) per key bucket, held only while the call runs. A
  locked read in InnoDB does wait for an uncommitted row's lock, so once the statement
  has run, the rows it inserted or read under lock keep every key reserved until the
  transaction ends; named locks (which belong to the session, and which no rollback
  would release) need not outlive the call.

Other upserts through the library wait for the first writer's rows; a writer that
bypasses the library (a plain ``create()``) is not held back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from django.db import DatabaseError, NotSupportedError, OperationalError, connections, models
from django.db.models import AutoField, Q, UniqueConstraint

from bulk_triggers.rows import locked
from bulk_triggers.snapshot import copy_value

M = TypeVar("M", bound=models.Model)

Key = tuple[str, ...]  # attnames of one unique key
_OPTION_NAMES = ("batch_size", "ignore_conflicts", "update_conflicts", "update_fields")
_BUCKETS = 64  # MariaDB named locks per table: bounded, so one SELECT takes them all.
_LOCK_TIMEOUT = 60  # seconds a writer may wait for another's upsert (InnoDB's default is 50)


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
                _attname(model, name) for name in options.get("update_fields") or ()
            ),
            unique_fields=tuple(
                _attname(model, opts.pk.name if name == "pk" else name)
                for name in options.get("unique_fields") or ()
            ),
            batch_size=options.get("batch_size"),
        )

    @property
    def conflicts(self) -> bool:
        """Return whether the call handles conflicts at all."""
        return self.ignore or self.update


def has_conflicts(args: Sequence[Any], kwargs: dict[str, Any], *, update: bool = False) -> bool:
    """Return whether a ``bulk_create()`` call handles conflicts (with ``update``: updates them)."""
    options = dict(zip(_OPTION_NAMES, args, strict=False), **kwargs)
    if update:
        return bool(options.get("update_conflicts"))
    return bool(options.get("ignore_conflicts") or options.get("update_conflicts"))


def _attname(model: type[models.Model], name: str) -> str:
    return getattr(model._meta.get_field(name), "attname", name)


def unique_keys(model: type[models.Model]) -> list[Key]:
    """Return every unique key of ``model`` the database enforces, in the order it checks them.

    The primary key, ``unique=True`` fields in field order, ``unique_together``, then
    ``UniqueConstraint`` s on fields without a condition (InnoDB checks the primary key
    first, then unique indexes in the order they were created).
    """
    opts = model._meta
    keys: list[Key] = [(opts.pk.attname,)]
    keys += [(f.attname,) for f in opts.concrete_fields if f.unique and not f.primary_key]
    keys += [tuple(_attname(model, name) for name in names) for names in opts.unique_together]
    keys += [
        tuple(_attname(model, name) for name in constraint.fields)
        for constraint in opts.total_unique_constraints
    ]
    return list(dict.fromkeys(keys))


def conflict_keys(model: type[models.Model], options: Options, using: str) -> list[Key]:
    """Return the keys on which the statement turns a conflict into an update or a skip.

    ``ON CONFLICT (unique_fields) DO UPDATE`` watches its target only; ``DO NOTHING``,
    ``INSERT IGNORE`` and ``ON DUPLICATE KEY UPDATE`` watch every unique key.

    Raises:
        NotSupportedError: The model has a unique constraint with a condition or
            expressions that the database enforces: which objects it would match cannot
            be read beforehand, so the library cannot tell which rows were inserted.
    """
    if options.update and options.unique_fields:
        return [options.unique_fields]
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


def targets_a_key(model: type[models.Model], options: Options) -> bool:
    """Return whether ``unique_fields`` (if given) are exactly one of the model's unique keys."""
    if not options.unique_fields:
        return True
    wanted = frozenset(options.unique_fields)
    return any(frozenset(key) == wanted for key in unique_keys(model))


class _Normalizer:
    """Turn an object's key values into what the database compares.

    MariaDB's default collations ignore case and trailing spaces; a key column with a
    binary or case-sensitive collation keeps its values as they are.
    """

    def __init__(self, model: type[models.Model], vendor: str) -> None:
        self.fields = {f.attname: f for f in model._meta.concrete_fields}
        self.fold = vendor == "mysql"

    def __call__(self, key: Key, state: dict[str, Any]) -> tuple[Any, ...] | None:
        values = []
        for name in key:
            value = state.get(name)
            if value is None or isinstance(value, models.expressions.Combinable):
                return None  # NULL never conflicts; an expression is not a key to match.
            value = self.fields[name].to_python(value)
            collation = (getattr(self.fields[name], "db_collation", None) or "").lower()
            if self.fold and isinstance(value, str) and not collation.endswith(("_bin", "_cs")):
                value = value.casefold().rstrip(" ")
            values.append(value)
        return tuple(values)


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
        self.keys = conflict_keys(model, options, using)
        self.normalize = _Normalizer(model, self.vendor)
        written = set(options.update_fields)
        self.moves_keys = any(written.intersection(key) for key in self.keys)

    @contextmanager
    def reserved(self, objs: Sequence[M]) -> Iterator[None]:
        """Lock every key ``objs`` may insert, in sorted order, while the block runs.

        On PostgreSQL the locks last until the transaction ends (see the module docstring).
        """
        digests = sorted(
            {
                _digest(self.model._meta.db_table, key, values)
                for obj in objs
                for key, values in self._key_values(obj.__dict__)
            }
        )
        table = self.model._meta.db_table
        if digests and self.vendor == "postgresql":
            _advisory_locks(self.using, table, digests)
        if digests and self.vendor == "mysql":
            with _named_locks(self.using, table, digests):
                yield
        else:
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


def _digest(table: str, key: Key, values: tuple[Any, ...]) -> int:
    """Return a 31-bit number for one key's values (a clash between keys only makes one wait)."""
    raw = repr((table, key, values)).encode()
    return int.from_bytes(hashlib.blake2b(raw, digest_size=4).digest(), "big") >> 1


def _advisory_locks(using: str, table: str, digests: Sequence[int]) -> None:
    """Take PostgreSQL transaction-level advisory locks, in the given (sorted) order."""
    space = _digest(table, (), ())
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, key) FROM unnest(%s::integer[]) AS key",
            [space, list(digests)],
        )


@contextmanager
def _named_locks(using: str, table: str, digests: Sequence[int]) -> Iterator[None]:
    """Hold MariaDB named locks, one per key bucket, taken in sorted order, while the block runs.

    Named locks belong to the session, not to the transaction, so they are released as
    soon as the block ends, whatever the transaction does next: by then every key is
    covered by a lock InnoDB holds until the transaction ends (the row this call inserted,
    or the stored row its locked read found), and another writer's locked read of that key
    waits for it.
    """
    prefix = hashlib.blake2b(table.encode(), digest_size=6).hexdigest()
    names = sorted({f"bulk_triggers.{prefix}.{digest % _BUCKETS}" for digest in digests})
    columns = ", ".join(["GET_LOCK(%s, %s)"] * len(names))
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"SELECT {columns}", [item for name in names for item in (name, _LOCK_TIMEOUT)]
        )
        granted = cursor.fetchone() or ()
    held = [name for name, ok in zip(names, granted, strict=False) if ok == 1]
    try:
        if len(held) < len(names):
            raise OperationalError(
                f"bulk_create() on table {table!r} waited {_LOCK_TIMEOUT}s for another "
                "upsert of the same keys to end; retry the operation."
            )
        yield
    except BaseException:
        with suppress(DatabaseError):  # The exception in flight is the one to report.
            _release(using, held)
        raise
    _release(using, held)


def _release(using: str, names: Sequence[str]) -> None:
    if names:
        with connections[using].cursor() as cursor:
            cursor.execute("SELECT " + ", ".join(["RELEASE_LOCK(%s)"] * len(names)), names)
