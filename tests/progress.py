"""Progress lines for runs whose output is held back (``make test``'s parallel nox sessions).

With ``BULK_TRIGGERS_PROGRESS`` naming a file, the run appends to it one line when tests are
collected, one per tenth of the tests done, and one at the end, each with the counts so far
and prefixed with ``BULK_TRIGGERS_PROGRESS_LABEL``. The Makefile prints that file as it
grows, while nox keeps each session's own output until the session ends. Without the
variable this plugin does nothing.
"""

from __future__ import annotations

import os
import time
from collections import Counter

import pytest

STEPS = 10


class Progress:
    """Count outcomes as tests finish and append a line at each tenth of the run."""

    def __init__(self, path: str, label: str) -> None:
        self.path = path
        self.label = label
        self.started = time.monotonic()
        self.total = 0
        self.done = 0
        self.outcomes: dict[str, str] = {}
        self.next_step = 1

    def write(self, text: str) -> None:
        # One short write per line, in append mode: parallel sessions' lines never mix.
        with open(self.path, "a", encoding="utf-8") as file:
            file.write(f"{self.label}: {text}\n")

    def counts(self) -> str:
        counted = Counter(self.outcomes.values())
        return ", ".join(f"{counted[word]} {word}" for word in ("passed", "failed", "skipped"))

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.total = len(session.items)
        self.write(f"{self.total} tests collected")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            self.outcomes[report.nodeid] = "failed"
        elif report.skipped:
            self.outcomes.setdefault(report.nodeid, "skipped")
        elif report.when == "call":
            self.outcomes.setdefault(report.nodeid, "passed")

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        self.done += 1
        if self.total and self.done * STEPS >= self.next_step * self.total:
            self.next_step = self.done * STEPS // self.total + 1
            percent = self.done * 100 // self.total
            self.write(f"{percent:>3}% ({self.done}/{self.total}): {self.counts()}")

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        minutes, seconds = divmod(int(time.monotonic() - self.started), 60)
        self.write(f"finished in {minutes}m{seconds:02}s (exit {exitstatus}): {self.counts()}")


def pytest_configure(config: pytest.Config) -> None:
    """Register the reporter when ``BULK_TRIGGERS_PROGRESS`` names a file."""
    path = os.environ.get("BULK_TRIGGERS_PROGRESS")
    if path:
        label = os.environ.get("BULK_TRIGGERS_PROGRESS_LABEL", "pytest")
        config.pluginmanager.register(Progress(path, label), "bulk_triggers_progress")
