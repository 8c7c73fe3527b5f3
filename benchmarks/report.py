"""Rows, ratios, targets and the text outputs (console table, JSON, Markdown) of a run."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from benchmarks.measure import VARIANT_LABELS
from benchmarks.operations import BY_NAME

TARGET_N = 10_000


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


def _render(title: str, cells: list[tuple[str, ...]], markdown: bool) -> list[str]:
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
        for op in ("update_value", "update_f"):
            targets.append(_update_target(db, get, op))
        targets.append(_ratio_target(db, get, "delete", "ratio_floor", 1.0, "floor"))
        targets.append(_ratio_target(db, get, "save_update", "ratio_plain", 1.6, "plain"))
        targets.append(_ratio_target(db, get, "save_create", "ratio_plain", 1.2, "plain"))
    return targets


def _ten(row: dict[str, Any] | None, key: str) -> str:
    value = row.get(key) if row else None
    return f"; ten triggers {value:.2f}x" if value is not None else ""


def _no_trigger(db: str, get: Any) -> Target:
    name = "no trigger: ≤ 1.03x plain on every operation, no extra statement"
    parts, met = [], True
    for op in BY_NAME:
        row, plain = get(op, "none"), get(op, "django")
        if row is None or plain is None:
            continue
        none = row
        extra = none["statements"] - plain["statements"]
        ok = none["ratio_plain"] <= 1.03 and extra == 0
        met = met and ok
        parts.append(
            f"{op} {none['ratio_plain']:.2f}x"
            + (f" ({extra:+d} stmt)" if extra else "")
            + ("" if ok else " ✗")
        )
    if not parts:
        return Target(db, name, None, "not measured")
    return Target(db, name, met, ", ".join(parts) + f" (N = {none['n']:,}, save() loops ≤ 1,000)")


def _ratio_target(db: str, get: Any, op: str, key: str, limit: float, base: str) -> Target:
    name = f"{BY_NAME[op].label} with triggers: ≤ {limit:.2f}x {base}"
    row = get(op, "pair")
    if row is None or row.get(key) is None:
        return Target(db, name, None, "not measured")
    value = row[key]
    detail = f"{value:.2f}x {base} (N = {row['n']:,}){_ten(get(op, 'ten'), key)}"
    return Target(db, name, value <= limit, detail)


def _bulk_update_target(db: str, get: Any, chunk_size: int) -> Target:
    name = "bulk_update with triggers: ≤ 1.10x plain, one extra SELECT per chunk"
    row, plain = get("bulk_update", "pair"), get("bulk_update", "django")
    if row is None or plain is None:
        return Target(db, name, None, "not measured")
    chunks = math.ceil(row["n"] / chunk_size)
    extra = row["statement_kinds"].get("SELECT", 0) - plain["statement_kinds"].get("SELECT", 0)
    others = row["statements"] - row["statement_kinds"].get("SELECT", 0)
    plain_others = plain["statements"] - plain["statement_kinds"].get("SELECT", 0)
    met = row["ratio_plain"] <= 1.10 and extra == chunks and others == plain_others
    detail = (
        f"{row['ratio_plain']:.2f}x plain (N = {row['n']:,}), {extra} extra SELECT for "
        f"{chunks} chunk(s), {others - plain_others:+d} other statements"
        f"{_ten(get('bulk_update', 'ten'), 'ratio_plain')}"
    )
    return Target(db, name, met, detail)


def _update_target(db: str, get: Any, op: str) -> Target:
    name = f"{BY_NAME[op].label} with triggers: ≤ 0.90x floor, fewer statements"
    row, floor = get(op, "pair"), get(op, "floor")
    if row is None or floor is None:
        return Target(db, name, None, "not measured")
    met = row["ratio_floor"] <= 0.9 and row["statements"] < floor["statements"]
    detail = (
        f"{row['ratio_floor']:.2f}x floor ({row['ratio_plain']:.1f}x plain, N = {row['n']:,}), "
        f"{row['statements']} statements vs the floor's {floor['statements']}"
        f"{_ten(get(op, 'ten'), 'ratio_floor')}"
    )
    return Target(db, name, met, detail)
