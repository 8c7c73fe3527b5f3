"""Related rows for a chunk: what condition paths read, and what triggers declare to preload.

Every relation costs at most one query per chunk, never one per row:

- :class:`RelatedRows` loads the rows the conditions' paths (``account__status``) pass
  through, hop by hop, for all the chunk's ``new`` and ``old`` rows at once, when the
  chunk's before stage starts, and keeps them while the chunk is dispatched: every stage
  reads them as stored before the chunk was written.
- :func:`prepare` applies a trigger's ``select_related``/``prefetch_related`` to the
  rows it receives, and on Django 6.1+ makes those rows peers (``FETCH_PEERS``) so that
  an undeclared relation is loaded for all of them on first access.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

from django.db import models
from django.db.models import prefetch_related_objects

from bulk_triggers.conditions import Condition
from bulk_triggers.paths import SEPARATOR, Loaded, hops, key_of, target_key

# Django 6.1+: rows that are peers load a relation for all of them on first access.
FETCH_ONE: Any = getattr(models, "FETCH_ONE", None)
FETCH_PEERS: Any = getattr(models, "FETCH_PEERS", None)

Hop = tuple[Any, ...]


def path_names(conditions: Sequence[Condition | None]) -> tuple[str, ...]:
    """Return the paths into related rows that ``conditions`` read, each once."""
    names = (name for c in conditions if c is not None for name in c.field_names())
    return tuple(dict.fromkeys(name for name in names if SEPARATOR in name))


class RelatedRows:
    """The related rows that one dispatch's condition paths read, chunk by chunk.

    Args:
        using: The database alias of the operation; related rows are read from it.
    """

    def __init__(self, using: str) -> None:
        self.using = using
        self.rows: Loaded = {}

    def load(self, names: Sequence[str], rows: Sequence[models.Model]) -> Loaded | None:
        """Load what the paths among ``names`` need for ``rows``; None when there is none.

        Rows already loaded for this chunk are reused. A relation whose keys are not all
        known is read again for all of this chunk's keys, which replaces the previous
        chunk's rows: memory stays bounded by the chunk.
        """
        paths = [name for name in names if SEPARATOR in name]
        if not paths or not rows:
            return None
        model = type(rows[0])
        frontier: dict[Hop, list[models.Model]] = {(): list(rows)}
        refreshed: set[Any] = set()
        for path in paths:
            relations = hops(model, path)[0]
            for depth in range(1, len(relations) + 1):
                prefix = relations[:depth]
                if prefix not in frontier:
                    frontier[prefix] = self._follow(prefix[-1], frontier[prefix[:-1]], refreshed)
        return self.rows

    def _follow(
        self, field: Any, parents: list[models.Model], refreshed: set[Any]
    ) -> list[models.Model]:
        """Return the rows ``field`` leads to from ``parents``, loading missing ones at once."""
        known = self.rows.setdefault(field, {})
        targets: list[models.Model] = []
        wanted: set[Any] = set()
        for parent in parents:
            key = key_of(parent, field)
            cached = field.get_cached_value(parent, default=None)
            if cached is not None and target_key(cached, field) == key:
                targets.append(cached)
            elif key is not None:
                wanted.add(key)
        missing = wanted.difference(known)
        if missing:
            if field not in refreshed:
                known.clear()  # A new chunk: forget the previous one's rows.
                missing = wanted
            refreshed.add(field)
            known.update(self._fetch(field, missing))
        targets.extend(row for key in wanted if (row := known[key]) is not None)
        return targets

    def _fetch(self, field: Any, keys: set[Any]) -> dict[Any, models.Model | None]:
        """Read the rows with the given target keys in one query (missing ones as None)."""
        manager = field.related_model._base_manager.db_manager(self.using)
        lookup = f"{field.target_field.name}__in"
        found: dict[Any, models.Model | None] = dict.fromkeys(keys)
        for row in manager.filter(**{lookup: list(keys)}):
            found[target_key(row, field)] = row
        return found


def prepare(trigger: Any, args: tuple[list[Any], ...]) -> None:
    """Preload what ``trigger`` declares on the rows it receives, and make them peers.

    ``new`` and ``old`` are preloaded together, so a relation costs one query for both;
    rows whose relation is already cached are skipped by Django.
    """
    lookups = (*trigger.select_related, *trigger.prefetch_related)
    if not lookups and FETCH_PEERS is None:
        return
    rows = [row for group in args for row in group]
    if lookups:
        prefetch_related_objects(rows, *lookups)
    if FETCH_PEERS is not None:
        share_fetches(rows)


def share_fetches(rows: list[models.Model]) -> None:
    """Make rows on Django's default fetch mode peers under ``FETCH_PEERS`` (Django 6.1+).

    Rows that were given another mode, or that already have peers (a queryset loaded
    them with ``FETCH_PEERS``, or an earlier stage made them peers), keep theirs.
    """
    joining = [row for row in rows if row._state.fetch_mode is FETCH_ONE and not row._state.peers]
    if len(joining) < 2:
        return
    peers = [weakref.ref(row) for row in joining]
    for row in joining:
        row._state.fetch_mode = FETCH_PEERS
        row._state.peers = peers
