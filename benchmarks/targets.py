"""Issue 14's targets, each checked per database on one run's medians and marked met or missed.

Medians at N = 10,000 (``report.TARGET_N``; a run without it is checked at its largest N,
which each detail names), the ``save()`` loops at their largest N (1,000), condition
pushdown at its largest N (the issue's 100,000). A target whose rows are missing is "not
measured"; one that applies to another database only is "n/a" with the figure anyway.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.operations import BY_NAME
from benchmarks.report import TARGET_N, label, ordered
from benchmarks.variants import VARIANT_LABELS, VARIANTS

BULK_UPDATE = 0.20
BULK_UPDATE_MOONSHOT = 0.10
NO_TRIGGER = 1.03
UPDATE_BEFORE = 0.50
DELETE_AFTER = 0.50
PUSHDOWN = 3.0
PUSHDOWN_OPERATION = "update_pushdown"
PUSHDOWN_VARIANTS = ("pushdown", "pair")
"""The variant the pushdown target reads: the first of these that the run measured."""
OURS = {"save_update": ("pair_from_load", "pair"), "delete": ("pair",)}
"""The bulk_triggers variant each peer target reads: the first of these that the run measured
(a variant for an opt-in setting that takes the old values from the load goes in front)."""
REGRESSION = {"bulk_create": 1.10, "save_create": 1.20}
"""Issue 5's bounds on the rows issue 14 does not change, kept as regression guards."""

Get = Callable[[str, str], "dict[str, Any] | None"]


@dataclass
class Target:
    """One target, checked on one database."""

    db: str
    name: str
    met: bool | None  # None: not measured in this run, or not for this database
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"db": self.db, "target": self.name, "met": self.met, "detail": self.detail}

    def line(self) -> str:
        status = {True: "met   ", False: "MISSED", None: "n/a   "}[self.met]
        return f"  [{status}] {self.db:<10} {self.name}: {self.detail}"


def check_targets(
    rows: list[dict[str, Any]], chunk_size: int, skipped: list[dict[str, Any]] | None = None
) -> list[Target]:
    """Check every target on every database of ``rows``; ``skipped`` explains missing peers."""
    index = {(r["db"], r["operation"], r["n"], r["variant"]): r for r in rows}
    sizes = {r["n"] for r in rows}
    target_n = TARGET_N if TARGET_N in sizes or not sizes else max(sizes)
    largest: dict[tuple[str, str], int] = {}
    for r in rows:
        key = (r["db"], r["operation"])
        largest[key] = max(largest.get(key, 0), r["n"])
    targets: list[Target] = []
    for db in ordered(r["db"] for r in rows):

        def get(op: str, variant: str, db: str = db) -> dict[str, Any] | None:
            known = BY_NAME.get(op)
            if op == PUSHDOWN_OPERATION or known is None:
                n = largest.get((db, op), 0)
            else:
                n = min(known.max_n or target_n, target_n)
            return index.get((db, op, n, variant))

        def why(op: str, variant: str, db: str = db) -> str:
            reasons = [
                s["reason"]
                for s in skipped or []
                if s["db"] == db and s["operation"] == op and s["variant"] == variant
            ]
            return f"skipped: {reasons[0]}" if reasons else "not measured"

        targets.append(_bulk_update(db, get, chunk_size))
        targets.append(_fast_bulk_update(db, get))
        for op in ("update_value", "update_f"):
            targets.append(_update_before(db, get, op))
        for op in ("update_value", "update_f"):
            targets.append(_update_after(db, get, op, chunk_size))
        targets.append(_delete_after(db, get))
        targets.append(_pushdown(db, get))
        targets.append(_peer(db, get, why, "delete", "bulk_hooks", "floor"))
        targets.append(_peer(db, get, why, "save_update", "lifecycle", "django"))
        targets.append(_no_trigger(db, get))
        for op, limit in REGRESSION.items():
            targets.append(_regression(db, get, op, limit))
    return targets


def _ten(row: dict[str, Any] | None, key: str) -> str:
    value = row.get(key) if row else None
    return f"; ten triggers {value:.2f}x" if value is not None else ""


def _kinds_minus(row: dict[str, Any], base: dict[str, Any]) -> dict[str, int]:
    kinds = row["statement_kinds"]
    other = base["statement_kinds"]
    return {k: kinds.get(k, 0) - other.get(k, 0) for k in sorted({*kinds, *other})}


def _work(row: dict[str, Any]) -> int:
    """Return the statements that are not transaction control (BEGIN, SAVEPOINT...)."""
    return int(row["statements"]) - int(row["statement_kinds"].get("transaction", 0))


def _bulk_update(db: str, get: Get, chunk_size: int) -> Target:
    """One joined UPDATE per batch, and one SELECT of the old rows per chunk."""
    name = (
        f"bulk_update with triggers: ≤ {BULK_UPDATE:.2f}x plain (moonshot "
        f"{BULK_UPDATE_MOONSHOT:.2f}x), one extra SELECT per chunk"
    )
    row, plain = get("bulk_update", "pair"), get("bulk_update", "django")
    if row is None or plain is None:
        return Target(db, name, None, "not measured")
    chunks = math.ceil(row["n"] / chunk_size)
    extra = _kinds_minus(row, plain)
    selects = extra.pop("SELECT", 0)
    met = row["ratio_plain"] <= BULK_UPDATE and selects == chunks
    others = ", ".join(f"{v:+d} {k}" for k, v in extra.items() if v)
    moonshot = "moonshot met" if row["ratio_plain"] <= BULK_UPDATE_MOONSHOT else "moonshot not"
    detail = (
        f"{row['ratio_plain']:.2f}x plain (N = {row['n']:,}, {moonshot}), {selects:+d} SELECT "
        f"for {chunks} chunk(s){f' (and {others})' if others else ''}"
        f"{_ten(get('bulk_update', 'ten'), 'ratio_plain')}"
    )
    return Target(db, name, met, detail)


def _fast_bulk_update(db: str, get: Get) -> Target:
    """The same write, opted in for a model without triggers."""
    name = (
        f"bulk_update without triggers, FAST_BULK_UPDATE: ≤ {BULK_UPDATE:.2f}x plain, "
        "no extra statement"
    )
    row, plain = get("bulk_update", "fast"), get("bulk_update", "django")
    if row is None or plain is None:
        return Target(db, name, None, "not measured")
    extra = row["statements"] - plain["statements"]
    met = row["ratio_plain"] <= BULK_UPDATE and extra <= 0
    detail = f"{row['ratio_plain']:.2f}x plain (N = {row['n']:,}), {extra:+d} statements"
    return Target(db, name, met, detail)


def _update_before(db: str, get: Get, op: str) -> Target:
    name = f"{label(op)} with before+after triggers: ≤ {UPDATE_BEFORE:.2f}x floor"
    row, floor = get(op, "pair"), get(op, "floor")
    if row is None or floor is None or row.get("ratio_floor") is None:
        return Target(db, name, None, "not measured")
    detail = (
        f"{row['ratio_floor']:.2f}x floor ({row['ratio_plain']:.1f}x plain, N = {row['n']:,}); "
        f"{_work(row)} statements, the floor {_work(floor)} (transaction control not counted)"
        f"{_ten(get(op, 'ten'), 'ratio_floor')}"
    )
    return Target(db, name, row["ratio_floor"] <= UPDATE_BEFORE, detail)


def _update_after(db: str, get: Get, op: str, chunk_size: int) -> Target:
    """With no before stage, PostgreSQL can write and return the rows in one statement."""
    name = f"{label(op)} with an after trigger only: one statement per chunk on PostgreSQL"
    row = get(op, "after")
    if row is None:
        return Target(db, name, None, "not measured")
    chunks = math.ceil(row["n"] / chunk_size)
    ratio = f"{row['ratio_floor']:.2f}x floor, " if row.get("ratio_floor") is not None else ""
    detail = (
        f"{ratio}{_work(row)} statements for {chunks} chunk(s) (N = {row['n']:,}, "
        "transaction control not counted)"
    )
    if db != "postgresql":
        return Target(db, name, None, f"PostgreSQL only; here {detail}")
    return Target(db, name, _work(row) == chunks, detail)


def _delete_after(db: str, get: Get) -> Target:
    name = f"{label('delete')} with an after trigger only: ≤ {DELETE_AFTER:.2f}x floor"
    row = get("delete", "after")
    if row is None or row.get("ratio_floor") is None:
        return Target(db, name, None, "not measured")
    detail = (
        f"{row['ratio_floor']:.2f}x floor ({row['ratio_plain']:.1f}x plain, N = {row['n']:,}); "
        f"{_work(row)} statements (transaction control not counted)"
    )
    return Target(db, name, row["ratio_floor"] <= DELETE_AFTER, detail)


def _pushdown(db: str, get: Get) -> Target:
    """A condition few rows pass, decided in SQL, so that the other rows are never loaded."""
    name = f"update(status=…) over 100,000 rows, 1% passing ChangesTo: ≤ {PUSHDOWN:.1f}x plain"
    row = next(
        (r for v in PUSHDOWN_VARIANTS if (r := get(PUSHDOWN_OPERATION, v)) is not None), None
    )
    if row is None or row.get("ratio_plain") is None:
        return Target(db, name, None, "not measured")
    detail = f"{row['ratio_plain']:.2f}x plain (N = {row['n']:,}); {_work(row)} statements"
    if row["n"] < 100_000:
        detail += " (below the target's N = 100,000)"
    return Target(db, name, row["ratio_plain"] <= PUSHDOWN, detail)


def _peer(
    db: str, get: Get, why: Callable[[str, str], str], op: str, peer: str, base: str
) -> Target:
    """bulk_triggers' before+after against a peer's equivalent hooks, measured side by side."""
    name = f"{label(op)} with before+after triggers: no slower than {VARIANTS[peer].peer}"
    row = next((r for v in OURS[op] if (r := get(op, v)) is not None), None)
    other = get(op, peer)
    if row is None:
        return Target(db, name, None, "not measured")
    if other is None:
        return Target(db, name, None, why(op, peer))
    key = "ratio_plain" if base == "django" else "ratio_floor"
    if row.get(key) is None or other.get(key) is None:
        key, base = "ratio_plain", "django"
    ratio = row["median_s"] / other["median_s"]
    detail = (
        f"{VARIANT_LABELS[row['variant']]} {ratio:.2f}x {VARIANT_LABELS[peer]}; "
        f"{row[key]:.2f}x against {other[key]:.2f}x "
        f"{'plain' if base == 'django' else 'floor'} (N = {row['n']:,}); statements "
        f"{_work(row)} against {_work(other)}"
    )
    ours_tx = row.get("statement_kinds", {}).get("transaction", 0)
    peer_tx = other.get("statement_kinds", {}).get("transaction", 0)
    if peer_tx < ours_tx:
        # django-lifecycle opens its transaction on "default" only: on another database
        # its hooks and the write are not one unit, and it skips what atomicity costs.
        detail += (
            f"; not like for like: {VARIANT_LABELS[peer]} sends {peer_tx:,} transaction "
            f"statements against {ours_tx:,} (its hooks and write are not one transaction)"
        )
    return Target(db, name, ratio <= 1.0, detail)


def _no_trigger(db: str, get: Get) -> Target:
    name = f"no trigger: ≤ {NO_TRIGGER:.2f}x plain on every operation, no extra statement"
    parts, met, sizes = [], True, set()
    for op in BY_NAME:
        row, plain = get(op, "none"), get(op, "django")
        if row is None or plain is None:
            continue
        extra = row["statements"] - plain["statements"]
        ok = row["ratio_plain"] <= NO_TRIGGER and extra == 0
        met = met and ok
        sizes.add(row["n"])
        stmt = f" ({extra:+d} stmt)" if extra else ""
        parts.append(f"{op} {row['ratio_plain']:.2f}x{stmt}{'' if ok else ' ✗'}")
    if not parts:
        return Target(db, name, None, "not measured")
    at = ", ".join(f"{n:,}" for n in sorted(sizes))
    return Target(db, name, met, ", ".join(parts) + f" (N = {at})")


def _regression(db: str, get: Get, op: str, limit: float) -> Target:
    name = f"no regression: {label(op)} with triggers ≤ {limit:.2f}x plain"
    row = get(op, "pair")
    if row is None or row.get("ratio_plain") is None:
        return Target(db, name, None, "not measured")
    detail = (
        f"{row['ratio_plain']:.2f}x plain (N = {row['n']:,}){_ten(get(op, 'ten'), 'ratio_plain')}"
    )
    return Target(db, name, row["ratio_plain"] <= limit, detail)
