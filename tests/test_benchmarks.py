"""Smoke tests of ``python -m benchmarks``: the shape of its output and its statement counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
N = 30
OPERATIONS = (
    "bulk_create",
    "bulk_update",
    "update_value",
    "update_pushdown",
    "update_f",
    "delete",
    "save_update",
    "save_create",
)
WITH_FLOOR = set(OPERATIONS)


def _bench(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m benchmarks`` on SQLite, all files in ``tmp_path``; return the process."""
    env = {**os.environ, "BULK_TRIGGERS_BENCH_DIR": str(tmp_path)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--databases",
            "sqlite",
            "--output-dir",
            str(tmp_path),
            *args,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the whole benchmark once with tiny N and return its JSON and console output."""
    tmp_path = tmp_path_factory.mktemp("bench")
    done = _bench(tmp_path, "--sizes", str(N), "--repeat", "2")
    data: dict[str, Any] = json.loads((tmp_path / "benchmark.json").read_text())
    data["stdout"] = done.stdout
    data["files"] = sorted(path.name for path in tmp_path.iterdir())
    return data


def _row(data: dict[str, Any], operation: str, variant: str) -> dict[str, Any]:
    (row,) = [r for r in data["results"] if r["operation"] == operation and r["variant"] == variant]
    return row


def test_every_operation_has_every_variant(run: dict[str, Any]) -> None:
    """Each operation has plain Django, three configurations and, where one exists, the floor."""
    for operation in OPERATIONS:
        variants = {r["variant"] for r in run["results"] if r["operation"] == operation}
        expected = (
            {"django", "none", "pair", "ten"}
            | ({"floor"} if operation in WITH_FLOOR else set())
            | ({"fast"} if operation == "bulk_update" else set())
        )
        assert variants == expected, operation


def test_rows_have_the_documented_fields(run: dict[str, Any]) -> None:
    """Every row carries its repetitions, median, ratios, statements and peak memory."""
    for row in run["results"]:
        assert row["db"] == "sqlite"
        assert row["n"] == N
        # --repeat 2; operations under 50 ms get three times as many rounds.
        assert len(row["times"]) in (2, 6)
        assert len(row["times"]) == len(_row(run, row["operation"], "django")["times"])
        assert row["median_s"] > 0
        assert row["peak_kib"] > 0
        assert row["statements"] == sum(row["statement_kinds"].values())
        assert row["ratio_plain"] == pytest.approx(
            row["median_s"] / _row(run, row["operation"], "django")["median_s"]
        )
        has_floor = row["operation"] in WITH_FLOOR
        assert (row["ratio_floor"] is not None) == has_floor


def test_meta_names_the_run(run: dict[str, Any]) -> None:
    """The JSON says what the numbers depend on."""
    meta = run["meta"]
    assert meta["sizes"] == [N]
    assert meta["repeat"] == 2
    assert meta["chunk_size"] == 2000
    assert meta["databases"]["sqlite"].startswith("SQLite ")
    assert {"python", "django", "cpu", "date", "command"} <= set(meta)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_no_trigger_issues_plain_djangos_statements(run: dict[str, Any], operation: str) -> None:
    """The measured statements of the model without triggers are plain Django's, kind by kind."""
    assert (
        _row(run, operation, "none")["statement_kinds"]
        == _row(run, operation, "django")["statement_kinds"]
    )


@pytest.mark.parametrize(
    ("operation", "variant", "kinds"),
    [
        ("update_value", "django", {"UPDATE": 1}),
        ("update_f", "django", {"UPDATE": 1}),
        ("delete", "django", {"DELETE": 1, "transaction": 2}),
        ("save_update", "django", {"UPDATE": N}),
        ("save_create", "django", {"INSERT": N}),
        ("update_value", "floor", {"SELECT": 2, "UPDATE": 1, "transaction": 2}),
        ("update_pushdown", "django", {"UPDATE": 1}),
        ("update_pushdown", "floor", {"SELECT": 2, "UPDATE": 1, "transaction": 2}),
        # The key SELECT, Django's UPDATE, then the one passing row's SELECT and UPDATE.
        ("update_pushdown", "pair", {"SELECT": 2, "UPDATE": 2, "transaction": 2}),
        ("delete", "floor", {"SELECT": 1, "DELETE": 1, "transaction": 2}),
        ("bulk_update", "floor", {"SELECT": 1, "UPDATE": 1, "transaction": 2}),
        ("bulk_update", "fast", {"UPDATE": 1, "transaction": 2}),
        ("save_update", "floor", {"SELECT": N, "UPDATE": N, "transaction": 2 * N}),
        ("save_create", "floor", {"INSERT": N, "transaction": 2 * N}),
    ],
)
def test_statements_are_counted(
    run: dict[str, Any], operation: str, variant: str, kinds: dict[str, int]
) -> None:
    """Statement counts are measured per kind for code whose queries are known."""
    assert _row(run, operation, variant)["statement_kinds"] == kinds


@pytest.mark.parametrize("operation", ["bulk_update", "update_value", "update_f", "delete"])
def test_triggers_load_old_rows(run: dict[str, Any], operation: str) -> None:
    """With triggers, the engine's SELECT of the old rows shows in the statement counts."""
    assert _row(run, operation, "pair")["statement_kinds"].get("SELECT", 0) >= 1


def test_targets_are_checked(run: dict[str, Any]) -> None:
    """Each target of issue 5 gets a verdict (met or missed) and a detail naming the numbers."""
    targets = run["targets"]
    assert len(targets) == 9
    assert all(t["met"] in (True, False) and t["detail"] for t in targets)
    assert "Targets" in run["stdout"]


def test_outputs_go_to_the_output_directory(run: dict[str, Any]) -> None:
    """A measuring run writes its JSON and Markdown (and chart, with matplotlib) to --output-dir."""
    assert {"benchmark.json", "benchmark.md"} <= set(run["files"])


def test_from_json_renders_markdown(run: dict[str, Any], tmp_path: Path) -> None:
    """An earlier JSON file renders as Markdown without measuring again."""
    source = tmp_path / "in.json"
    source.write_text(json.dumps({k: v for k, v in run.items() if k not in ("stdout", "files")}))
    page = tmp_path / "bench.md"
    _bench(tmp_path, "--from-json", str(source), "--markdown", str(page))
    text = page.read_text()
    assert "## Targets" in text
    assert "QuerySet.update(amount=F()+1)" in text


def test_chart_is_a_png(run: dict[str, Any], tmp_path: Path) -> None:
    """The chart is written as a PNG file (matplotlib comes with the bench extra)."""
    pytest.importorskip("matplotlib")
    source = tmp_path / "in.json"
    source.write_text(json.dumps({k: v for k, v in run.items() if k not in ("stdout", "files")}))
    chart = tmp_path / "bench.png"
    _bench(tmp_path, "--from-json", str(source), "--chart", str(chart))
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_scale_check_counts_statements(tmp_path: Path) -> None:
    """The scale check reports peak memory and statements per size; more chunks, more statements."""
    _bench(tmp_path, "--scale", "2500", "--scale-base", "500")
    runs = json.loads((tmp_path / "benchmark.json").read_text())["scale"]["runs"]
    assert {(r["operation"], r["n"]) for r in runs} == {
        (op, n) for op in ("update_f", "delete") for n in (500, 2500)
    }
    for op in ("update_f", "delete"):
        small, large = sorted((r for r in runs if r["operation"] == op), key=lambda r: r["n"])
        assert small["peak_kib"] > 0
        assert large["statements"] > small["statements"]
