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

from benchmarks import configs, report, targets, variants
from benchmarks.cli import DEFAULT_SIZES, VENDORS
from benchmarks.databases import ALIASES, claim, create_tables, fill_template, unreachable
from benchmarks.measure import Runner
from benchmarks.operations import BY_NAME, OPERATIONS, Operation


def main(options: argparse.Namespace, command: str) -> int:
    """Run what ``options`` ask for; return the exit status."""
    if options.from_json:
        data = json.loads(Path(options.from_json).read_text())
        if data.get("results"):  # Judged again, with this checkout's targets.
            data.update(_results(data["meta"], data["results"], data.get("skipped", [])))
        _outputs(data, options, write_json=False)
        return 0
    if options.profile:
        from benchmarks import profiling

        return profiling.main(options)
    _default_paths(options)
    if options.scale:
        from benchmarks import scale

        return scale.main(options, command)
    databases = _usable_databases(options.databases)
    sizes = options.sizes or ((1_000,) if options.quick else DEFAULT_SIZES)
    repeat = options.repeat or (3 if options.quick else 5)
    repeat_large = min(options.repeat_large, repeat)
    operations = _operations(options.operations)
    wanted = _variants(options.variants)
    meta = machine(command, databases, sizes, repeat)
    meta["repeat_large"] = repeat_large
    meta["large_n"] = report.TARGET_N
    meta["limits"] = [
        *variants.limited_rows(operations, sizes),
        *_large_limits(sizes, repeat, repeat_large, options.no_memory),
    ]
    triggers = configs.define_configs()
    measurements: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for db in databases:
        using = ALIASES[db]
        claim(using)
        create_tables(using)
        fill_template(using, max(sizes))
        runner = Runner(db, using, triggers)
        for operation in operations:
            for n in _sizes_for(operation, sizes):
                print(f"… {db} {operation.name} N={n:,}", file=sys.stderr, flush=True)
                large = n > report.TARGET_N
                done, missed = runner.measure(
                    operation,
                    n,
                    repeat_large if large else repeat,
                    memory=not options.no_memory and not large,
                    wanted=wanted,
                )
                measurements.extend(m.as_dict() for m in done)
                for skip in missed:
                    print(f"  skipped {skip.variant}: {skip.reason}", file=sys.stderr, flush=True)
                    skipped.append(skip.as_dict())
                # A long run keeps its part.
                _save(_results(meta, measurements, skipped), options.json)
    meta["load_average_end"] = _load_average()
    _outputs(_results(meta, measurements, skipped), options, write_json=True)
    return 0


def _results(
    meta: dict[str, Any], measurements: list[dict[str, Any]], skipped: list[dict[str, Any]]
) -> dict[str, Any]:
    rows = report.rows_with_ratios(measurements)
    checked = targets.check_targets(rows, meta["chunk_size"], skipped)
    return {
        "meta": meta,
        "results": rows,
        "skipped": skipped,
        "targets": [t.as_dict() for t in checked],
    }


def _large_limits(sizes: Any, repeat: int, repeat_large: int, no_memory: bool) -> list[str]:
    """Describe what sizes above the targets' N are spared: fewer rounds, no memory run."""
    large = [n for n in sizes if n > report.TARGET_N]
    if not large:
        return []
    at = ", ".join(f"{n:,}" for n in large)
    lines = []
    if repeat_large < repeat:
        lines.append(f"N = {at}: {repeat_large} timed round(s) per variant (--repeat-large)")
    if not no_memory:
        lines.append(f"N = {at}: no tracemalloc run (peak memory at large N: --scale)")
    return lines


def _save(data: dict[str, Any], path: str) -> None:
    Path(path).write_text(json.dumps(data, indent=2) + "\n")


def _default_paths(options: argparse.Namespace) -> None:
    """Send the outputs of a measuring run to ``--output-dir`` unless paths are given."""
    directory = Path(options.output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    options.json = options.json or str(directory / "benchmark.json")
    options.markdown = options.markdown or str(directory / "benchmark.md")
    if options.scale:
        return
    if options.chart is None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print(
                "No chart: matplotlib is not installed (pip install -e '.[bench]').",
                file=sys.stderr,
            )
        else:
            options.chart = str(directory / "benchmark.png")


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


def _variants(names: str) -> tuple[str, ...] | None:
    if not names:
        return None
    wanted = tuple(name.strip() for name in names.split(",") if name.strip())
    unknown = [name for name in wanted if name not in variants.VARIANTS]
    if unknown:
        raise SystemExit(
            f"python -m benchmarks: unknown variant(s) {unknown}; known: {list(variants.VARIANTS)}"
        )
    return wanted


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


def _revision() -> str | None:
    """Return the checkout's commit, marked ``+dirty`` when bulk_triggers/ has local changes."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "status", "--porcelain", "bulk_triggers"],
            cwd=root,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return None
    return f"{commit}+dirty" if commit and changes else commit or None


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
        elif connection.vendor == "mysql":
            flavour = "MariaDB" if connection.mysql_is_mariadb else "MySQL"
            version = ".".join(str(part) for part in connection.mysql_version)
            versions[db] = f"{flavour} {version}"
        else:
            versions[db] = (
                f"PostgreSQL {connection.pg_version // 10000}.{connection.pg_version % 10000}"
            )
    return {
        "command": command,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "revision": _revision(),
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
    checked = [
        targets.Target(t["db"], t["target"], t["met"], t["detail"]) for t in data.get("targets", [])
    ]
    if results:
        print("\n".join(report.table_lines(results)))
        print("\n".join(report.notes(data)))
        print(
            f"Targets (medians at N = {report.TARGET_N:,}, or the largest N measured; "
            "save() loops at N ≤ 1,000):"
        )
        print("\n".join(t.line() for t in checked))
    if data.get("scale"):
        from benchmarks.scale import describe

        print("\n".join(describe(data["scale"])))
    if write_json and options.json:
        _save(data, options.json)
        print(f"Wrote {options.json}", file=sys.stderr)
    if options.markdown:
        from benchmarks.markdown import render

        Path(options.markdown).write_text(render(data))
        print(f"Wrote {options.markdown}", file=sys.stderr)
    if options.chart and results:
        from benchmarks.chart import draw

        draw(results, data.get("meta", {}), options.chart)
        print(f"Wrote {options.chart}", file=sys.stderr)
