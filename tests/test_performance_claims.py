"""The ratios the README and the performance page publish are those of docs/benchmark.json.

Each published table row names the benchmark row it quotes (operation, variant, N); a
regenerated benchmark whose figures the prose was not updated to fails here, as does a
table row nobody mapped.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATABASES = ("sqlite", "postgresql", "mysql")
TIMES, DASH = "\u00d7", "\u2013"  # as the tables print them

Source = tuple[str, str, int]
"""A benchmark row: operation, variant, N."""

README_ROWS: dict[str, Source | None] = {
    "`bulk_update()` (one joined `UPDATE` per batch)": ("bulk_update", "pair", 10_000),
    "`update(status=…)` over 100,000 rows, 1% passing the conditions": (
        "update_pushdown",
        "pair",
        100_000,
    ),
    "`bulk_create()`": ("bulk_create", "pair", 10_000),
    "`save()` loop of loaded rows (`SAVE_OLD_FROM_LOAD`)": ("save_update", "pair_from_load", 1_000),
    "any operation, no trigger for it (the same statements)": None,  # the no-trigger target
}

PAGE_ROWS: dict[str, Source] = {
    "`bulk_create`": ("bulk_create", "pair", 10_000),
    "`bulk_update` (half the rows change)": ("bulk_update", "pair", 10_000),
    "`bulk_update`, no trigger, `FAST_BULK_UPDATE`": ("bulk_update", "fast", 10_000),
    "`update(amount=7)` (99% pass: counted, not split)": ("update_value", "pair", 10_000),
    "the same, `PUSHDOWN` off": ("update_value", "pair_no_pushdown", 10_000),
    "the same, after trigger only": ("update_value", "after", 10_000),
    '`update(amount=F("amount") + 1)`': ("update_f", "pair", 10_000),
    "`update(amount=7)`, 100,000 rows, 1% pass": ("update_pushdown", "pair", 100_000),
    "`queryset.delete()` (every row passes: counted, not split)": ("delete", "pair", 10_000),
    "the same, after trigger only ": ("delete", "after", 10_000),
    "django-bulk-hooks, before+after": ("delete", "bulk_hooks", 10_000),
    "`save()` loop, existing rows": ("save_update", "pair", 1_000),
    "the same, `SAVE_OLD_FROM_LOAD`": ("save_update", "pair_from_load", 1_000),
    "django-lifecycle, same loop": ("save_update", "lifecycle", 1_000),
    "`save()` loop, new rows": ("save_create", "pair", 1_000),
}


@pytest.fixture(scope="module")
def run() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "docs" / "benchmark.json").read_text())
    return data


def _index(run: dict[str, Any]) -> dict[tuple[str, str, str, int], dict[str, Any]]:
    return {(r["db"], r["operation"], r["variant"], r["n"]): r for r in run["results"]}


def _table(text: str, header: str) -> list[list[str]]:
    """Return the cells of the Markdown table whose header row starts with ``header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def _close(published: str, measured: float, where: str) -> None:
    """Check a published figure (``0.13x``, ``**2.26**``, ``23.7``) against the measured one."""
    match = re.fullmatch(rf"\**([0-9]+(?:\.([0-9]+))?){TIMES}?\**", published)
    assert match, f"{where}: {published!r} is not a ratio"
    decimals = len(match.group(2) or "")
    tolerance = 0.5 * 10**-decimals + 1e-9
    value = float(match.group(1))
    assert abs(value - measured) <= tolerance, (
        f"{where}: published {value}, measured {measured:.3f}"
    )


def _no_trigger_range(run: dict[str, Any], db: str) -> tuple[float, float]:
    target = next(
        t for t in run["targets"] if t["db"] == db and t["target"].startswith("no trigger")
    )
    figures = [float(x) for x in re.findall(r"([0-9]+\.[0-9]+)x", target["detail"])]
    return min(figures), max(figures)


def test_readme_performance_table_quotes_the_benchmark(run: dict[str, Any]) -> None:
    text = (ROOT / "README.md").read_text()
    rows = _table(text, "| operation | SQLite | PostgreSQL | MariaDB |")
    index = _index(run)
    assert [row[0] for row in rows] == list(README_ROWS), "README table rows changed: map them"
    for label, *cells in rows:
        source = README_ROWS[label]
        for db, cell in zip(DATABASES, cells, strict=True):
            if source is None:
                low, high = _no_trigger_range(run, db)
                published = re.fullmatch(rf"([0-9.]+){DASH}([0-9.]+){TIMES}", cell)
                assert published, f"README {label} {db}: {cell!r}"
                _close(published.group(1), low, f"README {label} {db} (low)")
                _close(published.group(2), high, f"README {label} {db} (high)")
                continue
            operation, variant, n = source
            measured = index[(db, operation, variant, n)]["ratio_plain"]
            _close(cell, measured, f"README {label} {db}")


def test_performance_page_table_quotes_the_benchmark(run: dict[str, Any]) -> None:
    text = (ROOT / "docs" / "performance.md").read_text()
    rows = _table(text, f"| operation | SQLite {TIMES} plain |")
    index = _index(run)
    labels = [row[0] for row in rows]
    # Two rows read "the same, after trigger only": the second (delete) is keyed with a space.
    keyed = []
    for label in labels:
        keyed.append(label + " " if label in keyed else label)
    assert keyed == list(PAGE_ROWS), "performance page table rows changed: map them"
    for key, (_, *cells) in zip(keyed, rows, strict=True):
        operation, variant, n = PAGE_ROWS[key]
        for position, db in enumerate(DATABASES):
            row = index[(db, operation, variant, n)]
            plain, floor = cells[2 * position], cells[2 * position + 1]
            _close(plain, row["ratio_plain"], f"performance.md {key.strip()} {db} plain")
            if floor:
                _close(floor, row["ratio_floor"], f"performance.md {key.strip()} {db} floor")


def test_lifecycle_transaction_is_on_the_default_database_only(run: dict[str, Any]) -> None:
    """The performance page's reading of the django-lifecycle comparison, in the run's counts.

    django-lifecycle opens its transaction on ``default`` (SQLite in the benchmark): there
    its save loop sends BEGIN and COMMIT per save as ours does; on PostgreSQL and MariaDB
    its UPDATE runs in autocommit, where ours keeps the stages in one transaction.
    """
    index = _index(run)
    for db in DATABASES:
        lifecycle = index[(db, "save_update", "lifecycle", 1_000)]["statement_kinds"]
        ours = index[(db, "save_update", "pair_from_load", 1_000)]["statement_kinds"]
        assert ours.get("transaction") == 2_000, db
        assert lifecycle.get("transaction", 0) == (2_000 if db == "sqlite" else 0), db
