"""Rows, ratios, targets and the text outputs (console table, JSON, Markdown) of a run."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.measure import VARIANT_LABELS
from benchmarks.operations import BY_NAME

TARGET_N = 10_000
BULK_UPDATE_TARGET = 0.20


def rows_with_ratios(measurements: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return one row per measurement with ``ratio_plain`` and ``ratio_floor`` added."""
    rows = [dict(m) for m in measurements]
    medians = {(r["db"], r["operation"], r["n"], r["variant"]): r["median_s"] for r in rows}
    for row in rows:
        key = (row["db"], row["operation"], row["n"])
        plain = medians.get((*key, "django"))
        floor = medians.get((*key, "floor"))
        row["ratio_plain"] = row["median_s"] / plain if plain else None
        row["ratio_floor"] = row["median_s"] / floor if floor else None
    return rows


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 10 else f"{seconds:,.2f} s"


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}x"


def _kib(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"


def _stmts(row: dict[str, Any]) -> str:
    kinds = row.get("statement_kinds") or {}
    detail = " ".join(f"{k[0]}{v}" for k, v in kinds.items() if k not in ("transaction", "other"))
    for kind, suffix in (("transaction", "tx"), ("other", "other")):
        if kinds.get(kind):
            detail += f" +{kinds[kind]} {suffix}"
    return f"{row['statements']} ({detail})" if detail else str(row["statements"])


HEADER = ("N", "variant", "median", "x plain", "x floor", "statements", "peak KiB")


def table_lines(rows: list[dict[str, Any]], markdown: bool = False) -> list[str]:
    """Render the results, one block per database and operation."""
    lines: list[str] = []
    for db in _ordered(r["db"] for r in rows):
        for name in _ordered(r["operation"] for r in rows if r["db"] == db):
            block = [r for r in rows if r["db"] == db and r["operation"] == name]
            title = f"{db} — {BY_NAME[name].label}"
            cells = [
                (
                    f"{r['n']:,}",
                    VARIANT_LABELS[r["variant"]],
                    _ms(r["median_s"]),
                    _ratio(r["ratio_plain"]),
                    _ratio(r["ratio_floor"]),
                    _stmts(r),
                    _kib(r["peak_kib"]),
                )
                for r in block
            ]
            lines.extend(_render(title, cells, markdown))
    return lines


def _render(title: str, cells: Sequence[tuple[str, ...]], markdown: bool) -> list[str]:
    if markdown:
        out = [f"#### {title}", "", "| " + " | ".join(HEADER) + " |"]
        out.append("|" + "|".join(["---:", ":---", "---:", "---:", "---:", "---:", "---:"]) + "|")
        out.extend("| " + " | ".join(row) + " |" for row in cells)
        return [*out, ""]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(HEADER)]
    left = {1}
    fmt = "  ".join(f"{{:{'<' if i in left else '>'}{w}}}" for i, w in enumerate(widths))
    return [title, "  " + fmt.format(*HEADER), *("  " + fmt.format(*row) for row in cells), ""]


def _ordered(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


@dataclass
class Target:
    """One target of issue 5, checked on one database."""

    db: str
    name: str
    met: bool | None  # None: not measured in this run
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"db": self.db, "target": self.name, "met": self.met, "detail": self.detail}

    def line(self) -> str:
        status = {True: "met   ", False: "MISSED", None: "n/a   "}[self.met]
        return f"  [{status}] {self.db:<10} {self.name}: {self.detail}"


def check_targets(rows: list[dict[str, Any]], chunk_size: int) -> list[Target]:
    """Check each target of issue 5 on the medians at N = 10,000 (save() loops: 1,000).

    A run without N = 10,000 is checked at its largest N, which each detail names.
    """
    index = {(r["db"], r["operation"], r["n"], r["variant"]): r for r in rows}
    sizes = {r["n"] for r in rows}
    target_n = TARGET_N if TARGET_N in sizes or not sizes else max(sizes)
    targets: list[Target] = []
    for db in _ordered(r["db"] for r in rows):

        def get(op: str, variant: str, db: str = db) -> dict[str, Any] | None:
            n = min(BY_NAME[op].max_n or target_n, target_n)
            return index.get((db, op, n, variant))

        targets.append(_no_trigger(db, get))
        targets.append(_ratio_target(db, get, "bulk_create", "ratio_plain", 1.10, "plain"))
        targets.append(_bulk_update_target(db, get, chunk_size))
        targets.append(_fast_bulk_update_target(db, get))
        for op in ("update_value", "update_f"):
            targets.append(_update_target(db, get, op, chunk_size))
        targets.append(_ratio_target(db, get, "delete", "ratio_floor", 1.0, "floor"))
        targets.append(_ratio_target(db, get, "save_update", "ratio_plain", 1.6, "plain"))
        targets.append(_ratio_target(db, get, "save_create", "ratio_plain", 1.2, "plain"))
    return targets


def _ten(row: dict[str, Any] | None, key: str) -> str:
    value = row.get(key) if row else None
    return f"; ten triggers {value:.2f}x" if value is not None else ""


def _no_trigger(db: str, get: Any) -> Target:
    name = "no trigger: ≤ 1.03x plain on every operation, no extra statement"
    parts, met, sizes = [], True, set()
    for op in BY_NAME:
        row, plain = get(op, "none"), get(op, "django")
        if row is None or plain is None:
            continue
        extra = row["statements"] - plain["statements"]
        ok = row["ratio_plain"] <= 1.03 and extra == 0
        met = met and ok
        sizes.add(row["n"])
        stmt = f" ({extra:+d} stmt)" if extra else ""
        parts.append(f"{op} {row['ratio_plain']:.2f}x{stmt}{'' if ok else ' ✗'}")
    if not parts:
        return Target(db, name, None, "not measured")
    at = ", ".join(f"{n:,}" for n in sorted(sizes))
    return Target(db, name, met, ", ".join(parts) + f" (N = {at})")


def _ratio_target(db: str, get: Any, op: str, key: str, limit: float, base: str) -> Target:
    name = f"{BY_NAME[op].label} with triggers: ≤ {limit:.2f}x {base}"
    row = get(op, "pair")
    if row is None or row.get(key) is None:
        return Target(db, name, None, "not measured")
    value = row[key]
    detail = f"{value:.2f}x {base} (N = {row['n']:,}){_ten(get(op, 'ten'), key)}"
    return Target(db, name, value <= limit, detail)


def _fast_bulk_update_target(db: str, get: Any) -> Target:
    """Issue 14: the fast write, opted in for a model without triggers."""
    name = "bulk_update without triggers, FAST_BULK_UPDATE: ≤ 0.20x plain, no extra statement"
    row, plain = get("bulk_update", "fast"), get("bulk_update", "django")
    if row is None or plain is None:
        return Target(db, name, None, "not measured")
    extra = row["statements"] - plain["statements"]
    met = row["ratio_plain"] <= BULK_UPDATE_TARGET and extra <= 0
    detail = f"{row['ratio_plain']:.2f}x plain (N = {row['n']:,}), {extra:+d} statements"
    return Target(db, name, met, detail)


def _bulk_update_target(db: str, get: Any, chunk_size: int) -> Target:
    """Issue 14: one joined UPDATE per batch; the moonshot is 0.10x."""
    name = "bulk_update with triggers: ≤ 0.20x plain (moonshot 0.10x), one extra SELECT per chunk"
    row, plain = get("bulk_update", "pair"), get("bulk_update", "django")
    if row is None or plain is None:
        return Target(db, name, None, "not measured")
    chunks = math.ceil(row["n"] / chunk_size)
    extra = _kinds_minus(row, plain)
    selects = extra.pop("SELECT", 0)
    met = row["ratio_plain"] <= BULK_UPDATE_TARGET and selects == chunks
    others = ", ".join(f"{v:+d} {k}" for k, v in extra.items() if v)
    detail = (
        f"{row['ratio_plain']:.2f}x plain (N = {row['n']:,}), {selects:+d} SELECT for "
        f"{chunks} chunk(s){f' (and {others})' if others else ''}"
        f"{_ten(get('bulk_update', 'ten'), 'ratio_plain')}"
    )
    return Target(db, name, met, detail)


def _kinds_minus(row: dict[str, Any], base: dict[str, Any]) -> dict[str, int]:
    kinds = row["statement_kinds"]
    other = base["statement_kinds"]
    return {k: kinds.get(k, 0) - other.get(k, 0) for k in sorted({*kinds, *other})}


def _work(row: dict[str, Any]) -> int:
    """Return the statements that are not transaction control (BEGIN, SAVEPOINT...)."""
    return int(row["statements"]) - int(row["statement_kinds"].get("transaction", 0))


def _update_target(db: str, get: Any, op: str, chunk_size: int) -> Target:
    """Check the time against the floor, and the statements per chunk against the floor's.

    The floor reads and writes all N rows in three statements; the engine works chunk by
    chunk, so its promise is fewer statements per chunk (a SELECT that computes the new
    values, then the write) than the floor needs in all.
    """
    name = f"{BY_NAME[op].label} with triggers: ≤ 0.90x floor, fewer statements per chunk"
    row, floor = get(op, "pair"), get(op, "floor")
    if row is None or floor is None:
        return Target(db, name, None, "not measured")
    chunks = math.ceil(row["n"] / chunk_size)
    per_chunk = _work(row) / chunks
    met = row["ratio_floor"] <= 0.9 and per_chunk < _work(floor)
    detail = (
        f"{row['ratio_floor']:.2f}x floor ({row['ratio_plain']:.1f}x plain, N = {row['n']:,}); "
        f"{_work(row)} statements in {chunks} chunk(s) = {per_chunk:.1f} per chunk, the floor "
        f"{_work(floor)} (transaction control not counted){_ten(get(op, 'ten'), 'ratio_floor')}"
    )
    return Target(db, name, met, detail)
