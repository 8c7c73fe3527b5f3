"""Task triggers on real engines: db_worker on SQLite and PostgreSQL, an RQ worker on Redis.

Every process (writer, workers, report) is started by the test and killed in teardown.
``BULK_TRIGGERS_TASK_ROWS`` raises the batch size (default 2,000 rows in chunks of 500).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.databases import required

ROOT = Path(__file__).resolve().parent.parent
ROWS = int(os.environ.get("BULK_TRIGGERS_TASK_ROWS", "2000"))
CHUNK = 500
TIMEOUT = 90


class Engine:
    """A database (and broker) for the writer and the workers, with their processes."""

    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.name = name
        self.env = env
        self.workers: list[subprocess.Popen[bytes]] = []

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the scenario command ``args`` to its end."""
        return subprocess.run(
            [sys.executable, "-m", "tests.tasksapp.scenario", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )

    def report(self) -> dict[str, Any]:
        done = self.run("report")
        assert done.returncode == 0, done.stderr
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    def start_workers(self, count: int) -> None:
        """Start ``count`` workers that exit once the queue is empty."""
        for number in range(1, count + 1):
            name = f"w{number}"
            if self.name == "rq":
                command = ["rqworker", self.env["TASKS_TEST_QUEUE"], "--burst"]
                command += [
                    "--job-class",
                    "django_tasks_rq.Job",
                    "--name",
                    f"{name}-{uuid.uuid4()}",
                ]
            else:
                command = ["db_worker", "--batch", "--interval", "0.1", "--no-startup-delay"]
                command += ["--queue-name", self.env["TASKS_TEST_QUEUE"], "--worker-id", name]
            self.workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "django", *command],
                    cwd=ROOT,
                    env={**self.env, "TASKS_TEST_WORKER": name},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,  # RQ forks work horses: kill the whole group.
                )
            )

    def wait_for_workers(self) -> None:
        for worker in self.workers:
            assert worker.wait(timeout=TIMEOUT) == 0

    def stop(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=10)


def _postgresql(name: str) -> Any:
    psycopg = pytest.importorskip("psycopg")
    try:
        return psycopg.connect(
            host=os.environ.get("BULK_TRIGGERS_PG_HOST", "127.0.0.1"),
            user=os.environ.get("BULK_TRIGGERS_PG_USER", "postgres"),
            password=os.environ.get("BULK_TRIGGERS_PG_PASSWORD", ""),
            dbname="postgres",
            autocommit=True,
        )
    except psycopg.OperationalError as exc:
        _unavailable("postgresql", f"PostgreSQL is not reachable: {exc}")


def _redis() -> Any:
    redis = pytest.importorskip("redis")
    client = redis.Redis(host=os.environ.get("BULK_TRIGGERS_REDIS_HOST", "127.0.0.1"))
    try:
        client.ping()
    except redis.ConnectionError as exc:
        _unavailable("redis", f"Redis is not reachable: {exc}")
    return client


def _unavailable(service: str, reason: str) -> None:
    """Skip, or fail where ``BULK_TRIGGERS_REQUIRE_DBS`` names the service (as CI does)."""
    if service in required():
        pytest.fail(f"{reason}; {service} is required by BULK_TRIGGERS_REQUIRE_DBS")
    pytest.skip(reason)


@pytest.fixture(params=["sqlite", "postgresql", "rq"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """Give the test a fresh database (and queue) for its processes; clean up after."""
    pytest.importorskip("django_tasks_db")
    name: str = request.param
    suffix = os.environ.get("BULK_TRIGGERS_DB_SUFFIX", "") + f"_{os.getpid()}"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "tests.tasksapp.worker_settings",
        "TASKS_TEST_DB": f"sqlite:{tmp_path / 'worker.sqlite3'}",
        "TASKS_TEST_QUEUE": f"bt_tasks{suffix}",
        "TASKS_TEST_CHUNK_SIZE": str(CHUNK),
        "TASKS_TEST_BACKEND": "rq" if name == "rq" else "database",
    }
    cleanups = []
    if name == "postgresql":
        database = f"bt_tasks_worker{suffix}".lower()
        server = _postgresql(database)
        server.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        server.execute(f'CREATE DATABASE "{database}"')
        env["TASKS_TEST_DB"] = f"postgresql:{database}"
        cleanups.append(lambda: server.execute(f'DROP DATABASE "{database}" WITH (FORCE)'))
    if name == "rq":
        client = _redis()
        queue = env["TASKS_TEST_QUEUE"]
        cleanups.append(lambda: [client.delete(key) for key in client.scan_iter(f"rq:*{queue}*")])
    engine = Engine(name, env)
    try:
        yield engine
    finally:
        engine.stop()
        for cleanup in cleanups:
            cleanup()


def test_workers_run_every_chunk_with_the_committed_rows(engine: Engine) -> None:
    """Two workers share the chunks of a bulk_update and see its new/old and context."""
    assert engine.run("setup", str(ROWS)).returncode == 0
    written = engine.run("write")
    assert written.returncode == 0, written.stderr
    engine.start_workers(2)
    engine.wait_for_workers()
    report = engine.report()
    tasks = [r for r in report["records"] if r[0] == "task"]
    assert sorted(r[1] for r in tasks) == sorted({r[1] for r in tasks}) and len(tasks) == ROWS
    # The item with the n-th primary key was created with value n - 1.
    values = sorted((r[2], r[3]) for r in tasks)
    assert values == [(i, i * 10 + 7) for i in range(ROWS)]
    assert {r[5] for r in tasks} == {42}
    assert len({r[4] for r in tasks}) == -(-ROWS // CHUNK)
    assert {r[6] for r in tasks} == {"w1", "w2"}
    plain = [r for r in report["records"] if r[0] == "plain"]
    assert len(plain) == ROWS and {r[6] for r in plain} == {"writer"}
    if engine.name != "rq":
        assert report["db_tasks"] == ["SUCCESSFUL"] * -(-ROWS // CHUNK)


@pytest.mark.parametrize("engine", ["sqlite", "rq"], indirect=True)
def test_a_writer_killed_after_its_commit(engine: Engine) -> None:
    """SIGKILL after COMMIT: the database backend's task still runs; on_commit work is lost."""
    assert engine.run("setup", "20").returncode == 0
    killed = engine.run("write-and-die")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    engine.start_workers(1)
    engine.wait_for_workers()
    kinds = [r[0] for r in engine.report()["records"]]
    # RQ is enqueued on commit, like the plain commit stage: both are lost.
    assert kinds.count("task") == (0 if engine.name == "rq" else 20)
    assert kinds.count("plain") == 0
