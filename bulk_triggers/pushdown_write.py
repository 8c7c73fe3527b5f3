"""Split an ``update()`` in two: the rows no trigger wants, and the rows some trigger may.

When every active update trigger has a condition with a SQL form (see
:mod:`bulk_triggers.pushdown`), the union of those forms, ``P``, is a filter on the
stored rows that every row a trigger could run on matches. A row outside ``P`` runs no
trigger, so no before trigger changes it: it stores exactly the planned values, and
Django's own ``UPDATE`` can write it without the library loading it.

The order, inside the operation's transaction:

1. One statement finds the keys of the rows in ``P`` and locks every row of the
   original filter (PostgreSQL and MySQL), as Django's ``UPDATE`` would lock them:
   ``SELECT pk FROM (SELECT pk, CASE WHEN P … FROM … WHERE <filter> ORDER BY pk LIMIT
   <huge> FOR [NO KEY] UPDATE) WHERE passes`` (the LIMIT keeps the outer WHERE out of
   the locking read). From then on no concurrent writer can move a row
   of the filter into or out of ``P``; both statements below see the rows as they are
   now.
2. Django's ``UPDATE … WHERE <filter> AND NOT P`` writes the rest, before anything
   else is written, so ``P`` is evaluated on the same stored rows as in step 1.
3. The rows found in step 1, by key, go through the triggered path. They are chosen by
   key, not by ``P``, because step 2 may have made other rows match ``P`` (a
   ``WasEqual("status", "x")`` with ``update(status="x")``): no row is written twice.

Splitting pays only while few enough rows pass: the passing rows go by key, in ``IN``
lists slower than the triggered path's own keyset reads, and the plain write is one
more statement. So before step 1 a non-locking count (``COUNT(*)`` and the passing
rows, no rows sent back) measures the share of the filter that passes; at
:data:`UPDATE_SPLIT_SHARE` or more the update is not split and runs the ordinary
triggered path, with its own locks, as with ``PUSHDOWN`` off. The count decides the
route only; what is written always follows the locked read.

The return value is the sum of both counts, which is Django's count. A SQLite
transaction holds the database against other writers once it writes (a concurrent
commit in between makes the write fail, never silently skip a row).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.exceptions import EmptyResultSet
from django.db import connections, models
from django.db.models import BooleanField, Case, Count, F, Q, Value, When

from bulk_triggers import conf
from bulk_triggers.keyset import locked, pk_order, reads_beyond_row, writes_key, writes_pk
from bulk_triggers.pushdown import Planned, Pushdown, update_targets

if TYPE_CHECKING:
    from bulk_triggers.trigger import TriggerMeta

__all__ = [
    "Split",
    "by_key",
    "pass_filter",
    "passing",
    "passing_keys",
    "rest",
    "split_update",
    "splittable",
    "worth_splitting",
]

_KEY = "bulk_triggers_key"
_PASSES = "bulk_triggers_passes"
_NO_LIMIT = 2**63 - 1
MAX_PARAMS = 60_000  # Below PostgreSQL's 65,535 parameters per statement.

# The share of the filter's rows passing from which the split costs more than it saves,
# per vendor. Measured at N = 10,000 (two runs, CPU time of Python and of the server,
# the split's time over PUSHDOWN off's; docs/performance.md has the table):
# - update(amount=7) / update(status=…), a before and an after HasChanged trigger, at
#   60% / 75% / 90% passing: SQLite ~0.7 / 0.82-0.92 / 0.88-1.09, PostgreSQL
#   0.84-0.85 / 0.89-1.09 / 1.11-1.28, MariaDB 0.79-0.81 / 0.94-1.08 / 0.99-1.18.
UPDATE_SPLIT_SHARE = {"sqlite": 0.9, "postgresql": 0.75, "mysql": 0.75}
# - delete() with after triggers only, not split one DELETE … RETURNING per chunk, at
#   25% / 40% / 50% / 75%: SQLite 0.48 / 0.64 / 0.61-0.83 / 1.04-1.08, PostgreSQL
#   0.58-0.73 / 1.28 / 1.17-1.27 / 1.84, MariaDB 0.63-0.91 / 1.13 / 1.14-1.46 / 1.61.
DELETE_SPLIT_SHARE = {"sqlite": 0.7, "postgresql": 0.3, "mysql": 0.3}
# - delete() with a before trigger too, at 40% / 50% / 60% / 75%: SQLite 0.54 /
#   0.58-0.78 / 0.84 / 0.82-1.10, PostgreSQL 0.94 / 0.68-0.99 / 1.08 / 1.43-1.61,
#   MariaDB 0.55 / 0.72-0.79 / 0.90 / 0.91-1.11.
DELETE_BEFORE_SPLIT_SHARE = {"sqlite": 0.75, "postgresql": 0.5, "mysql": 0.7}


@dataclass
class Split:
    """The result of :func:`split_update`: rows written plainly, and the rest, by key."""

    written: int
    batches: list[models.QuerySet[Any]] = field(default_factory=list)


def pass_filter(triggers: Sequence[TriggerMeta], planned: Planned) -> Pushdown | None:
    """Return the union of the triggers' conditions as SQL, or None if one has no form."""
    union = Pushdown.never()
    for trigger in triggers:
        condition = trigger.condition
        form = None if condition is None else condition.pushdown(planned)
        if form is None:
            return None
        union = union | form
    return union


def split_update(
    queryset: models.QuerySet[Any],
    triggers: Sequence[TriggerMeta],
    values: dict[str, Any],
    known: dict[str, Any],
    using: str,
) -> Split | None:
    """Write the rows no trigger wants with Django's ``UPDATE``; return the rest by key.

    None when the update cannot be split: a trigger without a SQL form, a filter that
    is not on the model's own table alone (joins, ``distinct``, annotations, subqueries),
    a composite or written primary key, multi-table inheritance. The caller then runs
    the whole update through the triggered path.

    Args:
        queryset: The queryset ``update()`` was called on.
        triggers: The active update triggers.
        values: ``update()``'s keyword arguments.
        known: The attnames whose new value is a known literal, with that value.
        using: The database alias.
    """
    model = queryset.model
    if not conf.flag("PUSHDOWN") or not splittable(queryset, values):
        return None
    vendor = connections[using].vendor
    planned = Planned(model, "update", vendor, update_targets(model, values, known))
    form = pass_filter(triggers, planned)
    if form is None or form.const is True:
        return None
    plain: models.QuerySet[Any] = models.QuerySet(
        model=model, query=queryset.query.chain(), using=using
    )
    if form.const is False:
        return Split(plain.update(**values))
    if not worth_splitting(plain, form.q, split_share(UPDATE_SPLIT_SHARE, vendor)):
        return None  # Most rows pass: the triggered path is cheaper for them all.
    no_key = not writes_key(model, list(_attnames(model, values)))
    keys = passing_keys(plain, form.q, using, no_key)
    written = plain.filter(rest(form.q)).update(**values)
    return Split(written, by_key(model, keys, using))


def by_key(model: type[models.Model], keys: list[Any], using: str) -> list[models.QuerySet[Any]]:
    """Return querysets of ``model``'s rows with ``keys``, a chunk's worth each."""
    size = min(conf.get("CHUNK_SIZE"), connections[using].features.max_query_params or MAX_PARAMS)
    rows = model._base_manager.db_manager(using)
    return [rows.filter(pk__in=keys[start : start + size]) for start in range(0, len(keys), size)]


def passing(passes: Q) -> Case:
    """Return ``passes`` as a true-or-false expression: SQL's unknown counts as false.

    The key ``SELECT`` and the plain write both test this one expression, so that every
    row is in exactly one of them even if a custom form's ``Q`` yields NULL on a row.
    """
    return Case(When(passes, then=Value(True)), default=Value(False), output_field=BooleanField())


def rest(passes: Q) -> Q:
    """Return the filter of the rows outside ``passes``: those Django writes alone."""
    return ~Q(passing(passes))


def _attnames(model: type[models.Model], values: dict[str, Any]) -> list[str]:
    return [model._meta.get_field(name).attname for name in values]  # type: ignore[union-attr]


def splittable(queryset: models.QuerySet[Any], values: dict[str, Any]) -> bool:
    """Return whether the filter reads the model's own row only, and the key stays."""
    query = queryset.query
    model = queryset.model
    opts = model._meta
    return (
        len(query.alias_map) <= 1
        and not query.distinct
        and query.group_by is None
        and not query.annotations
        and not query.combinator
        and not opts.parents
        and len(opts.pk_fields) == 1
        and not writes_pk(model, _attnames(model, values))
        and not reads_beyond_row(queryset)
    )


def passing_keys(plain: models.QuerySet[Any], passes: Q, using: str, no_key: bool) -> list[Any]:
    """Return the keys of the rows in ``passes``, locking every row of ``plain`` (step 1)."""
    inner = (
        plain.order_by(*pk_order(plain.model))
        .annotate(**{_KEY: F("pk"), _PASSES: passing(passes)})
        .values_list(_KEY, _PASSES)
    )
    # A LIMIT keeps the database from pushing the outer WHERE into the locking read
    # (PostgreSQL and MariaDB both would), which would then lock the passing rows only.
    inner = locked(inner[:_NO_LIMIT], only_self=True, no_key=no_key)
    try:
        sql, params = inner.query.get_compiler(using).as_sql()
    except EmptyResultSet:  # filter(pk__in=[]): no row, and no statement, as in Django.
        return []
    connection = connections[using]
    quote = connection.ops.quote_name
    statement = f"SELECT s.{quote(_KEY)} FROM ({sql}) s WHERE s.{quote(_PASSES)}"
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return [row[0] for row in cursor.fetchall()]


def split_share(shares: dict[str, float], vendor: str) -> float:
    """Return the share of passing rows from which ``vendor`` does not split (see above)."""
    return shares.get(vendor, min(shares.values()))


def worth_splitting(plain: models.QuerySet[Any], passes: Q, share: float) -> bool:
    """Return whether fewer than ``share`` of the rows of ``plain`` pass ``passes``.

    One non-locking aggregate: it reads the rows but sends none back, and takes no
    lock, so that an operation not split locks only as the triggered path does.
    """
    found = plain.aggregate(rows=Count("*"), passing=Count(Case(When(passes, then=Value(1)))))
    return not found["passing"] or bool(found["passing"] < share * found["rows"])
