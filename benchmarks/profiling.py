"""``--profile``: where the time of each operation goes, with before+after triggers, on SQLite.

Each operation runs once under ``cProfile`` for plain Django and once for bulk_triggers
with the before+after configuration, from the same starting rows. The report lists, per
operation, both totals and the top entries by cumulative time inside ``bulk_triggers/``
and ``django/``, then the top entries by own time anywhere.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import configs
from benchmarks.app.models import PlainItem, TriggerItem
from benchmarks.databases import create_tables, fill_template, reset
from benchmarks.operations import BY_NAME, OPERATIONS, Operation

TOP = 15
USING = "default"


def main(options: argparse.Namespace) -> int:
    """Profile the operations and print or write the Markdown report."""
    n = max(options.sizes) if options.sizes else 10_000
    names = [p.strip() for p in options.operations.split(",") if p.strip()]
    operations = [BY_NAME[name] for name in names] if names else list(OPERATIONS)
    triggers = configs.define_configs()
    create_tables(USING)
    fill_template(USING, n)
    sections = [
        "# Where bulk_triggers spends its time",
        "",
        f"cProfile, SQLite, before+after triggers (trigger bodies empty), N = {n:,} "
        "(save() loops: 1,000). Times are process CPU time under the profiler (so other "
        "processes on the machine do not count, and SQLite's own work, in-process, does); "
        "the profiler inflates Python-heavy code: read them relative to each other and to "
        "plain Django under the same profiler.",
        "",
    ]
    for operation in operations:
        size = min(n, operation.max_n or n)
        print(f"… profiling {operation.name} N={size:,}", file=sys.stderr, flush=True)
        plain = _profile(operation, PlainItem, (), size)
        ours = _profile(operation, TriggerItem, triggers["pair"], size)
        sections.extend(_section(operation, size, plain, ours))
    text = "\n".join(sections)
    if options.profile == "-":
        print(text)
    else:
        Path(options.profile).write_text(text)
        print(f"Wrote {options.profile}", file=sys.stderr)
    return 0


def _profile(operation: Operation, model: type[Any], triggers: Any, n: int) -> pstats.Stats:
    reset(model, USING, n if operation.rows_before else 0)
    data = operation.prepare(model, USING, n)
    profiler = cProfile.Profile(time.process_time)
    with configs.active(triggers):
        gc.collect()
        profiler.enable()
        operation.run(model, USING, data)
        profiler.disable()
    return pstats.Stats(profiler, stream=io.StringIO())


def _where(key: tuple[str, int, str]) -> str:
    filename, line, function = key
    for marker in ("/site-packages/", "/work/main/", "/lib/python3"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    if filename.startswith("~"):
        return function
    return f"{filename}:{line}({function})"


def _ours(key: tuple[str, int, str]) -> bool:
    return "/bulk_triggers/" in key[0] or "/django/" in key[0]


def _total(stats: pstats.Stats) -> float:
    return float(stats.total_tt)  # type: ignore[attr-defined]


def _section(operation: Operation, n: int, plain: pstats.Stats, ours: pstats.Stats) -> list[str]:
    entries: dict[Any, Any] = ours.stats  # type: ignore[attr-defined]
    cumulative = sorted(
        ((key, value) for key, value in entries.items() if _ours(key)),
        key=lambda item: item[1][3],
        reverse=True,
    )[:TOP]
    engine = sorted(
        ((key, value) for key, value in entries.items() if "/bulk_triggers/" in key[0]),
        key=lambda item: item[1][3],
        reverse=True,
    )[:TOP]
    own = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)[:10]
    lines = [
        f"## {operation.label} (N = {n:,})",
        "",
        f"Under the profiler: plain Django {_total(plain) * 1000:,.0f} ms, "
        f"bulk_triggers before+after {_total(ours) * 1000:,.0f} ms "
        f"({_total(ours) / _total(plain):.2f}x).",
        "",
        f"Top {TOP} by cumulative time inside bulk_triggers/ and django/:",
        "",
        "| cumulative ms | own ms | calls | function |",
        "|---:|---:|---:|:---|",
    ]
    for key, (_, calls, own_time, cum_time, _) in cumulative:
        lines.append(
            f"| {cum_time * 1000:,.1f} | {own_time * 1000:,.1f} | {calls:,} | `{_where(key)}` |"
        )
    lines += ["", f"Top {TOP} by cumulative time inside bulk_triggers/ only:", ""]
    lines += ["| cumulative ms | own ms | calls | function |", "|---:|---:|---:|:---|"]
    for key, (_, calls, own_time, cum_time, _) in engine:
        lines.append(
            f"| {cum_time * 1000:,.1f} | {own_time * 1000:,.1f} | {calls:,} | `{_where(key)}` |"
        )
    lines += ["", "Top 10 by own time (anywhere):", "", "| own ms | calls | function |"]
    lines.append("|---:|---:|:---|")
    for key, (_, calls, own_time, _, _) in own:
        lines.append(f"| {own_time * 1000:,.1f} | {calls:,} | `{_where(key)}` |")
    return [*lines, ""]
