"""The progress lines ``make test`` prints while nox holds each session's output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_progress_lines_count_outcomes_at_each_tenth(tmp_path: Path) -> None:
    """A run appends its collection, a line per tenth of its tests, and its end with counts."""
    (tmp_path / "test_sample.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.parametrize('n', range(18))\n"
        "def test_pass(n):\n    pass\n\n"
        "def test_fail():\n    assert False\n\n"
        "def test_skip():\n    pytest.skip('no')\n"
    )
    progress = tmp_path / "progress.txt"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BULK_TRIGGERS_PROGRESS": str(progress),
        "BULK_TRIGGERS_PROGRESS_LABEL": "probe",
    }
    plugins = ["-p", "tests.progress", "-p", "no:django", "-p", "no:cacheprovider"]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", *plugins, "-q", "test_sample.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    lines = progress.read_text().splitlines()
    assert lines[0] == "probe: 20 tests collected"
    assert [line.split(":")[1].split("(")[0].strip() for line in lines[1:-1]] == [
        f"{p}%" for p in range(10, 101, 10)
    ]
    assert lines[-2] == "probe: 100% (20/20): 18 passed, 1 failed, 1 skipped"
    assert lines[-1].startswith("probe: finished in ")
    assert lines[-1].endswith("(exit 1): 18 passed, 1 failed, 1 skipped")


def test_progress_reporter_is_registered_only_when_asked(request: pytest.FixtureRequest) -> None:
    """This run has the reporter exactly when BULK_TRIGGERS_PROGRESS names a file."""
    reporter = request.config.pluginmanager.get_plugin("bulk_triggers_progress")
    assert (reporter is not None) == bool(os.environ.get("BULK_TRIGGERS_PROGRESS"))
