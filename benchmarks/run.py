"""Orchestration of a benchmark run: every database, operation and size, then the outputs."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

import django
from django.conf import settings
from django.db import connections

from benchmarks import configs, report
from benchmarks.cli import DEFAULT_SIZES, VENDORS
from benchmarks.databases import ALIASES, create_tables, fill_template, unreachable
from benchmarks.measure import Runner
from benchmarks.operations import BY_NAME, OPERATIONS, Operation


def main(options: argparse.Namespace, command: str) -> int:
    """Run what ``options`` ask for; return the exit status."""
    if options.from_json:
        data = json.loads(Path(options.from_json).read_text())
        _outputs(data, options, write_json=False)
        return 0
    if options.scale:
        from benchmarks import scale

        return scale.main(options, command)
    if options.profile:
        from benchmarks import profiling

        return profiling.main(options)
    databases = _usable_databases(options.databases)
    sizes = options.sizes or ((1_000,) if options.quick else DEFAULT_SIZES)
    repeat = options.repeat or (3 if options.quick else 5)
    operations = _operations(options.operations)
    meta = machine(command, databases, sizes, repeat)
    triggers = configs.define_configs()
    measurements: list[dict[str, Any]] = []
    for db in databases:
        using = ALIASES[db]
        create_tables(using)
        fill_template(using, max(sizes))
        runner = Runner(db, using, triggers)
        for operation in operations:
            for n in _sizes_for(operation, sizes):
                print(f"… {db} {operation.name} N={n:,}", file=sys.stderr, flush=True)
                for m in runner.measure(operation, n, repeat, memory=not options.no_memory):
                    measurements.append(m.as_dict())
    meta["load_average_end"] = _load_average()
    data = {"meta": meta, "results": report.rows_with_ratios(measurements)}
    data["targets"] = [
        t.as_dict() for t in report.check_targets(data["results"], meta["chunk_size"])
    ]
    _outputs(data, options, write_json=True)
    return 0


def _usable_databases(requested: tuple[str, ...] | None) -> list[str]:
    usable = []
    for vendor in requested or VENDORS:
        problem = unreachable(vendor)
        if problem is None:
            usable.append(vendor)
        elif requested:
            raise SystemExit(f"python -m benchmarks: {vendor} was asked for, but {problem}.")
        else:
            print(f"Skipping {vendor}: {problem}.", file=sys.stderr)
    return usable


def _operations(names: str) -> list[Operation]:
    if not names:
        return list(OPERATIONS)
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in BY_NAME]
    if unknown:
        raise SystemExit(
            f"python -m benchmarks: unknown operation(s) {unknown}; known: {list(BY_NAME)}"
        )
    return [BY_NAME[name] for name in wanted]


def _sizes_for(operation: Operation, sizes: tuple[int, ...]) -> list[int]:
    """Return the sizes ``operation`` runs at: those up to its ``max_n``, or the smallest."""
    if operation.max_n is None:
        return list(sizes)
    fitting = [n for n in sizes if n <= operation.max_n]
    return fitting or [min(operation.max_n, min(sizes))]


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(command: str, databases: list[str], sizes: Any, repeat: int) -> dict[str, Any]:
    """Return what the numbers depend on: machine, versions, options."""
    versions = {}
    for db in databases:
        connection = connections[ALIASES[db]]
        connection.ensure_connection()
        if connection.vendor == "sqlite":
            import sqlite3

            versions[db] = f"SQLite {sqlite3.sqlite_version}"
        else:
            versions[db] = (
                f"PostgreSQL {connection.pg_version // 10000}.{connection.pg_version % 10000}"
            )
    return {
        "command": command,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "django": django.get_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "databases": versions,
        "sizes": list(sizes),
        "repeat": repeat,
        "chunk_size": settings.BULK_TRIGGERS["CHUNK_SIZE"],
        "load_average_start": _load_average(),
    }


def _outputs(data: dict[str, Any], options: argparse.Namespace, write_json: bool) -> None:
    results = data.get("results") or []
    targets = [
        report.Target(t["db"], t["target"], t["met"], t["detail"]) for t in data.get("targets", [])
    ]
    if results:
        print("\n".join(report.table_lines(results)))
        print(
            f"Targets (medians at N = {report.TARGET_N:,}, or the largest N measured; "
            "save() loops at N ≤ 1,000):"
        )
        print("\n".join(t.line() for t in targets))
    if data.get("scale"):
        from benchmarks.scale import describe

        print("\n".join(describe(data["scale"])))
    if write_json and options.json:
        Path(options.json).write_text(json.dumps(data, indent=2) + "\n")
        print(f"Wrote {options.json}", file=sys.stderr)
    if options.markdown:
        from benchmarks.markdown import render

        Path(options.markdown).write_text(render(data))
        print(f"Wrote {options.markdown}", file=sys.stderr)
    if options.chart and results:
        from benchmarks.chart import draw

        draw(results, data.get("meta", {}), options.chart)
        print(f"Wrote {options.chart}", file=sys.stderr)
