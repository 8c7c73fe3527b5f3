"""Commit-stage tasks per second with one and with four ``db_worker`` processes.

``python -m benchmarks.tasks_throughput [ROWS] [CHUNK]`` (default 20,000 rows in chunks of
100, so 200 tasks) on PostgreSQL: a ``bulk_update`` enqueues one task per chunk through
django-tasks-db, then 1 and 4 workers drain the queue. The rate is the number of tasks over
the span from the first task's start to the last one's end (worker start-up excluded).
Reuses the worker tests' processes (``tests/tasksapp/scenario.py``).
"""

from __future__ import annotations

import os
import sys

import pytest

from tests.test_task_workers import Engine, _postgresql


def measure(workers: int, rows: int, chunk: int) -> float:
    """Return tasks per second for ``workers`` db_worker processes on a fresh database."""
    database = f"bt_tasks_bench_{os.getpid()}"
    server = _postgresql(database)
    server.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    server.execute(f'CREATE DATABASE "{database}"')
    env = {
        **os.environ,
        "PYTHONPATH": os.getcwd(),
        "DJANGO_SETTINGS_MODULE": "tests.tasksapp.worker_settings",
        "TASKS_TEST_DB": f"postgresql:{database}",
        "TASKS_TEST_QUEUE": "bench",
        "TASKS_TEST_CHUNK_SIZE": str(chunk),
        "TASKS_TEST_TASK_SECONDS": "0",
        "TASKS_TEST_BACKEND": "database",
    }
    engine = Engine("postgresql", env)
    try:
        assert engine.run("setup", str(rows)).returncode == 0
        assert engine.run("write").returncode == 0
        engine.start_workers(workers)
        engine.wait_for_workers()
        report = engine.report()
        assert report["db_tasks"] == ["SUCCESSFUL"] * -(-rows // chunk)
        return len(report["db_tasks"]) / report["seconds"]
    finally:
        engine.stop()
        server.execute(f'DROP DATABASE "{database}" WITH (FORCE)')


def main(argv: list[str]) -> int:
    rows = int(argv[0]) if argv else 20_000
    chunk = int(argv[1]) if len(argv) > 1 else 100
    for workers in (1, 4):
        try:
            rate = measure(workers, rows, chunk)
        except pytest.skip.Exception as exc:
            print(f"skipped: {exc}")
            return 1
        print(f"{workers} db_worker(s): {rate:.0f} commit-stage tasks/s ({chunk} rows each)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
