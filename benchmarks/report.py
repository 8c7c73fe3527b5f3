"""Rows, ratios and the text outputs (console table, notes) of a run; targets are in targets.py."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from benchmarks.operations import BY_NAME
from benchmarks.variants import VARIANT_LABELS

TARGET_N = 10_000
"""The N at which the targets are checked; larger N run fewer rounds and no memory run."""


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
    for db in ordered(r["db"] for r in rows):
        for name in ordered(r["operation"] for r in rows if r["db"] == db):
            block = [r for r in rows if r["db"] == db and r["operation"] == name]
            title = f"{db} — {label(name)}"
            cells = [
                (
                    f"{r['n']:,}",
                    VARIANT_LABELS.get(r["variant"], r["variant"]),
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


def ordered(values: Iterable[str]) -> list[str]:
    """Return ``values`` without repeats, in first-seen order."""
    return list(dict.fromkeys(values))


def label(operation: str) -> str:
    """Return the operation's label (its name, for one this checkout does not know)."""
    known = BY_NAME.get(operation)
    return known.label if known else operation


def notes(data: dict[str, Any]) -> list[str]:
    """Return the lines saying how the run went: load, limited rows, skipped variants."""
    meta = data.get("meta", {})
    lines = [
        f"Load average {meta.get('load_average_start')} at the start, "
        f"{meta.get('load_average_end')} at the end."
    ]
    limits = meta.get("limits") or []
    if limits:
        lines.append("Limited to keep the run short:")
        lines.extend(f"  - {limit}" for limit in limits)
    skipped = skipped_lines(data.get("skipped") or [])
    if skipped:
        lines.append("Skipped (the peer does not work there):")
        lines.extend(f"  - {line}" for line in skipped)
    return lines


def skipped_lines(skipped: list[dict[str, Any]]) -> list[str]:
    """Return one line per skipped variant and reason, naming where it was skipped."""
    where: dict[tuple[str, str], list[str]] = {}
    for s in skipped:
        key = (VARIANT_LABELS.get(s["variant"], s["variant"]), s["reason"])
        where.setdefault(key, []).append(f"{s['db']} {label(s['operation'])} N = {s['n']:,}")
    return [
        f"{variant} ({'; '.join(places)}): {reason}" for (variant, reason), places in where.items()
    ]
